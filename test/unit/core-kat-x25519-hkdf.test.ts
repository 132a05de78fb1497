/**
 * Known-answer tests of X25519 and HKDF-SHA256 against Wycheproof, through src/crypto/primitives.ts
 * (x25519FromPrivate + x25519, hkdf), plus the handshake's own uses of them.
 */
import { fileURLToPath } from 'node:url'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { hkdf, sha3_256, x25519, x25519FromPrivate, x25519Once, x25519PublicKeyObject } from '../../src/crypto/primitives.js'
import { nodeIdOf } from '../../src/protocol/identity.js'

const DIR = fileURLToPath(new URL('../vectors/wycheproof', import.meta.url))
const h = (s: string) => new Uint8Array(Buffer.from(s, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

interface XdhVector { tcId: number; public: string; private: string; shared: string; result: string; flags: string[] }
interface HkdfVector { tcId: number; ikm: string; salt: string; info: string; size: number; okm: string; result: string; flags: string[] }

const xdh = (JSON.parse(readFileSync(`${DIR}/x25519_test.json`, 'utf8')) as { testGroups: Array<{ tests: XdhVector[] }> }).testGroups.flatMap((g) => g.tests)
const hk = (JSON.parse(readFileSync(`${DIR}/hkdf_sha256_test.json`, 'utf8')) as { testGroups: Array<{ tests: HkdfVector[] }> }).testGroups.flatMap((g) => g.tests)

describe('Wycheproof X25519 through primitives.x25519', () => {
  const zero = '0'.repeat(64)

  it('every vector with a non-zero shared secret matches (valid and acceptable: twist, non-canonical)', () => {
    const cases = xdh.filter((t) => t.shared !== zero)
    expect(cases.length).toBeGreaterThan(450)
    for (const t of cases) {
      const kp = x25519FromPrivate(h(t.private))
      const out = x25519(kp.privateKey, h(t.public))
      expect(out && hex(out), `tcId ${t.tcId} ${t.flags.join(',')}`).toBe(t.shared)
    }
  })

  it('low-order public keys (all-zero result) give null, which the handshake treats as failure', () => {
    const cases = xdh.filter((t) => t.shared === zero)
    expect(cases.length).toBeGreaterThanOrEqual(31)
    for (const t of cases) {
      const kp = x25519FromPrivate(h(t.private))
      expect(x25519(kp.privateKey, h(t.public)), `tcId ${t.tcId}`).toBeNull()
    }
  })

  it('x25519Once (a raw private key used once) gives the same result or null for every vector', () => {
    for (const t of xdh) {
      const out = x25519Once(h(t.private), h(t.public))
      if (t.shared === zero) expect(out, `tcId ${t.tcId}`).toBeNull()
      else expect(out && hex(out), `tcId ${t.tcId}`).toBe(t.shared)
    }
    expect(() => x25519Once(new Uint8Array(31), h(xdh[0]!.public))).toThrow(RangeError)
  })

  it('a public key of the wrong length gives null (no throw); a private key of the wrong length throws RangeError', () => {
    const kp = x25519FromPrivate(h(xdh[0]!.private))
    expect(x25519(kp.privateKey, new Uint8Array(31))).toBeNull()
    expect(x25519(kp.privateKey, new Uint8Array(33))).toBeNull()
    expect(() => x25519FromPrivate(new Uint8Array(31))).toThrow(RangeError)
    expect(() => x25519PublicKeyObject(new Uint8Array(0))).toThrow(RangeError)
  })

  it('the public key derived from a private key is the RFC 7748 §6.1 one', () => {
    // RFC 7748 §6.1 Alice.
    const kp = x25519FromPrivate(h('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'))
    expect(hex(kp.publicKey)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
    const bob = h('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')
    expect(hex(x25519(kp.privateKey, bob)!)).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742')
  })
})

describe('Wycheproof HKDF-SHA256 through primitives.hkdf', () => {
  it('valid vectors match (including empty salt and the maximal 255*32-byte output)', () => {
    const valid = hk.filter((t) => t.result === 'valid')
    expect(valid.length).toBeGreaterThan(80)
    for (const t of valid) {
      expect(hex(hkdf(h(t.ikm), h(t.salt), h(t.info), t.size)), `tcId ${t.tcId}`).toBe(t.okm)
    }
    expect(valid.some((t) => t.size === 255 * 32)).toBe(true)
  })

  it('invalid vectors (output longer than 255*32) are refused with a throw, never truncated', () => {
    const invalid = hk.filter((t) => t.result === 'invalid')
    expect(invalid.length).toBe(3)
    for (const t of invalid) expect(() => hkdf(h(t.ikm), h(t.salt), h(t.info), t.size), `tcId ${t.tcId}`).toThrow()
  })

  it('string salt/info are their UTF-8 bytes (the protocol labels)', () => {
    const ikm = h('0b'.repeat(22))
    expect(hex(hkdf(ikm, 'STT v1', 'key', 32))).toBe(hex(hkdf(ikm, new TextEncoder().encode('STT v1'), new TextEncoder().encode('key'), 32)))
  })
})

describe('SHA3-256 and the node id', () => {
  it('SHA3-256("abc") is the FIPS 202 value', () => {
    expect(hex(sha3_256(new TextEncoder().encode('abc')))).toBe('3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532')
  })

  it('node id = SHA3-256("STT node id v1" || static public key)', () => {
    const pub = h('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
    const expected = sha3_256(new TextEncoder().encode('STT node id v1'), pub)
    expect(hex(nodeIdOf(pub))).toBe(hex(expected))
    expect(hex(nodeIdOf(pub))).not.toBe(hex(sha3_256(pub)))
  })
})
