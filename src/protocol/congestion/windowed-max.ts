/**
 * Maximum over the last `length` values of a monotonically increasing key (BBR's rounds or
 * probe cycles). One slot per key, so the window is exact and the cost is O(length) per read
 * with length <= 10 (draft-ietf-ccwg-bbr: MaxBwFilterLen = 2 cycles, ExtraAckedFilterLen = 10
 * rounds).
 */
export class WindowedMax {
  private readonly values: Float64Array
  private readonly keys: Float64Array
  best = 0

  constructor(readonly length: number) {
    this.values = new Float64Array(length)
    this.keys = new Float64Array(length).fill(-Infinity)
  }

  update(value: number, key: number): number {
    const i = key % this.length
    if (this.keys[i] !== key) {
      this.keys[i] = key
      this.values[i] = value
    } else if (value > this.values[i]!) {
      this.values[i] = value
    }
    let best = 0
    for (let j = 0; j < this.length; j++) {
      if (this.keys[j]! > key - this.length && this.values[j]! > best) best = this.values[j]!
    }
    this.best = best
    return best
  }

  reset(): void {
    this.keys.fill(-Infinity)
    this.best = 0
  }
}
