/**
 * The fallback from a dead punched direct path to its relay channel (src/protocol/path-fallback.ts;
 * the kernel-NAT case is in test/integration/nat-netns.test.ts): the sender falls back after
 * FALLBACK_PTOS probe timeouts in a row, the other side follows a newest packet from the channel
 * only once the direct path went silent, and packets merely in flight never bounce a session.
 */
import { describe, expect, it } from 'vitest'
import { FALLBACK_PTOS, PathFallback } from '../../src/protocol/path-fallback.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'

const direct = fakeAddress('direct')
const relayed = fakeAddress('relayed')
const PTO = 100

describe('path fallback', () => {
  it('does nothing without a fallback address', () => {
    const f = new PathFallback()
    expect(f.onPto(10, direct)).toBeNull()
    expect(f.onPacket(relayed, direct, true, 10_000, PTO)).toBeNull()
  })

  it('the sending side falls back after FALLBACK_PTOS probe timeouts in a row on the direct path', () => {
    const f = new PathFallback()
    f.address = relayed
    for (let n = 1; n < FALLBACK_PTOS; n++) expect(f.onPto(n, direct)).toBeNull()
    expect(f.onPto(FALLBACK_PTOS, direct)).toBe(relayed)
    expect(f.onPto(FALLBACK_PTOS + 1, relayed)).toBeNull() // already there
    expect(f.count).toBe(1)
  })

  it('the other side follows a newest packet from the channel only once the direct path went silent for 3 PTO', () => {
    const f = new PathFallback()
    f.address = relayed
    f.moved(1000) // moved to the direct path at t = 1000
    // Packets still in flight on the channel right after the move: not followed.
    expect(f.onPacket(relayed, direct, true, 1100, PTO)).toBeNull()
    expect(f.onPacket(direct, direct, true, 1200, PTO)).toBeNull() // the direct path works
    expect(f.onPacket(relayed, direct, true, 1450, PTO)).toBeNull() // 250 ms of silence < 3 PTO
    expect(f.onPacket(relayed, direct, false, 1600, PTO)).toBeNull() // not the newest packet
    expect(f.onPacket(fakeAddress('other'), direct, true, 1600, PTO)).toBeNull() // not the channel
    expect(f.onPacket(relayed, direct, true, 1600, PTO)).toBe(relayed) // 400 ms > 3 PTO: the peer fell back
  })
})
