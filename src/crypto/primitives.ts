/**
 * The standard primitives STT v1 is built from, all from node:crypto (OpenSSL):
 * X25519, HKDF-SHA256 (RFC 5869), HMAC-SHA256, SHA-256, SHA3-256 and the two AEADs.
 * Nothing here is home-made; this file only adapts raw bytes to node:crypto's key objects.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
  timingSafeEqual,
} from 'node:crypto'
import * as nodeCrypto from 'node:crypto'
import type { CipherSuite } from './aead.js'

export const X25519_KEY_SIZE = 32


export interface X25519KeyPair {
  privateKey: KeyObject
  /** Raw 32-byte public key. */
  publicKey: Uint8Array
}

/** Placeholder `x` for JWK private-key import: Node builds OKP private keys from `d` alone. */
const JWK_X_PLACEHOLDER = Buffer.alloc(32).toString('base64url')

/**
 * An X25519 key pair from 32 raw private bytes (clamped by OpenSSL as RFC 7748 says).
 *
 * Imported as a JWK, not as PKCS#8 DER: OpenSSL 3's DER decoder made the DER import cost
 * ~360 µs against ~40 µs (measured on this machine, 2026-11-27), and it runs three times per
 * handshake. Node builds the key from `d` only and derives the public key itself (the KATs in
 * test/unit/core-kat-x25519-hkdf.test.ts would catch any change of that).
 */
export function x25519FromPrivate(raw: Uint8Array): X25519KeyPair {
  const privateKey = x25519PrivateKeyObject(raw)
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x!
  return { privateKey, publicKey: new Uint8Array(Buffer.from(x, 'base64url')) }
}

/** The private KeyObject alone (no public key exported): see x25519FromPrivate. */
function x25519PrivateKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== X25519_KEY_SIZE) throw new RangeError('X25519 private key must be 32 bytes')
  const d = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url')
  return scrubbingPool(raw, () => createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: JWK_X_PLACEHOLDER }, format: 'jwk' }))
}

/** X25519 with a private key used once, given as raw bytes (HandshakeCrypto.x25519Once). */
export function x25519Once(raw: Uint8Array, pubRaw: Uint8Array): Uint8Array | null {
  return x25519(x25519PrivateKeyObject(raw), pubRaw)
}

/** A key pair from raw bytes used for one DH (HandshakeCrypto.x25519Ephemeral). */
export function x25519Ephemeral(raw: Uint8Array, pubRaw: Uint8Array): { publicKey: Uint8Array; shared: Uint8Array } | null {
  const pair = x25519FromPrivate(raw)
  const shared = x25519(pair.privateKey as KeyObject, pubRaw)
  return shared ? { publicKey: pair.publicKey, shared } : null
}

/**
 * Runs `f`, then zeroes any copy of `secret` it left in Buffer's shared allocation pool.
 *
 * Why (found by test/integration/secrets-walk.test.ts): Node's JWK import decodes `d` with
 * Buffer.from(d, 'base64'), a pooled Buffer. That copy of a private key (static, or a
 * handshake's ephemeral one) outlived the call inside the 8 KiB pool, readable through the
 * `.buffer` of every other pooled Buffer an application holds (e.g. session.peerNodeId), and
 * in a memory dump long after the handshake: no forward secrecy. A fresh pool is started
 * first when the current one is nearly full, so the copy and the probe land in the same pool.
 */
function scrubbingPool<T>(secret: Uint8Array, f: () => T): T {
  const before = Buffer.allocUnsafe(1)
  if (before.buffer.byteLength - before.byteOffset < 512) Buffer.allocUnsafe(600) // starts a new pool
  const out = f()
  const pool = Buffer.from(Buffer.allocUnsafe(1).buffer)
  for (let i = pool.indexOf(secret); i >= 0; i = pool.indexOf(secret, i + 1)) pool.fill(0, i, i + secret.length)
  return out
}

export function x25519PublicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== X25519_KEY_SIZE) throw new RangeError('X25519 public key must be 32 bytes')
  const x = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url')
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' })
}

/**
 * X25519(priv, pub). Returns null for a non-contributory result (all-zero shared secret, i.e.
 * a low-order public key), which the handshake treats as a failed authentication.
 */
export function x25519(priv: KeyObject, pubRaw: Uint8Array): Uint8Array | null {
  let out: Buffer
  try {
    out = diffieHellman({ privateKey: priv, publicKey: x25519PublicKeyObject(pubRaw) })
  } catch {
    return null
  }
  let acc = 0
  for (let i = 0; i < out.length; i++) acc |= out[i]!
  return acc === 0 ? null : new Uint8Array(out)
}

/** HKDF-SHA256 (RFC 5869): extract with `salt`, expand with `info` to `length` bytes. */
export function hkdf(ikm: Uint8Array, salt: Uint8Array | string, info: Uint8Array | string, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length))
}

export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac('sha256', key)
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

/**
 * crypto.hash, a one-shot digest without a Hash object (Node >= 20.12 and 21.7; absent before,
 * hence the namespace lookup instead of a named import). ~1 us less per call than createHash on
 * this VM, which counts for the node id every accepted handshake hashes (issue 14).
 */
const oneShotDigest = (nodeCrypto as { hash?: (algorithm: string, data: Uint8Array, outputEncoding: 'buffer') => Buffer }).hash

export function sha3_256(...parts: Uint8Array[]): Uint8Array {
  if (oneShotDigest !== undefined) {
    if (parts.length === 1) return new Uint8Array(oneShotDigest('sha3-256', parts[0]!, 'buffer'))
    const data = concatParts(parts)
    const digest = new Uint8Array(oneShotDigest('sha3-256', data, 'buffer'))
    data.fill(0) // as createHash would leave no copy of the input behind
    return digest
  }
  const h = createHash('sha3-256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

/** The parts in one new array (not Buffer.concat, whose pool would keep a copy of a secret part). */
export function concatParts(parts: Uint8Array[]): Uint8Array {
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

/** Constant-time equality; false for different lengths (the length is not secret). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/** One-shot AEAD seal with an explicit 12-byte nonce (handshake messages, cookies). */
export function aeadSeal(suite: CipherSuite, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const c = createCipheriv(suite as 'aes-256-gcm', key, nonce, { authTagLength: 16 })
  c.setAAD(aad)
  const a = c.update(plaintext)
  const b = c.final()
  return new Uint8Array(Buffer.concat([a, b, c.getAuthTag()]))
}

/** aeadSeal with the plaintext `data` encrypted in place and the tag written to `tag` (HandshakeCrypto.aeadSealInPlace). */
export function aeadSealInPlace(suite: CipherSuite, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tag: Uint8Array): void {
  if (tag.length !== 16) throw new RangeError('AEAD tag must be 16 bytes')
  const c = createCipheriv(suite as 'aes-256-gcm', key, nonce, { authTagLength: 16 })
  c.setAAD(aad)
  // update() returns the ciphertext in a new Buffer (possibly pooled): ciphertext only, no secret.
  const a = c.update(data)
  const b = c.final()
  data.set(a, 0)
  data.set(b, a.length)
  tag.set(c.getAuthTag())
}

/** aeadOpen of `data` (ciphertext) and `tag`, decrypted in place; false, and `data` zeroed, when the tag does not verify. */
export function aeadOpenInPlace(suite: CipherSuite, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tag: Uint8Array): boolean {
  if (tag.length !== 16) {
    data.fill(0)
    return false
  }
  // update() returns the plaintext before final() checks the tag: wiped on both outcomes.
  let a: Buffer | undefined
  try {
    const d = createDecipheriv(suite as 'aes-256-gcm', key, nonce, { authTagLength: 16 })
    d.setAAD(aad)
    d.setAuthTag(tag)
    a = d.update(data)
    const b = d.final() // throws before anything is written when the tag does not verify
    data.set(a, 0)
    data.set(b, a.length)
    return true
  } catch {
    data.fill(0)
    return false
  } finally {
    a?.fill(0)
  }
}

/** One-shot AEAD open; null when the tag does not verify. */
export function aeadOpen(suite: CipherSuite, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
  if (sealed.length < 16) return null
  let a: Buffer | undefined
  try {
    const d = createDecipheriv(suite as 'aes-256-gcm', key, nonce, { authTagLength: 16 })
    d.setAAD(aad)
    d.setAuthTag(sealed.subarray(sealed.length - 16))
    a = d.update(sealed.subarray(0, sealed.length - 16))
    const b = d.final()
    // Not Buffer.concat: that would copy the plaintext (a cookie's ephemeral private key and
    // chaining key) into Buffer's shared pool, where it would outlive the caller's wipe.
    const out = new Uint8Array(a.length + b.length)
    out.set(a)
    out.set(b, a.length)
    return out
  } catch {
    return null
  } finally {
    a?.fill(0) // the unauthenticated plaintext of a forged packet too (update() runs before the tag check)
  }
}
