/**
 * Handle and timer leak checks for integration tests (lesson 12; wireguard-go's
 * goroutineLeakCheck), built on process.getActiveResourcesInfo().
 *
 * Usage, inside one test body (before and after must be taken in the same test, because vitest
 * keeps one test-timeout Timeout per running test and a few IPC PipeWraps of its own):
 *
 *   const before = snapshotResources()
 *   ...open sockets, run the scenario, close everything...
 *   await expectNoLeaks(before)
 *
 * or wrap the whole body: `it('x', leakChecked(async () => { ... }))`.
 *
 * Why polling: closing a dgram socket releases its UDPWrap only after the close callback's tick,
 * and timers fire later still, so a check right after `await close()` can see handles that are
 * already on their way out. We wait (generously, a loaded CI box is slow) for the counts to come
 * back down, and fail only if they never do.
 */

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** Counts of active resources by type (UDPWrap, TCPWrap, Timeout, Immediate, ...). */
export type ResourceCounts = Record<string, number>

export function snapshotResources(): ResourceCounts {
  const counts: ResourceCounts = {}
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1
  return counts
}

/** Types that grew since `before` (after minus before, positive only), minus `ignore`. */
export function resourceGrowth(before: ResourceCounts, after: ResourceCounts, ignore: readonly string[] = []): ResourceCounts {
  const grown: ResourceCounts = {}
  for (const [type, n] of Object.entries(after)) {
    const extra = n - (before[type] ?? 0)
    if (extra > 0 && !ignore.includes(type)) grown[type] = extra
  }
  return grown
}

export interface LeakCheckOptions {
  /** How long to wait for handles to close before failing (ms of wall time). Default 5000. */
  timeoutMs?: number
  /** Resource types not to count (e.g. 'FSReqCallback' if the test itself reads files). */
  ignore?: readonly string[]
}

/**
 * Resolves once no resource type has more instances than in `before`; rejects with the
 * surplus if that does not happen within `timeoutMs`.
 */
export async function expectNoLeaks(before: ResourceCounts, options: LeakCheckOptions = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 5000)
  let delay = 1
  for (;;) {
    // Measured inside a setImmediate callback: at that point no Immediate of ours is pending and
    // the wait timer below has already fired, so our own polling never counts as a leak.
    const grown = await new Promise<ResourceCounts>((resolve) => setImmediate(() => resolve(resourceGrowth(before, snapshotResources(), options.ignore))))
    if (Object.keys(grown).length === 0) return
    if (Date.now() >= deadline) {
      throw new Error(`resource leak: ${JSON.stringify(grown)} still active (all now: ${process.getActiveResourcesInfo().join(', ')})`)
    }
    await new Promise((resolve) => setTimeout(resolve, delay))
    delay = Math.min(delay * 2, 100)
  }
}

/** Wraps a test body with a before/after leak check. */
export function leakChecked(body: () => Promise<void> | void, options?: LeakCheckOptions): () => Promise<void> {
  return async () => {
    const before = snapshotResources()
    await body()
    await expectNoLeaks(before, options)
  }
}

/** Heap in use after two full collections (the test's own garbage is gone). */
export function heapAfterGc(): number {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
