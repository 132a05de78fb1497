/**
 * A first-in first-out queue: a ring that grows by doubling, so a queue emptied and refilled
 * every service pass (the endpoint's events) allocates nothing. Emptied after a burst past
 * 1024 items, it goes back to its first size (memory follows the live length).
 */
export class Fifo<T> {
  private items: Array<T | undefined> = new Array<T | undefined>(16).fill(undefined)
  private head = 0
  private size = 0

  get length(): number {
    return this.size
  }

  push(v: T): void {
    if (this.size === this.items.length) this.grow()
    this.items[(this.head + this.size) & (this.items.length - 1)] = v
    this.size++
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined
    const v = this.items[this.head]
    this.items[this.head] = undefined
    this.head = (this.head + 1) & (this.items.length - 1)
    this.size--
    if (this.size === 0 && this.items.length > 1024) {
      this.items = new Array<T | undefined>(16).fill(undefined)
      this.head = 0
    }
    return v
  }

  private grow(): void {
    const old = this.items
    const next = new Array<T | undefined>(old.length * 2).fill(undefined)
    for (let i = 0; i < this.size; i++) next[i] = old[(this.head + i) & (old.length - 1)]
    this.items = next
    this.head = 0
  }
}
