/**
 * The values the sans-I/O core (src/protocol/) and the transports (src/transport/) exchange:
 * peer addresses and batches of datagrams. Neither layer imports the other; both import this.
 *
 * A PeerAddress is a plain value, like quinn's SocketAddr: it says where a datagram came from
 * or goes to, never *how* to send there. The driver (src/node.ts) maps `kind` (and `family`
 * for UDP) to the transport that reaches it, so the core never holds a live transport object.
 */

export type TransportKind = 'udp' | 'websocket' | 'channel' | (string & {})

/**
 * Where a datagram came from or goes to. Created by transports; compared by `key`, which is
 * stable for the same remote endpoint (e.g. `udp:127.0.0.1:9000`, `ws:17`). Transports may
 * create subclasses that carry their own private data (the native UDP send record), but
 * nothing in an address may reach back into a transport.
 */
export interface PeerAddress {
  /** Stable identity of the remote endpoint on this node, usable as a Map key. */
  readonly key: string
  /** Kind of the transport that created it (the driver routes by it). */
  readonly kind: TransportKind
  /** True when that transport delivers reliably and in order (TCP-based): bare mode is allowed. */
  readonly reliable: boolean
  /** IP family when the address is an IP endpoint. */
  readonly family?: 'IPv4' | 'IPv6'
  /** Host and port when the transport has them (UDP, WebSocket). */
  readonly host?: string
  readonly port?: number
  /** Human-readable form, e.g. `udp://127.0.0.1:9000` or `wss://host:443/stt`. */
  toString(): string
}

/**
 * Datagrams to one destination. Datagram i is `slab[offsets[i], offsets[i] + lengths[i])`.
 * The transport may keep no reference to `slab` after `send` returns (copy if it must queue).
 */
export interface TxBatch {
  slab: Uint8Array
  offsets: Uint32Array
  lengths: Uint32Array
  count: number
  to: PeerAddress
}

/**
 * Datagrams each to its own destination: datagram i goes to `dests[i]`, all of one transport
 * kind. The endpoint hands the handshake answers of a receive batch over this way (one RETRY
 * per flooding address), so a transport with `sendMulti` sends them in one system call.
 * The transport may keep no reference to `slab` or `dests` after the call returns.
 */
export interface MultiTxBatch {
  slab: Uint8Array
  offsets: Uint32Array
  lengths: Uint32Array
  count: number
  dests: PeerAddress[]
}

/**
 * Received datagrams. Datagram i is `slab[offsets[i], offsets[i] + lengths[i])`, from
 * `from[i]`. The views are valid only during the receive callback (the slab is reused): the
 * receiver decrypts in place and copies what it keeps.
 */
export interface RxBatch {
  slab: Uint8Array
  offsets: Uint32Array
  lengths: Uint32Array
  count: number
  from: PeerAddress[]
  /**
   * The transport read all it could take in one go and the socket may hold more (the node is
   * behind): under a HELLO flood the endpoint then answers only a few token-less HELLOs of the
   * batch (Endpoint.handleBatch). Absent: not known (node:dgram, WebSocket, tests).
   */
  backlog?: boolean
  /**
   * When the transport read the batch, on the node's clock (src/clock.ts now()), so the driver
   * needs no clock read of its own for it (issue 13). Absent or NaN: not stamped.
   */
  receivedAt?: number
}
