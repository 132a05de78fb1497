/**
 * WSS with certificates generated at test time (openssl CLI), and HTTP CONNECT proxies (the
 * `proxy` package, a real proxy server), alone and together (wss:// through a tunnel).
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { STTError } from '../../src/errors.js'
import type { WebSocketTransport } from '../../src/transport/websocket.js'
import { generateTestCerts, type TestCerts } from '../helpers/certs.js'
import { startProxyServer, type TestProxy } from '../helpers/proxy-server.js'
import { batchOf, datagram, rejection, silentServer, startClient, startServer, waitFor } from './websocket-harness.js'

let certs: TestCerts
let certDir: string
beforeAll(async () => {
  certs = await generateTestCerts()
  certDir = await mkdtemp(join(tmpdir(), 'stt-ws-tls-'))
})
afterAll(async () => {
  await rm(certDir, { recursive: true, force: true })
})

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!()
})
function track<T extends { close(): Promise<void> }>(t: T): T {
  cleanup.push(() => t.close())
  return t
}

async function tlsServer(extra = {}) {
  const s = await startServer({ tls: { cert: certs.cert, key: certs.key }, ...extra })
  track(s.transport)
  return s
}

async function proxyServer(opts: Parameters<typeof startProxyServer>[0] = {}): Promise<TestProxy> {
  const p = await startProxyServer(opts)
  cleanup.push(() => p.close())
  return p
}

/** One round trip over `addr`, proving the connection really carries datagrams both ways. */
async function roundTrip(
  client: { transport: WebSocketTransport; events: ReturnType<typeof startClient>['events'] },
  server: Awaited<ReturnType<typeof startServer>>,
  addr: import('../../src/transport/types.js').PeerAddress,
): Promise<void> {
  const n = server.events.received.length
  const m = client.events.received.length
  client.transport.send(batchOf(addr, [datagram(1, 1200), datagram(2, 40)]))
  await waitFor(() => server.events.received.length === n + 2, 'server receives')
  expect(server.events.received[n]!.data.equals(datagram(1, 1200))).toBe(true)
  const from = server.events.received[n]!.from
  server.transport.send(batchOf(from, [datagram(3, 500)]))
  await waitFor(() => client.events.received.length === m + 1, 'client receives')
  expect(client.events.received[m]!.data.equals(datagram(3, 500))).toBe(true)
}

describe('WSS', () => {
  it('connects with the generated CA, carries datagrams, reports tls in stats', async () => {
    const server = await tlsServer()
    expect(server.url.startsWith('wss://')).toBe(true)
    const client = startClient({ tls: { ca: certs.ca } })
    track(client.transport)
    const addr = await client.transport.dial(server.url)
    expect(String(addr)).toBe(server.url)
    await roundTrip(client, server, addr)
    expect(server.transport.getStats()).toMatchObject({ tls: true, connections: 1, tlsConnections: 1 })
    expect(String(server.events.received[0]!.from)).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/)
    expect(client.transport.getStats()).toMatchObject({ tls: true, tlsConnections: 1 })
  })

  it('loads cert/key/ca from file paths too, and verifies the name "localhost"', async () => {
    const certFile = join(certDir, 'server.crt')
    const keyFile = join(certDir, 'server.key')
    const caFile = join(certDir, 'ca.crt')
    await Promise.all([writeFile(certFile, certs.cert), writeFile(keyFile, certs.key), writeFile(caFile, certs.ca)])
    const server = await startServer({ tls: { cert: certFile, key: keyFile } })
    track(server.transport)
    const client = startClient({ tls: { ca: caFile } })
    track(client.transport)
    const addr = await client.transport.dial(`wss://localhost:${server.bound.port}/stt`)
    await roundTrip(client, server, addr)
  })

  it('a server certificate from an unknown CA is rejected with STT_TLS (and the server counts it)', async () => {
    const server = await tlsServer()
    const client = startClient({ tls: { ca: certs.otherCa } })
    track(client.transport)
    const err = await rejection(client.transport.dial(server.url))
    expect(err).toBeInstanceOf(STTError)
    expect(err.code).toBe('STT_TLS')
    expect(err.message).toContain('not trusted')
    await waitFor(() => (server.transport.getStats().rejected as Record<string, number>)['tls-handshake'] === 1, 'server count')
    expect(server.transport.getStats().connections).toBe(0)
  })

  it('verifies by default (rejectUnauthorized true); false must be asked for explicitly', async () => {
    const server = await tlsServer()
    const strict = startClient() // no CA: Node's bundle does not know our test CA
    track(strict.transport)
    expect((await rejection(strict.transport.dial(server.url))).code).toBe('STT_TLS')
    const lax = startClient({ tls: { rejectUnauthorized: false } })
    track(lax.transport)
    const addr = await lax.transport.dial(server.url)
    await roundTrip(lax, server, addr)
  })

  it('a certificate for another name is STT_TLS even from a trusted CA', async () => {
    const server = await tlsServer()
    const client = startClient({ tls: { ca: certs.ca, servername: 'stt.example.com' } })
    track(client.transport)
    const err = await rejection(client.transport.dial(server.url))
    expect(err.code).toBe('STT_TLS')
    expect(err.message).toContain('host name')
  })

  it('per-dial tls options override the transport ones', async () => {
    const server = await tlsServer()
    const client = startClient({ tls: { ca: certs.otherCa } })
    track(client.transport)
    const addr = await client.transport.dial(server.url, { tls: { ca: certs.ca } })
    await roundTrip(client, server, addr)
  })

  it('scheme mix-ups fail clearly: wss:// to a plain server is STT_TLS, ws:// to a TLS server a handshake error', async () => {
    const plain = await startServer()
    track(plain.transport)
    const c = startClient({ tls: { ca: certs.ca } })
    track(c.transport)
    const e1 = await rejection(c.transport.dial(`wss://127.0.0.1:${plain.bound.port}/stt`))
    expect(e1.code).toBe('STT_TLS')
    const secure = await tlsServer()
    const e2 = await rejection(c.transport.dial(`ws://127.0.0.1:${secure.bound.port}/stt`))
    expect(e2.code).toBe('STT_WEBSOCKET_HANDSHAKE')
  })

  it('a bad certificate/key pair fails listen() with STT_TLS; half a pair is STT_CONFIG', async () => {
    const listenWith = async (tls: Record<string, string>) => {
      const t = startClient({ host: '127.0.0.1', tls }).transport
      track(t)
      return rejection(t.listen())
    }
    // The CA's certificate with the server's key: a pair that does not belong together.
    const mismatch = await listenWith({ cert: certs.ca, key: certs.key })
    expect(mismatch.code).toBe('STT_TLS')
    expect(mismatch.message).toContain('invalid TLS certificate or key')
    const garbage = await listenWith({ cert: certs.cert, key: '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n' })
    expect(garbage.code).toBe('STT_TLS')
    expect((await listenWith({ cert: certs.cert })).code).toBe('STT_CONFIG')
    const missing = await listenWith({ cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' })
    expect(missing.code).toBe('STT_CONFIG')
    expect(missing.message).toContain('/nonexistent/cert.pem')
  })
})

describe('HTTP CONNECT proxy', () => {
  it('tunnels ws:// through a proxy without auth', async () => {
    const server = await startServer()
    track(server.transport)
    const proxy = await proxyServer()
    const client = startClient({ proxy: proxy.url })
    track(client.transport)
    const addr = await client.transport.dial(server.url)
    expect(proxy.stats.tunnels).toBe(1)
    expect(proxy.stats.lastAuthorization).toBeUndefined()
    await roundTrip(client, server, addr)
  })

  it('sends Basic credentials from proxyAuth (transport option and per dial)', async () => {
    const server = await startServer()
    track(server.transport)
    const proxy = await proxyServer({ auth: { username: 'alice', password: 's3cr3t:pw' } })
    const client = startClient({ proxy: proxy.url, proxyAuth: { username: 'alice', password: 's3cr3t:pw' } })
    track(client.transport)
    const addr = await client.transport.dial(server.url)
    expect(proxy.stats.lastAuthorization).toBe('Basic ' + Buffer.from('alice:s3cr3t:pw').toString('base64'))
    await roundTrip(client, server, addr)

    const perDial = startClient()
    track(perDial.transport)
    await perDial.transport.dial(server.url, { proxy: proxy.url, proxyAuth: { username: 'alice', password: 's3cr3t:pw' } })
    // Credentials in the proxy URL work as well.
    await perDial.transport.dial(server.url, { proxy: `http://alice:s3cr3t%3Apw@127.0.0.1:${proxy.port}` })
    expect(proxy.stats.tunnels).toBe(3)
  })

  it('wrong or missing credentials -> STT_PROXY_AUTH with the status, never the password', async () => {
    const server = await startServer()
    track(server.transport)
    const proxy = await proxyServer({ auth: { username: 'alice', password: 'right-password' } })
    const client = startClient({ proxy: proxy.url })
    track(client.transport)
    const none = await rejection(client.transport.dial(server.url))
    expect(none.code).toBe('STT_PROXY_AUTH')
    expect(none.message).toContain('407')
    const wrong = await rejection(
      client.transport.dial(server.url, { proxyAuth: { username: 'alice', password: 'wrong-password' } }),
    )
    expect(wrong.code).toBe('STT_PROXY_AUTH')
    expect(wrong.message).toContain('407')
    expect(wrong.message).not.toContain('wrong-password')
    const inUrl = await rejection(
      client.transport.dial(server.url, { proxy: `http://alice:url-password@127.0.0.1:${proxy.port}` }),
    )
    expect(inUrl.code).toBe('STT_PROXY_AUTH')
    expect(inUrl.message).not.toContain('url-password')
    expect(proxy.stats.authFailures).toBe(3)
    expect(proxy.stats.tunnels).toBe(0)
    expect(server.transport.getStats().connections).toBe(0)
  })

  it('a proxy that refuses the tunnel -> STT_PROXY_REFUSED with its status', async () => {
    const server = await startServer()
    track(server.transport)
    const proxy = await proxyServer({ refuseTunnels: true })
    const client = startClient({ proxy: proxy.url })
    track(client.transport)
    const err = await rejection(client.transport.dial(server.url))
    expect(err.code).toBe('STT_PROXY_REFUSED')
    expect(err.message).toContain('403')
    expect(proxy.stats.refused).toBe(1)
  })

  it('a tunnel to a dead target (proxy answers 500) and an unreachable proxy -> STT_PROXY_REFUSED', async () => {
    const proxy = await proxyServer()
    const client = startClient({ proxy: proxy.url })
    track(client.transport)
    const dead = await silentServer()
    const deadPort = dead.port
    await dead.close()
    const e1 = await rejection(client.transport.dial(`ws://127.0.0.1:${deadPort}/stt`))
    expect(e1.code).toBe('STT_PROXY_REFUSED')
    expect(e1.message).toContain('500')
    const e2 = await rejection(client.transport.dial(`ws://127.0.0.1:1/stt`, { proxy: `http://127.0.0.1:${deadPort}` }))
    expect(e2.code).toBe('STT_PROXY_REFUSED')
    expect(e2.message).toContain('ECONNREFUSED')
  })

  it('proxy: null in a dial goes direct despite the transport option', async () => {
    const server = await startServer()
    track(server.transport)
    const proxy = await proxyServer({ refuseTunnels: true })
    const client = startClient({ proxy: proxy.url })
    track(client.transport)
    const addr = await client.transport.dial(server.url, { proxy: null })
    await roundTrip(client, server, addr)
    expect(proxy.stats.connectRequests).toBe(0)
  })

  it('a proxy that never answers is bounded by connectTimeout', async () => {
    const blackhole = await silentServer()
    cleanup.push(blackhole.close)
    const client = startClient({ proxy: `http://127.0.0.1:${blackhole.port}`, connectTimeout: 300 })
    track(client.transport)
    const err = await rejection(client.transport.dial('ws://127.0.0.1:9/stt'))
    expect(err.code).toBe('STT_TIMEOUT')
    await waitFor(() => blackhole.closed() === 1, 'tunnel attempt torn down')
  })
})

describe('WSS through an HTTP CONNECT proxy', () => {
  it('runs TLS end to end over the tunnel (the proxy sees only ciphertext)', async () => {
    const server = await tlsServer()
    const proxy = await proxyServer({ auth: { username: 'u', password: 'p' } })
    const client = startClient({ proxy: proxy.url, proxyAuth: { username: 'u', password: 'p' }, tls: { ca: certs.ca } })
    track(client.transport)
    const addr = await client.transport.dial(server.url)
    expect(proxy.stats.tunnels).toBe(1)
    await roundTrip(client, server, addr)
    expect(client.transport.getStats().tls).toBe(true)
    // The name check happens against the target, not the proxy: localhost works too.
    await client.transport.dial(`wss://localhost:${server.bound.port}/stt`)
  })

  it('the wrong CA over a tunnel is still STT_TLS', async () => {
    const server = await tlsServer()
    const proxy = await proxyServer()
    const client = startClient({ proxy: proxy.url, tls: { ca: certs.otherCa } })
    track(client.transport)
    const err = await rejection(client.transport.dial(server.url))
    expect(err.code).toBe('STT_TLS')
    expect(proxy.stats.tunnels).toBe(1)
  })
})
