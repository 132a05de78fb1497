/**
 * The HTTP side of the WebSocket transport's server: which upgrade requests get a WebSocket,
 * and what everything else gets instead. Kept apart from the transport so the answers (what a
 * user sees with curl or a browser) are in one place and testable without sockets.
 *
 * Order of the checks for an upgrade request, and why:
 *   1. transport closing                -> 503 (no new work while shutting down)
 *   2. method other than GET            -> 405
 *   3. not a complete WebSocket handshake (Upgrade: websocket, a valid Sec-WebSocket-Key,
 *      Sec-WebSocket-Version 13)        -> 400 with an explanation. This comes before the
 *      path check on purpose: the manual's reachability test
 *      `curl -i -N -H "Connection: Upgrade" -H "Upgrade: websocket" http://peer:port/`
 *      sends no key and asks for `/`; it should learn "this is an STT endpoint, at /stt", not
 *      a bare 404 that reads like "nothing here".
 *   4. wrong path                       -> 404 naming the right path
 *   5. too many connections             -> 503
 * Plain (non-upgrade) requests get 426 Upgrade Required with the same explanation.
 */

import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { loadServerTLS, type WebSocketTLSOptions } from './tls-options.js'
import type { Duplex } from 'node:stream'

/** Why a connection or upgrade was turned away; the keys of `stats.rejected`. */
export type RejectReason =
  | 'plain-http'
  | 'bad-method'
  | 'bad-handshake'
  | 'wrong-path'
  | 'too-many-connections'
  | 'too-many-sockets'
  | 'closing'
  | 'tls-handshake'
  | 'text-frame'
  | 'oversize'
  | 'protocol-error'
  | 'idle-timeout'

export interface Rejection {
  status: number
  reason: RejectReason
  body: string
  headers?: Record<string, string>
}

export interface GateState {
  /** The upgrade path, e.g. `/stt`. */
  path: string
  /** Open inbound connections now. */
  connections: number
  maxConnections: number
  closing: boolean
}

/** RFC 6455 §4.1: the key is 16 random bytes, base64 (24 characters ending in `==`). */
const KEY_RE = /^[+/0-9A-Za-z]{22}==$/

function help(path: string): string {
  return (
    `This is an STT (Seigr Toolset Transmissions) WebSocket endpoint. ` +
    `Connect a WebSocket client to the path ${path} (ws://<host>:<port>${path}, or wss:// with TLS); ` +
    `it carries binary STT packets only.`
  )
}

export function pathOf(url: string | undefined): string {
  const u = url ?? '/'
  const q = u.indexOf('?')
  return q === -1 ? u : u.slice(0, q)
}

/** Decides about an upgrade request; `null` means "go ahead and upgrade". */
export function checkUpgrade(req: IncomingMessage, gate: GateState): Rejection | null {
  if (gate.closing) {
    return { status: 503, reason: 'closing', body: `The STT node is shutting down. ${help(gate.path)}` }
  }
  if (req.method !== 'GET') {
    return {
      status: 405,
      reason: 'bad-method',
      body: `WebSocket upgrades use GET, not ${req.method ?? '?'}. ${help(gate.path)}`,
      headers: { Allow: 'GET' },
    }
  }
  const upgrade = req.headers.upgrade
  const key = req.headers['sec-websocket-key']
  const version = req.headers['sec-websocket-version']
  const missing: string[] = []
  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') missing.push('Upgrade: websocket')
  if (typeof key !== 'string' || !KEY_RE.test(key)) missing.push('a valid Sec-WebSocket-Key')
  if (version !== '13' && version !== '8') missing.push('Sec-WebSocket-Version: 13')
  if (missing.length > 0) {
    return {
      status: 400,
      reason: 'bad-handshake',
      body:
        `Not a complete WebSocket handshake (missing ${missing.join(', ')}). ` +
        `The server is reachable. ${help(gate.path)}`,
      headers: { 'Sec-WebSocket-Version': '13' },
    }
  }
  if (pathOf(req.url) !== gate.path) {
    return {
      status: 404,
      reason: 'wrong-path',
      body: `No WebSocket endpoint at ${pathOf(req.url)}. ${help(gate.path)}`,
    }
  }
  if (gate.connections >= gate.maxConnections) {
    return {
      status: 503,
      reason: 'too-many-connections',
      body: `Too many connections (limit ${gate.maxConnections}); try again later. ${help(gate.path)}`,
      headers: { 'Retry-After': '5' },
    }
  }
  return null
}

/**
 * Writes a complete HTTP answer on a socket that Node handed over for an upgrade, then closes
 * it. Same shape as ws's `abortHandshake`: end after the answer, destroy once it is flushed, so
 * a client that never reads cannot keep the socket.
 */
export function writeRejection(socket: Duplex, r: Rejection): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const body = r.body + '\n'
  const lines = [
    `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ''}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
  ]
  for (const [k, v] of Object.entries(r.headers ?? {})) lines.push(`${k}: ${v}`)
  socket.once('finish', () => socket.destroy())
  socket.end(lines.join('\r\n') + '\r\n\r\n' + body)
}

/** Answers a plain HTTP request (no upgrade) with 426 and the explanation. */
export function answerPlainRequest(req: IncomingMessage, res: ServerResponse, path: string): void {
  const body = `Upgrade Required. ${help(path)}\n`
  res.writeHead(426, {
    Upgrade: 'websocket',
    Connection: 'close',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  })
  res.end(req.method === 'HEAD' ? undefined : body)
}

/** Raw sockets allowed beyond maxConnections (handshakes in flight, answers being written). */
export const SOCKET_SLACK = 64

/**
 * The http(s) server a listening transport owns: TLS when `cert`/`key` are given, request
 * timeouts tied to idleTimeout, and a bound on raw TCP sockets.
 */
export async function createOwnedServer(
  tls: WebSocketTLSOptions | undefined,
  idleTimeout: number,
  maxConnections: number,
): Promise<{ server: HttpServer; tls: boolean }> {
  const loaded = await loadServerTLS(tls ?? {})
  // A socket that never finishes its HTTP request must not outlive idleTimeout either
  // (Node checks these every connectionsCheckingInterval, 30 s by default: tighten it).
  const httpOptions = {
    headersTimeout: idleTimeout,
    requestTimeout: idleTimeout,
    connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(idleTimeout / 2))),
  }
  const server = loaded !== undefined ? createHttpsServer({ ...loaded, ...httpOptions }) : createHttpServer(httpOptions)
  // Bound raw TCP sockets too (before any upgrade, e.g. stuck in the TLS handshake). The
  // slack leaves room to answer 503 to the excess instead of resetting it.
  server.maxConnections = maxConnections + SOCKET_SLACK
  return { server, tls: loaded !== undefined }
}
