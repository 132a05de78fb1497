/**
 * Congestion controller interface (RFC 9002 §7 shape). The LossDetector drives it; the
 * session asks it (and the Pacer) whether a packet may be sent. Byte counts are datagram
 * sizes as put on the wire; times are ms on the caller's clock.
 *
 * Implementations: BBR (draft-ietf-ccwg-bbr, BBRv3; the default), NewReno (RFC 9002 §7.3),
 * CUBIC (RFC 9438), and the pass-through used in bare mode.
 *
 * Per packet the detector calls onPacketSent / onPacketAcked / onPacketLost; once per ACK
 * frame it then hands model-based controllers a delivery-rate sample (onRateSample, see
 * delivery-rate.ts), after the per-packet calls and loss detection of that ACK.
 */
import type { LostPacketInfo, RateSample } from './delivery-rate.js'

export interface CongestionController {
  /** 'bbr' | 'newreno' | 'cubic' | 'none' */
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
  /**
   * An in-flight packet was declared lost or abandoned: it leaves bytesInFlight. `info` (when
   * the detector tracks delivery rates) is the packet's send-time snapshot, which BBR uses to
   * judge the loss rate of the flight it belonged to.
   */
  onPacketLost(bytes: number, info?: LostPacketInfo): void
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

  /** Once per ACK frame that acknowledged or lost something: the delivery-rate sample. */
  onRateSample?(rs: RateSample, now: number): void
  /**
   * A loss starts a new congestion episode (the unit of spurious-loss undo), called before
   * that packet's onPacketLost: a controller that reacts per lost packet (BBR) saves here
   * the state onSpuriousCongestion restores.
   */
  onLossEpisode?(): void
  /**
   * Every loss of the last congestion event turned out spurious (the originals were acked
   * after all): restore the state from before that event (RFC 8985 §9 / Eifel-style undo).
   */
  onSpuriousCongestion?(now: number): void
  /**
   * The sender's process stalled with data and window (the pacer discarded budget): true if the
   * next round's delivery-rate samples should be marked app-limited (BBR in Startup, bounded).
   */
  onSendStall?(): boolean
  /** Pacing rate in bytes per ms, when the controller sets one itself (BBR). */
  pacingRate?(): number
  /** State for getStats(): phase name and model estimates. */
  info?(): CongestionInfo
}

/** What getStats() reports about the controller beyond cwnd. */
export interface CongestionInfo {
  /** 'slow-start' | 'avoidance' | 'recovery' | BBR: 'startup' | 'drain' | 'probe-bw-down' | ... */
  phase: string
  /** Bottleneck bandwidth estimate in bytes per second (null: the controller has none). */
  bandwidth: number | null
  /** Pacing rate in bytes per second (null: unpaced). */
  pacingRate: number | null
}

/** Options shared by the controllers. */
export interface CongestionOptions {
  /** Largest datagram the session sends (RFC 9002 max_datagram_size). Default 1200. */
  maxDatagramSize?: number
  /** Initial window in bytes; default RFC 9002 §7.2: min(10 * mds, max(14720, 2 * mds)). */
  initialWindow?: number
  /** Smallest window in bytes; default 2 * mds (RFC 9002 §7.2 kMinimumWindow). */
  minimumWindow?: number
  /** Smoothed RTT source (CUBIC's target uses it); the session's RttEstimator. */
  rtt?: { readonly smoothedRtt: number; readonly minRtt: number }
  /** Seed of BBR's probe-timing xorshift32 (sans-I/O: injected; default a fixed sequence). */
  seed?: number
  /**
   * Smoothed RTT BBR's initial pacing rate is computed from (default: `rtt`'s now). A session
   * creates its controller on its first data (idle memory, issue 14) and passes the RTT it had
   * when it was made, so the controller starts as if made then.
   */
  initialSrtt?: number
}
