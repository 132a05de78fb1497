/**
 * Native AEAD vs the pure-TypeScript reference (node:crypto), byte for byte, plus forgeries,
 * argument validation and Wycheproof known-answer vectors through the native core.
 */
import { fileURLToPath } from 'node:url'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { type CipherSuite, SUITE_ID, TAG_SIZE } from '../../src/crypto/aead.js'
import { jsAead } from '../../src/crypto/js-aead.js'
import { nativeAead } from '../../src/crypto/native-aead.js'
import { aead, backend as cryptoBackend } from '../../src/crypto/index.js'
import { ErrorCode, STTError } from '../../src/errors.js'
import { addonPath, backend, binding } from '../../src/native/load.js'
import { HEADER_SIZE, PN_OFFSET } from '../../src/protocol/constants.js'

const SKIP_REASON = 'native addon not loaded (STT_NATIVE=0 or not built): native differential tests skipped'
const SUITES: CipherSuite[] = ['aes-256-gcm', 'chacha20-poly1305']
const PAYLOADS = [0, 1, 15, 16, 17, 1200, 1452, 1472, 9000, 65000]
const COUNTS = [1, 2, 7, 64, 128]

/** Packets of `payload` bytes laid out with uneven gaps, headers with distinct packet numbers. */
function makeBatch(payload: number, count: number, seed: number) {
  const len = HEADER_SIZE + payload + TAG_SIZE
  const offsets = new Uint32Array(count)
  const lengths = new Uint32Array(count).fill(len)
  let at = 3 // unaligned start: the addon must not assume alignment
  for (let i = 0; i < count; i++) {
    offsets[i] = at
    at += len + (i % 3)
  }
  const slab = new Uint8Array(at + 5)
  for (let i = 0; i < slab.length; i++) slab[i] = (i * 31 + seed) & 0xff
  const view = new DataView(slab.buffer)
  for (let i = 0; i < count; i++) {
    const off = offsets[i]!
    slab[off] = 1
    slab[off + 1] = 0x10
    view.setBigUint64(off + PN_OFFSET, BigInt(seed) * 1_000_003n + BigInt(i) * 0x0101_0101_01n)
  }
  return { slab, offsets, lengths, count }
}

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, 'hex'))
}

describe.skipIf(backend !== 'native')(`native AEAD (${backend === 'native' ? 'addon loaded' : SKIP_REASON})`, () => {
  const native = nativeAead!

  it('is the backend crypto/index.ts selects', () => {
    expect(cryptoBackend).toBe('native')
    expect(aead.name).toBe('native')
  })

  // The direct provider calls (native/aead.cc, ResolveProviderAead) are the speed of the native
  // path: node's bundled OpenSSL must pass their checks and self-test, so this fails if they are
  // silently lost. This file also runs with STT_NATIVE_AEAD_EVP=1 (npm run test:native-evp).
  it(`packet keys use the direct provider path, or EVP under STT_NATIVE_AEAD_EVP=1 (now: ${process.env.STT_NATIVE_AEAD_EVP ?? 'unset'})`, () => {
    const want = process.env.STT_NATIVE_AEAD_EVP === '1' ? 'evp' : 'provider'
    for (const suite of SUITES) expect(binding!.aeadPacketPath!(SUITE_ID[suite]), suite).toBe(want)
    expect(binding!.aeadPacketPath!(99)).toBe('')
  })

  it('STT_NATIVE_AEAD_EVP is read at load: 1 forces EVP, anything else leaves the provider path', () => {
    const script = `const b = require(${JSON.stringify(addonPath)}); process.stdout.write(b.aeadPacketPath(1) + ' ' + b.aeadPacketPath(2))`
    const run = (value: string | undefined) => {
      const env = { ...process.env }
      if (value === undefined) delete env.STT_NATIVE_AEAD_EVP
      else env.STT_NATIVE_AEAD_EVP = value
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env, timeout: 20_000 })
      expect(r.status, r.stderr).toBe(0)
      return r.stdout
    }
    expect(run('1')).toBe('evp evp')
    expect(run(undefined)).toBe('provider provider')
    expect(run('0')).toBe('provider provider')
  })

  for (const suite of SUITES) {
    describe(suite, () => {
      it('seals byte-for-byte like the JS backend and each opens the other, over sizes x batch counts', () => {
        const key = randomBytes(32)
        const iv = randomBytes(12)
        const nk = native.createKey(suite, key, iv)
        const jk = jsAead.createKey(suite, key, iv)
        for (const payload of PAYLOADS) {
          for (const count of COUNTS) {
            const a = makeBatch(payload, count, payload + count)
            const plain = a.slab.slice()
            const b = a.slab.slice()
            nk.sealBatch(a.slab, a.offsets, a.lengths, count, HEADER_SIZE)
            jk.sealBatch(b, a.offsets, a.lengths, count, HEADER_SIZE)
            expect(Buffer.compare(a.slab, b), `${suite} payload=${payload} count=${count}`).toBe(0)
            if (payload > 0) expect(Buffer.compare(a.slab, plain)).not.toBe(0)
            const st1 = new Uint8Array(count)
            const st2 = new Uint8Array(count)
            nk.openBatch(b, a.offsets, a.lengths, count, HEADER_SIZE, st1) // native opens JS-sealed
            jk.openBatch(a.slab, a.offsets, a.lengths, count, HEADER_SIZE, st2) // JS opens native-sealed
            expect(Array.from(st1)).toEqual(new Array(count).fill(1))
            expect(Array.from(st2)).toEqual(new Array(count).fill(1))
            // Opened in place: header + plaintext restored; tags left as they were.
            for (let i = 0; i < count; i++) {
              const s = a.offsets[i]!
              const e = s + a.lengths[i]! - TAG_SIZE
              expect(Buffer.compare(b.subarray(s, e), plain.subarray(s, e))).toBe(0)
              expect(Buffer.compare(a.slab.subarray(s, e), plain.subarray(s, e))).toBe(0)
            }
          }
        }
        nk.destroy()
      })

      it('forged, truncated and short packets get status 0 (no exception), the others 1', () => {
        const key = randomBytes(32)
        const iv = randomBytes(12)
        const nk = native.createKey(suite, key, iv)
        const jk = jsAead.createKey(suite, key, iv)
        const count = 64
        const a = makeBatch(1200, count, 7)
        nk.sealBatch(a.slab, a.offsets, a.lengths, count, HEADER_SIZE)
        const expected = new Array(count).fill(1)
        const lengths = a.lengths.slice()
        for (let i = 0; i < count; i += 5) {
          const off = a.offsets[i]!
          const len = lengths[i]!
          switch ((i / 5) % 6) {
            case 0: a.slab[off + 2]! ^= 0x01; break // header flags (AAD)
            case 1: a.slab[off + PN_OFFSET + 7]! ^= 0x80; break // packet number => other nonce
            case 2: a.slab[off + HEADER_SIZE + 100]! ^= 0x40; break // ciphertext
            case 3: a.slab[off + len - 1]! ^= 0x01; break // tag
            case 4: lengths[i] = len - 1; break // truncated
            case 5: lengths[i] = HEADER_SIZE + TAG_SIZE - 1; break // too short to be a packet
          }
          expected[i] = 0
        }
        const copy = a.slab.slice()
        const sn = new Uint8Array(count).fill(9)
        const sj = new Uint8Array(count).fill(9)
        expect(() => nk.openBatch(a.slab, a.offsets, lengths, count, HEADER_SIZE, sn)).not.toThrow()
        jk.openBatch(copy, a.offsets, lengths, count, HEADER_SIZE, sj)
        expect(Array.from(sn)).toEqual(expected)
        expect(Array.from(sj)).toEqual(expected)
        // A wrong key opens nothing.
        const other = native.createKey(suite, randomBytes(32), iv)
        const b = makeBatch(100, 4, 3)
        nk.sealBatch(b.slab, b.offsets, b.lengths, 4, HEADER_SIZE)
        const s = new Uint8Array(4)
        other.openBatch(b.slab, b.offsets, b.lengths, 4, HEADER_SIZE, s)
        expect(Array.from(s)).toEqual([0, 0, 0, 0])
      })

      it('honours a header larger than HEADER_SIZE (all of it is authenticated)', () => {
        const key = randomBytes(32)
        const iv = randomBytes(12)
        const a = makeBatch(300, 3, 5)
        const b = a.slab.slice()
        native.createKey(suite, key, iv).sealBatch(a.slab, a.offsets, a.lengths, 3, HEADER_SIZE + 8)
        jsAead.createKey(suite, key, iv).sealBatch(b, a.offsets, a.lengths, 3, HEADER_SIZE + 8)
        expect(Buffer.compare(a.slab, b)).toBe(0)
        a.slab[a.offsets[1]! + HEADER_SIZE + 3]! ^= 1 // inside the extended header
        const st = new Uint8Array(3)
        native.createKey(suite, key, iv).openBatch(a.slab, a.offsets, a.lengths, 3, HEADER_SIZE + 8, st)
        expect(Array.from(st)).toEqual([1, 0, 1])
      })
    })
  }

  it('rejects bad arguments with typed errors before they reach C++', () => {
    const k = native.createKey('aes-256-gcm', randomBytes(32), randomBytes(12))
    const a = makeBatch(10, 2, 1)
    const st = new Uint8Array(2)
    const code = (f: () => void) => {
      try {
        f()
      } catch (e) {
        expect(e).toBeInstanceOf(STTError)
        return (e as STTError).code
      }
      return 'no error'
    }
    expect(code(() => native.createKey('aes-256-gcm', randomBytes(31), randomBytes(12)))).toBe(ErrorCode.CONFIG)
    expect(code(() => native.createKey('aes-256-gcm', randomBytes(32), randomBytes(16)))).toBe(ErrorCode.CONFIG)
    expect(code(() => native.createKey('rot13' as CipherSuite, randomBytes(32), randomBytes(12)))).toBe(ErrorCode.CONFIG)
    expect(code(() => k.sealBatch(a.slab, a.offsets, a.lengths, 3, HEADER_SIZE))).toBe(ErrorCode.CONFIG)
    expect(code(() => k.sealBatch(a.slab, a.offsets, a.lengths, 2, 18))).toBe(ErrorCode.CONFIG)
    expect(code(() => k.sealBatch(a.slab, a.offsets, a.lengths, 1.5, HEADER_SIZE))).toBe(ErrorCode.CONFIG)
    expect(code(() => k.sealBatch(a.slab, new Uint32Array([a.slab.length]), a.lengths, 1, HEADER_SIZE))).toBe(ErrorCode.CONFIG)
    expect(code(() => k.sealBatch(a.slab, a.offsets, new Uint32Array([20, 20]), 2, HEADER_SIZE))).toBe(ErrorCode.CONFIG)
    expect(code(() => k.sealBatch([] as unknown as Uint8Array, a.offsets, a.lengths, 1, HEADER_SIZE))).toBe(ErrorCode.CONFIG)
    expect(code(() => k.sealBatch(a.slab, Array.from(a.offsets) as unknown as Uint32Array, a.lengths, 1, HEADER_SIZE))).toBe(
      ErrorCode.CONFIG,
    )
    expect(code(() => k.openBatch(a.slab, a.offsets, a.lengths, 2, HEADER_SIZE, new Uint8Array(1)))).toBe(ErrorCode.CONFIG)
    k.sealBatch(a.slab, a.offsets, a.lengths, 2, HEADER_SIZE)
    k.openBatch(a.slab, a.offsets, a.lengths, 2, HEADER_SIZE, st)
    expect(Array.from(st)).toEqual([1, 1])
    k.destroy()
    expect(code(() => k.sealBatch(a.slab, a.offsets, a.lengths, 2, HEADER_SIZE))).toBe(ErrorCode.ENCRYPTION)
  })

  it('by-id calls (sealBatchById / openBatchById) act on their live key only; a destroyed key\'s id never reaches a later key', () => {
    const b = binding!
    expect(typeof b.sealBatchById).toBe('function')
    const suite = SUITE_ID['aes-256-gcm']
    const keyBytes = randomBytes(32)
    const iv = randomBytes(12)
    const k1 = new b.PacketKey(suite, keyBytes, iv)
    const id1 = k1.id!()
    expect(id1).toBeGreaterThanOrEqual(0)
    // By id and by method seal identically, and each opens the other's packets.
    const byId = makeBatch(100, 3, 7)
    const byMethod = makeBatch(100, 3, 7)
    expect(b.sealBatchById!(id1, byId.slab, byId.offsets, byId.lengths, 3, HEADER_SIZE)).toBe(3)
    expect(k1.sealBatch(byMethod.slab, byMethod.offsets, byMethod.lengths, 3, HEADER_SIZE)).toBe(3)
    expect(Buffer.from(byId.slab).equals(Buffer.from(byMethod.slab))).toBe(true)
    const st = new Uint8Array(3)
    expect(b.openBatchById!(id1, byMethod.slab, byMethod.offsets, byMethod.lengths, 3, HEADER_SIZE, st)).toBe(3)
    expect(Array.from(st)).toEqual([1, 1, 1])
    // Destroyed: its id finds nothing, even after its slot is reused by a new key.
    k1.destroy()
    expect(k1.id!()).toBe(-1)
    const k2 = new b.PacketKey(suite, randomBytes(32), randomBytes(12))
    const id2 = k2.id!()
    expect(id2).not.toBe(id1)
    const c = makeBatch(10, 1, 9)
    const before = Buffer.from(c.slab)
    expect(b.sealBatchById!(id1, c.slab, c.offsets, c.lengths, 1, HEADER_SIZE)).toBe(-1)
    expect(b.openBatchById!(id1, c.slab, c.offsets, c.lengths, 1, HEADER_SIZE, st)).toBe(-1)
    expect(Buffer.from(c.slab).equals(before)).toBe(true)
    for (const bad of [-1, 0.5, id2 + 0.5, Number.NaN, 2 ** 60]) expect(b.sealBatchById!(bad, c.slab, c.offsets, c.lengths, 1, HEADER_SIZE)).toBe(-1)
    expect(b.sealBatchById!(id2, c.slab, c.offsets, c.lengths, 1, HEADER_SIZE)).toBe(1)
    k2.destroy()
  })

  it('one-packet calls (sealOneById / openOneById) do what the batch calls do for one packet at an offset', () => {
    const b = binding!
    expect(typeof b.sealOneById).toBe('function')
    expect(typeof b.openOneById).toBe('function')
    for (const suite of SUITES) {
      const k = new b.PacketKey(SUITE_ID[suite], randomBytes(32), randomBytes(12))
      const id = k.id!()
      for (const payload of [0, 1, 64, 1452]) {
        // Packet 1 of an uneven batch: a non-zero, unaligned offset.
        const one = makeBatch(payload, 3, payload)
        const batch = makeBatch(payload, 3, payload)
        expect(b.sealOneById!(id, one.slab, one.offsets[1]!, one.lengths[1]!, HEADER_SIZE)).toBe(1)
        expect(b.sealBatchById!(id, batch.slab, batch.offsets.subarray(1), batch.lengths.subarray(1), 1, HEADER_SIZE)).toBe(1)
        expect(Buffer.from(one.slab).equals(Buffer.from(batch.slab))).toBe(true)
        const sealed = Buffer.from(one.slab)
        const st = new Uint8Array(1)
        expect(b.openBatchById!(id, batch.slab, batch.offsets.subarray(1), batch.lengths.subarray(1), 1, HEADER_SIZE, st)).toBe(1)
        expect(b.openOneById!(id, one.slab, one.offsets[1]!, one.lengths[1]!, HEADER_SIZE)).toBe(1)
        expect(Buffer.from(one.slab).equals(Buffer.from(batch.slab))).toBe(true)
        // A forgery: 0.
        sealed[one.offsets[1]! + one.lengths[1]! - 1]! ^= 1
        const forged = Uint8Array.from(sealed)
        expect(b.openOneById!(id, forged, one.offsets[1]!, one.lengths[1]!, HEADER_SIZE)).toBe(0)
        // Shorter than header + tag: 0, as the batch call's status.
        expect(b.openOneById!(id, forged, one.offsets[1]!, HEADER_SIZE + TAG_SIZE - 1, HEADER_SIZE)).toBe(0)
      }
      k.destroy()
      const c = makeBatch(10, 1, 9)
      const before = Buffer.from(c.slab)
      expect(b.sealOneById!(id, c.slab, c.offsets[0]!, c.lengths[0]!, HEADER_SIZE)).toBe(-1)
      expect(b.openOneById!(id, c.slab, c.offsets[0]!, c.lengths[0]!, HEADER_SIZE)).toBe(-1)
      expect(Buffer.from(c.slab).equals(before)).toBe(true)
      for (const bad of ['x', undefined, {}] as unknown[]) {
        expect(() => b.sealOneById!(bad as number, c.slab, c.offsets[0]!, c.lengths[0]!, HEADER_SIZE)).toThrow(TypeError)
        expect(() => b.openOneById!(bad as number, c.slab, c.offsets[0]!, c.lengths[0]!, HEADER_SIZE)).toThrow(TypeError)
      }
    }
  })

  it('a by-id call with a non-number id throws and touches nothing; 0 is never a live id (review 75)', () => {
    const b = binding!
    const keys = [0, 1, 2].map(() => new b.PacketKey(SUITE_ID['aes-256-gcm'], randomBytes(32), randomBytes(12)))
    for (const k of keys) expect(k.id!()).toBeGreaterThan(0)
    // Before the fix a non-number converted to 0 (with an exception pending), which named this
    // environment's first key: the slab was sealed under it, then the call threw.
    const c = makeBatch(10, 1, 9)
    const before = Buffer.from(c.slab)
    const st = new Uint8Array(1)
    for (const bad of ['x', undefined, {}, 0n, null, '0'] as unknown[]) {
      expect(() => b.sealBatchById!(bad as number, c.slab, c.offsets, c.lengths, 1, HEADER_SIZE)).toThrow(TypeError)
      expect(() => b.openBatchById!(bad as number, c.slab, c.offsets, c.lengths, 1, HEADER_SIZE, st)).toThrow(TypeError)
      expect(Buffer.from(c.slab).equals(before)).toBe(true)
    }
    expect(b.sealBatchById!(0, c.slab, c.offsets, c.lengths, 1, HEADER_SIZE)).toBe(-1)
    for (const k of keys) k.destroy()
  })

  describe('Wycheproof known answers', () => {
    const files: Array<[CipherSuite, string]> = [
      ['aes-256-gcm', fileURLToPath(new URL('../vectors/wycheproof/aes_gcm_test.json', import.meta.url))],
      ['chacha20-poly1305', fileURLToPath(new URL('../vectors/wycheproof/chacha20_poly1305_test.json', import.meta.url))],
    ]
    for (const [suite, file] of files) {
      it(`${suite}: every applicable vector (256-bit key, 96-bit nonce, 128-bit tag)`, () => {
        const doc = JSON.parse(readFileSync(file, 'utf8')) as {
          testGroups: Array<{
            keySize: number
            ivSize: number
            tagSize: number
            tests: Array<{ tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: string }>
          }>
        }
        const b = binding!
        const id = SUITE_ID[suite]
        let valid = 0
        let invalid = 0
        let viaBatch = 0
        let emptyAad = 0
        let emptyMsg = 0
        for (const g of doc.testGroups) {
          if (g.keySize !== 256 || g.ivSize !== 96 || g.tagSize !== 128) continue
          for (const t of g.tests) {
            const key = hex(t.key)
            const nonce = hex(t.iv)
            const aad = hex(t.aad)
            const msg = hex(t.msg)
            const ct = hex(t.ct)
            const tag = hex(t.tag)
            const ok = t.result === 'valid'
            const what = `${suite} tcId ${t.tcId}`
            if (ok) {
              const data = msg.slice()
              const tagOut = new Uint8Array(16)
              expect(b.aeadSealOne(id, key, nonce, aad, data, tagOut), what).toBe(true)
              expect(Buffer.from(data).toString('hex'), what).toBe(t.ct)
              expect(Buffer.from(tagOut).toString('hex'), what).toBe(t.tag)
              valid++
            } else {
              invalid++
            }
            const data = ct.slice()
            expect(b.aeadOpenOne(id, key, nonce, aad, data, tag), what).toBe(ok)
            if (ok) expect(Buffer.from(data).toString('hex'), what).toBe(t.msg)
            // The per-packet path (AeadKey::SealOne/OpenOne: direct provider calls or EVP, as
            // aeadPacketPath says) with the vector's nonce, every vector: a packet key whose
            // contexts seal, then open the vector's ciphertext, then (invalid ones) refuse it.
            const pk = new b.PacketKey(id, key, new Uint8Array(12))
            if (ok) {
              const sealed = msg.slice()
              const tagOut = new Uint8Array(16)
              expect(pk.testSealOne!(nonce, aad, sealed, tagOut), `${what} (packet key)`).toBe(true)
              expect(Buffer.from(sealed).toString('hex'), `${what} (packet key)`).toBe(t.ct)
              expect(Buffer.from(tagOut).toString('hex'), `${what} (packet key)`).toBe(t.tag)
            }
            const opened = ct.slice()
            expect(pk.testOpenOne!(nonce, aad, opened, tag), `${what} (packet key)`).toBe(ok)
            if (ok) expect(Buffer.from(opened).toString('hex'), `${what} (packet key)`).toBe(t.msg)
            // The same open context still opens a genuine packet after a refusal (a receive key
            // goes on after a forgery): re-seal the message under this nonce and open it.
            if (!ok && msg.length === ct.length) {
              const again = msg.slice()
              const againTag = new Uint8Array(16)
              expect(b.aeadSealOne(id, key, nonce, aad, again, againTag), what).toBe(true)
              expect(pk.testOpenOne!(nonce, aad, again, againTag), `${what} (packet key, after a refusal)`).toBe(true)
              expect(Buffer.from(again).toString('hex'), what).toBe(t.msg)
            }
            pk.destroy()
            if (aad.length === 0) emptyAad++
            if (msg.length === 0) emptyMsg++
            // Through the batch path too when the AAD can play the header: choose the key's IV
            // so that iv XOR (0^32 || pn from the AAD) is the vector's nonce.
            if (aad.length >= HEADER_SIZE) {
              const iv = nonce.slice()
              for (let i = 0; i < 8; i++) iv[4 + i]! ^= aad[PN_OFFSET + i]!
              const pkt = new Uint8Array(aad.length + ct.length + 16)
              pkt.set(aad, 0)
              pkt.set(ct, aad.length)
              pkt.set(tag, aad.length + ct.length)
              const st = new Uint8Array(1)
              native.createKey(suite, key, iv).openBatch(pkt, new Uint32Array([0]), new Uint32Array([pkt.length]), 1, aad.length, st)
              expect(st[0], `${what} (batch)`).toBe(ok ? 1 : 0)
              viaBatch++
            }
          }
        }
        expect(valid).toBeGreaterThan(20)
        expect(invalid).toBeGreaterThan(5)
        expect(viaBatch).toBeGreaterThan(5)
        expect(emptyAad).toBeGreaterThan(0)
        expect(emptyMsg).toBeGreaterThan(0)
      })
    }
  })
})
