// The receiver's bookkeeping on a path that reorders every packet (issue 9: 1 ms of per-datagram
// jitter at hundreds of Mbit/s reorders ~25 packets deep): the receive buffer keeps reordered
// packets in few segments (holes reserved in place), and the ACK tracker's missing-packet list
// keeps its NACK behaviour while arrivals fill gaps in any order.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AckTracker, MAX_NACKS_PER_PACKET, MAX_TRACKED_MISSING } from '../../src/protocol/ack-tracker.js'
import { MAX_NACK_COUNT } from '../../src/protocol/frames.js'
import { RESERVE_LIMIT, RecvBuffer } from '../../src/protocol/recv-buffer.js'
import { K_TIME_THRESHOLD } from '../../src/protocol/rtt.js'

const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff)

/** mulberry32: seeded uniform [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** 0..n-1 in the order a per-packet jitter of `depth` packet times delivers them. */
function jittered(n: number, depth: number, seed: number): number[] {
  const r = rng(seed)
  return Array.from({ length: n }, (_, i) => ({ i, at: i + depth * r() }))
    .sort((a, b) => a.at - b.at)
    .map((p) => p.i)
}

describe('RecvBuffer under reordering', () => {
  it('packets reordered ~25 deep read back as few large views, not one chunk per packet', () => {
    const PKT = 1400
    const N = 2000
    const BATCH = 25 // read after each receive batch
    const data = bytes(N * PKT, 5)
    const rb = new RecvBuffer(64 << 20)
    const out: Uint8Array[] = []
    let maxSegments = 0
    const order = jittered(N, 25, 9)
    for (let k = 0; k < N; k++) {
      const i = order[k]!
      expect(rb.insert(i * PKT, data.subarray(i * PKT, (i + 1) * PKT))).toBe(0)
      maxSegments = Math.max(maxSegments, rb.segmentCount)
      if (k % BATCH === BATCH - 1 || k === N - 1) for (let b = rb.read(64 * 1024); b !== null; b = rb.read(64 * 1024)) out.push(b)
    }
    expect(Buffer.compare(Buffer.concat(out), data)).toBe(0)
    expect(rb.bufferedBytes).toBe(0)
    // In order: one chunk per batch (80). One segment per reordered packet made ~N chunks.
    expect(out.length).toBeLessThan((2 * N) / BATCH)
    expect(maxSegments).toBeLessThan(25)
  })

  it('property: any arrival order, overlaps and partial reads give back the bytes, and a view once read never changes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.integer({ min: 0, max: 20_000 }), len: fc.integer({ min: 1, max: 3000 }), read: fc.integer({ min: 0, max: 5000 }) }), { minLength: 1, maxLength: 60 }),
        (pieces) => {
          const total = 24_000
          const data = bytes(total, 7)
          const rb = new RecvBuffer(1 << 20)
          const got: Uint8Array[] = []
          const snapshots: Uint8Array[] = []
          const take = (max: number) => {
            for (let b = rb.read(max); b !== null; b = rb.read(max)) {
              got.push(b)
              snapshots.push(b.slice())
            }
          }
          for (const p of pieces) {
            const end = Math.min(total, p.at + p.len)
            expect(rb.insert(p.at, data.subarray(p.at, end))).toBe(0)
            if (p.read > 0) take(p.read)
          }
          // Then everything, in 1000-byte packets, in reverse (every hole filled from its top).
          for (let at = total - 1000; at >= 0; at -= 1000) expect(rb.insert(at, data.subarray(at, at + 1000))).toBe(0)
          take(Infinity)
          expect(Buffer.compare(Buffer.concat(got), data)).toBe(0)
          for (let i = 0; i < got.length; i++) if (Buffer.compare(got[i]!, snapshots[i]!) !== 0) throw new Error(`view ${i} changed after it was read`)
          expect(rb.bufferedBytes).toBe(0)
          expect(rb.segmentCount).toBe(0)
        },
      ),
      { seed: 4242, numRuns: 300 },
    )
  })

  it('a hole wider than RESERVE_LIMIT is not reserved: the data behind it is stored as before', () => {
    const rb = new RecvBuffer(1 << 20)
    const data = bytes(RESERVE_LIMIT + 2000, 3)
    expect(rb.insert(RESERVE_LIMIT + 1000, data.subarray(RESERVE_LIMIT + 1000))).toBe(0)
    expect(rb.insert(0, data.subarray(0, RESERVE_LIMIT + 1000))).toBe(0)
    const out: Uint8Array[] = []
    for (let b = rb.read(); b !== null; b = rb.read()) out.push(b)
    expect(Buffer.compare(Buffer.concat(out), data)).toBe(0)
  })
})

/**
 * The NACK bookkeeping as it was (one entry spliced out per arrival), as the reference the
 * tombstoned arrays must match: which numbers a NACK reports, when, and how often.
 */
class ReferenceMissing {
  miss: Array<{ pn: number; since: number; nacks: number; last: number }> = []
  largest = -1
  floor = 0
  constructor(private readonly srtt: number) {}
  received(pn: number, now: number): void {
    if (pn < this.floor) return
    if (pn > this.largest) {
      let from = this.largest + 1
      if (this.largest >= 0 && pn > from) {
        if (pn - from > MAX_TRACKED_MISSING) from = pn - MAX_TRACKED_MISSING
        for (let p = from; p < pn; p++) this.miss.push({ pn: p, since: now, nacks: 0, last: -Infinity })
        if (this.miss.length > MAX_TRACKED_MISSING) this.miss.splice(0, this.miss.length - MAX_TRACKED_MISSING)
      }
      this.largest = pn
    } else {
      const i = this.miss.findIndex((m) => m.pn === pn)
      if (i >= 0) this.miss.splice(i, 1)
    }
  }
  acked(largest: number): void {
    this.floor = Math.max(this.floor, largest + 1)
    this.miss = this.miss.filter((m) => m.pn >= this.floor)
  }
  nack(now: number): number[] | null {
    const out: number[] = []
    for (let i = this.miss.length - 1; i >= 0 && out.length < MAX_NACK_COUNT; i--) {
      const m = this.miss[i]!
      const due = m.nacks === 0 ? this.largest >= m.pn + 3 || now >= m.since + K_TIME_THRESHOLD * this.srtt : now >= m.last + this.srtt
      if (due) out.push(m.pn)
    }
    for (const pn of out) {
      const i = this.miss.findIndex((m) => m.pn === pn)
      const m = this.miss[i]!
      if (++m.nacks >= MAX_NACKS_PER_PACKET) this.miss.splice(i, 1)
      else m.last = now
    }
    return out.length ? out : null
  }
  timeout(): number {
    let t = Infinity
    for (const m of this.miss) t = Math.min(t, m.nacks === 0 ? m.since + K_TIME_THRESHOLD * this.srtt : m.last + this.srtt)
    return t
  }
}

describe('AckTracker missing-packet list under reordering', () => {
  it('property: NACKs, their timing and the forgetting match the one-entry-per-gap reference', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 30 }), (seed, depth, lossPct) => {
        const srtt = 20
        const t = new AckTracker({ ackElicitingThreshold: 1000 }, { smoothedRtt: srtt })
        const ref = new ReferenceMissing(srtt)
        const r = rng(seed)
        let now = 0
        const order = jittered(800, depth, seed).filter(() => r() * 100 >= lossPct)
        for (let k = 0; k < order.length; k++) {
          const pn = order[k]!
          now += 0.05
          t.onPacketReceived(pn, true, now)
          ref.received(pn, now)
          if (k % 7 === 0) {
            expect(t.getTimeout() === Infinity ? Infinity : t.getTimeout()).toBeLessThanOrEqual(Math.min(ref.timeout(), now + 1e9))
            expect(t.buildNack(now)?.packetNumbers ?? null).toEqual(ref.nack(now))
          }
          if (k % 97 === 96) {
            t.onAckFrameAcked(pn - 50)
            ref.acked(pn - 50)
          }
        }
        // The stragglers, by time (9/8 RTT, then one RTT later).
        for (const at of [now + 30, now + 60, now + 100]) expect(t.buildNack(at)?.packetNumbers ?? null).toEqual(ref.nack(at))
      }),
      { seed: 99, numRuns: 150 },
    )
  })

  it('thousands of gaps opened and filled keep the list bounded by the live gaps', () => {
    const t = new AckTracker({}, { smoothedRtt: 20 })
    let now = 0
    for (const pn of jittered(20_000, 40, 3)) t.onPacketReceived(pn, true, (now += 0.01))
    // Every gap was filled: nothing left to NACK, nothing to wait for.
    expect(t.nackDue(now + 1000)).toBe(false)
    expect(t.getTimeout()).toBeLessThan(Infinity) // only the ACK deadline
    t.onAckSent(19_999)
    expect(t.getTimeout()).toBe(Infinity)
  })
})
