import { describe, expect, it } from 'vitest'
import { IPV4_UDP_OVERHEAD, IPV6_UDP_OVERHEAD, PMTU_BASE, PmtuSearch } from '../../src/protocol/pmtu.js'

/**
 * Drives a PmtuSearch against a path that carries UDP payloads up to `pathMax` (virtual clock):
 * every probe at or below it is acked one RTT later, larger ones are lost (by timer, or by loss
 * recovery when `lossByRecovery`). Returns the probe sizes in order.
 */
function run(p: PmtuSearch, pathMax: number, opts: { rtt?: number; lossByRecovery?: boolean; start?: number } = {}): { sizes: number[]; now: number } {
  const rtt = opts.rtt ?? 10
  let now = opts.start ?? 0
  const sizes: number[] = []
  for (let i = 0; i < 100; i++) {
    const size = p.probeDue()
    if (size === 0) break
    sizes.push(size)
    const id = p.onProbeSent(size, now, 3 * rtt)
    if (size <= pathMax) {
      now += rtt
      p.onProbeAcked(id, size, now)
    } else if (opts.lossByRecovery) {
      now += rtt
      p.onProbeLost(id, now)
    } else {
      now = p.getTimeout()
      p.onTimeout(now)
    }
  }
  return { sizes, now }
}

/**
 * A PTO above base: its base-size confirmation probe is sent, then acknowledged in one ACK frame
 * with `alsoAcked` non-probe packets (sizes; before it when `largeFirst`), or lost by its timer
 * when `confirmLost`. Returns the time after it.
 */
function pto(p: PmtuSearch, now: number, opts: { alsoAcked?: number[]; largeFirst?: boolean; confirmLost?: boolean } = {}): number {
  p.onPtoExpired()
  expect(p.probeDue()).toBe(PMTU_BASE)
  expect(p.isConfirmation(PMTU_BASE)).toBe(true)
  const id = p.onProbeSent(PMTU_BASE, now, 30)
  expect(p.probeDue()).toBe(0) // one confirmation at a time (and no search probe while complete)
  if (opts.confirmLost) {
    now = p.getTimeout()
    p.onTimeout(now)
    return now
  }
  now += 10
  const others = opts.alsoAcked ?? []
  if (opts.largeFirst) for (const size of others) p.onAcked(0, size, now)
  p.onAcked(id, PMTU_BASE, now)
  if (!opts.largeFirst) for (const size of others) p.onAcked(0, size, now)
  p.onAckFrameDone()
  return now
}

describe('PmtuSearch (DPLPMTUD state machine, virtual clock)', () => {
  it('starts at base 1200 and confirms a 1500-byte Ethernet path with one probe of the largest size', () => {
    const p = new PmtuSearch({ max: 1472, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    expect(p.current).toBe(PMTU_BASE)
    expect(p.state).toBe('searching')
    const { sizes } = run(p, 1472)
    expect(sizes).toEqual([1472])
    expect(p.current).toBe(1472)
    expect(p.state).toBe('search-complete')
  })

  it('finds a 1420-byte (WireGuard) link over IPv4: 1392-byte payloads, each failed size probed 3 times', () => {
    const p = new PmtuSearch({ max: 1472, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    const { sizes } = run(p, 1420 - 28)
    expect(p.current).toBe(1392)
    expect(p.state).toBe('search-complete')
    // Largest first, then binary search over the common link MTUs between 1200 and 1472.
    expect(sizes.filter((s) => s === 1472)).toHaveLength(3)
    expect(sizes).toContain(1392)
    expect(sizes.every((s) => s > 1200 && s <= 1472)).toBe(true)
    expect(p.stats()).toMatchObject({ state: 'search-complete', current: 1392, probing: 0, probesLost: sizes.length - p.stats().probesAcked })
  })

  it('finds the IPv6 minimum MTU 1280 over IPv6: 1232-byte payloads', () => {
    const p = new PmtuSearch({ max: 1452, ipOverhead: IPV6_UDP_OVERHEAD }, 0)
    run(p, 1280 - 48, { lossByRecovery: true })
    expect(p.current).toBe(1232)
    expect(p.state).toBe('search-complete')
  })

  it('finds PPPoE (1492) and an odd MTU between candidates (ends at the largest candidate that fits)', () => {
    const a = new PmtuSearch({ max: 1472, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    run(a, 1492 - 28)
    expect(a.current).toBe(1464)
    const b = new PmtuSearch({ max: 1472, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    run(b, 1300 - 28)
    expect(b.current).toBe(1252) // 1280-byte link is the largest candidate under a 1300-byte one
  })

  it('a single lost probe does not fail a size (random loss); MAX_PROBES losses in a row do', () => {
    const p = new PmtuSearch({ max: 1472, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    expect(p.probeDue()).toBe(1472)
    const a = p.onProbeSent(1472, 0, 30)
    p.onProbeLost(a, 5)
    expect(p.probeDue()).toBe(1472)
    const b = p.onProbeSent(1472, 5, 30)
    // The first probe's loss reported again (timer, then loss recovery) counts once.
    p.onProbeLost(a, 6)
    expect(p.stats().probesLost).toBe(1)
    p.onProbeAcked(b, 1472, 10)
    expect(p.current).toBe(1472)
    expect(p.state).toBe('search-complete')
  })

  it('an ACK of a probe sent before a black hole or on an old path proves nothing about the current one', () => {
    const p = new PmtuSearch({ max: 1472, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    const old = p.onProbeSent(1472, 0, 30)
    p.restart(1472, IPV4_UDP_OVERHEAD, 10) // migration
    p.onProbeAcked(old, 1472, 20)
    expect(p.current).toBe(PMTU_BASE)
    expect(p.probeDue()).toBe(1472)
  })

  it('a late ACK of a probe that already timed out still raises the size', () => {
    const p = new PmtuSearch({ max: 1472, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    const id = p.onProbeSent(1472, 0, 30)
    p.onTimeout(30)
    expect(p.stats().probing).toBe(0)
    p.onProbeAcked(id, 1472, 40)
    expect(p.current).toBe(1472)
  })

  it('black hole: 3 loss rounds of full-size packets with none acked drop to base, then a base ACK re-searches below the old size', () => {
    const p = new PmtuSearch({ max: 1472, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    run(p, 1472)
    expect(p.current).toBe(1472)
    // Congestion: losses interleaved with acked full-size packets never add up.
    for (let i = 0; i < 10; i++) {
      p.onPacketsLost(5)
      p.onPacketsLost(5)
      p.onPacketAcked(1472, 100 + i)
    }
    expect(p.current).toBe(1472)
    // The path shrinks to 1420: full-size packets vanish, PTOs fire, their base-size
    // confirmation probes get through (each is one event).
    p.onPacketsLost(1)
    const now = pto(p, 200)
    expect(p.current).toBe(1472)
    pto(p, now)
    expect(p.current).toBe(PMTU_BASE)
    expect(p.state).toBe('base')
    expect(p.stats().blackHoles).toBe(1)
    expect(p.probeDue()).toBe(0) // base not confirmed yet
    p.onPacketAcked(1200, 500)
    expect(p.state).toBe('searching')
    const { sizes } = run(p, 1392, { start: 500 })
    expect(sizes).not.toContain(1472) // the size that black-holed is not tried again at once
    expect(p.current).toBe(1392)
  })

  it('loss rounds with nothing acknowledged between them count once (RACK timer rounds during a peer stall)', () => {
    const p = new PmtuSearch({ max: 1472, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    run(p, 1472)
    // The peer's host stalls: no ACK for a few ms, RACK's timer declares reordered packets lost round after round.
    for (let i = 0; i < 5; i++) p.onPacketsLost(3)
    expect(p.current).toBe(1472)
    // The stall ends: its ACKs arrive, then two more rounds, each after an ACK (new evidence).
    p.onPacketAcked(1200, 100)
    p.onPacketsLost(1)
    p.onPacketAcked(1200, 101)
    p.onPacketsLost(1)
    expect(p.current).toBe(PMTU_BASE)
    expect(p.stats().blackHoles).toBe(1)
  })

  it('small-packet losses and PTOs at base are not black holes; PTOs at base move to error until an ACK', () => {
    const p = new PmtuSearch({ max: 1472, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    for (let i = 0; i < 5; i++) p.onPacketsLost(0)
    expect(p.stats().blackHoles).toBe(0)
    // A fallback, then base itself does not get through.
    run(p, 1472)
    let now = 100
    for (let i = 0; i < 3; i++) now = pto(p, now)
    expect(p.state).toBe('base')
    expect(p.probeDue()).toBe(0) // no confirmation probes at base
    for (let i = 0; i < 3; i++) p.onPtoExpired()
    expect(p.state).toBe('error')
    p.onPacketAcked(1200, 1000)
    expect(p.state).toBe('searching')
  })

  it('a PTO is a black-hole event only when its base-size probe gets through and no full-size packet does (issue 9: host stalls)', () => {
    const p = new PmtuSearch({ max: 1472, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    let { now } = run(p, 1472)
    // A stall: PTOs with nothing acknowledged (the confirmation times out), then PTOs whose
    // confirmation comes back in the same ACK frame as the full-size packets, in either order.
    for (let i = 0; i < 5; i++) now = pto(p, now, { confirmLost: true })
    for (let i = 0; i < 5; i++) now = pto(p, now, { alsoAcked: [1472, 1472], largeFirst: i % 2 === 0 })
    // Small packets acknowledged along with the confirmation do not clear it: two events.
    now = pto(p, now, { alsoAcked: [300] })
    now = pto(p, now, { alsoAcked: [300] })
    expect(p.current).toBe(1472)
    expect(p.stats().blackHoles).toBe(0)
    // A full-size ACK between confirmed PTOs clears the count; a third confirmed one in a row is a black hole.
    p.onAcked(0, 1472, now)
    now = pto(p, now)
    now = pto(p, now)
    expect(p.current).toBe(1472)
    // The confirmation's timer expires first; its late ACK (alone) still counts.
    p.onPtoExpired()
    const id = p.onProbeSent(p.probeDue(), now, 30)
    p.onTimeout(now + 30)
    p.onAcked(id, PMTU_BASE, now + 40)
    p.onAckFrameDone()
    expect(p.current).toBe(PMTU_BASE)
    expect(p.stats().blackHoles).toBe(1)
  })

  it('re-probes upward after PMTU_RAISE_TIMER (10 min) and restarts at base on a new path', () => {
    const p = new PmtuSearch({ max: 1472, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    const { now } = run(p, 1392)
    expect(p.state).toBe('search-complete')
    expect(p.getTimeout()).toBe(now + 600_000)
    p.onTimeout(now + 600_000)
    expect(p.state).toBe('searching')
    // Only sizes above the confirmed one: the path grew to 1500.
    const again = run(p, 1472, { start: now + 600_000 })
    expect(again.sizes).toEqual([1472])
    expect(p.current).toBe(1472)
    p.restart(1452, IPV6_UDP_OVERHEAD, now + 700_000)
    expect(p.current).toBe(PMTU_BASE)
    expect(p.state).toBe('searching')
    expect(p.probeDue()).toBe(1452)
  })

  it('nothing to search when the limit is base; disabled for reliable transports', () => {
    const p = new PmtuSearch({ max: 1200, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    expect(p.probeDue()).toBe(0)
    expect(p.state).toBe('search-complete')
    const q = new PmtuSearch({ max: 1472, ipOverhead: IPV4_UDP_OVERHEAD }, 0)
    q.disable()
    expect(q.probeDue()).toBe(0)
    expect(q.state).toBe('disabled')
    expect(q.getTimeout()).toBe(Infinity)
  })
})
