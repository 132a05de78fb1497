/**
 * HTTP CONNECT tunnelling for the WebSocket transport (RFC 9110 §9.3.6).
 *
 *   1. open a TCP connection to the proxy and send `CONNECT host:port HTTP/1.1`
 *      (with `Proxy-Authorization: Basic ...` when credentials are given);
 *   2. a 2xx answer turns the connection into a raw byte pipe to host:port, which is handed to
 *      the caller (TLS for wss:// and the WebSocket upgrade then run over it);
 *   3. anything else becomes a typed error carrying the proxy's status: 407 (and the 401 some
 *      proxies send) is `STT_PROXY_AUTH`, every other answer or a failed connection to the proxy
 *      is `STT_PROXY_REFUSED`. Messages name the proxy without its credentials.
 */

import { request as httpRequest, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { ErrorCode, STTConfigError, STTTransportError } from '../errors.js'

export type ProxyAuth = { username: string; password: string }

export interface ParsedProxy {
  host: string
  port: number
  /** The proxy URL with any credentials removed, for messages. */
  display: string
  /** Credentials embedded in the URL (`http://user:pass@proxy:8080`), if any. */
  auth?: ProxyAuth
}

export function parseProxyUrl(proxy: string): ParsedProxy {
  let u: URL
  try {
    u = new URL(proxy)
  } catch {
    throw new STTConfigError(`invalid proxy URL (expected http://host:port)`)
  }
  if (u.protocol !== 'http:') {
    throw new STTConfigError(`unsupported proxy scheme ${u.protocol} (only http:// CONNECT proxies are supported)`)
  }
  const parsed: ParsedProxy = {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port === '' ? 80 : Number(u.port),
    display: `http://${u.host}`,
  }
  if (u.username !== '') {
    parsed.auth = { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) }
  }
  return parsed
}

export interface TunnelOptions {
  proxy: ParsedProxy
  auth?: ProxyAuth | undefined
  /** Target host and port (IPv6 literals without brackets). */
  host: string
  port: number
  /** Aborting destroys the tunnel attempt; the promise rejects with `signal.reason`. */
  signal: AbortSignal
}

/** Opens a CONNECT tunnel; resolves with the socket, now a byte pipe to host:port. */
export function openTunnel(opts: TunnelOptions): Promise<Socket> {
  const { proxy, host, port, signal } = opts
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  const headers: Record<string, string> = { host: authority }
  const auth = opts.auth ?? proxy.auth
  if (auth !== undefined) {
    const token = Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')
    headers['proxy-authorization'] = `Basic ${token}`
  }

  return new Promise<Socket>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    let settled = false
    const req = httpRequest({
      host: proxy.host,
      port: proxy.port,
      method: 'CONNECT',
      path: authority,
      headers,
      // A tunnel is one connection with one owner: never pooled or reused by an Agent.
      agent: false,
    })

    const onAbort = (): void => {
      fail(signal.reason)
      req.destroy()
    }
    signal.addEventListener('abort', onAbort, { once: true })

    function fail(err: unknown): void {
      if (settled) return
      settled = true
      signal.removeEventListener('abort', onAbort)
      reject(err)
    }

    function refuse(res: IncomingMessage, socket?: Socket): void {
      const status = res.statusCode ?? 0
      const line = `${status} ${res.statusMessage ?? ''}`.trim()
      socket?.destroy()
      res.destroy()
      if (status === 407 || status === 401) {
        const what = auth === undefined ? 'no credentials were given (set proxyAuth)' : 'the credentials were rejected'
        fail(
          new STTTransportError(
            ErrorCode.PROXY_AUTH,
            `proxy ${proxy.display} requires authentication: it answered ${line} to CONNECT ${authority}; ${what}`,
          ),
        )
      } else {
        fail(
          new STTTransportError(
            ErrorCode.PROXY_REFUSED,
            `proxy ${proxy.display} refused the tunnel: it answered ${line} to CONNECT ${authority}`,
          ),
        )
      }
    }

    // Node reports every answer to a CONNECT on 'connect' (the parser stops after the head, so
    // nothing is read as body); 'response' is kept as a fallback for proxies that confuse it.
    req.once('connect', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      const status = res.statusCode ?? 0
      if (status < 200 || status > 299) {
        refuse(res, socket)
        return
      }
      if (settled) {
        socket.destroy()
        return
      }
      settled = true
      signal.removeEventListener('abort', onAbort)
      // Bytes the target already sent behind the proxy's answer belong to the tunnel.
      if (head.length > 0) socket.unshift(head)
      socket.setNoDelay(true)
      // The http client let go of the socket; until TLS or ws attach their own handlers an
      // 'error' must not crash the process (those handlers still see it afterwards).
      socket.on('error', () => {})
      resolve(socket)
    })
    req.once('response', (res: IncomingMessage) => refuse(res))
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return
      fail(
        new STTTransportError(
          ErrorCode.PROXY_REFUSED,
          `cannot open a tunnel through proxy ${proxy.display} to ${authority}: ${err.code ?? err.message}`,
          { cause: err },
        ),
      )
    })
    req.end()
  })
}
