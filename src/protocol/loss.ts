/**
 * Sent-packet tracking and loss detection, RFC 9002 §6 and Appendix A, for the one
 * application-data packet-number space STT has after the handshake.
 *
 * Flow per call (sequential, one call at a time; results are written into arrays owned by
 * the detector and are valid until the next call):
 *   onPacketSent   -> track, charge the congestion controller
 *   onAck          -> mark newly acked, RTT sample (§5.1), detect losses (§6.1), feed CC
 *   onNack         -> the peer reported gaps: declare those packets lost now (STT extension)
 *   getTimeout     -> loss-time or PTO deadline (§6.2, Appendix A.8)
 *   onTimeout      -> time-threshold losses, or "send probes" after PTO backoff
 *
 * Records are opaque (`T`): the session stores what a packet carried and gets the record back
 * when it is acked or lost, to free or re-queue that content ("retransmit data, not packets").
 */
import { PassThroughController } from './congestion/base.js'
import type { CongestionController } from './congestion/types.js'
import { WireError } from '../errors.js'
import { RttEstimator } from './rtt.js'

/** RFC 9002 §6.1.1 kPacketThreshold. */
export const K_PACKET_THRESHOLD = 3
/** Cap on the PTO backoff exponent so deadlines stay finite (2^10 * PTO is minutes). */
export const MAX_PTO_BACKOFF_EXPONENT = 10
/** Probe packets to send when a PTO fires (RFC 9002 §6.2.4 allows up to two). */
export const PTO_PROBE_PACKETS = 2

class SentPacket<T> {
  pn = 0
  timeSent = 0
  size = 0
  ackEliciting = false
  inFlight = false
  /** Acked or declared lost; awaiting compaction out of the array. */
  done = false
  record: T | undefined = undefined
}

export interface AckOutcome<T> {
  /** Records of packets newly acknowledged by this frame. */
  acked: T[]
  /** Records of packets declared lost while processing this frame. */
  lost: T[]
  /** True when this ACK produced an RTT sample. */
  rttSampled: boolean
  /** 0, or WireError.INVALID_FRAME when the peer acknowledged a packet number never sent. */
  error: number
}

export interface TimeoutOutcome<T> {
  /** Records declared lost by the time threshold. */
  lost: T[]
  /** Number of ack-eliciting probe packets to send now, ignoring the congestion window (§6.2.4). */
  probes: number
  /**
   * Records of the oldest unacknowledged ack-eliciting packets: their content is a good probe
   * payload. Hand them to the stream layer's re-queue (StreamManager.onLost) so the probes carry
   * real data; the packets themselves stay tracked and may still be acked.
   */
  probeRecords: T[]
}

/** Snapshot of recovery state for session stats. */
export interface RecoveryStats {
  cwnd: number
  bytesInFlight: number
  ssthresh: number
  srtt: number
  rttvar: number
  minRtt: number
  latestRtt: number
  /** Current PTO backoff exponent (reset by any ACK). */
  ptoCount: number
  /** PTOs fired over the session's life. */
  ptoTotal: number
  lostPackets: number
  congestionEvents: number
  persistentCongestionEvents: number
}

/** What the session uses; LossDetector and PassThroughLossDetector (bare mode) implement it. */
export interface LossRecovery<T> {
  onPacketSent(pn: number, now: number, bytes: number, ackEliciting: boolean, inFlight: boolean, record: T): void
  onAck(ranges: ReadonlyArray<readonly [number, number]>, ackDelayMicros: number, now: number): AckOutcome<T>
  onNack(packetNumbers: readonly number[], now: number): T[]
  getTimeout(): number
  onTimeout(now: number): TimeoutOutcome<T>
  stats(): RecoveryStats
}

export class LossDetector<T> implements LossRecovery<T> {
  /** Sent packets in ascending pn order; `head` skips the compacted prefix. */
  private sent: Array<SentPacket<T>> = []
  private head = 0
  private doneCount = 0
  private pool: Array<SentPacket<T>> = []

  largestSent = -1
  largestAcked = -1
  ptoCount = 0
  ptoTotal = 0
  lostPackets = 0
  persistentCongestionEvents = 0
  private lossTime = Infinity
  private timeOfLastAckEliciting = -Infinity
  private ackElicitingInFlight = 0

  private readonly ackOut: AckOutcome<T> = { acked: [], lost: [], rttSampled: false, error: 0 }
  private readonly timeoutOut: TimeoutOutcome<T> = { lost: [], probes: 0, probeRecords: [] }
  private readonly nackOut: T[] = []

  constructor(
    readonly rtt: RttEstimator,
    readonly cc: CongestionController,
  ) {}

  /** Tracks a sent packet. Packet numbers must increase. ACK-only packets: ackEliciting=false, inFlight=false. */
  onPacketSent(pn: number, now: number, bytes: number, ackEliciting: boolean, inFlight: boolean, record: T): void {
    if (pn <= this.largestSent) throw new RangeError(`packet numbers must increase (${pn} after ${this.largestSent})`)
    const p = this.pool.pop() ?? new SentPacket<T>()
    p.pn = pn
    p.timeSent = now
    p.size = bytes
    p.ackEliciting = ackEliciting
    p.inFlight = inFlight
    p.done = false
    p.record = record
    this.sent.push(p)
    this.largestSent = pn
    if (inFlight) this.cc.onPacketSent(now, bytes)
    if (ackEliciting) {
      this.timeOfLastAckEliciting = now
      this.ackElicitingInFlight++
    }
  }

  /** Outstanding (tracked, not yet acked or lost) packets. */
  get outstanding(): number {
    return this.sent.length - this.head - this.doneCount
  }

  /** First index in `sent` (>= head) whose pn >= target. */
  private indexOf(target: number): number {
    let lo = this.head
    let hi = this.sent.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.sent[mid]!.pn < target) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  private markDone(p: SentPacket<T>): void {
    p.done = true
    this.doneCount++
    if (p.ackEliciting) this.ackElicitingInFlight--
  }

  /** Drops finished packets from the front, and compacts the middle when mostly finished. */
  private compact(): void {
    const s = this.sent
    while (this.head < s.length && s[this.head]!.done) {
      this.release(s[this.head]!)
      this.head++
      this.doneCount--
    }
    if (this.head === s.length) {
      s.length = 0
      this.head = 0
      return
    }
    if (this.doneCount > 64 && this.doneCount * 2 > s.length - this.head) {
      let w = 0
      for (let i = this.head; i < s.length; i++) {
        const p = s[i]!
        if (p.done) this.release(p)
        else s[w++] = p
      }
      s.length = w
      this.head = 0
      this.doneCount = 0
    } else if (this.head > 1024 && this.head * 2 > s.length) {
      s.splice(0, this.head)
      this.head = 0
    }
  }

  private release(p: SentPacket<T>): void {
    p.record = undefined
    if (this.pool.length < 1024) this.pool.push(p)
  }

  /**
   * Processes an ACK frame (ranges inclusive, highest first, as frames.ts decodes them).
   * RFC 9002 Appendix A.7.
   */
  onAck(ranges: ReadonlyArray<readonly [number, number]>, ackDelayMicros: number, now: number): AckOutcome<T> {
    const out = this.ackOut
    out.acked.length = 0
    out.lost.length = 0
    out.rttSampled = false
    out.error = 0
    if (ranges.length === 0) return out
    const largest = ranges[0]![1]
    if (largest > this.largestSent) {
      out.error = WireError.INVALID_FRAME
      return out
    }
    if (largest > this.largestAcked) this.largestAcked = largest

    let largestNewlyAcked: SentPacket<T> | undefined
    let anyAckEliciting = false
    for (let r = 0; r < ranges.length; r++) {
      const lo = ranges[r]![0]
      const hi = ranges[r]![1]
      for (let i = this.indexOf(lo); i < this.sent.length; i++) {
        const p = this.sent[i]!
        if (p.pn > hi) break
        if (p.done) continue
        this.markDone(p)
        if (largestNewlyAcked === undefined || p.pn > largestNewlyAcked.pn) largestNewlyAcked = p
        if (p.ackEliciting) anyAckEliciting = true
        if (p.inFlight) this.cc.onPacketAcked(p.timeSent, p.size, now)
        out.acked.push(p.record!)
      }
    }
    if (largestNewlyAcked === undefined) return out

    // §5.1: sample only when the largest acknowledged is newly acked and something
    // ack-eliciting was newly acked.
    if (largestNewlyAcked.pn === largest && anyAckEliciting) {
      this.rtt.update(now - largestNewlyAcked.timeSent, ackDelayMicros / 1000, now)
      out.rttSampled = true
    }
    this.detectLost(now, out.lost)
    this.ptoCount = 0
    this.compact()
    return out
  }

  /**
   * The peer reported these packet numbers missing (NACK). Those still outstanding and below
   * the largest acknowledged are declared lost at once, without waiting for the thresholds;
   * numbers never sent, already resolved, or above the largest acked are ignored.
   */
  onNack(packetNumbers: readonly number[], now: number): T[] {
    const out = this.nackOut
    out.length = 0
    let latestLost: SentPacket<T> | undefined
    for (const pn of packetNumbers) {
      if (pn >= this.largestAcked) continue
      const i = this.indexOf(pn)
      const p = this.sent[i]
      if (p === undefined || p.pn !== pn || p.done) continue
      this.declareLost(p)
      out.push(p.record!)
      if (p.inFlight && (latestLost === undefined || p.timeSent > latestLost.timeSent)) latestLost = p
    }
    if (latestLost !== undefined) this.cc.onCongestionEvent(latestLost.timeSent, now)
    if (out.length > 0) this.compact()
    return out
  }

  private declareLost(p: SentPacket<T>): void {
    this.markDone(p)
    this.lostPackets++
    if (p.inFlight) this.cc.onPacketLost(p.size)
  }

  /** RFC 9002 A.10 DetectAndRemoveLostPackets, plus persistent congestion (§7.6). */
  private detectLost(now: number, lost: T[]): void {
    this.lossTime = Infinity
    const lossDelay = this.rtt.lossDelay()
    const pcDuration = this.rtt.persistentCongestionDuration()
    let latestLostTime = -Infinity
    // Persistent congestion: a run of consecutive packet numbers, all lost, whose
    // ack-eliciting members span more than pcDuration, starting after the first RTT sample.
    let runStart = -Infinity
    let runPrevPn = -2
    let persistent = false
    for (let i = this.head; i < this.sent.length; i++) {
      const p = this.sent[i]!
      if (p.pn > this.largestAcked) break
      if (p.done) {
        // Acked (or lost earlier): either way it breaks a persistent-congestion run.
        runPrevPn = -2
        runStart = -Infinity
        continue
      }
      // Same expression as the loss time below, so a timer firing exactly at lossTime always
      // finds the packet lost (now - delay could round differently).
      const lossAt = p.timeSent + lossDelay
      if (lossAt <= now || this.largestAcked >= p.pn + K_PACKET_THRESHOLD) {
        this.declareLost(p)
        lost.push(p.record!)
        if (p.inFlight && p.timeSent > latestLostTime) latestLostTime = p.timeSent
        if (p.ackEliciting) {
          if (p.pn !== runPrevPn + 1 || runStart === -Infinity) runStart = p.timeSent
          if (runStart > this.rtt.firstSampleTime && p.timeSent - runStart > pcDuration) persistent = true
          runPrevPn = p.pn
        } else if (p.pn === runPrevPn + 1) {
          runPrevPn = p.pn
        }
      } else {
        runPrevPn = -2
        runStart = -Infinity
        if (lossAt < this.lossTime) this.lossTime = lossAt
      }
    }
    if (latestLostTime > -Infinity) this.cc.onCongestionEvent(latestLostTime, now)
    if (persistent) {
      this.persistentCongestionEvents++
      this.cc.onPersistentCongestion(now)
      this.rtt.onPersistentCongestion()
    }
  }

  /** Next deadline for onTimeout (RFC 9002 A.8), or Infinity when nothing is armed. */
  getTimeout(): number {
    if (this.lossTime !== Infinity) return this.lossTime
    if (this.ackElicitingInFlight <= 0) return Infinity
    const backoff = 2 ** Math.min(this.ptoCount, MAX_PTO_BACKOFF_EXPONENT)
    return this.timeOfLastAckEliciting + this.rtt.pto() * backoff
  }

  /** RFC 9002 A.9 OnLossDetectionTimeout. Call when now >= getTimeout(). */
  onTimeout(now: number): TimeoutOutcome<T> {
    const out = this.timeoutOut
    out.lost.length = 0
    out.probeRecords.length = 0
    out.probes = 0
    if (this.lossTime !== Infinity) {
      if (now < this.lossTime) return out
      this.detectLost(now, out.lost)
      this.compact()
      return out
    }
    if (now < this.getTimeout()) return out
    this.ptoCount++
    this.ptoTotal++
    out.probes = PTO_PROBE_PACKETS
    for (let i = this.head; i < this.sent.length && out.probeRecords.length < PTO_PROBE_PACKETS; i++) {
      const p = this.sent[i]!
      if (!p.done && p.ackEliciting) out.probeRecords.push(p.record!)
    }
    // Re-arm from now so the backed-off deadline is measured from this probe (A.9 sends probes,
    // which reset time_of_last_ack_eliciting_packet when the session sends them).
    return out
  }

  stats(): RecoveryStats {
    return {
      cwnd: this.cc.cwnd,
      bytesInFlight: this.cc.bytesInFlight,
      ssthresh: this.cc.ssthresh,
      srtt: this.rtt.smoothedRtt,
      rttvar: this.rtt.rttvar,
      minRtt: this.rtt.minRtt,
      latestRtt: this.rtt.latestRtt,
      ptoCount: this.ptoCount,
      ptoTotal: this.ptoTotal,
      lostPackets: this.lostPackets,
      congestionEvents: this.cc.congestionEvents,
      persistentCongestionEvents: this.persistentCongestionEvents,
    }
  }
}

/**
 * Bare mode (a reliable transport underneath): nothing is tracked, nothing is ever lost, no
 * timers. The StreamManager (reliable: false) frees data as soon as it is written, so no
 * records need to come back.
 */
export class PassThroughLossDetector<T> implements LossRecovery<T> {
  private readonly ackOut: AckOutcome<T> = { acked: [], lost: [], rttSampled: false, error: 0 }
  private readonly timeoutOut: TimeoutOutcome<T> = { lost: [], probes: 0, probeRecords: [] }
  constructor(
    readonly rtt: RttEstimator = new RttEstimator(),
    readonly cc: CongestionController = new PassThroughController(),
  ) {}
  onPacketSent(): void {}
  onAck(): AckOutcome<T> {
    return this.ackOut
  }
  onNack(): T[] {
    return []
  }
  getTimeout(): number {
    return Infinity
  }
  onTimeout(): TimeoutOutcome<T> {
    return this.timeoutOut
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
    }
  }
}
