/**
 * Congestion controller interface (RFC 9002 §7 shape). The LossDetector drives it; the
 * session asks it (and the Pacer) whether a packet may be sent. Byte counts are datagram
 * sizes as put on the wire; times are ms on the caller's clock.
 *
 * Implementations: NewReno (RFC 9002 §7.3), CUBIC (RFC 9438), and the pass-through used in
 * bare mode. BBR can implement the same interface later (it will want onPacketAcked's
 * sentTime/now pairs for delivery-rate sampling).
 */
export interface CongestionController {
  /** 'newreno' | 'cubic' | 'none' | ... */
  readonly name: string
  /** Congestion window in bytes. */
  readonly cwnd: number
  /** Bytes of in-flight packets not yet acked or declared lost. */
  readonly bytesInFlight: number
  readonly ssthresh: number
  readonly inSlowStart: boolean
  /** Times the window was reduced (one per recovery period). */
  readonly congestionEvents: number

  /** An in-flight packet of `bytes` was sent at `now`. */
  onPacketSent(now: number, bytes: number): void
  /**
   * One in-flight packet was newly acknowledged (called once per packet; no arrays on the hot
   * path). `sentTime` lets the controller ignore packets sent before the current recovery
   * period began (RFC 9002 §7.3.2).
   */
  onPacketAcked(sentTime: number, bytes: number, now: number): void
  /** An in-flight packet was declared lost or abandoned: it leaves bytesInFlight, nothing else. */
  onPacketLost(bytes: number): void
  /**
   * Loss (or ECN-CE) of a packet sent at `sentTime` was detected at `now`. Reduces the window
   * at most once per recovery period (RFC 9002 §7.3.2: nothing if sentTime <= recovery start).
   */
  onCongestionEvent(sentTime: number, now: number): void
  /** RFC 9002 §7.6.2: collapse to the minimum window. */
  onPersistentCongestion(now: number): void
  /** Bytes that may still be put in flight: max(0, cwnd - bytesInFlight). */
  availableWindow(): number
  /** True when a packet of `bytes` fits the window (a packet may overshoot by less than one datagram, §7). */
  canSend(bytes: number): boolean
}

/** Options shared by the window-based controllers. */
export interface CongestionOptions {
  /** Largest datagram the session sends (RFC 9002 max_datagram_size). Default 1200. */
  maxDatagramSize?: number
  /** Initial window in bytes; default RFC 9002 §7.2: min(10 * mds, max(14720, 2 * mds)). */
  initialWindow?: number
  /** Smallest window in bytes; default 2 * mds (RFC 9002 §7.2 kMinimumWindow). */
  minimumWindow?: number
  /** Smoothed RTT source (CUBIC's target uses it); the session's RttEstimator. */
  rtt?: { readonly smoothedRtt: number; readonly minRtt: number }
}
