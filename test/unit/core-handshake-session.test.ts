/**
 * After the handshake: key update under rekeyAfterPackets, keep-alive on an idle session, and
 * keepAliveTimeout closing a session whose peer vanished (virtual time).
 */
import { describe, expect, it } from 'vitest'
import { WireError } from '../../src/errors.js'
import { HeaderFlag } from '../../src/protocol/constants.js'
import { CorePair, PT, typeOf } from './core-harness.js'

describe('key update', () => {
  for (const suite of ['aes-256-gcm', 'chacha20-poly1305']) {
    it(`happens after rekeyAfterPackets and traffic continues both ways (${suite})`, () => {
      const p = new CorePair({ seed: `ku-${suite}`, a: { rekeyAfterPackets: 16, ciphers: [suite] }, b: { rekeyAfterPackets: 16 } })
      const { sa, sb } = p.handshake()
      p.advance(50)
      const N = 150
      for (let i = 0; i < N; i++) {
        // One datagram per packet (each its own run step), so the packet count climbs.
        expect(p.roundTrip(sa, sb, `m${i}`), `round trip ${i}`).toBe(true)
      }
      expect(p.sessionEvents('b', 'datagram')).toHaveLength(N)
      expect(p.sessionEvents('a', 'datagram')).toHaveLength(N)
      expect(sa.counters.keyUpdates).toBeGreaterThanOrEqual(4)
      expect(sb.counters.keyUpdates).toBeGreaterThanOrEqual(4)
      expect(p.sessionEvents('a', 'key-update').length).toBe(sa.counters.keyUpdates)
      // Both phases were really used on the wire, in both directions.
      for (const side of ['a', 'b'] as const) {
        const phases = new Set(p.log.filter((d) => d.from === side && typeOf(d.data) === PT.DATA).map((d) => d.data[2]! & HeaderFlag.KEY_PHASE))
        expect(phases, side).toEqual(new Set([0, 1]))
      }
      // Nothing failed authentication across the updates.
      expect(sa.counters.dropped['auth']).toBeUndefined()
      expect(sb.counters.dropped['auth']).toBeUndefined()
      expect(sa.state).toBe('active')
      expect(sb.state).toBe('active')
    })
  }

  it('survives loss and reordering around the updates', () => {
    const p = new CorePair({ seed: 'ku-lossy', a: { rekeyAfterPackets: 16 }, b: { rekeyAfterPackets: 16 } })
    const { sa, sb } = p.handshake()
    const rng = p.rng.fork('tap')
    p.tap = (d) => (typeOf(d.data) !== PT.DATA ? [d.data] : rng.chance(0.1) ? [] : rng.chance(0.1) ? [d.data, d.data] : [d.data])
    let ok = 0
    for (let i = 0; i < 120; i++) if (p.roundTrip(sa, sb, `l${i}`, 2000)) ok++
    expect(ok).toBeGreaterThan(60)
    p.tap = (d) => [d.data]
    expect(p.roundTrip(sa, sb, 'final')).toBe(true)
    expect(sa.counters.keyUpdates).toBeGreaterThanOrEqual(2)
    expect(sb.counters.keyUpdates).toBeGreaterThanOrEqual(2)
  })
})

describe('keep-alive', () => {
  it('keeps an idle session up for far longer than keepAliveTimeout', () => {
    const p = new CorePair({ seed: 'ka-idle', a: { keepAliveInterval: 1000, keepAliveTimeout: 3000 }, b: { keepAliveInterval: 1000, keepAliveTimeout: 3000 } })
    const { sa, sb } = p.handshake()
    const before = p.log.length
    p.advance(60_000)
    expect(sa.state).toBe('active')
    expect(sb.state).toBe('active')
    expect(p.a.sessionCount).toBe(1)
    expect(p.b.sessionCount).toBe(1)
    const kept = p.log.length - before
    expect(kept).toBeGreaterThan(40) // ~1 keep-alive per second per side, plus their acks
    expect(kept).toBeLessThan(400) // not a storm
    expect(p.sessionEvents('a', 'closed')).toHaveLength(0)
    expect(p.roundTrip(sa, sb, 'still-here')).toBe(true)
  })

  it('keepAliveTimeout closes a session whose peer vanished, with SESSION_TIMEOUT (resumable: false; suspension: test/sim/suspension.test.ts)', () => {
    const p = new CorePair({ seed: 'ka-vanish', a: { keepAliveInterval: 1000, keepAliveTimeout: 3000, resumable: false }, b: { keepAliveInterval: 1000, keepAliveTimeout: 3000, resumable: false } })
    const { sa } = p.handshake()
    p.advance(100)
    const vanishedAt = p.now
    p.tap = (d) => (d.from === 'b' ? [] : [d.data]) // b is gone: nothing from it arrives any more
    p.run(() => p.sessionEvents('a', 'closed').length > 0, 20_000)
    const closed = p.sessionEvents('a', 'closed')[0]!
    expect(closed.event.code).toBe(WireError.SESSION_TIMEOUT)
    expect(closed.event.remote).toBe(false)
    expect(p.now - vanishedAt).toBeGreaterThanOrEqual(2900)
    expect(p.now - vanishedAt).toBeLessThanOrEqual(3100)
    p.advance(5000)
    expect(sa.state).toBe('closed')
    expect(p.a.sessionCount).toBe(0)
    expect(p.a.pollTimeout(p.now)).toBe(Infinity)
  })
})
