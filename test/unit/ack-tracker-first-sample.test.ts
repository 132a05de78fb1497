import { describe, expect, it } from 'vitest'
import { RttEstimator } from '../../src/protocol/rtt.js'
import { AckTracker } from '../../src/protocol/ack-tracker.js'

describe('AckTracker before the first RTT sample', () => {
  // A receiver's first RTT sample comes from an ACK of something it sent; one that has only sent
  // ACKs has none for the first rounds of a transfer, and 1/8 of the 333 ms default held the ACK
  // of a late first-flight packet 41.6 ms, past the sender's RACK deadline (issue 9).
  it('acks a late arrival at once before the first RTT sample, 1/8 min RTT after the last ACK once there is one', () => {
    const rtt = new RttEstimator()
    const t = new AckTracker({ nack: true, ackElicitingThreshold: 8 }, rtt) // as a session makes it
    const buf = new Uint8Array(1500)
    t.onPacketReceived(0, true, 100)
    t.onPacketReceived(2, true, 100) // gap at 1: at once
    t.writeAck(buf, 0, buf.length, 100)
    t.onPacketReceived(1, true, 100.5) // fills it: no RTT known, so at once
    expect(t.ackDue(100.5)).toBe(true)
    t.writeAck(buf, 0, buf.length, 100.5)
    t.onPacketReceived(4, true, 100.6) // a new gap (3) on a path that reordered, still no RTT known: at once
    expect(t.ackDue(100.6)).toBe(true)
    t.writeAck(buf, 0, buf.length, 100.6)
    t.onPacketReceived(3, true, 100.7)
    t.writeAck(buf, 0, buf.length, 100.7)

    rtt.update(20, 0, 101)
    t.onPacketReceived(6, true, 101) // gap at 5, on a path that reordered: 1/8 of 20 ms after the last ACK
    expect(t.ackDue(101)).toBe(false)
    expect(t.ackDue(103.2)).toBe(true)
    t.writeAck(buf, 0, buf.length, 101)
    t.onPacketReceived(5, true, 101.5) // fills it: 1/8 of 20 ms after the last ACK
    expect(t.ackDue(101.5)).toBe(false)
    expect(t.getTimeout(101.5)).toBe(103.5)
  })
})
