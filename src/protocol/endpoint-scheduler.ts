/**
 * Which of an endpoint's sessions a service pass must look at, so that the cost of a pass
 * grows with the sessions that have something to do, never with idle ones (10 k sessions):
 *
 *   ready     - sessions that may have something to send (scheduled since they last wrote all)
 *   timers    - every session's next deadline in a heap; a scheduled session's deadline is
 *               recomputed lazily (stale), once per pass, however often it was scheduled
 * (Events need no set: sessions push them into the endpoint's one queue, core-events.ts.)
 *   blocked   - paths whose transport is above its high-water mark, with the sessions parked
 *               on them until the driver says the path is writable again
 *
 * Ready and stale are lists with the membership on the session itself (as the heap slot), not
 * Sets: a Set whose last member leaves shrinks its table, and clear() makes a new one, so
 * the 64-byte ping-pong, where the one session goes in and out of both sets every packet,
 * allocated ~0.7 KB per round trip for them (issue 13; bench/rtt-loop-work.mjs).
 */
import { DeadlineHeap, type HeapSlot } from './deadline-heap.js'

/** What the scheduler needs of a session. */
export interface Schedulable extends HeapSlot {
  readonly address: { readonly key: string }
  /** Index in the ready list; -1 when not ready. Owned by the scheduler. */
  readySlot: number
  /** In the stale list (deadline to recompute). Owned by the scheduler. */
  deadlineStale: boolean
  /** Next deadline; without `sendable` the ones that only lead to sending are left out. */
  pollTimeout(now: number, sendable: boolean): number
}

/**
 * Sessions in the order they became ready (a session that moves to the back is re-added).
 * Leaving leaves a hole (null) in the array; holes are dropped when the list empties or by
 * compact(), which the endpoint calls before it walks the list, never during a walk.
 */
export class ReadyList<S extends Schedulable> {
  private readonly items: Array<S | null> = []
  /** Entries in use: items[0, end), holes included. */
  private end = 0
  private live = 0

  get size(): number {
    return this.live
  }

  has(s: S): boolean {
    return s.readySlot >= 0
  }

  add(s: S): void {
    if (s.readySlot >= 0) return
    s.readySlot = this.end
    this.items[this.end++] = s
    this.live++
  }

  delete(s: S): void {
    const i = s.readySlot
    if (i < 0) return
    this.items[i] = null
    s.readySlot = -1
    // Every entry is a hole now: start over at 0 (the array keeps its room).
    if (--this.live === 0) this.end = 0
  }

  /** The first ready session at index >= i, as its index (this.end when none). */
  nextIndex(i: number): number {
    while (i < this.end && this.items[i] === null) i++
    return i
  }

  at(i: number): S | null {
    return i < this.end ? this.items[i]! : null
  }

  /** Drops the holes once they outnumber the sessions (round-robin leaves one per move). */
  compact(): void {
    if (this.end - this.live <= this.live + 8) return
    let w = 0
    for (let i = 0; i < this.end; i++) {
      const s = this.items[i]
      if (!s) continue
      s.readySlot = w
      this.items[w++] = s
    }
    for (let i = w; i < this.end; i++) this.items[i] = null
    this.end = w
  }
}

export class EndpointScheduler<S extends Schedulable> {
  readonly ready = new ReadyList<S>()
  /** Sessions whose deadline must be recomputed: stale[0, staleCount) (the array keeps its room). */
  private readonly stale: Array<S | null> = []
  private staleCount = 0
  private readonly timers = new DeadlineHeap<S>()
  private readonly blockedPaths = new Map<string, Set<S>>()

  /** `s` changed: it may want to send, and its deadline may have moved. */
  schedule(s: S): void {
    this.ready.add(s)
    this.touch(s)
  }

  /** `s` wrote or was handled: only its deadline may have moved. */
  touch(s: S): void {
    if (s.deadlineStale) return
    s.deadlineStale = true
    this.stale[this.staleCount++] = s
  }

  /** `s` is gone (closed and removed from the endpoint; its last events may still be polled). */
  forget(s: S): void {
    this.ready.delete(s)
    // Its entry in the stale list stays; refresh skips it (the flag is off).
    s.deadlineStale = false
    this.timers.remove(s)
    this.blockedPaths.get(s.address.key)?.delete(s)
  }

  isBlocked(pathKey: string): boolean {
    return this.blockedPaths.has(pathKey)
  }

  block(pathKey: string): void {
    if (!this.blockedPaths.has(pathKey)) this.blockedPaths.set(pathKey, new Set())
  }

  /** Takes `s` out of the ready set until its path is writable; false when the path is not blocked. */
  parkIfBlocked(s: S): boolean {
    if (this.blockedPaths.size === 0) return false
    const waiting = this.blockedPaths.get(s.address.key)
    if (!waiting) return false
    waiting.add(s)
    this.ready.delete(s)
    // Its send deadlines no longer count (see Session.pollTimeout's `sendable`).
    this.touch(s)
    return true
  }

  /** The path is writable again (or gone): its parked sessions are ready. */
  unblock(pathKey: string): void {
    const waiting = this.blockedPaths.get(pathKey)
    if (!waiting) return
    this.blockedPaths.delete(pathKey)
    for (const s of waiting) this.schedule(s)
  }

  /** Earliest deadline of any session (after recomputing the stale ones). */
  nextDeadline(now: number): number {
    this.refresh(now)
    return this.timers.peekDeadline()
  }

  /**
   * The next session whose deadline is at or before `now`, or null. It leaves the heap and is
   * marked stale: the caller handles its timers, and the next pass files it again.
   */
  popDue(now: number): S | null {
    const s = this.timers.popDue(now)
    if (s) this.touch(s)
    return s
  }

  /** Recomputes the deadlines of the sessions touched since the last call. */
  refresh(now: number): void {
    if (this.staleCount === 0) return
    const stale = this.stale
    const anyBlocked = this.blockedPaths.size > 0
    // A session touched while this runs is appended and handled in this same loop.
    for (let i = 0; i < this.staleCount; i++) {
      const s = stale[i]!
      stale[i] = null
      if (!s.deadlineStale) continue
      s.deadlineStale = false
      this.timers.set(s, s.pollTimeout(now, !anyBlocked || !this.blockedPaths.has(s.address.key)))
    }
    this.staleCount = 0
  }
}
