/**
 * The WebSocket transport's options, defaults and events (websocket.ts is the transport itself).
 */
import { STTConfigError } from '../errors.js'
import type { PeerAddress, TransportEvents } from './types.js'
import type { ProxyAuth } from './proxy-connect.js'
import type { WebSocketClientTLSOptions, WebSocketTLSOptions } from './tls-options.js'
import type { Server as HttpServer } from 'node:http'

export const DEFAULT_WEBSOCKET_PATH = '/stt'
/** ws's own default; far above any STT packet, low enough that one message cannot hurt. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024
export const DEFAULT_MAX_CONNECTIONS = 1024
export const DEFAULT_IDLE_TIMEOUT = 10_000
/** 4 MiB: a few RTTs of data at LAN speeds before the session layer is asked to wait. */
export const DEFAULT_HIGH_WATER_MARK = 4 * 1024 * 1024
/** The hard cap on bufferedAmount is this many high-water marks; beyond it datagrams drop. */
export const HARD_CAP_FACTOR = 4
export const DEFAULT_CONNECT_TIMEOUT = 10_000
/** After sending a close frame, how long a peer gets to answer before the socket is destroyed (ws waits 30 s). */
export const CLOSE_GRACE_MS = 2_000
/** WebSocket framing overhead per message, worst case without masking key (RFC 6455 §5.2). */
export const FRAME_OVERHEAD = 14

export type WebSocketTransportOptions = {
  /** Listen address (default: all interfaces, as node:net does). */
  host?: string
  /** Listen port; 0 (the default) picks a free one. */
  port?: number
  /** Upgrade path (default `/stt`). */
  websocketPath?: string
  /** WSS: `cert`/`key` for the server; `ca`/`rejectUnauthorized`/`servername` for dialing. */
  tls?: WebSocketTLSOptions
  /** HTTP CONNECT proxy for `dial`, e.g. `http://proxy:8080`. */
  proxy?: string
  proxyAuth?: ProxyAuth
  /** Largest message accepted (and datagram sent); bigger ones close the connection with 1009. */
  maxPayload?: number
  /** Inbound connections at once; more are answered 503 at the upgrade. */
  maxConnections?: number
  /** An inbound connection must deliver its first datagram within this many ms. */
  idleTimeout?: number
  /** `writable()` turns false at this bufferedAmount (bytes). */
  highWaterMark?: number
  /** bufferedAmount above which datagrams are dropped (default 4 × highWaterMark). */
  maxBufferedAmount?: number
  /** Timeout for `dial` (proxy, TLS and upgrade together). */
  connectTimeout?: number
  /** Attach to an existing http(s) server instead of creating one; it is never closed by us. */
  server?: HttpServer
}

export type WebSocketDialOptions = {
  tls?: WebSocketClientTLSOptions
  /** Overrides the transport's proxy for this dial; `null` dials directly. */
  proxy?: string | null
  proxyAuth?: ProxyAuth
  connectTimeout?: number
  signal?: AbortSignal
}

/** TransportEvents plus the drain notification this transport emits (see report / types.ts). */
export interface WebSocketTransportEvents extends TransportEvents {
  /** `writable(addr)` went from false to true. */
  onWritable?(addr: PeerAddress): void
}

/** A positive finite option, or its default; anything else is an STT_CONFIG error naming it. */
export function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt
  if (!Number.isFinite(v) || v <= 0) throw new STTConfigError(`${name} must be a positive number (got ${v})`)
  return v
}
