/**
 * WSS and HTTP CONNECT proxies at node level: a whole STT session (handshake, stream, datagram)
 * over wss:// with the test CA, and over ws:// / wss:// through a real proxy (the `proxy`
 * package), with the error codes a user switches on when something is wrong.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { generateSeed, STTError, type STTNode, type STTSession, type STTStream } from '../../src/index.js'
import { generateTestCerts, type TestCerts } from '../helpers/certs.js'
import { startProxyServer, type TestProxy } from '../helpers/proxy-server.js'
import { NodeBag, pingPong, readAll, rejection, sha256, withTimeout, writeAll } from './node-ws-helpers.js'

let certs: TestCerts
beforeAll(async () => {
  certs = await generateTestCerts()
})

const bag = new NodeBag()
const proxies: TestProxy[] = []
afterEach(async () => {
  await bag.stopAll()
  await Promise.all(proxies.splice(0).map((p) => p.close()))
})
afterAll(() => bag.stopAll())

async function proxy(opts: Parameters<typeof startProxyServer>[0] = {}): Promise<TestProxy> {
  const p = await startProxyServer(opts)
  proxies.push(p)
  return p
}

/** A server node on WebSocket (WSS with `tls`), and a client node whose options we choose. */
async function setup(serverTls: boolean, clientOpts: Record<string, unknown> = {}) {
  const seed = generateSeed()
  const server = bag.mk({ sharedSeed: seed, name: 'server', transport: 'websocket', ...(serverTls ? { tls: { cert: certs.cert, key: certs.key } } : {}) })
  const client = bag.mk({ sharedSeed: seed, name: 'client', ...clientOpts })
  const { port } = await server.start()
  await client.start()
  const scheme = serverTls ? 'wss' : 'ws'
  return { server, client, port, url: `${scheme}://127.0.0.1:${port}/stt`, localhostUrl: `${scheme}://localhost:${port}/stt` }
}

/** Proves a connected pair works end to end: datagrams both ways and a 1 MiB stream. */
async function exercise(server: STTNode, sa: STTSession): Promise<void> {
  const sb = server.getActiveSessions().find((s) => s.id === sa.id)
  expect(sb).toBeDefined()
  await pingPong(sa, sb!, 'tls/proxy')
  const data = randomBytes(1 << 20)
  const got = new Promise<Buffer>((resolve, reject) => sb!.once('stream', (s: STTStream) => readAll(s).then(resolve, reject)))
  await writeAll(sa.openStream(), data)
  expect(sha256(await withTimeout(got, '1 MiB over the tunnel'))).toBe(sha256(data))
}

async function connected(server: STTNode, p: Promise<STTSession>): Promise<STTSession> {
  const accepted = new Promise<STTSession>((r) => server.once('session', r))
  const sa = await p
  await withTimeout(accepted, 'server accepts')
  return sa
}

describe('WSS at node level', () => {
  it('CA given as a node option: session up, data flows, stats say tls', async () => {
    const { server, client, url } = await setup(true, { tls: { ca: certs.ca } })
    const sa = await connected(server, client.connect(url))
    expect(sa.transport).toBe('websocket')
    expect(sa.remoteAddress).toMatch(/^wss:\/\//)
    await exercise(server, sa)
    expect(server.getTransportStats().transports.websocket).toMatchObject({ tls: true, tlsConnections: 1, connections: 1 })
    expect(client.getTransportStats().transports.websocket).toMatchObject({ tls: true, tlsConnections: 1 })
  })

  it('CA given per connect (tls option of connect), also with the name localhost', async () => {
    const { server, client, url, localhostUrl } = await setup(true)
    const sa = await connected(server, client.connect(url, { tls: { ca: certs.ca } }))
    await exercise(server, sa)
    const sb = await connected(server, client.connectWebSocket(localhostUrl, { tls: { ca: certs.ca } }))
    expect(sb.id).not.toBe(sa.id)
  })

  it('the wrong CA is rejected with STT_TLS (node option and per connect)', async () => {
    const { server, client, url } = await setup(true, { tls: { ca: certs.otherCa } })
    const e1 = await rejection(client.connect(url))
    expect(e1).toBeInstanceOf(STTError)
    expect(e1.code).toBe('STT_TLS')
    expect(e1.message).toMatch(/not trusted/)
    const e2 = await rejection(client.connect(url, { tls: { ca: certs.otherCa } }))
    expect(e2.code).toBe('STT_TLS')
    // No session on either side, and the server counted the failed TLS handshakes.
    expect(client.getActiveSessions()).toHaveLength(0)
    expect(server.getActiveSessions()).toHaveLength(0)
    const rejected = server.getTransportStats().transports.websocket!.rejected as Record<string, number>
    expect(rejected['tls-handshake']).toBeGreaterThanOrEqual(1)
  })

  it('secure by default: no CA -> STT_TLS; only an explicit rejectUnauthorized:false connects', async () => {
    const { server, client, url } = await setup(true)
    const err = await rejection(client.connect(url))
    expect(err.code).toBe('STT_TLS')
    const sa = await connected(server, client.connect(url, { tls: { rejectUnauthorized: false } }))
    await pingPong(sa, server.getActiveSessions()[0]!, 'lax')
  })

  it('wss:// to a plain ws server fails with STT_TLS instead of hanging', async () => {
    const { client, port } = await setup(false)
    const err = await rejection(client.connect(`wss://127.0.0.1:${port}/stt`, { tls: { ca: certs.ca }, timeout: 5000 }))
    expect(err.code).toBe('STT_TLS')
  })
})

describe('through a real HTTP CONNECT proxy', () => {
  it('without auth: proxy as a node option', async () => {
    const p = await proxy()
    const { server, client, url } = await setup(false, { proxy: p.url })
    const sa = await connected(server, client.connect(url))
    await exercise(server, sa)
    expect(p.stats.tunnels).toBe(1)
    expect(p.stats.lastAuthorization).toBeUndefined()
  })

  it('with auth as node options (proxy + proxyAuth)', async () => {
    const auth = { username: 'alice', password: 's3cret' }
    const p = await proxy({ auth })
    const { server, client, url } = await setup(false, { proxy: p.url, proxyAuth: auth })
    const sa = await connected(server, client.connect(url))
    await exercise(server, sa)
    expect(p.stats.tunnels).toBe(1)
    expect(p.stats.lastAuthorization).toBe('Basic ' + Buffer.from('alice:s3cret').toString('base64'))
  })

  it('with auth per connect (proxy + proxyAuth in connect options)', async () => {
    const auth = { username: 'bob', password: 'pa:ss' }
    const p = await proxy({ auth })
    const { server, client, url } = await setup(false)
    const sa = await connected(server, client.connect(url, { proxy: p.url, proxyAuth: auth }))
    await exercise(server, sa)
    expect(p.stats.tunnels).toBe(1)
  })

  it('wrong or missing credentials -> STT_PROXY_AUTH, and the password never shows', async () => {
    const p = await proxy({ auth: { username: 'alice', password: 'right' } })
    const { client, url } = await setup(false, { proxy: p.url })
    const missing = await rejection(client.connect(url))
    expect(missing.code).toBe('STT_PROXY_AUTH')
    const wrong = await rejection(client.connect(url, { proxyAuth: { username: 'alice', password: 'hunter2-wrong' } }))
    expect(wrong.code).toBe('STT_PROXY_AUTH')
    expect(wrong.message).not.toContain('hunter2-wrong')
    expect(p.stats.tunnels).toBe(0)
    expect(client.getActiveSessions()).toHaveLength(0)
  })

  it('a proxy that refuses the tunnel -> STT_PROXY_REFUSED', async () => {
    const p = await proxy({ refuseTunnels: true })
    const { client, url } = await setup(false)
    const err = await rejection(client.connect(url, { proxy: p.url }))
    expect(err.code).toBe('STT_PROXY_REFUSED')
    expect(err.message).toContain('403')
    expect(p.stats.refused).toBe(1)
  })

  it('wss:// through the proxy (TLS end to end over the tunnel), with auth', async () => {
    const auth = { username: 'carol', password: 'pw' }
    const p = await proxy({ auth })
    const { server, client, url } = await setup(true, { proxy: p.url, proxyAuth: auth, tls: { ca: certs.ca } })
    const sa = await connected(server, client.connect(url))
    expect(sa.remoteAddress).toMatch(/^wss:/)
    await exercise(server, sa)
    expect(p.stats.tunnels).toBe(1)
    expect(server.getTransportStats().transports.websocket).toMatchObject({ tls: true, tlsConnections: 1 })
    // And the wrong CA over the tunnel is still a TLS error, not a proxy one.
    const err = await rejection(client.connect(url, { tls: { ca: certs.otherCa } }))
    expect(err.code).toBe('STT_TLS')
  })
})
