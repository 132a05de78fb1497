/**
 * RACK-TLP loss detection state (RFC 8985), for the LossDetector.
 *
 * RACK: a packet is lost when a packet sent after it has been delivered and more than
 * rack.rtt + reo_wnd has passed since it was sent (§6.2), where rack.rtt is the RTT of the most
 * recently sent packet that was delivered. Our packet numbers are never reused (loss
 * re-queues *data* into new packets, stream-record.ts), so "sent after" is "higher number" and
 * every RTT sample is unambiguous.
 *
 * Reordering window (§6.2 step 4): min_rtt / 4, times a multiplier that grows by one (at most
 * once per round trip) whenever a loss turns out spurious and falls back to 1 after 16
 * recoveries without one, capped at srtt. Until reordering has been seen at all, the classic
 * three-packet threshold also applies (as RFC 8985 keeps DupThresh before reordering is seen).
 * Deviation (an adaptive threshold, which RFC 9002 §6.1.2 allows; gQUIC's adaptive time loss
 * detection does the same): a spurious loss also widens the window at once to the reordering it
 * showed (how long after RACK.rtt its ACK came), not by one step per round trip. The steps are
 * min_rtt / 4, 5 ms at 20 ms RTT, while a busy host (a receiver that is descheduled, a timer that
 * fires late) holds the ACK of a packet that 1 ms of jitter put behind its successor for 10-60 ms
 * (WAN bench, 20 ms RTT + 1 ms jitter): the window took 4-5 spurious episodes, one per round trip,
 * to get there, each a burst of 10-60 retransmissions and a congestion response until undone. At
 * 2 ms RTT the same took a few ms; at 100 ms the first step (25 ms) already covered it.
 *
 * Spurious losses (DSACK's role in TCP): an ACK for a packet number we had declared lost. The
 * LostHistory remembers recent losses so such ACKs are recognised.
 */
import type { RttEstimator } from './rtt.js'

/** RFC 8985 §6.2: reo_wnd_persist. */
export const REO_WND_PERSIST = 16
/** Packet threshold used until reordering is seen (RFC 9002 kPacketThreshold / DupThresh). */
export const RACK_PACKET_THRESHOLD = 3
/** Lost packets remembered for spurious-loss detection. */
export const LOST_HISTORY_SIZE = 4096
/**
 * A spurious loss widens the window to this much more than the reordering it showed: the next
 * late packet is as likely a little later as earlier, and a window of exactly one sample's
 * lateness left every later packet within a few % of it a near miss (test/sim/bbr.test.ts,
 * "1 % of packets 15 ms late": packets 15.3 and 16.2 ms late against windows of 15.2 and 15.7).
 * 9/8, the margin of RFC 9002's time threshold.
 */
export const SPURIOUS_WINDOW_MARGIN = 9 / 8
/** First allocation of the history (grown by doubling). */
const LOST_HISTORY_MIN = 16
const EMPTY = new Float64Array(0)
const EMPTY_SIZES = new Uint32Array(0)

export class RackState {
  /** Send time and number of the most recently sent packet that was delivered. */
  xmitTime = -Infinity
  pn = -1
  /** RTT of that packet (RFC 8985 RACK.rtt). */
  rtt = 0
  reorderingSeen = false
  reoWndMult = 1
  private reoWndPersist = REO_WND_PERSIST
  /** No second multiplier increase within one round trip (§6.2 step 4: "once per RTT"). */
  private lastIncrease = -Infinity
  /** Spurious losses detected over the session. */
  spurious = 0

  constructor(private readonly rttEst: RttEstimator) {}

  /** A newly acked packet (pn, sent at timeSent) at `now`; `largestAckedBefore` as before this ACK. */
  onAcked(pn: number, timeSent: number, now: number, largestAckedBefore: number): void {
    if (pn < largestAckedBefore) this.reorderingSeen = true
    if (pn > this.pn) {
      this.pn = pn
      this.xmitTime = timeSent
      this.rtt = now - timeSent
    }
  }

  /** RFC 8985 §6.2 RACK.reo_wnd. */
  reoWnd(): number {
    return Math.min(this.reoWndMult * this.reoWndStep(), this.rttEst.smoothedRtt)
  }

  /** One step of the window: min_rtt / 4 (srtt / 4 before any sample of min_rtt). */
  private reoWndStep(): number {
    const minRtt = Number.isFinite(this.rttEst.minRtt) ? this.rttEst.minRtt : this.rttEst.smoothedRtt
    return minRtt / 4
  }

  /** The deadline at which an outstanding packet sent at `timeSent` (before rack.xmitTime) is lost. */
  lossDeadline(timeSent: number): number {
    return timeSent + this.rtt + this.reoWnd()
  }

  /**
   * A packet sent at `timeSent` and declared lost was acked at `now` after all: reordering, so
   * widen the window: one step per round trip (§6.2 step 4), and at once as far as this packet
   * needed (see the header) plus a margin (SPURIOUS_WINDOW_MARGIN), never beyond srtt (where
   * reoWnd caps it anyway).
   */
  onSpurious(now: number, timeSent = now): void {
    this.spurious++
    this.reorderingSeen = true
    if (now - this.lastIncrease >= this.rttEst.smoothedRtt) {
      this.reoWndMult++
      this.lastIncrease = now
    }
    const step = this.reoWndStep()
    const needed = SPURIOUS_WINDOW_MARGIN * (now - timeSent - this.rtt)
    if (step > 0 && needed > this.reoWnd()) {
      const cap = Math.ceil(this.rttEst.smoothedRtt / step)
      this.reoWndMult = Math.max(this.reoWndMult, Math.min(Math.ceil(needed / step), cap))
    }
    this.reoWndPersist = REO_WND_PERSIST
  }

  /** A loss recovery episode ended: after 16 without spurious losses, reset the multiplier. */
  onRecoveryEnd(): void {
    if (--this.reoWndPersist <= 0) {
      this.reoWndMult = 1
      this.reoWndPersist = REO_WND_PERSIST
    }
  }

  /** RFC 8985 §7.2 TLP timeout: 2 srtt, plus the peer's ack delay when it may hold back the ACK. */
  tlpTimeout(fewInFlight: boolean): number {
    return 2 * this.rttEst.smoothedRtt + (fewInFlight ? this.rttEst.maxAckDelay : 0)
  }
}

/**
 * Recently lost packet numbers (ascending, a ring buffer), each with the congestion episode it
 * was counted in, so a late ACK of one of them is recognised as a spurious loss.
 */
export class LostHistory {
  // Allocated on the first loss and grown by doubling up to LOST_HISTORY_SIZE: a full-size
  // history is 144 KiB, and most sessions (every idle one) never lose a packet (issue 14: memory
  // per idle session; allocating it eagerly was also 13 % of the responder's handshake CPU).
  private pns: Float64Array = EMPTY
  private episodes: Float64Array = EMPTY
  private lostAt: Float64Array = EMPTY
  /** Send time of each (how late its ACK came, should it come: RackState.onSpurious). */
  private sentAt: Float64Array = EMPTY
  /** Bytes of each lost packet (a proof of a spurious loss gives them back to the rate sampler). */
  private sizes: Uint32Array = EMPTY_SIZES
  private cap = 0
  private head = 0
  private size = 0

  get length(): number {
    return this.size
  }

  /** Entries the history can hold before it grows (for tests and the memory budget). */
  get capacity(): number {
    return this.cap
  }

  private at(i: number): number {
    return (this.head + i) % this.cap
  }

  /** Doubles the arrays (up to LOST_HISTORY_SIZE), moving the ring to start at index 0. */
  private grow(): void {
    const cap = Math.min(LOST_HISTORY_SIZE, Math.max(LOST_HISTORY_MIN, this.cap * 2))
    const pns = new Float64Array(cap)
    const episodes = new Float64Array(cap)
    const lostAt = new Float64Array(cap)
    const sentAt = new Float64Array(cap)
    const sizes = new Uint32Array(cap)
    for (let i = 0; i < this.size; i++) {
      const j = this.at(i)
      pns[i] = this.pns[j]!
      episodes[i] = this.episodes[j]!
      lostAt[i] = this.lostAt[j]!
      sentAt[i] = this.sentAt[j]!
      sizes[i] = this.sizes[j]!
    }
    this.pns = pns
    this.episodes = episodes
    this.lostAt = lostAt
    this.sentAt = sentAt
    this.sizes = sizes
    this.cap = cap
    this.head = 0
  }

  /** Records a loss; packet numbers arrive mostly ascending (inserted in order otherwise). */
  add(pn: number, episode: number, now: number, bytes: number, sentAt = now): void {
    if (this.size === this.cap && this.cap < LOST_HISTORY_SIZE) this.grow()
    if (this.size === this.cap) {
      this.head = (this.head + 1) % this.cap
      this.size--
    }
    let i = this.size
    // Keep ascending order: shift larger entries up by one (rare: NACK order, timer order).
    while (i > 0 && this.pns[this.at(i - 1)]! > pn) {
      const from = this.at(i - 1)
      const to = this.at(i)
      this.pns[to] = this.pns[from]!
      this.episodes[to] = this.episodes[from]!
      this.lostAt[to] = this.lostAt[from]!
      this.sentAt[to] = this.sentAt[from]!
      this.sizes[to] = this.sizes[from]!
      i--
    }
    const j = this.at(i)
    this.pns[j] = pn
    this.episodes[j] = episode
    this.lostAt[j] = now
    this.sentAt[j] = sentAt
    this.sizes[j] = bytes
    this.size++
  }

  /** Forgets losses declared before `before` (the original can no longer be in flight). */
  expire(before: number): void {
    while (this.size > 0 && this.lostAt[this.head]! < before) {
      this.head = (this.head + 1) % this.cap
      this.size--
    }
    this.releaseIfEmpty()
  }

  /** A session whose loss burst is over gives the memory back (idle sessions stay small). */
  private releaseIfEmpty(): void {
    if (this.size !== 0 || this.cap === 0) return
    this.pns = this.episodes = this.lostAt = this.sentAt = EMPTY
    this.sizes = EMPTY_SIZES
    this.cap = 0
    this.head = 0
  }

  /**
   * Removes every remembered loss in [lo, hi] and calls `found(episode, bytes, sentAt)` for
   * each: those packets were declared lost but have now been acknowledged.
   */
  takeRange(lo: number, hi: number, found: (episode: number, bytes: number, sentAt: number) => void): void {
    if (this.size === 0) return
    // Binary search for the first pn >= lo.
    let a = 0
    let b = this.size
    while (a < b) {
      const m = (a + b) >>> 1
      if (this.pns[this.at(m)]! < lo) a = m + 1
      else b = m
    }
    let end = a
    while (end < this.size && this.pns[this.at(end)]! <= hi) {
      found(this.episodes[this.at(end)]!, this.sizes[this.at(end)]!, this.sentAt[this.at(end)]!)
      end++
    }
    const n = end - a
    if (n === 0) return
    // Close the gap by moving the entries after it down.
    for (let k = end; k < this.size; k++) {
      const from = this.at(k)
      const to = this.at(k - n)
      this.pns[to] = this.pns[from]!
      this.episodes[to] = this.episodes[from]!
      this.lostAt[to] = this.lostAt[from]!
      this.sentAt[to] = this.sentAt[from]!
      this.sizes[to] = this.sizes[from]!
    }
    this.size -= n
    this.releaseIfEmpty()
  }
}
