/**
 * Tests of the test harness itself: the seeded RNG, the virtual clock, each Link knob, the
 * Network's determinism, and the runUntil driver (with a toy stop-and-wait endpoint).
 * Everything is virtual time and fixed seeds, so exact values are asserted where the model
 * defines them and tolerances only where a rate is sampled.
 */

import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { PeerAddress, RxBatch, TxBatch } from '../../src/transport/types.js'
import { Rng, countingRandom, scriptedRandom, seededRandom } from '../helpers/rng.js'
import {
  MinHeap,
  Network,
  VirtualClock,
  createSim,
  runUntil,
  txBatchOf,
  type Delivery,
  type LinkConfig,
  type HostSchedule,
  type SansIoEndpoint,
} from '../helpers/netsim.js'

/** Sends `count` datagrams of `size` bytes every `everyMs` from a to b, recording each payload. */
function pump(net: Network, count: number, opts: { size?: number; everyMs?: number; start?: number } = {}): Uint8Array[] {
  const size = opts.size ?? 100
  const sent: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const bytes = new Uint8Array(size)
    new DataView(bytes.buffer).setUint32(0, i)
    sent.push(bytes)
    net.send((opts.start ?? 0) + i * (opts.everyMs ?? 0), 'a', 'b', bytes)
  }
  return sent
}

/** Drains everything, returning [arrival time, sequence number, bytes] in arrival order. */
function drain(net: Network): Array<{ t: number; seq: number; data: Uint8Array }> {
  const out: Array<{ t: number; seq: number; data: Uint8Array }> = []
  for (let t = net.nextEventTime(); t !== null; t = net.nextEventTime()) {
    for (const d of net.deliverDue(t)) out.push({ t, seq: new DataView(d.data.buffer, d.data.byteOffset).getUint32(0), data: d.data })
  }
  return out
}

function netWith(config: LinkConfig, seed: number | string = 1): Network {
  const net = new Network({ seed, trace: true })
  net.connect('a', 'b', config)
  return net
}

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(42)
    const b = new Rng(42)
    const c = new Rng(43)
    const sa = Array.from({ length: 16 }, () => a.next())
    expect(Array.from({ length: 16 }, () => b.next())).toEqual(sa)
    expect(Array.from({ length: 16 }, () => c.next())).not.toEqual(sa)
  })

  it('fork does not advance the parent and is independent of fork order', () => {
    const p1 = new Rng('s')
    const x1 = p1.fork('x').next()
    const after1 = p1.next()
    const p2 = new Rng('s')
    p2.fork('y').next()
    const x2 = p2.fork('x').next()
    expect(x2).toBe(x1)
    expect(p2.next()).toBe(after1)
    expect(new Rng('s').fork('x').next()).not.toBe(new Rng('s').fork('y').next())
  })

  it('int stays in range and covers it; float in [0, 1)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer(), (n, seed) => {
        const rng = new Rng(seed)
        for (let i = 0; i < 50; i++) {
          const x = rng.int(n)
          expect(Number.isInteger(x) && x >= 0 && x < n).toBe(true)
          const f = rng.float()
          expect(f >= 0 && f < 1).toBe(true)
        }
      }),
    )
    const rng = new Rng(7)
    const seen = new Set<number>()
    for (let i = 0; i < 1000; i++) seen.add(rng.int(10))
    expect(seen.size).toBe(10)
    expect(() => rng.int(0)).toThrow(RangeError)
  })

  it('bytes and the fake random sources are reproducible', () => {
    expect(new Rng(1).bytes(37)).toEqual(new Rng(1).bytes(37))
    expect(seededRandom(5)(16)).toEqual(seededRandom(5)(16))
    expect(seededRandom(5)(16)).not.toEqual(seededRandom(6)(16))
    const counting = countingRandom(254)
    expect([...counting(3)]).toEqual([254, 255, 0])
    expect([...counting(1)]).toEqual([1])
    const scripted = scriptedRandom([Uint8Array.of(1, 2), Uint8Array.of(3)])
    expect([...scripted(2)]).toEqual([1, 2])
    expect(scripted.remaining).toBe(1)
    expect(() => scripted(2)).toThrow(/chunk 1 has 1 bytes/)
    expect([...scripted(1)]).toEqual([3])
    expect(() => scripted(1)).toThrow(/after all 2 chunks/)
  })
})

describe('MinHeap and VirtualClock', () => {
  it('pops in (time, insertion) order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
        const heap = new MinHeap<number>()
        times.forEach((t, i) => heap.push(t, i))
        const popped: Array<[number, number]> = []
        for (let e = heap.pop(); e !== undefined; e = heap.pop()) popped.push([e.time, e.value])
        const expected = times.map((t, i) => [t, i] as [number, number]).sort((x, y) => x[0] - y[0] || x[1] - y[1])
        expect(popped).toEqual(expected)
      }),
    )
  })

  it('runs scheduled actions when due, FIFO on ties, and never goes back', () => {
    const clock = new VirtualClock(100)
    const log: string[] = []
    clock.schedule(150, () => log.push('b'))
    clock.schedule(120, () => log.push('a'))
    clock.schedule(150, () => log.push('c'))
    expect(clock.nextEventTime()).toBe(120)
    clock.advance(20)
    expect(clock.runDue()).toBe(1)
    clock.advanceTo(200)
    clock.runDue()
    expect(log).toEqual(['a', 'b', 'c'])
    expect(clock.nextEventTime()).toBeNull()
    expect(() => clock.advanceTo(199)).toThrow(/cannot go back/)
  })
})

describe('Link timing', () => {
  it('applies the propagation delay exactly', () => {
    const net = netWith({ delayMs: 50 })
    pump(net, 3, { everyMs: 10 })
    expect(drain(net).map((d) => d.t)).toEqual([50, 60, 70])
  })

  it('jitter spreads arrivals within [delay, delay + jitter] without reordering', () => {
    const net = netWith({ delayMs: 50, jitterMs: 20 })
    pump(net, 500, { everyMs: 1 })
    const got = drain(net)
    expect(got.map((d) => d.seq)).toEqual([...Array(500).keys()])
    for (const d of got) {
      expect(d.t - d.seq).toBeGreaterThanOrEqual(50)
      // The in-order clamp can push a datagram behind its predecessor, never past delay + jitter of it.
      expect(d.t).toBeLessThanOrEqual(d.seq + 70)
    }
    expect(new Set(got.map((d) => d.t - d.seq)).size).toBeGreaterThan(100)
  })

  it('jitterReorders: each datagram gets its own [delay, delay + jitter], so later ones overtake (as the C emulator)', () => {
    const net = netWith({ delayMs: 50, jitterMs: 5, jitterReorders: true })
    pump(net, 500, { everyMs: 1 })
    const got = drain(net)
    expect(got.length).toBe(500)
    for (const d of got) {
      expect(d.t - d.seq).toBeGreaterThanOrEqual(50)
      expect(d.t - d.seq).toBeLessThanOrEqual(55)
    }
    const overtaken = got.filter((d, i) => i > 0 && d.seq < got[i - 1]!.seq).length
    expect(overtaken).toBeGreaterThan(50)
  })

  it('serializes at the bottleneck rate', () => {
    // 1000 B/s: a 100-byte datagram takes 100 ms on the wire.
    const net = netWith({ bandwidth: 1000, delayMs: 5 })
    pump(net, 4, { size: 100 })
    expect(drain(net).map((d) => d.t)).toEqual([105, 205, 305, 405])
    // An idle link starts serializing immediately.
    net.send(1000, 'a', 'b', new Uint8Array(50))
    expect(net.nextEventTime()).toBe(1055)
  })

  it('tail-drops beyond the queue limit and recovers as the queue drains', () => {
    const net = netWith({ bandwidth: 1000, queueBytes: 300 })
    pump(net, 10, { size: 100 })
    const link = net.link('a', 'b')
    expect(link.stats.dropped.queue).toBe(7)
    expect(drain(net).map((d) => d.seq)).toEqual([0, 1, 2])
    // At t=250 half a datagram is left (50 B backlog): 2 more fit (250 B), the third does not.
    expect(link.backlogBytes(250)).toBe(50)
    pump(net, 3, { size: 100, start: 250 })
    expect(link.stats.dropped.queue).toBe(8)
    expect(link.stats.sent).toBe(13)
  })

  it('holds back reordered datagrams so later ones overtake them', () => {
    const net = netWith({ delayMs: 10, reorder: { rate: 0.1, extraDelayMs: 50 } })
    pump(net, 2000, { everyMs: 1 })
    const got = drain(net)
    const reordered = net.link('a', 'b').stats.reordered
    expect(reordered).toBeGreaterThan(150)
    expect(reordered).toBeLessThan(250)
    let inversions = 0
    for (let i = 1; i < got.length; i++) if (got[i]!.seq < got[i - 1]!.seq) inversions++
    expect(inversions).toBeGreaterThan(100)
    expect(got).toHaveLength(2000)
  })
})

describe('Link drops', () => {
  it('random loss lands near the configured rate, reproducibly', () => {
    const run = (seed: number): Network => {
      const net = netWith({ loss: 0.1 }, seed)
      pump(net, 20_000)
      return net
    }
    const net = run(1)
    const lost = net.link('a', 'b').stats.dropped.loss
    expect(lost / 20_000).toBeGreaterThan(0.09)
    expect(lost / 20_000).toBeLessThan(0.11)
    expect(drain(net)).toHaveLength(20_000 - lost)
    expect(run(1).trace).toEqual(run(1).trace)
    expect(run(2).trace).not.toEqual(run(1).trace)
  })

  it('burst loss comes in runs (Gilbert-Elliott)', () => {
    // Mean burst length 1 / pBadToGood = 4; stationary loss = 0.01 / 0.26 ~ 3.8%.
    const net = netWith({ burst: { pGoodToBad: 0.01, pBadToGood: 0.25 } })
    pump(net, 50_000)
    const lostIdx = net.trace!.filter((e) => e.event === 'drop').map((e) => e.index)
    expect(net.link('a', 'b').stats.dropped.burst).toBe(lostIdx.length)
    let runs = 0
    for (let i = 0; i < lostIdx.length; i++) if (i === 0 || lostIdx[i] !== lostIdx[i - 1]! + 1) runs++
    const meanRun = lostIdx.length / runs
    expect(meanRun).toBeGreaterThan(3)
    expect(meanRun).toBeLessThan(5.5)
    expect(lostIdx.length / 50_000).toBeGreaterThan(0.025)
    expect(lostIdx.length / 50_000).toBeLessThan(0.055)
  })

  it('independent loss at a similar rate does not come in runs', () => {
    const net = netWith({ loss: 0.04 })
    pump(net, 50_000)
    const lostIdx = net.trace!.filter((e) => e.event === 'drop').map((e) => e.index)
    let runs = 0
    for (let i = 0; i < lostIdx.length; i++) if (i === 0 || lostIdx[i] !== lostIdx[i - 1]! + 1) runs++
    expect(lostIdx.length / runs).toBeLessThan(1.2)
  })

  it('blackout drops exactly what is sent inside [start, end)', () => {
    const net = netWith({ blackouts: [[100, 200]] })
    pump(net, 30, { everyMs: 10 }) // sent at 0, 10, ..., 290
    expect(net.link('a', 'b').stats.dropped.blackout).toBe(10)
    const seqs = drain(net).map((d) => d.seq)
    expect(seqs).toContain(9)
    expect(seqs).not.toContain(10)
    expect(seqs).not.toContain(19)
    expect(seqs).toContain(20)
  })

  it('a stall holds what arrives inside [start, end) until end, in order, and loses nothing', () => {
    const net = netWith({ delayMs: 5, stalls: [[100, 200]] })
    pump(net, 30, { everyMs: 10 }) // sent at 0..290, arriving at 5..295
    const got = drain(net)
    expect(got.map((d) => d.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i))
    const at = new Map(got.map((d) => [d.seq, d.t]))
    expect(at.get(9)).toBe(95)
    for (let seq = 10; seq <= 19; seq++) expect(at.get(seq)).toBe(200) // arrivals 105..195 held
    expect(at.get(20)).toBe(205)
  })

  it('filter hook can drop the k-th datagram or a time window; MTU drops oversize', () => {
    const net = netWith({ filter: ({ index, now }) => index === 3 || now < 20, mtu: 1200 })
    pump(net, 8, { everyMs: 10 })
    net.send(100, 'a', 'b', new Uint8Array(1201))
    const stats = net.link('a', 'b').stats
    expect(stats.dropped.filter).toBe(3) // indices 0, 1 (t < 20) and 3
    expect(stats.dropped.mtu).toBe(1)
    expect(drain(net).map((d) => d.seq)).toEqual([2, 4, 5, 6, 7])
  })

  it('can change knobs at run time', () => {
    const net = netWith({})
    pump(net, 5)
    net.link('a', 'b').set({ loss: 1 })
    pump(net, 5)
    net.link('a', 'b').set({ loss: 0 })
    pump(net, 5)
    expect(drain(net)).toHaveLength(10)
    expect(net.link('a', 'b').stats.dropped.loss).toBe(5)
  })
})

describe('Link duplication and corruption', () => {
  it('duplicates into separate buffers and counts them', () => {
    const net = netWith({ duplicate: 0.2 })
    pump(net, 10_000)
    const stats = net.link('a', 'b').stats
    expect(stats.duplicated).toBeGreaterThan(1800)
    expect(stats.duplicated).toBeLessThan(2200)
    const got = drain(net)
    expect(got).toHaveLength(10_000 + stats.duplicated)
    expect(stats.delivered).toBe(got.length)
    const first = got.findIndex((d, i) => i > 0 && d.seq === got[i - 1]!.seq)
    expect(got[first]!.data).toEqual(got[first - 1]!.data)
    expect(got[first]!.data.buffer).not.toBe(got[first - 1]!.data.buffer)
  })

  it('corrupts copies by flipping exactly corruptBits distinct bits', () => {
    const net = netWith({ corrupt: 0.1, corruptBits: 3 })
    const sent = pump(net, 5000, { size: 64 })
    const got = drain(net)
    expect(got).toHaveLength(5000)
    let differing = 0
    for (const [i, d] of got.entries()) {
      // The sequence number itself may be corrupted, so compare by position (no reordering here).
      const original = sent[i]!
      let bits = 0
      for (let i = 0; i < 64; i++) bits += popcount(original[i]! ^ d.data[i]!)
      if (bits > 0) {
        differing++
        expect(bits).toBe(3)
      }
    }
    const corrupted = net.link('a', 'b').stats.corrupted
    expect(differing).toBe(corrupted)
    expect(corrupted).toBeGreaterThan(400)
    expect(corrupted).toBeLessThan(600)
    // The sender's buffers are never touched.
    expect(sent.every((b, i) => new DataView(b.buffer).getUint32(0) === i && b.subarray(4).every((x) => x === 0))).toBe(true)
  })

  it('knobs draw from independent streams: enabling duplication keeps the loss pattern', () => {
    const lossPattern = (extra: LinkConfig): number[] => {
      const net = netWith({ loss: 0.2, ...extra }, 'indep')
      pump(net, 2000)
      return net.trace!.filter((e) => e.event === 'drop').map((e) => e.index)
    }
    expect(lossPattern({ duplicate: 0.3, corrupt: 0.3, jitterMs: 5 })).toEqual(lossPattern({}))
  })
})

function popcount(x: number): number {
  let n = 0
  for (; x !== 0; x &= x - 1) n++
  return n
}

// ---------------------------------------------------------------------------------------------
// Driver tests with a toy sans-I/O endpoint: stop-and-wait with a retransmission timer.
//   sender:   DATA(seq) --> ... (RTO 100 ms, retransmit until ACK(seq))
//   receiver: <-- ACK(seq) for every DATA; delivers each seq once, in order

const RTO = 100

class StopAndWait implements SansIoEndpoint {
  readonly received: number[] = []
  readonly events: string[] = []
  retransmits = 0
  private next = 0
  private inFlightSince: number | null = null
  private pending: Array<{ to: PeerAddress; bytes: Uint8Array }> = []
  private lastRx: RxBatch | null = null

  constructor(
    private readonly peer: PeerAddress | null,
    private readonly total: number,
  ) {}

  get done(): boolean {
    return this.next >= this.total
  }

  handleBatch(now: number, batch: RxBatch): void {
    this.lastRx = batch
    for (let i = 0; i < batch.count; i++) {
      const dv = new DataView(batch.slab.buffer, batch.slab.byteOffset + batch.offsets[i]!, batch.lengths[i]!)
      const kind = dv.getUint8(0)
      const seq = dv.getUint32(1)
      if (kind === 0) {
        // DATA: ack it and deliver if new. Scribble on the slab: receivers decrypt in place.
        if (seq === this.received.length) this.received.push(seq)
        batch.slab.fill(0xee, batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!)
        this.pending.push({ to: batch.from[i]!, bytes: frame(1, seq) })
      } else if (seq === this.next && this.inFlightSince !== null) {
        this.next++
        this.inFlightSince = null
        if (this.done) this.events.push('done')
        else this.sendCurrent(now)
      }
    }
  }

  handleTimeout(now: number): void {
    if (this.inFlightSince !== null && now >= this.inFlightSince + RTO) {
      this.retransmits++
      this.sendCurrent(now)
    }
  }

  pollTransmit(now: number): TxBatch | null {
    // The sender kicks off on its first poll.
    if (this.peer !== null && this.next === 0 && this.inFlightSince === null && this.total > 0) this.sendCurrent(now)
    const p = this.pending.shift()
    return p === undefined ? null : txBatchOf(p.to, [p.bytes])
  }

  pollTimeout(): number | null {
    return this.inFlightSince === null ? null : this.inFlightSince + RTO
  }

  pollEvent(): unknown | null {
    return this.events.shift() ?? null
  }

  lastBatch(): RxBatch | null {
    return this.lastRx
  }

  private sendCurrent(now: number): void {
    this.inFlightSince = now
    this.pending.push({ to: this.peer!, bytes: frame(0, this.next) })
  }
}

function frame(kind: number, seq: number): Uint8Array {
  const b = new Uint8Array(5)
  b[0] = kind
  new DataView(b.buffer).setUint32(1, seq)
  return b
}

describe('runUntil driver', () => {
  function scenario(seed: number | string, link: LinkConfig, total = 50) {
    const sim = createSim({ seed, link })
    const client = new StopAndWait(sim.address('client', 'server'), total)
    const server = new StopAndWait(null, 0)
    const events: Array<[string, unknown, number]> = []
    const result = sim.run({
      endpoints: { client, server },
      until: () => client.done,
      maxTime: 120_000,
      onEvent: (node, ev, now) => events.push([node, ev, now]),
    })
    return { sim, client, server, result, events }
  }

  it('drives a transfer over a clean link with exact virtual timing', () => {
    const { client, server, result, events } = scenario(1, { delayMs: 10 })
    expect(server.received).toEqual([...Array(50).keys()])
    expect(client.retransmits).toBe(0)
    expect(result.reason).toBe('until')
    // 50 round trips of 2 x 10 ms.
    expect(result.now).toBe(1000)
    expect(events).toEqual([['client', 'done', 1000]])
  })

  it('recovers through loss via timers, and replays identically from the seed', () => {
    const lossy = { delayMs: 10, jitterMs: 5, loss: 0.2, duplicate: 0.05 }
    const a = scenario('lossy', lossy)
    expect(a.server.received).toEqual([...Array(50).keys()])
    expect(a.client.retransmits).toBeGreaterThan(5)
    const b = scenario('lossy', lossy)
    expect(b.result).toEqual(a.result)
    expect(b.sim.network.statsSummary()).toEqual(a.sim.network.statsSummary())
    const c = scenario('other', lossy)
    expect(c.result.now).not.toBe(a.result.now)
  })

  it('hands each endpoint fresh RxBatches addressed with sim PeerAddresses', () => {
    const { sim, server } = scenario(3, { delayMs: 1, duplicate: 1 })
    const batch = server.lastBatch()!
    expect(batch.from[0]).toBe(sim.address('server', 'client'))
    expect(batch.from[0]!.key).toBe('sim:client')
    expect(batch.from[0]!.kind).toBe(sim.network.host('server').transport.kind)
    // Both copies of a duplicate arrive in one batch. The server scribbles on each datagram after
    // reading it, so had the copies shared bytes the second would not parse as DATA and get no ACK.
    expect(batch.count).toBe(2)
    expect(sim.network.host('server').transport.getStats().packetsReceived).toBe(100)
    expect(sim.network.link('server', 'client').stats.sent).toBe(100)
  })

  it('runs scheduled scenario actions (a blackout that ends) on the virtual clock', () => {
    const sim = createSim({ seed: 4, link: { delayMs: 10 } })
    const client = new StopAndWait(sim.address('client', 'server'), 20)
    const server = new StopAndWait(null, 0)
    sim.clock.schedule(100, () => sim.network.setBoth('client', 'server', { loss: 1 }))
    sim.clock.schedule(2100, () => sim.network.setBoth('client', 'server', { loss: 0 }))
    const result = sim.run({ endpoints: { client, server }, until: () => client.done })
    expect(result.now).toBeGreaterThan(2100)
    expect(client.retransmits).toBeGreaterThanOrEqual(19)
    expect(server.received).toHaveLength(20)
  })

  it('throws with diagnostics when the goal is not reached, or reports it with allowFail', () => {
    const sim = createSim({ seed: 5, link: { loss: 1 } })
    const client = new StopAndWait(sim.address('client', 'server'), 1)
    const server = new StopAndWait(null, 0)
    expect(() => sim.run({ endpoints: { client, server }, until: () => client.done, maxTime: 1000 })).toThrow(/maxTime at t=1000.*seed 5/)
    const again = sim.run({ endpoints: { client, server }, until: () => client.done, maxTime: 2000, allowFail: true })
    expect(again.reason).toBe('maxTime')
    const idle = runUntil({ clock: new VirtualClock(), network: new Network({ seed: 1 }), endpoints: {}, until: () => false, allowFail: true })
    expect(idle.reason).toBe('idle')
  })

  it('host schedules: a busy node reads and sends nothing until its window ends; datagram CPU cost; late timers', () => {
    const run = (schedules: Record<string, HostSchedule>, link: LinkConfig = { delayMs: 10 }, total = 3) => {
      const sim = createSim({ seed: 6, link })
      const client = new StopAndWait(sim.address('client', 'server'), total)
      const server = new StopAndWait(null, 0)
      const result = sim.run({ endpoints: { client, server }, until: () => client.done, schedules })
      return { result, client, server }
    }
    expect(run({}).result.now).toBe(60)
    // The first ACK arrives at 20 while the client is busy [15, 45): it is read, and DATA 1 sent, at 45.
    expect(run({ client: { busy: [[15, 45]] } }).result.now).toBe(85)
    // A busy server answers at the end of its window: DATA 1 (sent at 20) is read at 50.
    expect(run({ server: { busy: [[25, 50]] } }).result.now).toBe(80)
    // 15 ms per datagram: reading an ACK and sending the next DATA keeps the client busy 30 ms, so
    // each next ACK (20 ms later) waits 10 ms: ACK 0 read at 20, ACK 1 (40) at 50, ACK 2 (70) at 80.
    expect(run({ client: { datagramCostMs: 15 } }).result.now).toBe(80)
    // Late timers: on a black-holed link the client's RTO fires up to 5 ms late each time, and
    // the same seed replays the same lateness.
    const lossy = { delayMs: 10, loss: 1 }
    const sim = createSim({ seed: 7, link: lossy })
    const client = new StopAndWait(sim.address('client', 'server'), 1)
    const server = new StopAndWait(null, 0)
    const late = sim.run({ endpoints: { client, server }, maxTime: 1000, schedules: { client: { timerLatenessMs: 5 } } })
    expect(client.retransmits).toBeLessThan(1000 / RTO)
    expect(client.retransmits).toBeGreaterThan(1000 / (RTO + 5) - 2)
    expect(late.steps).toBeGreaterThan(0)
  })

  it('detects a timer that never moves forward', () => {
    const stuck: SansIoEndpoint = {
      handleBatch() {},
      handleTimeout() {},
      pollTransmit: () => null,
      pollTimeout: () => 0,
    }
    expect(() => runUntil({ clock: new VirtualClock(), network: new Network({ seed: 1 }), endpoints: { stuck }, maxSteps: 1e6 })).toThrow(/livelock/)
  })

  it('toRxBatches copies into fresh slabs and splits at batchSize', () => {
    const net = new Network({ seed: 1 })
    const shared = Uint8Array.of(1, 2, 3)
    const deliveries: Delivery[] = Array.from({ length: 5 }, (_, i) => ({ to: 'b', from: i % 2 === 0 ? 'a' : 'c', data: shared }))
    const batches = net.host('b').toRxBatches(deliveries, 2)
    expect(batches.map((b) => b.count)).toEqual([2, 2, 1])
    expect(batches[0]!.from.map((f) => f.key)).toEqual(['sim:a', 'sim:c'])
    batches[0]!.slab.fill(0)
    expect([...shared]).toEqual([1, 2, 3])
    expect([...batches[1]!.slab.subarray(batches[1]!.offsets[1]!, batches[1]!.offsets[1]! + 3)]).toEqual([1, 2, 3])
  })

  it('delivers with deliverDue in arrival order across links', () => {
    const net = new Network({ seed: 1 })
    net.connect('a', 'b', { delayMs: 20 })
    net.connect('c', 'b', { delayMs: 5 })
    net.send(0, 'a', 'b', Uint8Array.of(1))
    net.send(0, 'c', 'b', Uint8Array.of(2))
    expect(net.deliverDue(4)).toEqual([])
    const order: Delivery[] = [...net.deliverDue(5), ...net.deliverDue(100)]
    expect(order.map((d) => [d.from, d.to, d.data[0]])).toEqual([
      ['c', 'b', 2],
      ['a', 'b', 1],
    ])
    expect(net.nextEventTime()).toBeNull()
  })
})
