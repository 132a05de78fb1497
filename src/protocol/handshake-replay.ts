/**
 * Accepted handshakes (docs/PROTOCOL.md §3.5, "AUTH_PROOF is accepted once").
 *
 * The responder is stateless until AUTH_PROOF, so without this store a recorded AUTH_PROOF
 * (cookie + proof) replayed from the initiator's spoofed address rebuilt the same session
 * again once the first one was gone from the session map (issue 10, item 1). Every accepted
 * AUTH_PROOF's cookie nonce is kept here until its cookie could no longer be accepted
 * (issue time + cookie lifetime), whether or not the session still exists.
 *
 * Memory: one entry per accepted handshake within one cookie lifetime, i.e. bounded by the
 * handshake rate x handshakeTimeout; a hard cap (MAX_ACCEPTED) fails closed (the AUTH_PROOF is
 * dropped and the initiator retries) rather than forgetting an entry that is still needed.
 * Expiry is by time bucket, so pruning costs O(expired) and never scans live entries.
 */

/** Upper bound on remembered handshakes (at 10 s cookie lifetime: 6,500 handshakes/s). */
export const MAX_ACCEPTED = 65_536
const BUCKET_MS = 1000

export class AcceptedHandshakes {
  private readonly expiry = new Map<string, number>()
  /** bucket number (floor(expiry / BUCKET_MS)) -> keys expiring in it; insertion-ordered. */
  private readonly buckets = new Map<number, string[]>()

  constructor(private readonly cap = MAX_ACCEPTED) {}

  private prune(now: number): void {
    for (const [b, keys] of this.buckets) {
      if ((b + 1) * BUCKET_MS > now) continue
      for (const k of keys) if ((this.expiry.get(k) ?? Infinity) <= now) this.expiry.delete(k)
      this.buckets.delete(b)
    }
  }

  /** True when the handshake identified by `id` (cookie nonce) was accepted and may still be presented. */
  has(id: Uint8Array, now: number): boolean {
    const exp = this.expiry.get(keyOf(id))
    return exp !== undefined && exp > now
  }

  /**
   * Records an accepted handshake whose cookie stops being acceptable at `until`.
   * False when the store is full of live entries: the caller must refuse the handshake.
   */
  add(id: Uint8Array, until: number, now: number): boolean {
    this.prune(now)
    if (this.expiry.size >= this.cap) return false
    const k = keyOf(id)
    this.expiry.set(k, until)
    const b = Math.floor(until / BUCKET_MS)
    const list = this.buckets.get(b)
    if (list) list.push(k)
    else this.buckets.set(b, [k])
    return true
  }

  /** True when no new handshake could be recorded now: checked before the AUTH_PROOF's DH work. */
  full(now: number): boolean {
    this.prune(now)
    return this.expiry.size >= this.cap
  }

  get size(): number {
    return this.expiry.size
  }
}

function keyOf(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('base64')
}
