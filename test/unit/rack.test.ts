/**
 * RACK-TLP pieces (rack.ts) and their use by the LossDetector: the reordering window, the
 * lost-packet history, spurious-loss detection and congestion undo, delivery-rate samples.
 */
import { describe, expect, it } from 'vitest'
import { Cubic } from '../../src/protocol/congestion/cubic.js'
import { LossDetector } from '../../src/protocol/loss.js'
import { LOST_HISTORY_SIZE, LostHistory, RackState, REO_WND_PERSIST } from '../../src/protocol/rack.js'
import { RttEstimator } from '../../src/protocol/rtt.js'

const MDS = 1200
const r = (lo: number, hi: number): [number, number] => [lo, hi]

describe('RackState (RFC 8985 §6.2)', () => {
  it('reo_wnd is min_rtt / 4, grows by one step per spurious loss (at most once per srtt), is capped at srtt, and resets after 16 recoveries', () => {
    const rtt = new RttEstimator(100, 25)
    rtt.update(40, 0, 0)
    const rack = new RackState(rtt)
    expect(rack.reoWnd()).toBe(10)
    rack.onSpurious(100)
    expect(rack.reoWnd()).toBe(20)
    rack.onSpurious(110) // within one srtt of the last increase: no second step
    expect(rack.reoWnd()).toBe(20)
    rack.onSpurious(200)
    rack.onSpurious(300)
    rack.onSpurious(400)
    expect(rack.reoWnd()).toBe(40) // 5 x 10 capped at srtt (40)
    expect(rack.spurious).toBe(5)
    for (let i = 0; i < REO_WND_PERSIST; i++) rack.onRecoveryEnd()
    expect(rack.reoWnd()).toBe(10)
  })

  // RFC 9002 §6.1.2 adaptive threshold (rack.ts header): at 20 ms RTT the steps are 5 ms, and a
  // busy host held the ACK of a reordered packet 10-60 ms; one step per round trip took 4-5
  // spurious episodes to get there.
  it('a spurious loss widens reo_wnd at once to the reordering it showed (how long after RACK.rtt its ACK came), capped at srtt', () => {
    const rtt = new RttEstimator(100, 25)
    rtt.update(20, 0, 0)
    const rack = new RackState(rtt)
    rack.onAcked(10, 1000, 1020, -1) // RACK.rtt 20 ms
    expect(rack.reoWnd()).toBe(5)
    // Sent at 1000, acked at 1036: 16 ms after RACK.rtt, so the window needs 4 steps (20 ms).
    rack.onSpurious(1036, 1000)
    expect(rack.reoWnd()).toBe(20)
    // The one-step rule still applies once per srtt; a packet that needed less changes nothing.
    rack.onSpurious(1040, 1015)
    expect(rack.reoWnd()).toBe(20)
    // Never beyond srtt (20 ms here), however late the ACK.
    rack.onSpurious(1100, 1000)
    expect(rack.reoWnd()).toBe(20)
    for (let i = 0; i < REO_WND_PERSIST; i++) rack.onRecoveryEnd()
    expect(rack.reoWnd()).toBe(5)
  })

  it('the window a spurious loss sets covers 9/8 of the reordering it showed, not exactly that (a later packet a little later is no near miss)', () => {
    const rtt = new RttEstimator(100, 25)
    rtt.update(20, 0, 0)
    const rack = new RackState(rtt)
    rack.onAcked(10, 1000, 1020, -1) // RACK.rtt 20 ms, steps of 5 ms
    // 14.5 ms after RACK.rtt: 3 steps (15 ms) would cover it with 0.5 ms to spare; 9/8 of it
    // (16.3 ms) takes 4.
    rack.onSpurious(1034.5, 1000)
    expect(rack.reoWnd()).toBe(20)
  })

  it('notices reordering when a lower packet number is acked after a higher one', () => {
    const rack = new RackState(new RttEstimator())
    rack.onAcked(5, 50, 100, -1)
    expect(rack.reorderingSeen).toBe(false)
    rack.onAcked(3, 30, 101, 5)
    expect(rack.reorderingSeen).toBe(true)
    expect(rack.pn).toBe(5)
    expect(rack.rtt).toBe(50)
  })
})

describe('LostHistory', () => {
  it('keeps losses in ascending order and hands back those an ACK range covers, once', () => {
    const h = new LostHistory()
    h.add(10, 1, 0, 1200)
    h.add(20, 1, 0, 1100)
    h.add(15, 2, 1, 900) // out of order: inserted in place
    const found: number[] = []
    const bytes: number[] = []
    h.takeRange(12, 20, (e, b) => found.push(e) && bytes.push(b))
    expect(found).toEqual([2, 1])
    // Each loss's bytes come back with it (the rate sampler takes them out of C.lost).
    expect(bytes).toEqual([900, 1100])
    expect(h.length).toBe(1)
    h.takeRange(12, 20, (e) => found.push(e))
    expect(found.length).toBe(2)
    h.expire(1)
    expect(h.length).toBe(0)
  })
  it('allocates nothing until the first loss, grows across a wrapped ring keeping order, caps at LOST_HISTORY_SIZE and frees itself when emptied', () => {
    const h = new LostHistory()
    expect(h.capacity).toBe(0)
    // A burst at the smallest capacity frees itself too, by expiry or by late ACKs.
    for (let pn = 0; pn < 3; pn++) h.add(pn, pn, pn, 1200)
    expect(h.capacity).toBe(16)
    h.expire(3)
    expect(h.capacity).toBe(0)
    h.add(7, 1, 7, 1200)
    h.takeRange(7, 7, () => {})
    expect(h.capacity).toBe(0)
    // Wrap the first ring: 16 entries, expire 10, add 20 more (growth while head != 0).
    for (let pn = 0; pn < 16; pn++) h.add(pn, pn, pn, 1200)
    expect(h.capacity).toBe(16)
    h.expire(10)
    for (let pn = 16; pn < 36; pn++) h.add(pn, pn, pn, pn)
    expect(h.length).toBe(26)
    expect(h.capacity).toBe(32)
    const found: number[] = []
    const bytes: number[] = []
    h.takeRange(0, 1000, (e, b) => found.push(e) && bytes.push(b))
    expect(found).toEqual(Array.from({ length: 26 }, (_, i) => i + 10))
    // Sizes moved with their entries when the ring grew.
    expect(bytes.slice(6)).toEqual(Array.from({ length: 20 }, (_, i) => i + 16))
    // Past the cap the oldest entry is dropped.
    for (let pn = 0; pn < LOST_HISTORY_SIZE + 5; pn++) h.add(1000 + pn, 1, 5000, 1200)
    expect(h.capacity).toBe(LOST_HISTORY_SIZE)
    expect(h.length).toBe(LOST_HISTORY_SIZE)
    const first: number[] = []
    h.takeRange(1000, 1005, (e) => first.push(e))
    expect(first.length).toBe(1) // 1000..1004 were dropped, 1005 kept
    h.expire(5001)
    expect(h.length).toBe(0)
    expect(h.capacity).toBe(0)
  })
})

describe('LossDetector with RACK', () => {
  it('reordering: a loss whose original is acked later is spurious, the window widens and CUBIC undoes its reduction', () => {
    const rtt = new RttEstimator(100, 25)
    const cc = new Cubic({ maxDatagramSize: MDS, rtt })
    const ld = new LossDetector<string>(rtt, cc)
    for (let pn = 0; pn < 10; pn++) ld.onPacketSent(pn, pn, MDS, true, true, `p${pn}`)
    ld.onAck([r(0, 0)], 0, 40)
    // 1..4 acked, 5 delayed; 6..9 acked: 5 is lost by the packet threshold (no reordering seen yet).
    const res = ld.onAck([r(6, 9), r(1, 4)], 0, 50)
    expect(res.lost).toEqual(['p5'])
    expect(cc.congestionEvents).toBe(1)
    const reduced = cc.cwnd
    expect(cc.ssthresh).toBeCloseTo(reduced, 5)
    // The original of 5 arrives after all: spurious.
    ld.onAck([r(5, 9), r(0, 4)], 0, 52)
    const st = ld.stats()
    expect(st.spuriousLosses).toBe(1)
    expect(st.congestionUndos).toBe(1)
    // Back to the window before the cut (reduced = 0.7 x that), still in slow start.
    expect(cc.cwnd).toBeCloseTo(reduced / 0.7, 5)
    expect(cc.ssthresh).toBe(Infinity)
    expect(st.reorderingSeen).toBe(true)
    expect(st.reorderingWindow).toBeGreaterThan(rtt.minRtt / 4)
    // Reordering seen: a 3-packet gap alone is no longer a loss; only time is.
    for (let pn = 10; pn < 15; pn++) ld.onPacketSent(pn, 60, MDS, true, true, `p${pn}`)
    expect(ld.onAck([r(11, 14)], 0, 100).lost).toEqual([])
    expect(ld.getTimeout()).toBeCloseTo(60 + ld.rack.rtt + ld.rack.reoWnd())
  })

  it('a real loss among spurious ones keeps the reduction', () => {
    const rtt = new RttEstimator(100, 25)
    const cc = new Cubic({ maxDatagramSize: MDS, rtt })
    const ld = new LossDetector<string>(rtt, cc)
    for (let pn = 0; pn < 12; pn++) ld.onPacketSent(pn, pn, MDS, true, true, `p${pn}`)
    ld.onAck([r(0, 0)], 0, 40)
    const res = ld.onAck([r(5, 11), r(3, 3), r(0, 0)], 0, 50)
    expect([...res.lost].sort()).toEqual(['p1', 'p2', 'p4'])
    const reduced = cc.cwnd
    ld.onAck([r(4, 11), r(3, 3), r(0, 0)], 0, 51) // only 4 was reordered
    expect(ld.stats().spuriousLosses).toBe(1)
    expect(ld.stats().congestionUndos).toBe(0)
    expect(cc.cwnd).toBe(reduced)
    expect(cc.ssthresh).toBeLessThan(Infinity)
  })

  // WAN trace, 20 ms RTT + 1 ms jitter: 16 first-flight packets declared lost, then acked, left
  // Startup's cwnd 16 x 1472 bytes short of the clean run's and bw at half, for every later round.
  it('a packet proven spuriously lost counts as delivered and newly acked, as an in-order one would have', () => {
    const run = (reordered: boolean): { delivered: number; acked: number[] } => {
      const rtt = new RttEstimator(100, 25)
      const cc = new Cubic({ maxDatagramSize: MDS, rtt })
      const acked: number[] = []
      ;(cc as unknown as { onRateSample: (rs: { newlyAcked: number }) => void }).onRateSample = (rs) => acked.push(rs.newlyAcked)
      const ld = new LossDetector<string>(rtt, cc)
      for (let pn = 0; pn < 10; pn++) ld.onPacketSent(pn, pn, MDS, true, true, `p${pn}`)
      ld.onAck([r(0, 0)], 0, 40)
      if (reordered) {
        expect(ld.onAck([r(6, 9), r(1, 4)], 0, 50).lost).toEqual(['p5'])
        ld.onAck([r(0, 9)], 0, 52) // only the proof: nothing else newly acked
        expect(ld.stats().spuriousLosses).toBe(1)
      } else {
        ld.onAck([r(0, 9)], 0, 50)
      }
      return { delivered: ld.sampler.delivered, acked }
    }
    const inOrder = run(false)
    const reordered = run(true)
    expect(reordered.delivered).toBe(10 * MDS)
    expect(reordered.delivered).toBe(inOrder.delivered)
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
    expect(sum(reordered.acked)).toBe(sum(inOrder.acked))
    expect(reordered.acked[reordered.acked.length - 1]).toBe(MDS)
  })

  it('hands the controller one delivery-rate sample per ACK: bytes over the longer of the send and ACK intervals, never above the real rate', () => {
    const rtt = new RttEstimator(100, 25)
    const samples: Array<{ rate: number; delivered: number; interval: number; appLimited: boolean }> = []
    const cc = new Cubic({ maxDatagramSize: MDS, rtt })
    ;(cc as unknown as { onRateSample: (rs: { deliveryRate: number; delivered: number; interval: number; isAppLimited: boolean }) => void }).onRateSample = (rs) =>
      samples.push({ rate: rs.deliveryRate, delivered: rs.delivered, interval: rs.interval, appLimited: rs.isAppLimited })
    const ld = new LossDetector<string>(rtt, cc)
    // A steady flow: one packet per ms, each acked 20 ms after it was sent (1.2 bytes/µs).
    let pn = 0
    for (let t = 0; t < 200; t++) {
      ld.onPacketSent(pn++, t, MDS, true, true, `p${pn}`)
      if (t >= 20) ld.onAck([r(0, t - 20)], 0, t)
    }
    const valid = samples.filter((s) => s.interval > 0)
    expect(samples.length).toBe(180)
    expect(valid.length).toBeGreaterThan(100)
    for (const s of valid) {
      // Intervals shorter than min_rtt are discarded (ACK compression guard).
      expect(s.interval).toBeGreaterThanOrEqual(rtt.minRtt)
      expect(s.rate).toBeLessThanOrEqual(MDS * 1.0001)
    }
    // In steady state the sample is exact.
    expect(valid[valid.length - 1]!.rate).toBeCloseTo(MDS, 3)
    expect(valid[valid.length - 1]!.appLimited).toBe(false)
    // App-limited from here: the next packets' samples say so.
    ld.onAppLimited()
    ld.onPacketSent(pn, 200, MDS, true, true, 'last')
    ld.onAck([r(0, pn)], 0, 220)
    expect(samples[samples.length - 1]!.appLimited).toBe(true)
  })
})
