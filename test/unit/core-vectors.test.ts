/**
 * The protocol test vectors (test/vectors/protocol-vectors.json, made by scripts/gen-vectors.mjs
 * from dist/) checked both ways against src/: encode(fields) == bytes, decode(bytes) == fields,
 * and the whole handshake reproduces byte for byte from the same seeded randomness. A failure
 * here means the wire format changed: regenerate the vectors deliberately (and say so).
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { resolveProtocolConfig } from '../../src/config.js'
import type { AeadBackend, CipherSuite } from '../../src/crypto/aead.js'
import { jsAead } from '../../src/crypto/js-aead.js'
import { nativeAead } from '../../src/crypto/native-aead.js'
import { hkdf } from '../../src/crypto/primitives.js'
import { HEADER_SIZE } from '../../src/protocol/constants.js'
import { Endpoint } from '../../src/protocol/endpoint.js'
import { decodeFrames, encodeFrames, type Frame } from '../../src/protocol/frames.js'
import { readHeader, writeHeader } from '../../src/protocol/header.js'
import { deriveGroupKeys, deriveIdentity } from '../../src/protocol/identity.js'
import { makeKey, ReceiveKeys } from '../../src/protocol/packet-keys.js'
import { Reader, varintSize, writeVarint } from '../../src/protocol/varint.js'
import type { PeerAddress } from '../../src/transport/types.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'

const V = JSON.parse(readFileSync(new URL('../vectors/protocol-vectors.json', import.meta.url), 'utf8')) as any
const h = (s: string) => new Uint8Array(Buffer.from(s, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const backends: AeadBackend[] = nativeAead ? [jsAead, nativeAead] : [jsAead]

/** Same DRBG as scripts/gen-vectors.mjs (documented in the vectors' `drbg` field). */
function drbg(label: string): (n: number) => Uint8Array {
  let counter = 0
  let buf = Buffer.alloc(0)
  return (n) => {
    while (buf.length < n) {
      const c = Buffer.alloc(4)
      c.writeUInt32BE(counter++)
      buf = Buffer.concat([buf, createHash('sha256').update('STT vectors drbg').update(label).update(c).digest()])
    }
    const out = new Uint8Array(buf.subarray(0, n))
    buf = buf.subarray(n)
    return out
  }
}

const fromJson = (f: any): Frame => (typeof f.data === 'string' ? { ...f, data: h(f.data) } : { ...f })
const toJson = (f: any) => (f.data instanceof Uint8Array ? { ...f, data: hex(f.data) } : { ...f })

describe('varint vectors', () => {
  it('encode(value) == hex and decode(hex) == value', () => {
    expect(V.varints.length).toBeGreaterThan(10)
    for (const { value, hex: x } of V.varints) {
      const b = new Uint8Array(varintSize(value))
      expect(writeVarint(b, 0, value)).toBe(b.length)
      expect(hex(b), `value ${value}`).toBe(x)
      const r = new Reader(h(x), 0, x.length / 2)
      expect(r.varint()).toBe(value)
      expect(r.ok && r.remaining === 0).toBe(true)
    }
  })

  it('non-minimal encodings decode; out-of-range and truncated ones are malformed', () => {
    for (const { hex: x, value } of V.varintNonMinimal) expect(new Reader(h(x), 0, x.length / 2).varint()).toBe(value)
    for (const { hex: x, why } of V.varintRejected) {
      const r = new Reader(h(x), 0, x.length / 2)
      expect(r.varint(), why).toBe(0)
      expect(r.ok, why).toBe(false)
    }
  })
})

describe('header and frame vectors', () => {
  it('header: write(fields) == hex, read(hex) == fields', () => {
    const f = V.header.fields
    const b = new Uint8Array(HEADER_SIZE)
    writeHeader(b, 0, f.version, f.type, f.flags, h(f.sessionId), f.packetNumber)
    expect(hex(b)).toBe(V.header.hex)
    const back = readHeader(h(V.header.hex), 0, HEADER_SIZE)!
    expect({ ...back, sessionId: hex(back.sessionId) }).toEqual(f)
  })

  it('every frame type: encode(fields) == hex and decode(hex) == fields', () => {
    const types = new Set<number>()
    for (const { name, frame, hex: x } of V.frames) {
      expect(hex(encodeFrames([fromJson(frame)])), name).toBe(x)
      const back = decodeFrames(h(x))
      expect(Array.isArray(back), name).toBe(true)
      expect((back as Frame[]).map(toJson), name).toEqual([frame])
      types.add(frame.type)
    }
    // Every frame type of constants.FrameType plus one application frame.
    expect([...types].sort((a, b) => a - b)).toEqual([0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x30, 0x80, 0xff])
  })
})

describe('identity, key and packet vectors', () => {
  it('group keys and node id from the fixed seeds', () => {
    const id = V.identity
    const g = deriveGroupKeys(h(id.sharedSeed))
    expect(hex(g.psk)).toBe(id.psk)
    expect(hex(g.helloMacKey)).toBe(id.helloMacKey)
    const me = deriveIdentity(h(id.nodeSeed))
    expect(hex(hkdf(h(id.nodeSeed), 'STT v1', 'static x25519', 32))).toBe(id.staticPrivate)
    expect(hex(me.staticKey.publicKey)).toBe(id.staticPublic)
    expect(hex(me.nodeId)).toBe(id.nodeId)
  })

  it('key update chain: secret -> next secret, key, iv', () => {
    const ku = V.keyUpdate
    expect(ku.length).toBe(3)
    for (let i = 0; i < ku.length; i++) {
      const s = h(ku[i].secret)
      expect(hex(hkdf(s, 'STT v1', 'key', 32))).toBe(ku[i].key)
      expect(hex(hkdf(s, 'STT v1', 'iv', 12))).toBe(ku[i].iv)
      if (i + 1 < ku.length) expect(hex(hkdf(s, 'STT v1', 'ku', 32))).toBe(ku[i + 1].secret)
    }
  })

  for (const backend of backends) {
    it(`protected packets, both suites, both key phases (${backend.name}): exact bytes and decryption`, () => {
      expect(new Set(V.packets.map((p: any) => p.suite))).toEqual(new Set(['aes-256-gcm', 'chacha20-poly1305']))
      for (const p of V.packets) {
        const plaintext = encodeFrames(p.frames.map(fromJson))
        expect(hex(plaintext)).toBe(p.plaintext)
        const pkt = new Uint8Array(HEADER_SIZE + plaintext.length + 16)
        writeHeader(pkt, 0, 1, 0x10, p.keyPhase, h(p.sessionId), p.packetNumber)
        expect(hex(pkt.subarray(0, HEADER_SIZE))).toBe(p.header)
        pkt.set(plaintext, HEADER_SIZE)
        const k = makeKey(backend, p.suite, h(p.secret), p.keyPhase)
        k.key.sealBatch(pkt, new Uint32Array([0]), new Uint32Array([pkt.length]), 1, HEADER_SIZE)
        expect(hex(pkt), `${p.suite} pn ${p.packetNumber}`).toBe(p.packet)
        k.key.destroy()
      }
      // Receive side: a receiver at phase 0 with the first secret opens the phase-1 packet via its
      // lazily derived next key (the key-update path), and decodes the frames back.
      for (const suite of ['aes-256-gcm', 'chacha20-poly1305'] as CipherSuite[]) {
        const [p0, p1] = V.packets.filter((p: any) => p.suite === suite)
        const rk = new ReceiveKeys(backend, suite, h(p0.secret))
        for (const p of [p0, p1]) {
          const slab = h(p.packet)
          const key = rk.keyFor(p.keyPhase, p.packetNumber)
          const status = new Uint8Array(1)
          key.key.openBatch(slab, new Uint32Array([0]), new Uint32Array([slab.length]), 1, HEADER_SIZE, status)
          expect(status[0], `${suite} phase ${p.keyPhase}`).toBe(1)
          expect((decodeFrames(slab, HEADER_SIZE, slab.length - 16) as Frame[]).map(toJson)).toEqual(p.frames)
          if (p.keyPhase === 1) expect(key).toBe(rk.next())
        }
        rk.destroy()
      }
    })
  }
})

/** An AEAD backend that records every key it is asked to create (to check the traffic keys). */
function recording(inner: AeadBackend, log: string[]): AeadBackend {
  return { name: inner.name, createKey: (suite, key, iv) => (log.push(`${hex(key)}/${hex(iv)}`), inner.createKey(suite, key, iv)) }
}

function take(ep: Endpoint, now: number): Uint8Array {
  const tx = ep.pollTransmit(now)
  expect(tx?.count).toBe(1)
  const out = tx!.slab.slice(tx!.offsets[0]!, tx!.offsets[0]! + tx!.lengths[0]!)
  expect(ep.pollTransmit(now)).toBeNull()
  return out
}
function deliver(ep: Endpoint, now: number, data: Uint8Array, from: PeerAddress): void {
  const slab = data.slice()
  ep.handleBatch(now, { slab, offsets: new Uint32Array([0]), lengths: new Uint32Array([slab.length]), count: 1, from: [from] })
}

describe('handshake transcript vectors', () => {
  for (const backend of backends) {
    for (const hs of V.handshakes) {
      it(`reproduces byte for byte (${hs.initiatorCiphers.join(',')}, ${backend.name})`, () => {
        const rndI = drbg(hs.randomLabels.initiator)
        const rndR = drbg(hs.randomLabels.responder)
        const shared = h(V.identity.sharedSeed)
        const logI: string[] = []
        const logR: string[] = []
        const a = new Endpoint(resolveProtocolConfig({ ...hs.options, sharedSeed: shared, nodeSeed: h(hs.initiator.nodeSeed), name: hs.initiator.name, ciphers: hs.initiatorCiphers }, rndI), recording(backend, logI), rndI, hs.now)
        const b = new Endpoint(resolveProtocolConfig({ ...hs.options, sharedSeed: shared, nodeSeed: h(hs.responder.nodeSeed), name: hs.responder.name }, rndR), recording(backend, logR), rndR, hs.now)
        const addrI = { ...fakeAddress('x'), key: hs.initiator.address }
        const addrR = { ...fakeAddress('y'), key: hs.responder.address }
        expect(hex(a.nodeId)).toBe(hs.initiator.nodeId)
        expect(hex(b.nodeId)).toBe(hs.responder.nodeId)

        const t = hs.times
        a.connect(t.hello, addrR)
        const hello = take(a, t.hello)
        expect(hex(hello), 'HELLO').toBe(hs.hello)
        deliver(b, t.challenge, hello, addrI)
        const challenge = take(b, t.challenge)
        expect(hex(challenge), 'CHALLENGE').toBe(hs.challenge)
        deliver(a, t.authProof, challenge, addrR)
        const proof = take(a, t.authProof)
        expect(hex(proof), 'AUTH_PROOF').toBe(hs.authProof)
        deliver(b, t.final, proof, addrI)
        expect(b.pollEvent()?.kind).toBe('accepted')
        const final = take(b, t.final)
        expect(hex(final), 'FINAL').toBe(hs.final)
        deliver(a, t.confirmed, final, addrR)
        const ev = a.pollEvent()
        expect(ev?.kind).toBe('connected')
        const s = (ev as { session: { suite: string; id: Uint8Array; transcript: Uint8Array } }).session
        expect(s.suite).toBe(hs.suite)
        expect(hex(s.id)).toBe(hs.sessionId)
        expect(hex(s.transcript)).toBe(hs.transcriptHash)

        // The traffic keys the sessions were built with are the vectors' i2r / r2i ones.
        const k = (d: any) => `${d.key}/${d.iv}`
        // logI[0]: the r2i key the initiator opens FINAL with before it builds the session.
        expect(logI.slice(0, 3)).toEqual([k(hs.r2i), k(hs.i2r), k(hs.r2i)])
        expect(logR.slice(0, 2)).toEqual([k(hs.r2i), k(hs.i2r)])
        for (const d of [hs.i2r, hs.r2i]) {
          expect(hex(hkdf(h(d.secret), 'STT v1', 'key', 32))).toBe(d.key)
          expect(hex(hkdf(h(d.secret), 'STT v1', 'iv', 12))).toBe(d.iv)
        }
        // FINAL = protected packet || the responder's 32-byte random; it opens under r2i and carries only frames.
        expect(hex(final.subarray(final.length - 32)), 'FINAL random').toBe(hs.finalRandom)
        const fin = final.slice(0, final.length - 32)
        const status = new Uint8Array(1)
        makeKey(backend, hs.suite, h(hs.r2i.secret), 0).key.openBatch(fin, new Uint32Array([0]), new Uint32Array([fin.length]), 1, HEADER_SIZE, status)
        expect(status[0]).toBe(1)
        expect(Array.isArray(decodeFrames(fin, HEADER_SIZE, fin.length - 16))).toBe(true)
      })
    }
  }
})
