/**
 * The event path of issue 13 §2 at node level, over UDP, bare WebSocket and WebSocket with
 * fullReliability: application calls made from event handlers (a write from a 'data'
 * listener) are handled in order without recursion, a stream's 'end' follows its data, and
 * session.close() waits for the core's 'all-acked' (not a poll) before SESSION_CLOSE.
 * Real sockets on 127.0.0.1, port 0.
 */
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { NodeBag, pairOver, readAll, sha256, waitFor, withTimeout, MODES } from './node-ws-helpers.js'
import type { STTStream } from '../../src/index.js'
import { backend } from '../../src/native/load.js'

const bag = new NodeBag()
afterEach(() => bag.stopAll())

describe.each(MODES)('event path over %s', (_label, mode) => {
  it('2,000 ping-pongs driven from the data handlers: every reply in order, then end on both sides', async () => {
    const { sa, sb } = await pairOver(bag, mode)
    // The echo writes back from its 'data' listener: an app call inside the driver's drain.
    sb.on('stream', (s: STTStream) => {
      s.on('data', (d: Buffer) => s.write(d))
      s.on('end', () => s.end())
    })
    const st = sa.openStream({ noDelay: true })
    const N = 2000
    const done = new Promise<number[]>((resolve, reject) => {
      const seen: number[] = []
      let pending = Buffer.alloc(0)
      st.on('data', (d: Buffer) => {
        pending = Buffer.concat([pending, d])
        while (pending.length >= 4) {
          seen.push(pending.readUInt32BE(0))
          pending = pending.subarray(4)
          // The next ping from inside this handler (re-entrant write).
          if (seen.length < N) st.write(u32(seen.length))
          else st.end()
        }
      })
      st.once('end', () => resolve(seen))
      st.once('error', reject)
    })
    st.write(u32(0))
    const seen = await withTimeout(done, 'ping-pong', 40_000)
    expect(seen).toEqual(Array.from({ length: N }, (_, i) => i))
  }, 60_000)

  it("close() after a large write waits for 'all-acked': the peer has every byte before the session closes", async () => {
    const { sa, sb } = await pairOver(bag, mode)
    const data = randomBytes(4 << 20)
    const received = new Promise<Buffer>((resolve, reject) => sb.once('stream', (s: STTStream) => readAll(s).then(resolve, reject)))
    const closedB = new Promise<{ code: number; remote: boolean }>((r) => sb.once('close', r))
    const st = sa.openStream()
    st.end(data)
    // drainTimeout far above the test's timeout: only 'all-acked' (or an error) can end the wait.
    await withTimeout(sa.close('done', { drainTimeout: 600_000 }), 'close', 40_000)
    const got = await withTimeout(received, 'stream', 10_000)
    expect(sha256(got)).toBe(sha256(data))
    const info = await withTimeout(closedB, 'peer close', 10_000)
    expect(info).toMatchObject({ code: 0, remote: true })
  }, 60_000)

  // STTStream never lets Readable queue its read-ahead tick (stream.ts): readers that do not
  // use 'data' must still get every byte, each one pulling through _read() itself.
  it("readers in paused mode get every byte: 'readable' + read(), pause()/resume(), async iteration", async () => {
    const { sa, sb } = await pairOver(bag, mode)
    const data = randomBytes(1 << 20)
    const readers: Array<(s: STTStream) => Promise<Buffer>> = [
      (s) =>
        new Promise((resolve, reject) => {
          const chunks: Buffer[] = []
          s.on('readable', () => {
            for (let c = s.read() as Buffer | null; c !== null; c = s.read() as Buffer | null) chunks.push(c)
          })
          s.once('end', () => resolve(Buffer.concat(chunks)))
          s.once('error', reject)
        }),
      (s) =>
        new Promise((resolve, reject) => {
          const chunks: Buffer[] = []
          s.on('data', (c: Buffer) => {
            chunks.push(c)
            s.pause()
            setTimeout(() => s.resume(), 1)
          })
          s.once('end', () => resolve(Buffer.concat(chunks)))
          s.once('error', reject)
        }),
      async (s) => {
        const chunks: Buffer[] = []
        for await (const c of s) chunks.push(c as Buffer)
        return Buffer.concat(chunks)
      },
    ]
    const results: Array<Promise<Buffer>> = []
    sb.on('stream', (s: STTStream) => {
      // Nothing to send back: with both directions finished, the iterator's destroy aborts nothing.
      s.end()
      results.push(readers[results.length]!(s))
    })
    for (let i = 0; i < readers.length; i++) sa.openStream().end(data)
    await withTimeout(waitFor(() => results.length === readers.length, 'streams'), 'streams', 20_000)
    for (const got of await withTimeout(Promise.all(results), 'paused readers', 40_000)) expect(sha256(got)).toBe(sha256(data))
  }, 60_000)
})

// The native UDP path queues no tick of its own, so what is counted is the stream's (node:dgram
// queues its own per send: STT_NATIVE=0 has nothing to show here).
describe.skipIf(backend !== 'native')('event path over native udp: no per-chunk tick', () => {
  it('a 64-byte ping-pong from the data handlers queues no process.nextTick per round trip', async () => {
    const { sa, sb } = await pairOver(bag, 'udp')
    sb.on('stream', (s: STTStream) => s.on('data', (d: Buffer) => s.write(d)))
    const st = sa.openStream({ noDelay: true })
    const N = 400
    let ticks = 0
    let rounds = 0
    const nextTick = process.nextTick
    const done = new Promise<void>((resolve) => {
      st.on('data', () => {
        if (++rounds === N) return resolve()
        st.write(Buffer.alloc(64, rounds & 0xff))
      })
    })
    // Counted only around the round trips, after the stream is open (setup may tick).
    process.nextTick = ((...args: Parameters<typeof nextTick>) => {
      ticks++
      return nextTick(...args)
    }) as typeof nextTick
    try {
      st.write(Buffer.alloc(64))
      await withTimeout(done, 'ping-pong', 30_000)
    } finally {
      process.nextTick = nextTick
    }
    // Was 2 per round trip (Readable's read-ahead after each push, both sides).
    expect(ticks).toBeLessThan(N / 4)
  }, 60_000)
})

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
