/**
 * Known-answer tests of both AEADs against Wycheproof (test/vectors/wycheproof, a copy of the C2SP vectors), through
 * OUR wrappers: aeadSeal/aeadOpen (handshake messages, cookies) and the packet-protection path
 * (PacketKey.sealBatch/openBatch of the JS backend and, when loaded, the native one).
 *
 * Packet path, two ways:
 *  - exact: vectors whose AAD is >= 19 bytes are laid out as header = AAD, body = msg; the
 *    PacketKey IV is chosen so that iv XOR (0^4 || AAD[11..19)) equals the vector's nonce, so
 *    the sealed bytes must equal ct || tag exactly.
 *  - derived: every 12-byte-nonce/32-byte-key vector is sealed as a real packet (random 19-byte
 *    header, pn from the header) and must agree byte for byte with aeadSeal on the derived nonce;
 *    an invalid vector's tag modification (its tag XOR the correct tag) is replayed onto the packet,
 *    which openBatch must then reject.
 */
import { fileURLToPath } from 'node:url'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { aeadOpen, aeadSeal } from '../../src/crypto/primitives.js'
import { jsAead } from '../../src/crypto/js-aead.js'
import { nativeAead } from '../../src/crypto/native-aead.js'
import type { AeadBackend, CipherSuite } from '../../src/crypto/aead.js'
import { HEADER_SIZE, PN_OFFSET } from '../../src/protocol/constants.js'
import { Rng } from '../helpers/rng.js'

const DIR = fileURLToPath(new URL('../vectors/wycheproof', import.meta.url))
interface AeadVector { tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: string; flags: string[] }
interface AeadGroup { ivSize: number; keySize: number; tagSize: number; tests: AeadVector[] }

const h = (s: string) => new Uint8Array(Buffer.from(s, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

function load(file: string): AeadGroup[] {
  return (JSON.parse(readFileSync(`${DIR}/${file}`, 'utf8')) as { testGroups: AeadGroup[] }).testGroups
}

const SUITES: Array<[CipherSuite, string]> = [
  ['aes-256-gcm', 'aes_gcm_test.json'],
  ['chacha20-poly1305', 'chacha20_poly1305_test.json'],
]
const backends: AeadBackend[] = nativeAead ? [jsAead, nativeAead] : [jsAead]

/** Seals one packet (header || body || tag room) with `backend`, returns the wire bytes. */
function sealPacket(backend: AeadBackend, suite: CipherSuite, key: Uint8Array, iv: Uint8Array, header: Uint8Array, body: Uint8Array): Uint8Array {
  const slab = new Uint8Array(header.length + body.length + 16 + 7).fill(0xee) // slack after the packet must stay untouched
  slab.set(header, 3)
  slab.set(body, 3 + header.length)
  const k = backend.createKey(suite, key, iv)
  k.sealBatch(slab, new Uint32Array([3]), new Uint32Array([header.length + body.length + 16]), 1, header.length)
  k.destroy()
  expect(slab.subarray(0, 3).every((b) => b === 0xee)).toBe(true)
  expect(slab.subarray(slab.length - 4).every((b) => b === 0xee)).toBe(true)
  return slab.slice(3, slab.length - 4)
}

/** Opens one packet; returns the plaintext body or null. */
function openPacket(backend: AeadBackend, suite: CipherSuite, key: Uint8Array, iv: Uint8Array, pkt: Uint8Array, headerSize: number): Uint8Array | null {
  const slab = pkt.slice()
  const status = new Uint8Array([7])
  const k = backend.createKey(suite, key, iv)
  k.openBatch(slab, new Uint32Array([0]), new Uint32Array([slab.length]), 1, headerSize, status)
  k.destroy()
  expect(status[0] === 0 || status[0] === 1).toBe(true)
  return status[0] === 1 ? slab.slice(headerSize, slab.length - 16) : null
}

function nonceFor(iv: Uint8Array, header: Uint8Array): Uint8Array {
  const n = iv.slice()
  for (let i = 0; i < 8; i++) n[4 + i]! ^= header[PN_OFFSET + i]!
  return n
}

for (const [suite, file] of SUITES) {
  const groups = load(file)
  const all = groups.flatMap((g) => g.tests.map((t) => ({ ...t, g })))
  const ours = all.filter((t) => t.g.keySize === 256 && t.g.ivSize === 96 && t.g.tagSize === 128)

  describe(`Wycheproof ${suite} through aeadSeal/aeadOpen`, () => {
    it(`has the vectors it needs (${ours.length} with 32-byte key, 12-byte nonce)`, () => {
      expect(ours.filter((t) => t.result === 'valid').length).toBeGreaterThan(30)
      expect(ours.filter((t) => t.result === 'invalid').length).toBeGreaterThan(20)
    })

    it('valid vectors: seal gives ct||tag, open gives msg', () => {
      let n = 0
      for (const t of ours.filter((v) => v.result === 'valid')) {
        const sealed = aeadSeal(suite, h(t.key), h(t.iv), h(t.aad), h(t.msg))
        expect(hex(sealed), `tcId ${t.tcId}`).toBe(t.ct + t.tag)
        const opened = aeadOpen(suite, h(t.key), h(t.iv), h(t.aad), h(t.ct + t.tag))
        expect(opened && hex(opened), `tcId ${t.tcId}`).toBe(t.msg)
        n++
      }
      expect(n).toBeGreaterThan(30)
    })

    it('invalid vectors are rejected (null, never a throw), whatever their key/nonce size', () => {
      const invalid = all.filter((t) => t.result === 'invalid' && t.g.keySize === 256)
      expect(invalid.length).toBeGreaterThan(20)
      for (const t of invalid) {
        expect(aeadOpen(suite, h(t.key), h(t.iv), h(t.aad), h(t.ct + t.tag)), `tcId ${t.tcId}`).toBeNull()
      }
    })

    it('a sealed box shorter than the tag is rejected', () => {
      const t = ours[0]!
      expect(aeadOpen(suite, h(t.key), h(t.iv), h(t.aad), new Uint8Array(15))).toBeNull()
    })
  })

  for (const backend of backends) {
    describe(`Wycheproof ${suite} through PacketKey (${backend.name} backend)`, () => {
      it('exact: vectors with AAD >= 19 bytes reproduce ct||tag as a packet, and open back', () => {
        const exact = ours.filter((t) => t.result === 'valid' && t.aad.length / 2 >= HEADER_SIZE)
        expect(exact.length).toBeGreaterThan(10)
        for (const t of exact) {
          const aad = h(t.aad)
          // Pick the IV so that the packet nonce iv XOR (0^4 || aad[11..19)) is the vector's nonce.
          const iv = nonceFor(h(t.iv), aad)
          const pkt = sealPacket(backend, suite, h(t.key), iv, aad, h(t.msg))
          expect(hex(pkt.subarray(aad.length)), `tcId ${t.tcId}`).toBe(t.ct + t.tag)
          expect(hex(pkt.subarray(0, aad.length))).toBe(t.aad) // the header stays cleartext
          const body = openPacket(backend, suite, h(t.key), iv, pkt, aad.length)
          expect(body && hex(body), `tcId ${t.tcId}`).toBe(t.msg)
        }
      })

      it('derived: every vector sealed as a real packet agrees with aeadSeal; invalid tag edits are rejected', () => {
        const rng = new Rng(`kat-${suite}-${backend.name}`)
        let checked = 0
        let rejected = 0
        for (const t of ours) {
          const header = rng.bytes(HEADER_SIZE)
          header[PN_OFFSET] = 0 // pn < 2^53 like every real one
          header[PN_OFFSET + 1]! &= 0x1f
          const key = h(t.key)
          const iv = h(t.iv)
          const expected = aeadSeal(suite, key, nonceFor(iv, header), header, h(t.msg))
          const pkt = sealPacket(backend, suite, key, iv, header, h(t.msg))
          expect(hex(pkt.subarray(HEADER_SIZE)), `tcId ${t.tcId}`).toBe(hex(expected))
          expect(hex(openPacket(backend, suite, key, iv, pkt, HEADER_SIZE) ?? new Uint8Array([1, 2, 3]))).toBe(t.msg)
          expect(hex(aeadOpen(suite, key, nonceFor(iv, header), header, pkt.subarray(HEADER_SIZE))!)).toBe(t.msg)
          checked++
          if (t.result === 'invalid') {
            // Replay the vector's modification: its ct/tag differ from the true ones by some XOR.
            const truth = aeadSeal(suite, key, iv, h(t.aad), h(t.msg))
            const forged = h(t.ct + t.tag)
            if (forged.length !== truth.length) continue
            const bad = pkt.slice()
            for (let i = 0; i < truth.length; i++) bad[HEADER_SIZE + i]! ^= truth[i]! ^ forged[i]!
            expect(openPacket(backend, suite, key, iv, bad, HEADER_SIZE), `tcId ${t.tcId}`).toBeNull()
            rejected++
          }
        }
        expect(checked).toBe(ours.length)
        expect(rejected).toBeGreaterThan(20)
      })

      it('a header edit, a wrong pn or a short packet fails; a batch mixes good and forged', () => {
        const t = ours.find((v) => v.result === 'valid' && v.msg.length > 0)!
        const key = h(t.key)
        const iv = h(t.iv)
        const header = new Uint8Array(HEADER_SIZE)
        header[0] = 1
        header[1] = 0x10
        header[PN_OFFSET + 7] = 5
        const pkt = sealPacket(backend, suite, key, iv, header, h(t.msg))
        for (const at of [0, 1, 2, 3, 10, PN_OFFSET + 7, HEADER_SIZE, pkt.length - 1]) {
          const bad = pkt.slice()
          bad[at]! ^= 0x01
          expect(openPacket(backend, suite, key, iv, bad, HEADER_SIZE), `byte ${at}`).toBeNull()
        }
        // Batch of 3: good, forged, truncated below header+tag.
        const slab = new Uint8Array(pkt.length * 3)
        slab.set(pkt, 0)
        slab.set(pkt, pkt.length)
        slab[pkt.length * 2 - 1]! ^= 0x80
        slab.set(pkt.subarray(0, HEADER_SIZE + 15), pkt.length * 2)
        const status = new Uint8Array(3).fill(9)
        const k = backend.createKey(suite, key, iv)
        k.openBatch(slab, new Uint32Array([0, pkt.length, pkt.length * 2]), new Uint32Array([pkt.length, pkt.length, HEADER_SIZE + 15]), 3, HEADER_SIZE, status)
        k.destroy()
        expect([...status]).toEqual([1, 0, 0])
        expect(hex(slab.subarray(HEADER_SIZE, pkt.length - 16))).toBe(t.msg)
      })
    })
  }
}
