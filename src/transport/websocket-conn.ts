/**
 * One WebSocket connection as the transport tracks it (one PeerAddress per connection), and
 * the small helpers around it.
 */
import { isIP } from 'node:net'
import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'
import type { PeerAddress } from './types.js'

export class WebSocketPeerAddress implements PeerAddress {
  readonly kind = 'websocket'
  readonly reliable = true
  constructor(
    readonly key: string,
    readonly host: string,
    readonly port: number,
    private readonly text: string,
  ) {}
  toString(): string {
    return this.text
  }
}

export interface Conn {
  addr: WebSocketPeerAddress
  ws: WebSocket
  socket: Duplex
  inbound: boolean
  secure: boolean
  /** A binary message arrived (the idle timer is off). */
  active: boolean
  /** writable() said false (or a send crossed the high-water mark): notify on drain. */
  blocked: boolean
  /** release()/close() took it: no onPeerClosed, no more delivery. */
  released: boolean
  /** Set when this side decided to close, so onPeerClosed can say why. */
  closeReason?: string
  idleTimer?: NodeJS.Timeout
  graceTimer?: NodeJS.Timeout
  drainPoll?: NodeJS.Timeout
  closed: Promise<void>
  markClosed: () => void
}

export const SEND_OPTIONS = { binary: true, compress: false, fin: true } as const

export function socketOf(ws: WebSocket): Duplex {
  // ws keeps the upgraded socket in `_socket` (not in its typings); we need it for
  // cork/uncork around a batch and for the 'drain' event.
  return (ws as unknown as { _socket: Duplex })._socket
}

export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

export function normaliseRemote(addr: string | undefined): string {
  if (addr === undefined) return 'unknown'
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr
}
