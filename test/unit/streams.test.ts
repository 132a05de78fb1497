import { describe, expect, it } from 'vitest'
import { ErrorCode, STTError, WireError } from '../../src/errors.js'
import { FrameType } from '../../src/protocol/constants.js'
import { decodeFrames, type Frame } from '../../src/protocol/frames.js'
import { StreamManager, StreamRecord, type StreamEvent, type StreamManagerOptions } from '../../src/protocol/streams.js'

const PEER = { maxStreams: 4, streamWindow: 1000, sessionWindow: 3000 }

function pair(opts: Partial<StreamManagerOptions> = {}) {
  const base = { maxConcurrentStreams: PEER.maxStreams, streamReceiveWindow: PEER.streamWindow, sessionReceiveWindow: PEER.sessionWindow, ...opts }
  const a = new StreamManager({ isInitiator: true, ...base }, PEER)
  const b = new StreamManager({ isInitiator: false, ...base }, PEER)
  return { a, b }
}

/** Moves one packet of frames from `from` to `to`; returns the record (not yet acked) and the frames. */
function packet(from: StreamManager, to: StreamManager, size = 1200): { rec: StreamRecord; frames: Frame[] } {
  const buf = new Uint8Array(size)
  const rec = new StreamRecord()
  const end = from.writeFrames(buf, 0, size, rec)
  const frames = decodeFrames(buf, 0, end) as Frame[]
  for (const f of frames) expect(to.handleFrame(f, 0)).toBe(0)
  buf.fill(0xaa) // the datagram is reused
  return { rec, frames }
}

/** Lossless exchange in both directions until idle, acking every packet. */
function settle(a: StreamManager, b: StreamManager): void {
  for (let i = 0; i < 10_000; i++) {
    if (!a.wantsToSend() && !b.wantsToSend()) return
    if (a.wantsToSend()) a.onAcked(packet(a, b).rec)
    if (b.wantsToSend()) b.onAcked(packet(b, a).rec)
  }
  throw new Error('did not settle')
}

function events(m: StreamManager): StreamEvent[] {
  const out: StreamEvent[] = []
  for (let e = m.pollEvent(); e !== null; e = m.pollEvent()) out.push(e)
  return out
}

function readAll(m: StreamManager, key: number): number[] {
  const out: number[] = []
  for (let b = m.read(key); b !== null; b = m.read(key)) out.push(...b)
  return out
}

describe('StreamManager', () => {
  it('gives the initiator odd ids and the responder even ids, as keys id * 2', () => {
    const { a, b } = pair()
    expect([a.openStream(), a.openStream()]).toEqual([2, 6])
    expect([b.openStream(), b.openStream()]).toEqual([4, 8])
  })

  it('throws STT_TOO_MANY_STREAMS beyond the peer limit, and the peer rejects a stream beyond its grant', () => {
    const { a, b } = pair()
    for (let i = 0; i < PEER.maxStreams; i++) a.openStream()
    try {
      a.openStream()
      expect.unreachable()
    } catch (e) {
      expect(e).toBeInstanceOf(STTError)
      expect((e as STTError).code).toBe(ErrorCode.TOO_MANY_STREAMS)
    }
    // Stream index 4 (id 9) was never granted.
    expect(b.handleFrame({ type: FrameType.STREAM_OPEN, streamKey: 18, priority: 0 }, 0)).toBe(WireError.TOO_MANY_STREAMS)
    // A frame for one of b's own ids that b never opened.
    expect(b.handleFrame({ type: FrameType.STREAM_OPEN, streamKey: 4, priority: 0 }, 0)).toBe(WireError.STREAM_ID_CONFLICT)
  })

  it("watchAllAcked: one 'all-acked' once everything written is acknowledged, none while data is unacked", () => {
    const { a, b } = pair()
    const acked: number[] = []
    a.allAcked = () => acked.push(a.unackedBytes)
    expect(a.watchAllAcked()).toBe(true) // nothing written: nothing to wait for, nothing armed
    const k = a.openStream()
    a.write(k, new Uint8Array(500))
    expect(a.watchAllAcked()).toBe(false)
    const first = packet(a, b, 300) // part of the data in flight
    a.onAcked(first.rec)
    expect(acked).toEqual([]) // still unacknowledged bytes
    const rest = packet(a, b)
    expect(acked).toEqual([])
    a.onAcked(rest.rec)
    expect(acked).toEqual([0])
    // Not armed again: later acks say nothing.
    a.write(k, new Uint8Array(10))
    a.onAcked(packet(a, b).rec)
    expect(acked).toEqual([0])
  })

  it("watchAllAcked: an abort drops the unacknowledged data, and that ends the wait", () => {
    const { a, b } = pair()
    let acked = 0
    a.allAcked = () => acked++
    const k = a.openStream()
    a.write(k, new Uint8Array(200))
    packet(a, b) // sent, never acknowledged
    expect(a.watchAllAcked()).toBe(false)
    a.abort(k, 7)
    expect(acked).toBe(1)
  })

  it('delivers bytes in order with FIN, then releases the stream on both sides', () => {
    const { a, b } = pair()
    const k = a.openStream()
    a.write(k, Uint8Array.from([1, 2, 3]))
    a.end(k)
    settle(a, b)
    const ev = events(b)
    expect(ev.map((e) => e.kind)).toEqual(['stream-opened', 'readable'])
    expect(readAll(b, k)).toEqual([1, 2, 3])
    expect(events(b).map((e) => e.kind)).toEqual(['end'])
    b.end(k)
    settle(a, b)
    expect(events(a).map((e) => e.kind)).toEqual(['end', 'stream-closed'])
    expect(events(b).map((e) => e.kind)).toEqual(['stream-closed'])
    expect(a.streamCount).toBe(0)
    expect(b.streamCount).toBe(0)
  })

  it('flags data beyond stream credit and beyond session credit as FLOW_CONTROL_VIOLATION', () => {
    const { b } = pair()
    const data = new Uint8Array(1001)
    expect(b.handleFrame({ type: FrameType.DATA, datagram: false, streamKey: 2, offset: 0, data }, 0)).toBe(WireError.FLOW_CONTROL_VIOLATION)
    const c = pair().b
    const ok = new Uint8Array(1000)
    expect(c.handleFrame({ type: FrameType.DATA, datagram: false, streamKey: 2, offset: 0, data: ok }, 0)).toBe(0)
    expect(c.handleFrame({ type: FrameType.DATA, datagram: false, streamKey: 6, offset: 0, data: ok }, 0)).toBe(0)
    expect(c.handleFrame({ type: FrameType.DATA, datagram: false, streamKey: 10, offset: 0, data: ok }, 0)).toBe(0)
    expect(c.handleFrame({ type: FrameType.DATA, datagram: false, streamKey: 14, offset: 0, data: Uint8Array.of(1) }, 0)).toBe(
      WireError.FLOW_CONTROL_VIOLATION,
    )
  })

  it('never sends beyond the peer credit; a slow reader stops the writer (backpressure)', () => {
    const { a, b } = pair({ streamSendBuffer: 4000 })
    const k = a.openStream()
    let accepted = 0
    while (a.write(k, new Uint8Array(500))) accepted += 500
    accepted += 500
    expect(accepted).toBe(4000)
    settle(a, b) // b never reads
    expect(b.getStreamStats(k)!.receiveBuffered).toBe(1000)
    expect(a.getStreamStats(k)!.sendCredit).toBe(0)
    expect(a.getStreamStats(k)!.sendBuffered).toBe(3000)
    expect(a.wantsToSend()).toBe(false)
    // b reads: credit flows back, more data moves, and a gets 'writable' once drained.
    for (let i = 0; i < 10; i++) {
      readAll(b, k)
      settle(a, b)
    }
    expect(events(a).some((e) => e.kind === 'writable' && e.stream === k)).toBe(true)
    expect(a.getStreamStats(k)!.sendBuffered).toBe(0)
  })

  it('session credit bounds the sum over streams; reading one stream releases it for the others', () => {
    const { a, b } = pair()
    const keys = [a.openStream(), a.openStream(), a.openStream(), a.openStream()]
    for (const k of keys) a.write(k, new Uint8Array(1000))
    settle(a, b)
    expect(a.getFlowStats().sendCredit).toBe(0)
    expect(b.getFlowStats().sessionReceived).toBe(PEER.sessionWindow)
    expect(a.wantsToSend()).toBe(false)
    const unsent = keys.map((k) => a.getStreamStats(k)!.sendBuffered).reduce((x, y) => x + y, 0)
    expect(unsent).toBe(1000)
    readAll(b, keys[0]!)
    readAll(b, keys[1]!)
    settle(a, b)
    expect(b.getFlowStats().sessionReceived).toBe(4000)
  })

  it('a lost packet of one stream does not stall another stream', () => {
    const { a, b } = pair()
    const x = a.openStream()
    const y = a.openStream()
    a.write(x, new Uint8Array(900).fill(1))
    a.write(y, new Uint8Array(900).fill(2))
    const p1 = packet(a, new StreamManager({ isInitiator: false }, PEER), 1000) // "lost": delivered to nobody
    a.onLost(p1.rec)
    // Everything left, including the retransmission, now flows; y is readable regardless of x.
    const p2 = packet(a, b, 1000)
    const firstKeys = p2.frames.filter((f) => f.type === FrameType.DATA).map((f) => (f as { streamKey: number }).streamKey)
    expect(firstKeys).toContain(x) // retransmission first
    settle(a, b)
    expect(readAll(b, y).length).toBe(900)
    expect(readAll(b, x).length).toBe(900)
  })

  // The tail of a transfer: once a stream ended and every byte went out, a retransmission goes
  // out twice (in two packets), so one more random loss does not cost another round trip.
  it('a retransmission after the end of the stream was sent goes out twice, the copy in a later packet; not once the first is acked, nor for a stream not ended', () => {
    const dataOf = (frames: Frame[]) => frames.filter((f) => f.type === FrameType.DATA).map((f) => { const d = f as { offset: number; data: Uint8Array }; return [d.offset, d.data.length] })
    const sink = () => new StreamManager({ isInitiator: false }, PEER)
    // Ended, everything sent: the retransmission, then its copy.
    const { a, b } = pair()
    const k = a.openStream()
    a.write(k, new Uint8Array(900).fill(1))
    a.end(k)
    a.onLost(packet(a, sink(), 1000).rec)
    expect(dataOf(packet(a, b, 1000).frames)).toEqual([[0, 900]])
    expect(a.wantsToSend()).toBe(true)
    expect(dataOf(packet(a, b, 1000).frames)).toEqual([[0, 900]])
    settle(a, b)
    expect(readAll(b, k).length).toBe(900)
    // The first copy is acked before the second goes: no second.
    const k2 = a.openStream()
    a.write(k2, new Uint8Array(900).fill(2))
    a.end(k2)
    a.onLost(packet(a, sink(), 1000).rec)
    a.onAcked(packet(a, b, 1000).rec)
    expect(a.wantsToSend()).toBe(false)
    // Not ended (a writer that paused, or new data waiting beyond credit): once.
    for (const size of [900, 3000]) {
      const c = pair()
      const j = c.a.openStream()
      c.a.write(j, new Uint8Array(size).fill(3))
      c.a.onLost(packet(c.a, sink(), 1000).rec)
      expect(dataOf(packet(c.a, c.b, 1000).frames)[0]![0]).toBe(0)
      for (let i = 0; i < 3; i++) expect(dataOf(packet(c.a, c.b, 1000).frames).some(([off]) => off === 0)).toBe(false)
    }
  })

  it('abort: the peer gets "aborted" with the code, no more data is delivered, both sides release', () => {
    const { a, b } = pair()
    const k = a.openStream()
    a.write(k, new Uint8Array(300))
    settle(a, b)
    expect(events(b).map((e) => e.kind)).toEqual(['stream-opened', 'readable'])
    a.abort(k, 0x42)
    expect(() => a.write(k, new Uint8Array(1))).toThrow(STTError)
    settle(a, b)
    const ev = events(b)
    expect(ev.find((e) => e.kind === 'aborted')?.code).toBe(0x42)
    expect(b.read(k)).toBeNull()
    expect(a.streamCount).toBe(0)
    expect(b.streamCount).toBe(0)
    expect(events(a).map((e) => e.kind)).toEqual(['stream-closed'])
    // The peer's session credit was returned although nobody read the 300 bytes.
    expect(b.getFlowStats().sessionConsumed).toBe(300)
  })

  it('data arriving after a local abort is discarded but still returns session credit', () => {
    const { a, b } = pair()
    const k = a.openStream()
    a.write(k, new Uint8Array(100))
    settle(a, b)
    a.write(k, new Uint8Array(500))
    const sink = new StreamManager({ isInitiator: false }, PEER)
    const inFlight = packet(a, sink) // captured on the way, delivered after b aborts
    b.abort(k, 9)
    for (const f of inFlight.frames) expect(b.handleFrame(f, 0)).toBe(0)
    a.onAcked(inFlight.rec)
    settle(a, b)
    const fb = b.getFlowStats()
    expect(fb.sessionReceived).toBe(600)
    expect(fb.sessionConsumed).toBe(600)
    expect(events(a).find((e) => e.kind === 'aborted')?.code).toBe(9)
    expect(a.streamCount).toBe(0)
    expect(b.streamCount).toBe(0)
  })

  it('retransmits lost control frames that are still current (FIN, CLOSE, credit, open)', () => {
    const { a, b } = pair()
    const k = a.openStream()
    a.end(k)
    const lost = packet(a, new StreamManager({ isInitiator: false }, PEER))
    expect(lost.rec.items.length).toBeGreaterThan(0)
    a.onLost(lost.rec)
    settle(a, b)
    expect(events(b).map((e) => e.kind)).toEqual(['stream-opened', 'end'])
  })

  it('messages: whole messages in order, both directions on the same id, size limit on both sides', () => {
    const { a, b } = pair({ maxMessageSize: 600, streamReceiveWindow: 1000 })
    const msgs = [new Uint8Array(0), Uint8Array.of(7), new Uint8Array(600).fill(9), new Uint8Array(300).fill(3)]
    for (const m of msgs) a.sendMessage(5, m)
    b.sendMessage(5, Uint8Array.of(1, 2))
    settle(a, b)
    const got = events(b).filter((e) => e.kind === 'message')
    expect(got.map((e) => e.data!.length)).toEqual([0, 1, 600, 300])
    expect(got.every((e) => e.streamId === 5)).toBe(true)
    expect(events(a).filter((e) => e.kind === 'message').map((e) => [...e.data!])).toEqual([[1, 2]])
    expect(() => a.sendMessage(5, new Uint8Array(601))).toThrow(STTError)
    // A peer announcing a bigger message is a violation.
    const c = pair({ maxMessageSize: 600 }).b
    expect(c.handleFrame({ type: FrameType.DATA, datagram: false, streamKey: 11, offset: 0, data: Uint8Array.of(0x42, 0x59) }, 0)).toBe(
      WireError.BUFFER_OVERFLOW,
    )
  })

  it('serves higher priority first and round-robins equal priorities', () => {
    const { a, b } = pair({ streamReceiveWindow: 100_000, sessionReceiveWindow: 1_000_000 })
    const big = { maxStreams: 8, streamWindow: 100_000, sessionWindow: 1_000_000 }
    const s = new StreamManager({ isInitiator: true }, big)
    const lo1 = s.openStream({ priority: 1 })
    const lo2 = s.openStream({ priority: 1 })
    const hi = s.openStream({ priority: 9 })
    for (const k of [lo1, lo2, hi]) s.write(k, new Uint8Array(5000))
    const order: number[] = []
    const r = new StreamManager({ isInitiator: false }, big)
    for (let i = 0; i < 14; i++) {
      const p = packet(s, r, 1200)
      for (const f of p.frames) if (!('app' in f) && f.type === FrameType.DATA) order.push(f.streamKey)
    }
    void a
    void b
    const firstLo = order.findIndex((k) => k !== hi)
    expect(order.slice(0, firstLo).every((k) => k === hi)).toBe(true)
    expect(order.slice(0, firstLo).length).toBeGreaterThanOrEqual(4)
    const rest = order.slice(firstLo).filter((k) => k !== hi)
    expect(rest.slice(0, 4)).toEqual([lo1, lo2, lo1, lo2])
  })

  it('bare mode frees send data as soon as it is written and never retransmits', () => {
    const { a, b } = pair({ reliable: false })
    const k = a.openStream()
    a.write(k, new Uint8Array(900))
    a.end(k)
    const p = packet(a, b)
    expect(a.getStreamStats(k)!.sendBuffered).toBe(0)
    a.onLost(p.rec) // the session never calls this in bare mode; even so nothing is re-queued
    expect(a.wantsToSend()).toBe(false)
    expect(readAll(b, k).length).toBe(900)
    b.end(k)
    packet(b, a)
    expect(a.streamCount).toBe(0)
    expect(b.streamCount).toBe(0)
  })

  it('opening and closing 1,000 streams in sequence under a limit of 4 leaks nothing', () => {
    const { a, b } = pair()
    for (let i = 0; i < 1000; i++) {
      const k = a.openStream()
      a.write(k, Uint8Array.of(i & 0xff))
      a.end(k)
      settle(a, b)
      for (const e of events(b)) {
        if (e.kind === 'readable') expect(readAll(b, e.stream)).toEqual([i & 0xff])
        if (e.kind === 'stream-opened') b.end(e.stream)
      }
      settle(a, b)
      events(b)
      events(a)
      expect(a.streamCount).toBe(0)
      expect(b.streamCount).toBe(0)
    }
  })
})
