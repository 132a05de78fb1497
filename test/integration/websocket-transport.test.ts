/**
 * WebSocketTransport over real loopback sockets: exchange, identity, stats, dial errors, the
 * HTTP answers users see (curl, browsers), bad input, limits, backpressure and shutdown.
 * TLS and proxies are in websocket-tls-proxy.test.ts.
 */

import { execFile } from 'node:child_process'
import { createServer as createHttpServer, get as httpGet, type Server } from 'node:http'
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { STTError } from '../../src/errors.js'
import type { PeerAddress } from '../../src/transport/types.js'
import { WebSocketTransport } from '../../src/transport/websocket.js'
import {
  batchOf,
  datagram,
  handles,
  rejection,
  silentServer,
  sleep,
  startClient,
  startServer,
  waitFor,
} from './websocket-harness.js'

const execFileP = promisify(execFile)

// Everything a test opens goes here; afterEach closes it even when the test failed.
const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!()
})
function track<T extends { close(): Promise<void> }>(t: T): T {
  cleanup.push(() => t.close())
  return t
}

async function pair(serverOptions = {}, clientOptions = {}) {
  const server = await startServer(serverOptions)
  track(server.transport)
  const client = startClient(clientOptions)
  track(client.transport)
  const toServer = await client.transport.dial(server.url)
  return { server, client, toServer }
}

/** A raw `ws` client (not STT) for bad-input tests; resolves once open. */
async function rawClient(url: string): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(url)
  cleanup.push(() => ws.terminate())
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  )
  ws.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  return { ws, closed }
}

async function closedPort(): Promise<number> {
  const s = createNetServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

describe('WebSocketTransport: exchange and identity', () => {
  it('carries batches both ways, one datagram per message, in order and intact', async () => {
    const { server, client, toServer } = await pair()
    expect(toServer.key).toMatch(/^ws:\d+$/)
    expect(String(toServer)).toBe(server.url)
    expect(toServer.host).toBe('127.0.0.1')
    expect(toServer.port).toBe(server.bound.port)
    expect([toServer.kind, toServer.reliable]).toEqual(['websocket', true])

    const sizes = [1, 19, 125, 126, 1200, 65535, 65536, 70_000]
    const out = sizes.map((n, i) => datagram(i, n))
    const batch = batchOf(toServer, out)
    client.transport.send(batch)
    // The slab belongs to the caller again once send returns: scribbling on it must not
    // change what the peer receives.
    batch.slab.fill(0xee)
    await waitFor(() => server.events.received.length === sizes.length, 'server to receive the batch')
    server.events.received.forEach((r, i) => expect(r.data.equals(out[i]!)).toBe(true))

    const inbound = server.events.received[0]!.from
    expect(inbound.key).toMatch(/^ws:\d+$/)
    expect(String(inbound)).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/)
    expect(inbound.host).toBe('127.0.0.1')
    expect(inbound.port).not.toBe(server.bound.port)
    expect(new Set(server.events.received.map((r) => r.from))).toEqual(new Set([inbound]))

    const back = [datagram(100, 1200), datagram(101, 3)]
    server.transport.send(batchOf(inbound, back))
    await waitFor(() => client.events.received.length === 2, 'client to receive the reply')
    expect(client.events.received[0]!.data.equals(back[0]!)).toBe(true)
    expect(client.events.received[1]!.data.equals(back[1]!)).toBe(true)
    expect(client.events.received[0]!.from).toBe(toServer)

    const bytesOut = sizes.reduce((a, b) => a + b, 0)
    const cs = client.transport.getStats()
    expect(cs).toMatchObject({
      kind: 'websocket',
      packetsSent: sizes.length,
      bytesSent: bytesOut,
      packetsReceived: 2,
      bytesReceived: 1203,
      sendErrors: 0,
      connections: 1,
      outboundConnections: 1,
      tls: false,
    })
    const ss = server.transport.getStats()
    expect(ss).toMatchObject({
      packetsReceived: sizes.length,
      bytesReceived: bytesOut,
      packetsSent: 2,
      bytesSent: 1203,
      connections: 1,
      inboundConnections: 1,
      tls: false,
    })
    expect(client.transport.reliable).toBe(true)
    expect(client.transport.kind).toBe('websocket')
  })

  it('works over IPv6 loopback, with bracketed addresses', async () => {
    const server = await startServer({ host: '::1' })
    track(server.transport)
    expect(server.bound).toMatchObject({ host: '::1', family: 'IPv6' })
    const c = startClient()
    track(c.transport)
    const addr = await c.transport.dial(`ws://[::1]:${server.bound.port}/stt`)
    expect(addr.host).toBe('::1')
    c.transport.send(batchOf(addr, [datagram(1, 10)]))
    await waitFor(() => server.events.received.length === 1, 'datagram over IPv6')
    const from = server.events.received[0]!.from
    expect(from.host).toBe('::1')
    expect(String(from)).toMatch(/^ws:\/\/\[::1\]:\d+$/)
  })

  it('gives every connection its own address, even from the same remote host', async () => {
    const server = await startServer()
    track(server.transport)
    const a = startClient()
    track(a.transport)
    const a1 = await a.transport.dial(server.url)
    const a2 = await a.transport.dial(server.url)
    expect(a1.key).not.toBe(a2.key)
    a.transport.send(batchOf(a1, [datagram(1, 10)]))
    a.transport.send(batchOf(a2, [datagram(2, 10)]))
    await waitFor(() => server.events.received.length === 2, 'two datagrams')
    const [r1, r2] = server.events.received
    expect(r1!.from.key).not.toBe(r2!.from.key)
    // Replies go to the right connection.
    server.transport.send(batchOf(r2!.from, [datagram(22, 5)]))
    await waitFor(() => a.events.received.length === 1, 'reply')
    expect(a.events.received[0]!.from).toBe(a2)
    expect(server.transport.getStats().connections).toBe(2)
  })

  it('release() closes with 1000: the other side gets onPeerClosed, sends afterwards are errors', async () => {
    const { server, client, toServer } = await pair()
    client.transport.send(batchOf(toServer, [datagram(1, 10)]))
    await waitFor(() => server.events.received.length === 1, 'first datagram')
    client.transport.release(toServer)
    await waitFor(() => server.events.closed.length === 1, 'server onPeerClosed')
    expect(server.events.closed[0]!.addr).toBe(server.events.received[0]!.from)
    expect(server.events.closed[0]!.reason).toContain('1000')
    expect(client.events.closed).toHaveLength(0) // the releaser asked for it: no callback
    await waitFor(() => server.transport.getStats().connections === 0, 'server connection count 0')
    expect(client.transport.getStats().connections).toBe(0)

    client.transport.send(batchOf(toServer, [datagram(2, 10), datagram(3, 10)]))
    expect(client.transport.getStats().sendErrors).toBe(2)
    expect(client.transport.getStats().dropped['not-connected']).toBe(2)
    expect(client.events.errors[0]).toBeInstanceOf(STTError)
    expect((client.events.errors[0] as STTError).code).toBe('STT_WEBSOCKET_CLOSED')
    expect(client.transport.writable(toServer)).toBe(false)
  })

  it('server-side release closes the client connection and the client is told', async () => {
    const { server, client, toServer } = await pair()
    client.transport.send(batchOf(toServer, [datagram(1, 10)]))
    await waitFor(() => server.events.received.length === 1, 'first datagram')
    server.transport.release(server.events.received[0]!.from)
    await waitFor(() => client.events.closed.length === 1, 'client onPeerClosed')
    expect(client.events.closed[0]!.addr).toBe(toServer)
    expect(client.events.closed[0]!.reason).toMatch(/1000.*released/)
  })
})

describe('WebSocketTransport: dial errors', () => {
  it('ECONNREFUSED -> STT_CONNECTION_REFUSED', async () => {
    const c = startClient()
    track(c.transport)
    const err = await rejection(c.transport.dial(`ws://127.0.0.1:${await closedPort()}/stt`))
    expect(err).toBeInstanceOf(STTError)
    expect(err.code).toBe('STT_CONNECTION_REFUSED')
  })

  it('wrong path -> STT_WEBSOCKET_HANDSHAKE naming the status; the server counts it', async () => {
    const server = await startServer()
    track(server.transport)
    const c = startClient()
    track(c.transport)
    const err = await rejection(c.transport.dial(`ws://127.0.0.1:${server.bound.port}/nope`))
    expect(err.code).toBe('STT_WEBSOCKET_HANDSHAKE')
    expect(err.message).toContain('404')
    expect(err.message).toContain('/stt') // the server's explanation made it into the error
    expect(server.transport.getStats().rejected).toMatchObject({ 'wrong-path': 1 })
  })

  it('a server that accepts TCP but never answers -> STT_TIMEOUT after connectTimeout', async () => {
    const silent = await silentServer()
    cleanup.push(silent.close)
    const c = startClient({ connectTimeout: 300 })
    track(c.transport)
    const url = `ws://127.0.0.1:${silent.port}/stt`
    const err = await rejection(c.transport.dial(url))
    expect(err.code).toBe('STT_TIMEOUT')
    // Per-dial option wins over the transport option.
    const err2 = await rejection(c.transport.dial(url, { connectTimeout: 200 }))
    expect(err2.code).toBe('STT_TIMEOUT')
    expect(err2.message).toContain('200 ms')
    // The timed-out attempts hang up: no socket left behind on either side.
    await waitFor(() => silent.accepted() === 2 && silent.closed() === 2, 'dial sockets torn down')
  })

  it('an AbortSignal cancels a dial (before and during)', async () => {
    const silent = await silentServer()
    cleanup.push(silent.close)
    const c = startClient()
    track(c.transport)
    const url = `ws://127.0.0.1:${silent.port}/stt`
    const ctl = new AbortController()
    const p = c.transport.dial(url, { signal: ctl.signal })
    await waitFor(() => silent.accepted() === 1, 'TCP connection')
    ctl.abort()
    expect((await rejection(p)).code).toBe('STT_ABORTED')
    await waitFor(() => silent.closed() === 1, 'the aborted attempt hangs up')
    expect((await rejection(c.transport.dial(url, { signal: AbortSignal.abort() }))).code).toBe('STT_ABORTED')
  })

  it('bad URLs are configuration errors', async () => {
    const c = startClient()
    track(c.transport)
    expect((await rejection(c.transport.dial('http://127.0.0.1:1/stt'))).code).toBe('STT_CONFIG')
    expect((await rejection(c.transport.dial('not a url'))).code).toBe('STT_CONFIG')
    expect((await rejection(c.transport.dial('ws://127.0.0.1:1/', { proxy: 'socks5://x:1' }))).code).toBe('STT_CONFIG')
  })

  it('listen/dial before attach() is STT_NOT_STARTED', async () => {
    const t = new WebSocketTransport()
    expect((await rejection(t.listen())).code).toBe('STT_NOT_STARTED')
    await t.close()
  })
})

describe('WebSocketTransport: what HTTP clients see', () => {
  it("the manual's curl diagnostic gets a clear answer that names /stt", async () => {
    const server = await startServer()
    track(server.transport)
    // Exactly the manual's command (chapter 8, "Firewall Blocking").
    const { stdout } = await execFileP(
      '/usr/bin/curl',
      ['-i', '-N', '-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', `http://127.0.0.1:${server.bound.port}/`],
      { timeout: 15_000 },
    )
    const [head, body] = stdout.split('\r\n\r\n')
    expect(head!.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request')
    expect(body).toContain('STT')
    expect(body).toContain('/stt')
    expect(body).toContain('Sec-WebSocket-Key')
    expect(server.transport.getStats().rejected).toMatchObject({ 'bad-handshake': 1 })
  })

  it('a plain GET gets 426 Upgrade Required with the explanation', async () => {
    const server = await startServer({ websocketPath: '/custom' })
    track(server.transport)
    const res = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
      (resolve, reject) => {
        httpGet(`http://127.0.0.1:${server.bound.port}/`, (r) => {
          let body = ''
          r.setEncoding('utf8')
          r.on('data', (c: string) => (body += c))
          r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }))
        }).on('error', reject)
      },
    )
    expect(res.status).toBe(426)
    expect(res.headers['upgrade']).toBe('websocket')
    expect(res.body).toContain('/custom')
    expect(server.transport.getStats().rejected).toMatchObject({ 'plain-http': 1 })
    // And the custom path is the one that upgrades.
    const c = startClient()
    track(c.transport)
    await c.transport.dial(`ws://127.0.0.1:${server.bound.port}/custom`)
  })

  it('can attach to an existing http.Server, leaving other upgrade paths to their owner', async () => {
    const http: Server = createHttpServer((_req, res) => res.end('app'))
    const other: string[] = []
    http.on('upgrade', (req, socket) => {
      if (req.url !== '/stt') {
        other.push(req.url ?? '')
        socket.destroy()
      }
    })
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
    cleanup.push(() => new Promise<void>((r) => http.close(() => r())))
    const events = startClient().events
    const t = new WebSocketTransport({ server: http })
    t.attach(events)
    track(t)
    const bound = await t.listen()
    expect(bound.port).toBe((http.address() as AddressInfo).port)
    const c = startClient()
    track(c.transport)
    const addr = await c.transport.dial(`ws://127.0.0.1:${bound.port}/stt`)
    c.transport.send(batchOf(addr, [datagram(1, 50)]))
    await waitFor(() => events.received.length === 1, 'datagram via shared server')
    await rejection(c.transport.dial(`ws://127.0.0.1:${bound.port}/elsewhere`))
    expect(other).toEqual(['/elsewhere'])
    await t.close()
    expect(http.listening).toBe(true) // not ours to close
  })
})

describe('WebSocketTransport: bad input', () => {
  it('a text frame is counted, dropped, and closes that connection with 1003; others keep working', async () => {
    const server = await startServer()
    track(server.transport)
    const raw = await rawClient(server.url)
    raw.ws.send('hello, I am not STT')
    const { code } = await raw.closed
    expect(code).toBe(1003)
    const st = server.transport.getStats()
    expect(st.dropped['text-frame']).toBe(1)
    expect(st.rejected).toMatchObject({ 'text-frame': 1 })
    expect(st.packetsReceived).toBe(0)
    expect(server.events.received).toHaveLength(0)

    const c = startClient()
    track(c.transport)
    const addr = await c.transport.dial(server.url)
    c.transport.send(batchOf(addr, [datagram(1, 99)]))
    await waitFor(() => server.events.received.length === 1, 'a good client still served')
  })

  it('an oversize message closes with 1009 and is counted', async () => {
    const server = await startServer({ maxPayload: 1024 })
    track(server.transport)
    expect(server.transport.maxDatagramSize).toBe(1024)
    const raw = await rawClient(server.url)
    raw.ws.send(Buffer.alloc(1024)) // at the limit: fine
    await waitFor(() => server.events.received.length === 1, 'max-size message')
    raw.ws.send(Buffer.alloc(1025))
    expect((await raw.closed).code).toBe(1009)
    const st = server.transport.getStats()
    expect(st.dropped['oversize']).toBe(1)
    expect(st.rejected).toMatchObject({ oversize: 1 })
    await waitFor(() => server.events.closed.length === 1, 'onPeerClosed')
    expect(server.events.closed[0]!.reason).toContain('oversize')
  })

  it('never sends a datagram bigger than maxPayload (the peer would close the connection)', async () => {
    const { server, client, toServer } = await pair({}, { maxPayload: 1000 })
    client.transport.send(batchOf(toServer, [datagram(1, 1000), datagram(2, 1001), datagram(3, 10)]))
    await waitFor(() => server.events.received.length === 2, 'the two that fit')
    expect(server.events.received.map((r) => r.data.length)).toEqual([1000, 10])
    expect(client.transport.getStats().dropped['oversize']).toBe(1)
    expect(client.transport.getStats().packetsSent).toBe(2)
  })

  it('maxConnections: the excess is answered 503 and counted; capacity comes back when one leaves', async () => {
    const server = await startServer({ maxConnections: 2 })
    track(server.transport)
    const c = startClient()
    track(c.transport)
    const a = await c.transport.dial(server.url)
    await c.transport.dial(server.url)
    const err = await rejection(c.transport.dial(server.url))
    expect(err.code).toBe('STT_WEBSOCKET_HANDSHAKE')
    expect(err.message).toContain('503')
    expect(server.transport.getStats().rejected).toMatchObject({ 'too-many-connections': 1 })
    c.transport.release(a)
    await waitFor(() => server.transport.getStats().connections === 1, 'server sees one leave')
    await c.transport.dial(server.url)
    expect(server.transport.getStats().connections).toBe(2)
  })

  it('closes an inbound connection that sends no datagram within idleTimeout, not one that did', async () => {
    const server = await startServer({ idleTimeout: 300 })
    track(server.transport)
    const silent = await rawClient(server.url)
    const talker = await rawClient(server.url)
    talker.ws.send(Buffer.from([1, 2, 3]))
    const { code, reason } = await silent.closed
    expect(code).toBe(1008)
    expect(reason).toContain('no STT packet')
    expect(server.transport.getStats().rejected).toMatchObject({ 'idle-timeout': 1 })
    await sleep(600) // two more idle periods: the talker stays
    expect(talker.ws.readyState).toBe(WebSocket.OPEN)
    expect(server.transport.getStats().connections).toBe(1)
  })

  it('a half-finished TCP connection (no HTTP request) does not block close()', async () => {
    const server = await startServer({ idleTimeout: 60_000 })
    const { createConnection } = await import('node:net')
    const s = createConnection(server.bound.port, '127.0.0.1')
    s.on('error', () => {})
    await new Promise((r) => s.once('connect', r))
    const t0 = Date.now()
    await server.transport.close()
    expect(Date.now() - t0).toBeLessThan(10_000)
    s.destroy()
  })
})

describe('WebSocketTransport: backpressure', () => {
  it('a slow reader turns writable() false, bufferedAmount stays under the hard cap, drain notifies', async () => {
    const hwm = 256 * 1024
    const server = await startServer({ highWaterMark: hwm })
    track(server.transport)
    const raw = await rawClient(server.url)
    raw.ws.send(Buffer.from([0])) // become known to the server
    await waitFor(() => server.events.received.length === 1, 'hello')
    const to: PeerAddress = server.events.received[0]!.from
    const reader = (raw.ws as unknown as { _socket: Socket })._socket
    let got = 0
    let corrupt = 0
    raw.ws.on('message', (data: Buffer) => {
      // Drops at the cap break the sequence; each datagram names its index in its first bytes.
      if (!data.equals(datagram(data.readUInt32BE(0), 1200))) corrupt++
      got++
    })
    reader.pause() // the slow reader: stops reading, the kernel buffers fill, then ours

    const dgrams = Array.from({ length: 64 }, (_, i) => datagram(i, 1200))
    // One slab reused for every batch, scribbled on after each send, as a session layer may:
    // what sits in the socket buffer must be the transport's copy, not a view of the slab.
    const batch = batchOf(to, dgrams)
    const sendReused = (): void => {
      dgrams.forEach((d, i) => batch.slab.set(d, batch.offsets[i]!))
      server.transport.send(batch)
      batch.slab.fill(0xee)
    }
    let batches = 0
    while (server.transport.writable(to)) {
      sendReused()
      batches++
      if (batches % 50 === 0) await sleep(1) // let the socket flush what the kernel takes
      if (batches > 20_000) throw new Error('writable() never turned false')
    }
    const cap = 4 * hwm
    expect(server.transport.bufferedAmount(to)).toBeGreaterThanOrEqual(hwm)
    // Ignore writable() and keep pushing: the hard cap holds and the excess is dropped.
    for (let i = 0; i < 200; i++) sendReused()
    expect(server.transport.bufferedAmount(to)).toBeLessThanOrEqual(cap)
    const st = server.transport.getStats()
    expect(st.dropped['queue-full']).toBeGreaterThan(0)
    expect(st.packetsSent + st.dropped['queue-full']!).toBe((batches + 200) * 64)
    expect(server.events.writableAgain).toHaveLength(0)

    reader.resume()
    await waitFor(() => server.events.writableAgain.length === 1, 'onWritable after drain')
    expect(server.events.writableAgain[0]).toBe(to)
    expect(server.transport.writable(to)).toBe(true)
    await waitFor(() => got === st.packetsSent, 'reader gets everything that was admitted')
    expect(corrupt).toBe(0)
  })

  it('onWritable also fires for a high-water mark below the socket buffer (polled)', async () => {
    const { server, client, toServer } = await pair({}, { highWaterMark: 1000 })
    client.transport.send(batchOf(toServer, Array.from({ length: 4 }, (_, i) => datagram(i, 600))))
    // Corked writes sit in the socket buffer until uncork has handed them to the kernel; if they
    // went out synchronously the mark was never crossed and nothing is owed.
    if (!client.transport.writable(toServer)) {
      await waitFor(() => client.events.writableAgain.length === 1, 'onWritable')
    }
    await waitFor(() => server.events.received.length === 4, 'all four')
  })
})

describe('WebSocketTransport: shutdown', () => {
  it('close() closes everything, aborts pending dials and leaves no handles', async () => {
    await sleep(50) // let earlier tests' sockets finish closing
    const before = handles()
    const server = await startServer()
    const client = startClient()
    const addr = await client.transport.dial(server.url)
    client.transport.send(batchOf(addr, [datagram(1, 10)]))
    await waitFor(() => server.events.received.length === 1, 'datagram')
    const raw = await rawClient(server.url)

    const silent = await silentServer()
    // Attach the rejection handler now: close() rejects the dial before we look at it.
    const pending = rejection(client.transport.dial(`ws://127.0.0.1:${silent.port}/stt`))
    await waitFor(() => silent.accepted() === 1, 'pending dial connected')

    await Promise.all([client.transport.close(), server.transport.close()])
    expect((await pending).code).toBe('STT_ABORTED')
    expect((await raw.closed).code).toBe(1001)
    await waitFor(() => silent.closed() === 1, 'the aborted dial hung up')
    await silent.close()
    expect(server.transport.getStats()).toMatchObject({ connections: 0, listening: false })
    expect(client.transport.getStats().connections).toBe(0)
    expect((await rejection(client.transport.dial(server.url))).code).toBe('STT_NOT_STARTED')
    await client.transport.close() // idempotent

    await sleep(50) // socket close callbacks run on the next turns
    const after = handles()
    expect(after.net).toBeLessThanOrEqual(before.net)
    expect(after.timeouts).toBeLessThanOrEqual(before.timeouts)
  })
})
