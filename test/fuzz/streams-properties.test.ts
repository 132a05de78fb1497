/**
 * Extends test/unit/streams.property.test.ts (which drives two StreamManagers over a lossy
 * pipe with a real loss detector): here the *test* decides every packet's fate, so orders a
 * loss detector would never produce get explored too — acks in any order, packets declared
 * lost while still in flight and then delivered late, spurious losses of delivered packets,
 * duplicate deliveries — and message streams are exercised next to byte streams.
 *
 * Invariants checked after every operation:
 *  - credits never negative (stream and session, send and receive side, both managers);
 *  - a correct peer never triggers a protocol error (handleFrame always returns 0);
 *  - no data is read after the reader saw 'aborted';
 * and at the end (everything delivered and acked reliably): bytes read == bytes written, in
 * order, for every stream nobody aborted (a prefix otherwise), messages arrive whole and in
 * order, session flow control balances, and every byte stream is released on both sides.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeFrames } from '../../src/protocol/frames.js'
import { StreamManager, StreamRecord } from '../../src/protocol/streams.js'

type Op =
  | { t: 'open' }
  | { t: 'write'; s: number; n: number }
  | { t: 'end'; s: number }
  | { t: 'abort'; s: number; byReader: boolean }
  | { t: 'read'; s: number }
  | { t: 'msg'; id: number; n: number }
  | { t: 'send'; side: 0 | 1; k: number }
  | { t: 'deliver'; i: number; dup: boolean }
  | { t: 'drop'; i: number }
  | { t: 'ack'; i: number }
  | { t: 'lose'; i: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant<Op>({ t: 'open' }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('write' as const), s: fc.nat(5), n: fc.integer({ min: 1, max: 30_000 }) }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('end' as const), s: fc.nat(5) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('abort' as const), s: fc.nat(5), byReader: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('read' as const), s: fc.nat(5) }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('msg' as const), id: fc.nat(2), n: fc.integer({ min: 0, max: 5000 }) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('send' as const), side: fc.constantFrom(0 as const, 1 as const), k: fc.integer({ min: 1, max: 12 }) }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('deliver' as const), i: fc.nat(), dup: fc.boolean() }), weight: 5 },
  { arbitrary: fc.record({ t: fc.constant('drop' as const), i: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('ack' as const), i: fc.nat() }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('lose' as const), i: fc.nat() }), weight: 2 },
)

const WINDOW = 32 * 1024
const HIGH_WATER = 48 * 1024
const MTU = 1200

interface Packet {
  from: 0 | 1
  bytes: Uint8Array
  record: StreamRecord
  /** flight: may be delivered; delivered: may be acked or (spuriously) lost; late: declared lost, may still arrive. */
  state: 'flight' | 'delivered' | 'late' | 'gone'
}

interface Model {
  key: number
  written: number[]
  blocked: boolean
  ended: boolean
  aborted: boolean
  received: number[]
  sawAborted: boolean
}

class World {
  readonly m: [StreamManager, StreamManager]
  packets: Packet[] = []
  readonly models: Model[] = []
  readonly byKey = new Map<number, Model>()
  readonly sentMsgs = new Map<number, Uint8Array[]>()
  readonly gotMsgs = new Map<number, Uint8Array[]>()
  private counter = 0

  constructor() {
    const lim = { streamReceiveWindow: WINDOW, sessionReceiveWindow: 3 * WINDOW, streamSendBuffer: HIGH_WATER, maxConcurrentStreams: 4 }
    const peer = { maxStreams: 4, streamWindow: WINDOW, sessionWindow: 3 * WINDOW }
    this.m = [new StreamManager({ isInitiator: true, ...lim }, peer), new StreamManager({ isInitiator: false, ...lim }, peer)]
  }

  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.counter++ & 0xff)
  }

  /** Up to k packets from one side. */
  send(side: 0 | 1, k: number): void {
    const mgr = this.m[side]
    for (let i = 0; i < k && mgr.wantsToSend(); i++) {
      const buf = new Uint8Array(MTU)
      const record = new StreamRecord()
      const end = mgr.writeFrames(buf, 0, MTU, record)
      if (end === 0) break
      this.packets.push({ from: side, bytes: buf.slice(0, end), record, state: 'flight' })
    }
    this.events()
  }

  deliver(p: Packet): void {
    const frames = decodeFrames(p.bytes, 0, p.bytes.length)
    if (typeof frames === 'string') throw new Error(`undecodable packet: ${frames}`)
    const rx = this.m[1 - p.from]!
    for (const f of frames) expect(rx.handleFrame(f, 0)).toBe(0)
    this.events()
  }

  events(): void {
    const [a, b] = this.m
    for (let e = a.pollEvent(); e !== null; e = a.pollEvent()) {
      const m = this.byKey.get(e.stream)
      if (m && e.kind === 'writable') m.blocked = false
      if (m && e.kind === 'aborted') m.sawAborted = true
    }
    for (let e = b.pollEvent(); e !== null; e = b.pollEvent()) {
      if (e.kind === 'message') {
        const l = this.gotMsgs.get(e.streamId) ?? []
        l.push(e.data!)
        this.gotMsgs.set(e.streamId, l)
        continue
      }
      const m = this.byKey.get(e.stream)
      if (m === undefined) continue
      if (e.kind === 'aborted') m.sawAborted = true
      if (e.kind === 'stream-opened') b.end(e.stream) // the reader never writes: end its direction
    }
  }

  read(m: Model): void {
    const b = this.m[1]
    for (let d = b.read(m.key); d !== null; d = b.read(m.key)) {
      expect(m.sawAborted).toBe(false)
      m.received.push(...d)
    }
    this.events()
  }

  check(): void {
    for (const mgr of this.m) {
      const f = mgr.getFlowStats()
      expect(f.sendCredit).toBeGreaterThanOrEqual(0)
      expect(f.receiveWindow).toBeGreaterThanOrEqual(0)
      for (const m of this.models) {
        const st = mgr.getStreamStats(m.key)
        if (st === null) continue
        expect(st.sendCredit).toBeGreaterThanOrEqual(0)
        expect(st.receiveWindow).toBeGreaterThanOrEqual(0)
        expect(st.receiveBuffered).toBeLessThanOrEqual(WINDOW)
        expect(st.bytesInFlight).toBeGreaterThanOrEqual(0)
      }
    }
  }

  /** Reliable wind-down: send, deliver and ack everything until nothing moves. */
  settle(): void {
    for (const p of this.packets) if (p.state === 'late') p.state = 'gone'
    for (let round = 0; round < 10_000; round++) {
      for (const m of this.models) this.read(m)
      this.send(0, 64)
      this.send(1, 64)
      const live = this.packets.filter((p) => p.state === 'flight' || p.state === 'delivered')
      this.packets = []
      if (live.length === 0 && !this.m[0].wantsToSend() && !this.m[1].wantsToSend()) return
      for (const p of live) if (p.state === 'flight') this.deliver(p)
      for (const p of live) this.m[p.from].onAcked(p.record)
      this.events()
      this.check()
    }
    throw new Error('did not settle')
  }
}

function pickPacket(w: World, i: number, states: Packet['state'][]): Packet | undefined {
  const c = w.packets.filter((p) => states.includes(p.state))
  return c.length === 0 ? undefined : c[i % c.length]
}

describe('StreamManager properties under adversarial packet fates', () => {
  it('random open/write/end/abort/message/ack/loss sequences keep the invariants', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const w = new World()
        const [a, b] = w.m
        const pick = (s: number): Model | undefined => w.models[s % Math.max(1, w.models.length)]
        for (const op of ops) {
          switch (op.t) {
            case 'open':
              if (w.models.length < 6) {
                try {
                  const key = a.openStream()
                  const m: Model = { key, written: [], blocked: false, ended: false, aborted: false, received: [], sawAborted: false }
                  w.models.push(m)
                  w.byKey.set(key, m)
                } catch {
                  // peer's STREAMS_CREDIT used up: fine
                }
              }
              break
            case 'write': {
              const m = pick(op.s)
              if (m && !m.ended && !m.aborted && !m.blocked && !m.sawAborted) {
                const data = w.bytes(op.n)
                m.blocked = !a.write(m.key, data)
                m.written.push(...data)
              }
              break
            }
            case 'end': {
              const m = pick(op.s)
              if (m && !m.ended && !m.aborted) {
                a.end(m.key)
                m.ended = true
              }
              break
            }
            case 'abort': {
              const m = pick(op.s)
              if (m && !m.aborted && (!op.byReader || b.has(m.key))) {
                m.aborted = true
                ;(op.byReader ? b : a).abort(m.key, 9)
                w.events()
              }
              break
            }
            case 'read': {
              const m = pick(op.s)
              if (m) w.read(m)
              break
            }
            case 'msg': {
              const data = w.bytes(op.n)
              a.sendMessage(op.id, data)
              const l = w.sentMsgs.get(op.id) ?? []
              l.push(data)
              w.sentMsgs.set(op.id, l)
              break
            }
            case 'send':
              w.send(op.side, op.k)
              break
            case 'deliver': {
              const p = pickPacket(w, op.i, op.dup ? ['flight', 'delivered', 'late'] : ['flight', 'late'])
              if (p) {
                w.deliver(p)
                if (p.state === 'flight') p.state = 'delivered'
                else if (p.state === 'late') p.state = 'gone'
              }
              break
            }
            case 'drop': {
              const p = pickPacket(w, op.i, ['flight'])
              // Dropped on the wire: the sender finds out later (a 'lose' op or the wind-down).
              if (p) p.state = 'late'
              break
            }
            case 'ack': {
              const p = pickPacket(w, op.i, ['delivered'])
              if (p) {
                w.m[p.from].onAcked(p.record)
                p.state = 'gone'
                w.events()
              }
              break
            }
            case 'lose': {
              // Declared lost: in flight (it may still arrive late), dropped, or even delivered (spurious).
              const p = pickPacket(w, op.i, ['flight', 'delivered', 'late'])
              if (p && !(p as Packet & { lost?: boolean }).lost) {
                ;(p as Packet & { lost?: boolean }).lost = true
                w.m[p.from].onLost(p.record)
                p.state = p.state === 'delivered' ? 'gone' : 'late'
                w.events()
              }
              break
            }
          }
          w.packets = w.packets.filter((p) => p.state !== 'gone')
          w.check()
        }
        // Wind down: end every live stream; lost-but-unreported packets are reported lost.
        for (const p of w.packets) if (p.state === 'late' && !(p as Packet & { lost?: boolean }).lost) w.m[p.from].onLost(p.record)
        for (const m of w.models) {
          if (!m.ended && !m.aborted && !m.sawAborted) {
            a.end(m.key)
            m.ended = true
          }
        }
        w.events()
        w.settle()
        for (const m of w.models) {
          if (!m.aborted && !m.sawAborted) {
            expect(m.received.length).toBe(m.written.length)
            expect(Buffer.compare(Buffer.from(m.received), Buffer.from(m.written))).toBe(0)
          } else {
            expect(Buffer.compare(Buffer.from(m.received), Buffer.from(m.written.slice(0, m.received.length)))).toBe(0)
          }
        }
        for (const [id, sent] of w.sentMsgs) {
          const got = w.gotMsgs.get(id) ?? []
          expect(got.length).toBe(sent.length)
          got.forEach((g, i) => expect(Buffer.from(g).equals(Buffer.from(sent[i]!))).toBe(true))
        }
        for (const [x, y] of [
          [a, b],
          [b, a],
        ] as const) {
          const fx = x.getFlowStats()
          const fy = y.getFlowStats()
          expect(fy.sessionReceived).toBe(fx.sessionSent)
          expect(fy.sessionConsumed).toBe(fy.sessionReceived)
        }
        // Byte streams all released (message streams live as long as the session).
        for (const m of w.models) {
          expect(a.has(m.key)).toBe(false)
          expect(b.has(m.key)).toBe(false)
        }
      }),
      { seed: 20261128, numRuns: 300 },
    )
  })
})
