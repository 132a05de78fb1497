/**
 * makeKey hands createKey its key and IV from a scratch buffer and wipes it on return: both AEAD
 * backends must therefore copy them (AeadBackend.createKey's contract), and the key made must
 * still seal what a key made from unwiped copies seals.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { AeadBackend, PacketKey } from '../../src/crypto/aead.js'
import { hkdf } from '../../src/crypto/handshake-crypto.js'
import { jsAead } from '../../src/crypto/js-aead.js'
import { nativeAead } from '../../src/crypto/native-aead.js'
import { makeKey } from '../../src/protocol/packet-keys.js'

const backends: AeadBackend[] = nativeAead ? [jsAead, nativeAead] : [jsAead]
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** Seals one 64-byte packet (24-byte header) with `k` and returns the sealed bytes. */
function sealOne(k: PacketKey): string {
  const slab = new Uint8Array(64 + 16).fill(7)
  k.sealBatch(slab, new Uint32Array([0]), new Uint32Array([64 + 16]), 1, 24)
  return hex(slab)
}

describe('makeKey', () => {
  for (const aead of backends) {
    it(`${aead.name}: the key and IV createKey got are wiped on return, and the key seals as one made from HKDF's own copies`, () => {
      const secret = new Uint8Array(randomBytes(32))
      const seen: Uint8Array[] = []
      const spy: AeadBackend = { name: aead.name, createKey: (suite, key, iv) => (seen.push(key, iv), aead.createKey(suite, key, iv)) }
      const made = makeKey(spy, 'aes-256-gcm', secret, 0)
      expect(seen).toHaveLength(2)
      for (const b of seen) expect(b.every((x) => x === 0)).toBe(true)
      const ref = aead.createKey('aes-256-gcm', hkdf(secret, 'STT v1', 'key', 32), hkdf(secret, 'STT v1', 'iv', 12))
      expect(sealOne(made.key)).toBe(sealOne(ref))
      made.key.destroy()
      ref.destroy()
    })
  }
})
