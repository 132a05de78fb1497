/**
 * Round-trip time estimation, RFC 9002 §5. All times are milliseconds (floats) on the
 * caller's clock; ack delays arrive in microseconds on the wire and are converted by the
 * caller (LossDetector) before they reach update().
 */

/** Timer granularity (RFC 9002 §6.1.2 kGranularity). */
export const K_GRANULARITY = 1
/** RFC 9002 §6.1.2 kTimeThreshold: 9/8 of an RTT before a packet counts as lost by time. */
export const K_TIME_THRESHOLD = 9 / 8
/** RFC 9002 §7.6.1 kPersistentCongestionThreshold. */
export const K_PERSISTENT_CONGESTION_THRESHOLD = 3
/** RFC 9002 §6.2.2 kInitialRtt; STT uses 333 ms as well. */
export const DEFAULT_INITIAL_RTT = 333
/** Default max_ack_delay (RFC 9000 §18.2 default is 25 ms). */
export const DEFAULT_MAX_ACK_DELAY = 25

export class RttEstimator {
  /** Most recent sample, without ack-delay adjustment (RFC 9002 latest_rtt). */
  latestRtt = 0
  smoothedRtt: number
  rttvar: number
  /** Minimum sample over the connection (never ack-delay adjusted); Infinity until the first sample. */
  minRtt = Infinity
  /**
   * Smallest sample the session ever took, kept across persistent congestion and reset(): what
   * path-validation.ts times its re-challenge backoff in, because nobody on the path can raise
   * it (minRtt restarts from the next sample after persistent congestion, which a path holder
   * can cause and then delay; docs/PROTOCOL.md §2.1).
   */
  lowestRtt = Infinity
  /** False until the first sample; until then smoothedRtt/rttvar are the RFC 9002 §6.2.2 initial values. */
  hasSample = false
  /** When the first sample was taken (persistent congestion needs a sample older than the lost span). */
  firstSampleTime = -Infinity
  private minRttResetPending = false

  /**
   * @param initialRtt used before the first sample (RFC 9002 §6.2.2).
   * @param maxAckDelay the *peer's* max_ack_delay: the longest it will hold back an ACK.
   */
  constructor(
    readonly initialRtt = DEFAULT_INITIAL_RTT,
    readonly maxAckDelay = DEFAULT_MAX_ACK_DELAY,
  ) {
    this.smoothedRtt = initialRtt
    this.rttvar = initialRtt / 2
  }

  /**
   * Takes one RTT sample (RFC 9002 §5.3). `ackDelay` is the peer-reported delay in ms; it is
   * capped at max_ack_delay once the handshake is confirmed and only subtracted when that
   * does not take the sample below min_rtt.
   */
  update(latestRtt: number, ackDelay: number, now: number, handshakeConfirmed = true): void {
    if (!(latestRtt >= 0)) return
    this.latestRtt = latestRtt
    if (latestRtt < this.lowestRtt) this.lowestRtt = latestRtt
    if (!this.hasSample || this.minRttResetPending) {
      // §5.2: after persistent congestion, min_rtt restarts from the newest sample.
      this.minRtt = latestRtt
      this.minRttResetPending = false
    }
    if (!this.hasSample) {
      this.hasSample = true
      this.firstSampleTime = now
      this.smoothedRtt = latestRtt
      this.rttvar = latestRtt / 2
      return
    }
    if (latestRtt < this.minRtt) this.minRtt = latestRtt
    if (handshakeConfirmed && ackDelay > this.maxAckDelay) ackDelay = this.maxAckDelay
    let adjusted = latestRtt
    if (latestRtt >= this.minRtt + ackDelay) adjusted = latestRtt - ackDelay
    this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.smoothedRtt - adjusted)
    this.smoothedRtt = 0.875 * this.smoothedRtt + 0.125 * adjusted
  }

  /** RFC 9002 §6.2.1 PTO duration (application data space, so max_ack_delay included), before backoff. */
  pto(): number {
    return this.smoothedRtt + Math.max(4 * this.rttvar, K_GRANULARITY) + this.maxAckDelay
  }

  /** RFC 9002 §6.1.2 time threshold: how long after a later packet was acked a packet counts as lost. */
  lossDelay(): number {
    return Math.max(K_TIME_THRESHOLD * Math.max(this.smoothedRtt, this.latestRtt), K_GRANULARITY)
  }

  /** RFC 9002 §7.6.1 persistent congestion duration. */
  persistentCongestionDuration(): number {
    return this.pto() * K_PERSISTENT_CONGESTION_THRESHOLD
  }

  /**
   * Back to the initial estimate (a session resuming after a suspension, issue 12): the path
   * may be another one, and the backed-off samples of the outage say nothing about it.
   */
  reset(): void {
    this.latestRtt = 0
    this.smoothedRtt = this.initialRtt
    this.rttvar = this.initialRtt / 2
    this.minRtt = Infinity
    this.hasSample = false
    this.firstSampleTime = -Infinity
    this.minRttResetPending = false
  }

  /** Called when persistent congestion is declared (RFC 9002 §5.2). */
  onPersistentCongestion(): void {
    this.minRttResetPending = true
  }
}
