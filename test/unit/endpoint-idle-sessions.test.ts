/**
 * A service pass costs what the sessions with something to do cost, not what the idle ones
 * do: the endpoint keeps a ready set and a deadline heap (endpoint-scheduler.ts) instead of
 * scanning every session on every pollTransmit / pollTimeout / handleTimeout.
 *
 * Measured by counting the Session methods a pass calls (pollTimeout, handleTimeout,
 * wantsToSend) with 10,000 established idle sessions and one busy one.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Endpoint, type CoreEvent } from '../../src/protocol/endpoint.js'
import { Session } from '../../src/protocol/session.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'
import { endpointWith, pumpAll } from '../helpers/many-sessions.js'

// 1,000 keeps the suite quick (a handshake costs ~10 ms of CPU here); STT_IDLE_SESSIONS=10000
// runs the figure. A scan per pass would cost >= 2 * N visits per pass either way.
const N = Number(process.env.STT_IDLE_SESSIONS ?? 1000)
const seed = new Uint8Array(32).fill(7)
const opts = { sharedSeed: seed, maxSessions: N + 10, retryThreshold: 1_000_000, keepAliveInterval: 10_000, keepAliveTimeout: 30_000 }

const endpoint = (name: string, now: number): Endpoint => endpointWith(opts, name, now)
const pump = pumpAll

function countCalls() {
  const spies = [vi.spyOn(Session.prototype, 'pollTimeout'), vi.spyOn(Session.prototype, 'handleTimeout'), vi.spyOn(Session.prototype, 'wantsToSend')]
  return {
    total: () => spies.reduce((sum, s) => sum + s.mock.calls.length, 0),
    reset: () => spies.forEach((s) => s.mockClear()),
  }
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('endpoint service passes with many idle sessions', () => {
  it(`visit only the busy session among ${N} idle ones`, { timeout: 300_000 }, () => {
    let now = 1_000_000
    const a = endpoint('a', now)
    const b = endpoint('b', now)
    const addrA = fakeAddress('a')
    const addrB = fakeAddress('b')
    const events: CoreEvent[] = []
    for (let i = 0; i < N; i++) a.connect(now, addrB)
    pump(a, b, addrA, addrB, now, events)
    const connected = events.filter((e) => e.kind === 'connected')
    expect(connected).toHaveLength(N)
    expect(b.sessionCount).toBe(N)
    // Let the handshake's last packets (FINAL, first ACKs) settle: every session is idle then.
    now += 1000
    a.handleTimeout(now)
    b.handleTimeout(now)
    pump(a, b, addrA, addrB, now, events)
    for (const ep of [a, b]) ep.pollTimeout(now)

    const calls = countCalls()
    const busy = (connected[0] as { session: Session }).session
    // 50 service passes of one busy session (a datagram each), as a driver runs them.
    for (let i = 0; i < 50; i++) {
      now += 1
      busy.sendDatagram(new Uint8Array([i]))
      for (const ep of [a, b]) {
        const t = ep.pollTimeout(now)
        if (t <= now) ep.handleTimeout(now)
      }
      pump(a, b, addrA, addrB, now, events)
      for (const ep of [a, b]) ep.pollTimeout(now)
    }
    const visits = calls.total()
    console.log(`[idle] ${N} idle sessions: ${visits} session visits in 50 service passes`)
    // Per pass a handful of calls on the busy session (and its peer), however many idle ones exist.
    expect(visits).toBeLessThan(50 * 20)
    expect(events.filter((e) => e.kind === 'datagram')).toHaveLength(50)

    // The next deadline (the earliest of any session, at most the idle ones' keep-alive) is
    // known without a scan, and handling it visits the due sessions only.
    const next = a.pollTimeout(now)
    expect(next).toBeGreaterThan(now)
    expect(next).toBeLessThanOrEqual(now + 10_000)
    calls.reset()
    now = next
    a.handleTimeout(now)
    const atDeadline = calls.total()
    console.log(`[idle] keep-alive deadline: ${atDeadline} visits`)
    expect(atDeadline).toBeGreaterThan(0)
    expect(atDeadline).toBeLessThanOrEqual(2 * N)
    calls.reset()
    a.pollTimeout(now + 1)
    a.pollTimeout(now + 2)
    // Only the sessions handled at the deadline are re-filed (once), the second call visits none.
    expect(calls.total()).toBeLessThanOrEqual(atDeadline)
  })
})
