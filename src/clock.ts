/**
 * The node's monotonic clock (ms, on the wall clock's scale: performance.timeOrigin +
 * performance.now()): every timer of the driver and every `now` the core is given.
 */
import { performance } from 'node:perf_hooks'

/** Read once: the getter is a call into the runtime, and `now` runs several times per packet. */
const TIME_ORIGIN = performance.timeOrigin

export function now(): number {
  return TIME_ORIGIN + performance.now()
}

/**
 * What to add to a reading of another clock that counts as performance.now() does (uv_hrtime
 * in ms: the native UDP transport's receive stamps) to get now()'s time. Each try brackets one
 * reading between two now() calls; the narrowest bracket's earlier end is taken, so a mapped
 * reading is never ahead of now() at the instant it was taken and lags it by at most that
 * bracket (well under a microsecond).
 */
export function offsetOf(readClockMs: () => number): number {
  let width = Infinity
  let offset = 0
  for (let i = 0; i < 5; i++) {
    const before = now()
    const reading = readClockMs()
    const after = now()
    if (after - before < width) {
      width = after - before
      offset = before - reading
    }
  }
  return offset
}
