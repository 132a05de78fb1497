/**
 * Model-based property test (quinn's fuzz/streams.rs idea): random sequences of open / write /
 * end / abort / read / time steps over a lossy pipe keep the multiplexer's invariants:
 *  - credits never negative (stream and session, both directions);
 *  - no data delivered after the receiver saw 'aborted';
 *  - bytes delivered == bytes written, in order, for streams nobody aborted;
 *  - memory bounded by the configured windows and high-water marks;
 *  - once everything is ended or aborted, every stream is released on both sides.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StreamPipe, type PipeEndpoint } from '../helpers/stream-pipe.js'

type Op =
  | { t: 'open' }
  | { t: 'write'; s: number; n: number }
  | { t: 'end'; s: number }
  | { t: 'abort'; s: number; byReader: boolean }
  | { t: 'read'; s: number }
  | { t: 'steps'; n: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant<Op>({ t: 'open' }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('write' as const), s: fc.nat(7), n: fc.integer({ min: 1, max: 40_000 }) }), weight: 5 },
  { arbitrary: fc.record({ t: fc.constant('end' as const), s: fc.nat(7) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('abort' as const), s: fc.nat(7), byReader: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('read' as const), s: fc.nat(7) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('steps' as const), n: fc.integer({ min: 1, max: 200 }) }), weight: 3 },
)

interface Model {
  key: number
  written: number[]
  blocked: boolean
  ended: boolean
  aborted: boolean
  received: number[]
  sawAborted: boolean
  readerEnded: boolean
}

const WINDOW = 32 * 1024
const HIGH_WATER = 48 * 1024
const MAX_WRITE = 40_000

function checkInvariants(pipe: StreamPipe, models: Model[]): void {
  for (const e of [pipe.a, pipe.b]) {
    const f = e.streams.getFlowStats()
    expect(f.sendCredit).toBeGreaterThanOrEqual(0)
    expect(f.receiveWindow).toBeGreaterThanOrEqual(0)
    for (const m of models) {
      const st = e.streams.getStreamStats(m.key)
      if (st === null) continue
      expect(st.sendCredit).toBeGreaterThanOrEqual(0)
      expect(st.receiveWindow).toBeGreaterThanOrEqual(0)
      expect(st.receiveBuffered).toBeLessThanOrEqual(WINDOW)
      expect(st.sendBuffered).toBeLessThanOrEqual(HIGH_WATER + MAX_WRITE)
    }
  }
}

function drainReader(b: PipeEndpoint, byKey: Map<number, Model>, readNow: Set<number>): void {
  for (const e of b.events.splice(0)) {
    const m = byKey.get(e.stream)
    if (m === undefined) continue
    if (e.kind === 'aborted') m.sawAborted = true
    if (e.kind === 'stream-opened' && !m.readerEnded) {
      b.streams.end(e.stream)
      m.readerEnded = true
    }
  }
  for (const key of readNow) {
    const m = byKey.get(key)!
    for (let d = b.streams.read(key); d !== null; d = b.streams.read(key)) {
      expect(m.sawAborted).toBe(false)
      m.received.push(...d)
    }
  }
}

describe('StreamManager properties', () => {
  it('random operation sequences keep the invariants', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), fc.integer({ min: 1, max: 1 << 30 }), (ops, seed) => {
        const lim = { streamReceiveWindow: WINDOW, sessionReceiveWindow: 3 * WINDOW, streamSendBuffer: HIGH_WATER, maxConcurrentStreams: 8 }
        const pipe = new StreamPipe({ seed, link: { latency: 5, loss: 0.1, reorder: 0.1, duplicate: 0.05 }, a: { stream: lim }, b: { stream: lim } })
        const a = pipe.a
        const b = pipe.b
        const models: Model[] = []
        const byKey = new Map<number, Model>()
        const reading = new Set<number>()
        let counter = 0
        const pick = (s: number): Model | undefined => models[s % Math.max(1, models.length)]
        pipe.onStep = () => {
          for (const e of a.events.splice(0)) {
            const m = byKey.get(e.stream)
            if (m && e.kind === 'writable') m.blocked = false
          }
          drainReader(b, byKey, reading)
          checkInvariants(pipe, models)
        }
        for (const op of ops) {
          const m = op.t === 'open' || op.t === 'steps' ? undefined : pick(op.s)
          switch (op.t) {
            case 'open':
              if (models.length < 8) {
                const key = a.streams.openStream()
                const mm: Model = { key, written: [], blocked: false, ended: false, aborted: false, received: [], sawAborted: false, readerEnded: false }
                models.push(mm)
                byKey.set(key, mm)
              }
              break
            case 'write':
              if (m && !m.ended && !m.aborted && !m.blocked && !m.sawAborted) {
                const data = Uint8Array.from({ length: op.n }, () => counter++ & 0xff)
                try {
                  m.blocked = !a.streams.write(m.key, data)
                  m.written.push(...data)
                } catch {
                  // the peer aborted meanwhile: the stream is closed for writing
                }
              }
              break
            case 'end':
              if (m && !m.ended && !m.aborted) {
                try {
                  a.streams.end(m.key)
                } catch {
                  // aborted by the peer
                }
                m.ended = true
              }
              break
            case 'abort':
              // The reader can only abort a stream it has seen.
              if (m && !m.aborted && (!op.byReader || b.streams.has(m.key))) {
                m.aborted = true
                ;(op.byReader ? b : a).streams.abort(m.key, 7)
              }
              break
            case 'read':
              if (m) reading.add(m.key)
              break
            case 'steps':
              for (let i = 0; i < op.n; i++) pipe.step()
              break
          }
        }
        // Wind down: the reader reads everything; every stream ends; all must be released.
        for (const mm of models) {
          reading.add(mm.key)
          if (!mm.ended && !mm.aborted && !mm.sawAborted) {
            try {
              a.streams.end(mm.key)
            } catch {
              // aborted meanwhile
            }
            mm.ended = true
          }
        }
        // Writers whose write() returned false keep nothing pending in this model (they ended).
        const done = () => a.streams.streamCount === 0 && b.streams.streamCount === 0
        expect(pipe.run(done, 3_600_000)).toBe(true)
        // Session flow control settled exactly: what one side counted as sent the other
        // counted as received, and all of it as consumed (read or discarded by an abort).
        for (const [x, y] of [
          [a, b],
          [b, a],
        ] as const) {
          const fx = x.streams.getFlowStats()
          const fy = y.streams.getFlowStats()
          expect(fy.sessionReceived).toBe(fx.sessionSent)
          expect(fy.sessionConsumed).toBe(fy.sessionReceived)
        }
        for (const mm of models) {
          if (!mm.aborted && !mm.sawAborted) {
            expect(mm.received.length).toBe(mm.written.length)
            expect(Buffer.compare(Buffer.from(mm.received), Buffer.from(mm.written))).toBe(0)
          } else {
            // Aborted: whatever arrived is a prefix of what was written.
            expect(Buffer.compare(Buffer.from(mm.received), Buffer.from(mm.written.slice(0, mm.received.length)))).toBe(0)
          }
        }
      }),
      { seed: 20261127, numRuns: 150 },
    )
  })
})
