/**
 * Token-bucket pacer. The rate is the controller's own pacing rate when it sets one (BBR:
 * pacing_gain x bandwidth), else RFC 9002 §7.7's N * cwnd / srtt with N = 1.25 so pacing never
 * becomes the bottleneck of a window-based controller.
 *
 * Quantum (what may leave back to back): the bucket holds BURST_INTERVAL_MS of the current
 * rate, at least `burstPackets` datagrams. The driver's only clock is a Node timer that fires
 * at 1 ms granularity at best (often 1-2 ms late), and everything a turn may send goes out as
 * one sendmmsg/GSO batch: a bucket smaller than ~2 ms of sending would cap the rate at
 * bucket / 1 ms however large the window is (quinn uses the same 2 ms burst interval: two of
 * BBR's 1 ms send quanta, one timer tick and one late tick). At 100 Mbit/s the burst is 25 KB
 * (17 datagrams), at 1 Gbit/s 250 KB; the bottleneck queue must absorb one burst, which is
 * what BBR's flight floor of three send quanta covers (bbr.ts quantizationBudget).
 */
import { asDouble } from '../as-double.js'

export const PACING_GAIN = 1.25
export const DEFAULT_BURST_PACKETS = 4
export const BURST_INTERVAL_MS = 2
/**
 * A sender that was held back by the pacer and woke late (a busy event loop, a 1 ms timer
 * firing after 3-10 ms) may catch up on the time it overslept, up to this many ms of the rate:
 * otherwise every late timer is sending time lost for good, the delivery rate falls below the
 * pacing rate, and BBR's estimate (what was delivered) follows it down. Not more than BBR's
 * flight floor budgets for the bottleneck's queue (three 1 ms send quanta): with 8 ms, one late
 * timer let 200 KB go at once at 200 Mbit/s, which on top of the standing flight overflowed the
 * tbf benchmark's queue (its drops cut BBR's inflight_hi).
 */
export const MAX_CATCH_UP_MS = 3
/**
 * A late wake that lost at least this much sending time beyond the catch-up (and at least
 * STALL_RTT_FRACTION of the smoothed RTT) is a stall of the sender itself, not timer jitter:
 * its event loop was busy or descheduled (two node processes and the network emulator on
 * 2 vCPUs stalled 19-46 ms at a time in the WAN benchmark). Below it, a 1 ms timer firing
 * 1-2 ms late never counts.
 */
export const STALL_MIN_MS = 4
export const STALL_RTT_FRACTION = 1 / 4

export class Pacer {
  private tokens: number
  private lastRefill = -Infinity
  /** The last nextSendTime said "later": the sender is pacing-limited, not idle. */
  private held = false
  /** Sending time (ms) a stall cost since the last takeStall(): budget discarded beyond the catch-up. */
  private stalledMs = asDouble(0)
  private readonly minCapacity: number

  constructor(
    private readonly cc: { readonly cwnd: number; pacingRate?(): number },
    private readonly rtt: { readonly smoothedRtt: number },
    readonly maxDatagramSize = 1200,
    burstPackets = DEFAULT_BURST_PACKETS,
    private readonly gain = PACING_GAIN,
  ) {
    this.minCapacity = burstPackets * maxDatagramSize
    this.tokens = this.minCapacity
  }

  /** Bytes that may leave back to back now (the send quantum). */
  get capacity(): number {
    const r = this.rate()
    return r === Infinity ? Infinity : Math.max(this.minCapacity, r * BURST_INTERVAL_MS)
  }

  /** Current rate in bytes per ms; Infinity when the window is unlimited (bare mode). */
  rate(): number {
    if (this.cc.pacingRate !== undefined) {
      const r = this.cc.pacingRate()
      if (r > 0) return r
    }
    const srtt = Math.max(this.rtt.smoothedRtt, 0.001)
    return (this.gain * this.cc.cwnd) / srtt
  }

  private refill(now: number): void {
    if (now <= this.lastRefill) return
    const r = this.rate()
    if (this.lastRefill === -Infinity || r === Infinity) this.tokens = this.capacity
    else {
      const elapsed = now - this.lastRefill
      const cap = this.held ? Math.max(this.capacity, Math.min(elapsed, MAX_CATCH_UP_MS) * r) : this.capacity
      const earned = this.tokens + elapsed * r
      // Held back and woke so late that budget is thrown away: the sender could not send though
      // it had data and window (an idle or window-limited sender is not held).
      if (this.held && earned > cap) {
        const lost = (earned - cap) / r
        if (lost >= Math.max(STALL_MIN_MS, this.rtt.smoothedRtt * STALL_RTT_FRACTION)) this.stalledMs += lost
      }
      this.tokens = Math.min(cap, earned)
    }
    this.held = false
    this.lastRefill = now
  }

  /** Earliest time (>= now) a packet of `bytes` may be sent. */
  nextSendTime(now: number, bytes: number): number {
    this.refill(now)
    if (this.tokens >= bytes) return now
    this.held = true
    return now + (bytes - this.tokens) / this.rate()
  }

  /** Sending time (ms) lost to stalls since the last call (0: none); resets it. */
  takeStall(): number {
    const ms = this.stalledMs
    this.stalledMs = 0
    return ms
  }

  /** Consumes tokens for a packet just sent (may go negative by less than a packet). */
  onPacketSent(now: number, bytes: number): void {
    this.refill(now)
    this.tokens -= bytes
  }
}
