/**
 * A node's WebSocket port facing the outside world: the manual's curl diagnostic, raw `ws`
 * clients sending garbage / text / oversize messages / nothing, each turned away or dropped
 * with a counted reason while a real STT client keeps working, and no handles left after
 * node.stop().
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { generateSeed, type STTSession, type STTStream } from '../../src/index.js'
import { generateTestCerts, type TestCerts } from '../helpers/certs.js'
import { expectNoLeaks, snapshotResources } from '../helpers/leak-check.js'
import { NodeBag, pingPong, readAll, sha256, withTimeout, writeAll } from './node-ws-helpers.js'

const execFileP = promisify(execFile)
const bag = new NodeBag()
afterEach(() => bag.stopAll())

interface RawClient {
  ws: WebSocket
  closed: Promise<{ code: number; reason: string }>
}

/** A plain `ws` client (no STT), connected to `url`. */
async function rawClient(url: string, opts: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<RawClient> {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...opts })
  ws.on('error', () => {})
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return { ws, closed }
}

function wsRejected(n: ReturnType<typeof bag.mk>): Record<string, number> {
  return n.getTransportStats().transports.websocket!.rejected as Record<string, number>
}

describe("the manual's curl diagnostic against a node", () => {
  it('curl -i -N -H "Connection: Upgrade" -H "Upgrade: websocket" http://host:port/ gets an answer naming STT and /stt', async () => {
    const n = bag.mk({ sharedSeed: generateSeed(), transport: ['udp', 'websocket'] })
    const { websocketPort } = await n.start()
    const { stdout } = await execFileP(
      '/usr/bin/curl',
      ['-s', '-i', '-N', '-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', `http://127.0.0.1:${websocketPort}/`],
      { timeout: 15_000 },
    )
    const [head, body] = stdout.split('\r\n\r\n')
    const status = head!.split('\r\n')[0]!
    // Not a 101 (curl sends no key), not a bare 404: an explanation.
    expect(status).toMatch(/^HTTP\/1\.1 4\d\d /)
    expect(body).toContain('STT')
    expect(body).toContain('/stt')
    expect(body).toMatch(/reachable/i)
    expect(wsRejected(n)['bad-handshake']).toBe(1)
    // Plain curl (no upgrade headers) is told to upgrade, also naming STT.
    const plain = await execFileP('/usr/bin/curl', ['-s', '-i', `http://127.0.0.1:${websocketPort}/`], { timeout: 15_000 })
    expect(plain.stdout).toMatch(/^HTTP\/1\.1 426 /)
    expect(plain.stdout).toContain('STT')
    // A custom websocketPath is what the answer names.
    const m = bag.mk({ sharedSeed: generateSeed(), transport: 'websocket', websocketPath: '/tunnel' })
    const { port } = await m.start()
    const r2 = await execFileP('/usr/bin/curl', ['-s', '-i', '-N', '-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', `http://127.0.0.1:${port}/`], { timeout: 15_000 })
    expect(r2.stdout).toContain('/tunnel')
  })
})

describe('bad input on a node WebSocket port', () => {
  async function target(extra: Record<string, unknown> = {}) {
    const seed = generateSeed()
    const server = bag.mk({ sharedSeed: seed, name: 'server', transport: 'websocket', idleTimeout: 800, ...extra })
    const good = bag.mk({ sharedSeed: seed, name: 'good' })
    const { port } = await server.start()
    await good.start()
    return { server, good, url: `ws://127.0.0.1:${port}/stt` }
  }

  /** A real STT client connects and moves 1 MiB while the abuse goes on. */
  async function goodTransfer(server: ReturnType<typeof bag.mk>, good: ReturnType<typeof bag.mk>, url: string): Promise<STTSession> {
    const accepted = new Promise<STTSession>((r) => server.once('session', r))
    const sa = await good.connect(url)
    const sb = await withTimeout(accepted, 'good client accepted')
    const data = randomBytes(1 << 20)
    const got = new Promise<Buffer>((resolve, reject) => sb.once('stream', (s: STTStream) => readAll(s).then(resolve, reject)))
    await writeAll(sa.openStream(), data)
    expect(sha256(await withTimeout(got, 'good transfer'))).toBe(sha256(data))
    await pingPong(sa, sb, 'good')
    return sa
  }

  it('garbage binary messages are dropped and counted; the connection creates no session and is closed', async () => {
    const { server, good, url } = await target()
    const raw = await rawClient(url)
    const transfer = goodTransfer(server, good, url)
    for (let i = 0; i < 200; i++) raw.ws.send(randomBytes(1 + (i * 37) % 1400))
    // Also a few shaped like STT headers with a random session id.
    for (let i = 0; i < 20; i++) {
      const b = randomBytes(64)
      b[0] = 0x01
      raw.ws.send(b)
    }
    await transfer
    // After 64 dropped datagrams without a session the node closes the connection, so a client
    // that does not speak STT cannot hold a connection slot forever.
    await withTimeout(raw.closed, 'garbage connection closed by the server')
    const st = server.getTransportStats()
    // Every garbage message that arrived before the close is dropped with a reason
    // (unknown-session, truncated, bad-version, ...).
    const protoDrops = Object.entries(st.dropped)
      .filter(([k]) => !k.startsWith('websocket:') && !k.startsWith('udp:'))
      .reduce((n, [, v]) => n + v, 0)
    expect(protoDrops).toBeGreaterThanOrEqual(64)
    expect(st.sessions).toBe(1) // only the good one
    expect(server.getActiveSessions().map((s) => s.peerName)).toEqual(['good'])
    raw.ws.terminate()
  })

  it('a text frame closes that connection with 1003 and is counted', async () => {
    const { server, good, url } = await target()
    const raw = await rawClient(url)
    raw.ws.send('GET / HTTP/1.1 -- not STT')
    expect((await withTimeout(raw.closed, 'text close')).code).toBe(1003)
    expect(wsRejected(server)['text-frame']).toBe(1)
    expect(server.getTransportStats().dropped['websocket:text-frame']).toBe(1)
    await goodTransfer(server, good, url)
  })

  it('an oversized message (beyond maxPayload) closes with 1009 and is counted', async () => {
    const { server, good, url } = await target({ maxPayload: 64 * 1024 })
    const raw = await rawClient(url)
    raw.ws.send(Buffer.alloc(64 * 1024 + 1, 7))
    expect((await withTimeout(raw.closed, 'oversize close')).code).toBe(1009)
    expect(wsRejected(server)['oversize']).toBe(1)
    expect(server.getTransportStats().dropped['websocket:oversize']).toBe(1)
    // The good client still works with the smaller maxPayload (STT packets are far smaller).
    await goodTransfer(server, good, url)
  })

  it('a default-sized node also closes a 2 MiB message (default maxPayload 1 MiB)', async () => {
    const { server, url } = await target()
    const raw = await rawClient(url)
    raw.ws.send(Buffer.alloc(2 << 20))
    expect((await withTimeout(raw.closed, 'oversize close')).code).toBe(1009)
    expect(wsRejected(server)['oversize']).toBe(1)
  })

  it('a connection that sends nothing is closed after idleTimeout (1008) and counted; a good one is not', async () => {
    const { server, good, url } = await target()
    const raw = await rawClient(url)
    const sa = await goodTransfer(server, good, url)
    const { code } = await withTimeout(raw.closed, 'idle close', 10_000)
    expect(code).toBe(1008)
    expect(wsRejected(server)['idle-timeout']).toBe(1)
    // The good session outlived the idle timeout.
    await new Promise((r) => setTimeout(r, 1000))
    expect(sa.closed).toBe(false)
    await pingPong(sa, server.getActiveSessions()[0]!, 'after idle')
  })

  it('wrong path, bad handshake and plain HTTP are answered and counted, never upgraded', async () => {
    const { server, good, url } = await target()
    const wrong = new WebSocket(url.replace('/stt', '/nope'))
    const status = await new Promise<number>((resolve) => {
      wrong.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      wrong.on('error', () => {})
    })
    expect(status).toBe(404)
    wrong.terminate()
    expect(wsRejected(server)['wrong-path']).toBe(1)
    expect(server.getTransportStats().transports.websocket!.connections).toBe(0)
    await goodTransfer(server, good, url)
  })

  it('all of it at once, while a real client transfers', async () => {
    const { server, good, url } = await target({ maxPayload: 128 * 1024 })
    const raws = await Promise.all([rawClient(url), rawClient(url), rawClient(url), rawClient(url)])
    const transfer = goodTransfer(server, good, url)
    raws[0]!.ws.send('text')
    raws[1]!.ws.send(Buffer.alloc(200 * 1024))
    for (let i = 0; i < 100; i++) raws[2]!.ws.send(randomBytes(100))
    // raws[3] sends nothing.
    await transfer
    expect((await withTimeout(raws[0]!.closed, 'text')).code).toBe(1003)
    expect((await withTimeout(raws[1]!.closed, 'oversize')).code).toBe(1009)
    expect((await withTimeout(raws[3]!.closed, 'idle', 10_000)).code).toBe(1008)
    const rej = wsRejected(server)
    expect(rej).toMatchObject({ 'text-frame': 1, oversize: 1, 'idle-timeout': 1 })
    expect(server.getTransportStats().droppedTotal).toBeGreaterThanOrEqual(102)
    expect(server.getActiveSessions()).toHaveLength(1)
    raws[2]!.ws.terminate()
  })
})

describe('node.stop() after WebSocket sessions', () => {
  let certs: TestCerts
  beforeAll(async () => {
    certs = await generateTestCerts()
  })

  it('leaves no open handles (ws, wss, hybrid, with streams and raw clients still open)', async () => {
    const before = snapshotResources()
    const seed = generateSeed()
    const hub = bag.mk({ sharedSeed: seed, transport: ['udp', 'websocket'] })
    const secure = bag.mk({ sharedSeed: seed, transport: 'websocket', tls: { cert: certs.cert, key: certs.key } })
    const c1 = bag.mk({ sharedSeed: seed, tls: { ca: certs.ca } })
    const c2 = bag.mk({ sharedSeed: seed, transport: 'websocket' })
    const { port, websocketPort } = await hub.start()
    const { port: sp } = await secure.start()
    await c1.start()
    await c2.start()
    const s1 = await c1.connect(`ws://127.0.0.1:${websocketPort}/stt`)
    const s2 = await c1.connect(`wss://127.0.0.1:${sp}/stt`)
    const s3 = await c2.connect(`udp://127.0.0.1:${port}`)
    const s4 = await c2.connect(`auto://127.0.0.1:${port}`, { fallbackDelay: 0 })
    for (const s of [s1, s2, s3, s4]) {
      // A stream left half-written, and a datagram, on every session.
      const st = s.openStream()
      st.on('error', () => {})
      st.write(randomBytes(300 * 1024))
      s.sendDatagram(Buffer.from('x'))
    }
    const raw = await rawClient(`ws://127.0.0.1:${websocketPort}/stt`)
    raw.ws.send(randomBytes(50))
    await new Promise((r) => setTimeout(r, 200))
    await bag.stopAll()
    await withTimeout(raw.closed, 'raw client closed by stop')
    await expectNoLeaks(before, { timeoutMs: 8000 })
  })
})
