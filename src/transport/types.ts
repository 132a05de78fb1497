/**
 * The one batch-shaped interface every transport implements (UDP on node:dgram, UDP on the
 * native addon, WebSocket, the in-memory channel used by tests, and user-supplied ones).
 *
 * The protocol never sees sockets: it sees datagrams (opaque byte strings of at most
 * `maxDatagramSize` bytes) and plain `PeerAddress` values; the driver hands each TxBatch to
 * the transport of the address's kind. Transports never look inside datagrams.
 */

import type { MultiTxBatch, PeerAddress, RxBatch, TransportKind, TxBatch } from '../net-types.js'

// The values shared with the sans-I/O core live in src/net-types.ts (neither layer imports the other).
export type { MultiTxBatch, PeerAddress, RxBatch, TransportKind, TxBatch } from '../net-types.js'

export interface TransportStats {
  kind: TransportKind
  packetsSent: number
  packetsReceived: number
  bytesSent: number
  bytesReceived: number
  sendErrors: number
  /** Datagrams the transport itself dropped, by reason (oversize, queue-full, ...). */
  dropped: Record<string, number>
  /** Socket buffer sizes actually granted by the OS (UDP). */
  recvBufferSize?: number
  sendBufferSize?: number
  /** Open connections (connection-oriented transports). */
  connections?: number
  tls?: boolean
  /** Kernel offloads in use (native UDP). */
  gso?: boolean
  gro?: boolean
  [extra: string]: unknown
}

export interface BoundAddress {
  host: string
  port: number
  family?: 'IPv4' | 'IPv6'
}

export interface TransportEvents {
  /** A batch of datagrams arrived. */
  onReceive(batch: RxBatch): void
  /** A connection-oriented transport lost the connection behind `addr` (e.g. WebSocket close). */
  /**
   * `clean`: the peer closed the connection on purpose (WebSocket 1000), like a TCP FIN; a
   * session on it then ends without an error, as net.Socket ends without one.
   */
  onPeerClosed?(addr: PeerAddress, reason: string, clean?: boolean): void
  /** `writable(addr)` turned true again (drain) after it said false. */
  onWritable?(addr: PeerAddress): void
  /** A send could not be completed and the caller should know (counted in stats as well). */
  onError?(err: Error): void
}

export interface Transport {
  readonly kind: TransportKind
  /** True when the transport itself delivers reliably and in order (TCP-based). */
  readonly reliable: boolean
  /**
   * True when one onReceive hands over everything that was readable (recvmmsg): the driver
   * then answers each batch at once. Otherwise (one datagram per callback, as node:dgram) it
   * answers once after the event-loop turn, so a burst gets one ACK, not one per datagram.
   */
  readonly receivesBatches?: boolean
  // No batchSize / maxDatagramSize here (issue 13: nobody read them): `send` takes a batch of
  // any length and splits it as the socket needs, and packet sizes come from the node's
  // options (maxPacketSize, reliablePacketSize) and the peer's limit.
  /** Installs the receiver. Called once by the node before `listen`/`dial`. */
  attach(events: TransportEvents): void
  /** Starts listening for inbound datagrams (servers). Resolves with the bound address. */
  listen(): Promise<BoundAddress>
  /**
   * Resolves a target (`udp://h:p`, `ws://h:p/path`, ...) to a PeerAddress, opening a
   * connection if the transport is connection-oriented.
   */
  dial(target: string, options?: Record<string, unknown>): Promise<PeerAddress>
  /** Sends a batch. Never throws for network errors: counts them and reports via onError. */
  send(batch: TxBatch): void
  /**
   * Sends datagrams each to its own destination (of this transport), as `send` does otherwise.
   * Optional: without it the driver calls `send` once per run of one destination. The native
   * UDP transport sends the whole batch in one sendmmsg (a msg_name per message).
   */
  sendMulti?(batch: MultiTxBatch): void
  /**
   * True while the transport can accept more for `to` (connection-oriented transports: below
   * the high-water mark). The driver asks after each send; a transport that answers false
   * must call `onWritable(to)` when it can take more again, or that path stays held back.
   */
  writable?(to: PeerAddress): boolean
  /** Forgets a connection (connection-oriented transports close it). */
  release?(addr: PeerAddress): void
  getStats(): TransportStats
  close(): Promise<void>
}
