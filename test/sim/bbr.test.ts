/**
 * BBR (the default controller) and RACK-TLP end to end in the simulator: real sessions, JS
 * AEAD, seeded links. Goodput is stream bytes read per virtual second after a 2 s warm-up.
 * Targets from issue 9: 1 % and 2 % random loss keep >= 80 % of the lossless goodput at 20 ms
 * RTT, 10 % keeps >= 60 % (tightened to 92 % at 2 % and 83 % at 10 %: with the pacing rate raised
 * by the random-loss rate (bbr-loss-rounds.ts sendRateFactor) 95 % and 86 %, before it 90 % and
 * 80 %, with the plain threshold 88 % and 75 %); reordering costs < 10 % and its spurious losses are undone; flows
 * share a bottleneck within 0.5x-2x; app-limited periods do not inflate the estimate.
 */
import { describe, expect, it } from 'vitest'
import type { Bbr } from '../../src/protocol/congestion/bbr.js'
import type { LinkConfig } from '../helpers/netsim.js'
import { SimPair, type SimPairOptions, timed } from '../helpers/sim-sessions.js'

/** The session's BBR, made now if its first data has not made it yet (session-writer.ts). */
function bbrOf(s: unknown): Bbr {
  const w = (s as { writer: { cc: Bbr | null; startCongestion(): void } }).writer
  if (w.cc === null) w.startCongestion()
  return w.cc!
}

/** 40 Mbit/s: fast enough to matter, slow enough for the JS AEAD to simulate quickly. */
const BW = 5e6

interface Run {
  goodput: number
  pair: SimPair
  stats: ReturnType<SimPair['cs']['getStats']>
}

function bulk(seed: number, link: LinkConfig, secs = 8, cc = 'bbr', start = 0): Run {
  const p = new SimPair({ seed, link, options: { congestionControl: cc }, start })
  p.connect()
  const t = p.transfer({ streams: 1, bytesPerStream: 1 << 30 })
  const t0 = p.now
  p.run(() => p.now >= t0 + 2000, 60_000)
  const b0 = t.bytesRead
  p.run(() => p.now >= t0 + secs * 1000, 120_000)
  const goodput = ((t.bytesRead - b0) * 1000) / (p.now - t0 - 2000)
  return { goodput, pair: p, stats: p.cs.getStats() }
}

const mbit = (bytesPerSec: number): string => ((bytesPerSec * 8) / 1e6).toFixed(1)

describe('sim: BBR', { timeout: 240_000 }, () => {
  // The virtual clock starts far from 0, as performance.now() does in a real process: a timer
  // stamped 0 would look long expired (this once sent BBR to PROBE_RTT on its first ACK, and
  // Startup ended at a few Mbit/s).
  it('STARTUP finds the bottleneck, then PROBE_BW holds an estimate within 10% of it; getStats() reports the model', () => {
    timed('bbr model', () => {
      const start = 123_456_789
      const p = new SimPair({ seed: 911, link: { delayMs: 10, bandwidth: BW, queueBytes: 100_000 }, start })
      p.connect()
      const cc = bbrOf(p.cs)
      const t = p.transfer({ streams: 1, bytesPerStream: 1 << 30 })
      const phases: string[] = []
      let probeRttAt = -1
      let bwAtFirstProbeBw = 0
      const sample = (): void => {
        if (phases[phases.length - 1] !== cc.state) phases.push(cc.state)
        if (probeRttAt < 0 && cc.state === 'probe-rtt') probeRttAt = p.now - start
        if (bwAtFirstProbeBw === 0 && cc.state.startsWith('probe-bw')) bwAtFirstProbeBw = cc.maxBw * 1000
        if (p.now < start + 6000) p.sim.clock.after(5, sample)
      }
      sample()
      p.run(() => p.now >= start + 2000, 10_000)
      const b0 = t.bytesRead
      p.run(() => p.now >= start + 6000, 10_000)
      const goodput = ((t.bytesRead - b0) * 1000) / (p.now - start - 2000)
      const c = p.cs.getStats().congestion
      console.log(`[sim] bbr model: phases ${phases.join(' > ')}; PROBE_RTT at ${probeRttAt} ms; bw at first PROBE_BW ${mbit(bwAtFirstProbeBw)}; ${mbit(goodput)} Mbit/s, phase ${c.phase}, bw ${mbit(c.bandwidth ?? 0)} Mbit/s, minRtt ${c.minRtt?.toFixed(1)}, pacing ${mbit(c.pacingRate ?? 0)}`)
      expect(phases[0]).toBe('startup')
      expect(phases[1]).toMatch(/^(drain|probe-bw-down)$/)
      // PROBE_RTT only once min_rtt is 5 s old (BBR_PROBE_RTT_INTERVAL), never at the start.
      expect(probeRttAt === -1 || probeRttAt > 5000).toBe(true)
      expect(bwAtFirstProbeBw).toBeGreaterThan(0.9 * BW)
      expect(c.controller).toBe('bbr')
      expect(c.phase).toMatch(/^probe-bw-/)
      // The estimate counts datagram bytes, as the link does.
      expect(Math.abs((c.bandwidth ?? 0) - BW) / BW).toBeLessThan(0.1)
      expect(c.minRtt).toBeGreaterThanOrEqual(20)
      expect(c.minRtt).toBeLessThan(23)
      expect(c.pacingRate).toBeGreaterThan(0.8 * BW)
      expect(goodput).toBeGreaterThan(0.9 * BW * (1400 / 1472))
    })
  })

  // One lossless baseline for the three loss rates (20 Mbit/s keeps the JS AEAD's work small).
  // Each figure is the median of three seeds: which packets a seed drops moves one 8 s run by
  // up to ~15 points at 10 % loss (seeds 912-916 gave 57-77 %), so a single seed tests luck.
  const lossLink = { delayMs: 10, bandwidth: BW / 2, queueBytes: 50_000 }
  const SEEDS = [912, 913, 914]
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
  let lossless = 0
  const baseline = (): number => (lossless ||= median(SEEDS.map((seed) => bulk(seed, lossLink).goodput)))
  for (const [loss, target] of [
    [0.01, 0.8],
    [0.02, 0.92],
    [0.1, 0.83],
  ] as const) {
    it(`${loss * 100} % random loss at 20 ms RTT keeps >= ${target * 100} % of the lossless goodput (median of 3 seeds)`, () => {
      timed(`bbr ${loss * 100}% loss`, () => {
        const base = baseline()
        const runs = SEEDS.map((seed) => bulk(seed, { ...lossLink, loss }))
        const goodput = median(runs.map((r) => r.goodput))
        const per = runs.map((r) => `${((100 * r.goodput) / base).toFixed(0)}%`).join(' ')
        console.log(`[sim] bbr ${loss * 100}% random loss: median ${mbit(goodput)} of ${mbit(base)} Mbit/s lossless (${((100 * goodput) / base).toFixed(0)}%; seeds ${per}), lost ${runs.map((r) => r.stats.lostPackets).join('/')}, spurious ${runs.map((r) => r.stats.spuriousLosses).join('/')}`)
        expect(goodput).toBeGreaterThanOrEqual(target * base)
      })
    }, 300_000)
  }

  // Gilbert-Elliott burst loss, as the WAN benchmark's rtt20-burst path: P(good->bad) 0.25 %,
  // P(bad->good) 25 %, ~1 % of packets lost in bursts of 4 on average, both directions. A guard
  // for the burst-aware loss test and Startup's range counting (bbr-loss-rounds.ts): medians of
  // 93-97 % here before and after them (a burst that ends Startup or reads as congestion is
  // rare at this rate; the unit tests in test/unit/congestion.test.ts pin those rules down).
  it('burst loss (Gilbert-Elliott, ~1 %, mean burst 4) at 20 ms RTT keeps >= 85 % of the lossless goodput (median of 3 seeds)', () => {
    timed('bbr burst loss', () => {
      const base = baseline()
      const runs = SEEDS.map((seed) => bulk(seed, { ...lossLink, burst: { pGoodToBad: 0.0025, pBadToGood: 0.25 } }))
      const goodput = median(runs.map((r) => r.goodput))
      const per = runs.map((r) => `${((100 * r.goodput) / base).toFixed(0)}%`).join(' ')
      const bursts = runs.map((r) => bbrOf(r.pair.cs) as unknown as { mds: number; rounds: { meanBurst(mds: number): number } }).map((c) => c.rounds.meanBurst(c.mds).toFixed(1))
      console.log(`[sim] bbr burst loss: median ${mbit(goodput)} of ${mbit(base)} Mbit/s lossless (${((100 * goodput) / base).toFixed(0)}%; seeds ${per}), lost ${runs.map((r) => r.stats.lostPackets).join('/')}, measured mean burst ${bursts.join('/')}`)
      expect(goodput).toBeGreaterThanOrEqual(0.85 * base)
    })
  }, 300_000)

  // A loaded host (the WAN benchmark's machine is shared): for the first second the receiver
  // stalls 60 ms of every 100 ms, so Startup's rounds deliver what a starved process reads and
  // it ends at about half the link's rate. Measured as the estimate 1.5 s in, at 240 Mbit/s.
  // Before: the next probe came 2-3 s later (188 Mbit/s at 1.5 s), and with 10 % random loss
  // Startup read the loss as congestion and ended at 92 Mbit/s (144 at 1.5 s).
  const stalled = (loss: number, seed = 911, delayMs = 10, bwScale = 1): number => {
    const fast = 30e6 * bwScale
    const stalls = Array.from({ length: 10 }, (_, k) => [100 + k * 100, 160 + k * 100] as const)
    const p = new SimPair({ seed, link: { delayMs, bandwidth: fast, queueBytes: 600_000, stalls, loss } })
    p.connect()
    const t0 = p.now
    p.transfer({ streams: 1, bytesPerStream: 1 << 30 })
    p.run(() => p.now >= t0 + 1500, 60_000)
    const bw = bbrOf(p.cs).maxBw * 1000
    console.log(`[sim] bbr host stalls in Startup, ${loss * 100} % loss, seed ${seed}: bw ${mbit(bw)} of ${mbit(fast)} Mbit/s at 1.5 s`)
    return bw / fast
  }
  // Median of five paths 1 % apart in delay or rate: without random loss the seed changes
  // nothing, and whether the early probe's inflight_hi grows fast hangs on whether the ACK burst
  // after a stall lands while cwnd is at inflight_hi, which a 0.2 % change of the pacing rate
  // moves (15 such paths: 12-13 at >= 90 % whatever the build; the nominal one alone was luck).
  it('a host that stalls through Startup: the estimate is back at >= 90 % of the link 1.5 s in (an early probe after Startup; median of 5 paths)', () => {
    timed('bbr stalls', () => {
      const paths: Array<[number, number]> = [[9.9, 1], [10, 1], [10.1, 1], [10, 0.99], [10, 1.01]]
      const r = paths.map(([delayMs, bwScale]) => stalled(0, 911, delayMs, bwScale)).sort((a, b) => a - b)
      expect(r[2]).toBeGreaterThanOrEqual(0.9)
    })
  })
  // Median of three seeds: with 10 % loss one seed in six stays at ~55 % until 2-3 s whatever
  // the code (seeds 911-916 at 1.5 s: 0.93 0.91 0.94 0.92 0.59 0.92; after the ACK-only change,
  // which moves every packet's timing, 0.54 0.92 0.94 0.91 0.92 0.92), so one seed tested luck.
  it('the same stalls with 10 % random loss: Startup does not take random loss for congestion (>= 80 % of the link at 1.5 s, median of 3 seeds)', () => {
    timed('bbr stalls + loss', () => {
      const r = [911, 912, 913].map((seed) => stalled(0.1, seed)).sort((a, b) => a - b)
      expect(r[1]).toBeGreaterThanOrEqual(0.8)
    })
  })

  it('2 ms RTT with 2 % loss keeps >= 80 % of the lossless goodput', () => {
    timed('bbr 2ms loss', () => {
      const link = { delayMs: 1, bandwidth: BW, queueBytes: 30_000 }
      const base = bulk(913, link, 5).goodput
      const lossy = bulk(913, { ...link, loss: 0.02 }, 5).goodput
      console.log(`[sim] bbr 2 ms: lossless ${mbit(base)}, 2% loss ${mbit(lossy)} Mbit/s`)
      expect(lossy).toBeGreaterThanOrEqual(0.8 * base)
    })
  })

  // A loaded host at a 2 ms RTT (the WAN benchmark's loopback paths on a shared machine): the
  // receiver's ACKs come 0-3 ms late (jitter that keeps order), so even a round's smallest RTT
  // sits above the standing-queue line (min_rtt x 1.25 + 1 ms) while no queue overflows. With
  // 10 % random loss every such round used to cut bw_lo by 30 % and every up-probe inflight_hi
  // (medians of 3 seeds: 16.0 of 38.4 Mbit/s, 42 %, seed 913; the benchmark kept 46 %); a queued
  // round now counts as congested only beyond the measured random rate (bbr-loss-rounds.ts).
  it('2 ms RTT on a loaded host (0-3 ms of ACK delay) with 10 % random loss keeps >= 75 % of the lossless goodput (median of 3 seeds)', () => {
    timed('bbr 2ms host jitter + loss', () => {
      const link = { delayMs: 1, jitterMs: 3, bandwidth: BW, queueBytes: 30_000 }
      const base = median(SEEDS.map((seed) => bulk(seed, link, 5).goodput))
      const runs = SEEDS.map((seed) => bulk(seed, { ...link, loss: 0.1 }, 5))
      const goodput = median(runs.map((r) => r.goodput))
      const per = runs.map((r) => `${((100 * r.goodput) / base).toFixed(0)}%`).join(' ')
      console.log(`[sim] bbr 2 ms, host jitter 3 ms: lossless ${mbit(base)}, 10% loss median ${mbit(goodput)} Mbit/s (seeds ${per})`)
      expect(goodput).toBeGreaterThanOrEqual(0.75 * base)
    })
  }, 300_000)

  it('app-limited periods neither inflate nor deflate the bandwidth estimate', () => {
    timed('bbr app-limited', () => {
      const p = new SimPair({ seed: 914, link: { delayMs: 10, bandwidth: BW, queueBytes: 100_000 } })
      p.connect()
      const cc = bbrOf(p.cs)
      // 1: bulk until the model is full.
      const big = p.cs.streams.openStream()
      const chunk = new Uint8Array(64 * 1024)
      let bulkOn = true
      const pump = (): void => {
        let more = bulkOn
        while (more) more = p.cs.streams.write(big, chunk)
      }
      p.onStream((side, _s, e) => {
        if (side === 'client' && e.kind === 'writable') pump()
        if (side !== 'server' || (e.kind !== 'readable' && e.kind !== 'stream-opened')) return
        let got = p.ss.streams.read(e.stream, Infinity)
        while (got !== null) got = p.ss.streams.read(e.stream, Infinity)
      })
      pump()
      p.run(() => p.now >= 3000, 10_000)
      const full = cc.maxBw * 1000
      expect(Math.abs(full - BW) / BW).toBeLessThan(0.1)
      // 2: app-limited: 16 KB bursts every 20 ms (~6 % of the link), for 4 s (> two probe cycles).
      bulkOn = false
      p.run(() => p.cs.getStats().bytesInFlight === 0, 10_000)
      const small = new Uint8Array(16 * 1024)
      let maxSeen = 0
      const burst = (): void => {
        p.cs.streams.write(big, small)
        maxSeen = Math.max(maxSeen, cc.maxBw * 1000)
        if (p.now < 7000) p.sim.clock.after(20, burst)
      }
      burst()
      p.run(() => p.now >= 7000, 10_000)
      console.log(`[sim] bbr app-limited: full ${mbit(full)} Mbit/s; during 6 % app-limited traffic max ${mbit(maxSeen)}, end ${mbit(cc.maxBw * 1000)}, app-limited ${(p.cs as unknown as { recovery: { sampler: { appLimited: number } } }).recovery.sampler.appLimited > 0}`)
      expect(maxSeen).toBeLessThan(1.1 * BW)
      // App-limited samples (far below the estimate) never lowered it.
      expect(cc.maxBw * 1000).toBeGreaterThan(0.9 * BW)
    })
  })
})

describe('sim: RACK reordering', { timeout: 240_000 }, () => {
  it('reordering at 2 ms RTT causes spurious losses that are undone; goodput stays >= 90 % of the in-order path', () => {
    timed('rack reordering', () => {
      const link = { delayMs: 1, bandwidth: BW, queueBytes: 30_000 }
      const base = bulk(915, link, 5)
      // 20 % of packets held back 1 ms (as 1 ms of random jitter does on the real proxy).
      const jit = bulk(915, { ...link, reorder: { rate: 0.2, extraDelayMs: 1 } }, 5)
      const s = jit.stats
      console.log(
        `[sim] rack reordering: in order ${mbit(base.goodput)}, reordered ${mbit(jit.goodput)} Mbit/s; spurious ${s.spuriousLosses}, undos ${s.congestionUndos}, reo_wnd ${s.reorderingWindow.toFixed(2)} ms, lost ${s.lostPackets}`,
      )
      expect(s.spuriousLosses).toBeGreaterThan(0)
      expect(s.congestionUndos).toBeGreaterThan(0)
      // The window adapted beyond min_rtt / 4.
      expect(s.reorderingWindow).toBeGreaterThan((s.congestion.minRtt ?? 0) / 4)
      expect(jit.goodput).toBeGreaterThanOrEqual(0.9 * base.goodput)
    })
  })

  // The WAN benchmark's path (bench/lib/wan-scenarios.mjs, issue 9): 2 ms RTT, 1 ms of uniform
  // per-datagram jitter each way (it reorders), 16 MiB from the start; ~350 Mbit/s and a host
  // that stalls 4 ms in every 20 stand in for the real run's CPU limits. Seed 933 lost 15 %
  // (281.8 of 333.0 Mbit/s): the ACK that proved an up-probe's losses spurious still counted
  // them in its rate sample, ended the resumed probe and cut inflight_hi to ~190 kB for good.
  // Then 91-94 %, and per data packet ~0.8 ACK packets back and ~0.75 ACK-only packets in
  // answer to those (RFC 9000 §13.2.1 forbids them): both ends sealed, sent and opened twice
  // the packets of the clean path, a CPU cost the sim does not charge but the real path does.
  // And RACK's timer rounds in each stall looked like a PMTU black hole: 1200-byte packets.
  // Median of 5 seeds: single seeds of this path vary by several % with any change to loss
  // recovery (16 seeds, 931-946, jitter / clean: main 95-98 %, mean 96.7; with the NACK wait,
  // the spurious-byte credit and the first-sample ACKs 91-98 %, mean 96.8), so two seeds at
  // >= 95 % each was a race, not a bound.
  it('1 ms reordering jitter at 2 ms RTT and 350 Mbit/s: a 16 MiB transfer keeps >= 95 % of the clean goodput (median of 5 seeds, none below 88 %), few extra packets, full-size packets', () => {
    timed('rack jitter 2 ms', () => {
      const stalls = Array.from({ length: 100 }, (_, k) => [k * 20, k * 20 + 4] as const)
      const link = { delayMs: 1, bandwidth: 43.75e6, queueBytes: 256_000, stalls }
      const size = 16 << 20
      const run = (seed: number, l: LinkConfig): { goodput: number; stats: Run['stats']; acks: number } => {
        const p = new SimPair({ seed, link: l })
        p.connect()
        const t = p.transfer({ streams: 1, bytesPerStream: size })
        const t0 = p.now
        p.run(() => t.bytesRead >= size, 60_000)
        return { goodput: (t.bytesRead * 1000) / (p.now - t0), stats: p.cs.getStats(), acks: p.ss.getStats().packetsSent }
      }
      const ratios: number[] = []
      for (const seed of [931, 932, 933, 934, 935]) {
        const base = run(seed, link)
        const jit = run(seed, { ...link, jitterMs: 1, jitterReorders: true })
        ratios.push(jit.goodput / base.goodput)
        const s = jit.stats
        console.log(
          `[sim] rack jitter 2 ms seed ${seed}: clean ${mbit(base.goodput)}, jitter ${mbit(jit.goodput)} Mbit/s (${((100 * jit.goodput) / base.goodput).toFixed(0)} %); spurious ${s.spuriousLosses} of ${s.lostPackets} lost, undos ${s.congestionUndos}; ` +
            `sender packets ${base.stats.packetsSent} -> ${s.packetsSent}, receiver packets ${base.acks} -> ${jit.acks}; packet size ${s.pmtu.current}, black holes ${s.pmtu.blackHoles}`,
        )
        expect(s.spuriousLosses).toBeGreaterThan(0)
        expect(s.spuriousLosses).toBeLessThan(200)
        expect(jit.goodput).toBeGreaterThanOrEqual(0.88 * base.goodput)
        // Few packets beyond the clean path's: retransmissions, not ACK-only answers to ACKs.
        expect(s.packetsSent).toBeLessThan(1.15 * base.stats.packetsSent)
        // Out-of-order ACKs at most one per 1/8 RTT, not one per reordered packet.
        expect(jit.acks).toBeLessThan(0.3 * s.packetsSent)
        expect(s.pmtu.blackHoles).toBe(0)
        expect(s.pmtu.current).toBe(base.stats.pmtu.current)
      }
      expect(ratios.sort((a, b) => a - b)[2]).toBeGreaterThanOrEqual(0.95)
    })
  })

  // A busy host turns 1 ms of jitter into much more for some ACKs (WAN bench, 20 ms RTT + 1 ms
  // jitter: a descheduled receiver held a late packet's ACK 10-60 ms). Modelled here as 1 % of
  // packets held back 15 ms, three times reo_wnd's 5 ms step at 20 ms RTT: one step per round
  // trip took three spurious episodes to cover it (27 spurious losses over seeds 931-935, 20 over
  // 931-933); widening at once to what a spurious loss showed (rack.ts) takes one (15, 11).
  it('20 ms RTT, 1 % of packets 15 ms late: the reordering window covers it after one spurious episode', () => {
    timed('rack late 15 ms', () => {
      const link = { delayMs: 10, bandwidth: BW, queueBytes: 200_000 }
      const base = bulk(931, link, 4)
      let spurious = 0
      for (const seed of [931, 932, 933]) {
        const r = bulk(seed, { ...link, reorder: { rate: 0.01, extraDelayMs: 15 } }, 4)
        const s = r.stats
        spurious += s.spuriousLosses
        console.log(`[sim] rack late 15 ms seed ${seed}: ${mbit(r.goodput)} of ${mbit(base.goodput)} Mbit/s in order; spurious ${s.spuriousLosses} of ${s.lostPackets} lost, undos ${s.congestionUndos}, reo_wnd ${s.reorderingWindow.toFixed(1)} ms`)
        expect(r.goodput).toBeGreaterThanOrEqual(0.95 * base.goodput)
        expect(s.reorderingWindow).toBeGreaterThanOrEqual(15)
      }
      expect(spurious).toBeLessThanOrEqual(12)
    })
  })

  // Issue 9: a 16 MiB transfer at 20 ms RTT ends in Startup, so with 1 ms of reordering jitter
  // it is Startup's ramp that must keep pace with the clean path's. Two things made each
  // spurious episode cost growth for every later round (bench/README.md, "Startup on a jittered
  // 20 ms path"): a packet proven delivered was never counted as delivered (so Startup's cwnd
  // and bw stayed short of the clean path's by its share of the round, for good), and a
  // receiver without an RTT sample of its own spaced the ACK of a late first-flight packet
  // 41.6 ms (1/8 of the 333 ms default) after the previous ACK, past the sender's rtt +
  // reo_wnd. Link ~8 Gbit/s with a deep queue (the WAN bench has no rate limit), so only the
  // reordering differs from the clean run. Sums of 8 seeds' completion times, jitter vs clean,
  // before -> delivered counted -> both: quiet hosts 95.5 % -> 98.6 % -> 100 %; hosts whose
  // timers fire up to 2 ms late and whose CPU caps them near 1.5 Gbit/s 93.3 % -> 97.6 % (both).
  it('20 ms RTT, 1 ms reordering jitter: a 16 MiB transfer (all Startup) finishes within a few % of the clean path', () => {
    timed('rack jitter 20 ms startup', () => {
      const size = 16 << 20
      const link: LinkConfig = { delayMs: 10, bandwidth: 1e9, queueBytes: 4_000_000 }
      const loadedHosts = { client: { timerLatenessMs: 2, datagramCostMs: 0.008 }, server: { datagramCostMs: 0.008 } }
      const run = (seed: number, l: LinkConfig, schedules?: SimPairOptions['schedules']): { ms: number; stats: Run['stats'] } => {
        const p = new SimPair({ seed, link: l, schedules })
        p.connect()
        const t = p.transfer({ streams: 1, bytesPerStream: size })
        const t0 = p.now
        p.run(() => t.bytesRead >= size, 60_000)
        return { ms: p.now - t0, stats: p.cs.getStats() }
      }
      for (const [hosts, target] of [
        ['quiet', 0.99],
        ['loaded', 0.96],
      ] as const) {
        let clean = 0
        let jitter = 0
        const per: string[] = []
        for (let seed = 941; seed <= 948; seed++) {
          const schedules = hosts === 'loaded' ? loadedHosts : undefined
          const c = run(seed, link, schedules)
          const j = run(seed, { ...link, jitterMs: 1, jitterReorders: true }, schedules)
          clean += c.ms
          jitter += j.ms
          per.push(`${c.ms.toFixed(0)}/${j.ms.toFixed(0)} (${j.stats.spuriousLosses} sp of ${j.stats.lostPackets})`)
        }
        console.log(`[sim] rack jitter 20 ms startup, ${hosts} hosts: clean/jitter ms ${per.join(' ')}; jitter keeps ${((100 * clean) / jitter).toFixed(1)} % of the clean path's rate`)
        expect(clean / jitter).toBeGreaterThanOrEqual(target)
      }
    })
  }, 300_000)

  for (const cc of ['cubic', 'newreno'] as const) {
    it(`${cc}: spurious losses from reordering are undone, so the window is not cut for good`, () => {
      timed(`rack undo ${cc}`, () => {
        const link = { delayMs: 10, bandwidth: BW, queueBytes: 200_000 }
        const r = bulk(916, { ...link, reorder: { rate: 0.02, extraDelayMs: 8 } }, 6, cc)
        const s = r.stats
        console.log(`[sim] rack undo ${cc}: ${mbit(r.goodput)} Mbit/s, spurious ${s.spuriousLosses}, undos ${s.congestionUndos}, congestion events ${s.congestionEvents}`)
        expect(s.spuriousLosses).toBeGreaterThan(0)
        expect(s.congestionUndos).toBeGreaterThan(0)
        expect(r.goodput).toBeGreaterThan(0.5 * BW)
      })
    })
  }
})

describe('sim: sharing a bottleneck', { timeout: 240_000 }, () => {
  /** Two sessions, the second joining after 2 s; shares measured over 10-40 s. */
  function share(a: string, b: string, queueBytes: number, seed = 917): { ra: number; rb: number } {
    const bw = 2.5e6
    // 2 ms of jitter breaks drop-tail phase locking (see congestion.test.ts).
    const p = new SimPair({ seed, link: { delayMs: 10, jitterMs: 2, bandwidth: bw, queueBytes }, options: { congestionControl: a } })
    p.connect()
    const t1 = p.transfer({ streams: 1, bytesPerStream: 1 << 30, sessions: { from: p.cs, to: p.ss } })
    p.run(() => p.now >= 2000, 5000)
    const before = { cs: p.cs, ss: p.ss }
    p.client.connect(p.now, p.sim.address('client', 'server'), { congestionControl: b as 'cubic' })
    p.run(() => p.cs !== before.cs && p.ss !== before.ss, 5000)
    expect(p.cs.getStats().congestion.controller).toBe(b)
    const t2 = p.transfer({ streams: 1, bytesPerStream: 1 << 30, sessions: { from: p.cs, to: p.ss } })
    p.run(() => p.now >= 10_000, 20_000)
    const a0 = t1.bytesRead
    const b0 = t2.bytesRead
    p.run(() => p.now >= 40_000, 60_000)
    const ra = (t1.bytesRead - a0) / 30
    const rb = (t2.bytesRead - b0) / 30
    console.log(`[sim] share ${a}/${b}, seed ${seed}, queue ${queueBytes / 1000} KB: ${Math.round(ra / 1000)} vs ${Math.round(rb / 1000)} KB/s (ratio ${(ra / rb).toFixed(2)}), total ${Math.round((ra + rb) / 1000)} of ${bw / 1000} KB/s`)
    expect(ra + rb).toBeGreaterThan(0.8 * bw)
    return { ra, rb }
  }

  // Median of five seeds: at one BDP which flow ends up ahead is chaotic. Seeds 917-921 read
  // 0.37 / 0.93 / 0.84 / 0.74 / 0.93 (first / second), and seed 917 alone once read 1.09 only
  // because earlier tests had left the receive page allocator elsewhere (sim-sessions.ts). No
  // seed may starve a flow: each keeps over 20 % of what both deliver.
  it('bbr vs bbr, queue of one BDP (50 KB): shares within 0.5x-2x (median of 5 seeds), neither starved, and fills the link', () => {
    timed('share bbr/bbr', () => {
      const runs = [917, 918, 919, 920, 921].map((seed) => share('bbr', 'bbr', 50_000, seed))
      const ratios = runs.map(({ ra, rb }) => ra / rb).sort((x, y) => x - y)
      expect(ratios[2]).toBeGreaterThan(0.5)
      expect(ratios[2]).toBeLessThan(2)
      for (const { ra, rb } of runs) expect(Math.min(ra, rb) / (ra + rb)).toBeGreaterThan(0.2)
    })
  })

  it('bbr vs cubic, queue of 4 BDP (200 KB, 80 ms: a router buffer like the tbf benchmark): shares within 0.5x-2x', () => {
    timed('share bbr/cubic', () => {
      const { ra, rb } = share('bbr', 'cubic', 200_000)
      expect(ra / rb).toBeGreaterThan(0.5)
      expect(ra / rb).toBeLessThan(2)
    })
  })

  // Known limit (as for BBRv3 in general): with a queue of only one BDP, BBR's model-based
  // flight keeps the queue full and CUBIC keeps backing off; it is not starved.
  it('bbr vs cubic, queue of one BDP: cubic is not starved (keeps > 20 %)', () => {
    timed('share bbr/cubic shallow', () => {
      const { ra, rb } = share('bbr', 'cubic', 50_000)
      expect(rb / (ra + rb)).toBeGreaterThan(0.2)
    })
  })
})
