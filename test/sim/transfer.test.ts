/**
 * Bulk transfer scenarios on two real Endpoints (handshake, JS AEAD, loss recovery, CUBIC,
 * streams) through the deterministic simulator. Everything is seeded; each test prints its
 * real-time duration ("[sim] ...") so regressions in simulation cost are visible.
 */
import { describe, expect, it } from 'vitest'
import type { SendBuffer } from '../../src/protocol/send-buffer.js'
import { SimPair, timed } from '../helpers/sim-sessions.js'

const MiB = 1 << 20

describe('sim: bulk transfer', () => {
  it('64 MiB on 8 streams through 10% loss, 5% duplication and reordering arrives byte-exact', () => {
    timed('64 MiB lossy', () => {
      const p = new SimPair({
        seed: 101,
        link: { delayMs: 10, jitterMs: 2, bandwidth: 12.5e6, queueBytes: 256 * 1024, loss: 0.1, duplicate: 0.05, reorder: { rate: 0.05, extraDelayMs: 8 } },
      })
      p.connect()
      const t = p.transfer({ streams: 8, bytesPerStream: 8 * MiB })
      const r = p.run(() => t.done(), 3_600_000)
      t.expectExact(expect)
      const cs = p.cs.getStats()
      const ss = p.ss.getStats()
      const links = p.sim.network.statsSummary()
      console.log(`[sim] 64 MiB lossy: virtual ${(r.now / 1000).toFixed(1)} s, ${r.transmitted} datagrams, client lost ${cs.lostPackets}, dup drops ${ss.dropped.replay ?? 0}`)
      // The faults really happened, and were really repaired.
      expect(links['client->server']!.dropped.loss).toBeGreaterThan(1000)
      expect(links['client->server']!.duplicated).toBeGreaterThan(500)
      expect(links['client->server']!.reordered).toBeGreaterThan(500)
      expect(cs.lostPackets).toBeGreaterThan(1000)
      expect(ss.dropped.replay ?? 0).toBeGreaterThan(100)
      // Session-level flow control settled exactly.
      expect(ss.flow.sessionReceived).toBe(64 * MiB)
      expect(ss.flow.sessionConsumed).toBe(64 * MiB)
      expect(p.cs.state).toBe('active')
    })
  })

  // The tail: once every byte went out once, what is left is loss recovery, a round trip per
  // retransmission round, and at 10 % loss a byte needs up to 4-5 rounds among a transfer's
  // ~12,000 packets. A retransmission sent with nothing new to send goes out twice (in two
  // packets), so a round fails with 1 % instead of 10 %. Before, 107-109 ms from every byte sent
  // once to the last one read (16 MiB in 631-644 ms, 208-213 Mbit/s); after, 65-69 ms
  // (591-602 ms, 223-227 Mbit/s). The lossless tail is 18 ms.
  it('10 % random loss at 360 Mbit/s, 20 ms RTT: the tail of a 16 MiB transfer (every byte sent once -> all read) takes at most 3.5 round trips', { timeout: 240_000 }, () => {
    timed('tail at 10 % loss', () => {
      const tails: number[] = []
      for (const seed of [912, 913]) {
        const p = new SimPair({ seed, link: { delayMs: 10, bandwidth: 45e6, queueBytes: 900_000, loss: 0.1 } })
        p.connect()
        const t = p.transfer({ streams: 1, bytesPerStream: 16 * MiB })
        const send = (p.cs.streams as unknown as { streams: Map<number, { send: SendBuffer }> }).streams.get(t.streams[0]!.key)!.send
        let allSentAt = -1
        const sample = (): void => {
          if (send.sentEnd >= 16 * MiB) allSentAt = p.now
          else p.sim.clock.after(1, sample)
        }
        sample()
        p.run(() => t.done(), 30_000)
        t.expectExact(expect)
        expect(allSentAt).toBeGreaterThan(0)
        tails.push(p.now - allSentAt)
      }
      console.log(`[sim] tail at 10 % loss: ${tails.map((x) => x.toFixed(0)).join(', ')} ms`)
      for (const ms of tails) expect(ms).toBeLessThan(75)
    })
  })

  it('a 2 s blackout in both directions mid-transfer recovers and the transfer completes byte-exact', () => {
    timed('blackout', () => {
      const p = new SimPair({ seed: 202, link: { delayMs: 15, bandwidth: 5e6, queueBytes: 128 * 1024, loss: 0.01 } })
      p.connect()
      const t = p.transfer({ streams: 4, bytesPerStream: 2 * MiB })
      p.run(() => t.bytesRead >= 4 * MiB, 600_000)
      const start = p.now
      p.sim.network.setBoth('client', 'server', { blackouts: [[start, start + 2000]] })
      const readAtStart = t.bytesRead
      const lostAtStart = p.cs.getStats().lostPackets
      // Nothing gets through during the blackout...
      p.run(() => p.now >= start + 1999, 5000)
      expect(t.bytesRead).toBeLessThanOrEqual(readAtStart + 256 * 1024) // what was already in the pipe
      const readAtEnd = t.bytesRead
      // Recovery: data flows again within the PTO backoff (probes double: < 2x the blackout).
      p.run(() => t.bytesRead > readAtEnd + 64 * 1024, 10_000)
      const resumedAfter = p.now - (start + 2000)
      expect(resumedAfter).toBeLessThan(4000)
      const r = p.run(() => t.done(), 600_000)
      t.expectExact(expect)
      const links = p.sim.network.statsSummary()
      expect(links['client->server']!.dropped.blackout).toBeGreaterThan(0)
      expect(links['server->client']!.dropped.blackout).toBeGreaterThan(0)
      const cs = p.cs.getStats()
      // Everything sent into the blackout was declared lost and repaired.
      expect(cs.lostPackets - lostAtStart).toBeGreaterThan(10)
      expect(p.cs.state).toBe('active')
      expect(p.ss.state).toBe('active')
      // ...and recovery does not take much longer than the blackout plus backoff (PTO doubles per probe).
      console.log(`[sim] blackout: 64 KiB more read ${resumedAfter.toFixed(0)} ms after the blackout ended; done at virtual ${(r.now / 1000).toFixed(1)} s`)
    })
  })

  it('30% loss in both directions during the handshake: it completes within handshakeTimeout (10 s)', () => {
    timed('handshake 30% loss x200 seeds', () => {
      // Per seed the outcome is deterministic; across seeds this is a rate. A handshake needs four
      // one-way legs (HELLO, CHALLENGE, AUTH_PROOF, FINAL) and the initiator gets ~8 tries in 10 s
      // (backoff 250 ms doubling, capped at 2 s); at 30% loss per leg about 2% of handshakes
      // legitimately run out of tries (measured: 21 of 1000 seeds). We require >= 96% and clean
      // failures (connect-failed with STT_HANDSHAKE_TIMEOUT, no stuck pending state).
      const times: number[] = []
      const failures: number[] = []
      for (let seed = 1; seed <= 200; seed++) {
        const p = new SimPair({ seed: 3000 + seed, link: { delayMs: 25, loss: 0.3 }, options: { handshakeTimeout: 10_000 } })
        const r = p.connect(10_001, true)
        if (r.reason !== 'until') {
          failures.push(seed)
          const f = p.events.find((e) => e.ev.kind === 'connect-failed')
          expect(f?.ev.kind === 'connect-failed' && f.ev.error.code).toBe('STT_HANDSHAKE_TIMEOUT')
          expect(p.client.pollTimeout(p.now)).toBe(Infinity)
          continue
        }
        expect(p.events.some((e) => e.ev.kind === 'connect-failed')).toBe(false)
        expect(r.now).toBeLessThanOrEqual(10_000)
        times.push(r.now)
        if (times.length <= 10) {
          // The session is usable under the same loss: a small stream arrives intact.
          const t = p.transfer({ streams: 1, bytesPerStream: 64 * 1024 })
          p.run(() => t.done(), 60_000)
          t.expectExact(expect)
        }
      }
      times.sort((a, b) => a - b)
      console.log(`[sim] handshake under 30% loss: ${times.length}/200 completed, median ${times[times.length >> 1]} ms, max ${times.at(-1)} ms virtual; timed out: seeds ${failures.map((s) => 3000 + s).join(', ')}`)
      expect(times.length).toBeGreaterThanOrEqual(192)
      // Many runs needed retransmissions (otherwise the scenario did not test anything).
      expect(times.filter((t) => t > 250).length).toBeGreaterThan(50)
    })
  })

  it('a slow reader (1 MiB/s) bounds the sender: write() returns false and buffers stay within the limits', () => {
    timed('slow reader', () => {
      const sendBuf = 256 * 1024
      const window = 256 * 1024
      const writeSize = 16 * 1024
      const p = new SimPair({
        seed: 404,
        link: { delayMs: 10, bandwidth: 12.5e6, queueBytes: 256 * 1024 },
        options: { streamSendBuffer: sendBuf, streamReceiveWindow: window, sessionReceiveWindow: 4 * window },
      })
      p.connect()
      const t0 = p.now
      const total = 6 * MiB
      const t = p.transfer({ streams: 2, bytesPerStream: total / 2, writeSize, readRate: MiB, readTickMs: 10 })
      // Sample the sender's memory and flight every 5 ms of virtual time while the app writes.
      let maxInFlight = 0
      let maxSessionUnread = 0
      const sample = (): void => {
        for (const sp of t.streams) {
          const st = p.cs.streams.getStreamStats(sp.key)
          if (st !== null) {
            t.maxSendBuffered = Math.max(t.maxSendBuffered, st.sendBuffered)
            expect(st.sendCredit).toBeGreaterThanOrEqual(0)
          }
          const rs = p.ss.streams.getStreamStats(sp.key)
          if (rs !== null) t.maxRecvBuffered = Math.max(t.maxRecvBuffered, rs.receiveBuffered)
        }
        maxInFlight = Math.max(maxInFlight, p.cs.getStats().bytesInFlight)
        const f = p.ss.streams.getFlowStats()
        maxSessionUnread = Math.max(maxSessionUnread, f.sessionReceived - f.sessionConsumed)
        if (!t.done()) p.sim.clock.after(5, sample)
      }
      sample()
      p.run(() => t.done(), 600_000)
      t.expectExact(expect)
      const elapsed = p.now - t0
      console.log(
        `[sim] slow reader: ${elapsed.toFixed(0)} ms virtual for ${total} bytes; max sendBuffered ${t.maxSendBuffered}, max recvBuffered ${t.maxRecvBuffered}, max in flight ${maxInFlight}, write()=false ${t.streams.map((s) => s.writeReturnedFalse).join('/')}`,
      )
      // The reader paced everything: the transfer took about total / rate (the network is 12x faster).
      expect(elapsed).toBeGreaterThan((total / MiB) * 1000 * 0.9)
      expect(elapsed).toBeLessThan((total / MiB) * 1000 * 1.3)
      // The receive buffer did fill up (the reader, not the network, was the bottleneck).
      expect(t.maxRecvBuffered).toBeGreaterThan(window / 2)
      for (const sp of t.streams) {
        expect(sp.writeReturnedFalse).toBeGreaterThan(10)
        // 'end' reaches the reader as soon as it has read the last byte (not at the next keep-alive).
        expect(sp.doneAt - sp.lastReadAt).toBeLessThan(50)
      }
      // Sender memory: the send buffer (which holds everything unacked, in flight included)
      // never exceeds the high-water mark by more than the write that crossed it.
      expect(t.maxSendBuffered).toBeLessThanOrEqual(sendBuf + writeSize)
      // Receiver memory and what can be in flight are bounded by the windows.
      expect(t.maxRecvBuffered).toBeLessThanOrEqual(window)
      expect(maxSessionUnread).toBeLessThanOrEqual(4 * window)
      expect(maxInFlight).toBeLessThanOrEqual(2 * (window + 16 * 1024))
    })
  })

  // A HELLO with one flipped bit fails its MAC and the responder answers with the
  // unauthenticated AUTH_FAILED; the initiator believes that only when a fresh HELLO is
  // rejected too, so one corrupted packet does not fail the connect.
  it('a single corrupted HELLO does not fail the connect', () => {
    const p = new SimPair({ seed: 5, link: { delayMs: 10 } })
    p.sim.network.link('client', 'server').set({
      filter: ({ index, bytes }) => {
        if (index === 0) bytes[bytes.length - 5]! ^= 1 // the link's private copy: corrupt in flight
        return 'pass'
      },
    })
    p.connect(15_000)
    expect(p.events.some((e) => e.ev.kind === 'connect-failed')).toBe(false)
  })
})
