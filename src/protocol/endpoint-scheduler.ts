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
 */
import { DeadlineHeap, type HeapSlot } from './deadline-heap.js'

/** What the scheduler needs of a session. */
export interface Schedulable extends HeapSlot {
  readonly address: { readonly key: string }
  /** Next deadline; without `sendable` the ones that only lead to sending are left out. */
  pollTimeout(now: number, sendable: boolean): number
}

export class EndpointScheduler<S extends Schedulable> {
  readonly ready = new Set<S>()
  private readonly stale = new Set<S>()
  private readonly timers = new DeadlineHeap<S>()
  private readonly blockedPaths = new Map<string, Set<S>>()

  /** `s` changed: it may want to send, and its deadline may have moved. */
  schedule(s: S): void {
    this.ready.add(s)
    this.stale.add(s)
  }

  /** `s` wrote or was handled: only its deadline may have moved. */
  touch(s: S): void {
    this.stale.add(s)
  }

  /** `s` is gone (closed and removed from the endpoint; its last events may still be polled). */
  forget(s: S): void {
    this.ready.delete(s)
    this.stale.delete(s)
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
    const waiting = this.blockedPaths.get(s.address.key)
    if (!waiting) return false
    waiting.add(s)
    this.ready.delete(s)
    // Its send deadlines no longer count (see Session.pollTimeout's `sendable`).
    this.stale.add(s)
    return true
  }

  /** The path is writable again (or gone): its parked sessions are ready. */
  unblock(pathKey: string): void {
    const waiting = this.blockedPaths.get(pathKey)
    if (!waiting) return
    this.blockedPaths.delete(pathKey)
    for (const s of waiting) {
      this.ready.add(s)
      this.stale.add(s)
    }
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
    if (s) this.stale.add(s)
    return s
  }

  /** Recomputes the deadlines of the sessions touched since the last call. */
  refresh(now: number): void {
    if (this.stale.size === 0) return
    for (const s of this.stale) this.timers.set(s, s.pollTimeout(now, !this.blockedPaths.has(s.address.key)))
    this.stale.clear()
  }
}
