/**
 * The handshake's symmetric state, after the Noise Protocol Framework (rev. 34, §5.2):
 * a chaining key `ck` that absorbs every DH result and the PSK through HKDF, a transcript
 * hash `h` that absorbs every message field, and the current handshake cipher key `k` with
 * its counter `n`. Handshake messages use AES-256-GCM with nonce 0^32 || n (big-endian),
 * and `h` as associated data, exactly as Noise's AESGCM cipher does.
 */
import { aeadOpen, aeadSeal, constantTimeEqual, hkdf, sha256 } from '../crypto/handshake-crypto.js'

const EMPTY = new Uint8Array(0)
export const PROTOCOL_NAME = 'STT_v1_XXpsk0_25519_AESGCM_SHA256'

let initial: Uint8Array | null = null
function initialHash(): Uint8Array {
  return (initial ??= sha256(new TextEncoder().encode(PROTOCOL_NAME)))
}

/**
 * Noise's HKDF: HMAC-SHA256 extract with salt ck, expand with empty info (RFC 5869). Each output
 * is its own copy (slice, not subarray): a 64-byte result lives on V8's heap, and the first view
 * of it moves its bytes to a new off-heap store (`.buffer` materializes it), an allocation per
 * MixKey. The joined result is wiped.
 */
function noiseHkdf(ck: Uint8Array, ikm: Uint8Array, n: 2 | 3): Uint8Array[] {
  const out = hkdf(ikm, ck, EMPTY, 32 * n)
  const parts = n === 2 ? [out.slice(0, 32), out.slice(32, 64)] : [out.slice(0, 32), out.slice(32, 64), out.slice(64, 96)]
  out.fill(0)
  return parts
}

/** What MixKeyAndHash(ikm) computes from the initial chaining key: the new ck, the hashed th and k. */
interface InitialKeyAndHash {
  /** A copy of ikm, to recognise it (a caller that rewrote its array in place gets a new entry). */
  readonly ikm: Uint8Array
  readonly ck: Uint8Array
  readonly th: Uint8Array
  readonly k: Uint8Array
}
/**
 * MixKeyAndHash of the group PSK is the first key mixing of every handshake (full and resumed),
 * done while ck is still the initial one: its HKDF depends on the PSK alone, so it is done once
 * per PSK array, not once per handshake (one 96-byte HKDF less per HELLO on each side). Weakly
 * held: an entry goes with the PSK's array (the endpoint's group keys), and it holds nothing the
 * PSK itself does not give.
 */
const initialKeyAndHash = new WeakMap<Uint8Array, InitialKeyAndHash>()

export class SymmetricState {
  ck: Uint8Array
  h: Uint8Array
  private k: Uint8Array | null = null
  private n = 0
  /** ck is still SHA-256(protocol name): no MixKey yet (mixKeyAndHashOnce needs that). */
  private ckInitial: boolean

  /** Given ck or h are taken as they are; a missing one starts as SHA-256(protocol name). */
  constructor(ck?: Uint8Array, h?: Uint8Array) {
    // Noise's InitializeSymmetric, hashed once per process (restore() needs none); each state
    // gets its own copy, so zeroing one never changes another.
    this.ck = ck ?? initialHash().slice()
    this.h = h ?? initialHash().slice()
    this.ckInitial = ck === undefined
  }

  /** Snapshot (ck, h) so a stateless responder can carry it in a cookie; k is re-derived. */
  static restore(ck: Uint8Array, h: Uint8Array, k: Uint8Array, n: number): SymmetricState {
    const s = new SymmetricState(ck, h)
    s.k = k
    s.n = n
    return s
  }

  get counter(): number {
    return this.n
  }

  get key(): Uint8Array | null {
    return this.k
  }

  mixHash(data: Uint8Array): void {
    this.h = sha256(this.h, data)
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, k] = noiseHkdf(this.ck, ikm, 2)
    this.ck = ck!
    this.k = k!
    this.n = 0
    this.ckInitial = false
  }

  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, th, k] = noiseHkdf(this.ck, ikm, 3)
    this.ck = ck!
    this.mixHash(th!)
    this.k = k!
    this.n = 0
    this.ckInitial = false
  }

  /**
   * MixKeyAndHash(ikm) for a long-lived ikm (the group PSK) while ck is still the initial one:
   * the same result, with the HKDF done once per ikm array and remembered. Each state gets its
   * own copies of ck and k (states zero theirs). A programming error when ck has moved on.
   */
  mixKeyAndHashOnce(ikm: Uint8Array): void {
    if (!this.ckInitial) throw new Error('mixKeyAndHashOnce: the chaining key is not the initial one')
    let m = initialKeyAndHash.get(ikm)
    if (m === undefined || !constantTimeEqual(m.ikm, ikm)) {
      // An entry for an array rewritten in place: wiped, not left to the collector.
      if (m !== undefined) for (const part of [m.ikm, m.ck, m.th, m.k]) part.fill(0)
      // From the initial chaining key itself, not this.ck (a public field a caller could have changed).
      const [ck, th, k] = noiseHkdf(initialHash(), ikm, 3)
      m = { ikm: ikm.slice(), ck: ck!, th: th!, k: k! }
      initialKeyAndHash.set(ikm, m)
    }
    this.ck = m.ck.slice()
    this.mixHash(m.th)
    this.k = m.k.slice()
    this.n = 0
    this.ckInitial = false
  }

  private nonce(): Uint8Array {
    // 0^32 || n as a 64-bit big-endian integer; n stays far below 2^32 (a handful per handshake).
    const nonce = new Uint8Array(12)
    const n = this.n++
    nonce[8] = n >>> 24
    nonce[9] = (n >>> 16) & 0xff
    nonce[10] = (n >>> 8) & 0xff
    nonce[11] = n & 0xff
    return nonce
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    if (!this.k) throw new Error('no handshake key') // a programming error, never input-driven
    const c = aeadSeal('aes-256-gcm', this.k, this.nonce(), this.h, plaintext)
    this.mixHash(c)
    return c
  }

  /** Null when the ciphertext does not authenticate (the message is then dropped). */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array | null {
    if (!this.k) return null
    const p = aeadOpen('aes-256-gcm', this.k, this.nonce(), this.h, ciphertext)
    if (p) this.mixHash(ciphertext)
    return p
  }

  /** Noise Split(): the initiator-to-responder and responder-to-initiator traffic secrets. */
  split(): { i2r: Uint8Array; r2i: Uint8Array } {
    const [a, b] = noiseHkdf(this.ck, EMPTY, 2)
    return { i2r: a!, r2i: b! }
  }
}
