import { describe, expect, it } from 'vitest'
import { K_GRANULARITY, RttEstimator } from '../../src/protocol/rtt.js'

describe('RttEstimator (RFC 9002 §5)', () => {
  it('starts from the initial RTT (§6.2.2)', () => {
    const r = new RttEstimator(333, 25)
    expect(r.smoothedRtt).toBe(333)
    expect(r.rttvar).toBe(166.5)
    expect(r.hasSample).toBe(false)
    expect(r.pto()).toBe(333 + 4 * 166.5 + 25)
  })

  it('first sample sets srtt = sample, rttvar = sample / 2, min_rtt = sample (§5.3)', () => {
    const r = new RttEstimator()
    r.update(100, 10, 0)
    expect(r.smoothedRtt).toBe(100)
    expect(r.rttvar).toBe(50)
    expect(r.minRtt).toBe(100)
    expect(r.latestRtt).toBe(100)
  })

  it('later samples follow the EWMA with ack delay subtracted', () => {
    const r = new RttEstimator(333, 25)
    r.update(100, 0, 0)
    r.update(120, 10, 1)
    // adjusted = 120 - 10 = 110 (>= min_rtt 100)
    expect(r.rttvar).toBeCloseTo(0.75 * 50 + 0.25 * Math.abs(100 - 110))
    expect(r.smoothedRtt).toBeCloseTo(0.875 * 100 + 0.125 * 110)
    expect(r.minRtt).toBe(100)
  })

  it('caps ack delay at max_ack_delay and never adjusts below min_rtt', () => {
    const r = new RttEstimator(333, 25)
    r.update(100, 0, 0)
    r.update(200, 500, 1) // delay capped to 25 -> adjusted 175
    expect(r.smoothedRtt).toBeCloseTo(0.875 * 100 + 0.125 * 175)
    const q = new RttEstimator(333, 25)
    q.update(100, 0, 0)
    q.update(105, 20, 1) // 105 < 100 + 20: no adjustment
    expect(q.smoothedRtt).toBeCloseTo(0.875 * 100 + 0.125 * 105)
  })

  it('loss delay is 9/8 max(srtt, latest) but at least the granularity', () => {
    const r = new RttEstimator()
    r.update(80, 0, 0)
    r.update(160, 0, 1)
    expect(r.lossDelay()).toBeCloseTo((9 / 8) * 160)
    const t = new RttEstimator()
    t.update(0.1, 0, 0)
    expect(t.lossDelay()).toBe(K_GRANULARITY)
  })

  it('min_rtt restarts from the next sample after persistent congestion (§5.2)', () => {
    const r = new RttEstimator()
    r.update(50, 0, 0)
    r.update(200, 0, 1)
    expect(r.minRtt).toBe(50)
    r.onPersistentCongestion()
    r.update(300, 0, 2)
    expect(r.minRtt).toBe(300)
  })

  it('persistent congestion duration = 3 * (srtt + max(4 rttvar, g) + max_ack_delay)', () => {
    const r = new RttEstimator(333, 25)
    r.update(100, 0, 0)
    expect(r.persistentCongestionDuration()).toBe(3 * (100 + 200 + 25))
  })

  // docs/PROTOCOL.md §2.1: the path re-challenge backoff is timed in lowestRtt because nobody on
  // the path can raise it; minRtt restarts after persistent congestion, which a path holder can
  // cause (review 66, LOW-1).
  it('lowestRtt survives persistent congestion and reset(), and only goes down', () => {
    const r = new RttEstimator()
    expect(r.lowestRtt).toBe(Infinity)
    r.update(10, 0, 0)
    r.onPersistentCongestion()
    r.update(2000, 0, 100)
    expect(r.minRtt).toBe(2000)
    expect(r.lowestRtt).toBe(10)
    r.reset()
    expect(r.minRtt).toBe(Infinity)
    expect(r.lowestRtt).toBe(10)
    r.update(5000, 0, 200)
    r.update(-1, 0, 300)
    r.update(NaN, 0, 300)
    expect(r.lowestRtt).toBe(10)
  })
})
