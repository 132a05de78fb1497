/**
 * Session suspension (issue 12, part 1) on two real Endpoints through the deterministic
 * simulator: a blackout longer than keepAliveTimeout suspends both sides instead of closing
 * them; the transfer resumes byte-exact once the network is back, on the same path or a new
 * one (after path validation); a session nobody resumes expires with SESSION_EXPIRED.
 */
import { describe, expect, it } from 'vitest'
import { WireError } from '../../src/errors.js'
import { SimPair, timed } from '../helpers/sim-sessions.js'

const MiB = 1 << 20

function eventsOf(p: SimPair, type: string) {
  return p.sessionEvents.filter((e) => e.kind === type)
}

describe('sim: suspension instead of idle close', () => {
  it('a 60 s blackout (keepAliveTimeout 30 s) mid-transfer: both sides suspend, resume, and 16 MiB arrive byte-exact', () => {
    timed('suspend 60 s blackout', () => {
      const p = new SimPair({ seed: 1201, link: { delayMs: 15, bandwidth: 5e6, queueBytes: 128 * 1024, loss: 0.01 } })
      p.connect()
      const t = p.transfer({ streams: 4, bytesPerStream: 4 * MiB })
      p.run(() => t.bytesRead >= 4 * MiB, 600_000)
      const start = p.now
      p.sim.network.setBoth('client', 'server', { blackouts: [[start, start + 60_000]] })
      // Past keepAliveTimeout (30 s): suspended, not closed, on both sides.
      p.run(() => p.cs.state === 'suspended' && p.ss.state === 'suspended', 40_000)
      const suspendedAt = p.now
      expect(suspendedAt - start).toBeGreaterThanOrEqual(30_000)
      expect(eventsOf(p, 'suspended').map((e) => e.side).sort()).toEqual(['client', 'server'])
      expect(eventsOf(p, 'closed')).toHaveLength(0)
      // The writer keeps writing into the suspended session: buffered up to its limit, then backpressure.
      const readDuring = t.bytesRead
      p.run(() => p.now >= start + 60_000, 40_000)
      expect(t.bytesRead).toBe(readDuring)
      expect(p.cs.state).toBe('suspended')
      for (const sp of t.streams) expect(p.cs.streams.getStreamStats(sp.key)!.sendBuffered).toBeLessThanOrEqual(2 * (4 << 20))
      // The initiator's probes (backoff <= 10 s with jitter) find the path again.
      p.run(() => p.cs.state === 'active' && p.ss.state === 'active', 15_000)
      const resumedAfter = p.now - (start + 60_000)
      expect(eventsOf(p, 'resumed').map((e) => e.side).sort()).toEqual(['client', 'server'])
      const r = p.run(() => t.done(), 600_000)
      t.expectExact(expect)
      // Retransmission restarted from a fresh RTT estimate: the PTO backoff of the outage is gone.
      expect(p.cs.getStats().ptoCount).toBe(0)
      expect(p.cs.getStats().rtt).toBeLessThan(200)
      expect(p.cs.getStats().suspensions).toBe(1)
      expect(p.ss.getStats().suspensions).toBe(1)
      console.log(`[sim] 60 s blackout: suspended ${((suspendedAt - start) / 1000).toFixed(1)} s in, resumed ${resumedAfter.toFixed(0)} ms after the blackout, done at virtual ${(r.now / 1000).toFixed(1)} s`)
    })
  })

  it('after the blackout the client comes back from another address: the server resumes only after validating it', () => {
    const p = new SimPair({ seed: 1202, link: { delayMs: 10 }, options: { keepAliveInterval: 1000, keepAliveTimeout: 3000 } })
    p.connect()
    const t = p.transfer({ streams: 2, bytesPerStream: 1 * MiB })
    p.run(() => t.bytesRead >= 256 * 1024, 60_000)
    const start = p.now
    p.sim.network.setBoth('client', 'server', { blackouts: [[start, start + 10_000]] })
    p.run(() => p.cs.state === 'suspended' && p.ss.state === 'suspended', 10_000)
    // A new network: the client's datagrams now carry another source address.
    p.sim.network.setNat('client', 'client-lte')
    p.run(() => p.now >= start + 10_000, 10_000)
    p.run(() => p.ss.state === 'active', 30_000)
    // The server resumed because the new address echoed its challenge: it moved there first.
    const s = p.ss.getStats()
    expect(s.migrations).toBe(1)
    expect(p.ss.address.key).toContain('client-lte')
    p.run(() => t.done(), 120_000)
    t.expectExact(expect)
    expect(p.cs.state).toBe('active')
  })

  it('a packet from an unvalidated address does not resume a suspended responder by itself', () => {
    const p = new SimPair({ seed: 1203, link: { delayMs: 10 }, options: { keepAliveInterval: 1000, keepAliveTimeout: 3000 } })
    p.connect()
    const start = p.now
    p.sim.network.setBoth('client', 'server', { blackouts: [[start, start + 60_000]] })
    p.run(() => p.ss.state === 'suspended' && p.cs.state === 'suspended', 10_000)
    // Only the client->server direction from the new address works: the challenge never comes back.
    p.sim.network.setNat('client', 'client-new')
    p.sim.network.link('client-new', 'server').set({ blackouts: [] })
    p.sim.network.link('server', 'client-new').set({ blackouts: [[0, Infinity]] })
    p.run(() => p.now >= start + 20_000, 20_000)
    expect(p.ss.state).toBe('suspended')
    expect(p.ss.getStats().migrations).toBe(0)
  })

  it('a session nobody resumes closes with SESSION_EXPIRED after resumeTimeout, on both sides', () => {
    const p = new SimPair({ seed: 1204, link: { delayMs: 10 }, options: { keepAliveInterval: 1000, keepAliveTimeout: 3000, resumeTimeout: 20_000 } })
    p.connect()
    const start = p.now
    p.sim.network.setBoth('client', 'server', { blackouts: [[start, start + 3_600_000]] })
    p.run(() => p.cs.state === 'closed' && p.ss.state === 'closed', 60_000)
    const closed = p.events.filter((e) => e.ev.kind === 'closed')
    expect(closed).toHaveLength(2)
    for (const c of closed) {
      const ev = c.ev as { code: number; remote: boolean }
      expect(ev.code).toBe(WireError.SESSION_EXPIRED)
      expect(ev.remote).toBe(false)
      // keepAliveTimeout (3 s) + resumeTimeout (20 s), give or take a keep-alive interval.
      expect(c.now - start).toBeGreaterThanOrEqual(23_000)
      expect(c.now - start).toBeLessThan(26_000)
    }
  })

  it('resumable: false keeps the old behaviour (SESSION_TIMEOUT after keepAliveTimeout)', () => {
    const p = new SimPair({ seed: 1205, link: { delayMs: 10 }, options: { keepAliveInterval: 1000, keepAliveTimeout: 3000, resumable: false } })
    p.connect()
    const start = p.now
    p.sim.network.setBoth('client', 'server', { blackouts: [[start, start + 3_600_000]] })
    p.run(() => p.cs.state === 'closed' && p.ss.state === 'closed', 10_000)
    expect(eventsOf(p, 'suspended')).toHaveLength(0)
    const closed = p.events.filter((e) => e.ev.kind === 'closed')
    expect(closed.map((c) => (c.ev as { code: number }).code)).toEqual([WireError.SESSION_TIMEOUT, WireError.SESSION_TIMEOUT])
  })
})
