/**
 * Maximum over the last `length` values of a monotonically increasing key (BBR's rounds or
 * probe cycles). One slot per key, so the window is exact and the cost is O(length) per read
 * with length <= 10 (draft-ietf-ccwg-bbr: MaxBwFilterLen = 2 cycles, ExtraAckedFilterLen = 10
 * rounds).
 */
export class WindowedMax {
  // Keys in [0, length), values in [length, 2 length): one typed array instead of two saves
  // ~180 bytes per filter, two filters per BBR session (issue 14: memory per idle session).
  private readonly slots: Float64Array
  best = 0

  constructor(readonly length: number) {
    this.slots = new Float64Array(2 * length)
    this.slots.fill(-Infinity, 0, length)
  }

  update(value: number, key: number): number {
    const n = this.length
    const s = this.slots
    const i = key % n
    if (s[i] !== key) {
      s[i] = key
      s[n + i] = value
    } else if (value > s[n + i]!) {
      s[n + i] = value
    }
    let best = 0
    for (let j = 0; j < n; j++) {
      if (s[j]! > key - n && s[n + j]! > best) best = s[n + j]!
    }
    this.best = best
    return best
  }

  reset(): void {
    this.slots.fill(-Infinity, 0, this.length)
    this.best = 0
  }
}
