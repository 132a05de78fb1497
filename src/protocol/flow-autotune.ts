/**
 * Flow-control window auto-tuning (receive side) and send-buffer sizing, so a fast reader on
 * a long path is never window-limited: a 1 Gbit/s, 100 ms path needs ~12.5 MB in flight, far
 * more than the default windows (4 MiB per stream, 16 MiB per session).
 *
 * Receive: credit is extended when the reader has consumed half the window (recv-buffer.ts,
 * session-flow.ts). When that happens again within 2 smoothed RTTs, the window was consumed
 * faster than credit can round-trip, so it doubles (the rule of Chromium's QUIC and quinn),
 * up to the session's memory limit; the same test also runs on the reader's recent rate,
 * projected by its growth (Startup's doubling rounds, `onCreditUpdate`). A slow reader never triggers growth: its window stays
 * what the application configured, so a stalled reader still stops the writer within it.
 *
 * Send: a stream's send buffer must hold everything in flight plus what the next round trip
 * sends, so its high-water mark follows 2 x cwnd (bounded by the same limit); the configured
 * streamSendBuffer is the floor.
 *
 * Sans-I/O: the session writes the time and RTT into `FlowTuning` as it handles packets.
 */

import { asDouble } from './as-double.js'

/** Shared by a session's StreamManager, its streams and its SessionFlow. */
export class FlowTuning {
  /** Time of the latest event the session handled (ms). */
  now = 0
  /** Smoothed RTT (ms). */
  srtt = 333
  /** Current congestion window (bytes), for the send buffer; fractions after Startup (as-double.ts). */
  cwnd = asDouble(0)

  constructor(
    /** Upper bound of any receive window and send buffer of the session (bytes). */
    readonly limit: number,
  ) {}

  /** Send-buffer high-water mark: the configured floor, or 2 x cwnd when that is larger. */
  sendHighWater(configured: number): number {
    return Math.max(configured, Math.min(2 * this.cwnd, this.limit))
  }
}

/** One receive window (a stream's or the session's) that may grow. */
export class WindowTuner {
  private lastUpdate = -Infinity
  /** Since when a hole at the reader's offset holds back data behind it (-1: none). */
  private holeSince = -1
  /** Longest time one hole held the reader back since the last credit update (ms). */
  private holeTime = 0
  /** When growBehindHole last grew the window. */
  private lastHoleGrowth = -Infinity
  /**
   * Checkpoint (time, bytes consumed and received so far) and the reader's rate (bytes per ms)
   * over the two intervals before it, each at least one srtt long (onArrival).
   */
  private markTime = -Infinity
  private markConsumed = 0
  private markReceived = 0
  private lastRate = 0
  private prevRate = 0

  constructor(
    public window: number,
    private readonly tuning: FlowTuning | null,
  ) {}

  /**
   * Called when credit is about to be extended, with the bytes received but not yet read;
   * returns the (possibly grown) window. A reader holding a quarter of the window unread is
   * the bottleneck itself: more credit would only buffer more (and `now` may be stale when
   * the reader runs on its own timer with no packets arriving).
   */
  onCreditUpdate(unread: number): number {
    const t = this.tuning
    if (t === null) return this.window
    if (this.holeSince >= 0) this.holeTime = Math.max(this.holeTime, t.now - this.holeSince)
    const held = this.holeTime
    this.holeTime = 0
    // A hole's filling makes a burst readable at once, so right after one `unread` says nothing.
    const keepsUp = held > 0 || unread < this.window / 4
    // Half the window consumed within 2 srtt means a rate above window / (4 srtt). Timed only
    // from the previous update, the first update never grew the window, and in Startup (the
    // rate doubles every round) the window lagged: the sender sat without stream credit for most
    // of a round near the end of Startup (sim, 16 MiB, default windows: 79 ms at 100 ms RTT,
    // 7 ms at 20 ms). So the same test also runs on the reader's recent rate, projected one
    // round ahead by its growth over the last round (Startup's doubling; Linux's receive-buffer
    // autotuning counts slow start's growth the same way): a steady reader needs what the
    // 2-srtt rule gives it, a reader that doubles each round needs twice that. The rate is
    // measured over intervals of at least one srtt (bursty reads average out); a slow reader
    // does not keep up (`keepsUp`) and its rate is low, so its window still does not grow.
    const growth = this.prevRate > 0 ? Math.min(2, Math.max(1, this.lastRate / this.prevRate)) : 1
    const fast = t.now - this.lastUpdate < 2 * t.srtt + held || 4 * this.lastRate * growth * t.srtt > this.window
    if (fast && keepsUp && this.window < t.limit) this.window = Math.min(2 * this.window, t.limit)
    this.lastUpdate = t.now
    return this.window
  }

  /**
   * Data arrived: `received` bytes in all (highest offset), of which the reader has consumed
   * `consumed`. The checkpoint moves here, not as the reader reads: `now` is fresh when packets
   * are handled, but a reader on its own timer may read while it is stale (the sender blocked,
   * nothing arriving), and a stale span made a 100 KB/s reader look like 650 KB/s. An
   * interval's rate is what was consumed, at most what arrived: a hole's filling makes a window
   * readable at once (sim, 2 ms RTT with jitter and a stalling reader: 850 Mbit/s consumed over
   * 5 ms of a 320 Mbit/s stream).
   */
  onArrival(consumed: number, received: number): void {
    const t = this.tuning
    if (t === null || t.now - this.markTime < t.srtt) return
    if (this.markTime !== -Infinity) {
      this.prevRate = this.lastRate
      this.lastRate = Math.min(consumed - this.markConsumed, received - this.markReceived) / (t.now - this.markTime)
    }
    this.markTime = t.now
    this.markConsumed = consumed
    this.markReceived = received
  }

  /**
   * The peer has (nearly) used up its credit while a hole holds the reader back: the reader
   * cannot consume, so the half-window rule above cannot extend the credit until the hole's
   * retransmission arrives (1.5 RTT, more when that is lost too), and meanwhile the sender sits
   * blocked. Startup doubles its flight each round, faster than credit updates grow the window,
   * so early on this blocked the sender for a round or more at a time (sim at 10 % loss,
   * 360 Mbit/s, 20 ms RTT: credit-blocked 17 % of Startup). Grows the window now (doubling, at
   * most once per smoothed RTT: Startup's pace) so the caller can grant credit at once.
   *
   * Memory stays bounded: the window never exceeds `limit` (sessionMemoryLimit), and the
   * session's own window (the sum over its streams) grows by this same rule under the same
   * limit, so a peer that leaves a hole open on purpose makes a session buffer at most the
   * limit, as much as a fast reader's window could reach anyway. A reader that is itself slow
   * has in-order data waiting (no hole at its offset), so its window does not grow.
   */
  growBehindHole(): boolean {
    const t = this.tuning
    if (t === null || this.window >= t.limit || t.now - this.lastHoleGrowth < t.srtt) return false
    this.window = Math.min(2 * this.window, t.limit)
    this.lastHoleGrowth = t.now
    return true
  }

  /**
   * The reader is (or is no longer) held back by a hole with data behind it. The longest such
   * wait counts into the credit loop's round trip (the longest, not the sum: reordering keeps
   * a short hole open nearly all the time, and that needs no more window): with random loss a hole lasts until its retransmission
   * arrives (1.5 RTT, more when that is lost too) and everything behind it waits in the
   * window, so a reader that keeps up still needs several BDPs of window. Without this the
   * 2-srtt rule never fired (sim at 10 % loss, 360 Mbit/s, 20 ms RTT: half the 4 MiB window,
   * 4.6 BDP, took 2.5 srtt to consume, and the sender sat without credit for 3 RTTs behind
   * retransmissions lost twice). A slow reader is rarely held by a hole (it has data to read),
   * so its window still does not grow.
   */
  onHole(held: boolean): void {
    const t = this.tuning
    if (t === null || held === this.holeSince >= 0) return
    if (held) {
      this.holeSince = t.now
    } else {
      this.holeTime = Math.max(this.holeTime, t.now - this.holeSince)
      this.holeSince = -1
    }
  }
}
