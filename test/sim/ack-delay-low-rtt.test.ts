/**
 * A flight smaller than the receiver's ACK threshold (8 packets, session.ts) on a low-RTT path:
 * once two packets wait, their ACK comes within two RTTs (1 ms at least, ack-tracker.ts
 * `shortAckDelay`), not after the 25 ms max_ack_delay. Before, such a sender waited 25 ms per
 * round, 60 RTTs at 0.4 ms: BBR next to a kernel TCP CUBIC flow at a 2 ms tbf queue sat at a cwnd
 * / inflight_hi of a few packets after losses and spent over half its time waiting so
 * (bench/tbf.mjs --latency 2ms: 0.20x of TCP's rate, median of 28 runs). The sim's own CUBIC is not the
 * kernel's, so the share itself is not asserted here. A lone packet (a request) still waits
 * max_ack_delay, for an answer to carry the ACK.
 */
import { describe, expect, it } from 'vitest'
import { SimPair } from '../helpers/sim-sessions.js'

describe('sim: ACK of a small flight at a low RTT', () => {
  it('a 5,000-byte flight (4 packets) on a 0.4 ms path, after a transfer, is acknowledged within 2 ms, not after max_ack_delay; a lone small packet after max_ack_delay', () => {
    for (const seed of [917, 918, 919]) {
      const p = new SimPair({ seed, link: { delayMs: 0.2, bandwidth: 25e6, queueBytes: 50_000 }, options: { congestionControl: 'bbr' } })
      p.connect()
      // A bulk transfer first: the receiver needs an RTT sample (it gets one when the sender
      // acknowledges its flow-control updates; without one it waits max_ack_delay, as before).
      const warm = p.transfer({ streams: 1, bytesPerStream: 4 << 20, sessions: { from: p.cs, to: p.ss } })
      p.run(() => warm.bytesRead >= 4 << 20, 5000)
      p.run(() => false, 100, true)
      expect(p.cs.getStats().bytesInFlight).toBe(0)
      const start = p.now
      const t = p.transfer({ streams: 1, bytesPerStream: 5000, sessions: { from: p.cs, to: p.ss } })
      p.run(() => t.bytesRead >= 5000, 1000)
      p.run(() => p.cs.getStats().bytesInFlight === 0, 1000)
      const ackedAfter = p.now - start
      console.log(`[sim] seed ${seed}: 5000 bytes at 0.4 ms RTT acknowledged after ${ackedAfter.toFixed(2)} ms`)
      expect(ackedAfter).toBeLessThan(2)
      // One packet, nobody answers: acknowledged at max_ack_delay (25 ms), not at once.
      p.run(() => false, 100, true)
      const lone = p.now
      p.transfer({ streams: 1, bytesPerStream: 500, sessions: { from: p.cs, to: p.ss } })
      p.run(() => p.cs.getStats().bytesInFlight > 0, 10)
      p.run(() => p.cs.getStats().bytesInFlight === 0, 100)
      const loneAckedAfter = p.now - lone
      expect(loneAckedAfter).toBeGreaterThan(20)
      expect(loneAckedAfter).toBeLessThan(30)
    }
  })
})
