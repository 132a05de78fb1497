/**
 * Sent-packet tracking and loss detection for the one application-data packet-number space
 * STT has after the handshake: RFC 9002 §6 / Appendix A structure, with RACK-TLP (RFC 8985,
 * rack.ts) as the loss rule, spurious-loss detection and undo, and delivery-rate sampling
 * for the congestion controller (congestion/delivery-rate.ts).
 *
 * Flow per call (sequential, one call at a time; results are written into outcome arrays
 * shared by every detector of the thread, valid until the next call on any detector: a session
 * consumes them at once, and an idle session then holds none of them, issue 14):
 *   onPacketSent   -> track, charge the congestion controller
 *   onAck          -> mark newly acked, RTT sample (§5.1), detect losses (§6.1), feed CC
 *   onNack         -> the peer reported gaps: a hint to run RACK now (never a loss by itself:
 *                     with reordering, a gap is not a loss; the time rule decides)
 *   getTimeout     -> RACK reorder deadline, or TLP / PTO deadline (RFC 8985 §7, RFC 9002 A.8)
 *   onTimeout      -> time-threshold losses, or "send probes" (a tail loss probe first)
 *
 * Records are opaque (`T`): the session stores what a packet carried and gets the record back
 * when it is acked or lost, to free or re-queue that content ("retransmit data, not packets").
 */
import { DeliveryRateSampler, type LostPacketInfo, type RateStamp } from './congestion/delivery-rate.js'
import type { CongestionController } from './congestion/types.js'
import { WireError } from '../errors.js'
import { LostHistory, RACK_PACKET_THRESHOLD, RackState } from './rack.js'
import type { RttEstimator } from './rtt.js'
import { truncateKeepingRoom } from './keep-room.js'

/** RFC 9002 §6.1.1 kPacketThreshold (applies until reordering is seen, see rack.ts). */
export const K_PACKET_THRESHOLD = RACK_PACKET_THRESHOLD
/** Cap on the PTO backoff exponent so deadlines stay finite (2^10 * PTO is minutes). */
export const MAX_PTO_BACKOFF_EXPONENT = 10
/** Probe packets to send when a PTO fires (RFC 9002 §6.2.4 allows up to two). */
export const PTO_PROBE_PACKETS = 2
/**
 * Fewer ack-eliciting packets than this in flight and the peer may hold its ACK for up to
 * max_ack_delay (session.ts: the peer ACKs every 8th packet), so the TLP waits for that too.
 */
export const TLP_DELAYED_ACK_PACKETS = 8

/**
 * The outcome scratch of every detector of the thread (see the flow above). Shared rather than
 * per detector: per session they were ~0.9 KiB of an idle session's memory, mostly the records
 * of the last ACK they kept alive (issue 14).
 */
const ackOutcome: AckOutcome<unknown> = { acked: [], lost: [], rttSampled: false, error: 0 }
const timeoutOutcome: TimeoutOutcome<unknown> = { lost: [], probes: 0, probeRecords: [] }
const nackOutcome: unknown[] = []
const lostPacketInfo: LostPacketInfo = { pn: 0, size: 0, txInFlight: 0, lostSince: 0, isAppLimited: false }
const noSpuriousLoss = (): void => {}

class SentPacket<T> implements RateStamp {
  pn = 0
  timeSent = 0
  size = 0
  delivered = 0
  deliveredTime = -1
  firstSentTime = 0
  isAppLimited = false
  txInFlight = 0
  lost = 0
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
  /** Losses later found spurious (the original packet was acked after all). */
  spuriousLosses: number
  /** Congestion events undone because all their losses were spurious. */
  congestionUndos: number
  /** Current RACK reordering window (ms); 0 until reordering was seen and packet threshold applies too. */
  reorderingWindow: number
  reorderingSeen: boolean
}

/** What the session uses; LossDetector and PassThroughLossDetector (bare mode) implement it. */
export interface LossRecovery<T> {
  onPacketSent(pn: number, now: number, bytes: number, ackEliciting: boolean, inFlight: boolean, record: T): void
  onAck(ranges: ReadonlyArray<readonly [number, number]>, ackDelayMicros: number, now: number): AckOutcome<T>
  onNack(packetNumbers: readonly number[], now: number): T[]
  /** The sender had nothing (or no credit) to send with the window open (delivery-rate app-limited mark). */
  onAppLimited(): void
  /** The sender's process stalled with data and window (pacer.ts takeStall): app-limited if the controller agrees. */
  onSendStall(): void
  getTimeout(): number
  onTimeout(now: number): TimeoutOutcome<T>
  /** A suspended session resumes: every outstanding packet is given up (its data re-queued), PTO backoff reset. */
  abandonAll(now: number): T[]
  /** Sent packets still tracked (0: everything was acknowledged or declared lost). */
  readonly outstanding: number
  /** The controller in-flight packets are charged to; a session sets it when it makes its controller (session-writer.ts). */
  cc: CongestionController
  stats(): RecoveryStats
}

export class LossDetector<T> implements LossRecovery<T> {
  /** Sent packets in ascending pn order; `head` skips the compacted prefix. */
  private sent: Array<SentPacket<T>> = []
  private head = 0
  private doneCount = 0
  private pool: Array<SentPacket<T>> = []
  /** The one recycled packet an idle session keeps, outside the pool (whose storage is freed then). */
  private spare: SentPacket<T> | null = null
  /** `sent` was emptied by pop() and kept its (small) storage: the next packet is pushed into it. */
  private sentRefillable = false
  /** When `sent` last became empty. */
  private emptiedAt = -Infinity

  largestSent = -1
  largestAcked = -1
  ptoCount = 0
  ptoTotal = 0
  lostPackets = 0
  persistentCongestionEvents = 0
  private lossTime = Infinity
  private timeOfLastAckEliciting = -Infinity
  private ackElicitingInFlight = 0
  readonly sampler = new DeliveryRateSampler()
  readonly rack: RackState
  /** Created on the first loss, with the callback it reports spurious losses to. */
  private lostHistory: LostHistory | null = null
  private onSpuriousFound: (episode: number, bytes: number, sentAt: number) => void = noSpuriousLoss
  /** Congestion episode bookkeeping for spurious-loss undo. */
  private episode = 0
  private episodeStart = -Infinity
  private episodeLost = 0
  private episodeSpurious = 0
  private episodeUndone = false
  congestionUndos = 0
  private spuriousNow = 0

  constructor(
    readonly rtt: RttEstimator,
    public cc: CongestionController,
  ) {
    this.rack = new RackState(rtt)
  }

  /** Tracks a sent packet. Packet numbers must increase. ACK-only packets: ackEliciting=false, inFlight=false. */
  onPacketSent(pn: number, now: number, bytes: number, ackEliciting: boolean, inFlight: boolean, record: T): void {
    if (pn <= this.largestSent) throw new RangeError(`packet numbers must increase (${pn} after ${this.largestSent})`)
    let p = this.pool.pop()
    if (p === undefined) {
      p = this.spare ?? new SentPacket<T>()
      this.spare = null
    }
    p.pn = pn
    p.timeSent = now
    p.size = bytes
    p.ackEliciting = ackEliciting
    p.inFlight = inFlight
    p.done = false
    p.record = record
    // A freed array: an exact one for the first packet, not 17 slots (issue 14).
    if (this.sent.length === 0 && !this.sentRefillable) this.sent = [p]
    else this.sent.push(p)
    this.largestSent = pn
    if (inFlight) {
      this.sampler.onPacketSent(p, now, this.cc.bytesInFlight)
      this.cc.onPacketSent(now, bytes)
    } else {
      p.deliveredTime = -1
    }
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
  private compact(now: number): void {
    // A reordered original arrives within the reordering delay; a second after its loss it
    // is long gone (or acked), so its loss can no longer prove spurious.
    if (this.lostHistory !== null) this.lostHistory.expire(now - Math.max(1000, 4 * this.rtt.smoothedRtt))
    const s = this.sent
    while (this.head < s.length && s[this.head]!.done) {
      this.release(s[this.head]!)
      this.head++
      this.doneCount--
    }
    if (this.head === s.length) {
      // A ping-pong empties this on every ACK: popped, a small array keeps its storage (V8
      // frees it on `length = 0`, and on popping out more than 16 slots) for the next packet.
      // Only when it was also empty a round trip ago: a session that went quiet frees it
      // (issue 14: memory per idle session).
      this.sentRefillable = s.length <= 16 && now - this.emptiedAt <= 2 * this.rtt.smoothedRtt
      this.emptiedAt = now
      if (this.sentRefillable) truncateKeepingRoom(s)
      else s.length = 0
      this.head = 0
      // Nothing outstanding: an idle session keeps one recycled packet, not a burst's worth
      // (issue 14: memory per idle session; a busy sender refills the pool within a flight).
      if (this.pool.length > 0) this.pool.length = 0
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
    if (this.spare === null) this.spare = p
    else if (this.pool.length < 1024) this.pool.push(p)
  }

  /**
   * Processes an ACK frame (ranges inclusive, highest first, as frames.ts decodes them).
   * RFC 9002 Appendix A.7 with RACK (RFC 8985 §6) as the loss rule.
   */
  onAck(ranges: ReadonlyArray<readonly [number, number]>, ackDelayMicros: number, now: number): AckOutcome<T> {
    const out = ackOutcome as AckOutcome<T>
    truncateKeepingRoom(out.acked)
    truncateKeepingRoom(out.lost)
    out.rttSampled = false
    out.error = 0
    if (ranges.length === 0) return out
    const largest = ranges[0]![1]
    if (largest > this.largestSent) {
      out.error = WireError.INVALID_FRAME
      return out
    }
    const largestAckedBefore = this.largestAcked
    if (largest > this.largestAcked) this.largestAcked = largest
    this.sampler.beginAck()

    let largestNewlyAcked: SentPacket<T> | undefined
    let anyAckEliciting = false
    this.spuriousNow = now
    for (let r = 0; r < ranges.length; r++) {
      const lo = ranges[r]![0]
      const hi = ranges[r]![1]
      // Packets of this range we had declared lost: spurious losses (RFC 8985 §9 DSACK role).
      if (this.lostHistory !== null && this.lostHistory.length > 0) this.lostHistory.takeRange(lo, hi, this.onSpuriousFound)
      for (let i = this.indexOf(lo); i < this.sent.length; i++) {
        const p = this.sent[i]!
        if (p.pn > hi) break
        if (p.done) continue
        this.markDone(p)
        if (largestNewlyAcked === undefined || p.pn > largestNewlyAcked.pn) largestNewlyAcked = p
        if (p.ackEliciting) anyAckEliciting = true
        this.rack.onAcked(p.pn, p.timeSent, now, largestAckedBefore)
        if (p.inFlight) {
          this.sampler.onPacketAcked(p, now)
          this.cc.onPacketAcked(p.timeSent, p.size, now)
        }
        out.acked.push(p.record!)
      }
    }
    if (largestNewlyAcked === undefined) {
      // Nothing new, but packets proved spurious are delivered bytes the controller counts.
      this.finishRateSample(now)
      return out
    }

    // §5.1: sample only when the largest acknowledged is newly acked and something
    // ack-eliciting was newly acked.
    if (largestNewlyAcked.pn === largest && anyAckEliciting) {
      this.rtt.update(now - largestNewlyAcked.timeSent, ackDelayMicros / 1000, now)
      out.rttSampled = true
    }
    this.detectLost(now, out.lost)
    this.ptoCount = 0
    this.finishRateSample(now)
    this.compact(now)
    return out
  }

  private finishRateSample(now: number): void {
    const rs = this.sampler.finishAck(this.rtt.minRtt, this.cc.bytesInFlight)
    if ((rs.newlyAcked > 0 || rs.newlyLost > 0) && this.cc.onRateSample) this.cc.onRateSample(rs, now)
  }

  private spuriousLoss(episode: number, bytes: number, sentAt: number): void {
    this.sampler.onSpuriousLoss(bytes, this.spuriousNow, sentAt)
    this.rack.onSpurious(this.spuriousNow, sentAt)
    if (episode !== this.episode || this.episodeUndone) return
    this.episodeSpurious++
    // Undo only when every loss of the latest congestion event was spurious: a real loss
    // among them still means congestion (Linux's undo_retrans rule).
    if (this.episodeSpurious >= this.episodeLost) {
      this.episodeUndone = true
      this.congestionUndos++
      this.cc.onSpuriousCongestion?.(this.spuriousNow)
    }
  }

  /** The sender ran out of data or credit with the window open (delivery-rate §4.1.2.1). */
  onAppLimited(): void {
    this.sampler.onAppLimited(this.cc.bytesInFlight)
    ;(this.cc as { onAppLimited?: () => void }).onAppLimited?.()
  }

  /**
   * The sender could not send for a while though it had data and window (its process stalled):
   * in the delivery-rate sense it was application-limited (draft-cheng-iccrg-delivery-rate-
   * estimation §3.1.3: the sender, not the network, left the pipe unfilled), so the next round's
   * samples are marked app-limited, when the controller accepts it (BBR bounds how often).
   * Not a restart from idle: the controller's onAppLimited is not called.
   */
  onSendStall(): void {
    if (this.cc.onSendStall?.() === true) this.sampler.onAppLimited(this.cc.bytesInFlight)
  }

  /**
   * The peer reported these packet numbers missing (NACK). Reordering makes a gap look like a
   * loss, so the NACK only makes RACK look now: a packet is lost when RACK's time rule says so.
   * Numbers never sent or already resolved are ignored.
   */
  onNack(packetNumbers: readonly number[], now: number): T[] {
    const out = nackOutcome as T[]
    out.length = 0
    let any = false
    for (const pn of packetNumbers) {
      if (pn >= this.largestAcked) continue
      const p = this.sent[this.indexOf(pn)]
      if (p !== undefined && p.pn === pn && !p.done) any = true
    }
    if (!any) return out
    this.sampler.beginAck()
    this.detectLost(now, out)
    this.finishRateSample(now)
    if (out.length > 0) this.compact(now)
    return out
  }

  private declareLost(p: SentPacket<T>, now: number): void {
    this.markDone(p)
    this.lostPackets++
    // A loss of a packet sent after the current episode began starts a new congestion episode
    // (RFC 9002 §7.3.2's recovery period), the unit of spurious-loss undo. So does a loss after
    // an undo: else a late loss from the same reordered flight cut again, and nothing restored it.
    if (p.timeSent > this.episodeStart || this.episodeUndone) {
      if (this.episode > 0) this.rack.onRecoveryEnd()
      this.episode++
      this.episodeStart = now
      this.episodeLost = 0
      this.episodeSpurious = 0
      this.episodeUndone = false
      this.cc.onLossEpisode?.()
    }
    this.episodeLost++
    if (this.lostHistory === null) {
      this.lostHistory = new LostHistory()
      this.onSpuriousFound = (episode, bytes, sentAt) => this.spuriousLoss(episode, bytes, sentAt)
    }
    // With the bytes the rate sampler counts (C.lost): a proof of a spurious loss takes them back.
    this.lostHistory.add(p.pn, this.episode, now, p.inFlight && p.deliveredTime >= 0 ? p.size : 0, p.timeSent)
    if (p.inFlight) {
      lostPacketInfo.pn = p.pn
      if (p.deliveredTime >= 0) this.cc.onPacketLost(p.size, this.sampler.onPacketLost(p, lostPacketInfo))
      else this.cc.onPacketLost(p.size)
    }
  }

  /** RFC 8985 §6.2 RACK_detect_loss (+ RFC 9002 A.10 structure and persistent congestion, §7.6). */
  private detectLost(now: number, lost: T[]): void {
    this.lossTime = Infinity
    const pcDuration = this.rtt.persistentCongestionDuration()
    const rack = this.rack
    const reoWnd = rack.reoWnd()
    const packetThreshold = !rack.reorderingSeen
    let latestLostTime = -Infinity
    // Persistent congestion: a run of consecutive packet numbers, all lost, whose
    // ack-eliciting members span more than pcDuration, starting after the first RTT sample.
    let runStart = -Infinity
    let runPrevPn = -2
    let persistent = false
    for (let i = this.head; i < this.sent.length; i++) {
      const p = this.sent[i]!
      // Only packets sent before the most recently sent delivered one can be judged (§6.2).
      if (p.pn >= rack.pn) break
      if (p.done) {
        // Acked (or lost earlier): either way it breaks a persistent-congestion run.
        runPrevPn = -2
        runStart = -Infinity
        continue
      }
      // Same expression as the loss time below, so a timer firing exactly at lossTime always
      // finds the packet lost (now - delay could round differently).
      const lossAt = p.timeSent + rack.rtt + reoWnd
      if (lossAt <= now || (packetThreshold && this.largestAcked >= p.pn + K_PACKET_THRESHOLD)) {
        this.declareLost(p, now)
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
    const pto = this.rtt.pto()
    if (this.ptoCount === 0) {
      // RFC 8985 §7.2: the first probe is a tail loss probe after 2 srtt (plus the peer's ACK
      // delay when so few packets are out that it may hold its ACK back), never later than PTO.
      const tlp = this.rack.tlpTimeout(this.ackElicitingInFlight < TLP_DELAYED_ACK_PACKETS)
      return this.timeOfLastAckEliciting + Math.min(tlp, pto)
    }
    const backoff = 2 ** Math.min(this.ptoCount, MAX_PTO_BACKOFF_EXPONENT)
    return this.timeOfLastAckEliciting + pto * backoff
  }

  /** RFC 9002 A.9 OnLossDetectionTimeout, with the first probe a TLP (RFC 8985 §7.3). */
  onTimeout(now: number): TimeoutOutcome<T> {
    const out = timeoutOutcome as TimeoutOutcome<T>
    out.lost.length = 0
    out.probeRecords.length = 0
    out.probes = 0
    if (this.lossTime !== Infinity) {
      if (now < this.lossTime) return out
      this.sampler.beginAck()
      this.detectLost(now, out.lost)
      this.finishRateSample(now)
      this.compact(now)
      return out
    }
    if (now < this.getTimeout()) return out
    const tlp = this.ptoCount === 0
    this.ptoCount++
    this.ptoTotal++
    if (tlp) {
      // TLP: one probe; new data if the stream layer has some, else the last packet's content
      // (RFC 8985 §7.3), which makes RACK see any earlier loss from its ACK.
      out.probes = 1
      for (let i = this.sent.length - 1; i >= this.head; i--) {
        const p = this.sent[i]!
        if (!p.done && p.ackEliciting) {
          out.probeRecords.push(p.record!)
          break
        }
      }
      return out
    }
    out.probes = PTO_PROBE_PACKETS
    for (let i = this.head; i < this.sent.length && out.probeRecords.length < PTO_PROBE_PACKETS; i++) {
      const p = this.sent[i]!
      if (!p.done && p.ackEliciting) out.probeRecords.push(p.record!)
    }
    // Re-arm from now so the backed-off deadline is measured from this probe (A.9 sends probes,
    // which reset time_of_last_ack_eliciting_packet when the session sends them).
    return out
  }

  /**
   * Resumption after a suspension (suspension.ts): whatever was in flight went into the outage.
   * It leaves bytesInFlight without a congestion event (the outage was not congestion; the
   * persistent congestion it caused already collapsed the window) and its records go back so
   * their data is sent again; the backed-off PTO restarts from zero.
   */
  abandonAll(now: number): T[] {
    const out: T[] = []
    for (let i = this.head; i < this.sent.length; i++) {
      const p = this.sent[i]!
      if (p.done) continue
      this.markDone(p)
      if (p.inFlight) this.cc.onPacketLost(p.size)
      if (p.record !== undefined) out.push(p.record)
    }
    this.ptoCount = 0
    this.lossTime = Infinity
    this.compact(now)
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
      spuriousLosses: this.rack.spurious,
      congestionUndos: this.congestionUndos,
      reorderingWindow: this.rack.reoWnd(),
      reorderingSeen: this.rack.reorderingSeen,
    }
  }
}

export { PassThroughLossDetector } from './loss-passthrough.js'
