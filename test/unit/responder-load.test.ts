/**
 * The responder's load meter (RETRY under load, responder-state.ts), on a virtual clock: a
 * sustained flood keeps RETRY on without a fresh allowance each second (fails with the
 * current-window-only meter), and one burst releases it about a second later (fails with a
 * max(current, previous) meter, which held it up to 3 s).
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ResponderState } from '../../src/protocol/responder-state.js'

const state = () => new ResponderState((n) => new Uint8Array(randomBytes(n)), 10_000)
const THRESHOLD = 200

describe('RETRY load meter', () => {
  it('a sustained flood above the threshold stays under RETRY at every window start', () => {
    const r = state()
    const overAt: number[] = []
    // 400 HELLOs per second for 5 s, evenly spaced.
    for (let i = 0; i < 2000; i++) {
      const now = 1000 + i * 2.5
      if (r.meter(now) > THRESHOLD && i % 400 < 200) overAt.push(i)
    }
    // Only the first window's first 200 HELLOs are under the threshold: from the second window
    // on, the previous window's share keeps the load above it from the first HELLO.
    expect(overAt.filter((i) => i < 400)).toHaveLength(0)
    expect(overAt).toHaveLength(4 * 200)
  })

  it('one burst over the threshold holds RETRY for about a second, not longer', () => {
    const r = state()
    for (let i = 0; i < 250; i++) r.meter(1000 + i * 0.01)
    const retried = (now: number) => r.meter(now) > THRESHOLD
    expect(retried(1500)).toBe(true) // same window
    expect(retried(2050)).toBe(true) // 95 % of the previous window still counts: 1 + 237 > 200
    // Honest HELLOs at 20/s after the burst: RETRY ends within the second after the window.
    let last = 0
    for (let t = 2100; t < 5000; t += 50) if (retried(t)) last = t
    expect(last).toBeLessThan(2300)
  })

  it('after a quiet gap of more than a second nothing of the old window counts', () => {
    const r = state()
    for (let i = 0; i < 300; i++) r.meter(1000 + i)
    expect(r.meter(3500)).toBe(1)
  })
})
