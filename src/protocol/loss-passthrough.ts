/** The loss detector of bare mode (a reliable transport underneath, loss.ts has the real one). */
import { PassThroughController } from './congestion/base.js'
import type { CongestionController } from './congestion/types.js'
import type { AckOutcome, LossRecovery, RecoveryStats, TimeoutOutcome } from './loss.js'
import { RttEstimator } from './rtt.js'

/** Bare mode's outcomes: always empty. */
const noAcks: AckOutcome<unknown> = { acked: [], lost: [], rttSampled: false, error: 0 }
const noTimeout: TimeoutOutcome<unknown> = { lost: [], probes: 0, probeRecords: [] }

/**
 * Bare mode (a reliable transport underneath): nothing is tracked, nothing is ever lost, no
 * timers. The StreamManager (reliable: false) frees data as soon as it is written, so no
 * records need to come back.
 */
export class PassThroughLossDetector<T> implements LossRecovery<T> {
  constructor(
    readonly rtt: RttEstimator = new RttEstimator(),
    public cc: CongestionController = new PassThroughController(),
  ) {}
  readonly outstanding = 0
  onPacketSent(): void {}
  onAck(): AckOutcome<T> {
    return noAcks as AckOutcome<T>
  }
  onNack(): T[] {
    return []
  }
  onAppLimited(): void {}
  onSendStall(): void {}
  getTimeout(): number {
    return Infinity
  }
  onTimeout(): TimeoutOutcome<T> {
    return noTimeout as TimeoutOutcome<T>
  }
  abandonAll(): T[] {
    return []
  }
  stats(): RecoveryStats {
    return {
      cwnd: Infinity,
      bytesInFlight: 0,
      ssthresh: Infinity,
      srtt: this.rtt.smoothedRtt,
      rttvar: this.rtt.rttvar,
      minRtt: this.rtt.minRtt,
      latestRtt: this.rtt.latestRtt,
      ptoCount: 0,
      ptoTotal: 0,
      lostPackets: 0,
      congestionEvents: 0,
      persistentCongestionEvents: 0,
      spuriousLosses: 0,
      congestionUndos: 0,
      reorderingWindow: 0,
      reorderingSeen: false,
    }
  }
}
