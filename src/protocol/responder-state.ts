/**
 * The little state a responder keeps for handshakes without keeping per-handshake state:
 * cookie keys (cookie-keys.ts), the HELLO replay cache (hello-cache.ts), the accepted
 * AUTH_PROOFs (handshake-replay.ts), a handshake-rate meter that decides when to require
 * address validation (RETRY), and a token bucket bounding unauthenticated AUTH_FAILED replies.
 */
import { checkRetryToken, createRetryToken, type ParsedHello } from './handshake.js'
import { CookieKeys } from './cookie-keys.js'
import { AcceptedHandshakes } from './handshake-replay.js'
import { HelloCache, RESUME_CACHE_CAPACITY, RESUME_CACHE_PER_SOURCE } from './hello-cache.js'

export { COOKIE_KEY_LIFETIME_MS } from './cookie-keys.js'
/** Unauthenticated error replies per second (they could otherwise be abused for reflection). */
export const AUTH_FAILED_REPLIES_PER_SECOND = 20
/**
 * Token-less HELLOs of one backlogged receive batch (RxBatch.backlog: the socket holds more than
 * the node read) that still take the full path (MAC check, RETRY) while RETRY is engaged; the
 * batch's other token-less HELLOs are shed before their MAC is checked (PROTOCOL.md §3.3, "When
 * the node is behind"). An eighth of a 64-datagram batch: under a flood most of a batch is
 * HELLOs, and each answered one costs 10-20 µs (three HMACs and a send) against about 1 µs for
 * a shed one; with 16 a 20,000/s flood still took about a quarter of a core, with 8 about a
 * sixth (bench/scale.mjs hellocpu, bench/hello-flood-cpu.mjs BACKLOG=1).
 */
export const HELLOS_ANSWERED_PER_BACKLOGGED_BATCH = 8

export class ResponderState {
  readonly cookieKeys: CookieKeys
  readonly hellos = new HelloCache()
  /**
   * RESUME nonces, apart from HELLO's: RESUME has no RETRY round, so in the HELLO cache a flood
   * of RESUMEs from forged sources could fill it and block every full handshake (§9.4 step 3).
   */
  readonly resumes = new HelloCache(RESUME_CACHE_CAPACITY, RESUME_CACHE_PER_SOURCE)
  readonly accepted = new AcceptedHandshakes()
  private windowStart = 0
  private windowCount = 0
  private previousWindowCount = 0
  private replyTokens = AUTH_FAILED_REPLIES_PER_SECOND
  private replyRefill = 0

  constructor(random: (n: number) => Uint8Array, handshakeTimeout: number) {
    this.cookieKeys = new CookieKeys(random, handshakeTimeout)
  }

  /**
   * Address validation and the replay cache for a MAC-valid, fresh HELLO from `from`:
   * 'ok' (go on to CHALLENGE), a RETRY token to send (under load: before any Diffie-Hellman
   * and before the HELLO takes a place in the cache, item 7), or a drop reason.
   */
  admit(
    hello: ParsedHello,
    from: string,
    /** Who the per-source cache share is charged to: the host, not host:port (sourceOf). */
    source: string,
    now: number,
    forceRetry: boolean,
    // The endpoint's config as is: copying it into an options object per HELLO was a
    // measurable share of a flooded responder's cost per HELLO.
    o: { readonly retryThreshold: number; readonly handshakeTimeout: number; readonly helloMaxSkew: number },
  ): { kind: 'ok' } | { kind: 'retry'; token: Uint8Array } | { kind: 'drop'; reason: string } {
    // A nonce is remembered while its HELLO could be accepted: within the skew window, or
    // (with a token) no longer than the token is valid.
    let expiry = now + 2 * o.helloMaxSkew
    if (hello.token) {
      const keys = this.cookieKeys.opening(now).map((g) => g.token)
      if (!checkRetryToken(keys, hello.token, now, o.handshakeTimeout, hello.sessionId, from)) return { kind: 'drop', reason: 'bad-token' }
      expiry = Math.min(expiry, now + o.handshakeTimeout + 1000)
    } else if (forceRetry || this.meter(now) > o.retryThreshold || this.hellos.underLoad) {
      // Only token-less HELLOs are metered: an honest initiator under RETRY sends two HELLOs,
      // and counting the second kept RETRY on by itself at half the threshold (review of 433d372).
      return { kind: 'retry', token: createRetryToken(this.cookieKeys.sealing(now).token, now, hello.sessionId, from) }
    }
    const verdict = this.hellos.remember(hello.nonce, source, expiry, now)
    if (verdict !== 'ok') return { kind: 'drop', reason: verdict === 'replayed' ? 'replayed-hello' : `hello-${verdict}` }
    return { kind: 'ok' }
  }

  /**
   * A RESUME's nonce (no RETRY round): remembered for the skew window, as a HELLO's, but in the
   * RESUME cache (full or over the source's share: that RESUME is dropped, fail closed, and its
   * initiator falls back to a full handshake); a drop reason or null.
   */
  rememberNonce(nonce: Uint8Array, source: string, now: number, helloMaxSkew: number): string | null {
    const verdict = this.resumes.remember(nonce, source, now + 2 * helloMaxSkew, now)
    return verdict === 'ok' ? null : verdict === 'replayed' ? 'replayed-resume' : `resume-${verdict}`
  }

  /**
   * True when a token-less HELLO would get a RETRY now (forced, over `retryThreshold` per sliding
   * second, or the HELLO cache half full); counts nothing.
   */
  retryEngaged(now: number, forceRetry: boolean, retryThreshold: number): boolean {
    return forceRetry || this.hellos.underLoad || this.load(now, 0) > retryThreshold
  }

  /**
   * Counts one token-less HELLO; returns the load, HELLOs per sliding second: the count in the
   * current one-second window plus the previous window's count weighted by how much of it
   * still lies within the last second. Why not the current window alone: a sustained flood then
   * got `retryThreshold` full CHALLENGEs (an X25519 each) at the start of every window before
   * RETRY engaged again (bench/scale.mjs flood). Why not max(current, previous): one burst then
   * held RETRY for up to 3 s (review of 433d372).
   */
  meter(now: number): number {
    return this.load(now, 1)
  }

  /** The sliding-second load after counting `add` more token-less HELLOs. */
  private load(now: number, add: number): number {
    const elapsed = now - this.windowStart
    if (elapsed >= 1000) {
      // The window just ended becomes the previous one only if it ended less than a second ago.
      this.previousWindowCount = elapsed < 2000 ? this.windowCount : 0
      this.windowStart = elapsed < 2000 ? this.windowStart + 1000 : now
      this.windowCount = 0
    }
    const previousShare = Math.max(0, 1 - (now - this.windowStart) / 1000)
    this.windowCount += add
    return this.windowCount + this.previousWindowCount * previousShare
  }

  /** Takes a token for one unauthenticated reply; false when over the rate. */
  takeReplyToken(now: number): boolean {
    if (now - this.replyRefill >= 1000) {
      this.replyTokens = AUTH_FAILED_REPLIES_PER_SECOND
      this.replyRefill = now
    }
    if (this.replyTokens <= 0) return false
    this.replyTokens--
    return true
  }
}

/**
 * The per-source share of the HELLO cache is charged to a host, not to one of its ports (a
 * member with 16 ports would otherwise fill the cache: review of issue 10), and to an IPv6 /64,
 * which one end host usually holds whole. Addresses without a host (a WebSocket connection id,
 * a test channel) are charged to their key.
 */
export function sourceOf(addr: { key: string; host?: string; family?: 'IPv4' | 'IPv6' }): string {
  if (!addr.host) return addr.key
  if (addr.family !== 'IPv6' && !addr.host.includes(':')) return addr.host
  return ipv6Prefix64(addr.host)
}

/** The first four 16-bit groups of an IPv6 literal (its /64), expanding '::'. */
function ipv6Prefix64(host: string): string {
  const h = host.split('%')[0]!.toLowerCase()
  const [head, tail] = h.includes('::') ? h.split('::') as [string, string] : [h, undefined]
  const left = head ? head.split(':') : []
  const groups = tail === undefined ? left : [...left, ...new Array(Math.max(0, 8 - left.length - (tail ? tail.split(':').length : 0))).fill('0'), ...(tail ? tail.split(':') : [])]
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`
}
