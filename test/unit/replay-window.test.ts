/** The anti-replay window's growing ring (replay.ts): small while a session is idle, never reopening a replay when it grows. */
import { describe, expect, it } from 'vitest'
import { REPLAY_WINDOW_SIZE, ReplayWindow } from '../../src/protocol/replay.js'

describe('ReplayWindow growth', () => {
  it('starts with a 224-packet window and grows to the full one at packet 256', () => {
    const w = new ReplayWindow()
    expect(w.windowSize).toBe(224)
    for (let pn = 0; pn < 256; pn++) expect(w.accept(pn)).toBe(true)
    expect(w.windowSize).toBe(224)
    expect(w.accept(256)).toBe(true)
    expect(w.windowSize).toBe(REPLAY_WINDOW_SIZE)
    // Everything the small ring still covered stays marked after the copy.
    for (let pn = 40; pn <= 256; pn++) expect(w.accept(pn)).toBe(false)
    expect(w.accept(5000)).toBe(true)
    expect(w.accept(5000 - REPLAY_WINDOW_SIZE + 1)).toBe(true) // the full window now
    expect(w.accept(5000 - REPLAY_WINDOW_SIZE)).toBe(false)
  })

  it('a packet the small ring forgot is refused for good, also after the ring grows (no replay reopened)', () => {
    const w = new ReplayWindow()
    expect(w.accept(10)).toBe(true)
    expect(w.accept(240)).toBe(true) // 10 is now 230 behind: outside the small window
    expect(w.wouldAccept(10)).toBe(false)
    expect(w.accept(10)).toBe(false) // too old: the ring grows, 10 stays refused
    expect(w.windowSize).toBe(REPLAY_WINDOW_SIZE)
    expect(w.accept(10)).toBe(false)
    expect(w.accept(16)).toBe(false) // below the floor too, although never seen
    expect(w.accept(17)).toBe(true) // inside what the small ring covered: still tracked
    expect(w.accept(17)).toBe(false)
  })
})
