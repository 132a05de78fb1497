import { describe, expect, it } from 'vitest'
import { DeliveryRateSampler, type LostPacketInfo, type RateStamp } from '../../src/protocol/congestion/delivery-rate.js'

const SIZE = 1000
const stamp = (timeSent: number): RateStamp => ({ timeSent, size: SIZE, delivered: 0, deliveredTime: 0, firstSentTime: 0, isAppLimited: false, txInFlight: 0, lost: 0 })

// One packet a ms, each acked 20 ms after it was sent, except the 20 sent at 40-59 ms: a
// reordering path holds them back, they are declared lost at 85 ms and all acked at 100 ms
// (proving the losses spurious) together with packet 80. The path delivered one packet a ms.
function rateAt100(creditSpurious: boolean): number {
  const s = new DeliveryRateSampler()
  const sent: RateStamp[] = []
  const held = (pn: number): boolean => pn >= 40 && pn < 60
  let inflight = 0
  let rate = NaN
  const lostInfo: LostPacketInfo = { pn: 0, size: 0, txInFlight: 0, lostSince: 0, isAppLimited: false }
  for (let t = 0; t <= 100; t++) {
    if (t === 85) {
      s.beginAck()
      for (let pn = 40; pn < 60; pn++) {
        s.onPacketLost(sent[pn]!, lostInfo)
        inflight -= SIZE
      }
      s.finishAck(20, inflight)
    }
    const pn = t - 20
    if (pn >= 0 && !held(pn)) {
      s.beginAck()
      if (t === 100 && creditSpurious) for (let h = 40; h < 60; h++) s.onSpuriousLoss(SIZE, t, sent[h]!.timeSent)
      s.onPacketAcked(sent[pn]!, t)
      inflight -= SIZE
      const rs = s.finishAck(20, inflight)
      if (t === 100) rate = rs.deliveryRate
    }
    const p = stamp(t)
    s.onPacketSent(p, t, inflight)
    sent.push(p)
    inflight += SIZE
  }
  return rate
}

describe('delivery rate with spurious losses', () => {
  it('bytes an ACK proves spuriously lost stretch the send interval back to their send time: the sample stays at the path rate', () => {
    const base = rateAt100(false)
    expect(base).toBeCloseTo(SIZE, -1) // one packet a ms
    const withProof = rateAt100(true)
    // 40 packets delivered over the 40 ms since the first held one was sent; counted over the
    // newest packet's own 20 ms send interval it read 2x the path rate.
    expect(withProof).toBeGreaterThan(0.9 * SIZE)
    expect(withProof).toBeLessThanOrEqual(1.05 * SIZE)
  })
})
