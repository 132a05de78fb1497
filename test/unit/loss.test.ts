import { describe, expect, it } from 'vitest'
import { NewReno } from '../../src/protocol/congestion/newreno.js'
import { WireError } from '../../src/errors.js'
import { K_PACKET_THRESHOLD, LossDetector, PassThroughLossDetector } from '../../src/protocol/loss.js'
import { RttEstimator } from '../../src/protocol/rtt.js'

const MDS = 1200
function setup(initialRtt = 100) {
  const rtt = new RttEstimator(initialRtt, 25)
  const cc = new NewReno({ maxDatagramSize: MDS })
  const ld = new LossDetector<string>(rtt, cc)
  return { rtt, cc, ld }
}
const r = (lo: number, hi: number): [number, number] => [lo, hi]

describe('LossDetector (RFC 9002 §6)', () => {
  it('returns acked records, takes an RTT sample from the largest newly acked, and subtracts ack delay', () => {
    const { rtt, cc, ld } = setup()
    ld.onPacketSent(0, 0, MDS, true, true, 'p0')
    ld.onPacketSent(1, 10, MDS, true, true, 'p1')
    expect(cc.bytesInFlight).toBe(2 * MDS)
    const res = ld.onAck([r(0, 1)], 5000, 60)
    expect([...res.acked].sort()).toEqual(['p0', 'p1'])
    expect(res.rttSampled).toBe(true)
    expect(rtt.latestRtt).toBe(50)
    expect(cc.bytesInFlight).toBe(0)
    expect(ld.outstanding).toBe(0)
    // A duplicate ACK acks nothing and takes no sample.
    const again = ld.onAck([r(0, 1)], 0, 70)
    expect(again.acked).toEqual([])
    expect(again.rttSampled).toBe(false)
  })

  it('takes no RTT sample when only non-ack-eliciting packets are newly acked', () => {
    const { rtt, ld } = setup()
    ld.onPacketSent(0, 0, 50, false, false, 'ack-only')
    const res = ld.onAck([r(0, 0)], 0, 40)
    expect(res.acked).toEqual(['ack-only'])
    expect(res.rttSampled).toBe(false)
    expect(rtt.hasSample).toBe(false)
  })

  it('declares a packet lost once kPacketThreshold later packets are acked', () => {
    const { cc, ld } = setup()
    for (let pn = 0; pn <= K_PACKET_THRESHOLD; pn++) ld.onPacketSent(pn, pn, MDS, true, true, `p${pn}`)
    const before = cc.cwnd
    const res = ld.onAck([r(1, K_PACKET_THRESHOLD)], 0, 50)
    expect(res.lost).toEqual(['p0'])
    expect(ld.lostPackets).toBe(1)
    expect(cc.cwnd).toBeLessThan(before)
    expect(cc.bytesInFlight).toBe(0)
  })

  it('declares by RACK time threshold via the loss timer (rack.rtt + min_rtt/4, RFC 8985 §6.2)', () => {
    const { ld } = setup()
    ld.onPacketSent(0, 0, MDS, true, true, 'p0')
    ld.onPacketSent(1, 1, MDS, true, true, 'p1')
    const res = ld.onAck([r(1, 1)], 0, 41)
    expect(res.lost).toEqual([])
    const deadline = ld.getTimeout()
    // rack.rtt = 40 (p1: sent 1, acked 41), reo_wnd = min_rtt / 4 = 10.
    expect(ld.rack.rtt).toBe(40)
    expect(ld.rack.reoWnd()).toBe(10)
    expect(deadline).toBeCloseTo(0 + 40 + 10)
    expect(ld.onTimeout(deadline - 0.001).lost).toEqual([])
    const t = ld.onTimeout(deadline)
    expect(t.lost).toEqual(['p0'])
    expect(t.probes).toBe(0)
    expect(ld.getTimeout()).toBe(Infinity)
  })

  it('arms a tail loss probe first (2 srtt + max_ack_delay, RFC 8985 §7.2), then a PTO backing off exponentially', () => {
    const { rtt, ld } = setup(100)
    ld.onPacketSent(0, 0, MDS, true, true, 'p0')
    const pto = rtt.pto()
    const tlp = 2 * rtt.smoothedRtt + rtt.maxAckDelay
    expect(tlp).toBeLessThan(pto)
    expect(ld.getTimeout()).toBeCloseTo(tlp)
    expect(ld.onTimeout(tlp - 1).probes).toBe(0)
    let t = ld.onTimeout(tlp)
    expect(t.probes).toBe(1)
    expect(t.probeRecords).toEqual(['p0'])
    expect(ld.ptoCount).toBe(1)
    expect(ld.getTimeout()).toBeCloseTo(2 * pto)
    t = ld.onTimeout(2 * pto)
    expect(t.probes).toBe(2)
    expect(t.probeRecords).toEqual(['p0'])
    expect(ld.ptoCount).toBe(2)
    expect(ld.getTimeout()).toBeCloseTo(4 * pto)
    // Probes sent: the deadline is measured from the newest ack-eliciting packet.
    ld.onPacketSent(1, 2 * pto, MDS, true, true, 'probe')
    expect(ld.getTimeout()).toBeCloseTo(2 * pto + 4 * pto)
    // An ACK resets the backoff.
    ld.onAck([r(1, 1)], 0, 2 * pto + 50)
    expect(ld.ptoCount).toBe(0)
  })

  it('has no PTO when only non-ack-eliciting packets are outstanding', () => {
    const { ld } = setup()
    ld.onPacketSent(0, 0, 40, false, false, 'a')
    expect(ld.getTimeout()).toBe(Infinity)
  })

  it('a NACK is only a hint: packets below the largest acked are lost once the RACK time rule says so', () => {
    const { cc, ld } = setup()
    for (let pn = 0; pn < 6; pn++) ld.onPacketSent(pn, pn, MDS, true, true, `p${pn}`)
    ld.onAck([r(2, 2)], 0, 20)
    // rack.rtt 18, reo_wnd 4.5: p0 is lost from 22.5, p1 from 23.5. A gap may be reordering.
    expect(ld.onNack([0, 1, 2, 3, 5, 99], 21)).toEqual([])
    const lost = ld.onNack([0, 1, 2, 3, 5, 99], 23.5)
    expect([...lost].sort()).toEqual(['p0', 'p1'])
    expect(cc.congestionEvents).toBe(1)
    expect(ld.onNack([0, 1], 22)).toEqual([])
  })

  it('rejects an ACK of a packet number never sent', () => {
    const { ld } = setup()
    ld.onPacketSent(0, 0, MDS, true, true, 'p0')
    expect(ld.onAck([r(0, 5)], 0, 10).error).toBe(WireError.INVALID_FRAME)
  })

  it('detects persistent congestion after a long run of consecutive losses (§7.6)', () => {
    const { rtt, cc, ld } = setup(100)
    ld.onPacketSent(0, 0, MDS, true, true, 'p0')
    ld.onAck([r(0, 0)], 0, 100) // first RTT sample at t=100
    const duration = rtt.persistentCongestionDuration()
    let pn = 1
    for (let t = 200; t <= 200 + duration + 100; t += 50) ld.onPacketSent(pn++, t, MDS, true, true, `p${pn}`)
    const last = pn
    ld.onPacketSent(last, 2000, MDS, true, true, 'last')
    ld.onAck([r(last, last)], 0, 2050)
    expect(ld.persistentCongestionEvents).toBe(1)
    expect(cc.cwnd).toBe(2 * MDS)
  })

  it('does not declare persistent congestion when the run is broken by an ack', () => {
    const { rtt, cc, ld } = setup(100)
    ld.onPacketSent(0, 0, MDS, true, true, 'p0')
    ld.onAck([r(0, 0)], 0, 100)
    const duration = rtt.persistentCongestionDuration()
    let pn = 1
    for (let t = 200; t <= 200 + duration + 100; t += 50) ld.onPacketSent(pn++, t, MDS, true, true, `p${pn}`)
    const mid = Math.floor(pn / 2)
    ld.onPacketSent(pn, 2000, MDS, true, true, 'last')
    ld.onAck([r(pn, pn), r(mid, mid)], 0, 2050)
    expect(ld.persistentCongestionEvents).toBe(0)
    expect(cc.cwnd).toBeGreaterThan(2 * MDS)
  })

  it('keeps bookkeeping bounded and consistent over many packets acked out of order', () => {
    const { cc, ld } = setup()
    const N = 5000
    for (let pn = 0; pn < N; pn++) ld.onPacketSent(pn, pn * 0.01, 100, true, true, String(pn))
    // Ack every other packet, then the rest.
    const evens: Array<[number, number]> = []
    for (let pn = N - 2; pn >= 0 && evens.length < 64; pn -= 2) evens.push([pn, pn])
    ld.onAck(evens, 0, 60)
    let acked = 0
    for (let hi = N - 1; hi >= 0; hi -= 64) {
      const res = ld.onAck([[Math.max(0, hi - 63), hi]], 0, 61)
      acked += res.acked.length + res.lost.length
    }
    expect(ld.outstanding).toBe(0)
    expect(cc.bytesInFlight).toBe(0)
    expect(acked).toBeGreaterThan(0)
  })

  it('pass-through (bare mode) tracks nothing and never times out', () => {
    const p = new PassThroughLossDetector<string>()
    p.onPacketSent()
    expect(p.getTimeout()).toBe(Infinity)
    expect(p.onAck().acked).toEqual([])
    expect(p.stats().cwnd).toBe(Infinity)
  })
})
