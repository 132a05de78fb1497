/**
 * Issue 9: the ack-of-ack floor (RFC 9000 §13.2.4) never passes a packet no ACK frame carried
 * yet. A stalled receiver reads, in one batch, late packets and the packet that tells it the peer
 * got its last ACK: the floor rose past the late ones before any ACK carried them, and the
 * sender's RACK declared them lost and never learnt they had arrived (no spurious-loss undo).
 */
import { describe, expect, it } from 'vitest'
import { AckTracker } from '../../src/protocol/ack-tracker.js'
import { type AckFrame, decodeFrames } from '../../src/protocol/frames.js'

/** The ACK writeAck writes now (what the session puts in its next packet). */
function written(t: AckTracker, now: number): Array<readonly [number, number]> {
  const buf = new Uint8Array(1200)
  const end = t.writeAck(buf, 0, buf.length, now)
  return end === 0 ? [] : (decodeFrames(buf, 0, end) as AckFrame[])[0]!.ranges
}

const carries = (ranges: ReadonlyArray<readonly [number, number]>, pn: number): boolean => ranges.some(([lo, hi]) => lo <= pn && pn <= hi)

describe('AckTracker floor', () => {
  it('late packets read in the batch that acknowledges our ACK are still acknowledged', () => {
    const t = new AckTracker()
    for (let pn = 0; pn < 10; pn++) t.onPacketReceived(pn, true, 0)
    expect(written(t, 0)).toEqual([[0, 9]])
    t.onPacketReceived(20, true, 1) // 10-19 are late
    expect(written(t, 1)).toEqual([[20, 20], [0, 9]])
    // One batch: 15 and 16 arrive, then the peer's packet acknowledging the one that carried that ACK.
    t.onPacketReceived(15, true, 5)
    t.onPacketReceived(16, true, 5)
    t.onAckFrameAcked(20)
    const next = written(t, 5)
    expect(carries(next, 15)).toBe(true)
    expect(carries(next, 16)).toBe(true)
    // Carried once, they may go: the floor passes them when that ACK is acknowledged in turn.
    t.onAckFrameAcked(20)
    expect(t.onPacketReceived(17, true, 6)).toBe('too-old')
    expect(t.buildAck(6)).toBeNull()
  })

  it('a non-ack-eliciting packet does not hold the floor (the peer does not wait for its ACK)', () => {
    const t = new AckTracker()
    t.onPacketReceived(0, true, 0)
    t.onPacketReceived(5, true, 0)
    written(t, 0)
    t.onPacketReceived(3, false, 1)
    t.onAckFrameAcked(5)
    expect(t.onPacketReceived(4, true, 1)).toBe('too-old')
  })
})
