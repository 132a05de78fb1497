/**
 * The HELLO replay cache (docs/PROTOCOL.md §3.3 step 4; issue 10, item 7).
 *
 * A HELLO nonce is remembered until the HELLO could no longer be accepted:
 * `timestamp + helloMaxSkew` for a HELLO without a token, and no later than its RETRY token's
 * expiry for one with a token (a replay of it is refused as `bad-token` after that anyway).
 * Entries sit in one-second buckets by expiry, so forgetting them costs O(expired) instead of
 * the full scan the old cache did while full.
 *
 * One group member must not be able to fill it for everyone:
 * - each source address may hold at most `perSource` live entries (`hello-source-limit`);
 * - above half of the capacity the endpoint answers every HELLO without a token with a
 *   (stateless) RETRY before it is cached, so what fills the upper half comes from addresses
 *   that receive, and lives no longer than a token (handshakeTimeout);
 * - full means fail closed for that HELLO only (`hello-full`): the initiator retries.
 */

import { byteKey } from './handshake-replay.js'

export const HELLO_CACHE_CAPACITY = 65_536
/** Live entries one source address may hold (1/16 of the cache). */
export const HELLO_CACHE_PER_SOURCE = HELLO_CACHE_CAPACITY / 16
/**
 * RESUME nonces have a cache of their own (PROTOCOL.md §9.4 step 3; second review of issue 12,
 * item 1): RESUME has no RETRY round, so a group member could fill a shared cache from forged
 * sources and block every full handshake. In their own cache a flood only blocks resumptions,
 * which fall back to a full handshake. Same size and per-source share as HELLO's.
 */
export const RESUME_CACHE_CAPACITY = 65_536
export const RESUME_CACHE_PER_SOURCE = RESUME_CACHE_CAPACITY / 16
const BUCKET_MS = 1000

export type HelloVerdict = 'ok' | 'replayed' | 'source-limit' | 'full'

interface Entry {
  expiry: number
  source: string
}

export class HelloCache {
  private readonly entries = new Map<string, Entry>()
  private readonly buckets = new Map<number, string[]>()
  private readonly perSourceCount = new Map<string, number>()

  constructor(
    private readonly capacity = HELLO_CACHE_CAPACITY,
    private readonly perSource = HELLO_CACHE_PER_SOURCE,
  ) {}

  /** Above half full: HELLOs without a valid token must get a RETRY before they are cached. */
  get underLoad(): boolean {
    return this.entries.size >= this.capacity / 2
  }

  get size(): number {
    return this.entries.size
  }

  private prune(now: number): void {
    for (const [b, keys] of this.buckets) {
      if ((b + 1) * BUCKET_MS > now) continue
      for (const k of keys) {
        const e = this.entries.get(k)
        if (!e || e.expiry > now) continue
        this.entries.delete(k)
        this.release(e.source)
      }
      this.buckets.delete(b)
    }
  }

  private release(source: string): void {
    const c = (this.perSourceCount.get(source) ?? 1) - 1
    if (c <= 0) this.perSourceCount.delete(source)
    else this.perSourceCount.set(source, c)
  }

  /** True when the nonce was seen and its HELLO could still be accepted (a replay). */
  seen(nonce: Uint8Array, now: number): boolean {
    const e = this.entries.get(byteKey(nonce))
    return e !== undefined && e.expiry > now
  }

  /** Records a HELLO nonce from `source`, remembered until `expiry`; says why not when it may not be served. */
  remember(nonce: Uint8Array, source: string, expiry: number, now: number): HelloVerdict {
    this.prune(now)
    const k = byteKey(nonce)
    const e = this.entries.get(k)
    if (e && e.expiry > now) return 'replayed'
    if (e) {
      // Expired but its bucket not yet passed: forget it now (its bucket entry is then a no-op).
      this.entries.delete(k)
      this.release(e.source)
    }
    const count = this.perSourceCount.get(source) ?? 0
    if (count >= this.perSource) return 'source-limit'
    if (this.entries.size >= this.capacity) return 'full'
    this.entries.set(k, { expiry, source })
    this.perSourceCount.set(source, count + 1)
    const b = Math.floor(expiry / BUCKET_MS)
    const list = this.buckets.get(b)
    if (list) list.push(k)
    else this.buckets.set(b, [k])
    return 'ok'
  }
}
