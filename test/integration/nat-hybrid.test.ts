/**
 * Hybrid relaying (issue 11): a member that reaches the relay only over WebSocket (UDP to the
 * relay blocked) is still relayed, and auto:// to a relay falls back to WebSocket. Real sockets
 * on 127.0.0.1, port 0; UDP to the relay is blackholed with the fault proxy. The loopback cannot
 * block UDP between the members, so a punched direct path may take over: what is asserted is
 * that the session starts relayed and the bytes arrive intact.
 */
import dgram from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { STTNode, generateSeed, type STTSession, type STTStream } from '../../src/index.js'
import { startFaultProxyOnSharedPort, type FaultProxy } from '../helpers/fault-proxy.js'
import { readAll, writeAll, sha256 as sha } from './node-ws-helpers.js'

const nodes: STTNode[] = []
const proxies: FaultProxy[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
  await Promise.all(proxies.splice(0).map((p) => p.close()))
})

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
  const port = s.address().port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

function mk(opts: ConstructorParameters<typeof STTNode>[0]): STTNode {
  const n = new STTNode({ host: '127.0.0.1', port: 0, ...opts })
  nodes.push(n)
  return n
}

/** `n` random bytes from `from` to `to` on a new stream; byte-exact. */
async function streamAcross(from: STTSession, to: STTSession, n: number): Promise<void> {
  const data = randomBytes(n)
  const got = new Promise<Buffer>((r, j) => to.once('stream', (s: STTStream) => readAll(s).then(r, j)))
  await writeAll(from.openStream(), data)
  expect(sha(await got)).toBe(sha(data))
}

describe('hybrid relaying: a member on WebSocket, one on UDP', () => {
  it('a member registered over ws:// only is relayed to a UDP member, both directions, byte-exact', async () => {
    const seed = generateSeed()
    const relay = mk({ sharedSeed: seed, name: 'relay', relay: true, transport: ['udp', 'websocket'] })
    const r = await relay.start()
    expect(r.websocketPort).toBe(r.port)
    const wsUrl = `ws://127.0.0.1:${r.websocketPort}/stt`
    const udpUrl = `udp://127.0.0.1:${r.port}`
    const a = mk({ sharedSeed: seed, name: 'a-ws', transport: 'websocket' })
    const b = mk({ sharedSeed: seed, name: 'b-udp' })
    await a.start()
    await b.start()
    await a.register(wsUrl)
    await b.register(udpUrl)
    expect(relay.getNatStats()).toMatchObject({ role: 'relay', members: 2 })
    // B dials A by node id through the relay's UDP address; A is reached over its WebSocket.
    const accepted = new Promise<STTSession>((res) => a.once('session', res))
    const sb = await b.connect(`stt://${a.nodeId.toString('hex')}@127.0.0.1:${r.port}`)
    const sa = await accepted
    expect(sb.path).toBe('relayed')
    expect(sa.peerNodeId.equals(b.nodeId)).toBe(true)
    // A has no UDP listener and reaches the relay over TCP: the relay offers B no candidate of
    // A's (a TCP reflexive port is no UDP candidate), so B sends no punch at all.
    expect(sb.getStats().punch?.punchesSent ?? 0).toBe(0)
    await streamAcross(sb, sa, 3 << 20)
    await streamAcross(sa, sb, 1 << 20)
    const rs = relay.getNatStats() as { packetsForwarded: number; introductions: number }
    expect(rs.introductions).toBe(1)
    expect(rs.packetsForwarded).toBeGreaterThan(2)
  }, 60_000)

  it('the WebSocket member dials: stt://<id>@ws://relay works the other way round', async () => {
    const seed = generateSeed()
    const relay = mk({ sharedSeed: seed, name: 'relay', relay: true, transport: ['udp', 'websocket'] })
    const r = await relay.start()
    const wsUrl = `ws://127.0.0.1:${r.websocketPort}/stt`
    const a = mk({ sharedSeed: seed, name: 'a-ws', transport: 'websocket', rendezvous: wsUrl })
    const b = mk({ sharedSeed: seed, name: 'b-udp' })
    await a.start()
    await b.start()
    await b.register(`udp://127.0.0.1:${r.port}`)
    const accepted = new Promise<STTSession>((res) => b.once('session', res))
    const sa = await a.connect(`stt://${b.nodeId.toString('hex')}@${wsUrl}`)
    const sb = await accepted
    expect(sa.path).toBe('relayed')
    await streamAcross(sa, sb, 3 << 20)
  }, 60_000)

  it('auto:// to a relay whose UDP is blackholed registers over WebSocket and is relayed', async () => {
    // auto:// uses one host:port for both transports: the fault proxy holds UDP port P and
    // forwards to the relay's real UDP port; the relay's WebSocket listens on TCP port P.
    const seed = generateSeed()
    const udpPort = await freeUdpPort()
    const fp = await startFaultProxyOnSharedPort({ target: { host: '127.0.0.1', port: udpPort }, blockAll: true })
    proxies.push(fp)
    const relay = mk({ sharedSeed: seed, name: 'relay', relay: true, transport: ['udp', 'websocket'], port: udpPort, websocketPort: fp.port })
    await relay.start()
    const autoUrl = `auto://127.0.0.1:${fp.port}`
    const a = mk({ sharedSeed: seed, name: 'a-auto', rendezvous: autoUrl })
    const b = mk({ sharedSeed: seed, name: 'b-udp' })
    await a.start()
    await b.start()
    const reflexive = await a.register(autoUrl)
    expect(reflexive.host).toBe('127.0.0.1')
    expect(fp.stats.toTarget.dropped.blocked).toBeGreaterThan(0)
    expect((a.getNatStats() as { relays: { transport?: string }[] }).relays[0]).toMatchObject({ relay: autoUrl, transport: 'websocket' })
    await b.register(`udp://127.0.0.1:${udpPort}`)
    const accepted = new Promise<STTSession>((res) => a.once('session', res))
    const sb = await b.connect(`stt://${a.nodeId.toString('hex')}@127.0.0.1:${udpPort}`)
    const sa = await accepted
    expect(sb.path).toBe('relayed')
    await streamAcross(sb, sa, 3 << 20)
    // And A dials B through the same relay by its auto:// URL.
    const accepted2 = new Promise<STTSession>((res) => b.once('session', res))
    const sa2 = await a.connect(`stt://${b.nodeId.toString('hex')}@${autoUrl}`)
    const sb2 = await accepted2
    expect(sa2.path).toBe('relayed')
    await streamAcross(sa2, sb2, 1 << 20)
  }, 60_000)
})
