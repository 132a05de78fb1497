/**
 * Sorted, disjoint, half-open integer ranges [start, end) kept in one flat number array
 * (start0, end0, start1, end1, ...) so that the hot paths allocate nothing. Used for stream
 * offsets (acked / lost / received bytes) and for received packet numbers.
 *
 * Adjacent ranges are merged, so the common "append at the end" case stays a single range.
 */
export class RangeSet {
  private r: number[] = []
  /**
   * `r` was emptied by pop() and keeps its storage (V8 keeps that of a small array emptied
   * so; `length = 0` would free it): the next range is pushed, not a new array. An ACK
   * tracker or a send buffer in a ping-pong empties and refills its set every round trip.
   */
  private refillable = false

  /** Number of disjoint ranges. */
  get count(): number {
    return this.r.length >>> 1
  }

  isEmpty(): boolean {
    return this.r.length === 0
  }

  /** Start of range i (ascending order). */
  start(i: number): number {
    return this.r[2 * i]!
  }

  /** End (exclusive) of range i. */
  end(i: number): number {
    return this.r[2 * i + 1]!
  }

  /** Lowest value in the set; callers check isEmpty() first. */
  min(): number {
    return this.r[0]!
  }

  /** One past the highest value in the set; callers check isEmpty() first. */
  max(): number {
    return this.r[this.r.length - 1]!
  }

  clear(): void {
    this.r.length = 0
    this.refillable = false
  }

  /** Index of the first range whose end is >= v (ranges before it lie wholly below v). */
  private lowerIndex(v: number): number {
    let lo = 0
    let hi = this.r.length >>> 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.r[2 * mid + 1]! < v) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  contains(v: number): boolean {
    const i = this.lowerIndex(v + 1)
    return i < this.count && this.start(i) <= v && v < this.end(i)
  }

  /** True when [s, e) lies inside one range. */
  covers(s: number, e: number): boolean {
    if (e <= s) return true
    const i = this.lowerIndex(s + 1)
    return i < this.count && this.start(i) <= s && e <= this.end(i)
  }

  /** How many values of [s, e) the set holds. */
  bytesIn(s: number, e: number): number {
    let n = 0
    if (e <= s) return 0
    for (let i = this.lowerIndex(s + 1); i < this.count && this.start(i) < e; i++) n += Math.min(e, this.end(i)) - Math.max(s, this.start(i))
    return n
  }

  /** Adds [s, e), merging with overlapping or adjacent ranges. */
  add(s: number, e: number): void {
    if (e <= s) return
    const r = this.r
    const n = r.length
    // The first range: a two-element array of its own, not a push into the empty one, which
    // would reserve room for 16 more (201 bytes instead of 65 for the one range an idle
    // session's received packet numbers hold; issue 14).
    if (n === 0) {
      if (this.refillable) r.push(s, e)
      else this.r = [s, e]
      return
    }
    // Fast path: append after the last range.
    if (s > r[n - 1]!) {
      r.push(s, e)
      return
    }
    if (s >= r[n - 2]!) {
      if (e > r[n - 1]!) r[n - 1] = e
      return
    }
    const i = this.lowerIndex(s) // first range with end >= s (touching counts as merge)
    let j = i
    while (j < this.count && this.start(j) <= e) j++
    if (j === i) {
      r.splice(2 * i, 0, s, e)
      return
    }
    const ns = Math.min(s, this.start(i))
    const ne = Math.max(e, this.end(j - 1))
    r.splice(2 * i, 2 * (j - i), ns, ne)
  }

  /** Removes [s, e), splitting a range when needed. */
  remove(s: number, e: number): void {
    if (e <= s || this.r.length === 0) return
    const r = this.r
    let i = this.lowerIndex(s + 1) // first range with end > s
    while (i < this.count && this.start(i) < e) {
      const rs = this.start(i)
      const re = this.end(i)
      if (rs < s && re > e) {
        r.splice(2 * i, 2, rs, s, e, re)
        return
      }
      if (rs < s) {
        r[2 * i + 1] = s
        i++
      } else if (re > e) {
        r[2 * i] = e
        return
      } else {
        // Near the end (an ACK tracker dropping its one range): as splice(2 * i, 2) without
        // the array of removed values it returns, and popped to keep the storage (refillable);
        // further in, splice's memmove is cheaper.
        if (r.length - 2 * i <= 16) {
          for (let k = 2 * i; k + 2 < r.length; k++) r[k] = r[k + 2]!
          r.pop()
          r.pop()
          this.refillable = true
        } else r.splice(2 * i, 2)
      }
    }
  }

  /** Removes every value below v. */
  removeBelow(v: number): void {
    if (this.r.length === 0 || this.r[0]! >= v) return
    this.remove(this.r[0]!, v)
  }

  /** Drops the lowest ranges until at most `maxRanges` remain. */
  truncateLow(maxRanges: number): void {
    const extra = this.count - maxRanges
    if (extra > 0) this.r.splice(0, 2 * extra)
  }
}
