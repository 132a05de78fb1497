/**
 * Regression tests for issue 10, items 2 (race-and-relay redirection: the old path is validated
 * too and the session moves back; `previous` is forgotten after 3 PTO) and 4 (path challenges
 * stay within 3x of what the unvalidated address sent, retries included).
 */
import { describe, expect, it } from 'vitest'
import { fakeAddress } from '../helpers/endpoint-pair.js'
import { CorePair, PT, typeOf } from './core-harness.js'
import { AmplificationBudget } from '../../src/protocol/amplification.js'
import { OFF_PATH_PACKET_SIZE } from '../../src/protocol/off-path.js'

const V = fakeAddress('v') // the attacker's own address

/** The last datagram `side` emitted (after a flush). */
function last(p: CorePair, side: 'a' | 'b'): Uint8Array {
  const l = p.log.filter((d) => d.from === side)
  return l[l.length - 1]!.data
}

/** Bytes B sent to `key` since log index `from`. */
function sentTo(p: CorePair, from: number, key: string): number {
  return p.log.slice(from).filter((d) => d.from === 'b' && d.toKey === key).reduce((n, d) => n + d.data.length, 0)
}

/**
 * The race-and-relay attack of issue 10, item 2, by an attacker who sees and injects but
 * cannot drop: races a copy of A's packet to B from V, relays B's challenge (sent to V) to A,
 * races A's KEEP_ALIVE_ACK from V. Returns the sessions; B is then on V.
 */
function redirect(p: CorePair, beforeLastRace: () => void = () => {}) {
  const { sa, sb } = p.handshake()
  expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
  p.advance(100)
  sa.sendDatagram(new TextEncoder().encode('x'))
  p.flush()
  const raced = last(p, 'a')
  const logBefore = p.log.length
  p.deliver('b', raced, V) // the copy from V wins the race
  const challenge = p.log.slice(logBefore).find((d) => d.from === 'b' && d.toKey === V.key && typeOf(d.data) === PT.DATA)!.data
  expect(sb.address.key).toBe(p.addrA.key) // not moved before validation
  const beforeRelay = p.log.length
  p.deliver('a', challenge) // relayed to A as if from B
  const ack = p.log.slice(beforeRelay).find((d) => d.from === 'a')!.data
  beforeLastRace()
  p.deliver('b', ack, V) // A's KEEP_ALIVE_ACK raced from V
  expect(sb.address.key).toBe(V.key)
  return { sa, sb }
}

describe('item 2: a race-and-relay attacker cannot redirect a session for good', () => {
  it('the old path is validated too, and its newest packet moves the session back once the attacker stops', () => {
    const p = new CorePair({ seed: 'sec-redirect' })
    const { sa, sb } = redirect(p)
    p.advance(2000) // the attacker stops: nothing more is raced
    expect(sb.address.key).toBe(p.addrA.key)
    const moves = p.sessionEvents('b', 'migrated').map((e) => (e.event.to as { key: string }).key)
    expect(moves).toEqual([V.key, p.addrA.key])
    expect(p.roundTrip(sa, sb, 'after')).toBe(true)
  })

  it('previous is forgotten after ~3 PTO: later packets from the real address start an ordinary validation back', () => {
    const p = new CorePair({ seed: 'sec-redirect-expiry' })
    let blackout = false
    const tap = p.tap
    p.tap = (d) => (blackout && d.from === 'b' ? [] : tap(d))
    const { sb } = redirect(p, () => (blackout = true)) // the old-path challenges are all lost
    p.advance(3000)
    expect(sb.address.key).toBe(V.key)
    blackout = false
    p.advance(20_000) // A's keep-alives from its real address start a validation back
    expect(sb.address.key).toBe(p.addrA.key)
  })
})

describe('item 4: path challenges to an unvalidated address stay within 3x, retries included', () => {
  it('one raced packet buys at most 3x its size in challenges', () => {
    const p = new CorePair({ seed: 'sec-amplify' })
    const { sa, sb } = p.handshake()
    expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
    sa.sendDatagram(new Uint8Array(1))
    p.flush()
    const raced = last(p, 'a')
    const before = p.log.length
    p.deliver('b', raced, V)
    p.advance(10_000)
    const bytesToV = sentTo(p, before, V.key)
    expect(bytesToV).toBeGreaterThan(0) // a challenge did go out
    expect(bytesToV).toBeLessThanOrEqual(3 * raced.length)
    expect(sb.candidateBudget?.bytesSent).toBe(bytesToV)
  })
})

describe('NAT review item 1: the echo of a KEEP_ALIVE from a new address is charged to the same 3x account', () => {
  it('a punch from an unvalidated address buys at most 3x its size: echo and path challenge together', () => {
    const p = new CorePair({ seed: 'sec-amplify-echo' })
    const { sa, sb } = p.handshake()
    expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
    const budget = new AmplificationBudget()
    budget.onReceived(100_000)
    const before = p.log.length
    sa.startPunch(p.now, [V], budget) // A punches V: a KEEP_ALIVE with a fresh challenge
    p.flush()
    const punch = p.log.slice(before).find((d) => d.from === 'a' && d.toKey === V.key)!.data
    expect(punch.length).toBe(OFF_PATH_PACKET_SIZE)
    const mark = p.log.length
    p.deliver('b', punch, V) // arrives at B from V, an address B never validated
    p.advance(10_000)
    const toV = p.log.slice(mark).filter((d) => d.from === 'b' && d.toKey === V.key)
    expect(toV.length).toBeGreaterThanOrEqual(1) // the echo did go out (punching still works)
    const bytesToV = toV.reduce((n, d) => n + d.data.length, 0)
    expect(bytesToV).toBeLessThanOrEqual(3 * punch.length) // was 176 > 132 before the fix
    expect(sb.candidateBudget?.bytesSent).toBe(bytesToV)
  })

  it('raced copies of one punch from an unvalidated address buy no more than 3x of the one accepted', () => {
    const p = new CorePair({ seed: 'sec-amplify-echo-2' })
    const { sa, sb } = p.handshake()
    expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
    const budget = new AmplificationBudget()
    budget.onReceived(100_000)
    sa.startPunch(p.now, [V], budget)
    const before = p.log.length
    p.flush()
    const punch = p.log.slice(before).find((d) => d.from === 'a' && d.toKey === V.key)!.data
    // Its 3x account spent by many raced copies of the same punch: the replay window drops the
    // copies, and however many arrive, B sends V no more than 3x the one it accepted.
    const mark = p.log.length
    for (let i = 0; i < 5; i++) p.deliver('b', punch, V)
    p.advance(10_000)
    const bytesToV = p.log.slice(mark).filter((d) => d.from === 'b' && d.toKey === V.key).reduce((n, d) => n + d.data.length, 0)
    expect(bytesToV).toBeLessThanOrEqual(3 * punch.length)
  })
})
