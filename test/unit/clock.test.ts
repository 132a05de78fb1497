/**
 * src/clock.ts offsetOf: another clock's readings mapped onto the node clock are never ahead of
 * it (the driver hands them to the core as receive times: time must not go back).
 */
import { describe, expect, it } from 'vitest'
import { now, offsetOf } from '../../src/clock.js'

describe('clock offsetOf', () => {
  it('maps a clock that runs 1 s behind onto now(): within a millisecond, and never ahead', () => {
    const other = () => now() - 1000
    const offset = offsetOf(other)
    expect(Math.abs(offset - 1000)).toBeLessThan(1)
    for (let i = 0; i < 1000; i++) {
      const mapped = other() + offset
      expect(mapped).toBeLessThanOrEqual(now())
    }
  })
})
