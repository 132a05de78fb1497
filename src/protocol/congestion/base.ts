/**
 * Bookkeeping shared by the window-based controllers: bytes in flight, recovery period,
 * the "do not grow while under-utilised" rule (RFC 9002 §7.8), counters.
 */
import type { CongestionController, CongestionInfo, CongestionOptions } from './types.js'

export const DEFAULT_MAX_DATAGRAM_SIZE = 1200

/** RFC 9002 §7.2 initial window: min(10 * mds, max(14720, 2 * mds)). */
export function initialWindow(mds: number): number {
  return Math.min(10 * mds, Math.max(14720, 2 * mds))
}

export abstract class WindowController implements CongestionController {
  abstract readonly name: string
  cwnd: number
  bytesInFlight = 0
  ssthresh = Infinity
  congestionEvents = 0
  readonly maxDatagramSize: number
  readonly minimumWindow: number
  /** RFC 9002 congestion_recovery_start_time; packets sent at or before it do not grow cwnd. */
  protected recoveryStartTime = -Infinity
  /** Largest bytesInFlight seen since the current round began (window-utilisation check). */
  private flightHighWater = 0
  private prevRoundHighWater = 0
  /** Send time that starts the current round: the first ack of a packet sent after it closes the round. */
  private roundStart = -Infinity

  constructor(opts: CongestionOptions = {}) {
    const mds = opts.maxDatagramSize ?? DEFAULT_MAX_DATAGRAM_SIZE
    this.maxDatagramSize = mds
    this.minimumWindow = opts.minimumWindow ?? 2 * mds
    this.cwnd = opts.initialWindow ?? initialWindow(mds)
  }

  get inSlowStart(): boolean {
    return this.cwnd < this.ssthresh
  }

  inRecovery(sentTime: number): boolean {
    return sentTime <= this.recoveryStartTime
  }

  onPacketSent(_now: number, bytes: number): void {
    this.bytesInFlight += bytes
    if (this.bytesInFlight > this.flightHighWater) this.flightHighWater = this.bytesInFlight
  }

  onPacketAcked(sentTime: number, bytes: number, now: number): void {
    this.bytesInFlight = Math.max(0, this.bytesInFlight - bytes)
    this.lastAckSent = sentTime
    if (sentTime > this.roundStart) {
      // A packet sent after the round began was acked: one round trip has passed.
      this.prevRoundHighWater = this.flightHighWater
      this.flightHighWater = this.bytesInFlight
      this.roundStart = now
    }
    if (this.inRecovery(sentTime)) return
    // §7.8: a sender limited by the application or flow control must not grow the window
    // from acks of flights that never came close to filling it (like Linux's
    // tcp_is_cwnd_limited: at least half the window in use during the last round).
    const used = Math.max(this.flightHighWater, this.prevRoundHighWater)
    if (used + this.maxDatagramSize < this.cwnd / 2) return
    this.grow(bytes, now)
  }

  onPacketLost(bytes: number): void {
    this.bytesInFlight = Math.max(0, this.bytesInFlight - bytes)
  }

  onCongestionEvent(sentTime: number, now: number): void {
    if (this.inRecovery(sentTime)) return
    this.recoveryStartTime = now
    this.congestionEvents++
    this.undoCwnd = this.cwnd
    this.undoSsthresh = this.ssthresh
    this.saveUndo()
    this.reduce(now)
  }

  /** Window and threshold before the last reduction (RFC 8985 §9 / Linux tcp_undo_cwnd). */
  private undoCwnd = 0
  private undoSsthresh = Infinity

  /** Every loss of the last congestion event was spurious: take the reduction back. */
  onSpuriousCongestion(): void {
    if (this.undoCwnd === 0) return
    this.cwnd = Math.max(this.cwnd, this.undoCwnd)
    this.ssthresh = Math.max(this.ssthresh, this.undoSsthresh)
    this.restoreUndo()
    this.undoCwnd = 0
  }

  info(): CongestionInfo {
    return { phase: this.recoveryStartTime > -Infinity && this.lastAckSent <= this.recoveryStartTime ? 'recovery' : this.inSlowStart ? 'slow-start' : 'avoidance', bandwidth: null, pacingRate: null }
  }
  private lastAckSent = -Infinity

  /** Subclass state to save before a reduction and restore on undo. */
  protected saveUndo(): void {}
  protected restoreUndo(): void {}

  onPersistentCongestion(_now: number): void {
    // RFC 9002 B.8: congestion_recovery_start_time = 0 (leave recovery), cwnd = kMinimumWindow.
    this.recoveryStartTime = -Infinity
    this.undoCwnd = 0
    this.cwnd = this.minimumWindow
    this.onCollapse()
  }

  availableWindow(): number {
    return Math.max(0, this.cwnd - this.bytesInFlight)
  }

  canSend(_bytes: number): boolean {
    return this.bytesInFlight < this.cwnd
  }

  /** Window growth for `bytes` newly acked outside recovery. */
  protected abstract grow(bytes: number, now: number): void
  /** Multiplicative decrease on entering recovery. */
  protected abstract reduce(now: number): void
  /** Extra state reset after persistent congestion. */
  protected abstract onCollapse(): void
}

/** Bare mode (reliable transport underneath): no window at all. */
export class PassThroughController implements CongestionController {
  readonly name = 'none'
  readonly cwnd = Infinity
  readonly ssthresh = Infinity
  readonly inSlowStart = false
  readonly congestionEvents = 0
  bytesInFlight = 0
  onPacketSent(): void {}
  onPacketAcked(): void {}
  onPacketLost(): void {}
  onCongestionEvent(): void {}
  onPersistentCongestion(): void {}
  availableWindow(): number {
    return Infinity
  }
  canSend(): boolean {
    return true
  }
}

function inFlightBeforeController(): never {
  throw new Error('packet in flight before the congestion controller was made')
}

/**
 * What a session's loss detector holds before the session sent data (idle memory, issue 14:
 * the controller is made for the first packet that carries data). Until then only packets that
 * are not in flight are sent (ACKs, keep-alives, tickets, FINAL, probes), so nothing is ever
 * charged to it: the in-flight calls throw, as they would reveal a packet sent in flight before
 * the controller exists. Persistent congestion of such packets changes nothing (there is no
 * window yet; the controller made later starts at its initial window). One per thread.
 */
class NoControllerYet implements CongestionController {
  readonly name = 'none'
  readonly cwnd = 0
  readonly bytesInFlight = 0
  readonly ssthresh = Infinity
  readonly inSlowStart = true
  readonly congestionEvents = 0
  onPacketSent = inFlightBeforeController
  onPacketAcked = inFlightBeforeController
  onPacketLost = inFlightBeforeController
  onCongestionEvent = inFlightBeforeController
  onPersistentCongestion(): void {}
  availableWindow(): number {
    return 0
  }
  canSend(): boolean {
    return false
  }
}

export const NO_CONTROLLER_YET: CongestionController = new NoControllerYet()
