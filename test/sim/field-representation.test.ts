/**
 * Issue 9: no hot class changes its V8 hidden class once a transfer is under way.
 *
 * V8 stores a number field as a small integer until it first holds a fraction (or a heap
 * number), and that first store gives the class a new hidden class: every optimized function
 * that used the old one is deoptimized and compiled again. In a process's first 16 MiB that was
 * most of the sender's CPU (bench/README.md, "A transfer's first megabytes"): packet numbers read
 * as heap numbers (header.ts readU64) turned every range set, and through it the send buffer's
 * acked offset, to doubles on the first ACKs; BBR's cwnd, gains, probe timer and loss averages
 * (and the send buffer's high-water mark, 2 x cwnd) first held fractions when Startup ended.
 * Fields that will hold fractions now start as doubles (as-double.ts) and packet numbers are
 * small integers.
 *
 * How: an object made before the transfer keeps the hidden class its class had then; if a field
 * of that class changed representation during the transfer, an object made afterwards has another
 * one (%HaveSameMap). The first 100 ms (handshake, first round trips) are left out: the time
 * stamps' first fractions come there, before any code is hot, and cost nothing.
 * Deterministic: seeded simulator, virtual clock.
 */
import { setFlagsFromString } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { Bbr } from '../../src/protocol/congestion/bbr.js'
import { BbrInflightHiProbe, BbrProbeWait } from '../../src/protocol/congestion/bbr-filters.js'
import { BbrLossRounds } from '../../src/protocol/congestion/bbr-loss-rounds.js'
import { Pacer } from '../../src/protocol/congestion/pacer.js'
import { SendBuffer } from '../../src/protocol/send-buffer.js'
import { AckTracker } from '../../src/protocol/ack-tracker.js'
import { RangeSet } from '../../src/protocol/range-set.js'
import { RttEstimator } from '../../src/protocol/rtt.js'
import { FlowTuning } from '../../src/protocol/flow-autotune.js'
import { readU64, writeU64 } from '../../src/protocol/header.js'
import { SimPair } from '../helpers/sim-sessions.js'

setFlagsFromString('--allow-natives-syntax')
// compiled after the flag is set: %-calls are parsed only with it
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean
const isSmallInteger = new Function('x', 'return %IsSmi(x)') as (x: number) => boolean

/** One object of each class the packet path inlines, made as the session makes them. */
function makeAll(): Record<string, () => object> {
  const rtt = new RttEstimator()
  const bbr = new Bbr({ maxDatagramSize: 1472, rtt })
  return {
    Bbr: () => new Bbr({ maxDatagramSize: 1472, rtt }),
    BbrProbeWait: () => new BbrProbeWait(),
    BbrInflightHiProbe: () => new BbrInflightHiProbe(),
    BbrLossRounds: () => new BbrLossRounds(),
    Pacer: () => new Pacer(bbr, rtt, 1472, 10),
    SendBuffer: () => new SendBuffer(1 << 20),
    FlowTuning: () => new FlowTuning(64 << 20),
    AckTracker: () => new AckTracker({ nack: true, ackElicitingThreshold: 8 }, rtt),
    RangeSet: () => {
      const r = new RangeSet()
      r.add(0, 1200)
      return r
    },
  }
}

describe('sim: hidden classes of the packet path stay put during a transfer (issue 9)', { timeout: 120_000 }, () => {
  it('20 ms RTT, 40 Mbit/s, 0.5 % loss: Startup, Drain, PROBE_BW cycles and PROBE_RTT change no class after the first 100 ms', () => {
    const p = new SimPair({ seed: 9, link: { delayMs: 10, bandwidth: 5e6, queueBytes: 100_000, loss: 0.005 }, start: 1_000_000.25 })
    p.connect()
    p.transfer({ streams: 1, bytesPerStream: 1 << 30 })
    const t0 = p.now
    p.run(() => p.now >= t0 + 100, 60_000)
    const makers = makeAll()
    const before = Object.fromEntries(Object.entries(makers).map(([k, mk]) => [k, mk()]))
    // Startup ends within ~1 s; PROBE_BW's up-probes come every few rounds after it (bbr-filters.ts
    // BbrProbeWait); PROBE_RTT at ~5.6 s (its done stamp was the last late fraction found)
    const phases = new Set<string>()
    p.run(() => {
      phases.add(String((p.cs.getStats() as { congestion?: { phase?: string } }).congestion?.phase))
      return p.now >= t0 + 8000
    }, 800_000)
    expect([...phases]).toEqual(expect.arrayContaining(['startup', 'drain', 'probe-bw-up', 'probe-bw-cruise', 'probe-rtt']))
    const changed = Object.keys(makers).filter((k) => !haveSameMap(before[k]!, makers[k]!()))
    expect(changed).toEqual([])
  })

  it('packet numbers below 2^30 are read as small integers (header.ts readU64), larger ones exactly', () => {
    const buf = new Uint8Array(8)
    for (const v of [0, 1, 1000, 2 ** 30 - 1, 2 ** 32 + 5, 2 ** 53 - 1]) {
      writeU64(buf, 0, v)
      expect(readU64(buf, 0)).toBe(v)
      if (v < 2 ** 30) expect(isSmallInteger(readU64(buf, 0))).toBe(true)
    }
  })
})
