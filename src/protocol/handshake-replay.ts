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
 * Expiry is by time bucket, the buckets in a min-heap, so pruning costs O(expired) and never
 * scans live entries or live buckets (review 12, finding 6: it used to walk every bucket).
 * The resumption store (resume-endpoint.ts) charges each entry to the initiator's node id, at
 * most MAX_PER_OWNER each, so one identity cannot fill it for everyone.
 */

/** Upper bound on remembered handshakes (at 10 s cookie lifetime: 6,500 handshakes/s). */
export const MAX_ACCEPTED = 65_536
/** Entries one owner (a resumption's initiator node id) may hold: 1/16 of the store. */
export const MAX_PER_OWNER = MAX_ACCEPTED / 16
const BUCKET_MS = 1000

interface Entry {
  until: number
  owner: string | undefined
}

export class AcceptedHandshakes {
  private readonly entries = new Map<string, Entry>()
  /** bucket number (floor(expiry / BUCKET_MS)) -> keys expiring in it. */
  private readonly buckets = new Map<number, string[]>()
  /** The bucket numbers as a binary min-heap: pruning looks at expired buckets only. */
  private readonly heap: number[] = []
  private readonly perOwner = new Map<string, number>()

  constructor(
    private readonly cap = MAX_ACCEPTED,
    private readonly ownerCap = MAX_PER_OWNER,
  ) {}

  private prune(now: number): void {
    while (this.heap.length > 0 && (this.heap[0]! + 1) * BUCKET_MS <= now) {
      const b = popMin(this.heap)
      for (const k of this.buckets.get(b) ?? []) {
        const e = this.entries.get(k)
        if (!e || e.until > now) continue
        this.entries.delete(k)
        this.release(e.owner)
      }
      this.buckets.delete(b)
    }
  }

  private release(owner: string | undefined): void {
    if (owner === undefined) return
    const c = (this.perOwner.get(owner) ?? 1) - 1
    if (c <= 0) this.perOwner.delete(owner)
    else this.perOwner.set(owner, c)
  }

  /** True when the handshake identified by `id` (cookie nonce, ticket id) was accepted and may still be presented. */
  has(id: Uint8Array, now: number): boolean {
    const e = this.entries.get(byteKey(id))
    return e !== undefined && e.until > now
  }

  /**
   * Records an accepted handshake that stops being acceptable at `until`, charged to `owner`
   * (if given). False when the store, or the owner's share, is full of live entries: the
   * caller must refuse the handshake.
   */
  add(id: Uint8Array, until: number, now: number, owner?: string): boolean {
    if (this.full(now, owner)) return false
    const k = byteKey(id)
    const old = this.entries.get(k)
    if (old) this.release(old.owner)
    this.entries.set(k, { until, owner })
    if (owner !== undefined) this.perOwner.set(owner, (this.perOwner.get(owner) ?? 0) + 1)
    const b = Math.floor(until / BUCKET_MS)
    const list = this.buckets.get(b)
    if (list) list.push(k)
    else {
      this.buckets.set(b, [k])
      pushMin(this.heap, b)
    }
    return true
  }

  /** True when no new handshake (of `owner`) could be recorded now: checked before the DH work. */
  full(now: number, owner?: string): boolean {
    this.prune(now)
    return this.entries.size >= this.cap || (owner !== undefined && (this.perOwner.get(owner) ?? 0) >= this.ownerCap)
  }

  get size(): number {
    return this.entries.size
  }
}

/**
 * A short byte string (nonce, ticket id) as a Map key: one char code 0-255 per byte, never shown.
 * ~5x cheaper than Buffer#toString('base64') and not through Buffer(id.buffer): a small array on
 * V8's heap (the cookie nonce, a ticket id) would first be moved to a new off-heap store.
 */
export function byteKey(id: Uint8Array): string {
  return String.fromCharCode.apply(null, id as unknown as number[])
}

function pushMin(h: number[], v: number): void {
  let i = h.push(v) - 1
  while (i > 0) {
    const p = (i - 1) >> 1
    if (h[p]! <= v) break
    h[i] = h[p]!
    i = p
  }
  h[i] = v
}

function popMin(h: number[]): number {
  const top = h[0]!
  const last = h.pop()!
  if (h.length === 0) return top
  let i = 0
  for (;;) {
    const l = 2 * i + 1
    if (l >= h.length) break
    const c = l + 1 < h.length && h[l + 1]! < h[l]! ? l + 1 : l
    if (h[c]! >= last) break
    h[i] = h[c]!
    i = c
  }
  h[i] = last
  return top
}
