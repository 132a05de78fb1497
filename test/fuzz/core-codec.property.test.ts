/**
 * Property tests of the wire codecs: frames and varints round-trip; decoding arbitrary bytes
 * (frames, headers, parameters, every handshake message) never throws, only returns typed errors.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { hmacSha256 } from '../../src/crypto/primitives.js'
import { FrameType, HEADER_SIZE, HELLO_MIN_SIZE } from '../../src/protocol/constants.js'
import { decodeFrames, encodeFrames, type Frame, FrameScratch, frameSize, MAX_REASON_BYTES, encodeReason, readFrame } from '../../src/protocol/frames.js'
import { consumeAuthProof, InitiatorHandshake, parseHello } from '../../src/protocol/handshake.js'
import { readHeader, readU64, writeHeader, writeU64 } from '../../src/protocol/header.js'
import { deriveGroupKeys, deriveIdentity } from '../../src/protocol/identity.js'
import { encodeParams, readParams } from '../../src/protocol/params.js'
import { Reader, VARINT_MAX, varintSize, writeVarint } from '../../src/protocol/varint.js'
import { bytes, frameArb, v } from './core-arbitraries.js'

const SEED = Number(process.env['STT_TEST_SEED'] ?? 20260101)
const RUNS = { seed: SEED, numRuns: 1000 }

/** Comparable form: byte arrays as hex, consecutive PADDING merged (the decoder merges them). */
function norm(frames: Frame[]): unknown[] {
  const out: Array<Record<string, unknown>> = []
  for (const f of frames) {
    const prev = out.at(-1)
    if (f.type === FrameType.PADDING && !('app' in f) && prev && prev['type'] === FrameType.PADDING && !('app' in prev)) {
      prev['length'] = (prev['length'] as number) + (f as { length: number }).length
      continue
    }
    const o: Record<string, unknown> = { ...f }
    if (o['data'] instanceof Uint8Array) o['data'] = Buffer.from(o['data'] as Uint8Array).toString('hex')
    out.push(o)
  }
  return out
}

const FRAME_ERRORS = ['truncated', 'unknown-frame', 'bad-value']

describe('frames', () => {
  it('decode(encode(frame)) == frame, and frameSize is the encoded length', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        const b = encodeFrames([f])
        expect(b.length).toBe(frameSize(f))
        expect(norm(decodeFrames(b) as Frame[])).toEqual(norm([f]))
      }),
      RUNS,
    )
  })

  it('decode(encode(frames)) == frames for sequences', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), (fs) => {
        expect(norm(decodeFrames(encodeFrames(fs)) as Frame[])).toEqual(norm(fs))
      }),
      RUNS,
    )
  })

  it('readFrame into one FrameScratch (the session reuses its DATA and ACK frames) reads what a fresh decode reads, frame after frame', () => {
    const scratch = new FrameScratch()
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), (fs) => {
        const b = encodeFrames(fs)
        const fresh = new Reader(b, 0, b.length)
        const reused = new Reader(b, 0, b.length)
        while (fresh.pos < fresh.end) {
          const want = readFrame(fresh)
          // Compared before the next read: the scratch frames are rewritten by it.
          expect(norm([readFrame(reused, scratch) as Frame])).toEqual(norm([want as Frame]))
          expect(reused.pos).toBe(fresh.pos)
        }
      }),
      RUNS,
    )
  })

  it('any strict prefix of a non-padding frame decodes to an error, never a throw or a shorter frame', () => {
    fc.assert(
      fc.property(frameArb.filter((f) => f.type !== FrameType.PADDING), fc.nat(), (f, cut) => {
        const b = encodeFrames([f])
        const n = cut % b.length
        const out = decodeFrames(b.subarray(0, n))
        if (n === 0) expect(out).toEqual([])
        else expect(FRAME_ERRORS).toContain(out)
      }),
      RUNS,
    )
  })

  it('long reasons are cut to <= 256 bytes on a character boundary', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 100, maxLength: 400 }), (s) => {
        const r = encodeReason(s)
        expect(r.length).toBeLessThanOrEqual(MAX_REASON_BYTES)
        expect(s.startsWith(new TextDecoder('utf-8', { fatal: true }).decode(r))).toBe(true)
      }),
      RUNS,
    )
  })

  it('random bytes: decodeFrames returns frames or a typed error, never throws', () => {
    fc.assert(
      fc.property(bytes(300), (b) => {
        const out = decodeFrames(b)
        if (typeof out === 'string') expect(FRAME_ERRORS).toContain(out)
        else expect(Array.isArray(out)).toBe(true)
      }),
      { seed: SEED, numRuns: 5000 },
    )
  })
})

describe('varints', () => {
  it('round trip for every safe integer, with the RFC 9000 length for its range', () => {
    fc.assert(
      fc.property(v, (x) => {
        const n = varintSize(x)
        expect(n).toBe(x < 64 ? 1 : x < 16384 ? 2 : x < 2 ** 30 ? 4 : 8)
        const b = new Uint8Array(n + 2)
        expect(writeVarint(b, 1, x)).toBe(n + 1)
        expect(b[1]! >>> 6).toBe(Math.log2(n))
        const r = new Reader(b, 1, n + 1)
        expect(r.varint()).toBe(x)
        expect(r.ok && r.remaining === 0).toBe(true)
      }),
      RUNS,
    )
  })

  it('out of range values are refused with RangeError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ max: -1 }), fc.double({ min: VARINT_MAX + 1, noNaN: true }), fc.double().filter((d) => !Number.isInteger(d))), (x) => {
        expect(() => writeVarint(new Uint8Array(8), 0, x)).toThrow(RangeError)
      }),
      RUNS,
    )
  })

  it('random bytes: Reader.varint returns a safe integer or flags malformed', () => {
    fc.assert(
      fc.property(bytes(9), (b) => {
        const r = new Reader(b, 0, b.length)
        const x = r.varint()
        if (r.ok) expect(Number.isSafeInteger(x) && x >= 0).toBe(true)
        else expect(x).toBe(0)
      }),
      RUNS,
    )
  })
})

describe('headers and parameters', () => {
  it('header round trip; readU64 maps >= 2^53 to -1', () => {
    fc.assert(
      fc.property(fc.nat(255), fc.nat(255), fc.nat(255), fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.maxSafeNat(), (ver, type, flags, sid, pn) => {
        const b = new Uint8Array(HEADER_SIZE)
        writeHeader(b, 0, ver, type, flags, sid, pn)
        const h = readHeader(b, 0, b.length)!
        expect({ ...h, sessionId: [...h.sessionId] }).toEqual({ version: ver, type, flags, sessionId: [...sid], packetNumber: pn })
      }),
      RUNS,
    )
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), (b) => {
        const x = readU64(b, 0)
        const big = Buffer.from(b).readBigUInt64BE(0)
        expect(x).toBe(big > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(big))
        if (x >= 0) {
          const c = new Uint8Array(8)
          writeU64(c, 0, x)
          expect([...c]).toEqual([...b])
        }
      }),
      RUNS,
    )
  })

  it('readHeader of short input is null; of any 19+ bytes an object', () => {
    fc.assert(
      fc.property(bytes(40), (b) => {
        expect(readHeader(b, 0, b.length) === null).toBe(b.length < HEADER_SIZE)
      }),
      RUNS,
    )
  })

  it('params: round trip, and random bytes give params or null', () => {
    const p = fc.record({ maxStreams: v, streamWindow: v, sessionWindow: v, bareMode: fc.boolean(), maxPacketSize: fc.integer({ min: 1200, max: 65507 }) })
    fc.assert(fc.property(p, (x) => {
      const b = encodeParams(x)
      expect(readParams(new Reader(b, 0, b.length))).toEqual(x)
    }), RUNS)
    fc.assert(fc.property(bytes(60), (b) => {
      const out = readParams(new Reader(b, 0, b.length))
      expect(out === null || typeof out.maxStreams === 'number').toBe(true)
    }), RUNS)
  })
})

describe('handshake messages from arbitrary bytes', () => {
  const shared = new Uint8Array(32).fill(7)
  const group = deriveGroupKeys(shared)
  const keys = { group, identity: deriveIdentity(new Uint8Array(32).fill(9)) }
  const params = { maxStreams: 8, streamWindow: 65536, sessionWindow: 1 << 20, bareMode: false, maxPacketSize: 1472 }
  let ctr = 0
  const rnd = (n: number) => new Uint8Array(n).map(() => (ctr = (ctr * 1103515245 + 12345) >>> 0) >>> 24)

  it('parseHello: random bytes, and random bodies under a VALID MAC, give a parse or a typed reason', () => {
    fc.assert(
      fc.property(bytes(400), fc.boolean(), (b, sign) => {
        const pkt = b.length >= HELLO_MIN_SIZE || !sign ? b.slice() : new Uint8Array(HELLO_MIN_SIZE).fill(0).map((_, i) => b[i % Math.max(1, b.length)] ?? 0)
        if (sign && pkt.length >= 16) pkt.set(hmacSha256(group.helloMacKey, pkt.subarray(0, pkt.length - 16)).subarray(0, 16), pkt.length - 16)
        const out = parseHello(pkt, group.helloMacKey)
        if (typeof out === 'string') expect(['short', 'bad-mac', 'malformed']).toContain(out)
        else expect(out.ePub.length).toBe(32)
      }),
      RUNS,
    )
  })

  it('InitiatorHandshake.consumeChallenge / consumeError and consumeAuthProof never throw on garbage', () => {
    const hs = new InitiatorHandshake(keys, { name: 'i', params }, ['aes-256-gcm'], rnd)
    const hello = hs.createHello(1000)
    const nonce = hello.subarray(HEADER_SIZE + 32, HEADER_SIZE + 48)
    fc.assert(
      fc.property(bytes(600), fc.nat(255), fc.boolean(), (b, flags, echo) => {
        const pkt = new Uint8Array(HEADER_SIZE + b.length)
        pkt.set(b, HEADER_SIZE)
        // Half the time echo the real nonce so parsing goes past the first check.
        if (echo && pkt.length >= HEADER_SIZE + 16) pkt.set(nonce, HEADER_SIZE)
        const c = hs.consumeChallenge(pkt, flags)
        expect(['drop', 'retry']).toContain(c.kind)
        const e = hs.consumeError(pkt)
        expect(['drop', 'error']).toContain(e.kind)
        const a = consumeAuthProof(pkt, [new Uint8Array(32)], 'sim:x', 1000, 10_000, rnd)
        expect(a.kind).toBe('drop')
      }),
      RUNS,
    )
  })
})
