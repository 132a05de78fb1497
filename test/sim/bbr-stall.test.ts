/**
 * BBR's Startup when the sender's own process stalls (issue 9, the WAN benchmark's 20 ms clean
 * path): two node processes and the network emulator share 2 vCPUs, and the sender's event loop
 * stalled for 19-46 ms several times while Startup was still doubling. Those rounds delivered
 * half as much, Startup saw three rounds without 25 % growth and left at 135-171 of ~300 Mbit/s.
 *
 * The simulator models such a sender (netsim.ts HostSchedule): every datagram it moves costs it
 * CPU time (so its rate has a ceiling, as a real process's has), and busy windows stall it
 * outright. A stall the pacer notices (it woke far beyond its catch-up) marks the next round's
 * samples app-limited (pacer.ts, loss.ts onSendStall, bbr-filters.ts BbrStartupStalls), so
 * Startup keeps measuring once the sender runs again; at most BBR_STARTUP_MAX_STALL_ROUNDS
 * rounds are excused, so a sender that stalls for ever still leaves Startup.
 */
import { describe, expect, it } from 'vitest'
import type { Bbr } from '../../src/protocol/congestion/bbr.js'
import type { HostSchedule } from '../helpers/netsim.js'
import { SimPair, timed } from '../helpers/sim-sessions.js'

function bbrOf(s: unknown): Bbr {
  const w = (s as { writer: { cc: Bbr | null; startCongestion(): void } }).writer
  if (w.cc === null) w.startCongestion()
  return w.cc!
}

/** 400 Mbit/s: above Startup's first pacing rate (326 Mbit/s), so the sender is pacing-limited, as on the WAN path. */
const BW = 50e6
/** ~12 us per datagram: the sender alone could move ~80k datagrams/s (send and ACK receive). */
const DATAGRAM_COST_MS = 0.025
const mbit = (bytesPerMs: number): string => ((bytesPerMs * 8) / 1e3).toFixed(1)

interface StartupResult {
  /** ms from the first data until Startup ended (-1: it did not within 2 s). */
  exitAt: number
  /** max_bw when Startup ended, bytes per ms. */
  exitBw: number
  /** Round in which Startup ended, and the first round whose max_bw was within 10 % of the link. */
  exitRound: number
  fullRound: number
  log: string
}

/** Runs a bulk transfer over a 20 ms RTT clean path until Startup ends; `busy` gives the sender's busy windows from the first data. */
function startup(seed: number, busy: (t0: number) => Array<[number, number]>, queueBytes = 1_000_000): StartupResult {
  const start = 10_000
  const p = new SimPair({ seed, link: { delayMs: 10, bandwidth: BW, queueBytes }, options: { congestionControl: 'bbr' }, start })
  p.connect()
  const t0 = p.now
  const schedule: HostSchedule = { busy: busy(t0), datagramCostMs: DATAGRAM_COST_MS, timerLatenessMs: 1 }
  p.opts.schedules = { client: schedule }
  const cc = bbrOf(p.cs)
  p.transfer({ streams: 1, bytesPerStream: 1 << 30 })
  const r: StartupResult = { exitAt: -1, exitBw: 0, exitRound: -1, fullRound: -1, log: '' }
  let lastRound = -1
  const sample = (): void => {
    if (cc.roundCount !== lastRound) {
      lastRound = cc.roundCount
      r.log += ` ${(p.now - t0).toFixed(0)}ms:r${cc.roundCount}:${mbit(cc.maxBw)}`
    }
    if (r.fullRound < 0 && cc.maxBw >= 0.9 * (BW / 1000)) r.fullRound = cc.roundCount
    if (cc.state !== 'startup') {
      r.exitAt = p.now - t0
      r.exitBw = cc.maxBw
      r.exitRound = cc.roundCount
      return
    }
    if (p.now < t0 + 2000) p.sim.clock.after(1, sample)
  }
  sample()
  p.run(() => r.exitAt >= 0 || p.now >= t0 + 2000, 10_000)
  return r
}

/** n busy windows of `on` ms every `period` ms from `from` ms after t0. */
const windows = (t0: number, from: number, n: number, on: number, period: number): Array<[number, number]> =>
  Array.from({ length: n }, (_, i) => [t0 + from + i * period, t0 + from + i * period + on])

describe('sim: BBR Startup with a stalling sender', { timeout: 240_000 }, () => {
  it('a CPU-bound sender without stalls leaves Startup at the link rate, 3 rounds after reaching it', () => {
    timed('bbr startup, no stalls', () => {
      const r = startup(961, () => [])
      console.log(`[sim] startup without stalls: left at ${r.exitAt} ms, round ${r.exitRound}, max_bw ${mbit(r.exitBw)} Mbit/s;${r.log}`)
      expect(r.exitBw).toBeGreaterThan(0.9 * (BW / 1000))
      expect(r.exitRound - r.fullRound).toBeLessThanOrEqual(3)
    })
  })

  it('30 ms stalls every 50 ms in rounds 8-12 do not end Startup below the link rate (was 225 of 400 Mbit/s)', () => {
    timed('bbr startup, stalls', () => {
      const r = startup(961, (t0) => windows(t0, 150, 4, 30, 50))
      console.log(`[sim] startup with 4 stalls of 30 ms: left at ${r.exitAt} ms, round ${r.exitRound}, max_bw ${mbit(r.exitBw)} Mbit/s;${r.log}`)
      expect(r.exitBw).toBeGreaterThan(0.9 * (BW / 1000))
    })
  })

  it('a sender that keeps stalling still leaves Startup: at most BBR_STARTUP_MAX_STALL_ROUNDS rounds are excused', () => {
    timed('bbr startup, endless stalls', () => {
      const endless = startup(961, (t0) => windows(t0, 150, 40, 30, 50))
      const base = startup(961, () => [])
      console.log(`[sim] startup with endless stalls: left at ${endless.exitAt} ms, round ${endless.exitRound}, max_bw ${mbit(endless.exitBw)} Mbit/s;${endless.log}`)
      expect(endless.exitAt).toBeGreaterThan(0)
      // Three rounds without growth end Startup; four excused rounds (and the round each one's
      // marks spill into) at most add eight.
      expect(endless.exitRound).toBeLessThanOrEqual(base.exitRound + 8)
    })
  })

  it('no stall is excused once a Startup round lost packets to congestion (a real bottleneck with a short queue)', () => {
    timed('bbr startup, stalls at a bottleneck', () => {
      const queue = 150_000 // 3 ms of the link: Startup's flight overflows it
      const endless = startup(961, (t0) => windows(t0, 150, 40, 30, 50), queue)
      const base = startup(961, () => [], queue)
      console.log(`[sim] startup at a short queue: without stalls left at ${base.exitAt} ms, round ${base.exitRound}; with endless stalls at ${endless.exitAt} ms, round ${endless.exitRound}, max_bw ${mbit(endless.exitBw)} Mbit/s;${endless.log}`)
      expect(endless.exitAt).toBeGreaterThan(0)
      expect(endless.exitRound).toBeLessThanOrEqual(base.exitRound + 3)
    })
  })
})
