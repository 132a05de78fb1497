/**
 * Backpressure end to end over WebSocket, at node level: when the receiving application stops
 * reading a stream, the sender's stream.write() turns false, and neither the WebSocket's
 * bufferedAmount nor the sender's memory grows while the writer keeps trying; when reading
 * resumes, every byte arrives intact. Also when the receiving *node* stops reading its TCP
 * socket (a stalled peer): TCP pushes back, the sender's buffers stay bounded, and, in bare
 * mode, nothing is lost when it resumes.
 */
import { randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import type { STTNode, STTSession, STTStream } from '../../src/index.js'
import type { WebSocketTransport } from '../../src/transport/websocket.js'
import { sessionInternals } from '../../src/session.js'
import { NodeBag, pairOver, pingPong, sha256, sleep, waitFor, withTimeout, type Mode } from './node-ws-helpers.js'

const bag = new NodeBag()
afterEach(() => bag.stopAll())

const MiB = 1 << 20
/** Pinned so the bounds below don't move with the library's defaults. */
const WINDOWS = { streamReceiveWindow: 1 * MiB, streamSendBuffer: 1 * MiB, sessionReceiveWindow: 16 * MiB }

function wsOf(n: STTNode): WebSocketTransport {
  return n.transportFor('websocket') as unknown as WebSocketTransport
}

/** bufferedAmount of the WebSocket under a session, from the transport's own counter (test-only reach-in). */
function buffered(n: STTNode, s: STTSession): number {
  return wsOf(n).bufferedAmount(sessionInternals.core(s).address)
}

/** The raw socket of the one connection a node's WebSocket transport holds (test-only reach-in). */
function onlySocket(n: STTNode): Duplex {
  const byKey = (wsOf(n) as unknown as { byKey: Map<string, { socket: Duplex }> }).byKey
  expect(byKey.size).toBe(1)
  return [...byKey.values()][0]!.socket
}

interface Writer {
  /** Bytes write() accepted so far. */
  accepted: () => number
  /** How many times write() returned false. */
  refusals: () => number
  done: Promise<void>
  stop: () => void
}

/**
 * A writer that keeps trying: writes 64 KiB chunks of `data` while write() says yes, then
 * waits for 'drain', and also re-checks every 20 ms (never writing past a false).
 */
function persistentWriter(st: STTStream, data: Buffer): Writer {
  let off = 0
  let refusals = 0
  let stopped = false
  const done = (async () => {
    while (off < data.length && !stopped) {
      const end = Math.min(off + 64 * 1024, data.length)
      const ok = st.write(data.subarray(off, end))
      off = end
      if (!ok) {
        refusals++
        while (st.writableNeedDrain && !stopped) {
          // Wait for 'drain', but look again every 20 ms anyway (and don't pile up listeners).
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(t)
              st.off('drain', done)
              resolve()
            }
            const t = setTimeout(done, 20)
            st.once('drain', done)
          })
        }
      }
    }
    if (!stopped) await new Promise<void>((r) => st.end(() => r()))
  })()
  return { accepted: () => off, refusals: () => refusals, done, stop: () => (stopped = true) }
}

function collect(s: STTStream): { chunks: Buffer[]; ended: Promise<void> } {
  const chunks: Buffer[] = []
  const ended = new Promise<void>((resolve, reject) => {
    s.once('end', resolve)
    s.once('error', reject)
  })
  s.on('data', (c: Buffer) => chunks.push(c))
  return { chunks, ended }
}

describe.each([
  ['bare', 'websocket'],
  ['fullReliability', 'websocket-full'],
] as Array<[string, Mode]>)('backpressure over WebSocket (%s)', (_l, mode) => {
  it('a receiver that stops reading stalls the writer; buffers and memory stay bounded; resume delivers everything', async () => {
    const { a, sa, sb } = await pairOver(bag, mode, WINDOWS, WINDOWS)
    const total = 48 * MiB
    const data = randomBytes(total)
    const incoming = new Promise<STTStream>((r) => sb.once('stream', r))
    const st = sa.openStream()
    const w = persistentWriter(st, data)
    const rs = await withTimeout(incoming, 'stream arrives')
    // The receiving application reads nothing: pause before attaching a 'data' listener.
    rs.pause()

    // Let the writer fill every buffer it can reach, then watch it for a while.
    await waitFor(() => w.refusals() > 0, 'write() returns false', 20_000)
    await sleep(500)
    global.gc?.()
    const rss0 = process.memoryUsage().rss
    const accepted0 = w.accepted()
    let maxBuffered = 0
    let maxRss = rss0
    for (let i = 0; i < 30; i++) {
      await sleep(50)
      maxBuffered = Math.max(maxBuffered, buffered(a, sa))
      maxRss = Math.max(maxRss, process.memoryUsage().rss)
    }
    const accepted1 = w.accepted()

    // The writer is stuck: write() accepted at most a few windows' worth of the 48 MiB in
    // total (stream window 1 MiB + send buffer 1 MiB + the Duplex's 64 KiB, and slack).
    expect(accepted0).toBeLessThan(12 * MiB)
    expect(accepted1).toBeLessThan(12 * MiB)
    expect(st.writableNeedDrain).toBe(true)
    // WebSocket buffer: bounded by the flow-control window, far below what was offered.
    expect(maxBuffered).toBeLessThan(8 * MiB)
    // Memory: no growth proportional to what the writer is trying to push (48 MiB).
    expect(maxRss - rss0).toBeLessThan(32 * MiB)
    const st0 = sa.getStats()
    expect(st0.bare).toBe(mode === 'websocket')

    // Resume reading: everything arrives, byte-exact, and the writer finishes.
    const got = collect(rs)
    rs.resume()
    await withTimeout(Promise.all([got.ended, w.done]), 'resume and finish', 60_000)
    const all = Buffer.concat(got.chunks)
    expect(all.length).toBe(total)
    expect(sha256(all)).toBe(sha256(data))
    // Over TCP nothing had to be dropped by the WebSocket transport.
    expect(a.getTransportStats().transports.websocket!.dropped['queue-full'] ?? 0).toBe(0)
  }, 120_000)

  it('a peer node that stops reading its socket: TCP pushes back, the sender stays bounded, nothing is lost', async () => {
    // A small WebSocket high-water mark on the sender (hard cap 4 x 256 KiB = 1 MiB) makes the
    // sender's WebSocket buffer the first thing to fill when the peer's socket stalls; 8 streams
    // together have far more flow-control credit (8 x 1 MiB) than that.
    const { a, b, sa, sb } = await pairOver(bag, mode, { ...WINDOWS, highWaterMark: 256 * 1024 }, WINDOWS)
    const N = 8
    const per = 3 * MiB
    const payloads = Array.from({ length: N }, () => randomBytes(per))
    const received: Array<ReturnType<typeof collect>> = []
    sb.on('stream', (s: STTStream) => received.push(collect(s)))
    await pingPong(sa, sb, 'before the stall')
    // Stall the receiving node: its socket stops being read (a frozen process, a full NIC).
    // Stalled before the writers start, so no stream can finish before the stall.
    const sock = onlySocket(b)
    sock.pause()
    const streams = payloads.map(() => sa.openStream())
    const writers = streams.map((st, i) => persistentWriter(st, payloads[i]!))
    await waitFor(() => writers.every((w) => w.refusals() > 0), 'write() returns false on every stream', 20_000)
    let maxBuffered = 0
    for (let i = 0; i < 40; i++) {
      await sleep(25)
      maxBuffered = Math.max(maxBuffered, buffered(a, sa))
    }
    // Bounded by the transport's hard cap (plus one batch of slack).
    expect(maxBuffered).toBeLessThan(1 * MiB + 128 * 1024)
    // The session waited for the transport instead of overrunning it: nothing was dropped
    // (in bare mode a drop would be a permanent hole in a stream).
    expect(a.getTransportStats().transports.websocket!.dropped['queue-full'] ?? 0).toBe(0)
    sock.resume()
    // The peer only learns of the streams now (their first frames were stuck behind the stall).
    await waitFor(() => received.length === N, 'all streams reach the peer', 30_000)
    await withTimeout(Promise.all([...received.map((r) => r.ended), ...writers.map((w) => w.done)]), 'resume and finish', 60_000)
    // Streams arrive in open order on the peer (ids ascend), so received[i] is streams[i].
    received.forEach((r, i) => {
      const all = Buffer.concat(r.chunks)
      expect(all.length).toBe(per)
      expect(sha256(all)).toBe(sha256(payloads[i]!))
    })
  }, 120_000)
})
