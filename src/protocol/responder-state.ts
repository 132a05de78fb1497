/**
 * The little state a responder keeps for handshakes without keeping per-handshake state:
 * cookie keys (cookie-keys.ts), the HELLO replay cache (hello-cache.ts), the accepted
 * AUTH_PROOFs (handshake-replay.ts), a handshake-rate meter that decides when to require
 * address validation (RETRY), and a token bucket bounding unauthenticated AUTH_FAILED replies.
 */
import { CookieKeys } from './cookie-keys.js'
import { AcceptedHandshakes } from './handshake-replay.js'
import { HelloCache } from './hello-cache.js'

export { COOKIE_KEY_LIFETIME_MS } from './cookie-keys.js'
/** Unauthenticated error replies per second (they could otherwise be abused for reflection). */
export const AUTH_FAILED_REPLIES_PER_SECOND = 20

export class ResponderState {
  readonly cookieKeys: CookieKeys
  readonly hellos = new HelloCache()
  readonly accepted = new AcceptedHandshakes()
  private windowStart = 0
  private windowCount = 0
  private replyTokens = AUTH_FAILED_REPLIES_PER_SECOND
  private replyRefill = 0

  constructor(random: (n: number) => Uint8Array, handshakeTimeout: number) {
    this.cookieKeys = new CookieKeys(random, handshakeTimeout)
  }

  /** Counts one handshake attempt; returns the count in the current one-second window. */
  meter(now: number): number {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now
      this.windowCount = 0
    }
    return ++this.windowCount
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
