/**
 * The life of one session apart from its data: handshake confirmation, keep-alive and idle
 * timeout, the responder's FINAL resends, and close (one SESSION_CLOSE, then a linger that
 * answers late packets, then gone). Sans-I/O: every method takes `now`; the session turns
 * what this decides into frames and events.
 */
import type { ProtocolConfig } from '../config.js'

export type SessionState = 'handshaking' | 'active' | 'suspended' | 'closing' | 'closed'

/** Time a closing session keeps answering late packets with SESSION_CLOSE before it is forgotten. */
const CLOSING_LINGER_MS = 1000
/** First FINAL resend interval (doubles up to FINAL_BACKOFF_MAX_MS). */
const FINAL_BACKOFF_MS = 250
const FINAL_BACKOFF_MAX_MS = 2000

/** What a timer firing means for the session. */
export type LifecycleTimeout = 'none' | 'idle-timeout' | 'linger-over'

export class SessionLifecycle {
  state: SessionState
  lastReceived: number
  private nextKeepAlive: number
  /** A KEEP_ALIVE should go out with the next packet. */
  keepAliveDue = false
  /** Initiator: AUTH_PROOF retransmission deadline until the first packet from the responder. */
  handshakeDeadline = Infinity

  /** Responder: send a FINAL packet on the next write. */
  needFinal: boolean
  /**
   * Responder: until the initiator is heard under the traffic keys, FINAL is repeated on a
   * timer (250 ms, doubling), not only when AUTH_PROOF is repeated: under heavy loss the
   * initiator's retransmissions alone leave too few chances within handshakeTimeout.
   */
  private finalResendAt = Infinity
  private finalBackoff = FINAL_BACKOFF_MS
  private finalHeard = false

  /** The SESSION_CLOSE to send (set by close()). */
  closeFrame: { code: number; reason: string } | null = null
  closeSent = false
  private closingUntil = Infinity
  private closingRx = 0
  closeCode = 0
  closeReason = ''
  private closedEmitted = false

  constructor(
    private readonly config: ProtocolConfig,
    isInitiator: boolean,
    now: number,
  ) {
    this.state = isInitiator ? 'handshaking' : 'active'
    this.needFinal = !isInitiator
    this.lastReceived = now
    this.nextKeepAlive = now + config.keepAliveInterval
  }

  /** Both sides know the handshake finished (we heard the peer under the traffic keys, no FINAL owed). */
  get confirmed(): boolean {
    return this.finalHeard && !this.needFinal && this.state === 'active'
  }

  /** We heard the peer under this session's traffic keys at least once (initiator: it heard FINAL or RESUME_ACCEPT first). */
  get heard(): boolean {
    return this.finalHeard
  }

  /**
   * An authenticated packet arrived. Returns true when it confirmed the handshake (the
   * initiator's first packet from the responder, FINAL or data).
   */
  onAuthenticated(now: number): boolean {
    this.lastReceived = now
    this.nextKeepAlive = now + this.config.keepAliveInterval
    // Responder: any packet from the initiator under the traffic keys proves it got FINAL.
    this.finalHeard = true
    this.finalResendAt = Infinity
    if (this.state !== 'handshaking') return false
    this.state = 'active'
    this.handshakeDeadline = Infinity
    return true
  }

  /** Earliest lifecycle deadline (Infinity: none). */
  deadline(): number {
    if (this.state === 'closed') return Infinity
    if (this.state === 'closing') return this.closingUntil
    if (this.state === 'suspended') return this.handshakeDeadline
    return Math.min(this.lastReceived + this.config.keepAliveTimeout, this.nextKeepAlive, this.handshakeDeadline, this.finalResendAt)
  }

  /** Timers at `now`: keep-alive and FINAL become due; says when the session must end. */
  onTimeout(now: number): LifecycleTimeout {
    if (this.state === 'closing') return now >= this.closingUntil ? 'linger-over' : 'none'
    if (this.state !== 'active') return 'none'
    if (now >= this.lastReceived + this.config.keepAliveTimeout) return 'idle-timeout'
    if (now >= this.finalResendAt) {
      this.needFinal = true
      this.finalBackoff = Math.min(this.finalBackoff * 2, FINAL_BACKOFF_MAX_MS)
      this.finalResendAt = now + this.finalBackoff
    }
    if (now >= this.nextKeepAlive) {
      this.keepAliveDue = true
      this.nextKeepAlive = now + this.config.keepAliveInterval
    }
    return 'none'
  }

  /** The peer went silent (resumable session): no keep-alive or idle timers until resume(). */
  suspend(): void {
    if (this.state === 'active') this.state = 'suspended'
  }

  /** An authenticated packet on a validated path ended the suspension: timers restart from `now`. */
  resume(now: number): void {
    if (this.state !== 'suspended') return
    this.state = 'active'
    this.lastReceived = now
    this.nextKeepAlive = now + this.config.keepAliveInterval
  }

  /** A packet went out; `final` when it was a FINAL packet (its resend timer starts). */
  onPacketWritten(now: number, final: boolean): void {
    if (final && this.finalResendAt === Infinity && !this.finalHeard) this.finalResendAt = now + this.finalBackoff
    this.needFinal = false
  }

  /**
   * Starts closing: one SESSION_CLOSE goes out, then the session lingers briefly. Returns
   * false when there is nothing to send (already closing, or still handshaking: finish it).
   */
  beginClose(code: number, reason: string, now: number): boolean {
    if (this.state === 'closing' || this.state === 'closed') return false
    this.closeCode = code
    this.closeReason = reason
    if (this.state === 'handshaking') return false
    this.closeFrame = { code, reason }
    this.state = 'closing'
    this.closingUntil = Math.max(now, this.lastReceived) + CLOSING_LINGER_MS
    return true
  }

  /** Ends the session for good; false when it already was. */
  end(code: number, reason: string): boolean {
    if (this.state === 'closed') return false
    this.state = 'closed'
    this.closeCode = code
    this.closeReason = reason
    return true
  }

  /** True once: the application hears 'closed' exactly one time. */
  takeClosedEvent(): boolean {
    if (this.closedEmitted) return false
    this.closedEmitted = true
    return true
  }

  /**
   * A late packet reached a closing session: true when it gets our SESSION_CLOSE again.
   *
   * Fix (test/fuzz/core-authenticated.property.test.ts, "closing state"): the packets that
   * trigger this are not authenticated (any datagram naming the session id), so answering
   * every one let anyone make us send a SESSION_CLOSE (up to ~300 bytes) to the peer per
   * 19-byte forgery. Answer only the 1st, 2nd, 4th, 8th... (RFC 9000 §10.2.1).
   */
  lateClosingPacket(): boolean {
    if (this.state !== 'closing') return false
    this.closingRx++
    if ((this.closingRx & (this.closingRx - 1)) !== 0) return false
    this.closeSent = false
    return true
  }
}
