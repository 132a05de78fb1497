/**
 * The client half of the WebSocket transport's `dial`, as free functions: TLS over a proxy
 * tunnel, the WebSocket opening handshake with bounded error reporting, and the mapping of
 * whatever fails to the STTError codes callers switch on.
 *
 *   dial = [proxy CONNECT (proxy-connect.ts)] -> [TLS over the tunnel (startTls)] -> upgrade
 *   (without a proxy, ws opens TCP and TLS itself with the options from `pickClientTls`).
 * One AbortSignal runs through every step: timeout, the user's signal and transport close
 * all abort it with the error the dial should reject with.
 */

import { isIP, type Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { WebSocket, type ClientOptions } from 'ws'
import { ErrorCode, STTConfigError, STTError, STTTransportError } from '../errors.js'
import {
  isTLSError,
  tlsError,
  type LoadedClientTLS,
  type WebSocketClientTLSOptions,
  type WebSocketTLSOptions,
} from './tls-options.js'

/** Bound on the body of a failed upgrade answer kept for the error message. */
const MAX_ERROR_BODY = 300

export function pickClientTls(t: WebSocketTLSOptions | undefined): WebSocketClientTLSOptions {
  const out: WebSocketClientTLSOptions = {}
  if (t?.ca !== undefined) out.ca = t.ca
  if (t?.rejectUnauthorized !== undefined) out.rejectUnauthorized = t.rejectUnauthorized
  if (t?.servername !== undefined) out.servername = t.servername
  return out
}

/** TLS over an existing socket (the proxy tunnel); resolves once the server is verified. */
export function startTls(
  socket: Socket,
  host: string,
  opts: LoadedClientTLS,
  signal: AbortSignal,
  display: string,
): Promise<TLSSocket> {
  return new Promise<TLSSocket>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    // SNI must not be an IP (RFC 6066); the certificate is then checked against `host`.
    const servername = opts.servername ?? (isIP(host) === 0 ? host : undefined)
    const s = tlsConnect({
      socket,
      host,
      ...(servername !== undefined ? { servername } : {}),
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      rejectUnauthorized: opts.rejectUnauthorized,
      ALPNProtocols: ['http/1.1'],
    })
    const onAbort = (): void => {
      s.destroy()
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    s.once('secureConnect', () => {
      signal.removeEventListener('abort', onAbort)
      s.off('error', onError)
      resolve(s)
    })
    const onError = (err: Error): void => {
      signal.removeEventListener('abort', onAbort)
      s.destroy()
      reject(isTLSError(err) ? tlsError(err, display) : err)
    }
    s.once('error', onError)
  })
}

/** Runs the WebSocket opening handshake; resolves with the open WebSocket. */
export function upgrade<T>(
  href: string,
  options: ClientOptions,
  signal: AbortSignal,
  display: string,
  onOpen: (ws: WebSocket) => T,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    const ws = new WebSocket(href, options)
    let settled = false
    const settle = (err: unknown): void => {
      if (settled) return
      settled = true
      signal.removeEventListener('abort', onAbort)
      if (err === undefined) {
        ws.off('error', onError)
        resolve(onOpen(ws))
      } else {
        reject(err)
      }
    }
    const onAbort = (): void => {
      settle(signal.reason)
      ws.terminate()
    }
    // Kept until the handshake settles; after a failure, ws may still emit an error while tearing down.
    const onError = (err: Error): void => settle(err)
    ws.on('error', onError)
    ws.once('open', () => settle(undefined))
    ws.once('unexpected-response', (req, res) => {
      // Keep a little of the body: a server explaining itself (like ours) is the best hint.
      const chunks: Buffer[] = []
      let size = 0
      const done = (): void => {
        clearTimeout(t)
        const body = Buffer.concat(chunks).toString('utf8').trim().slice(0, MAX_ERROR_BODY)
        const status = `${res.statusCode ?? 0} ${res.statusMessage ?? ''}`.trim()
        settle(
          new STTTransportError(
            ErrorCode.WEBSOCKET_HANDSHAKE,
            `WebSocket upgrade to ${display} failed: the server answered ${status} instead of 101` +
              (body ? `: ${body}` : ''),
          ),
        )
        req.destroy()
        ws.terminate()
      }
      const t = setTimeout(done, 1_000)
      res.on('data', (c: Buffer) => {
        if (size < MAX_ERROR_BODY) chunks.push(c)
        size += c.length
        if (size >= MAX_ERROR_BODY) done()
      })
      res.once('end', done)
      res.once('error', done)
      res.once('close', done)
    })
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** Turns whatever a dial threw into an STTError with the codes the issue lists. */
export function classifyDialError(err: unknown, display: string): STTError {
  if (err instanceof STTError) return err
  if (isTLSError(err)) return tlsError(err, display)
  const e = err as NodeJS.ErrnoException
  const code = e.code ?? ''
  switch (code) {
    case 'ECONNREFUSED':
      return new STTTransportError(
        ErrorCode.CONNECTION_REFUSED,
        `connection to ${display} refused (nothing listening there?)`,
        { cause: err },
      )
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new STTTransportError(ErrorCode.NETWORK_UNREACHABLE, `cannot reach ${display}: ${code}`, { cause: err })
    case 'ETIMEDOUT':
      return new STTTransportError(ErrorCode.TIMEOUT, `connection to ${display} timed out (${code})`, { cause: err })
    case 'ECONNRESET':
      return new STTTransportError(
        ErrorCode.WEBSOCKET_HANDSHAKE,
        `connection to ${display} was closed during the WebSocket upgrade (a TLS server needs wss://): ${e.message}`,
        { cause: err },
      )
    default:
      return new STTTransportError(
        ErrorCode.WEBSOCKET_HANDSHAKE,
        `WebSocket upgrade to ${display} failed: ${e.message ?? String(err)}`,
        { cause: err },
      )
  }
}

/** A ws:// or wss:// dial target, parsed; `display` never shows credentials that may sit in the URL. */
export function parseDialTarget(target: string): { url: URL; secure: boolean; host: string; port: number; display: string } {
  let url: URL
  try {
    url = new URL(target)
  } catch {
    throw new STTConfigError(`invalid WebSocket URL ${JSON.stringify(target)} (expected ws://host:port/path)`)
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new STTConfigError(`unsupported scheme ${url.protocol} for the WebSocket transport (use ws:// or wss://)`)
  }
  const secure = url.protocol === 'wss:'
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port)
  const display = `${url.protocol}//${url.host}${url.pathname}${url.search}`
  return { url, secure, host, port, display }
}
