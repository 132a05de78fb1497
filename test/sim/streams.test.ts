/**
 * Stream-layer scenarios on two real Endpoints in the simulator: stream churn (no leaks),
 * no head-of-line blocking across streams, key updates under loss, NAT rebinding mid-transfer.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ErrorCode } from '../../src/errors.js'
import { SimPair, streamBytes, timed } from '../helpers/sim-sessions.js'

const MiB = 1 << 20

describe('sim: streams', () => {
  it('1,000 streams opened, used and closed with maxConcurrentStreams 256: all succeed, nothing leaks', () => {
    timed('1000 streams', () => {
      const p = new SimPair({ seed: 501, link: { delayMs: 5, bandwidth: 12.5e6, queueBytes: 256 * 1024, loss: 0.02, reorder: { rate: 0.02, extraDelayMs: 4 } }, options: { maxConcurrentStreams: 256 } })
      p.connect()
      const TOTAL = 1000
      const sizeOf = (i: number): number => 1 + ((i * 7919) % 6000)
      const tx = new Map<number, { index: number; digest: string }>()
      const rx = new Map<number, { hash: ReturnType<typeof createHash>; n: number; digest: string | null }>()
      let opened = 0
      let refused = 0
      let peakLive = 0
      const closed = { client: 0, server: 0 }
      const openMore = (): void => {
        // Open as many as the peer's STREAMS_CREDIT allows, write, end.
        while (opened < TOTAL) {
          let key: number
          try {
            key = p.cs.streams.openStream()
          } catch (err) {
            expect((err as { code?: string }).code).toBe(ErrorCode.TOO_MANY_STREAMS)
            refused++
            return
          }
          const data = streamBytes(opened, 0, sizeOf(opened))
          p.cs.streams.write(key, data)
          p.cs.streams.end(key)
          tx.set(key, { index: opened, digest: createHash('sha256').update(data).digest('hex') })
          opened++
          peakLive = Math.max(peakLive, p.cs.streams.streamCount)
        }
      }
      p.onStream((side, session, e) => {
        if (side === 'server') {
          const ms = session.streams
          if (e.kind === 'stream-opened') rx.set(e.stream, { hash: createHash('sha256'), n: 0, digest: null })
          if (e.kind === 'stream-opened' || e.kind === 'readable') {
            const r = rx.get(e.stream)!
            for (let b = ms.read(e.stream); b !== null; b = ms.read(e.stream)) {
              r.hash.update(b)
              r.n += b.length
            }
          }
          if (e.kind === 'end') {
            rx.get(e.stream)!.digest = rx.get(e.stream)!.hash.digest('hex')
            ms.end(e.stream) // our (empty) direction: lets the stream be released on both sides
          }
          if (e.kind === 'stream-closed') closed.server++
        } else {
          if (e.kind === 'end') session.streams.read(e.stream) // peer's empty direction finished
          if (e.kind === 'stream-closed') {
            closed.client++
            openMore()
          }
        }
      })
      openMore()
      p.run(() => closed.client === TOTAL && closed.server === TOTAL, 600_000)
      // Let the last ACKs settle, then nothing may be left on either side.
      p.run(() => p.cs.streams.streamCount === 0 && p.ss.streams.streamCount === 0, 10_000)
      expect(opened).toBe(TOTAL)
      expect(refused).toBeGreaterThan(0) // the 256 limit was actually hit...
      expect(peakLive).toBeLessThanOrEqual(256) // ...and respected
      for (const [key, t] of tx) {
        const r = rx.get(key)
        expect(r?.n).toBe(sizeOf(t.index))
        expect(r?.digest).toBe(t.digest)
      }
      const fc = p.cs.streams.getFlowStats()
      const fs = p.ss.streams.getFlowStats()
      expect(fs.sessionReceived).toBe(fc.sessionSent)
      expect(fs.sessionConsumed).toBe(fs.sessionReceived)
      console.log(`[sim] 1000 streams: done at virtual ${(p.now / 1000).toFixed(1)} s, refused ${refused} opens at the limit, peak ${peakLive} live`)
    })
  })

  it('no head-of-line blocking: a lost packet of stream A does not hold back stream B', () => {
    timed('head-of-line', () => {
      const p = new SimPair({ seed: 601, link: { delayMs: 20 } })
      p.connect()
      const cs = p.cs.streams
      const a = cs.openStream()
      const b = cs.openStream()
      const got = new Map<number, Array<{ at: number; n: number }>>([
        [a, []],
        [b, []],
      ])
      p.onStream((side, session, e, now) => {
        if (side !== 'server' || (e.kind !== 'readable' && e.kind !== 'stream-opened')) return
        for (let d = session.streams.read(e.stream); d !== null; d = session.streams.read(e.stream)) got.get(e.stream)?.push({ at: now, n: d.length })
      })
      // Warm up: both streams known to the peer, everything acked.
      cs.write(a, new Uint8Array(100))
      cs.write(b, new Uint8Array(100))
      p.run(() => got.get(a)!.length > 0 && got.get(b)!.length > 0, 5000)
      p.run(() => p.cs.getStats().bytesInFlight === 0, 5000)
      // Arm the filter: drop the next client->server datagram, which will carry A's new data.
      const link = p.sim.network.link('client', 'server')
      let armed = true
      let droppedAt = -1
      link.set({ filter: ({ now }) => {
        if (!armed) return 'pass'
        armed = false
        droppedAt = now
        return 'drop'
      } })
      cs.write(a, new Uint8Array(1000).fill(0xaa))
      p.run(() => droppedAt >= 0, 1000)
      // Right after: B's data goes out in a later packet.
      cs.write(b, new Uint8Array(1000).fill(0xbb))
      p.run(() => got.get(a)!.length > 1, 10_000)
      const bAt = got.get(b)![1]!.at
      const aAt = got.get(a)![1]!.at
      console.log(`[sim] head-of-line: A's packet dropped at ${droppedAt.toFixed(1)}, B delivered at ${bAt.toFixed(1)}, A (retransmitted) at ${aAt.toFixed(1)}`)
      expect(got.get(b)![1]!.n).toBe(1000)
      // B arrived one one-way delay after it was sent, long before A's repair...
      expect(bAt - droppedAt).toBeLessThan(25)
      expect(aAt).toBeGreaterThan(bAt + 10)
      // ...and A's repair was a retransmission (the only copy of A's data was dropped).
      expect(cs.getStreamStats(a)!.retransmittedBytes).toBeGreaterThanOrEqual(1000)
      expect(cs.getStreamStats(b)!.retransmittedBytes).toBe(0)
    })
  })

  it('key updates every 1,000 packets during a transfer with loss and reordering: completes, counted on both sides', () => {
    timed('key update', () => {
      const p = new SimPair({
        seed: 701,
        link: { delayMs: 10, bandwidth: 12.5e6, queueBytes: 256 * 1024, loss: 0.03, reorder: { rate: 0.05, extraDelayMs: 15 }, duplicate: 0.02 },
        options: { rekeyAfterPackets: 1000 },
      })
      p.connect()
      const up = p.transfer({ streams: 4, bytesPerStream: 2 * MiB })
      const down = p.transfer({ from: 'server', streams: 2, bytesPerStream: 2 * MiB })
      p.run(() => up.done() && down.done(), 600_000)
      up.expectExact(expect)
      down.expectExact(expect)
      const cs = p.cs.getStats()
      const ss = p.ss.getStats()
      const ev = (side: string) => p.sessionEvents.filter((e) => e.side === side && e.kind === 'key-update').length
      console.log(`[sim] key update: client ${cs.keyUpdates} updates (${cs.packetsSent} pkts sent), server ${ss.keyUpdates} (${ss.packetsSent} pkts sent), auth drops c=${cs.dropped.auth ?? 0} s=${ss.dropped.auth ?? 0}`)
      // ~12,000 packets over the run: several updates, each side following the other's.
      expect(cs.keyUpdates).toBeGreaterThanOrEqual(6)
      expect(ss.keyUpdates).toBeGreaterThanOrEqual(6)
      expect(ev('client')).toBe(cs.keyUpdates)
      expect(ev('server')).toBe(ss.keyUpdates)
      // Reordered packets from the previous phase still opened (no authentication failures).
      expect(cs.dropped.auth ?? 0).toBe(0)
      expect(ss.dropped.auth ?? 0).toBe(0)
    })
  })

  it('NAT rebinding mid-transfer: the server follows the client to its new address and both directions complete', () => {
    timed('NAT rebinding', () => {
      const p = new SimPair({ seed: 801, link: { delayMs: 10, bandwidth: 12.5e6, queueBytes: 256 * 1024, loss: 0.02, reorder: { rate: 0.02, extraDelayMs: 5 } } })
      p.connect()
      expect(p.ss.address.key).toBe('sim:client')
      const up = p.transfer({ streams: 2, bytesPerStream: 2 * MiB })
      const down = p.transfer({ from: 'server', streams: 2, bytesPerStream: 2 * MiB })
      p.run(() => up.bytesRead + down.bytesRead >= 4 * MiB, 600_000)
      // Rebind: the client's packets now come from 'client-b'; the old mapping is gone (what the
      // server still sends to 'client' is lost).
      p.sim.network.setNat('client', 'client-b')
      p.sim.network.link('server', 'client').set({ loss: 1 })
      const rebindAt = p.now
      p.run(() => up.done() && down.done(), 600_000)
      up.expectExact(expect)
      down.expectExact(expect)
      const ss = p.ss.getStats()
      expect(ss.migrations).toBe(1)
      expect(p.ss.address.key).toBe('sim:client-b')
      const mig = p.sessionEvents.find((e) => e.side === 'server' && e.kind === 'migrated')
      expect(mig).toBeDefined()
      expect(mig!.now - rebindAt).toBeLessThan(100)
      const links = p.sim.network.statsSummary()
      expect(links['client-b->server']!.delivered).toBeGreaterThan(100)
      expect(links['server->client-b']!.delivered).toBeGreaterThan(100)
      expect(p.cs.state).toBe('active')
      console.log(`[sim] NAT rebinding at ${rebindAt.toFixed(0)} ms, server migrated at ${mig!.now.toFixed(0)} ms, done at ${p.now.toFixed(0)} ms virtual`)
    })
  })
})
