/**
 * Token-bucket pacer (RFC 9002 §7.7): tokens refill at N * cwnd / srtt bytes per ms with
 * N = 1.25 so pacing never becomes the bottleneck, and the bucket holds a burst of a few
 * datagrams so a sender may put a small train on the wire but never the whole window.
 */
export const PACING_GAIN = 1.25
export const DEFAULT_BURST_PACKETS = 4
/**
 * The bucket also holds this many ms worth of the current rate: a Node timer fires at 1 ms
 * granularity at best, so a bucket smaller than ~2 ms of sending caps the rate at
 * bucket/1 ms however large the window is (quinn uses the same 2 ms burst interval).
 */
export const BURST_INTERVAL_MS = 2

export class Pacer {
  private tokens: number
  private lastRefill = -Infinity
  private readonly minCapacity: number

  constructor(
    private readonly cc: { readonly cwnd: number },
    private readonly rtt: { readonly smoothedRtt: number },
    readonly maxDatagramSize = 1200,
    burstPackets = DEFAULT_BURST_PACKETS,
    private readonly gain = PACING_GAIN,
  ) {
    this.minCapacity = burstPackets * maxDatagramSize
    this.tokens = this.minCapacity
  }

  private get capacity(): number {
    const r = this.rate()
    return r === Infinity ? Infinity : Math.max(this.minCapacity, r * BURST_INTERVAL_MS)
  }

  /** Current rate in bytes per ms; Infinity when the window is unlimited (bare mode). */
  rate(): number {
    const srtt = Math.max(this.rtt.smoothedRtt, 0.001)
    return (this.gain * this.cc.cwnd) / srtt
  }

  private refill(now: number): void {
    if (now <= this.lastRefill) return
    const r = this.rate()
    if (this.lastRefill === -Infinity || r === Infinity) this.tokens = this.capacity
    else this.tokens = Math.min(this.capacity, this.tokens + (now - this.lastRefill) * r)
    this.lastRefill = now
  }

  /** Earliest time (>= now) a packet of `bytes` may be sent. */
  nextSendTime(now: number, bytes: number): number {
    this.refill(now)
    if (this.tokens >= bytes) return now
    return now + (bytes - this.tokens) / this.rate()
  }

  /** Consumes tokens for a packet just sent (may go negative by less than a packet). */
  onPacketSent(now: number, bytes: number): void {
    this.refill(now)
    this.tokens -= bytes
  }
}
