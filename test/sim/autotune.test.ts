/**
 * Flow-control auto-tuning (flow-autotune.ts) in the simulator: with windows far below the
 * path's bandwidth-delay product, a fast reader gets them grown until the link is full; the
 * growth stops at sessionMemoryLimit; a slow reader's windows never grow.
 */
import { describe, expect, it } from 'vitest'
import { SimPair, timed } from '../helpers/sim-sessions.js'

const KiB = 1024

describe('sim: flow-control auto-tuning', { timeout: 240_000 }, () => {
  it('windows of 64 KiB grow to the BDP of a 20 Mbit/s x 100 ms path (250 KB): the link is filled, and growth stops at the memory limit', () => {
    timed('autotune', () => {
      const bw = 2.5e6
      const p = new SimPair({
        seed: 931,
        link: { delayMs: 50, bandwidth: bw, queueBytes: 250_000 },
        options: { streamReceiveWindow: 64 * KiB, sessionReceiveWindow: 64 * KiB, streamSendBuffer: 64 * KiB, sessionMemoryLimit: 2 << 20 },
      })
      p.connect()
      const t = p.transfer({ streams: 1, bytesPerStream: 1 << 30 })
      p.run(() => p.now >= 4000, 20_000)
      const b0 = t.bytesRead
      p.run(() => p.now >= 8000, 20_000)
      const goodput = ((t.bytesRead - b0) * 1000) / 4000
      const rx = p.ss.getStats().flow
      console.log(`[sim] autotune: ${((goodput * 8) / 1e6).toFixed(1)} Mbit/s of 20 with 64 KiB initial windows; receive window now ${rx.receiveWindow}, max send buffered ${t.maxSendBuffered}`)
      // Fixed 64 KiB windows would cap this at ~0.6 MB/s (window / RTT).
      expect(goodput).toBeGreaterThan(0.8 * bw)
      // Grown, but bounded by sessionMemoryLimit.
      expect(rx.receiveWindow).toBeGreaterThan(250_000)
      expect(rx.receiveWindow).toBeLessThanOrEqual(2 << 20)
    })
  })

  it('a slow reader does not grow the windows', () => {
    timed('autotune slow reader', () => {
      const p = new SimPair({ seed: 932, link: { delayMs: 50 }, options: { streamReceiveWindow: 128 * KiB, sessionReceiveWindow: 256 * KiB } })
      p.connect()
      // 100 KB/s reader: it consumes half a window in far more than 2 RTTs.
      const t = p.transfer({ streams: 1, bytesPerStream: 1 << 30, readRate: 100_000 })
      p.run(() => p.now >= 10_000, 20_000)
      const st = p.ss.streams.getStreamStats(t.streams[0]!.key)
      const rx = p.ss.getStats().flow
      console.log(`[sim] autotune slow reader: stream receive buffered max ${t.maxRecvBuffered}, session window ${rx.receiveWindow + rx.sessionReceived - rx.sessionConsumed}`)
      expect(t.maxRecvBuffered).toBeLessThanOrEqual(128 * KiB)
      expect(st).not.toBeNull()
      expect(rx.sessionReceived - rx.sessionConsumed + rx.receiveWindow).toBeLessThanOrEqual(256 * KiB)
    })
  })
})
