/**
 * The WebSocket connection under a session lives as long as the session: closing a session (either
 * side, or the loser of an auto:// race) closes its WebSocket, so a long-running node does not
 * pile up idle TCP connections until it hits maxConnections.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { generateSeed, type STTSession } from '../../src/index.js'
import dgram from 'node:dgram'
import { startFaultProxyOnSharedPort } from '../helpers/fault-proxy.js'
import { NodeBag, pingPong, sleep, waitFor, withTimeout } from './node-ws-helpers.js'

const bag = new NodeBag()
afterEach(() => bag.stopAll())

function conns(n: ReturnType<typeof bag.mk>): number {
  return n.getTransportStats().transports.websocket!.connections as number
}

describe('WebSocket connections follow their sessions', () => {
  it.each([
    ['the initiator', 'client'],
    ['the responder', 'server'],
  ] as const)('closing the session on %s closes the WebSocket on both sides; the reason still arrives', async (_l, who) => {
    const seed = generateSeed()
    const server = bag.mk({ sharedSeed: seed, transport: 'websocket' })
    const client = bag.mk({ sharedSeed: seed })
    const { port } = await server.start()
    await client.start()
    const accepted = new Promise<STTSession>((r) => server.once('session', r))
    const sa = await client.connect(`ws://127.0.0.1:${port}/stt`)
    const sb = await accepted
    await pingPong(sa, sb, 'before close')
    expect(conns(client)).toBe(1)
    expect(conns(server)).toBe(1)
    const [closer, other] = who === 'client' ? [sa, sb] : [sb, sa]
    const seen = new Promise<{ reason: string; remote: boolean }>((r) => other.once('close', r))
    const own = new Promise<{ code: number; reason: string; remote: boolean }>((r) => closer.once('close', r))
    await closer.close('finished here')
    expect(await withTimeout(seen, 'peer sees close')).toMatchObject({ remote: true, reason: 'finished here' })
    // The closer's own view stays a clean local close, even though the peer then hangs up the TCP connection.
    expect(await own).toMatchObject({ code: 0, remote: false, reason: 'finished here' })
    await waitFor(() => conns(client) === 0 && conns(server) === 0, 'WebSocket connections closed after the session', 10_000)
  })

  it('connect/close cycles beyond maxConnections keep working', async () => {
    const seed = generateSeed()
    const server = bag.mk({ sharedSeed: seed, transport: 'websocket', maxConnections: 2 })
    const client = bag.mk({ sharedSeed: seed })
    const { port } = await server.start()
    await client.start()
    for (let i = 0; i < 6; i++) {
      const accepted = new Promise<STTSession>((r) => server.once('session', r))
      const sa = await client.connect(`ws://127.0.0.1:${port}/stt`)
      await pingPong(sa, await accepted, `cycle ${i}`)
      await sa.close(`cycle ${i} done`)
      await waitFor(() => conns(server) === 0, 'server connection released', 10_000)
    }
    const rejected = server.getTransportStats().transports.websocket!.rejected as Record<string, number>
    expect(rejected['too-many-connections'] ?? 0).toBe(0)
  })

  it('the losing attempt of an auto:// race leaves no WebSocket connection open', async () => {
    const seed = generateSeed()
    const hub = bag.mk({ sharedSeed: seed, transport: ['udp', 'websocket'] })
    const client = bag.mk({ sharedSeed: seed })
    const { port } = await hub.start()
    await client.start()
    for (let i = 0; i < 3; i++) {
      const s = await client.connect(`auto://127.0.0.1:${port}`, { fallbackDelay: 0 })
      await waitFor(() => hub.getActiveSessions().length === 1, 'one session on the hub', 10_000)
      const want = s.transport === 'websocket' ? 1 : 0
      await waitFor(() => conns(hub) === want && conns(client) === want, `connections = ${want} (${s.transport} won)`, 10_000)
      await s.close('next round')
      await waitFor(() => conns(hub) === 0 && conns(client) === 0 && hub.getActiveSessions().length === 0, 'all closed', 10_000)
    }
  })

  it('a session that fell back to WebSocket (auto://) releases its connection when closed', async () => {
    const seed = generateSeed()
    const sock = dgram.createSocket('udp4')
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r))
    const udpPort = sock.address().port
    await new Promise<void>((r) => sock.close(() => r()))
    const fp = await startFaultProxyOnSharedPort({ target: { host: '127.0.0.1', port: udpPort }, blockAll: true })
    try {
      const hub = bag.mk({ sharedSeed: seed, transport: ['udp', 'websocket'], port: udpPort, websocketPort: fp.port })
      const client = bag.mk({ sharedSeed: seed })
      await hub.start()
      await client.start()
      const s = await client.connect(`auto://127.0.0.1:${fp.port}`, { fallbackDelay: 50 })
      expect(s.transport).toBe('websocket')
      expect(conns(hub)).toBe(1)
      await s.close('done')
      await waitFor(() => conns(hub) === 0 && conns(client) === 0, 'connections released', 10_000)
      await sleep(100)
      expect(hub.getActiveSessions()).toHaveLength(0)
    } finally {
      await fp.close()
    }
  })
})
