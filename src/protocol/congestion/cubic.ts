/**
 * CUBIC, RFC 9438. Windows are kept in bytes; the cubic function is evaluated in units of
 * datagrams (segments) and seconds, as the RFC writes it, then converted back.
 *
 *   W_cubic(t) = C * (t - K)^3 + W_max                    (§4.2, eq. 1)
 *   K = cbrt((W_max - cwnd_epoch) / C)                     (§4.2, eq. 2)
 *   W_est += alpha_cubic * segments_acked / cwnd           (§4.3, Reno-friendly region)
 *
 * Slow start is standard (HyStart++ is not implemented). Fast convergence (§4.7) is on.
 */
import { WindowController } from './base.js'
import type { CongestionOptions } from './types.js'

/** RFC 9438 §5 C. */
export const CUBIC_C = 0.4
/** RFC 9438 §4.6 beta_cubic (multiplicative decrease factor). */
export const CUBIC_BETA = 0.7
/** RFC 9438 §4.3 alpha_cubic = 3 * (1 - beta) / (1 + beta). */
const ALPHA_CUBIC = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA)

export class Cubic extends WindowController {
  readonly name = 'cubic'
  /** Window (segments) just before the last reduction. */
  private wMax = 0
  /** Start of the current congestion-avoidance epoch (ms); -1 = not started. */
  private epochStart = -1
  /** K in seconds. */
  private k = 0
  /** Reno-friendly estimate, segments. */
  private wEst = 0
  private readonly rtt: CongestionOptions['rtt']

  constructor(opts: CongestionOptions = {}) {
    super(opts)
    this.rtt = opts.rtt
  }

  private wCubic(tSeconds: number): number {
    const d = tSeconds - this.k
    return CUBIC_C * d * d * d + this.wMax
  }

  protected grow(bytes: number, now: number): void {
    const mds = this.maxDatagramSize
    if (this.cwnd < this.ssthresh) {
      this.cwnd += bytes
      return
    }
    const cwndSeg = this.cwnd / mds
    if (this.epochStart < 0) {
      // §4.2: a new epoch starts with the first ack in congestion avoidance.
      this.epochStart = now
      if (cwndSeg < this.wMax) {
        this.k = Math.cbrt((this.wMax - cwndSeg) / CUBIC_C)
      } else {
        this.k = 0
        this.wMax = cwndSeg
      }
      this.wEst = cwndSeg
    }
    const rttSec = (this.rtt?.smoothedRtt ?? 100) / 1000
    const t = (now - this.epochStart) / 1000
    // §4.3: Reno-friendly estimate; alpha becomes 1 once W_est reaches W_max.
    const alpha = this.wEst >= this.wMax ? 1 : ALPHA_CUBIC
    this.wEst += (alpha * (bytes / mds)) / cwndSeg
    const cubic = this.wCubic(t)
    if (cubic < this.wEst) {
      this.cwnd = Math.max(this.cwnd, this.wEst * mds)
      return
    }
    // §4.4/4.5: target = W_cubic(t + RTT), clamped to [cwnd, 1.5 cwnd].
    let target = this.wCubic(t + rttSec)
    if (target < cwndSeg) target = cwndSeg
    else if (target > 1.5 * cwndSeg) target = 1.5 * cwndSeg
    this.cwnd += ((target - cwndSeg) / cwndSeg) * bytes
  }

  protected reduce(): void {
    const cwndSeg = this.cwnd / this.maxDatagramSize
    // §4.7 fast convergence: release bandwidth faster when W_max keeps shrinking.
    this.wMax = cwndSeg < this.wMax ? (cwndSeg * (1 + CUBIC_BETA)) / 2 : cwndSeg
    // §4.6: ssthresh = cwnd * beta_cubic; cwnd = max(ssthresh, minimum window).
    this.ssthresh = this.cwnd * CUBIC_BETA
    this.cwnd = Math.max(this.ssthresh, this.minimumWindow)
    this.epochStart = -1
  }

  private undoWMax = 0
  protected override saveUndo(): void {
    this.undoWMax = this.wMax
  }
  protected override restoreUndo(): void {
    this.wMax = this.undoWMax
    this.epochStart = -1
  }

  protected onCollapse(): void {
    this.epochStart = -1
    this.wMax = 0
  }
}
