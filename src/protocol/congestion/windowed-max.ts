/**
 * Maximum over the last `length` values of a monotonically increasing key (BBR's rounds or
 * probe cycles). One slot per key, so the window is exact and the cost is O(length) per read
 * with length <= 10 (draft-ietf-ccwg-bbr: MaxBwFilterLen = 2 cycles, ExtraAckedFilterLen = 10
 * rounds).
 */
export class WindowedMax {
  // Keys in [0, length), values in [length, 2 length), in one plain array of doubles: a
  // Float64Array of 4 costs ~230 bytes with its ArrayBuffer, this ~80 (two filters per BBR
  // session; issue 14: memory per idle session). Built by push so it is packed, not holey, then
  // copied by slice to its exact length: push leaves room for 16 more elements (the 10-round
  // filter's 20 slots took 394 bytes, its copy 209).
  private readonly slots: number[]
  best = 0

  constructor(readonly length: number) {
    const slots: number[] = []
    for (let i = 0; i < 2 * length; i++) slots.push(i < length ? -Infinity : 0)
    this.slots = slots.slice()
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
