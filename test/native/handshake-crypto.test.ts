/**
 * The native handshake primitives (native/handshake_crypto.cc through
 * src/crypto/native-handshake-crypto.ts): Wycheproof X25519 and HKDF-SHA256 vectors, byte-equal
 * results against the node:crypto backend on random inputs, and real handshakes over loopback
 * UDP between a node whose whole module graph uses the native primitives and one whose graph
 * was loaded with STT_NATIVE=0 (node:crypto for everything), in both directions.
 * Skipped (reason in the title) when the addon is not loaded, e.g. under STT_NATIVE=0.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { handshakeCrypto, jsHandshakeCrypto, nativeHandshakeCrypto, type HandshakeCrypto } from '../../src/crypto/handshake-crypto.js'
import { backend, binding } from '../../src/native/load.js'
import { createNativeHandshakeCrypto } from '../../src/crypto/native-handshake-crypto.js'
import type { NativeBinding } from '../../src/native/binding.js'
import { STTNode, generateSeed, type STTSession } from '../../src/index.js'

const DIR = fileURLToPath(new URL('../vectors/wycheproof', import.meta.url))
const h = (s: string) => new Uint8Array(Buffer.from(s, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const rnd = (n: number) => new Uint8Array(randomBytes(n))

interface XdhVector { tcId: number; public: string; private: string; shared: string; flags: string[] }
interface HkdfVector { tcId: number; ikm: string; salt: string; info: string; size: number; okm: string; result: string }
const xdh = (JSON.parse(readFileSync(`${DIR}/x25519_test.json`, 'utf8')) as { testGroups: Array<{ tests: XdhVector[] }> }).testGroups.flatMap((g) => g.tests)
const hk = (JSON.parse(readFileSync(`${DIR}/hkdf_sha256_test.json`, 'utf8')) as { testGroups: Array<{ tests: HkdfVector[] }> }).testGroups.flatMap((g) => g.tests)

const have = backend === 'native' && nativeHandshakeCrypto !== null
const TITLE = have ? 'addon loaded' : 'skipped: the native addon (with handshake primitives) is not loaded'

describe.skipIf(!have)(`native handshake primitives (${TITLE})`, () => {
  const nat = nativeHandshakeCrypto as HandshakeCrypto
  const js = jsHandshakeCrypto

  it('this process handshakes with the native backend', () => {
    expect(handshakeCrypto.name).toBe('native')
  })

  it('Wycheproof X25519: every non-zero shared secret matches; every all-zero result is null', () => {
    const zero = '0'.repeat(64)
    let good = 0
    let low = 0
    for (const t of xdh) {
      const kp = nat.x25519FromPrivate(h(t.private))
      const out = nat.x25519(kp.privateKey, h(t.public))
      if (t.shared === zero) {
        expect(out, `tcId ${t.tcId}`).toBeNull()
        low++
      } else {
        expect(out && hex(out), `tcId ${t.tcId} ${t.flags.join(',')}`).toBe(t.shared)
        good++
      }
    }
    expect(good).toBeGreaterThan(450)
    expect(low).toBeGreaterThanOrEqual(31)
  })

  it('Wycheproof X25519 through x25519Once (raw private key, no public key derived), both backends', () => {
    const zero = '0'.repeat(64)
    for (const c of [nat, js]) {
      for (const t of xdh) {
        const out = c.x25519Once(h(t.private), h(t.public))
        if (t.shared === zero) expect(out, `${c.name} tcId ${t.tcId}`).toBeNull()
        else expect(out && hex(out), `${c.name} tcId ${t.tcId} ${t.flags.join(',')}`).toBe(t.shared)
      }
      expect(c.x25519Once(rnd(32), new Uint8Array(31))).toBeNull()
      expect(() => c.x25519Once(new Uint8Array(31), rnd(32))).toThrow(RangeError)
    }
  })

  it('Wycheproof X25519 through x25519Ephemeral (key pair and DH in one call): shared secrets, null for all-zero ones, public keys as x25519FromPrivate, both backends', () => {
    const zero = '0'.repeat(64)
    for (const c of [nat, js]) {
      for (const t of xdh) {
        const out = c.x25519Ephemeral(h(t.private), h(t.public))
        if (t.shared === zero) expect(out, `${c.name} tcId ${t.tcId}`).toBeNull()
        else {
          expect(out && hex(out.shared), `${c.name} tcId ${t.tcId} ${t.flags.join(',')}`).toBe(t.shared)
          expect(hex(out!.publicKey)).toBe(hex(js.x25519FromPrivate(h(t.private)).publicKey))
        }
      }
      expect(c.x25519Ephemeral(rnd(32), new Uint8Array(31))).toBeNull()
      expect(() => c.x25519Ephemeral(new Uint8Array(31), rnd(32))).toThrow(RangeError)
    }
    // An addon without x25519Ephemeral: the wrapper falls back to the four calls, same results.
    const { x25519Ephemeral: _omitted, ...older } = binding as NativeBinding
    const old = createNativeHandshakeCrypto(older as NativeBinding) as HandshakeCrypto
    for (let i = 0; i < 20; i++) {
      const a = rnd(32)
      const peer = js.x25519FromPrivate(rnd(32)).publicKey
      const got = old.x25519Ephemeral(a, peer)!
      const want = nat.x25519Ephemeral(a, peer)!
      expect([hex(got.publicKey), hex(got.shared)]).toEqual([hex(want.publicKey), hex(want.shared)])
    }
    expect(old.x25519Ephemeral(rnd(32), new Uint8Array(32))).toBeNull()
  })

  it('SHA3-256: FIPS 202 known answers and the node:crypto backend on random inputs; an addon without it falls back', () => {
    // SHA3-256("") and SHA3-256("abc"), FIPS 202 examples.
    expect(hex(nat.sha3_256())).toBe('a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a')
    expect(hex(nat.sha3_256(new TextEncoder().encode('abc')))).toBe('3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532')
    for (let i = 0; i < 200; i++) {
      const parts = [rnd(i % 17), rnd(i), rnd(32)]
      expect(hex(nat.sha3_256(...parts))).toBe(hex(js.sha3_256(...parts)))
    }
    const { sha3_256: _omitted, ...older } = binding as NativeBinding
    const old = createNativeHandshakeCrypto(older as NativeBinding) as HandshakeCrypto
    const data = rnd(46)
    expect(hex(old.sha3_256(data))).toBe(hex(nat.sha3_256(data)))
  })

  it('one native key, many DHs (its derive context is kept): each matches node:crypto, a low-order peer in between changes nothing', () => {
    const raw = rnd(32)
    const n = nat.x25519FromPrivate(raw)
    const j = js.x25519FromPrivate(raw)
    for (let i = 0; i < 100; i++) {
      const peer = i % 10 === 5 ? new Uint8Array(32) : js.x25519FromPrivate(rnd(32)).publicKey
      const got = nat.x25519(n.privateKey, peer)
      const want = js.x25519(j.privateKey, peer)
      expect(got && hex(got), `dh ${i}`).toBe(want && hex(want))
    }
  })

  it('X25519 edge cases: RFC 7748 §6.1 public key, wrong-length public key is null, wrong-length private key throws RangeError', () => {
    const alice = nat.x25519FromPrivate(h('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'))
    expect(hex(alice.publicKey)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
    const bob = h('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')
    expect(hex(nat.x25519(alice.privateKey, bob)!)).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742')
    expect(nat.x25519(alice.privateKey, new Uint8Array(31))).toBeNull()
    expect(nat.x25519(alice.privateKey, new Uint8Array(33))).toBeNull()
    expect(nat.x25519(alice.privateKey, new Uint8Array(32))).toBeNull() // the all-zero point: low order
    expect(() => nat.x25519FromPrivate(new Uint8Array(31))).toThrow(RangeError)
  })

  it('keys of one backend are refused by the other (TypeError), never silently misused', () => {
    const n = nat.x25519FromPrivate(rnd(32))
    const j = js.x25519FromPrivate(rnd(32))
    expect(() => js.x25519(n.privateKey, j.publicKey)).toThrow(TypeError)
    expect(() => nat.x25519(j.privateKey, n.publicKey)).toThrow(TypeError)
  })

  it('x25519Destroy frees a native key at once (a later DH fails, as null), refuses a key of the other backend, and is a no-op for a js key', () => {
    const peer = js.x25519FromPrivate(rnd(32)).publicKey
    const n = nat.x25519FromPrivate(rnd(32))
    expect(nat.x25519(n.privateKey, peer)).not.toBeNull()
    nat.x25519Destroy(n.privateKey)
    expect(nat.x25519(n.privateKey, peer)).toBeNull()
    nat.x25519Destroy(n.privateKey) // twice: still nothing to free, no crash
    const j = js.x25519FromPrivate(rnd(32))
    expect(() => nat.x25519Destroy(j.privateKey)).toThrow(TypeError)
    expect(() => js.x25519Destroy(n.privateKey)).toThrow(TypeError)
    js.x25519Destroy(j.privateKey)
    expect(js.x25519(j.privateKey, peer)).not.toBeNull()
  })

  it('a native private key exposes no bytes to JavaScript (no own properties, nothing enumerable)', () => {
    const raw = rnd(32)
    const kp = nat.x25519FromPrivate(raw)
    expect(Reflect.ownKeys(kp.privateKey)).toEqual([])
    expect(Object.keys(kp)).toEqual(['privateKey'])
    expect(JSON.stringify(kp)).not.toContain(hex(raw))
  })

  it('Wycheproof HKDF-SHA256: valid vectors match (empty salt, 255*32 bytes); invalid lengths throw', () => {
    const valid = hk.filter((t) => t.result === 'valid')
    expect(valid.length).toBeGreaterThan(80)
    for (const t of valid) expect(hex(nat.hkdf(h(t.ikm), h(t.salt), h(t.info), t.size)), `tcId ${t.tcId}`).toBe(t.okm)
    const invalid = hk.filter((t) => t.result === 'invalid')
    expect(invalid.length).toBe(3)
    for (const t of invalid) expect(() => nat.hkdf(h(t.ikm), h(t.salt), h(t.info), t.size), `tcId ${t.tcId}`).toThrow(RangeError)
  })

  it('differential: native and node:crypto agree on 300 random X25519 exchanges, public keys included', () => {
    for (let i = 0; i < 300; i++) {
      const a = rnd(32)
      const b = rnd(32)
      const na = nat.x25519FromPrivate(a)
      const ja = js.x25519FromPrivate(a)
      const jb = js.x25519FromPrivate(b)
      expect(hex(na.publicKey)).toBe(hex(ja.publicKey))
      expect(hex(nat.x25519(na.privateKey, jb.publicKey)!)).toBe(hex(js.x25519(ja.privateKey, jb.publicKey)!))
    }
  })

  it('differential: HKDF, HMAC-SHA256 and SHA-256 agree on random inputs and lengths, string labels included', () => {
    for (let i = 0; i < 300; i++) {
      const ikm = rnd(i % 70)
      const salt = rnd((i * 7) % 90)
      const info = rnd((i * 13) % 40)
      const len = 1 + ((i * 37) % 200)
      expect(hex(nat.hkdf(ikm, salt, info, len))).toBe(hex(js.hkdf(ikm, salt, info, len)))
      const parts = [rnd(i % 5), rnd(i), rnd(3)]
      expect(hex(nat.hmacSha256(salt, ...parts))).toBe(hex(js.hmacSha256(salt, ...parts)))
      expect(hex(nat.sha256(...parts))).toBe(hex(js.sha256(...parts)))
    }
    const ikm = rnd(32)
    expect(hex(nat.hkdf(ikm, 'STT v1', 'key', 32))).toBe(hex(js.hkdf(ikm, 'STT v1', 'key', 32)))
    expect(nat.hkdf(ikm, 'STT v1', 'key', 0).length).toBe(0)
    expect(hex(nat.sha256())).toBe(hex(js.sha256()))
    expect(hex(nat.hmacSha256(new Uint8Array(0)))).toBe(hex(js.hmacSha256(new Uint8Array(0))))
  })

  it('HMAC-SHA256 known answers (RFC 4231 test cases 1, 2 and 6), each twice: inner and outer key states made per call', () => {
    const text = (t: string) => new TextEncoder().encode(t)
    const cases: Array<[Uint8Array, Uint8Array, string]> = [
      [new Uint8Array(20).fill(0x0b), text('Hi There'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
      [text('Jefe'), text('what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
      [new Uint8Array(131).fill(0xaa), text('Test Using Larger Than Block-Size Key - Hash Key First'), '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'],
    ]
    for (let round = 0; round < 2; round++) {
      for (const [key, data, mac] of cases) {
        expect(hex(nat.hmacSha256(key, data))).toBe(mac)
        expect(hex(js.hmacSha256(key, data))).toBe(mac)
      }
    }
  })

  it('one-shot AEAD (contexts per thread, re-keyed per call): suites, keys, forgeries and seal/open interleaved stay correct', () => {
    const suites = ['aes-256-gcm', 'chacha20-poly1305'] as const
    for (let i = 0; i < 200; i++) {
      const suite = suites[i % 2]!
      const key = rnd(32)
      const nonce = rnd(12)
      const aad = rnd(i % 7)
      const pt = rnd(i % 50)
      const sealed = nat.aeadSeal(suite, key, nonce, aad, pt)
      expect(hex(sealed)).toBe(hex(js.aeadSeal(suite, key, nonce, aad, pt)))
      const forged = sealed.slice()
      forged[i % forged.length]! ^= 1
      expect(nat.aeadOpen(suite, key, nonce, aad, forged)).toBeNull()
      expect(nat.aeadOpen(suites[(i + 1) % 2]!, key, nonce, aad, sealed)).toBeNull()
      expect(hex(nat.aeadOpen(suite, key, nonce, aad, sealed)!)).toBe(hex(pt))
    }
  })

  it('the wrappers\' scratch buffer holds nothing after any call: success, failed open, wrong argument type, more than 2 KiB (review 67)', () => {
    // A wrapper over the real binding that remembers the scratch buffer (sha256's 32-byte output
    // is placed in it), so the test can read what a call left behind.
    const real = binding as NativeBinding
    const sha256 = real.sha256!.bind(real)
    let scratch: ArrayBufferLike | null = null
    const spy = { ...real, sha256: (input: Uint8Array, out: Uint8Array) => ((scratch = out.buffer), sha256(input, out)) } as NativeBinding
    const w = createNativeHandshakeCrypto(spy) as HandshakeCrypto
    w.sha256(rnd(3))
    const bytes = new Uint8Array(scratch as unknown as ArrayBuffer)
    const clean = () => expect(bytes.every((b) => b === 0)).toBe(true)
    clean()
    const key = rnd(32)
    const nonce = rnd(12)
    const sealed = w.aeadSeal('aes-256-gcm', key, nonce, rnd(9), rnd(40))
    clean()
    w.aeadSealInPlace('aes-256-gcm', key, nonce, rnd(9), rnd(40), new Uint8Array(16))
    clean()
    expect(w.aeadOpenInPlace('aes-256-gcm', key, nonce, rnd(9), rnd(40), rnd(16))).toBe(false)
    clean()
    sealed[0]! ^= 1
    expect(w.aeadOpen('aes-256-gcm', key, nonce, rnd(9), sealed)).toBeNull()
    clean()
    expect(hex(w.hkdf(rnd(32), 'salt', 'info', 96)).length).toBe(192)
    w.hmacSha256(rnd(32), rnd(2000), rnd(48)) // parts past the scratch: joined on the heap
    w.sha256(rnd(1), rnd(2047))
    clean()
    // Not byte arrays: a TypeError, as the js backend gives, and nothing left in the scratch
    // (before review 67 an AEAD seal went ahead with an empty AAD and left its key behind).
    const bad = 5 as unknown as Uint8Array
    expect(() => w.aeadSeal('aes-256-gcm', key, nonce, bad, rnd(8))).toThrow(TypeError)
    clean()
    expect(() => w.hkdf(rnd(32), bad, 'info', 32)).toThrow(TypeError)
    clean()
    expect(() => w.sha256(rnd(4), bad)).toThrow(TypeError)
    clean()
    expect(() => jsHandshakeCrypto.aeadSeal('aes-256-gcm', key, nonce, bad, rnd(8))).toThrow()
  })

  it('aeadSealInPlace: the bytes aeadSeal gives, ciphertext in place and tag apart, both backends, inside a larger buffer; a wrong tag length throws', () => {
    for (const suite of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
      for (const c of [nat, js]) {
        for (const n of [0, 1, 16, 138, 3000]) {
          const key = rnd(32)
          const nonce = rnd(12)
          const aad = rnd(n % 70)
          const plain = rnd(n)
          const want = js.aeadSeal(suite, key, nonce, aad, plain)
          const buf = rnd(n + 40)
          const before = buf.slice()
          buf.set(plain, 8)
          c.aeadSealInPlace(suite, key, nonce, aad, buf.subarray(8, 8 + n), buf.subarray(8 + n, 8 + n + 16))
          expect(hex(buf.subarray(8, 8 + n + 16)), `${c.name} ${suite} ${n}`).toBe(hex(want))
          expect(hex(buf.subarray(0, 8)) + hex(buf.subarray(n + 24))).toBe(hex(before.subarray(0, 8)) + hex(before.subarray(n + 24)))
          expect(hex(nat.aeadOpen(suite, key, nonce, aad, buf.subarray(8, n + 24))!)).toBe(hex(plain))
        }
        expect(() => c.aeadSealInPlace(suite, rnd(32), rnd(12), rnd(3), rnd(10), new Uint8Array(15))).toThrow(RangeError)
      }
    }
  })

  it('aeadOpenInPlace: opens what aeadSeal sealed, in place inside a larger buffer, both backends; a forgery or short tag is false and leaves the bytes zeroed', () => {
    for (const suite of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
      for (const c of [nat, js]) {
        for (const n of [0, 1, 138, 3000]) {
          const key = rnd(32)
          const nonce = rnd(12)
          const aad = rnd(n % 70)
          const plain = rnd(n)
          const sealed = js.aeadSeal(suite, key, nonce, aad, plain)
          const buf = rnd(n + 20)
          const edge = hex(buf.subarray(0, 4)) + hex(buf.subarray(n + 4))
          buf.set(sealed.subarray(0, n), 4)
          expect(c.aeadOpenInPlace(suite, key, nonce, aad, buf.subarray(4, 4 + n), sealed.subarray(n)), `${c.name} ${suite} ${n}`).toBe(true)
          expect(hex(buf.subarray(4, 4 + n))).toBe(hex(plain))
          expect(hex(buf.subarray(0, 4)) + hex(buf.subarray(n + 4))).toBe(edge)
          const forged = sealed.slice()
          forged[forged.length - 1]! ^= 1
          const data = forged.slice(0, n)
          expect(c.aeadOpenInPlace(suite, key, nonce, aad, data, forged.subarray(n))).toBe(false)
          expect(data.every((x) => x === 0)).toBe(true)
          const again = sealed.slice(0, n)
          expect(c.aeadOpenInPlace(suite, key, nonce, aad, again, sealed.subarray(n, n + 15))).toBe(false)
          expect(again.every((x) => x === 0)).toBe(true)
        }
      }
    }
  })

  it('differential: one-shot AEAD seals identically and each side opens the other; a flipped bit is null', () => {
    for (const suite of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
      for (let i = 0; i < 50; i++) {
        const key = rnd(32)
        const nonce = rnd(12)
        const aad = rnd(i % 40)
        const pt = rnd(i * 5)
        const sealed = nat.aeadSeal(suite, key, nonce, aad, pt)
        expect(hex(sealed)).toBe(hex(js.aeadSeal(suite, key, nonce, aad, pt)))
        expect(hex(js.aeadOpen(suite, key, nonce, aad, sealed)!)).toBe(hex(pt))
        expect(hex(nat.aeadOpen(suite, key, nonce, aad, sealed)!)).toBe(hex(pt))
        const bad = sealed.slice()
        bad[i % bad.length]! ^= 1
        expect(nat.aeadOpen(suite, key, nonce, aad, bad)).toBeNull()
      }
      expect(nat.aeadOpen(suite, rnd(32), rnd(12), new Uint8Array(0), rnd(15))).toBeNull()
      // A Buffer input (what node:dgram delivers) is left untouched: the ciphertext is hashed
      // into the transcript after opening.
      const key = rnd(32)
      const nonce = rnd(12)
      const sealed = Buffer.from(nat.aeadSeal(suite, key, nonce, new Uint8Array(0), rnd(64)))
      const before = hex(sealed)
      expect(nat.aeadOpen(suite, key, nonce, new Uint8Array(0), sealed)).not.toBeNull()
      expect(hex(sealed)).toBe(before)
    }
  })
})

const nodes: STTNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
  vi.unstubAllEnvs()
})

describe.skipIf(!have)(`handshakes between native and node:crypto handshake primitives (${TITLE})`, () => {
  /** A second copy of the library whose every module was loaded with STT_NATIVE=0. */
  async function tsOnlyLibrary() {
    vi.stubEnv('STT_NATIVE', '0')
    vi.resetModules()
    const lib = await import('../../src/index.js')
    const hc = await import('../../src/crypto/handshake-crypto.js')
    vi.unstubAllEnvs()
    return { STTNode: lib.STTNode as typeof STTNode, name: hc.handshakeCrypto.name }
  }

  for (const dir of ['native dials ts', 'ts dials native'] as const) {
    it(`${dir}: handshake completes over loopback UDP, same session id, data both ways`, async () => {
      const ts = await tsOnlyLibrary()
      expect(ts.name).toBe('js')
      const seed = generateSeed()
      const nativeNode = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, name: 'native' })
      const tsNode = new ts.STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, name: 'ts' })
      nodes.push(nativeNode, tsNode)
      const [dialer, listener] = dir === 'native dials ts' ? [nativeNode, tsNode] : [tsNode, nativeNode]
      await dialer.start()
      const { port } = await listener.start()
      const accepted = new Promise<STTSession>((r) => listener.once('session', r))
      const sa = await dialer.connect(`udp://127.0.0.1:${port}`)
      const sb = await accepted
      expect(sa.getStats().id).toBe(sb.getStats().id)
      expect(sa.peerName).toBe(dir === 'native dials ts' ? 'ts' : 'native')
      const got = new Promise<Buffer>((r) => sb.once('datagram', r))
      sa.sendDatagram(Buffer.from('ping'))
      expect((await got).toString()).toBe('ping')
      const back = new Promise<Buffer>((r) => sa.once('datagram', r))
      sb.sendDatagram(Buffer.from('pong'))
      expect((await back).toString()).toBe('pong')
    })
  }
})
