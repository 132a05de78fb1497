/**
 * Review of path13e (review 56, finding 2; review 63): attack tests on the path left by our own
 * migration. Pins main's rule, kept (the old address is not challenged; PROTOCOL.md §2.1).
 *
 * A migrates from O to N (session.migrate); B validates A's new address and follows. A's view: O
 * (= addrB) is B's address on the path A left, N B's address on the new one. B's view: addrA on
 * O, A2 on N. Both paths have the same one-way delay (`DELAY`), no jitter. Then an on-path
 * attacker copies ONE of B's data packets on N and delivers the copy to A spoofed from O, ahead
 * of the original (which A then drops as a replay). B still has its address on O, as after any
 * UDP -> WebSocket migrate().
 *
 * PROTOCOL.md §2.1 (path13e) says the path left by our own migration, once the peer followed,
 * gives an attacker "nothing it does not get against an apparent migration's previous": there,
 * one raced packet moves only our side, for as long as the attacker keeps winning races, and
 * the peer's genuine packets on the path it really uses take the session back. Here our side's
 * move back to O also changes where OUR packets come from, so B follows A back (Ao is B's own
 * validated previous path): one raced packet moves both sides, for good, and with equal delays
 * the two keep swapping paths half a cycle apart.
 *
 * Both tests pass on main (O pinned: the copy moves nothing) and fail on path13e.
 */
import { describe, expect, it } from 'vitest'
import type { PeerAddress } from '../../src/net-types.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'
import { CorePair } from './core-harness.js'

const N = fakeAddress('n')
const A2 = fakeAddress('a2')
const DELAY = 10
const STEP = 5

function ownMigrationThenRace(seed: string, settle: number) {
  const p = new CorePair({ seed })
  const { sa, sb } = p.handshake()
  expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
  p.advance(100)
  p.tap = () => []
  let seen = p.log.length
  const inFlight: Array<{ at: number; to: 'a' | 'b'; data: Uint8Array; from: PeerAddress }> = []
  const net = { holdToN: false, raceFromO: false, raced: 0 }
  const held: Uint8Array[] = []
  const send = (to: 'a' | 'b', data: Uint8Array, from: PeerAddress) => inFlight.push({ at: p.now + DELAY, to, data, from })
  const route = () => {
    while (seen < p.log.length) {
      const d = p.log[seen++]!
      if (d.from === 'a' && d.toKey === N.key) {
        if (net.holdToN) held.push(d.data)
        else send('b', d.data, A2)
      } else if (d.from === 'a' && d.toKey === p.addrB.key) send('b', d.data, p.addrA)
      else if (d.from === 'b' && d.toKey === A2.key) {
        // The attack: one data packet of B's (not a bare ACK or echo), its copy ahead of it from O.
        if (net.raceFromO && d.data.length > 60) {
          net.raceFromO = false
          net.raced++
          inFlight.push({ at: p.now + DELAY - 1, to: 'a', data: d.data, from: p.addrB })
        }
        send('a', d.data, N)
      } else if (d.from === 'b' && d.toKey === p.addrA.key) send('a', d.data, p.addrB)
    }
  }
  const pump = (ms: number) => {
    for (let t = 0; t < ms; t += STEP) {
      if (t % 10 === 0) {
        sa.sendDatagram(new Uint8Array(40).fill(1))
        sb.sendDatagram(new Uint8Array(40).fill(2))
      }
      p.flush()
      if (!net.holdToN) for (const d of held.splice(0)) send('b', d, A2)
      route()
      inFlight.sort((x, y) => x.at - y.at)
      while (inFlight.length > 0 && inFlight[0]!.at <= p.now) {
        const d = inFlight.shift()!
        p.deliver(d.to, d.data, d.from)
        route()
      }
      p.advance(STEP)
      route()
    }
  }
  const moves = (side: 'a' | 'b') => p.sessionEvents(side, 'migrated').map((e) => (e.event.to as { key: string }).key)
  // A migrates; B's newest packets keep coming from O until it has seen A's new path.
  net.holdToN = true
  sa.migrateTo(N)
  pump(500)
  net.holdToN = false
  for (let t = 0; t < 2000 && sb.address.key !== A2.key; t += STEP) pump(STEP)
  expect(sb.address.key).toBe(A2.key) // B followed
  expect(moves('a')).toEqual([N.key])
  pump(settle) // path13e: O challenged and echoed (validated `previous`) within 3 PTO
  net.raceFromO = true
  pump(10_000)
  expect(net.raced).toBe(1)
  return { p, sa, sb, moves }
}

describe('review of path13e: one raced copy of a peer packet after our own migration', () => {
  it('does not make the two sides swap paths again and again (path13e: 334 moves each in 10 s)', () => {
    const { moves } = ownMigrationThenRace('review56-race-bounce', 30)
    expect(moves('a').length).toBeLessThanOrEqual(3)
    expect(moves('b').length).toBeLessThanOrEqual(3)
  })

  it('does not keep the session off the path the application chose once the attacker is gone (path13e: both on O for good)', () => {
    const { sa, sb } = ownMigrationThenRace('review56-race-bounce', 30)
    expect(sa.address.key).toBe(N.key)
    expect(sb.address.key).toBe(A2.key)
  })
})
