/**
 * WebSocket transport: STT packets as binary WebSocket messages (one packet per message) over
 * the `ws` package, for networks where UDP does not get through. Optional TLS (wss://) and HTTP
 * CONNECT proxies for the outbound side.
 *
 * Flow of one outbound batch (all synchronous, inside `send`):
 *   1. look the connection up by `to.key` (`ws:<n>`, one PeerAddress per WebSocket);
 *   2. admit datagrams while the connection's bufferedAmount stays under the hard cap
 *      (`4 × highWaterMark` by default) and the datagram fits the peer's maxPayload; the rest
 *      are dropped and counted ('queue-full', 'oversize'): STT's reliability resends them;
 *   3. copy the admitted datagrams once into one Buffer (the caller reuses its slab after
 *      `send` returns while the kernel may not have taken our bytes yet);
 *   4. cork the socket, `ws.send` each datagram as its own binary message, uncork: the frames
 *      leave in one writev instead of one syscall per datagram.
 * Inbound: every binary message is delivered as an RxBatch of count 1 over the message Buffer.
 *
 * Backpressure: `writable(to)` is `bufferedAmount < highWaterMark`. Once it has said false (or a
 * send crossed the mark) the transport calls `events.onWritable(addr)` when the socket drains.
 */

import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Server as TlsServer } from 'node:tls'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer, type ClientOptions, type RawData } from 'ws'
import { ErrorCode, STTConfigError, STTError, STTTransportError } from '../errors.js'
import type {
  BoundAddress,
  PeerAddress,
  RxBatch,
  Transport,
  TransportEvents,
  TransportStats,
  TxBatch,
} from './types.js'
import { openTunnel, parseProxyUrl } from './proxy-connect.js'
import { loadClientTLS } from './tls-options.js'
import { hostForUrl, normaliseRemote, SEND_OPTIONS, socketOf, WebSocketPeerAddress, type Conn } from './websocket-conn.js'
import { classifyDialError, parseDialTarget, pickClientTls, startTls, upgrade } from './websocket-dial.js'
import { answerPlainRequest, checkUpgrade, createOwnedServer, pathOf, writeRejection, type RejectReason } from './websocket-server.js'

import {
  CLOSE_GRACE_MS, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HIGH_WATER_MARK, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_PAYLOAD, DEFAULT_WEBSOCKET_PATH, FRAME_OVERHEAD, HARD_CAP_FACTOR, positive,
  type WebSocketDialOptions, type WebSocketTransportEvents, type WebSocketTransportOptions,
} from './websocket-options.js'

export type { ProxyAuth } from './proxy-connect.js'
export type { WebSocketClientTLSOptions, WebSocketServerTLSOptions, WebSocketTLSOptions } from './tls-options.js'
export {
  DEFAULT_CONNECT_TIMEOUT, DEFAULT_HIGH_WATER_MARK, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PAYLOAD,
  DEFAULT_WEBSOCKET_PATH, HARD_CAP_FACTOR,
} from './websocket-options.js'
export type { WebSocketDialOptions, WebSocketTransportEvents, WebSocketTransportOptions } from './websocket-options.js'

export class WebSocketTransport implements Transport {
  readonly kind = 'websocket'
  readonly reliable = true
  readonly maxDatagramSize: number

  private readonly opts: WebSocketTransportOptions
  private readonly path: string
  private readonly maxConnections: number
  private readonly idleTimeout: number
  private readonly highWaterMark: number
  private readonly hardCap: number
  private readonly connectTimeout: number

  private events: WebSocketTransportEvents | undefined
  private server: HttpServer | undefined
  private ownsServer = false
  private serverTls = false
  private wss: WebSocketServer | undefined
  private removeServerListeners: (() => void) | undefined
  /** Raw sockets of a server we own that are not (yet) WebSockets: destroyed on close. */
  private readonly rawSockets = new Set<Socket>()
  private readonly byKey = new Map<string, Conn>()
  /** Every connection not yet closed, including released ones still closing. */
  private readonly live = new Set<Conn>()
  private inboundLive = 0
  private readonly pendingDials = new Set<AbortController>()
  private nextId = 0
  private closing = false
  private closePromise: Promise<void> | undefined

  private readonly rx: RxBatch = {
    slab: new Uint8Array(0),
    offsets: new Uint32Array(1),
    lengths: new Uint32Array(1),
    count: 1,
    from: [],
  }

  private packetsSent = 0
  private packetsReceived = 0
  private bytesSent = 0
  private bytesReceived = 0
  private sendErrors = 0
  private readonly dropped: Record<string, number> = {}
  private readonly rejected: Record<string, number> = {}

  constructor(options: WebSocketTransportOptions = {}) {
    this.opts = options
    this.path = options.websocketPath ?? DEFAULT_WEBSOCKET_PATH
    if (!this.path.startsWith('/')) throw new STTConfigError(`websocketPath must start with "/" (got ${this.path})`)
    this.maxDatagramSize = positive(options.maxPayload, DEFAULT_MAX_PAYLOAD, 'maxPayload')
    this.maxConnections = positive(options.maxConnections, DEFAULT_MAX_CONNECTIONS, 'maxConnections')
    this.idleTimeout = positive(options.idleTimeout, DEFAULT_IDLE_TIMEOUT, 'idleTimeout')
    this.highWaterMark = positive(options.highWaterMark, DEFAULT_HIGH_WATER_MARK, 'highWaterMark')
    this.hardCap = positive(options.maxBufferedAmount, HARD_CAP_FACTOR * this.highWaterMark, 'maxBufferedAmount')
    if (this.hardCap < this.highWaterMark) throw new STTConfigError('maxBufferedAmount must be >= highWaterMark')
    this.connectTimeout = positive(options.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 'connectTimeout')
  }

  attach(events: TransportEvents): void {
    this.events = events
  }

  // ---------------------------------------------------------------------------------------
  // Server side
  // ---------------------------------------------------------------------------------------

  async listen(): Promise<BoundAddress> {
    this.requireUsable()
    if (this.server !== undefined) throw new STTConfigError('WebSocketTransport is already listening')
    const external = this.opts.server
    let server: HttpServer
    if (external !== undefined) {
      server = external
      this.serverTls = external instanceof TlsServer
    } else {
      const owned = await createOwnedServer(this.opts.tls, this.idleTimeout, this.maxConnections)
      server = owned.server
      this.serverTls = owned.tls
      this.ownsServer = true
    }
    this.server = server
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.maxDatagramSize,
      perMessageDeflate: false, // STT packets are ciphertext: deflate would only cost CPU
      clientTracking: false, // we track connections ourselves
      skipUTF8Validation: true, // text frames are rejected anyway
    })
    this.wss.on('wsClientError', (err: Error, socket: Duplex) => {
      this.countReject('bad-handshake')
      writeRejection(socket, { status: 400, reason: 'bad-handshake', body: err.message })
    })

    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void =>
      this.handleUpgrade(req, socket, head)
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      this.countReject('plain-http')
      answerPlainRequest(req, res, this.path)
    }
    const onTlsError = (): void => this.countReject('tls-handshake')
    const onDrop = (): void => this.countReject('too-many-sockets')
    const onConnection = (socket: Socket): void => {
      this.rawSockets.add(socket)
      socket.once('close', () => this.rawSockets.delete(socket))
    }
    server.on('upgrade', onUpgrade)
    server.on('tlsClientError', onTlsError)
    if (this.ownsServer) {
      server.on('request', onRequest)
      server.on('connection', onConnection)
      server.on('drop', onDrop)
    }
    this.removeServerListeners = () => {
      server.off('upgrade', onUpgrade)
      server.off('tlsClientError', onTlsError)
      server.off('request', onRequest)
      server.off('connection', onConnection)
      server.off('drop', onDrop)
    }

    if (!server.listening) {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException): void => {
          reject(
            new STTTransportError(
              ErrorCode.TRANSPORT,
              `cannot listen on ${this.opts.host ?? '*'}:${this.opts.port ?? 0}: ${err.code ?? err.message}`,
              { cause: err },
            ),
          )
        }
        server.once('error', onError)
        server.listen(this.opts.port ?? 0, this.opts.host, () => {
          server.off('error', onError)
          resolve()
        })
      }).catch((err: unknown) => {
        this.removeServerListeners?.()
        this.server = undefined
        throw err
      })
    }
    const a = server.address() as AddressInfo
    return { host: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' }
  }

  private handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // On a shared server other upgrade handlers may own other paths: leave those alone.
    if (!this.ownsServer && pathOf(req.url) !== this.path && (this.server?.listenerCount('upgrade') ?? 0) > 1) {
      return
    }
    socket.on('error', () => socket.destroy())
    const rejection = checkUpgrade(req, {
      path: this.path,
      connections: this.inboundLive,
      maxConnections: this.maxConnections,
      closing: this.closing,
    })
    if (rejection !== null) {
      this.countReject(rejection.reason)
      writeRejection(socket, rejection)
      return
    }
    const wss = this.wss
    if (wss === undefined) {
      socket.destroy()
      return
    }
    // No verifyClient: handleUpgrade completes synchronously, so inboundLive is exact.
    wss.handleUpgrade(req, socket, head, (ws) => {
      const remote = req.socket
      const host = normaliseRemote(remote.remoteAddress)
      const port = remote.remotePort ?? 0
      const secure = this.serverTls
      const text = `${secure ? 'wss' : 'ws'}://${hostForUrl(host)}:${port}`
      const conn = this.adopt(ws, true, secure, host, port, text)
      conn.idleTimer = setTimeout(() => {
        if (conn.active) return
        this.countReject('idle-timeout')
        conn.closeReason = `idle-timeout: no datagram within ${this.idleTimeout} ms`
        this.closeConn(conn, 1008, 'no STT packet received in time')
      }, this.idleTimeout)
      conn.idleTimer.unref()
    })
  }

  // ---------------------------------------------------------------------------------------
  // Client side
  // ---------------------------------------------------------------------------------------

  async dial(target: string, options: WebSocketDialOptions = {}): Promise<PeerAddress> {
    this.requireUsable()
    const { url, secure, host, port, display } = parseDialTarget(target)
    const proxySetting = options.proxy !== undefined ? options.proxy : this.opts.proxy
    const proxy = proxySetting !== undefined && proxySetting !== null ? parseProxyUrl(proxySetting) : undefined
    const timeout = options.connectTimeout ?? this.connectTimeout

    const ctl = new AbortController()
    this.pendingDials.add(ctl)
    const timer = setTimeout(() => {
      ctl.abort(
        new STTTransportError(
          ErrorCode.TIMEOUT,
          `WebSocket connection to ${display}${proxy ? ` via proxy ${proxy.display}` : ''} timed out after ${timeout} ms`,
        ),
      )
    }, timeout)
    const userSignal = options.signal
    const onUserAbort = (): void => {
      ctl.abort(new STTError(ErrorCode.ABORTED, `dial ${display} aborted`, { cause: userSignal?.reason }))
    }
    if (userSignal?.aborted) onUserAbort()
    else userSignal?.addEventListener('abort', onUserAbort, { once: true })

    let tunnel: Socket | undefined
    try {
      if (ctl.signal.aborted) throw ctl.signal.reason
      const tlsOpts = secure
        ? await loadClientTLS({ ...pickClientTls(this.opts.tls), ...options.tls })
        : undefined
      const wsOptions: ClientOptions & { servername?: string } = {
        perMessageDeflate: false,
        maxPayload: this.maxDatagramSize,
        followRedirects: false,
        skipUTF8Validation: true,
      }
      if (proxy !== undefined) {
        tunnel = await openTunnel({
          proxy,
          auth: options.proxyAuth ?? this.opts.proxyAuth,
          host,
          port,
          signal: ctl.signal,
        })
        const sock: Socket = tlsOpts ? await startTls(tunnel, host, tlsOpts, ctl.signal, display) : tunnel
        wsOptions.createConnection = () => sock
      } else if (tlsOpts) {
        wsOptions.rejectUnauthorized = tlsOpts.rejectUnauthorized
        if (tlsOpts.ca !== undefined) wsOptions.ca = tlsOpts.ca
        if (tlsOpts.servername !== undefined) wsOptions.servername = tlsOpts.servername
      }
      // Adopted inside 'open', synchronously: a message right behind the 101 is not lost.
      const conn = await upgrade(url.href, wsOptions, ctl.signal, display, (ws) =>
        this.adopt(ws, false, secure, host, port, display),
      )
      return conn.addr
    } catch (err) {
      tunnel?.destroy()
      throw classifyDialError(err, display)
    } finally {
      clearTimeout(timer)
      userSignal?.removeEventListener('abort', onUserAbort)
      this.pendingDials.delete(ctl)
    }
  }

  // ---------------------------------------------------------------------------------------
  // Connections
  // ---------------------------------------------------------------------------------------

  private adopt(ws: WebSocket, inbound: boolean, secure: boolean, host: string, port: number, text: string): Conn {
    const key = `ws:${++this.nextId}`
    let markClosed!: () => void
    const closed = new Promise<void>((r) => (markClosed = r))
    const conn: Conn = {
      addr: new WebSocketPeerAddress(key, host, port, text),
      ws,
      socket: socketOf(ws),
      inbound,
      secure,
      active: false,
      blocked: false,
      released: false,
      closed,
      markClosed,
    }
    ws.binaryType = 'nodebuffer'
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(conn, data, isBinary))
    ws.on('error', (err: Error & { code?: string }) => this.onWsError(conn, err))
    ws.once('close', (code: number, reason: Buffer) => this.onWsClose(conn, code, reason.toString()))
    conn.socket.on('drain', () => this.onDrain(conn))
    this.byKey.set(key, conn)
    this.live.add(conn)
    if (inbound) this.inboundLive++
    return conn
  }

  private onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    if (!isBinary) {
      this.drop('text-frame', 1)
      this.countReject('text-frame')
      conn.closeReason = 'text-frame: the peer sent a text message'
      this.closeConn(conn, 1003, 'STT carries binary messages only')
      return
    }
    if (conn.released) {
      this.drop('released', 1)
      return
    }
    // binaryType 'nodebuffer' makes every binary message one Buffer (fragments concatenated).
    const buf = data as Buffer
    if (buf.length === 0) {
      this.drop('empty', 1)
      return
    }
    if (!conn.active) {
      conn.active = true
      if (conn.idleTimer !== undefined) clearTimeout(conn.idleTimer)
    }
    this.packetsReceived++
    this.bytesReceived += buf.length
    const rx = this.rx
    rx.slab = buf
    rx.offsets[0] = 0
    rx.lengths[0] = buf.length
    rx.from[0] = conn.addr
    // A throw from the receiver is a bug above us: let it surface, do not swallow it here.
    this.events?.onReceive(rx)
  }

  private onWsError(conn: Conn, err: Error & { code?: string }): void {
    // ws follows every error with 'close'; here we only classify for stats and the reason.
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.drop('oversize', 1)
      this.countReject('oversize')
      conn.closeReason ??= `oversize: message larger than maxPayload (${this.maxDatagramSize} bytes)`
    } else if (err.code?.startsWith('WS_ERR_')) {
      this.drop('malformed', 1)
      this.countReject('protocol-error')
      conn.closeReason ??= `protocol-error: ${err.message}`
    } else {
      conn.closeReason ??= `error: ${err.code ?? err.message}`
    }
  }

  private onWsClose(conn: Conn, code: number, reason: string): void {
    clearTimeout(conn.idleTimer)
    clearTimeout(conn.graceTimer)
    clearTimeout(conn.drainPoll)
    if (this.byKey.get(conn.addr.key) === conn) this.byKey.delete(conn.addr.key)
    this.live.delete(conn)
    if (conn.inbound) this.inboundLive--
    conn.markClosed()
    if (conn.released) return
    const why =
      conn.closeReason ??
      (code === 1006 ? 'connection lost (1006)' : `closed by peer (${code}${reason ? `: ${reason}` : ''})`)
    this.events?.onPeerClosed?.(conn.addr, why, conn.closeReason === undefined && code === 1000)
  }

  /** Sends a close frame and destroys the socket if the peer does not answer in time. */
  private closeConn(conn: Conn, code: number, reason: string): void {
    if (conn.graceTimer !== undefined) return
    clearTimeout(conn.idleTimer)
    conn.ws.close(code, reason)
    conn.graceTimer = setTimeout(() => conn.ws.terminate(), CLOSE_GRACE_MS)
    conn.graceTimer.unref()
  }

  private onDrain(conn: Conn): void {
    if (!conn.blocked || conn.ws.bufferedAmount >= this.highWaterMark) return
    conn.blocked = false
    clearTimeout(conn.drainPoll)
    conn.drainPoll = undefined
    if (!conn.released) this.events?.onWritable?.(conn.addr)
  }

  private block(conn: Conn): void {
    if (conn.blocked) return
    conn.blocked = true
    // The socket only emits 'drain' if a write returned false, i.e. past its own
    // writableHighWaterMark (16 KiB). A highWaterMark below that never sees one: poll.
    if (!(conn.socket as Duplex & { writableNeedDrain?: boolean }).writableNeedDrain) {
      const poll = (): void => {
        conn.drainPoll = undefined
        if (!conn.blocked || conn.released) return
        if (conn.ws.bufferedAmount < this.highWaterMark) this.onDrain(conn)
        else {
          conn.drainPoll = setTimeout(poll, 5)
          conn.drainPoll.unref()
        }
      }
      conn.drainPoll = setTimeout(poll, 5)
      conn.drainPoll.unref()
    }
  }

  send(batch: TxBatch): void {
    const conn = this.byKey.get(batch.to.key)
    if (conn === undefined || conn.released || conn.ws.readyState !== WebSocket.OPEN) {
      this.sendErrors += batch.count
      this.drop('not-connected', batch.count)
      this.events?.onError?.(
        new STTTransportError(ErrorCode.WEBSOCKET_CLOSED, `cannot send to ${String(batch.to)}: connection is closed`),
      )
      return
    }
    const { slab, offsets, lengths, count } = batch
    const ws = conn.ws
    // 1. admission: bounded buffering, no datagram the peer would close the connection for.
    let buffered = ws.bufferedAmount
    let total = 0
    let admitted = 0
    const admit = new Uint8Array(count)
    for (let i = 0; i < count; i++) {
      const len = lengths[i]!
      if (len > this.maxDatagramSize) {
        this.drop('oversize', 1)
        continue
      }
      if (buffered + len + FRAME_OVERHEAD > this.hardCap) {
        this.drop('queue-full', 1)
        continue
      }
      buffered += len + FRAME_OVERHEAD
      total += len
      admit[i] = 1
      admitted++
    }
    if (admitted > 0) {
      // 2. one copy per batch: the slab is the caller's again once we return.
      const copy = Buffer.allocUnsafe(total)
      const socket = conn.socket
      let at = 0
      socket.cork()
      try {
        for (let i = 0; i < count; i++) {
          if (admit[i] === 0) continue
          const off = offsets[i]!
          const len = lengths[i]!
          copy.set(slab.subarray(off, off + len), at)
          ws.send(copy.subarray(at, at + len), SEND_OPTIONS)
          at += len
        }
      } finally {
        socket.uncork()
      }
      this.packetsSent += admitted
      this.bytesSent += total
    }
    if (ws.bufferedAmount >= this.highWaterMark) this.block(conn)
  }

  writable(to: PeerAddress): boolean {
    const conn = this.byKey.get(to.key)
    if (conn === undefined || conn.released || conn.ws.readyState !== WebSocket.OPEN) return false
    if (conn.ws.bufferedAmount < this.highWaterMark) return true
    this.block(conn)
    return false
  }

  /** Closes the connection behind `addr` with 1000; no onPeerClosed follows. */
  release(addr: PeerAddress): void {
    const conn = this.byKey.get(addr.key)
    if (conn === undefined) return
    this.byKey.delete(addr.key)
    conn.released = true
    this.closeConn(conn, 1000, 'released')
  }

  /** The buffered bytes of one connection (for diagnostics and tests). */
  bufferedAmount(to: PeerAddress): number {
    return this.byKey.get(to.key)?.ws.bufferedAmount ?? 0
  }

  getStats(): TransportStats {
    let inbound = 0
    let tlsOpen = 0
    for (const c of this.byKey.values()) {
      if (c.inbound) inbound++
      if (c.secure) tlsOpen++
    }
    return {
      kind: this.kind,
      packetsSent: this.packetsSent,
      packetsReceived: this.packetsReceived,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      sendErrors: this.sendErrors,
      dropped: { ...this.dropped },
      connections: this.byKey.size,
      inboundConnections: inbound,
      outboundConnections: this.byKey.size - inbound,
      /** The listener serves wss://, or at least one open connection uses TLS. */
      tls: this.serverTls || tlsOpen > 0,
      tlsConnections: tlsOpen,
      /** Connections turned away or closed by this transport, by reason. */
      rejected: { ...this.rejected },
      listening: this.server?.listening ?? false,
    }
  }

  close(): Promise<void> {
    this.closePromise ??= this.doClose()
    return this.closePromise
  }

  private async doClose(): Promise<void> {
    this.closing = true
    for (const ctl of this.pendingDials) {
      ctl.abort(new STTError(ErrorCode.ABORTED, 'WebSocket transport closed during dial'))
    }
    for (const conn of this.live) {
      this.byKey.delete(conn.addr.key)
      conn.released = true
      this.closeConn(conn, 1001, 'going away')
    }
    const server = this.server
    this.removeServerListeners?.()
    this.wss?.close()
    // Close frames first (bounded by CLOSE_GRACE_MS), then the server and any socket left.
    await Promise.all([...this.live].map((c) => c.closed))
    if (server !== undefined && this.ownsServer) {
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      // Sockets mid-TLS-handshake or mid-request are not HTTP connections yet: close() would wait on them.
      for (const s of this.rawSockets) s.destroy()
      await serverClosed
    }
    this.server = undefined
  }

  private requireUsable(): void {
    if (this.events === undefined) {
      throw new STTError(ErrorCode.NOT_STARTED, 'WebSocketTransport: attach() must be called before listen()/dial()')
    }
    if (this.closing) throw new STTError(ErrorCode.NOT_STARTED, 'WebSocketTransport is closed')
  }

  private drop(reason: string, n: number): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + n
  }

  private countReject(reason: RejectReason): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1
  }
}
