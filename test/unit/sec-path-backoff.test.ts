/**
 * Review 56 (LOW): the backoff before a used-up candidate's next round of path challenges was
 * counted in the current path's smoothed RTT, which the attacker holding that path stretches by
 * delaying what it forwards. It now counts in the session's lowest RTT sample (which no one on
 * the path can raise) and the tries of a round are at most 1 s apart (docs/PROTOCOL.md §2.1).
 */
import { describe, expect, it } from 'vitest'
import { fakeAddress } from '../helpers/endpoint-pair.js'
import { CorePair, PT, typeOf } from './core-harness.js'

const V = fakeAddress('v') // the attacker's own address
const DELAY = 2000 // what the attacker holds B's packets to V for, before forwarding them to A

describe('review 56: an attacker holding the current path cannot stretch the re-challenge backoff', () => {
  it('B on V with its RTT stretched to ~2 s: once the attacker stops dropping B->A, A gets a new round within the bound', () => {
    const p = new CorePair({ seed: 'review56-backoff' })
    const { sa, sb } = p.handshake()
    expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
    p.advance(100)
    // The race of §2.1: a copy of A's packet from V, B's challenge relayed to A, A's echo raced from V.
    sa.sendDatagram(new Uint8Array([0]))
    p.flush()
    const raced = p.log.filter((d) => d.from === 'a').at(-1)!.data
    let mark = p.log.length
    p.deliver('b', raced, V)
    const challenge = p.log.slice(mark).find((d) => d.from === 'b' && d.toKey === V.key && typeOf(d.data) === PT.DATA)!.data
    mark = p.log.length
    p.deliver('a', challenge)
    const echo = p.log.slice(mark).find((d) => d.from === 'a')!.data
    // From now on the network is routed by hand: A's packets reach B from A's real address at
    // once; B's packets to V reach A DELAY ms later (the attacker forwards them, late); B's
    // packets to A's real address are dropped until `dropping` ends (its challenges there).
    p.tap = () => []
    let dropping = true
    let seen = p.log.length
    p.deliver('b', echo, V)
    expect(sb.address.key).toBe(V.key)
    const late: Array<{ at: number; data: Uint8Array }> = []
    const step = (ms: number) => {
      sa.sendDatagram(new Uint8Array([1]))
      sb.sendDatagram(new Uint8Array([2]))
      p.flush()
      while (late.length > 0 && late[0]!.at <= p.now) p.deliver('a', late.shift()!.data, p.addrB)
      // What a delivery makes the receiver send is routed in the same step.
      while (seen < p.log.length) {
        const d = p.log[seen++]!
        if (d.from === 'a' && d.toKey === p.addrB.key) p.deliver('b', d.data, p.addrA)
        else if (d.from === 'b' && d.toKey === V.key) late.push({ at: p.now + DELAY, data: d.data })
        else if (d.from === 'b' && d.toKey === p.addrA.key && !dropping) p.deliver('a', d.data, p.addrB)
      }
      p.advance(ms)
    }
    for (let t = 0; t < 40_000; t += 10) step(10)
    expect(sb.address.key).toBe(V.key)
    expect(sb.getStats().rtt!).toBeGreaterThan(1500) // the current path's RTT, stretched
    // A's packets have been arriving from its real address all along: it is the candidate, and
    // its rounds went unanswered. The attacker stops dropping there (it still delays on V).
    dropping = false
    const stopped = p.now
    while (sb.address.key !== p.addrA.key && p.now - stopped < 60_000) step(10)
    // The bound: the backoff in the lowest RTT (~10 ms here: 50 ms tries, so at most 2 s after
    // the last unanswered challenge), plus a try (at most 1 s). Before: 5 x 3 x ~2 s, doubling.
    expect(p.now - stopped).toBeLessThan(3000)
    expect(sb.address.key).toBe(p.addrA.key)
  })
})
