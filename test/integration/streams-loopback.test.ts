/**
 * Stream scenarios over REAL loopback UDP between two STTNodes, through the seeded fault proxy
 * (loss 10%, duplication 5%, reordering, corruption 1%). Which datagrams are hit is decided by
 * the seed; timing is real, so these tests assert on content and counts, never on speed.
 * Every test ends with node.stop() + proxy.close() and a handle leak check.
 */
import { withTestRandom } from '../../src/internal/test-hooks.js'
import { createHash } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { STTNode, type STTSession } from '../../src/index.js'
import type { STTStream } from '../../src/stream.js'
import { startFaultProxy, type DirectionFaults, type FaultProxy } from '../helpers/fault-proxy.js'
import { expectNoLeaks, snapshotResources, type ResourceCounts } from '../helpers/leak-check.js'
import { Rng, seededRandom } from '../helpers/rng.js'

const MiB = 1 << 20
const FAULTS: DirectionFaults = { loss: 0.1, duplicate: 0.05, reorder: { rate: 0.05, delayMs: 5 }, corrupt: 0.01 }

const nodes: STTNode[] = []
const proxies: FaultProxy[] = []
let before: ResourceCounts

beforeEach(() => {
  before = snapshotResources()
})
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
  await Promise.all(proxies.splice(0).map((p) => p.close()))
  // Nothing of ours may survive node.stop() / proxy.close(): sockets, timers, immediates.
  await expectNoLeaks(before)
})

async function setup(seed: number, faults: DirectionFaults, opts: Record<string, unknown> = {}) {
  const sharedSeed = new Rng(`loop:${seed}`).bytes(32)
  const server = new STTNode(withTestRandom({ sharedSeed, host: '127.0.0.1', port: 0, name: 'server', ...opts }, seededRandom(`s${seed}`)))
  const client = new STTNode(withTestRandom({ sharedSeed, host: '127.0.0.1', port: 0, name: 'client', ...opts }, seededRandom(`c${seed}`)))
  nodes.push(client, server)
  const { port } = await server.start()
  await client.start()
  const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port }, seed, ...faults })
  proxies.push(proxy)
  const accepted = new Promise<STTSession>((r) => server.once('session', r))
  const cs = await client.connect(`udp://127.0.0.1:${proxy.port}`)
  const ss = await accepted
  return { client, server, proxy, cs, ss }
}

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex')
}

/** Collects every stream the peer opens; resolves each with its bytes at 'end'. */
function collectStreams(s: STTSession): Map<number, Promise<Buffer>> {
  const out = new Map<number, Promise<Buffer>>()
  s.on('stream', (st: STTStream) => {
    out.set(
      st.id,
      new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = []
        st.on('data', (c: Buffer) => chunks.push(c))
        st.on('end', () => resolve(Buffer.concat(chunks)))
        st.on('error', reject)
      }),
    )
  })
  return out
}

function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) return resolve()
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`))
      setTimeout(tick, 10)
    }
    tick()
  })
}

describe('streams over loopback UDP through the fault proxy', () => {
  it('16 MiB on 4 streams arrives byte-exact through loss, duplication, reordering and corruption', async () => {
    const { proxy, cs, ss } = await setup(11, FAULTS)
    const incoming = collectStreams(ss)
    const rng = new Rng('payload')
    const sent = new Map<number, string>()
    for (let i = 0; i < 4; i++) {
      const data = rng.bytes(4 * MiB)
      const st = cs.openStream()
      sent.set(st.id, sha(data))
      st.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    }
    await until(() => incoming.size === 4, 60_000, 'four streams')
    for (const [id, digest] of sent) {
      const got = await incoming.get(id)!
      expect(got.length).toBe(4 * MiB)
      expect(sha(got)).toBe(digest)
    }
    const up = proxy.stats.toTarget
    const st = ss.getStats()
    expect(up.dropped.loss).toBeGreaterThan(100)
    expect(up.duplicated).toBeGreaterThan(50)
    expect(up.corrupted).toBeGreaterThan(10)
    // Corrupted packets were caught by the AEAD, not delivered.
    expect(st.dropped.auth ?? 0).toBeGreaterThan(0)
    expect(cs.getStats().lostPackets).toBeGreaterThan(100)
  }, 180_000)

  it('a 2 s blackout (blockAll) mid-transfer recovers and completes byte-exact', async () => {
    const { proxy, cs, ss } = await setup(12, FAULTS)
    const incoming = collectStreams(ss)
    const data = new Rng('blackout').bytes(4 * MiB)
    const st = cs.openStream()
    st.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    await until(() => (ss.getStats().flow.sessionReceived ?? 0) >= MiB, 60_000, '1 MiB before the blackout')
    proxy.set({ blockAll: true })
    await new Promise((r) => setTimeout(r, 2000))
    const blocked = proxy.stats.toTarget.dropped.blocked + proxy.stats.toClient.dropped.blocked
    proxy.set({ blockAll: false })
    const got = await incoming.get(st.id)!
    expect(sha(got)).toBe(sha(data))
    expect(blocked).toBeGreaterThan(0)
    expect(cs.closed).toBe(false)
    expect(ss.closed).toBe(false)
  }, 120_000)

  it('a reader that stops reading makes the remote write() return false and bounds buffered memory', async () => {
    const window = 256 * 1024
    const sendBuffer = 256 * 1024
    const { cs, ss } = await setup(13, FAULTS, { streamReceiveWindow: window, sessionReceiveWindow: 4 * window, streamSendBuffer: sendBuffer })
    let reader: STTStream | null = null
    ss.on('stream', (s: STTStream) => {
      reader = s
      s.pause() // the application does not read (yet)
    })
    const writer = cs.openStream()
    const rng = new Rng('slow')
    const hash = createHash('sha256')
    let accepted = 0
    let falses = 0
    let maxSendBuffered = 0
    const chunk = 16 * 1024
    // For 3 s the app keeps writing whenever the stream lets it ('drain').
    const stopAt = Date.now() + 3000
    await new Promise<void>((resolve) => {
      const writeMore = (): void => {
        while (Date.now() < stopAt) {
          const c = Buffer.from(rng.bytes(chunk))
          hash.update(c)
          accepted += c.length
          const ok = writer.write(c)
          maxSendBuffered = Math.max(maxSendBuffered, writer.getStats()?.sendBuffered ?? 0)
          if (!ok) {
            falses++
            writer.once('drain', writeMore)
            return
          }
        }
        resolve()
      }
      writeMore()
      setTimeout(resolve, 3100)
    })
    const rs = (reader as STTStream | null)?.getStats()
    // Everything accepted sits in: writer's Duplex buffer (64 KiB) + protocol send buffer +
    // receiver window + the paused reader's Duplex buffer (64 KiB), plus one chunk of slack.
    const bound = 64 * 1024 + sendBuffer + window + 64 * 1024 + 2 * chunk
    console.log(`[loopback] slow reader: accepted ${accepted} bytes (bound ${bound}), write()=false ${falses}x, max sendBuffered ${maxSendBuffered}, receiver buffered ${rs?.receiveBuffered}`)
    expect(falses).toBeGreaterThan(0)
    expect(accepted).toBeLessThanOrEqual(bound)
    // The protocol send buffer's mark counts unacknowledged bytes; bytes the peer acknowledged
    // above a lost packet stay held until the hole is repaired (they are also in the receiver's
    // window), so what it holds is bounded by the mark plus the peer's stream credit.
    expect(maxSendBuffered).toBeLessThanOrEqual(sendBuffer + window + chunk)
    expect(rs?.receiveBuffered ?? 0).toBeLessThanOrEqual(window)
    // Resume: everything accepted arrives, byte-exact.
    writer.removeAllListeners('drain')
    const got = new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = []
      reader!.on('data', (c: Buffer) => chunks.push(c))
      reader!.on('end', () => resolve(Buffer.concat(chunks)))
      reader!.on('error', reject)
    })
    reader!.resume()
    writer.end()
    const all = await got
    expect(all.length).toBe(accepted)
    expect(sha(all)).toBe(hash.digest('hex'))
  }, 120_000)

  it('datagrams under loss and corruption are lost but never corrupted', async () => {
    const { proxy, cs, ss } = await setup(14, FAULTS)
    const N = 2000
    const body = (i: number): Buffer => {
      const b = Buffer.from(new Rng(`dg${i}`).bytes(200 + (i % 800)))
      b.writeUInt32BE(i, 0)
      return b
    }
    const seen = new Set<number>()
    let bad = 0
    ss.on('datagram', (d: Buffer) => {
      const i = d.readUInt32BE(0)
      if (i >= N || !d.equals(body(i))) bad++
      else seen.add(i)
    })
    let queued = 0
    for (let i = 0; i < N; i++) {
      if (cs.sendDatagram(body(i))) queued++ // false: the local queue was full (dropped here)
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 5))
    }
    await new Promise((r) => setTimeout(r, 1000))
    console.log(`[loopback] datagrams: ${seen.size}/${queued} queued (${N} offered) delivered, ${proxy.stats.toTarget.dropped.loss} lost and ${proxy.stats.toTarget.corrupted} corrupted on the wire, ${ss.getStats().dropped.auth ?? 0} rejected by AEAD`)
    expect(bad).toBe(0)
    expect(queued).toBeGreaterThan(200) // how many the local queue takes depends on real timing
    expect(seen.size).toBeLessThan(queued) // some really were lost...
    expect(seen.size).toBeGreaterThan(queued * 0.75) // ...but most arrived
    expect(proxy.stats.toTarget.corrupted).toBeGreaterThan(0)
  }, 60_000)
})
