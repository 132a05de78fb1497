/**
 * A real HTTP CONNECT proxy for tests: TooTallNate's `proxy` package on a node:http server
 * bound to 127.0.0.1, port 0.
 *   - `auth`: require `Proxy-Authorization: Basic` with these credentials (else 407);
 *   - `refuseTunnels`: answer every CONNECT with 403 Forbidden (a proxy whose policy says no);
 *   - `stats`: CONNECT requests seen, tunnels established (proxy answered 2xx), refused ones.
 * `close()` destroys every socket it still holds, so tests leave no handles behind.
 */

import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { createProxy } from 'proxy'

export interface ProxyServerOptions {
  auth?: { username: string; password: string }
  refuseTunnels?: boolean
}

export interface ProxyServerStats {
  connectRequests: number
  tunnels: number
  refused: number
  authFailures: number
  /** The Proxy-Authorization header of the last CONNECT, to check what the client sent. */
  lastAuthorization: string | undefined
}

export interface TestProxy {
  url: string
  port: number
  stats: ProxyServerStats
  close(): Promise<void>
}

type ConnectListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

export async function startProxyServer(options: ProxyServerOptions = {}): Promise<TestProxy> {
  const server = createProxy(createServer())
  const stats: ProxyServerStats = {
    connectRequests: 0,
    tunnels: 0,
    refused: 0,
    authFailures: 0,
    lastAuthorization: undefined,
  }
  const sockets = new Set<Socket>()
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })

  const auth = options.auth
  if (auth !== undefined) {
    const expected = 'Basic ' + Buffer.from(`${auth.username}:${auth.password}`).toString('base64')
    server.authenticate = (req) => {
      const ok = req.headers['proxy-authorization'] === expected
      if (!ok) stats.authFailures++
      return ok
    }
  }

  // Wrap the package's CONNECT handler to count and, in refuse mode, to say no first.
  const inner = server.listeners('connect') as ConnectListener[]
  server.removeAllListeners('connect')
  server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    stats.connectRequests++
    stats.lastAuthorization = req.headers['proxy-authorization']
    if (options.refuseTunnels) {
      stats.refused++
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    // The package writes "200 Connection established" on success: count it on the wire.
    const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean
    let first = true
    ;(socket as unknown as { write: typeof write }).write = (chunk: unknown, ...rest: unknown[]) => {
      if (first) {
        first = false
        if (String(chunk).startsWith('HTTP/1.1 200')) stats.tunnels++
        ;(socket as unknown as { write: typeof write }).write = write
      }
      return write(chunk, ...rest)
    }
    for (const l of inner) l.call(server, req, socket, head)
  })

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
      }),
  }
}
