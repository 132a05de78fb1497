/**
 * HandshakeCrypto 'native': X25519, HKDF-SHA256, HMAC-SHA256 and SHA-256 through the addon
 * (native/handshake_crypto.cc, OpenSSL EVP), and the one-shot AEAD through the addon's
 * aeadSealOne/aeadOpenOne. Results match the 'js' backend byte for byte (Wycheproof and
 * differential tests in test/native/handshake-crypto.test.ts).
 *
 * Private keys live in OpenSSL memory inside a native object with no JavaScript-visible bytes,
 * freed and cleansed by OpenSSL when the object is collected or destroyed.
 */
import type { NativeBinding, NativeX25519Key } from '../native/binding.js'
import { binding } from '../native/load.js'
import { KEY_SIZE, SUITE_ID, TAG_SIZE, IV_SIZE, type CipherSuite } from './aead.js'
import type { HandshakeCrypto, X25519KeyPair, X25519PrivateKey } from './handshake-crypto.js'
import { X25519_KEY_SIZE } from './primitives.js'

const SHA256_SIZE = 32
const HKDF_MAX = 255 * SHA256_SIZE
const EMPTY = new Uint8Array(0)

type Complete = NativeBinding & Required<Pick<NativeBinding, 'X25519Key' | 'hkdfSha256' | 'hmacSha256' | 'sha256'>>

function hasHandshakeCrypto(b: NativeBinding): b is Complete {
  return typeof b.X25519Key === 'function' && typeof b.hkdfSha256 === 'function' && typeof b.hmacSha256 === 'function' && typeof b.sha256 === 'function'
}

/** Concatenation without Buffer.concat (whose pool would keep a copy of a secret part). */
function joined(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  n = 0
  for (const p of parts) {
    out.set(p, n)
    n += p.length
  }
  return out
}

const enc = new TextEncoder()
/** The protocol's HKDF labels are a handful of constant strings: encode each once. */
const labels = new Map<string, Uint8Array>()
function bytesOf(v: Uint8Array | string): Uint8Array {
  if (typeof v !== 'string') return v
  let b = labels.get(v)
  if (b === undefined) {
    b = enc.encode(v)
    if (labels.size < 64 && v.length <= 64) labels.set(v, b)
  }
  return b
}

function assertBytes(op: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${op}: expected a Uint8Array`)
}

export function createNativeHandshakeCrypto(b: NativeBinding): HandshakeCrypto | null {
  if (!hasHandshakeCrypto(b)) return null
  const X25519Key = b.X25519Key

  /** The public key is computed by OpenSSL at import but copied out only when asked for. */
  class NativeKeyPair implements X25519KeyPair {
    #pub: Uint8Array | null = null
    constructor(readonly privateKey: NativeX25519Key) {}
    get publicKey(): Uint8Array {
      if (this.#pub === null) {
        const out = new Uint8Array(X25519_KEY_SIZE)
        if (!this.privateKey.publicKey(out)) throw new Error('x25519: OpenSSL could not export a public key')
        this.#pub = out
      }
      return this.#pub
    }
  }

  function nativeKeyOf(priv: X25519PrivateKey): NativeX25519Key {
    if (!(priv instanceof X25519Key)) throw new TypeError('x25519: the private key is not a native key (mixed handshake backends)')
    return priv
  }

  function suiteIdOf(suite: CipherSuite): number {
    const id = Object.hasOwn(SUITE_ID, suite) ? SUITE_ID[suite] : undefined
    if (id === undefined) throw new RangeError(`unknown cipher suite ${String(suite)}`)
    return id
  }

  function assertAeadArgs(key: Uint8Array, nonce: Uint8Array): void {
    if (!(key instanceof Uint8Array) || key.length !== KEY_SIZE) throw new RangeError(`AEAD key must be ${KEY_SIZE} bytes`)
    if (!(nonce instanceof Uint8Array) || nonce.length !== IV_SIZE) throw new RangeError(`AEAD nonce must be ${IV_SIZE} bytes`)
  }

  return {
    name: 'native',
    x25519FromPrivate(raw) {
      assertBytes('x25519FromPrivate', raw)
      if (raw.length !== X25519_KEY_SIZE) throw new RangeError('X25519 private key must be 32 bytes')
      return new NativeKeyPair(new X25519Key(raw))
    },
    x25519(priv, pubRaw) {
      const key = nativeKeyOf(priv)
      if (!(pubRaw instanceof Uint8Array) || pubRaw.length !== X25519_KEY_SIZE) return null
      const out = new Uint8Array(X25519_KEY_SIZE)
      return key.dh(pubRaw, out) ? out : null
    },
    x25519Once(raw, pubRaw) {
      assertBytes('x25519Once', raw)
      if (raw.length !== X25519_KEY_SIZE) throw new RangeError('X25519 private key must be 32 bytes')
      if (!(pubRaw instanceof Uint8Array) || pubRaw.length !== X25519_KEY_SIZE) return null
      const out = new Uint8Array(X25519_KEY_SIZE)
      if (b.x25519Once) return b.x25519Once(raw, pubRaw, out) ? out : null
      // An addon built before x25519Once: import (deriving the public key), use, free at once.
      const key = new X25519Key(raw)
      const ok = key.dh(pubRaw, out)
      key.destroy()
      return ok ? out : null
    },
    x25519Destroy(priv) {
      nativeKeyOf(priv).destroy()
    },
    hkdf(ikm, salt, info, length) {
      assertBytes('hkdf', ikm)
      if (!Number.isInteger(length) || length < 0 || length > HKDF_MAX) throw new RangeError(`hkdf: length must be an integer in [0, ${HKDF_MAX}]`)
      const out = new Uint8Array(length)
      if (length === 0) return out
      if (!b.hkdfSha256(ikm, bytesOf(salt), bytesOf(info), out)) throw new Error('hkdf: OpenSSL failed')
      return out
    },
    hmacSha256(key, ...parts) {
      assertBytes('hmacSha256', key)
      const out = new Uint8Array(SHA256_SIZE)
      const data = parts.length === 0 ? EMPTY : joined(parts)
      if (!b.hmacSha256(key, data, out)) throw new Error('hmacSha256: OpenSSL failed')
      return out
    },
    sha256(...parts) {
      const out = new Uint8Array(SHA256_SIZE)
      const data = parts.length === 0 ? EMPTY : joined(parts)
      if (!b.sha256(data, out)) throw new Error('sha256: OpenSSL failed')
      return out
    },
    aeadSeal(suite, key, nonce, aad, plaintext) {
      const id = suiteIdOf(suite)
      assertAeadArgs(key, nonce)
      const out = new Uint8Array(plaintext.length + TAG_SIZE)
      out.set(plaintext)
      const n = plaintext.length
      if (!b.aeadSealOne(id, key, nonce, aad, out.subarray(0, n), out.subarray(n))) throw new Error('aeadSeal: OpenSSL failed')
      return out
    },
    aeadOpen(suite, key, nonce, aad, sealed) {
      const id = suiteIdOf(suite)
      assertAeadArgs(key, nonce)
      if (sealed.length < TAG_SIZE) return null
      const n = sealed.length - TAG_SIZE
      // A copy, never a view: Buffer#slice would alias the received packet (node:dgram hands
      // out Buffers), and decrypting in place would change the ciphertext the transcript hashes.
      const out = new Uint8Array(n)
      out.set(sealed.subarray(0, n))
      if (b.aeadOpenOne(id, key, nonce, aad, out, sealed.subarray(n))) return out
      out.fill(0) // unauthenticated plaintext is never handed out, nor left behind
      return null
    },
  }
}

/** The native backend, or null when the addon is not loaded or predates these functions. */
export const nativeHandshakeCrypto: HandshakeCrypto | null = binding ? createNativeHandshakeCrypto(binding) : null
