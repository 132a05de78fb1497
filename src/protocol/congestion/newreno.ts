/**
 * NewReno as specified in RFC 9002 §7.3 and Appendix B: slow start doubles per RTT,
 * congestion avoidance adds one datagram per cwnd acked, loss halves (kLossReductionFactor
 * 0.5) once per recovery period.
 */
import { WindowController } from './base.js'
import type { CongestionOptions } from './types.js'

/** RFC 9002 §7.2 kLossReductionFactor. */
export const NEWRENO_LOSS_REDUCTION = 0.5

export class NewReno extends WindowController {
  readonly name = 'newreno'
  /** Bytes acked in congestion avoidance since the last one-datagram increase (RFC 9002 B.5). */
  private bytesAckedInCa = 0

  constructor(opts: CongestionOptions = {}) {
    super(opts)
  }

  protected grow(bytes: number): void {
    if (this.cwnd < this.ssthresh) {
      this.cwnd += bytes
      return
    }
    this.bytesAckedInCa += bytes
    if (this.bytesAckedInCa >= this.cwnd) {
      this.bytesAckedInCa -= this.cwnd
      this.cwnd += this.maxDatagramSize
    }
  }

  protected reduce(): void {
    // RFC 9002 B.6: ssthresh = cwnd * kLossReductionFactor; cwnd = max(ssthresh, kMinimumWindow).
    this.ssthresh = this.cwnd * NEWRENO_LOSS_REDUCTION
    this.cwnd = Math.max(this.ssthresh, this.minimumWindow)
    this.bytesAckedInCa = 0
  }

  protected onCollapse(): void {
    this.bytesAckedInCa = 0
  }
}
