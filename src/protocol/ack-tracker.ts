/**
 * Receive-side packet bookkeeping: which packet numbers arrived, when an ACK is due, and
 * which gaps to report in a NACK (STT's fast-retransmit request).
 *
 * ACK policy (RFC 9000 §13.2.1-13.2.2): immediately after every 2nd ack-eliciting packet, or when
 * an ack-eliciting packet opens a gap or arrives out of order (fills one); otherwise within
 * maxAckDelay of the first unacknowledged ack-eliciting packet, or, once two or more wait or a
 * full-size one does, within two RTTs of the first (min RTT, or smoothed if less; 1 ms at least)
 * if that is sooner. Non-ack-eliciting packets never trigger an ACK on their own. Why the RTT
 * bound: session.ts raises the threshold to 8 packets, and a sender whose whole flight is smaller
 * (a cwnd or inflight_hi of a few packets after losses) waited 25 ms for each ACK, 60 RTTs at 0.4
 * ms: next to a kernel TCP CUBIC flow at a 2 ms tbf queue (bench/tbf.mjs --latency 2ms) BBR spent
 * over half its time in such rounds and got 0.20x of TCP's rate (median of 28 runs, 0.10-0.84;
 * with the bound 0.79x, median of 12). Why two packets or a full one: the default threshold (RFC
 * 9000) is two, so an ACK for two is owed anyway and only waits to gather more, and a full-size
 * packet says its sender had more to send than fit, so a lone one is most likely a window-limited
 * flight's. A lone small packet (a request whose answer takes a few ms) still waits for the answer
 * to carry its ACK: bounding every lone packet cost an ACK-only packet per request at 2 ms of
 * think time (bench/rpc-think.mjs) and did no better on that tbf path (0.40x, median of 24; the
 * runs spread too widely to rank the variants). What it costs: a request of two or more packets
 * (or one full one) answered after more than max(1 ms, 2 RTTs) but within 25 ms draws one ACK-only
 * packet before its answer (bench/rpc-think.mjs, 4,000-byte requests at 2 ms: 3.98 packets
 * received per request against 3.00, and 513 against 235 µs of CPU: the ACK timer and the peer's
 * receive each wake an idle process), and one-way small messages further apart than 2 RTTs are
 * acked every second packet (RFC 9000's default) rather than every 25 ms. At a min RTT of 12.5 ms
 * or more the bound is max_ack_delay itself, so longer paths are acked as before. A late arrival
 * (one that fills a gap) is acknowledged at most 1/8 RTT (min RTT, or smoothed if less) after the
 * previous ACK: on a path that reorders every packet (per-datagram jitter) each one drew an ACK,
 * as many ACK packets as data packets for both ends to seal, send and open. 1/8 min RTT late is
 * still well inside the sender's RACK reordering window (>= 1/4 min RTT, rack.ts), so the
 * reordered packet is not declared lost; at a low packet rate, with packets further apart than
 * that, it is still acknowledged at once. A new gap is acknowledged at once (loss detection starts
 * from it), except on a path that has reordered lately (a reordering delay above 0, see the NACK
 * policy): there nearly every receive batch opens one, and each drew an ACK-only packet (small
 * batches: 2 ms WAN path with 1 ms jitter, +73 % ACK packets). It is acknowledged as a late
 * arrival is (RFC 9000 §13.2.1 allows it; the ACK-frequency draft's "ignore order" does the same).
 * A real loss there reaches the sender's RACK at most that 1/8 min RTT later (its deadline counts
 * from the lost packet's send time plus the RTT of the newest acked one, so it moves by no more
 * than the ACK does), and the NACK, which has its own timer, not at all.
 *
 * NACK policy: a packet number missing below the largest received is reported once it is
 * reorder-threshold packets behind (3) or has been missing for 9/8 RTT (the same thresholds the
 * sender's loss detection uses, RFC 9002 §6.1), at most twice per number, one RTT apart. On a
 * path that reorders, the packet threshold also waits until the number has been missing for
 * 9/8 of the reordering delay seen lately (how late a gap's packet arrived, measured when one
 * fills; a gap in packet numbers is only ever filled by the reordered original, since a
 * retransmission gets a new number). Else, with per-datagram jitter, nearly every packet was
 * NACKed before it arrived: a NACK frame in every ACK, each making the sender run its loss
 * detection over the whole flight, for nothing (RACK waits out its reordering window anyway).
 * A real loss is reported at most that delay later, never later than the 9/8 RTT time rule;
 * a path that does not reorder has a delay of 0, as before. The delay is the largest lateness
 * of the current and the previous window of REORDER_DELAY_MEMORY_RTTS smoothed RTTs (a windowed
 * max, as BBR's filters): one outlier is forgotten two windows on, so a path that stops
 * reordering gets its prompt NACKs back, while a new window's first small samples do not undercut
 * the lateness the path showed just before (a burst of NACKs sent too early).
 *
 * Old ranges are forgotten once the peer acknowledged a packet carrying an ACK that covered
 * them (RFC 9000 §13.2.4): onAckFrameAcked(largestInThatAck), but never past an ack-eliciting
 * packet that arrived after that ACK was written and no ACK frame carried yet: a stalled receiver
 * read late packets and the ack-of-ack in one batch, the floor passed them before its next ACK,
 * and the sender's RACK declared them lost and retransmitted them, never to see them acked (so
 * never proved spurious, no undo).
 */
import { FrameType } from './constants.js'
import { type AckFrame, MAX_ACK_RANGES, MAX_NACK_COUNT, type NackFrame, frameSize, writeFrame } from './frames.js'
import { RangeSet } from './range-set.js'
import { K_GRANULARITY, K_TIME_THRESHOLD } from './rtt.js'
import { varintSize, writeVarint } from './varint.js'

export const DEFAULT_ACK_ELICITING_THRESHOLD = 2
export const DEFAULT_REORDER_THRESHOLD = 3
/** Received ranges kept at most; older ones are dropped (the peer has long declared them). */
export const MAX_TRACKED_RANGES = 256
/** Missing packet numbers tracked for NACK at most (the newest ones win). */
export const MAX_TRACKED_MISSING = 256
export const MAX_NACKS_PER_PACKET = 2
/** A late arrival is acknowledged at most this fraction of the RTT after the previous ACK (see above). */
export const LATE_ARRIVAL_ACK_SPACING = 1 / 8
/** Length of a reordering-delay window in smoothed RTTs (the delay is the max of two, see above). */
export const REORDER_DELAY_MEMORY_RTTS = 4
/**
 * A packet whose frames come within this many bytes of the session's packet size is full-size
 * for the ACK policy: the header and AEAD tag take 35 of them, and a writer that filled the rest
 * leaves less than a stream frame's header unused.
 */
export const FULL_PACKET_SLACK = 64
/** An ACK waits for the ack-eliciting threshold at most this many RTTs (see the header). */
export const SHORT_ACK_WAIT_RTTS = 2
/** Placeholder of the missing-packet arrays while none is tracked (never written). */
const NONE_MISSING: number[] = []
/** missNacks value of an entry no longer tracked (arrived, NACKed for the last time, or dropped). */
const DEAD = -1

export interface AckTrackerOptions {
  /** Our max_ack_delay in ms (what we promised the peer). Default 25. */
  maxAckDelay?: number
  ackElicitingThreshold?: number
  reorderThreshold?: number
  /** Set false to never produce NACK frames. */
  nack?: boolean
}

/** Result of onPacketReceived. */
export type ReceiveStatus = 'new' | 'duplicate' | 'too-old'

export class AckTracker {
  private readonly received = new RangeSet()
  /** Packet numbers below this were forgotten (peer saw our ACK of them). */
  private floor = 0
  largestReceived = -1
  private largestReceivedTime = 0
  /** Any packet arrived since the last ACK we sent. */
  private ackPending = false
  private ackElicitingSinceAck = 0
  /** When the first of the ack-eliciting packets not yet acknowledged arrived. */
  private firstPendingAt = 0
  /** When an ACK must go out (Infinity: none due). */
  private ackDeadline = Infinity
  /** When the last ACK was written (late-arrival ACK spacing). */
  private lastAckAt = -Infinity
  /**
   * Lowest ack-eliciting packet number no ACK frame carried yet (Infinity: none); the floor stays
   * at or below it. One number, not a set: a frame that carries it carries everything above too,
   * except when it was cut short (room, MAX_ACK_RANGES), and then this stays, a bound on the low side.
   */
  private unreportedLow = Infinity

  // Missing packet numbers for NACK, in parallel arrays (ascending pn): the shared empty
  // placeholder until a gap is seen and again once none is left (idle memory, issue 14). A
  // number that arrived (or was NACKed for the last time) is marked DEAD in missNacks and
  // skipped, not spliced out of four arrays: on a reordering path nearly every packet opens or
  // fills a gap, and the splices and indexOf scans were the receiver's most costly bookkeeping
  // (1 ms-jitter WAN path). Dead entries are dropped in one pass once they outnumber the live.
  private missPn: number[] = NONE_MISSING
  private missSince: number[] = NONE_MISSING
  private missNacks: number[] = NONE_MISSING
  private missLastNack: number[] = NONE_MISSING
  /** Entries of the miss arrays not DEAD. */
  private missLive = 0
  /** Reordering delay (ms): the larger of the two window maxima below (see the NACK policy above). */
  private reorderDelay = 0
  /** Largest lateness seen in the current window, and in the one before it. */
  private reorderWindowMax = 0
  private reorderPrevWindowMax = 0
  /** When the current window began (windows follow each other, REORDER_DELAY_MEMORY_RTTS srtt long). */
  private reorderWindowStart = -Infinity
  /**
   * Earliest time a live missing entry can fall due (NaN: to compute again), and the smoothed
   * RTT it was computed with. A lower bound: arrivals only remove entries. With the reordering
   * wait most checks find nothing due, and each scanned the whole list (per packet written).
   */
  private nackAt = NaN
  private nackAtSrtt = 0

  private readonly maxAckDelay: number
  private readonly ackElicitingThreshold: number
  private readonly reorderThreshold: number
  private readonly nackEnabled: boolean
  /** Largest packet number covered by the last ACK written (store it in that packet's record). */
  lastAckLargest = -1

  constructor(
    opts: AckTrackerOptions = {},
    private readonly rtt: { readonly smoothedRtt: number; readonly minRtt?: number; readonly hasSample?: boolean } = { smoothedRtt: 333 },
  ) {
    this.maxAckDelay = opts.maxAckDelay ?? 25
    this.ackElicitingThreshold = opts.ackElicitingThreshold ?? DEFAULT_ACK_ELICITING_THRESHOLD
    this.reorderThreshold = opts.reorderThreshold ?? DEFAULT_REORDER_THRESHOLD
    this.nackEnabled = opts.nack ?? true
  }

  /**
   * Records an authenticated packet. Duplicates are reported, not re-acked. `full`: the packet
   * is (about) as large as the path allows, so its sender had more to send than fit (see the header).
   */
  onPacketReceived(pn: number, ackEliciting: boolean, now: number, full = false): ReceiveStatus {
    if (pn < this.floor) return 'too-old'
    if (this.received.contains(pn)) return 'duplicate'
    if (now - this.reorderWindowStart >= REORDER_DELAY_MEMORY_RTTS * this.rtt.smoothedRtt) this.nextReorderWindow(now)
    const prevLargest = this.largestReceived
    this.received.add(pn, pn + 1)
    if (ackEliciting && pn < this.unreportedLow) this.unreportedLow = pn
    if (this.received.count > MAX_TRACKED_RANGES) {
      this.received.truncateLow(MAX_TRACKED_RANGES)
      this.raiseFloor(this.received.min())
    }
    let opensGap = false
    let fillsGap = false
    if (pn > prevLargest) {
      this.largestReceived = pn
      // Entries it puts reorder-threshold behind fall due earlier: compute the bound again. (Folding
      // just those in, instead, measured 4-5 instr/B more on each side of the 1 ms-jitter replay.)
      this.nackAt = NaN
      this.largestReceivedTime = now
      if (pn > prevLargest + 1 && prevLargest >= 0) {
        opensGap = true
        this.noteMissing(prevLargest + 1, pn, now)
      }
    } else {
      fillsGap = true
      this.forgetMissing(pn, now)
    }
    this.ackPending = true
    if (ackEliciting) {
      if (++this.ackElicitingSinceAck === 1) this.firstPendingAt = now
      // A new gap on a path that has reordered lately waits as a late arrival does (see the header).
      if (this.ackElicitingSinceAck >= this.ackElicitingThreshold || (opensGap && this.reorderDelay === 0)) this.ackDeadline = now
      else if (fillsGap || opensGap) this.ackDeadline = Math.min(this.ackDeadline, Math.max(now, this.lastAckAt + this.lateArrivalAckSpacing()))
      else if (this.ackDeadline === Infinity) this.ackDeadline = now + this.maxAckDelay
      if (this.ackElicitingSinceAck === 2 || (full && this.ackElicitingSinceAck === 1)) this.ackDeadline = Math.min(this.ackDeadline, this.firstPendingAt + this.shortAckDelay())
    }
    return 'new'
  }

  /**
   * How long two or more ack-eliciting packets (or a full-size one) wait for the threshold:
   * max_ack_delay before the first RTT sample, then the smaller of max_ack_delay and two RTTs
   * (the smaller of min and smoothed RTT; 1 ms at least). See the header.
   */
  private shortAckDelay(): number {
    if (this.rtt.hasSample === false) return this.maxAckDelay
    return Math.min(this.maxAckDelay, Math.max(SHORT_ACK_WAIT_RTTS * this.pathRtt(), K_GRANULARITY))
  }

  /** The RTT the ACK timing scales with: min RTT, or smoothed if less. */
  private pathRtt(): number {
    return Math.min(this.rtt.minRtt ?? Infinity, this.rtt.smoothedRtt)
  }

  /**
   * 0 until the RTT estimator has a sample: a receiver's first sample comes from an ACK of
   * something it sent, so one that has only sent ACKs has none for the first rounds of a
   * transfer, and 1/8 of the 333 ms default held the ACK of a late first-flight packet 41.6 ms,
   * past the sender's rtt + reo_wnd (rack.ts): declared lost, retransmitted, proved spurious a
   * round later (issue 9; sim, 20 ms RTT + 1 ms jitter: 6 of 13 first-flight packets).
   */
  private lateArrivalAckSpacing(): number {
    if (this.rtt.hasSample === false) return 0
    return LATE_ARRIVAL_ACK_SPACING * this.pathRtt()
  }

  private noteMissing(from: number, to: number, now: number): void {
    if (!this.nackEnabled) return
    if (to - from > MAX_TRACKED_MISSING) from = to - MAX_TRACKED_MISSING
    if (from < to && this.missPn === NONE_MISSING) {
      this.missPn = []
      this.missSince = []
      this.missNacks = []
      this.missLastNack = []
    }
    for (let pn = from; pn < to; pn++) {
      this.missPn.push(pn)
      this.missSince.push(now)
      this.missNacks.push(0)
      this.missLastNack.push(-Infinity)
    }
    this.missLive += Math.max(0, to - from)
    // The newest win: the oldest live ones go.
    for (let i = 0; this.missLive > MAX_TRACKED_MISSING; i++) if (this.missNacks[i] !== DEAD) this.kill(i)
    this.compactMissing()
  }

  /** Index of `pn` in missPn (dead or alive), or -1. */
  private missIndex(pn: number): number {
    const a = this.missPn
    let lo = 0
    let hi = a.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (a[mid]! < pn) lo = mid + 1
      else hi = mid
    }
    return lo < a.length && a[lo] === pn ? lo : -1
  }

  private kill(i: number): void {
    this.missNacks[i] = DEAD
    this.missLive--
  }

  /**
   * Drops the dead entries once they outnumber the live ones (each scan then stays within twice
   * the live count), and every array once none is live.
   */
  private compactMissing(): void {
    const n = this.missPn.length
    if (this.missLive === 0) {
      if (n > 0) this.missPn = this.missSince = this.missNacks = this.missLastNack = NONE_MISSING
      return
    }
    if (n - this.missLive <= Math.max(16, this.missLive)) return
    let k = 0
    for (let i = 0; i < n; i++) {
      if (this.missNacks[i] === DEAD) continue
      this.missPn[k] = this.missPn[i]!
      this.missSince[k] = this.missSince[i]!
      this.missNacks[k] = this.missNacks[i]!
      this.missLastNack[k] = this.missLastNack[i]!
      k++
    }
    this.missPn.length = this.missSince.length = this.missNacks.length = this.missLastNack.length = k
  }

  private forgetMissing(pn: number, now: number): void {
    const i = this.missIndex(pn)
    if (i >= 0 && this.missNacks[i] !== DEAD) {
      this.noteLateness(now - this.missSince[i]!)
      this.kill(i)
      this.compactMissing()
    }
  }

  /** A gap's packet arrived `late` ms after a later one: a reordering delay sample. */
  private noteLateness(late: number): void {
    if (late > this.reorderWindowMax) this.reorderWindowMax = late
    // A longer wait only moves due times later: the cached nackAt stays a lower bound.
    if (late > this.reorderDelay) this.reorderDelay = late
  }

  /**
   * The current reordering-delay window is over (checked at each arrival, so the delay is
   * constant between arrivals): it becomes the previous one, or, when a whole window passed
   * without an arrival, both are empty. Windows are laid end to end from the first one.
   */
  private nextReorderWindow(now: number): void {
    const span = REORDER_DELAY_MEMORY_RTTS * this.rtt.smoothedRtt
    const windows = Math.floor((now - this.reorderWindowStart) / span)
    this.reorderPrevWindowMax = windows === 1 ? this.reorderWindowMax : 0
    this.reorderWindowMax = 0
    this.reorderWindowStart = Number.isFinite(windows) ? this.reorderWindowStart + windows * span : now
    const delay = this.reorderPrevWindowMax
    // A shorter wait moves due times earlier: the cached bound must be computed again.
    if (delay < this.reorderDelay) this.nackAt = NaN
    this.reorderDelay = delay
  }

  /** How long a missing number waits, once reorder-threshold packets behind, before its first NACK. */
  private get packetThresholdWait(): number {
    return K_TIME_THRESHOLD * this.reorderDelay
  }

  /** Something arrived that we have not acknowledged yet (piggyback an ACK if there is room). */
  get hasNewPackets(): boolean {
    return this.ackPending
  }

  /** True when an ACK must be sent now. */
  ackDue(now: number): boolean {
    return this.ackPending && now >= this.ackDeadline
  }

  /**
   * Earliest of the ACK deadline and the next NACK time threshold; Infinity when idle. Not
   * before `now` unless something is due: a cached NACK bound that has passed is computed again
   * (the entry it was for may have arrived or been NACKed), so a timer is never set for the past.
   */
  getTimeout(now: number): number {
    const t = this.ackPending ? this.ackDeadline : Infinity
    return this.nackEnabled ? Math.min(t, this.nackAtRefreshed(now)) : t
  }

  /**
   * nextNackAt, computed again when the cached bound is not in the future: an entry that
   * filled or was NACKed leaves it too early, and a timer set for it must find it moved on (no
   * livelock). This is why neither invalidates the cache: an arrival only removes an entry, a
   * NACK only moves one later, so the bound stays a lower bound until it passes.
   */
  private nackAtRefreshed(now: number): number {
    const at = this.nextNackAt()
    if (at > now) return at
    this.nackAt = NaN
    return this.nextNackAt()
  }

  /** Earliest time a live missing entry falls due for a NACK (cached, see nackAt). */
  private nextNackAt(): number {
    const srtt = this.rtt.smoothedRtt
    if (!Number.isNaN(this.nackAt) && srtt === this.nackAtSrtt) return this.nackAt
    this.nackAt = this.earliestDue(srtt)
    this.nackAtSrtt = srtt
    return this.nackAt
  }

  /** Earliest due time of the live entries. */
  private earliestDue(srtt: number): number {
    let t = Infinity
    for (let i = 0; i < this.missPn.length; i++) {
      if (this.missNacks[i] === DEAD) continue
      const at = this.dueAt(i, srtt)
      if (at < t) t = at
    }
    return t
  }

  /**
   * When live entry i falls due for a NACK: one RTT after its last NACK, else 9/8 RTT after it
   * went missing or, once reorder-threshold packets behind, 9/8 of the reordering delay if that
   * is sooner. The timer (earliestDue) and the check (missDue) both read this one sum, so a timer
   * firing at it always finds the entry due.
   */
  private dueAt(i: number, srtt: number): number {
    if (this.missNacks[i]! > 0) return this.missLastNack[i]! + srtt
    const wait = K_TIME_THRESHOLD * srtt
    const behind = this.largestReceived >= this.missPn[i]! + this.reorderThreshold
    return this.missSince[i]! + (behind ? Math.min(wait, this.packetThresholdWait) : wait)
  }

  /** The ACK frame we would send now (no state change); null when nothing was received. */
  buildAck(now: number, maxRanges = MAX_ACK_RANGES): AckFrame | null {
    const n = this.received.count
    if (n === 0) return null
    const ranges: Array<[number, number]> = []
    for (let i = n - 1; i >= 0 && ranges.length < maxRanges; i--) {
      ranges.push([this.received.start(i), this.received.end(i) - 1])
    }
    const delayMicros = Math.max(0, Math.round((now - this.largestReceivedTime) * 1000))
    return { type: FrameType.ACK, ackDelayMicros: delayMicros, ranges }
  }

  /**
   * Writes an ACK frame at pos if it fits in [pos, end) (dropping the oldest ranges as needed)
   * and resets the ACK timer; returns the new position (pos unchanged when nothing fits or
   * there is nothing to ack). lastAckLargest then holds the largest number it covered.
   * Encodes straight from the range set (frames.ts ACK layout, RFC 9000 §19.3): no allocation.
   */
  writeAck(buf: Uint8Array, pos: number, end: number, now: number): number {
    const rs = this.received
    const n = rs.count
    if (n === 0) return pos
    const top = n - 1
    const largest = rs.end(top) - 1
    const delay = Math.max(0, Math.round((now - this.largestReceivedTime) * 1000))
    // Range count is < MAX_ACK_RANGES (64), so its varint is one byte.
    let size = 1 + varintSize(largest) + varintSize(delay) + 1 + varintSize(largest - rs.start(top))
    if (size > end - pos) return pos
    let k = 1
    for (let i = top - 1; i >= 0 && k < MAX_ACK_RANGES; i--, k++) {
      const hi = rs.end(i) - 1
      const more = varintSize(rs.start(i + 1) - hi - 2) + varintSize(hi - rs.start(i))
      if (size + more > end - pos) break
      size += more
    }
    buf[pos++] = FrameType.ACK
    pos = writeVarint(buf, pos, largest)
    pos = writeVarint(buf, pos, delay)
    pos = writeVarint(buf, pos, k - 1)
    pos = writeVarint(buf, pos, largest - rs.start(top))
    for (let i = top - 1; i > top - k; i--) {
      const hi = rs.end(i) - 1
      pos = writeVarint(buf, pos, rs.start(i + 1) - hi - 2)
      pos = writeVarint(buf, pos, hi - rs.start(i))
    }
    if (this.unreportedLow >= rs.start(top - k + 1)) this.unreportedLow = Infinity
    this.lastAckAt = now
    this.ackWritten(largest)
    return pos
  }

  /** Resets the ACK timer after an ACK covering every packet up to `largest` was sent. */
  onAckSent(largest: number): void {
    // (a bound: packets above `largest` may not be carried)
    if (this.unreportedLow <= largest) this.unreportedLow = largest >= this.largestReceived ? Infinity : largest + 1
    this.ackWritten(largest)
  }

  private ackWritten(largest: number): void {
    this.lastAckLargest = largest
    this.ackPending = false
    this.ackElicitingSinceAck = 0
    this.ackDeadline = Infinity
  }

  /**
   * The peer acknowledged a packet that carried our ACK with largest `largest`: it knows
   * about everything up to there, so stop reporting it (RFC 9000 §13.2.4).
   */
  onAckFrameAcked(largest: number): void {
    // Not past a packet no frame carried yet (see the header).
    const floor = Math.min(largest + 1, this.unreportedLow)
    if (floor <= this.floor) return
    this.raiseFloor(floor)
    this.received.removeBelow(this.floor)
  }

  /** Forgets everything below `floor`, including gaps we would otherwise still NACK. */
  private raiseFloor(floor: number): void {
    this.floor = floor
    // (MAX_TRACKED_RANGES dropped it: a bound below the floor would hold the floor still.)
    if (this.unreportedLow < floor) this.unreportedLow = Infinity
    for (let i = 0; i < this.missPn.length && this.missPn[i]! < floor; i++) if (this.missNacks[i] !== DEAD) this.kill(i)
    this.compactMissing()
  }

  /** True when a NACK frame has something to report at `now` (a scan that stops at the first). */
  nackDue(now: number): boolean {
    if (!this.nackEnabled || now < this.nackAtRefreshed(now)) return false
    for (let i = this.missPn.length - 1; i >= 0; i--) if (this.missDue(i, now)) return true
    return false
  }

  /** Entry i is live and due for a NACK at `now`. */
  private missDue(i: number, now: number): boolean {
    // (a live entry has been NACKed fewer than MAX_NACKS_PER_PACKET times: markNacked kills it at that)
    return this.missNacks[i] !== DEAD && now >= this.dueAt(i, this.rtt.smoothedRtt)
  }

  /** The NACK frame to send now and marks its numbers as reported; null when nothing is due. */
  buildNack(now: number): NackFrame | null {
    const pns = this.collectNack(now)
    if (pns === null) return null
    this.markNacked(pns, now)
    return { type: FrameType.NACK, packetNumbers: pns }
  }

  /** Writes a NACK frame if one is due and fits; returns the new position. */
  writeNack(buf: Uint8Array, pos: number, end: number, now: number): number {
    const room = end - pos
    if (room < 4) return pos
    const pns = this.collectNack(now)
    if (pns === null) return pos
    const f: NackFrame = { type: FrameType.NACK, packetNumbers: pns }
    while (pns.length > 0 && frameSize(f) > room) pns.pop()
    if (pns.length === 0) return pos
    this.markNacked(pns, now)
    return writeFrame(buf, pos, f)
  }

  /** The numbers due for a NACK at `now`, newest first (at most MAX_NACK_COUNT), or null. */
  private collectNack(now: number): number[] | null {
    if (!this.nackEnabled || now < this.nackAtRefreshed(now)) return null
    let pns: number[] | null = null
    for (let i = this.missPn.length - 1; i >= 0; i--) {
      if (!this.missDue(i, now)) continue
      ;(pns ??= []).push(this.missPn[i]!)
      if (pns.length >= MAX_NACK_COUNT) break
    }
    return pns
  }

  private markNacked(pns: readonly number[], now: number): void {
    for (const pn of pns) {
      const i = this.missIndex(pn)
      if (i < 0 || this.missNacks[i] === DEAD) continue
      const n = this.missNacks[i]! + 1
      // NACKed for the last time: forget it. Kept, it was skipped by every NACK check (per
      // packet written) until the floor passed it; on a reordering path the list filled with
      // them (the peer's ACK-only packets, never retransmitted) and collectNack was the data
      // sender's hottest function (9 % of its CPU on the 1 ms-jitter WAN path).
      if (n >= MAX_NACKS_PER_PACKET) this.kill(i)
      else {
        this.missNacks[i] = n
        this.missLastNack[i] = now
      }
    }
    this.compactMissing()
  }
}
