/**
 * The little state a responder keeps for handshakes without keeping per-handshake state:
 * rotating cookie keys (sealing CHALLENGE cookies and RETRY tokens), the HELLO replay cache,
 * a handshake-rate meter that decides when to require address validation (RETRY), and a
 * token bucket bounding unauthenticated AUTH_FAILED replies.
 */

/** Cookie keys rotate this often; the previous key stays valid for one more period. */
export const COOKIE_KEY_LIFETIME_MS = 120_000
/** At most this many HELLO nonces are remembered (bounded memory under a flood of valid HELLOs). */
export const MAX_HELLO_CACHE = 65_536
/** Unauthenticated error replies per second (they could otherwise be abused for reflection). */
export const AUTH_FAILED_REPLIES_PER_SECOND = 20

export class ResponderState {
  private current: Uint8Array
  private previous: Uint8Array
  private rotatedAt: number
  private readonly seen = new Map<string, number>()
  private windowStart = 0
  private windowCount = 0
  private replyTokens = AUTH_FAILED_REPLIES_PER_SECOND
  private replyRefill = 0

  constructor(
    private readonly random: (n: number) => Uint8Array,
    now: number,
    private readonly maxSkew: number,
  ) {
    this.current = random(32)
    this.previous = random(32)
    this.rotatedAt = now
  }

  /** Keys that open cookies/tokens now, newest first. */
  cookieKeys(now: number): Uint8Array[] {
    if (now - this.rotatedAt >= COOKIE_KEY_LIFETIME_MS) {
      this.previous = this.current
      this.current = this.random(32)
      this.rotatedAt = now
    }
    return [this.current, this.previous]
  }

  /** Records a HELLO nonce; false when it was seen within the skew window (a replay). */
  rememberHello(nonce: Uint8Array, now: number): boolean {
    const k = Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('base64')
    const exp = this.seen.get(k)
    if (exp !== undefined && exp > now) return false
    if (this.seen.size >= MAX_HELLO_CACHE) this.prune(now)
    if (this.seen.size >= MAX_HELLO_CACHE) return false
    this.seen.set(k, now + 2 * this.maxSkew)
    return true
  }

  private prune(now: number): void {
    for (const [k, exp] of this.seen) if (exp <= now) this.seen.delete(k)
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
