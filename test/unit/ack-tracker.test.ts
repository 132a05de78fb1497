import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AckTracker, MAX_NACKS_PER_PACKET } from '../../src/protocol/ack-tracker.js'
import { FrameType } from '../../src/protocol/constants.js'
import { MAX_ACK_RANGES, MAX_NACK_COUNT, decodeFrames, encodeFrames, type AckFrame } from '../../src/protocol/frames.js'

describe('AckTracker', () => {
  it('delays the ACK up to maxAckDelay after one ack-eliciting packet, and acks after the second at once', () => {
    const t = new AckTracker({ maxAckDelay: 25 })
    expect(t.getTimeout(0)).toBe(Infinity)
    t.onPacketReceived(0, true, 100)
    expect(t.ackDue(100)).toBe(false)
    expect(t.getTimeout(100)).toBe(125)
    expect(t.ackDue(125)).toBe(true)
    t.onPacketReceived(1, true, 110)
    expect(t.ackDue(110)).toBe(true)
  })

  it('two or more packets, or a full-size one, wait for the threshold at most two RTTs (1 ms at least); one small packet, and any before an RTT sample, max_ack_delay', () => {
    const rtt = { smoothedRtt: 333, minRtt: Infinity, hasSample: false }
    const t = new AckTracker({ ackElicitingThreshold: 8 }, rtt)
    const buf = new Uint8Array(1500)
    let pn = 0
    const two = (at: number): void => {
      t.onPacketReceived(pn++, true, at)
      t.onPacketReceived(pn++, true, at + 0.1)
    }
    two(100)
    expect(t.getTimeout(100.1)).toBe(125) // no sample: max_ack_delay
    t.writeAck(buf, 0, buf.length, 125)
    Object.assign(rtt, { smoothedRtt: 0.5, minRtt: 0.4, hasSample: true })
    t.onPacketReceived(pn++, true, 200)
    expect(t.getTimeout(200)).toBe(225) // one packet (a request): its answer may carry the ACK
    t.onPacketReceived(pn++, true, 200.3)
    expect(t.getTimeout(200.3)).toBe(201) // two on a 0.4 ms path: 1 ms from the first, not 25
    t.writeAck(buf, 0, buf.length, 201)
    t.onPacketReceived(pn++, true, 250, true)
    expect(t.getTimeout(250)).toBe(251) // a lone full-size one: a window-limited flight's
    t.writeAck(buf, 0, buf.length, 251)
    Object.assign(rtt, { smoothedRtt: 12, minRtt: 10 })
    two(300)
    expect(t.getTimeout(300.1)).toBe(320) // two min RTTs
    t.writeAck(buf, 0, buf.length, 320)
    Object.assign(rtt, { smoothedRtt: 80, minRtt: 60 })
    two(400)
    expect(t.getTimeout(400.1)).toBe(425) // max_ack_delay is the cap
  })

  it('does not arm the timer for non-ack-eliciting packets but still reports them', () => {
    const t = new AckTracker()
    t.onPacketReceived(0, false, 0)
    expect(t.getTimeout(0)).toBe(Infinity)
    expect(t.hasNewPackets).toBe(true)
    expect(t.buildAck(0)!.ranges).toEqual([[0, 0]])
  })

  it('acks at once when a gap appears or is filled', () => {
    const t = new AckTracker()
    t.onPacketReceived(0, true, 0)
    t.onAckSent(0)
    t.onPacketReceived(2, true, 1) // gap at 1
    expect(t.ackDue(1)).toBe(true)
    t.onAckSent(2)
    t.onPacketReceived(1, true, 2) // fills it
    expect(t.ackDue(2)).toBe(true)
  })

  it('acks a late arrival (fills a gap) at most 1/8 min RTT after the last ACK, and then a new gap too (a reordering path: not one ACK per packet)', () => {
    const rtt = { smoothedRtt: 10, minRtt: 8 }
    const t = new AckTracker({ ackElicitingThreshold: 8 }, rtt)
    const buf = new Uint8Array(1500)
    t.onPacketReceived(0, true, 100)
    t.onPacketReceived(2, true, 100) // gap at 1: at once (nothing reordered yet)
    expect(t.ackDue(100)).toBe(true)
    t.writeAck(buf, 0, buf.length, 100)
    t.onPacketReceived(1, true, 100.2) // fills it, 0.2 ms after that ACK: due 1/8 * 8 ms after it
    expect(t.ackDue(100.2)).toBe(false)
    expect(t.getTimeout(100.2)).toBe(101)
    t.onPacketReceived(3, true, 100.3) // in order: the deadline stays
    expect(t.getTimeout(100.3)).toBe(101)
    expect(t.ackDue(101)).toBe(true)
    t.writeAck(buf, 0, buf.length, 101)
    t.onPacketReceived(5, true, 101.1) // a new gap (4) on a path that reordered (1 was 0.2 ms late): as a late arrival
    expect(t.ackDue(101.1)).toBe(false)
    expect(t.getTimeout(101.1)).toBe(102)
    expect(t.ackDue(102)).toBe(true)
    t.writeAck(buf, 0, buf.length, 102)
    t.onPacketReceived(4, true, 103.5) // late, but more than 1 ms after the last ACK: at once
    expect(t.ackDue(103.5)).toBe(true)
    t.writeAck(buf, 0, buf.length, 103.5)
    t.onPacketReceived(7, true, 103.6) // a new gap (6) within 1 ms of that ACK: 1 ms after it
    expect(t.getTimeout(103.6)).toBe(104.5)
    t.writeAck(buf, 0, buf.length, 104.5)
    t.onPacketReceived(6, true, 104.6)
    // The every-8th rule still acks at once.
    t.onPacketReceived(8, true, 104.6)
    t.writeAck(buf, 0, buf.length, 104.6)
    for (const pn of [10, 11, 12, 13, 9, 15, 14]) t.onPacketReceived(pn, true, 104.7)
    expect(t.ackDue(104.7)).toBe(false)
    t.onPacketReceived(16, true, 104.7)
    expect(t.ackDue(104.7)).toBe(true)
  })

  it('acks a new gap at once on a path that has not reordered lately (a loss: the sender\'s loss detection starts from it)', () => {
    const rtt = { smoothedRtt: 10, minRtt: 8 }
    const t = new AckTracker({ ackElicitingThreshold: 8 }, rtt) // reordering windows of 4 * 10 ms, from 100
    const buf = new Uint8Array(1500)
    t.onPacketReceived(0, true, 100)
    t.writeAck(buf, 0, buf.length, 100)
    t.onPacketReceived(2, true, 100.1) // gap at 1, nothing reordered: at once
    expect(t.ackDue(100.1)).toBe(true)
    t.writeAck(buf, 0, buf.length, 100.1)
    t.onPacketReceived(1, true, 100.6) // 0.5 ms late: the path reorders
    t.writeAck(buf, 0, buf.length, 101.1)
    t.onPacketReceived(4, true, 101.2) // gap at 3 (lost): 1/8 min RTT after the last ACK
    expect(t.ackDue(101.2)).toBe(false)
    expect(t.getTimeout(101.2)).toBe(102.1)
    t.writeAck(buf, 0, buf.length, 102.1)
    t.onPacketReceived(5, true, 150) // the next window: the one before it reordered, so still spaced
    t.writeAck(buf, 0, buf.length, 150)
    t.onPacketReceived(7, true, 150.1)
    expect(t.ackDue(150.1)).toBe(false)
    t.writeAck(buf, 0, buf.length, 151.1)
    // Two windows on without a late arrival (6 and 3 never came): a new gap is a loss again, acked at once.
    t.onPacketReceived(9, true, 190)
    expect(t.ackDue(190)).toBe(true)
  })

  it('acks a new gap at once on a reordering path when NACKs are off (no reordering delay is measured)', () => {
    const t = new AckTracker({ ackElicitingThreshold: 8, nack: false }, { smoothedRtt: 10, minRtt: 8 })
    const buf = new Uint8Array(1500)
    t.onPacketReceived(0, true, 100)
    t.onPacketReceived(2, true, 100)
    t.writeAck(buf, 0, buf.length, 100)
    t.onPacketReceived(1, true, 100.5)
    t.writeAck(buf, 0, buf.length, 101)
    t.onPacketReceived(4, true, 101.1)
    expect(t.ackDue(101.1)).toBe(true)
  })

  it('builds ranges highest first with the ack delay in microseconds, round-tripping the codec', () => {
    const t = new AckTracker()
    for (const pn of [0, 1, 2, 5, 6, 9]) t.onPacketReceived(pn, true, 10)
    const f = t.buildAck(10.5)!
    expect(f.ranges).toEqual([
      [9, 9],
      [5, 6],
      [0, 2],
    ])
    expect(f.ackDelayMicros).toBe(500)
    const decoded = decodeFrames(encodeFrames([f]))
    expect(decoded).toEqual([f])
  })

  it('reports duplicates and forgotten packets without acking them again', () => {
    const t = new AckTracker()
    expect(t.onPacketReceived(3, true, 0)).toBe('new')
    expect(t.onPacketReceived(3, true, 0)).toBe('duplicate')
    t.onAckSent(3)
    t.onAckFrameAcked(3)
    expect(t.onPacketReceived(2, true, 0)).toBe('too-old')
    expect(t.buildAck(0)).toBeNull()
    t.onPacketReceived(4, true, 0)
    expect(t.buildAck(0)!.ranges).toEqual([[4, 4]])
  })

  it('writeAck fits the budget by dropping the oldest ranges and resets the timer', () => {
    const t = new AckTracker()
    for (let pn = 0; pn < 400; pn += 2) t.onPacketReceived(pn, true, 0)
    const buf = new Uint8Array(40)
    const end = t.writeAck(buf, 0, 40, 0)
    expect(end).toBeGreaterThan(0)
    expect(end).toBeLessThanOrEqual(40)
    const frames = decodeFrames(buf, 0, end) as AckFrame[]
    expect(frames[0]!.ranges[0]).toEqual([398, 398])
    expect(t.lastAckLargest).toBe(398)
    expect(t.ackDue(1000)).toBe(false)
    expect(t.buildAck(0)!.ranges.length).toBe(MAX_ACK_RANGES)
  })

  it('NACKs a gap after 3 later packets, at most twice, one RTT apart', () => {
    const rtt = { smoothedRtt: 100 }
    const t = new AckTracker({}, rtt)
    t.onPacketReceived(0, true, 0)
    t.onPacketReceived(2, true, 1)
    expect(t.nackDue(1)).toBe(false) // 1 is only one packet behind
    t.onPacketReceived(3, true, 2)
    t.onPacketReceived(4, true, 3)
    expect(t.buildNack(3)).toEqual({ type: FrameType.NACK, packetNumbers: [1] })
    expect(t.buildNack(50)).toBeNull()
    expect(t.getTimeout(50)).toBeLessThanOrEqual(103)
    expect(t.buildNack(103)!.packetNumbers).toEqual([1])
    for (let k = 0; k < 10; k++) expect(t.buildNack(1000 * (k + 2))).toBeNull()
    expect(MAX_NACKS_PER_PACKET).toBe(2)
  })

  it('NACKs by time (9/8 RTT) when fewer than 3 packets follow, and stops once the packet arrives', () => {
    const t = new AckTracker({}, { smoothedRtt: 80 })
    t.onPacketReceived(0, true, 0)
    t.onPacketReceived(2, true, 0)
    expect(t.getTimeout(0)).toBeLessThanOrEqual(90)
    expect(t.nackDue(89)).toBe(false)
    expect(t.nackDue(90)).toBe(true)
    t.onPacketReceived(1, true, 91)
    expect(t.nackDue(92)).toBe(false)
  })

  it('puts at most MAX_NACK_COUNT numbers in one NACK', () => {
    const t = new AckTracker()
    t.onPacketReceived(0, true, 0)
    t.onPacketReceived(200, true, 0)
    const f = t.buildNack(0)!
    expect(f.packetNumbers.length).toBe(MAX_NACK_COUNT)
    expect(f.packetNumbers[0]).toBe(197) // 198 and 199 are within the reorder threshold of 200
    expect(decodeFrames(encodeFrames([f]))).toEqual([f])
  })

  it('property: writeAck encodes exactly buildAck (trimmed to the budget) and decodes with frames.ts', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 100_000 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 4, max: 600 }),
        (pns, room) => {
          const t = new AckTracker()
          for (const pn of pns) t.onPacketReceived(pn, true, 0)
          const expected = t.buildAck(0.25)!
          const buf = new Uint8Array(room)
          const end = t.writeAck(buf, 0, room, 0.25)
          if (end === 0) return
          const got = decodeFrames(buf, 0, end) as AckFrame[]
          expect(got.length).toBe(1)
          expect(got[0]!.ackDelayMicros).toBe(expected.ackDelayMicros)
          expect(got[0]!.ranges).toEqual(expected.ranges.slice(0, got[0]!.ranges.length))
          expect(encodeFrames(got).length).toBe(end)
          // Not more trimmed than needed: one more range would not have fitted.
          if (got[0]!.ranges.length < expected.ranges.length) {
            const bigger = encodeFrames([{ ...expected, ranges: expected.ranges.slice(0, got[0]!.ranges.length + 1) }])
            expect(bigger.length).toBeGreaterThan(room)
          }
        },
      ),
      { seed: 77, numRuns: 300 },
    )
  })

  it('property: the ACK frame covers exactly the received numbers (newest MAX_ACK_RANGES ranges)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 300 }), (pns) => {
        const t = new AckTracker()
        for (const pn of pns) t.onPacketReceived(pn, true, 0)
        const f = t.buildAck(0)!
        const decoded = decodeFrames(encodeFrames([f])) as AckFrame[]
        const covered = new Set<number>()
        let prevLo = Infinity
        for (const [lo, hi] of decoded[0]!.ranges) {
          expect(hi).toBeLessThan(prevLo - 1) // disjoint, descending, not adjacent
          prevLo = lo
          for (let p = lo; p <= hi; p++) covered.add(p)
        }
        const sorted = [...pns].sort((a, b) => b - a)
        const lowest = decoded[0]!.ranges.at(-1)![0]
        for (const pn of sorted) if (pn >= lowest) expect(covered.has(pn)).toBe(true)
        for (const pn of covered) expect(pns.includes(pn)).toBe(true)
      }),
      { seed: 1234, numRuns: 200 },
    )
  })
})
