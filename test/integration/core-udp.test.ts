/**
 * Two STTNodes over loopback UDP (IPv4 and IPv6): datagrams both ways; forged, replayed and
 * truncated packets (captured by the fault proxy acting as a sniffing relay) and random garbage
 * injected from a separate raw socket are dropped and counted while the session keeps working;
 * keepAliveTimeout closes a session whose peer vanished; stop() leaves no open handles.
 */
import dgram from 'node:dgram'
import { afterEach, describe, expect, it } from 'vitest'
import { STTNode, generateSeed, type STTSession } from '../../src/index.js'
import { STTSessionError, WireError, type STTError } from '../../src/errors.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { expectNoLeaks, snapshotResources } from '../helpers/leak-check.js'
import { Rng } from '../helpers/rng.js'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {})
})

async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

function node(host: string, opts: Record<string, unknown> = {}): STTNode {
  const n = new STTNode({ host, port: 0, ...opts } as never)
  cleanup.push(() => n.stop())
  return n
}

async function pairVia(family: 4 | 6, opts: Record<string, unknown> = {}) {
  const host = family === 6 ? '::1' : '127.0.0.1'
  const seed = generateSeed()
  const a = node(host, { sharedSeed: seed, name: 'a', ...opts })
  const b = node(host, { sharedSeed: seed, name: 'b', ...opts })
  await a.start()
  const { port } = await b.start()
  // The proxy relays a -> b and records every datagram it forwards toward b.
  const captured: Buffer[] = []
  const proxy = await startFaultProxy({ family, target: { host, port }, toTarget: { drop: (d) => (captured.push(Buffer.from(d)), false) } })
  cleanup.push(() => proxy.close())
  const accepted = new Promise<STTSession>((r) => b.once('session', r))
  const sa = await a.connect(family === 6 ? `udp://[::1]:${proxy.port}` : `udp://127.0.0.1:${proxy.port}`)
  const sb = await accepted
  return { a, b, sa, sb, port, host, proxy, captured }
}

async function roundTrip(sa: STTSession, sb: STTSession, tag: string): Promise<void> {
  const gotB = new Promise<Buffer>((r) => sb.on('datagram', (d: Buffer) => d.toString() === `${tag}>` && r(d)))
  const gotA = new Promise<Buffer>((r) => sa.on('datagram', (d: Buffer) => d.toString() === `${tag}<` && r(d)))
  // Datagrams are unreliable: resend until both arrive.
  let done = false
  void Promise.all([gotA, gotB]).then(() => (done = true))
  for (let i = 0; i < 100 && !done; i++) {
    sa.sendDatagram(Buffer.from(`${tag}>`))
    sb.sendDatagram(Buffer.from(`${tag}<`))
    await new Promise((r) => setTimeout(r, 20))
  }
  await Promise.all([gotA, gotB])
}

async function rawSocket(family: 4 | 6): Promise<dgram.Socket> {
  const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4')
  s.on('error', () => {})
  await new Promise<void>((r) => s.bind(0, family === 6 ? '::1' : '127.0.0.1', r))
  cleanup.push(() => new Promise<void>((r) => s.close(() => r())))
  return s
}

const send = (s: dgram.Socket, data: Uint8Array, port: number, host: string) => new Promise<void>((r, j) => s.send(data, port, host, (e) => (e ? j(e) : r())))

for (const family of [4, 6] as const) {
  describe(`loopback UDP, IPv${family}`, () => {
    it('datagrams both ways through the relay', async () => {
      const { sa, sb } = await pairVia(family)
      await roundTrip(sa, sb, 'hi')
      expect(sa.peerName).toBe('b')
      expect(sb.peerName).toBe('a')
    })

    it('forged, replayed, truncated and garbage datagrams from a raw socket are dropped, counted, harmless', async () => {
      const { b, sa, sb, port, host, captured } = await pairVia(family)
      for (let i = 0; i < 4; i++) await roundTrip(sa, sb, `warm${i}`)
      // Real protected packets a -> b (header type DATA), as captured in flight by the relay.
      const real = captured.filter((d) => d.length > 19 + 16 && d[1] === 0x10)
      expect(real.length).toBeGreaterThanOrEqual(4)
      const n = Math.min(real.length, 6)
      const raw = await rawSocket(family)
      const rng = new Rng(`udp-inject-${family}`)
      const bad: Uint8Array[] = []
      for (const pkt of real.slice(0, n)) {
        bad.push(pkt) // replay
        const flipped = Buffer.from(pkt)
        flipped[19 + rng.int(pkt.length - 19)]! ^= 1 << rng.int(8)
        bad.push(flipped) // forged payload/tag
        const hdr = Buffer.from(pkt)
        hdr[11 + rng.int(8)]! ^= 0x01
        bad.push(hdr) // edited packet number (AAD)
        bad.push(pkt.subarray(0, 19 + rng.int(pkt.length - 19))) // truncated
      }
      for (let i = 0; i < 20; i++) bad.push(rng.bytes(rng.int(1300)))
      const before = b.getTransportStats().droppedTotal
      for (const d of bad) await send(raw, d, port, host)
      await until(() => b.getTransportStats().droppedTotal - before >= bad.length, 5000, `${bad.length} drops`)
      const stats = b.getTransportStats()
      expect(stats.droppedTotal - before).toBe(bad.length)
      expect(stats.dropped['replay'] ?? 0).toBeGreaterThanOrEqual(n)
      expect(stats.dropped['auth'] ?? 0).toBeGreaterThanOrEqual(n)
      // Nothing moved the session to the attacker's address, and it still works both ways.
      expect(sb.getStats().migrations).toBe(0)
      await roundTrip(sa, sb, 'after')
    })

    it('keepAliveTimeout closes a session whose peer vanished (no SESSION_CLOSE) with SESSION_TIMEOUT (resumable: false)', async () => {
      const { sa, sb, proxy } = await pairVia(family, { keepAliveInterval: 100, keepAliveTimeout: 600, resumable: false })
      await roundTrip(sa, sb, 'alive')
      // Idle for several keep-alive intervals: still up.
      await new Promise((r) => setTimeout(r, 900))
      expect(sa.getStats().packetsReceived).toBeGreaterThan(2)
      const closedA = new Promise<{ code: number; remote: boolean }>((r) => sa.once('close', r))
      const closedB = new Promise<{ code: number; remote: boolean }>((r) => sb.once('close', r))
      // As net.Socket on ETIMEDOUT: 'error' (a local timeout: no wire code), then 'close' with hadError.
      const errors: STTError[] = []
      sa.once('error', (e) => errors.push(e))
      sb.once('error', (e) => errors.push(e))
      ;(proxy as FaultProxy).set({ blockAll: true }, 'both') // the peer is gone: nothing gets through
      const t0 = Date.now()
      const [ia, ib] = await Promise.all([closedA, closedB])
      expect(ia).toMatchObject({ code: WireError.SESSION_TIMEOUT, remote: false, hadError: true })
      expect(ib).toMatchObject({ code: WireError.SESSION_TIMEOUT, remote: false, hadError: true })
      expect(errors).toHaveLength(2)
      for (const e of errors) {
        expect(e).toBeInstanceOf(STTSessionError)
        expect(e).toMatchObject({ code: 'STT_SESSION_TIMEOUT', wireCode: undefined })
      }
      expect(Date.now() - t0).toBeGreaterThanOrEqual(400)
      expect(Date.now() - t0).toBeLessThan(5000)
    })
  })
}

describe('node lifecycle', () => {
  it('stop() leaves no open handles (sockets, timers) after sessions in both families', async () => {
    const before = snapshotResources()
    for (const family of [4, 6] as const) {
      const host = family === 6 ? '::1' : '127.0.0.1'
      const seed = generateSeed()
      const a = new STTNode({ host, port: 0, sharedSeed: seed, keepAliveInterval: 100, keepAliveTimeout: 1000 } as never)
      const b = new STTNode({ host, port: 0, sharedSeed: seed, keepAliveInterval: 100, keepAliveTimeout: 1000 } as never)
      await a.start()
      const { port } = await b.start()
      const accepted = new Promise<STTSession>((r) => b.once('session', r))
      const sa = await a.connect(family === 6 ? `udp://[::1]:${port}` : `udp://127.0.0.1:${port}`)
      await roundTrip(sa, await accepted, `leak${family}`)
      await a.stop()
      await b.stop()
    }
    await expectNoLeaks(before)
  })
})

describe('UDP across address families', () => {
  it('a node bound to 127.0.0.1 connects to a node on ::1 through its one UDP transport', async () => {
    const seed = Buffer.alloc(32, 9)
    const server = node('::1', { sharedSeed: seed })
    const client = node('127.0.0.1', { sharedSeed: seed })
    const port = (await server.start()).port
    await client.start()
    const accepted = new Promise<STTSession>((r) => server.once('session', r))
    const sa = await client.connect(`udp://[::1]:${port}`, { timeout: 10_000 })
    const sb = await accepted
    await roundTrip(sa, sb, 'v4->v6')
    expect(sa.remoteAddress).toBe(`udp://[::1]:${port}`)
    // One transport per kind: no per-family dialers next to it.
    expect(Object.keys(client.getTransportStats().transports).sort()).toEqual(['udp', 'websocket'])
  })
})
