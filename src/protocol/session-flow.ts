/**
 * Session-level credit, both directions (RFC 9000 §4.1 connection flow control, plus the
 * stream-count credit of §4.6):
 *  - send: stream bytes we may send in total (peer's SESSION_CREDIT);
 *  - receive: stream bytes the peer may send in total, counted as the sum of the highest
 *    offsets received per stream (final sizes of aborted streams included), extended when the
 *    app has consumed more than half the window;
 *  - streams: how many byte streams each side may open in total (cumulative, STREAMS_CREDIT).
 */
import { WireError } from '../errors.js'
import { type FlowTuning, WindowTuner } from './flow-autotune.js'
import type { FlowStats } from './stream-types.js'

export class SessionFlow {
  /** Send side: the peer's cumulative limit, and what we used. */
  peerMaxData: number
  sent = 0
  /** Receive side. */
  maxGranted: number
  received = 0
  consumed = 0
  /** A SESSION_CREDIT carrying maxGranted must be (re)sent. */
  creditPending = false

  /** Byte streams we may open in total (peer's grant). */
  peerMaxStreams: number
  /** Byte streams the peer may open in total (our grant). */
  grantedPeerStreams: number
  /** A STREAMS_CREDIT carrying grantedPeerStreams must be (re)sent. */
  streamsCreditPending = false

  private readonly tuner: WindowTuner

  /** Current receive window (grows with flow-autotune.ts). */
  get window(): number {
    return this.tuner.window
  }

  constructor(
    window: number,
    peerSessionWindow: number,
    peerMaxStreams: number,
    grantedPeerStreams: number,
    tuning: FlowTuning | null = null,
  ) {
    this.tuner = new WindowTuner(window, tuning)
    this.maxGranted = window
    this.peerMaxData = peerSessionWindow
    this.peerMaxStreams = peerMaxStreams
    this.grantedPeerStreams = grantedPeerStreams
  }

  get sendCredit(): number {
    return this.peerMaxData - this.sent
  }

  onPeerCredit(maxData: number): void {
    if (maxData > this.peerMaxData) this.peerMaxData = maxData
  }

  onPeerStreamsCredit(maxStreams: number): void {
    if (maxStreams > this.peerMaxStreams) this.peerMaxStreams = maxStreams
  }

  /** A stream's highest received offset grew by `delta`. Returns 0 or FLOW_CONTROL_VIOLATION. */
  onReceived(delta: number): number {
    this.received += delta
    this.tuner.onArrival(this.consumed, this.received)
    return this.received > this.maxGranted ? WireError.FLOW_CONTROL_VIOLATION : 0
  }

  /** `n` received bytes were read or discarded: maybe extend the peer's credit. */
  onConsumed(n: number): void {
    this.consumed += n
    if (this.maxGranted - this.consumed > this.window / 2) return
    this.maxGranted = this.consumed + this.tuner.onCreditUpdate(this.received - this.consumed)
    this.creditPending = true
  }

  /**
   * A stream's reader is held back by a hole and the peer has used up all but a quarter of the
   * session window: grow it and grant credit now (flow-autotune.ts growBehindHole, bounded by
   * the memory limit), as the stream's own window does (recv-buffer.ts takeCreditBehindHole).
   */
  onHeldBehindHole(): void {
    if (this.maxGranted - this.received > this.window / 4 || !this.tuner.growBehindHole()) return
    this.maxGranted = Math.max(this.maxGranted, this.consumed + this.window)
    this.creditPending = true
  }

  /** A peer-opened byte stream was released: let the peer open one more. */
  onPeerStreamReleased(): void {
    this.grantedPeerStreams++
    this.streamsCreditPending = true
  }

  stats(): FlowStats {
    return {
      sendCredit: this.sendCredit,
      receiveWindow: this.maxGranted - this.received,
      sessionSent: this.sent,
      sessionReceived: this.received,
      sessionConsumed: this.consumed,
    }
  }
}
