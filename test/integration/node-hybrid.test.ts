/**
 * Hybrid nodes (manual ch. 8 "Hybrid Approach": different transports for different peers) and
 * automatic fallback (auto://host:port: UDP first, WebSocket on the same port number after
 * fallbackDelay). Real sockets on 127.0.0.1, port 0; UDP is blocked with the fault proxy.
 */
import dgram from 'node:dgram'
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { generateSeed, type STTSession, type STTStream } from '../../src/index.js'
import { startFaultProxy, startFaultProxyOnSharedPort, type FaultProxy } from '../helpers/fault-proxy.js'
import { NodeBag, pingPong, readAll, sha256, sleep, waitFor, withTimeout, writeAll } from './node-ws-helpers.js'

const bag = new NodeBag()
const proxies: FaultProxy[] = []
afterEach(async () => {
  await bag.stopAll()
  await Promise.all(proxies.splice(0).map((p) => p.close()))
})

async function freeTcpPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
  const port = s.address().port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** Sends `n` bytes on a new stream of `from`; resolves once `to` read them all, byte-exact. */
async function streamAcross(from: STTSession, to: STTSession, n: number): Promise<void> {
  const data = randomBytes(n)
  const got = new Promise<Buffer>((resolve, reject) => to.once('stream', (s: STTStream) => readAll(s).then(resolve, reject)))
  await writeAll(from.openStream(), data)
  expect(sha256(await withTimeout(got, 'stream across'))).toBe(sha256(data))
}

describe('hybrid node: UDP and WebSocket at once', () => {
  it('listens on both; WebSocket takes the UDP port number by default', async () => {
    const h = bag.mk({ sharedSeed: generateSeed(), transport: ['udp', 'websocket'] })
    const bound = await h.start()
    expect(bound.port).toBeGreaterThan(0)
    expect(bound.websocketPort).toBe(bound.port)
    expect(bound.addresses.udp!.port).toBe(bound.port)
    expect(bound.addresses.websocket!.port).toBe(bound.port)
    const ts = h.getTransportStats().transports
    expect(ts.udp).toBeDefined()
    expect(ts.websocket).toMatchObject({ listening: true })
  })

  it('an explicit websocketPort is honoured (a fixed free port, and 0 = any)', async () => {
    const want = await freeTcpPort()
    const h = bag.mk({ sharedSeed: generateSeed(), transport: ['udp', 'websocket'], websocketPort: want })
    const bound = await h.start()
    expect(bound.websocketPort).toBe(want)
    expect(bound.addresses.udp!.port).toBe(bound.port)
    const h2 = bag.mk({ sharedSeed: generateSeed(), transport: ['websocket', 'udp'], websocketPort: 0 })
    const b2 = await h2.start()
    expect(b2.websocketPort).toBeGreaterThan(0)
    expect(b2.addresses.websocket!.port).toBe(b2.websocketPort)
    expect(b2.addresses.udp!.port).toBeGreaterThan(0)
  })

  it('holds a UDP session with one peer and a WebSocket session with another, data on both at once', async () => {
    const seed = generateSeed()
    const h = bag.mk({ sharedSeed: seed, name: 'hub', transport: ['udp', 'websocket'] })
    const pu = bag.mk({ sharedSeed: seed, name: 'udp-peer' })
    const pw = bag.mk({ sharedSeed: seed, name: 'ws-peer', transport: 'websocket' })
    const { port, websocketPort } = await h.start()
    await pu.start()
    await pw.start()
    const hubSessions: STTSession[] = []
    h.on('session', (s: STTSession) => hubSessions.push(s))
    const su = await pu.connect(`udp://127.0.0.1:${port}`)
    const sw = await pw.connect(`ws://127.0.0.1:${websocketPort}/stt`)
    await waitFor(() => hubSessions.length === 2, 'hub accepts both')
    const hu = hubSessions.find((s) => s.id === su.id)!
    const hw = hubSessions.find((s) => s.id === sw.id)!
    expect(hu.transport).toBe('udp')
    expect(hw.transport).toBe('websocket')
    expect(hu.peerName).toBe('udp-peer')
    expect(hw.peerName).toBe('ws-peer')
    // Both sessions busy at the same time, in both directions.
    await Promise.all([
      streamAcross(su, hu, 2 << 20),
      streamAcross(sw, hw, 2 << 20),
      streamAcross(hu, su, 1 << 20),
      streamAcross(hw, sw, 1 << 20),
      pingPong(su, hu, 'udp'),
      pingPong(sw, hw, 'ws'),
    ])
    // Messages from both peers arrive on the hub's single receive() queue.
    await su.send(Buffer.from('via udp'))
    await sw.send(Buffer.from('via ws'))
    const it = h.receive()
    const got = new Map<string, string>()
    for (let i = 0; i < 2; i++) {
      const m = (await withTimeout(it.next(), 'hub message')).value!
      got.set(m.sessionId, m.data.toString())
    }
    await it.return(undefined)
    expect(got.get(su.id)).toBe('via udp')
    expect(got.get(sw.id)).toBe('via ws')
    const ts = h.getTransportStats()
    expect(ts.sessions).toBe(2)
    expect(ts.transports.udp!.bytesReceived).toBeGreaterThan(2 << 20)
    expect(ts.transports.websocket!.bytesReceived).toBeGreaterThan(2 << 20)
    expect(ts.transports.websocket).toMatchObject({ connections: 1, inboundConnections: 1 })
    // Closing one leaves the other untouched.
    const closed = new Promise((r) => hw.once('close', r))
    await sw.close('ws peer leaves')
    await withTimeout(closed, 'hub sees ws close')
    await pingPong(su, hu, 'udp after ws left')
    expect(h.getActiveSessions().map((s) => s.transport)).toEqual(['udp'])
  })

  it('the hybrid node can dial out on both transports too', async () => {
    const seed = generateSeed()
    const h = bag.mk({ sharedSeed: seed, transport: ['udp', 'websocket'] })
    const u = bag.mk({ sharedSeed: seed, transport: 'udp' })
    const w = bag.mk({ sharedSeed: seed, transport: 'websocket' })
    await h.start()
    const { port: up } = await u.start()
    const { port: wp } = await w.start()
    const acceptedU = new Promise<STTSession>((r) => u.once('session', r))
    const acceptedW = new Promise<STTSession>((r) => w.once('session', r))
    const [s1, s2] = await Promise.all([h.connect(`udp://127.0.0.1:${up}`), h.connect(`ws://127.0.0.1:${wp}/stt`)])
    expect(s1.transport).toBe('udp')
    expect(s2.transport).toBe('websocket')
    await Promise.all([pingPong(s1, await acceptedU, 'u'), pingPong(s2, await acceptedW, 'w')])
  })
})

describe('automatic fallback (auto://)', () => {
  it('reaches a hybrid node over UDP when UDP works, and leaves no second session behind', async () => {
    const seed = generateSeed()
    const h = bag.mk({ sharedSeed: seed, transport: ['udp', 'websocket'] })
    const c = bag.mk({ sharedSeed: seed })
    const { port } = await h.start()
    await c.start()
    const s = await c.connect(`auto://127.0.0.1:${port}`)
    expect(s.transport).toBe('udp')
    expect(s.transportReason).toMatch(/UDP/)
    await pingPong(s, h.getActiveSessions()[0]!, 'auto-udp')
    // The WebSocket attempt (if it ever started) must not leave a session or a connection.
    await sleep(600)
    expect(h.getActiveSessions()).toHaveLength(1)
    expect(c.getActiveSessions()).toHaveLength(1)
    expect(h.getTransportStats().transports.websocket!.connections).toBe(0)
  })

  it('both attempts racing (fallbackDelay 0): exactly one session survives on each side', async () => {
    const seed = generateSeed()
    const h = bag.mk({ sharedSeed: seed, transport: ['udp', 'websocket'] })
    const c = bag.mk({ sharedSeed: seed })
    const { port } = await h.start()
    await c.start()
    const s = await c.connect(`auto://127.0.0.1:${port}`, { fallbackDelay: 0 })
    expect(['udp', 'websocket']).toContain(s.transport)
    expect(s.transportReason).toBeTruthy()
    await waitFor(() => h.getActiveSessions().length === 1 && c.getActiveSessions().length === 1, 'the loser closed', 10_000)
    await sleep(300)
    expect(h.getActiveSessions()).toHaveLength(1)
    expect(c.getActiveSessions()).toHaveLength(1)
    expect(h.getActiveSessions()[0]!.id).toBe(s.id)
    await pingPong(s, h.getActiveSessions()[0]!, 'winner')
  })

  it('falls back to WebSocket well before the handshake timeout when UDP is blackholed', async () => {
    // auto:// uses one host:port for both transports. The fault proxy holds UDP port P and
    // forwards to the hub's real UDP port; the hub's WebSocket listens on TCP port P.
    const seed = generateSeed()
    const handshakeTimeout = 10_000
    const udpPort = await freeUdpPort()
    const fp = await startFaultProxyOnSharedPort({ target: { host: '127.0.0.1', port: udpPort } })
    proxies.push(fp)
    const h = bag.mk({ sharedSeed: seed, name: 'hub', transport: ['udp', 'websocket'], port: udpPort, websocketPort: fp.port })
    const c = bag.mk({ sharedSeed: seed, handshakeTimeout })
    const bound = await h.start()
    expect(bound.websocketPort).toBe(fp.port)
    await c.start()

    // 1. Path open: auto goes over UDP, through the proxy.
    const s1 = await c.connect(`auto://127.0.0.1:${fp.port}`)
    expect(s1.transport).toBe('udp')
    expect(s1.transportReason).toMatch(/UDP/)
    expect(fp.stats.toTarget.forwarded).toBeGreaterThan(0)
    const hubSeesClose = new Promise((r) => h.getActiveSessions().find((x) => x.id === s1.id)!.once('close', r))
    await s1.close('done with UDP')
    // Let SESSION_CLOSE pass the proxy before the path goes dark.
    await withTimeout(hubSeesClose, 'hub sees the UDP session close')

    // 2. UDP blackholed: auto falls back to WebSocket on TCP port P.
    fp.set({ blockAll: true })
    const t0 = Date.now()
    const s2 = await c.connect(`auto://127.0.0.1:${fp.port}`)
    const took = Date.now() - t0
    expect(s2.transport).toBe('websocket')
    expect(took).toBeLessThan(handshakeTimeout)
    expect(s2.transportReason).toMatch(/UDP/)
    expect(s2.transportReason).toMatch(/300 ms/)
    expect(s2.transportReason).toMatch(/WebSocket/)
    expect(fp.stats.toTarget.dropped.blocked).toBeGreaterThan(0)
    // The WebSocket session really works (bare mode, TCP underneath).
    expect(s2.getStats().bare).toBe(true)
    const hs = h.getActiveSessions().find((x) => x.id === s2.id)!
    expect(hs.transport).toBe('websocket')
    await streamAcross(s2, hs, 1 << 20)
    // The cancelled UDP attempt must not come back later as a second session.
    fp.set({ blockAll: false })
    await sleep(1500)
    expect(c.getActiveSessions().map((x) => x.transport)).toEqual(['websocket'])
    expect(h.getActiveSessions().map((x) => x.transport)).toEqual(['websocket'])
  })

  it('fullReliability and a shorter fallbackDelay carry through auto://', async () => {
    const seed = generateSeed()
    const udpPort = await freeUdpPort()
    const fp = await startFaultProxyOnSharedPort({ target: { host: '127.0.0.1', port: udpPort }, blockAll: true })
    proxies.push(fp)
    const h = bag.mk({ sharedSeed: seed, transport: ['udp', 'websocket'], port: udpPort, websocketPort: fp.port })
    const c = bag.mk({ sharedSeed: seed })
    await h.start()
    await c.start()
    const s = await c.connect(`auto://127.0.0.1:${fp.port}`, { fallbackDelay: 50, fullReliability: true })
    expect(s.transport).toBe('websocket')
    expect(s.transportReason).toMatch(/50 ms/)
    expect(s.getStats().bare).toBe(false)
  })

  it('neither path works: a clear STT_HANDSHAKE_TIMEOUT naming both', async () => {
    const seed = generateSeed()
    const fp = await startFaultProxy({ target: { host: '127.0.0.1', port: 9 }, blockAll: true })
    proxies.push(fp)
    const c = bag.mk({ sharedSeed: seed })
    await c.start()
    // Nothing listens on TCP port P (the proxy only has UDP P): WebSocket is refused.
    const err = await c.connect(`auto://127.0.0.1:${fp.port}`, { timeout: 1500, fallbackDelay: 50 }).then(
      () => null,
      (e: Error & { code?: string }) => e,
    )
    expect(err).not.toBeNull()
    expect(err!.code).toBe('STT_HANDSHAKE_TIMEOUT')
    expect(err!.message).toMatch(/UDP|udp/)
    expect(err!.message).toMatch(/refused|WebSocket|ws:/)
  })
})
