/**
 * The primitives of the handshake and key schedule (X25519, HKDF-SHA256, HMAC-SHA256, SHA-256
 * and the one-shot AEAD of handshake messages and cookies), from one of two backends:
 *
 * - 'native': OpenSSL's EVP API called from the addon (native/handshake_crypto.cc), one N-API
 *   call per operation, private keys kept in OpenSSL memory;
 * - 'js': node:crypto (src/crypto/primitives.ts), the fallback and the reference.
 *
 * Both are the same OpenSSL underneath; the native path skips node:crypto's per-call KeyObject,
 * JWK and Hash/Hmac objects, which cost more than the curve arithmetic (bench/scale.mjs).
 *
 * The choice is per process (the addon loaded and has these functions, and STT_NATIVE is not
 * 0), not per node as the packet AEAD is: the sans-I/O handshake functions take no backend
 * argument, and a key pair from one backend only works with that backend's x25519().
 */
import type { KeyObject } from 'node:crypto'
import type { CipherSuite } from './aead.js'
import { jsHandshakeCrypto } from './js-handshake-crypto.js'
import { nativeHandshakeCrypto } from './native-handshake-crypto.js'
import type { NativeX25519Key } from '../native/binding.js'

export { constantTimeEqual, X25519_KEY_SIZE } from './primitives.js'
export { jsHandshakeCrypto } from './js-handshake-crypto.js'
export { nativeHandshakeCrypto } from './native-handshake-crypto.js'

/** A private key of either backend: a node:crypto KeyObject or a key in the addon. Opaque. */
export type X25519PrivateKey = KeyObject | NativeX25519Key

export interface X25519KeyPair {
  readonly privateKey: X25519PrivateKey
  /** Raw 32-byte public key. */
  readonly publicKey: Uint8Array
}

export interface HandshakeCrypto {
  readonly name: 'native' | 'js'
  /** A key pair from 32 raw private bytes (clamped as RFC 7748 says). RangeError for another length. */
  x25519FromPrivate(raw: Uint8Array): X25519KeyPair
  /**
   * X25519(priv, pub). Null for a non-contributory result (all-zero shared secret: a low-order
   * public key) and for a public key that is not 32 bytes; the handshake treats null as failure.
   */
  x25519(priv: X25519PrivateKey, pubRaw: Uint8Array): Uint8Array | null
  /**
   * X25519 with a private key given as 32 raw bytes and used once, when its public key is not
   * needed (the responder's ephemeral key restored from a cookie): the native backend then skips
   * the public key's derivation, a scalar multiplication as costly as the DH. Same results and
   * null rule as x25519(x25519FromPrivate(raw).privateKey, pubRaw); RangeError for a private key
   * that is not 32 bytes. The caller wipes `raw`.
   */
  x25519Once(raw: Uint8Array, pubRaw: Uint8Array): Uint8Array | null
  /**
   * A key pair from 32 raw private bytes used for one DH, when the private key itself travels on
   * (the responder's ephemeral key, sealed in the CHALLENGE cookie): its public key and
   * X25519(raw, pubRaw), or null by x25519()'s rule. The same as x25519FromPrivate, publicKey,
   * x25519 and x25519Destroy in turn; the native backend does it in one call and leaves no key
   * object behind. RangeError for a private key that is not 32 bytes. The caller wipes `raw`.
   */
  x25519Ephemeral(raw: Uint8Array, pubRaw: Uint8Array): { publicKey: Uint8Array; shared: Uint8Array } | null
  /**
   * Frees a private key now instead of at garbage collection: the native backend cleanses it and
   * frees its OpenSSL objects (~1.1 KB with the derive context kept after its first DH); the
   * js backend cannot (a KeyObject has no destroy) and does nothing. The key must not be used
   * afterwards, and the pair's publicKey must have been read before if it is still needed.
   */
  x25519Destroy(priv: X25519PrivateKey): void
  /** HKDF-SHA256 (RFC 5869); throws for a length above 255*32. Strings are their UTF-8 bytes. */
  hkdf(ikm: Uint8Array, salt: Uint8Array | string, info: Uint8Array | string, length: number): Uint8Array
  hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array
  sha256(...parts: Uint8Array[]): Uint8Array
  /** SHA3-256 (node ids, identity.ts). */
  sha3_256(...parts: Uint8Array[]): Uint8Array
  /** One-shot AEAD seal with an explicit 12-byte nonce: ciphertext || 16-byte tag. */
  aeadSeal(suite: CipherSuite, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array
  /**
   * aeadSeal with the plaintext encrypted in place: `data` becomes the ciphertext and the tag goes
   * to `tag` (16 bytes), so a caller that writes the plaintext where the ciphertext belongs (a
   * cookie inside its CHALLENGE) needs no separate plaintext, ciphertext or result arrays. `tag`
   * must not overlap `data`. On a throw, `data` may hold partial ciphertext: the caller wipes it.
   */
  aeadSealInPlace(suite: CipherSuite, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tag: Uint8Array): void
  /**
   * aeadOpen with the ciphertext `data` decrypted in place and the tag apart: true when the tag
   * verifies; false, and `data` zeroed (no unauthenticated plaintext left), when it does not. For
   * a caller that opens into a buffer of its own (the cookie, handshake.ts): never a view of a
   * received packet, whose ciphertext may still be needed.
   */
  aeadOpenInPlace(suite: CipherSuite, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tag: Uint8Array): boolean
  /** One-shot AEAD open; null when the tag does not verify. */
  aeadOpen(suite: CipherSuite, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null
}

/** The backend this process's handshakes use. */
export const handshakeCrypto: HandshakeCrypto = nativeHandshakeCrypto ?? jsHandshakeCrypto

// The functions the protocol code imports, bound once (no per-call dispatch).
export const { x25519FromPrivate, x25519, x25519Once, x25519Ephemeral, x25519Destroy, hkdf, hmacSha256, sha256, sha3_256, aeadSeal, aeadSealInPlace, aeadOpen, aeadOpenInPlace } = handshakeCrypto
