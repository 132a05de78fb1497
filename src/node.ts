/**
 * STTNode: the driver that connects the sans-I/O endpoint to real transports and timers,
 * and the public API of a node.
 *
 * Service loop (runs after every received batch, timer, and application call):
 *   1. endpoint.handleBatch / handleTimeout
 *   2. drain endpoint events -> public events, connect promises, stream callbacks
 *   3. transmit: pollTransmit -> transport.send, at most MAX_TX_BATCHES_PER_TURN batches,
 *      then yield to the event loop (setImmediate) so receiving is never starved
 *   4. arm one timer for endpoint.pollTimeout()
 */
import { EventEmitter } from 'node:events'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { resolveProtocolConfig, type ProtocolConfig } from './config.js'
import { aead as defaultAead, jsAead, nativeAead } from './crypto/index.js'
import { ErrorCode, STTConfigError, STTError, WireError } from './errors.js'
import { Endpoint, type EndpointEvent } from './protocol/endpoint.js'
import { STTSession } from './session.js'
import { createTransports, createUdp, createWebSocket, type TransportName, type TransportSetOptions } from './transport/factory.js'
import type { BoundAddress, PeerAddress, RxBatch, Transport, TransportStats } from './transport/types.js'
import { parseTarget } from './transport/address.js'
import { NativeUdpTransport } from './transport/udp-native.js'
import { isIP } from 'node:net'
import { connectAuto } from './auto-connect.js'
import { Fifo } from './fifo.js'

const BUILTIN_SCHEMES = new Set(['udp', 'ws', 'wss', 'auto'])
/** Bounded work per event-loop turn (quinn's IO_LOOP_BOUND idea): then yield. */
const MAX_TX_BATCHES_PER_TURN = 64
const MAX_RECEIVE_QUEUE = 65_536
/** Single-datagram receives answered together after the event-loop turn (bounds the delay). */
const MAX_DEFERRED_RECEIVES = 64
/** Dropped datagrams after which a connection without a session is closed. */
const GARBAGE_LIMIT = 64

export interface STTNodeOptions extends TransportSetOptions {
  sharedSeed: Uint8Array | string
  nodeSeed?: Uint8Array | string
  name?: string
  cipher?: 'aes-256-gcm' | 'chacha20-poly1305' | Array<'aes-256-gcm' | 'chacha20-poly1305'>
  handshakeTimeout?: number
  keepAliveInterval?: number
  keepAliveTimeout?: number
  maxSessions?: number
  maxConcurrentStreams?: number
  maxPacketSize?: number
  streamReceiveWindow?: number
  sessionReceiveWindow?: number
  streamSendBuffer?: number
  maxMessageSize?: number
  congestionControl?: 'newreno' | 'cubic'
  rekeyAfterPackets?: number
  rekeyAfterMs?: number
  stealth?: boolean
  handshakeRetryInitial?: number
  reliablePacketSize?: number
  helloMaxSkew?: number
  retryThreshold?: number
  maxQueuedDatagrams?: number
  /** Force this node's packet protection backend ('js' also makes UDP use node:dgram). */
  backend?: 'native' | 'js'
  /** Seeded randomness for tests; production uses crypto.randomBytes. */
  random?: (n: number) => Uint8Array
  [option: string]: unknown
}

export interface ConnectOptions {
  signal?: AbortSignal
  /** Handshake timeout for this connect, ms. */
  timeout?: number
  /** Expected node id (32 bytes, or hex): a different peer fails with STT_PEER_MISMATCH. */
  peerNodeId?: Uint8Array | string
  /** Force a transport: 'udp' | 'websocket' | 'auto'. */
  transport?: 'udp' | 'websocket' | 'auto'
  /** Over WebSocket: keep STT's own retransmission and congestion control (default: rely on TCP). */
  fullReliability?: boolean
  /** auto: how long UDP gets before WebSocket is tried in parallel (ms, default 300). */
  fallbackDelay?: number
  [option: string]: unknown
}

export interface ReceivedPacket {
  sessionId: string
  streamId: number
  data: Buffer
}

interface PendingConnect {
  resolve: (s: STTSession) => void
  reject: (e: Error) => void
}

export class STTNode extends EventEmitter {
  readonly config: ProtocolConfig
  private readonly random: (n: number) => Uint8Array
  private readonly transportOptions: STTNodeOptions
  private endpoint: Endpoint | null = null
  private transports: Map<string, Transport> = new Map()
  private readonly sessions = new Map<string, STTSession>()
  private readonly byCore = new Map<object, STTSession>()
  private readonly connects = new Map<number, PendingConnect>()
  private timer: NodeJS.Timeout | null = null
  private timerAt = Infinity
  private serviceScheduled = false
  private urgentScheduled = false
  private started = false
  private stopping = false
  private readonly receiveQueue = new Fifo<ReceivedPacket>()
  private readonly receiveWaiters: Array<(p: ReceivedPacket | null) => void> = []
  private receiveDropped = 0
  private readonly nodeIdBytes: Buffer

  constructor(options: STTNodeOptions) {
    super()
    if (!options || typeof options !== 'object') throw new STTConfigError('STTNode needs an options object with at least sharedSeed')
    this.random = options.random ?? ((n) => new Uint8Array(randomBytes(n)))
    this.config = resolveProtocolConfig(options as Record<string, unknown>, this.random)
    this.transportOptions = options.backend === 'js' && options.udpBackend === undefined ? { ...options, udpBackend: 'dgram' } : options
    // Validate transport options now so bad input fails at the call, not at start().
    createTransports(options, true)
    this.endpoint = new Endpoint(this.config, this.chooseAead(options.backend), this.random, this.now())
    this.nodeIdBytes = Buffer.from(this.endpoint.nodeId)
  }

  /**
   * Packet protection for this node: the process default (native when the addon loaded), or
   * forced per node: 'js' (node:crypto) or 'native' (an error if the addon is not loaded).
   */
  private chooseAead(backend: unknown) {
    if (backend === undefined) return defaultAead
    if (backend === 'js') return jsAead
    if (backend === 'native') {
      if (!nativeAead) throw new STTError(ErrorCode.NATIVE_UNAVAILABLE, "backend 'native' requested but the native addon is not loaded (see the install warning; STT_NATIVE)")
      return nativeAead
    }
    throw new STTConfigError("backend must be 'native' or 'js'")
  }

  /** This node's public id: SHA3-256 of its static public key (32 bytes). */
  get nodeId(): Buffer {
    return this.nodeIdBytes
  }

  private now(): number {
    return performance.timeOrigin + performance.now()
  }

  private get ep(): Endpoint {
    if (!this.endpoint || !this.started) throw new STTError(ErrorCode.NOT_STARTED, 'node is not started: call await node.start() first')
    return this.endpoint
  }

  /** Opens the configured transports; resolves with every bound address. */
  async start(): Promise<BoundAddress & { websocketPort?: number; addresses: Record<string, BoundAddress> }> {
    if (this.started) throw new STTError(ErrorCode.CONFIG, 'node already started')
    const o = this.transportOptions
    // WebSocket shares the UDP port number by default (TCP and UDP ports are separate).
    const samePort = o.websocketPort === undefined && !o.transportImpl && Array.isArray(o.transport) && o.transport.includes('udp') && o.transport.includes('websocket')
    let set = createTransports(o, false)
    const addresses: Record<string, BoundAddress> = {}
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          for (const [name, t] of set.listeners) {
            if (name === 'websocket' && samePort && addresses['udp']) {
              const ws = createWebSocket({ ...o, websocketPort: addresses['udp'].port }, true)
              set.listeners.set('websocket', ws)
              t.close().catch(() => {})
              ws.attach(this.transportEvents(ws))
              addresses[name] = await ws.listen()
              this.transports.set(name, ws)
              continue
            }
            t.attach(this.transportEvents(t))
            addresses[name] = await t.listen()
            this.transports.set(name, t)
          }
          break
        } catch (err) {
          // Port 0: the TCP twin of the UDP port we got may be taken; try another pair.
          if (!(samePort && !o.port && attempt < 8 && addresses['udp'] && !addresses['websocket'])) throw err
          await Promise.all([...this.transports.values()].map((t) => t.close().catch(() => {})))
          this.transports.clear()
          for (const k of Object.keys(addresses)) delete addresses[k]
          set = createTransports(o, false)
        }
      }
      for (const [name, t] of set.dialers) {
        t.attach(this.transportEvents(t))
        this.transports.set(name, t)
      }
    } catch (err) {
      await Promise.all([...this.transports.values()].map((t) => t.close().catch(() => {})))
      this.transports.clear()
      throw err
    }
    this.started = true
    this.endpoint!.onDrop = (reason, from) => {
      if (this.listenerCount('drop') > 0) this.emit('drop', { reason, from: from.toString() })
      this.noteConnectionDrop(from)
    }
    this.endpoint!.acceptingConnections = this.transportOptions.acceptConnections !== false
    const first = addresses[set.primary] ?? Object.values(addresses)[0] ?? { host: '', port: 0 }
    return { ...first, websocketPort: addresses['websocket']?.port, addresses }
  }

  private transportEvents(t: Transport) {
    return {
      onReceive: (batch: RxBatch) => this.onReceive(batch),
      onPeerClosed: (addr: PeerAddress, reason: string) => {
        this.garbage.delete(addr.key)
        this.endpoint?.handlePeerClosed(addr, reason)
        this.service()
      },
      onError: (err: Error) => {
        if (this.listenerCount('transport-error') > 0) this.emit('transport-error', err, t.kind)
      },
      // The transport drained a path the endpoint was holding back (handleBlocked in service).
      onWritable: (addr: PeerAddress) => {
        this.endpoint?.handleWritable(addr.key)
        this.scheduleService(true)
      },
    }
  }

  private onReceive(batch: RxBatch): void {
    if (!this.endpoint || !this.started) return
    this.endpoint.handleBatch(this.now(), batch)
    // node:dgram hands over one datagram per callback, many per event-loop turn: answer
    // (ACKs, echoes) once after the turn instead of once per datagram. Batching transports
    // already deliver a whole turn's worth at once.
    if (batch.count === 1 && this.pendingReceives++ < MAX_DEFERRED_RECEIVES) this.scheduleService(false)
    else {
      this.pendingReceives = 0
      this.service()
    }
  }
  private pendingReceives = 0

  /** Asks for a transmit pass: now-ish (microtask) when urgent, else after I/O (setImmediate). */
  flush(urgent: boolean): void {
    this.scheduleService(urgent)
  }

  private scheduleService(urgent: boolean): void {
    if (urgent) {
      if (this.urgentScheduled) return
      this.urgentScheduled = true
      queueMicrotask(() => {
        this.urgentScheduled = false
        this.service()
      })
      return
    }
    if (this.serviceScheduled) return
    this.serviceScheduled = true
    setImmediate(() => {
      this.serviceScheduled = false
      this.pendingReceives = 0
      this.service()
    })
  }

  private service(): void {
    const ep = this.endpoint
    if (!ep || !this.started) return
    this.drainEvents(ep)
    const now = this.now()
    let batches = 0
    for (let tx = ep.pollTransmit(now); tx; tx = ep.pollTransmit(now)) {
      const t = this.transportOf(tx.to)
      if (!t) {
        // A path whose transport is gone (stopped dialer): nothing can reach it.
        ep.handleBlocked(tx.to.key)
        continue
      }
      t.send(tx)
      // Writability is an input of the core: a transport above its high-water mark holds the
      // path back until its onWritable (see Endpoint.handleBlocked).
      if (t.writable !== undefined && !t.writable(tx.to)) ep.handleBlocked(tx.to.key)
      if (++batches >= MAX_TX_BATCHES_PER_TURN) {
        this.scheduleService(false)
        break
      }
    }
    this.drainEvents(ep)
    this.armTimer(ep.pollTimeout(now))
  }

  /**
   * The transport that reaches `addr` (addresses are plain values): by kind, and for UDP by
   * family when a second socket serves the other family (udp4/udp6, see udpFor).
   */
  private transportOf(addr: PeerAddress): Transport | undefined {
    if (addr.kind === 'udp') {
      if (addr.family !== undefined && this.udpPerFamily) {
        const t = this.transports.get(addr.family === 'IPv6' ? 'udp6' : 'udp4')
        if (t) return t
      }
      return this.transports.get('udp')
    }
    return this.transports.get(String(addr.kind))
  }

  private armTimer(at: number): void {
    // Re-arming a Node timer costs a heap insert; only move it earlier. A timer that fires
    // early just re-evaluates pollTimeout and arms again.
    if (this.timer && at >= this.timerAt) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.timerAt = at
    if (at === Infinity) return
    const delay = Math.max(0, at - this.now())
    this.timer = setTimeout(() => {
      this.timer = null
      this.timerAt = Infinity
      if (!this.endpoint || !this.started) return
      this.endpoint.handleTimeout(this.now())
      this.service()
    }, Math.ceil(delay))
  }

  private drainEvents(ep: Endpoint): void {
    for (let e = ep.pollEvent(); e; e = ep.pollEvent()) this.handleEvent(e)
  }

  private wrap(core: EndpointEvent & { session: unknown }): STTSession {
    const c = (core as { session: import('./protocol/session.js').Session }).session
    let s = this.byCore.get(c)
    if (!s) {
      s = new STTSession(c, {
        flush: (u) => this.flush(u),
        now: () => this.now(),
        onMessage: (sess, streamId, data) => this.onMessage(sess, streamId, data),
        dial: (target, options) => this.dialFor(target, options),
      })
      this.byCore.set(c, s)
      this.sessions.set(s.id, s)
    }
    return s
  }

  private handleEvent(e: EndpointEvent): void {
    switch (e.type) {
      case 'connected': {
        const s = this.wrap(e)
        const p = this.connects.get(e.handle)
        this.connects.delete(e.handle)
        this.emit('session', s)
        p?.resolve(s)
        return
      }
      case 'connect-failed': {
        const p = this.connects.get(e.handle)
        this.connects.delete(e.handle)
        if (this.listenerCount('handshake-failed') > 0) this.emit('handshake-failed', e.error)
        p?.reject(e.error)
        return
      }
      case 'accepted':
        this.emit('session', this.wrap(e))
        return
      case 'session': {
        const s = this.byCore.get(e.session)
        if (!s) return
        s.handleEvent(e.event)
        if (e.event.type === 'closed') {
          this.sessions.delete(s.id)
          this.byCore.delete(e.session)
          this.releaseConnection(e.session)
        }
        return
      }
    }
  }

  /**
   * Fix (node-ws-lifecycle.test.ts): a WebSocket connection exists for its session; without
   * this, every closed session left its TCP connection open on both sides until node.stop(),
   * so a long-running server filled up maxConnections (then answered 503) with dead
   * connections. The 'closed' event comes after SESSION_CLOSE was handed to the transport
   * (local close) or received (remote close), and ws sends its close frame after buffered
   * data, so nothing of the session is cut off. Connectionless transports have no release().
   */
  private releaseConnection(core: import('./protocol/session.js').Session): void {
    const addr = core.address
    const transport = this.transportOf(addr)
    if (!transport?.release || !this.endpoint) return
    for (const other of this.endpoint.allSessions()) {
      if (other !== core && other.address.key === addr.key && other.state !== 'closed' && other.state !== 'closing') return
    }
    transport.release(addr)
  }

  /**
   * A connection (WebSocket) that keeps sending what we drop and carries no session is a
   * client that is not speaking STT with us: after GARBAGE_LIMIT drops it is closed, so such
   * clients cannot hold connections (maxConnections) open forever. Connectionless transports
   * (UDP) have no release() and are unaffected.
   */
  private noteConnectionDrop(from: PeerAddress): void {
    const transport = this.transportOf(from)
    if (!transport?.release || !this.endpoint) return
    const n = (this.garbage.get(from.key) ?? 0) + 1
    if (n < GARBAGE_LIMIT) {
      if (this.garbage.size < 65_536) this.garbage.set(from.key, n)
      return
    }
    this.garbage.delete(from.key)
    for (const s of this.endpoint.allSessions()) if (s.address.key === from.key && s.state !== 'closed') return
    transport.release(from)
  }
  private readonly garbage = new Map<string, number>()

  private onMessage(session: STTSession, streamId: number, data: Uint8Array): void {
    const p: ReceivedPacket = { sessionId: session.id, streamId, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) }
    session.emit('message', p)
    const w = this.receiveWaiters.shift()
    if (w) return w(p)
    if (this.receiveQueue.length >= MAX_RECEIVE_QUEUE) {
      // Nobody is reading node.receive(): keep the newest messages, count the dropped ones.
      this.receiveQueue.shift()
      this.receiveDropped++
    }
    this.receiveQueue.push(p)
  }

  /**
   * Messages sent with session.send / sendToSessions / sendToAll, from every session, in
   * arrival order. Ends when the node stops.
   */
  async *receive(): AsyncGenerator<ReceivedPacket> {
    for (;;) {
      const p = this.receiveQueue.shift()
      if (p) {
        yield p
        continue
      }
      if (this.stopping || !this.started) return
      const next = await new Promise<ReceivedPacket | null>((r) => this.receiveWaiters.push(r))
      if (next === null) return
      yield next
    }
  }

  /**
   * Connects to a peer: 'udp://host:port', 'ws://host:port/stt', 'wss://...', 'auto://host:port'
   * (UDP first, WebSocket in parallel after a short delay), or { host, port }.
   */
  async connect(target: string | { host: string; port: number }, opts: ConnectOptions = {}): Promise<STTSession> {
    const ep = this.ep
    const url = typeof target === 'string' ? target : `udp://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`
    const forced = opts.transport
    let transport: Transport | undefined
    // A pluggable transport (transportImpl) is dialled by its own scheme: `<kind>://...`.
    const custom = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase()
    if (custom && !BUILTIN_SCHEMES.has(custom) && !forced) {
      transport = [...this.transports.values()].find((t) => String(t.kind) === custom)
      if (!transport) throw new STTConfigError(`unsupported scheme ${custom}:// (use udp://, ws://, wss://, auto:// or a transportImpl of that kind)`)
    } else {
      const parsed = parseTarget(url, forced === 'websocket' ? 'ws' : forced ?? 'udp')
      const scheme = forced === 'auto' ? 'auto' : parsed.scheme
      if (scheme === 'auto') return connectAuto(this, parsed, opts)
      const name: TransportName = scheme === 'udp' ? 'udp' : scheme === 'ws' || scheme === 'wss' ? 'websocket' : (() => {
        throw new STTConfigError(`unsupported scheme ${scheme}:// (use udp://, ws://, wss:// or auto://)`)
      })()
      transport = this.transports.get(name)
      if (!transport) throw new STTConfigError(`this node has no ${name} transport`)
      // A UDP socket has one address family: reach the other family through a second socket.
      if (name === 'udp' && isIP(parsed.host) !== 0 && transport.kind === 'udp') transport = await this.udpFor(isIP(parsed.host) === 6 ? 6 : 4, transport)
    }
    let peerNodeId: Uint8Array | undefined
    if (opts.peerNodeId !== undefined) {
      peerNodeId = typeof opts.peerNodeId === 'string' ? Buffer.from(opts.peerNodeId, 'hex') : opts.peerNodeId
      if (peerNodeId.length !== 32) throw new STTConfigError('peerNodeId must be 32 bytes (64 hex characters)')
    }
    if (opts.timeout !== undefined && (!Number.isFinite(opts.timeout) || opts.timeout <= 0)) throw new STTConfigError('timeout must be a positive number of ms')
    if (opts.signal?.aborted) throw new STTError(ErrorCode.ABORTED, 'connect aborted')
    const addr = await transport.dial(url, opts as Record<string, unknown>)
    if (opts.signal?.aborted) {
      transport.release?.(addr)
      throw new STTError(ErrorCode.ABORTED, 'connect aborted')
    }
    // Over a reliable transport (WebSocket, or a reliable pluggable one) rely on it for delivery.
    const handle = ep.connect(this.now(), addr, { peerNodeId, timeout: opts.timeout, bare: transport.reliable && opts.fullReliability !== true })
    const promise = new Promise<STTSession>((resolve, reject) => {
      this.connects.set(handle, { resolve, reject })
      opts.signal?.addEventListener(
        'abort',
        () => {
          if (!this.connects.has(handle)) return
          this.connects.delete(handle)
          ep.cancel(handle)
          reject(new STTError(ErrorCode.ABORTED, 'connect aborted'))
        },
        { once: true },
      )
    })
    this.service()
    return promise.catch((err) => {
      transport.release?.(addr)
      throw err
    })
  }

  /** A udp4 or udp6 transport exists besides 'udp' (transportOf routes by family then). */
  private udpPerFamily = false

  private async udpFor(family: 4 | 6, primary: Transport): Promise<Transport> {
    // node:dgram transports open a socket per family themselves; the native one is one socket.
    if (!(primary instanceof NativeUdpTransport)) return primary
    await primary.listen()
    if (primary.socketFamily === family) return primary
    const key = `udp${family}`
    let t = this.transports.get(key)
    if (!t) {
      t = createUdp({ ...this.transportOptions, host: family === 6 ? '::' : '0.0.0.0', port: 0 }, true)
      t.attach(this.transportEvents(t))
      await t.listen()
      this.transports.set(key, t)
      this.udpPerFamily = true
    }
    return t
  }

  /** An address for `target` on the matching transport (session migration). */
  private async dialFor(target: string, options: Record<string, unknown>): Promise<PeerAddress> {
    const parsed = parseTarget(target, 'udp')
    const name = parsed.scheme === 'udp' ? 'udp' : parsed.scheme === 'ws' || parsed.scheme === 'wss' ? 'websocket' : null
    if (!name) throw new STTConfigError(`cannot migrate to ${parsed.scheme}:// (use udp://, ws:// or wss://)`)
    let transport = this.transports.get(name)
    if (!transport) throw new STTConfigError(`this node has no ${name} transport`)
    if (name === 'udp' && isIP(parsed.host) !== 0) transport = await this.udpFor(isIP(parsed.host) === 6 ? 6 : 4, transport)
    return transport.dial(target, options)
  }

  /** STT-style alias of connect('udp://host:port'). */
  connectUdp(host: string, port: number, opts: ConnectOptions = {}): Promise<STTSession> {
    return this.connect({ host, port }, { ...opts, transport: 'udp' })
  }

  /** STT-style alias of connect('ws://...') / connect('wss://...'). */
  connectWebSocket(url: string, opts: ConnectOptions = {}): Promise<STTSession> {
    return this.connect(url, { ...opts, transport: 'websocket' })
  }

  getSession(id: string): STTSession | undefined {
    return this.sessions.get(id)
  }

  getActiveSessions(): STTSession[] {
    return [...this.sessions.values()].filter((s) => !s.closed)
  }

  /** Sends one message to each listed session (by id); resolves when all are buffered. */
  async sendToSessions(ids: string[], data: Uint8Array, opts: { streamId?: number } = {}): Promise<void> {
    const targets = ids.map((id) => {
      const s = this.sessions.get(id)
      if (!s) throw new STTError(ErrorCode.SESSION_NOT_FOUND, `no session ${id}`)
      return s
    })
    await Promise.all(targets.map((s) => s.send(data, opts)))
  }

  async sendToAll(data: Uint8Array, opts: { streamId?: number } = {}): Promise<void> {
    await Promise.all(this.getActiveSessions().map((s) => s.send(data, opts)))
  }

  /** Accept inbound handshakes (default) or not. */
  enableAcceptConnections(): void {
    this.ep.acceptingConnections = true
  }
  disableAcceptConnections(): void {
    this.ep.acceptingConnections = false
  }

  /**
   * Transport statistics: totals (packetsSent, packetsReceived, bytesSent, bytesReceived,
   * lossRate, dropped by reason) and each transport's own figures under `transports`.
   */
  getTransportStats() {
    const per: Record<string, TransportStats> = {}
    const total = { packetsSent: 0, packetsReceived: 0, bytesSent: 0, bytesReceived: 0, sendErrors: 0 }
    const dropped: Record<string, number> = {}
    for (const [name, t] of this.transports) {
      const s = t.getStats()
      per[name] = s
      total.packetsSent += s.packetsSent
      total.packetsReceived += s.packetsReceived
      total.bytesSent += s.bytesSent
      total.bytesReceived += s.bytesReceived
      total.sendErrors += s.sendErrors
      for (const [k, v] of Object.entries(s.dropped)) dropped[`${name}:${k}`] = (dropped[`${name}:${k}`] ?? 0) + v
    }
    let sent = 0
    let lost = 0
    if (this.endpoint) {
      for (const [k, v] of Object.entries(this.endpoint.counters.dropped)) dropped[k] = (dropped[k] ?? 0) + v
      for (const s of this.endpoint.allSessions()) {
        sent += s.counters.packetsSent
        lost += s.counters.lostPackets
        for (const [k, v] of Object.entries(s.counters.dropped)) dropped[k] = (dropped[k] ?? 0) + v
      }
    }
    if (this.receiveDropped) dropped['receive-queue-full'] = this.receiveDropped
    return {
      ...total,
      lossRate: sent ? lost / sent : 0,
      dropped,
      droppedTotal: Object.values(dropped).reduce((a, b) => a + b, 0),
      handshakes: this.endpoint ? { ...this.endpoint.counters, dropped: undefined } : undefined,
      sessions: this.sessions.size,
      transports: per,
    }
  }

  /** The transport registered under `name` (udp, websocket, udp4/udp6 dialers): for tools and tests. */
  transportFor(name: string): Transport | undefined {
    return this.transports.get(name)
  }

  /** Closes every session (SESSION_CLOSE to each peer) and every transport. */
  async stop(reason = 'node stopping'): Promise<void> {
    if (!this.started || this.stopping) return
    this.stopping = true
    const ep = this.endpoint!
    ep.closeAll(this.now(), WireError.NO_ERROR, reason)
    this.service()
    // Give the SESSION_CLOSE packets a turn to leave.
    await new Promise((r) => setImmediate(r))
    this.service()
    for (const s of [...this.sessions.values()]) s.handleEvent({ type: 'closed', code: WireError.NO_ERROR, reason, remote: false })
    this.sessions.clear()
    this.byCore.clear()
    for (const p of this.connects.values()) p.reject(new STTError(ErrorCode.SESSION_CLOSED, `node stopped: ${reason}`))
    this.connects.clear()
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.started = false
    await Promise.all([...this.transports.values()].map((t) => t.close()))
    this.transports.clear()
    for (const w of this.receiveWaiters.splice(0)) w(null)
    this.stopping = false
  }
}
