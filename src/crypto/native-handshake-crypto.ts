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
import { X25519_KEY_SIZE, concatParts, sha3_256 as jsSha3_256 } from './primitives.js'

const SHA256_SIZE = 32
const HKDF_MAX = 255 * SHA256_SIZE
const EMPTY = new Uint8Array(0)

type Complete = NativeBinding & Required<Pick<NativeBinding, 'X25519Key' | 'hkdfSha256' | 'hmacSha256' | 'sha256'>>

function hasHandshakeCrypto(b: NativeBinding): b is Complete {
  return typeof b.X25519Key === 'function' && typeof b.hkdfSha256 === 'function' && typeof b.hmacSha256 === 'function' && typeof b.sha256 === 'function'
}

/**
 * Largest Uint8Array V8 keeps inside its own heap (V8's typed_array_max_size_in_heap). Handing
 * such an array to N-API (napi_get_typedarray_info) makes V8 first move its bytes to a new
 * off-heap backing store: a malloc, a registry entry and a later sweep, ~0.3 us per array on
 * this VM. A handshake makes ~40 addon calls with 2-4 fresh 12- to 64-byte arrays each (ck, h,
 * keys, nonces, outputs), so they go through `Scratch` instead.
 */
const ON_HEAP_MAX = 64
const SCRATCH_SIZE = 2048

function assertBytes(op: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${op}: expected a Uint8Array`)
}

/**
 * One off-heap buffer (made once) for the addon's small arguments and results: arguments are
 * copied in, results copied out (a copy of <= 64 bytes stays on V8's heap). The addon calls are
 * synchronous and never call back into JavaScript, so one call's regions are never another's.
 * `clear()` zeroes everything used since the last clear (keys and secrets among it) and is called
 * before each wrapper returns, on failure too.
 */
class Scratch {
  readonly #bytes = new Uint8Array(new ArrayBuffer(SCRATCH_SIZE))
  #used = 0

  /** `src` itself when it is large (already off-heap, or too big to copy), else a copy here. */
  arg(src: Uint8Array): Uint8Array {
    // Checked before #used moves: a non-array would make it NaN, the call would see an empty
    // view and clear() would zero nothing (review 67). The addon refused such calls outright.
    assertBytes('handshake crypto', src)
    const n = src.length
    if (n > ON_HEAP_MAX || this.#used + n > SCRATCH_SIZE) return src
    const view = this.#bytes.subarray(this.#used, this.#used + n)
    view.set(src)
    this.#used += n
    return view
  }

  /** The parts one after the other, as one argument (no joined copy on the heap). */
  args(parts: Uint8Array[]): Uint8Array {
    if (parts.length === 1) return this.arg(parts[0]!)
    let n = 0
    for (const p of parts) {
      assertBytes('handshake crypto', p)
      n += p.length
    }
    if (this.#used + n > SCRATCH_SIZE) return concatParts(parts)
    const view = this.#bytes.subarray(this.#used, this.#used + n)
    let pos = 0
    for (const p of parts) {
      view.set(p, pos)
      pos += p.length
    }
    this.#used += n
    return view
  }

  /** n bytes for a result (copy it out with `slice()`), or a fresh array when n is large. */
  out(n: number): Uint8Array {
    if (n > ON_HEAP_MAX || this.#used + n > SCRATCH_SIZE) return new Uint8Array(n)
    const view = this.#bytes.subarray(this.#used, this.#used + n)
    this.#used += n
    return view
  }

  /** A result as the caller keeps it: a heap copy when it lies in the scratch buffer. */
  take(result: Uint8Array): Uint8Array {
    return result.buffer === this.#bytes.buffer ? result.slice() : result
  }

  clear(): void {
    // The whole buffer should #used ever not be a length: the zeroing must not be skippable.
    this.#bytes.fill(0, 0, Number.isInteger(this.#used) ? this.#used : SCRATCH_SIZE)
    this.#used = 0
  }
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

export function createNativeHandshakeCrypto(b: NativeBinding): HandshakeCrypto | null {
  if (!hasHandshakeCrypto(b)) return null
  const X25519Key = b.X25519Key
  const scratch = new Scratch()

  /** The public key is computed by OpenSSL at import but copied out only when asked for. */
  class NativeKeyPair implements X25519KeyPair {
    #pub: Uint8Array | null = null
    constructor(readonly privateKey: NativeX25519Key) {}
    get publicKey(): Uint8Array {
      if (this.#pub === null) {
        try {
          const out = scratch.out(X25519_KEY_SIZE)
          if (!this.privateKey.publicKey(out)) throw new Error('x25519: OpenSSL could not export a public key')
          this.#pub = scratch.take(out)
        } finally {
          scratch.clear()
        }
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

  // Every wrapper below clears the scratch buffer in `finally`, so no argument or result (keys,
  // DH outputs, plaintexts) is left in it, whatever happens.
  const backend: HandshakeCrypto = {
    name: 'native',
    x25519FromPrivate(raw) {
      assertBytes('x25519FromPrivate', raw)
      if (raw.length !== X25519_KEY_SIZE) throw new RangeError('X25519 private key must be 32 bytes')
      try {
        return new NativeKeyPair(new X25519Key(scratch.arg(raw)))
      } finally {
        scratch.clear()
      }
    },
    x25519(priv, pubRaw) {
      const key = nativeKeyOf(priv)
      if (!(pubRaw instanceof Uint8Array) || pubRaw.length !== X25519_KEY_SIZE) return null
      try {
        const peer = scratch.arg(pubRaw)
        const out = scratch.out(X25519_KEY_SIZE)
        return key.dh(peer, out) ? scratch.take(out) : null
      } finally {
        scratch.clear()
      }
    },
    x25519Once(raw, pubRaw) {
      assertBytes('x25519Once', raw)
      if (raw.length !== X25519_KEY_SIZE) throw new RangeError('X25519 private key must be 32 bytes')
      if (!(pubRaw instanceof Uint8Array) || pubRaw.length !== X25519_KEY_SIZE) return null
      try {
        const priv = scratch.arg(raw)
        const peer = scratch.arg(pubRaw)
        const out = scratch.out(X25519_KEY_SIZE)
        if (b.x25519Once) return b.x25519Once(priv, peer, out) ? scratch.take(out) : null
        // An addon built before x25519Once: import (deriving the public key), use, free at once.
        const key = new X25519Key(priv)
        const ok = key.dh(peer, out)
        key.destroy()
        return ok ? scratch.take(out) : null
      } finally {
        scratch.clear()
      }
    },
    x25519Ephemeral(raw, pubRaw) {
      assertBytes('x25519Ephemeral', raw)
      if (raw.length !== X25519_KEY_SIZE) throw new RangeError('X25519 private key must be 32 bytes')
      if (!(pubRaw instanceof Uint8Array) || pubRaw.length !== X25519_KEY_SIZE) return null
      if (!b.x25519Ephemeral) {
        // An addon built before x25519Ephemeral: the four calls it stands for.
        const pair = backend.x25519FromPrivate(raw)
        const publicKey = pair.publicKey
        const shared = backend.x25519(pair.privateKey, pubRaw)
        backend.x25519Destroy(pair.privateKey)
        return shared ? { publicKey, shared } : null
      }
      try {
        const priv = scratch.arg(raw)
        const peer = scratch.arg(pubRaw)
        const pub = scratch.out(X25519_KEY_SIZE)
        const out = scratch.out(X25519_KEY_SIZE)
        return b.x25519Ephemeral(priv, peer, pub, out) ? { publicKey: scratch.take(pub), shared: scratch.take(out) } : null
      } finally {
        scratch.clear()
      }
    },
    x25519Destroy(priv) {
      nativeKeyOf(priv).destroy()
    },
    hkdf(ikm, salt, info, length) {
      assertBytes('hkdf', ikm)
      if (!Number.isInteger(length) || length < 0 || length > HKDF_MAX) throw new RangeError(`hkdf: length must be an integer in [0, ${HKDF_MAX}]`)
      if (length === 0) return new Uint8Array(0)
      try {
        const out = scratch.out(length)
        if (!b.hkdfSha256(scratch.arg(ikm), scratch.arg(bytesOf(salt)), scratch.arg(bytesOf(info)), out)) throw new Error('hkdf: OpenSSL failed')
        return scratch.take(out)
      } finally {
        scratch.clear()
      }
    },
    hmacSha256(key, ...parts) {
      assertBytes('hmacSha256', key)
      try {
        const out = scratch.out(SHA256_SIZE)
        if (!b.hmacSha256(scratch.arg(key), parts.length === 0 ? EMPTY : scratch.args(parts), out)) throw new Error('hmacSha256: OpenSSL failed')
        return scratch.take(out)
      } finally {
        scratch.clear()
      }
    },
    sha256(...parts) {
      try {
        const out = scratch.out(SHA256_SIZE)
        if (!b.sha256(parts.length === 0 ? EMPTY : scratch.args(parts), out)) throw new Error('sha256: OpenSSL failed')
        return scratch.take(out)
      } finally {
        scratch.clear()
      }
    },
    sha3_256(...parts) {
      if (!b.sha3_256) return jsSha3_256(...parts)
      try {
        const out = scratch.out(SHA256_SIZE)
        if (!b.sha3_256(parts.length === 0 ? EMPTY : scratch.args(parts), out)) throw new Error('sha3_256: OpenSSL failed')
        return scratch.take(out)
      } finally {
        scratch.clear()
      }
    },
    aeadSeal(suite, key, nonce, aad, plaintext) {
      const id = suiteIdOf(suite)
      assertAeadArgs(key, nonce)
      assertBytes('aeadSeal', plaintext)
      const n = plaintext.length
      try {
        const out = scratch.out(n + TAG_SIZE)
        out.set(plaintext)
        if (!b.aeadSealOne(id, scratch.arg(key), scratch.arg(nonce), scratch.arg(aad), out.subarray(0, n), out.subarray(n))) throw new Error('aeadSeal: OpenSSL failed')
        return scratch.take(out)
      } finally {
        scratch.clear()
      }
    },
    aeadSealInPlace(suite, key, nonce, aad, data, tag) {
      const id = suiteIdOf(suite)
      assertAeadArgs(key, nonce)
      assertBytes('aeadSealInPlace', data)
      assertBytes('aeadSealInPlace', tag)
      if (tag.length !== TAG_SIZE) throw new RangeError(`AEAD tag must be ${TAG_SIZE} bytes`)
      try {
        // data and tag are the caller's own bytes (sealed where they lie); key, nonce and aad
        // go through the scratch buffer like every other argument.
        if (!b.aeadSealOne(id, scratch.arg(key), scratch.arg(nonce), scratch.arg(aad), data, tag)) throw new Error('aeadSealInPlace: OpenSSL failed')
      } finally {
        scratch.clear()
      }
    },
    aeadOpen(suite, key, nonce, aad, sealed) {
      const id = suiteIdOf(suite)
      assertAeadArgs(key, nonce)
      assertBytes('aeadOpen', sealed)
      if (sealed.length < TAG_SIZE) return null
      const n = sealed.length - TAG_SIZE
      // A copy, never a view: Buffer#slice would alias the received packet (node:dgram hands
      // out Buffers), and decrypting in place would change the ciphertext the transcript hashes.
      const out = scratch.out(n)
      let ok = false
      try {
        out.set(sealed.subarray(0, n))
        ok = b.aeadOpenOne(id, scratch.arg(key), scratch.arg(nonce), scratch.arg(aad), out, scratch.arg(sealed.subarray(n)))
        return ok ? scratch.take(out) : null
      } finally {
        // Unauthenticated plaintext is never handed out, nor left behind (clear() zeroes the
        // scratch buffer; a large result has its own array).
        if (!ok) out.fill(0)
        scratch.clear()
      }
    },
    aeadOpenInPlace(suite, key, nonce, aad, data, tag) {
      const id = suiteIdOf(suite)
      assertAeadArgs(key, nonce)
      assertBytes('aeadOpenInPlace', data)
      assertBytes('aeadOpenInPlace', tag)
      let ok = false
      try {
        ok = tag.length === TAG_SIZE && b.aeadOpenOne(id, scratch.arg(key), scratch.arg(nonce), scratch.arg(aad), data, scratch.arg(tag))
        return ok
      } finally {
        if (!ok) data.fill(0) // no unauthenticated plaintext is left behind
        scratch.clear()
      }
    },
  }
  return backend
}

/** The native backend, or null when the addon is not loaded or predates these functions. */
export const nativeHandshakeCrypto: HandshakeCrypto | null = binding ? createNativeHandshakeCrypto(binding) : null
