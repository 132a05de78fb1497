/**
 * Memory of suspended sessions (issue 12): 1,000 established sessions go silent past
 * keepAliveTimeout and are suspended on both endpoints. What a suspended session holds is what
 * the same idle session held (keys, streams, buffers bounded by the existing limits) plus the
 * suspension's few numbers; the figures are printed and bounded here.
 */
import { describe, expect, it } from 'vitest'
import { Endpoint, type CoreEvent } from '../../src/protocol/endpoint.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'
import { endpointWith, pumpAll } from '../helpers/many-sessions.js'
import { heapAfterGc } from '../helpers/leak-check.js'

const N = 1000
const seed = new Uint8Array(32).fill(12)
const opts = { sharedSeed: seed, maxSessions: N + 10, retryThreshold: 1_000_000, keepAliveInterval: 10_000, keepAliveTimeout: 30_000 }

const endpoint = (name: string, now: number): Endpoint => endpointWith(opts, name, now)
const pump = pumpAll

describe('memory of suspended sessions', () => {
  it(`${N} sessions suspended on both sides cost about what they cost idle, and stay bounded`, { timeout: 300_000 }, () => {
    let now = 1_000_000
    const base = heapAfterGc()
    const a = endpoint('a', now)
    const b = endpoint('b', now)
    const addrA = fakeAddress('a')
    const addrB = fakeAddress('b')
    const events: CoreEvent[] = []
    for (let i = 0; i < N; i++) a.connect(now, addrB)
    pump(a, b, addrA, addrB, now, events)
    expect(events.filter((e) => e.kind === 'connected')).toHaveLength(N)
    for (const s of a.allSessions()) s.streams.write(s.streams.openStream(), new Uint8Array(1024))
    now += 1000
    for (let t = 0; t < 5; t++, now += 100) {
      a.handleTimeout(now)
      b.handleTimeout(now)
      pump(a, b, addrA, addrB, now, events)
    }
    events.length = 0
    const idle = heapAfterGc()
    // Silence: nothing is delivered any more; timers run past keepAliveTimeout.
    for (let t = 0; t < 80; t++, now += 500) {
      a.handleTimeout(now)
      b.handleTimeout(now)
      pump(a, b, addrA, addrB, now, events, false)
    }
    expect(events.filter((e) => e.kind === 'suspended')).toHaveLength(2 * N)
    events.length = 0
    const states = [...a.allSessions(), ...b.allSessions()].map((s) => s.state)
    expect(states.filter((s) => s === 'suspended')).toHaveLength(2 * N)
    const suspended = heapAfterGc()
    // Nine more minutes of suspension (probes every ~10 s): nothing accumulates.
    for (let t = 0; t < 540; t++, now += 1000) {
      a.handleTimeout(now)
      b.handleTimeout(now)
      pump(a, b, addrA, addrB, now, events, false)
      events.length = 0
    }
    expect([...a.allSessions()].every((s) => s.state === 'suspended' && s.getStats().suspensions === 1)).toBe(true)
    const later = heapAfterGc()
    const per = (x: number) => (x - base) / (2 * N)
    const kib = (x: number) => `${(per(x) / 1024).toFixed(1)} KiB`
    console.log(`[memory] ${N} session pairs: per session ${kib(idle)} idle, ${kib(suspended)} suspended 10 s, ${kib(later)} suspended 9 min (heap ${((later - base) / 1048576).toFixed(1)} MiB for ${2 * N} sessions, including both endpoints' 2 MiB transmit slabs)`)
    // Suspension adds a few numbers and at most one tracked probe per session, not buffers.
    expect(per(suspended) - per(idle)).toBeLessThan(8 * 1024)
    expect(per(later) - per(suspended)).toBeLessThan(1024)
    expect(per(later)).toBeLessThan(64 * 1024)
  })
})
