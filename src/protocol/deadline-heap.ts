/**
 * A binary min-heap of items by deadline, each item knowing its own slot so that changing or
 * removing one costs O(log n) without a search. The endpoint keeps its sessions' next
 * deadlines here, so finding what is due costs nothing for sessions that are not (idle ones).
 */

/** Heap bookkeeping stored on the item itself (no side map on the hot path). */
export interface HeapSlot {
  /** Position in the heap array; -1 when not in the heap. */
  heapIndex: number
  /** Deadline the item is filed under (valid while heapIndex >= 0). */
  heapDeadline: number
}

export class DeadlineHeap<T extends HeapSlot> {
  private readonly items: T[] = []

  get size(): number {
    return this.items.length
  }

  /** Earliest deadline (Infinity when empty). */
  peekDeadline(): number {
    return this.items.length ? this.items[0]!.heapDeadline : Infinity
  }

  /** Inserts `item` at `deadline`, or moves it there; Infinity removes it (nothing to wait for). */
  set(item: T, deadline: number): void {
    if (deadline === Infinity) return this.remove(item)
    const i = item.heapIndex
    if (i < 0) {
      item.heapDeadline = deadline
      item.heapIndex = this.items.length
      this.items.push(item)
      this.up(item.heapIndex)
      return
    }
    const old = item.heapDeadline
    item.heapDeadline = deadline
    if (deadline < old) this.up(i)
    else if (deadline > old) this.down(i)
  }

  remove(item: T): void {
    const i = item.heapIndex
    if (i < 0) return
    item.heapIndex = -1
    const last = this.items.pop()!
    if (last === item) return
    this.items[i] = last
    last.heapIndex = i
    this.down(i)
    this.up(last.heapIndex)
  }

  /** Removes and returns the earliest item when its deadline is at or before `now`, else null. */
  popDue(now: number): T | null {
    const top = this.items[0]
    if (top === undefined || top.heapDeadline > now) return null
    this.remove(top)
    return top
  }

  private up(i: number): void {
    const items = this.items
    const item = items[i]!
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = items[p]!
      if (parent.heapDeadline <= item.heapDeadline) break
      items[i] = parent
      parent.heapIndex = i
      i = p
    }
    items[i] = item
    item.heapIndex = i
  }

  private down(i: number): void {
    const items = this.items
    const n = items.length
    const item = items[i]!
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && items[r]!.heapDeadline < items[l]!.heapDeadline ? r : l
      const child = items[c]!
      if (child.heapDeadline >= item.heapDeadline) break
      items[i] = child
      child.heapIndex = i
      i = c
    }
    items[i] = item
    item.heapIndex = i
  }
}
