/**
 * STTNode: the public face of a node. A thin facade: option checking, then everything is
 * forwarded to the internal driver (driver.ts: endpoint, timer, service loop), which routes
 * targets to transports through router.ts. Nothing internal is reachable from an STTNode.
 *
 * Events: 'session' (STTSession), 'handshake-failed' (an inbound or outbound handshake failed,
 * like tls.Server's 'tlsClientError'; informational), 'drop' ({ reason, from }: a datagram
 * was dropped), 'transport-error' (err, kind: a send failed; counted in stats as well).
 * See docs/guide/06-events-stats.md for when 'error' is (and is not) emitted.
 */
import { EventEmitter } from 'node:events'
import { RandomPool } from './crypto/random-pool.js'
import { connectAuto } from './auto-connect.js'
import { DEFAULTS, congestionControlOption, resolveProtocolConfig, resumableOption, resumeOptions, resumeTimeoutOption } from './config.js'
import { TEST_RANDOM } from './internal/test-hooks.js'
import { aead as defaultAead, jsAead, nativeAead } from './crypto/index.js'
import type { AeadBackend } from './crypto/aead.js'
import { Driver } from './driver.js'
import { ErrorCode, STTConfigError, STTError, STTSessionError } from './errors.js'
import { checkKeys, keysOf } from './options.js'
import { NatTraversal, type RelayLimits } from './nat/index.js'
import type { ReceivedPacket } from './receive-queue.js'
import type { StartResult } from './router.js'
import type { STTSession } from './session.js'
import type { TransportSetOptions } from './transport/factory.js'
import type { ProxyAuth, WebSocketClientTLSOptions } from './transport/websocket.js'
import type { Transport, TransportStats } from './transport/types.js'

export type { ReceivedPacket } from './receive-queue.js'

/** node.receive() keeps at most this many bytes for a reader that is behind. */
const DEFAULT_RECEIVE_QUEUE_BYTES = 16 << 20

export type CipherName = 'aes-256-gcm' | 'chacha20-poly1305'

export interface STTNodeOptions extends TransportSetOptions {
  sharedSeed: Uint8Array | string
  nodeSeed?: Uint8Array | string
  name?: string
  cipher?: CipherName | CipherName[]
  /** @deprecated Alias of `cipher`. */
  ciphers?: CipherName | CipherName[]
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
  /** BBRv3 (default), CUBIC or NewReno; per connect too (ConnectOptions). */
  congestionControl?: 'bbr' | 'cubic' | 'newreno'
  /** Bound on auto-tuned windows and send buffers per session (bytes, default 64 MiB). */
  sessionMemoryLimit?: number
  rekeyAfterPackets?: number
  rekeyAfterMs?: number
  stealth?: boolean
  handshakeRetryInitial?: number
  reliablePacketSize?: number
  helloMaxSkew?: number
  retryThreshold?: number
  maxQueuedDatagrams?: number
  /** Bytes node.receive() keeps for running readers that are behind (default 16 MiB). */
  maxReceiveQueueBytes?: number
  /** Force this node's packet protection backend ('js' also makes UDP use node:dgram). */
  backend?: 'native' | 'js'
  /** Suspend a session whose peer is silent past keepAliveTimeout instead of closing it (default true; not in bare mode). */
  resumable?: boolean
  /** How long a suspended session waits for its peer before STT_SESSION_EXPIRED (ms, default 10 min, at most 24 h). */
  resumeTimeout?: number
  /** Serve as relay and rendezvous for the group (true, or limits); docs/guide/09-nat.md. */
  relay?: boolean | RelayLimits
  /** The relay this node registers with after start (udp://, ws(s):// or auto://host:port); enables stt://<nodeId>. */
  rendezvous?: string
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
  /** wss://: client TLS settings for this dial (ca, servername, rejectUnauthorized, ...). */
  tls?: WebSocketClientTLSOptions
  /** WebSocket: HTTP CONNECT proxy for this dial; `null` dials directly. */
  proxy?: string | null
  proxyAuth?: ProxyAuth
  /** WebSocket: timeout of the dial (proxy, TLS and upgrade together), ms. */
  connectTimeout?: number
  /** Congestion controller of this session (default: the node's congestionControl). */
  congestionControl?: 'bbr' | 'cubic' | 'newreno'
  /** Per-connect resumable / resumeTimeout (default: the node's). */
  resumable?: boolean
  resumeTimeout?: number
  /** A session.resumptionToken: resume that session (same id) with a 1-RTT handshake, or fall back to a full one. */
  resume?: Uint8Array
  /** With `resume`: fail with STT_RESUME_REJECTED instead of falling back. */
  requireResume?: boolean
}

const NODE_OPTION_KEYS = keysOf<STTNodeOptions>({
  sharedSeed: true,
  nodeSeed: true,
  name: true,
  cipher: true,
  ciphers: true,
  handshakeTimeout: true,
  keepAliveInterval: true,
  keepAliveTimeout: true,
  maxSessions: true,
  maxConcurrentStreams: true,
  maxPacketSize: true,
  streamReceiveWindow: true,
  sessionReceiveWindow: true,
  streamSendBuffer: true,
  sessionMemoryLimit: true,
  maxMessageSize: true,
  congestionControl: true,
  rekeyAfterPackets: true,
  rekeyAfterMs: true,
  stealth: true,
  handshakeRetryInitial: true,
  reliablePacketSize: true,
  helloMaxSkew: true,
  retryThreshold: true,
  maxQueuedDatagrams: true,
  maxReceiveQueueBytes: true,
  backend: true,
  resumable: true,
  resumeTimeout: true,
  relay: true,
  rendezvous: true,
  // TransportSetOptions
  host: true,
  port: true,
  transport: true,
  websocketPort: true,
  recvBufferSize: true,
  sendBufferSize: true,
  udpBackend: true,
  gso: true,
  gro: true,
  transportImpl: true,
  acceptConnections: true,
  // WebSocket transport
  websocketPath: true,
  tls: true,
  proxy: true,
  proxyAuth: true,
  maxPayload: true,
  maxConnections: true,
  idleTimeout: true,
  highWaterMark: true,
  maxBufferedAmount: true,
  connectTimeout: true,
  server: true,
})

const CONNECT_OPTION_KEYS = keysOf<ConnectOptions>({
  signal: true,
  timeout: true,
  peerNodeId: true,
  transport: true,
  fullReliability: true,
  fallbackDelay: true,
  tls: true,
  proxy: true,
  proxyAuth: true,
  connectTimeout: true,
  congestionControl: true,
  resumable: true,
  resumeTimeout: true,
  resume: true,
  requireResume: true,
})

export class STTNode extends EventEmitter {
  readonly #driver: Driver
  readonly #nodeId: Buffer
  readonly #nat: NatTraversal

  constructor(options: STTNodeOptions) {
    super()
    if (!options || typeof options !== 'object') throw new STTConfigError('STTNode needs an options object with at least sharedSeed')
    // Deterministic randomness is a test-only door (src/internal/test-hooks.ts), never an option.
    if ('random' in options) throw new STTConfigError("'random' is not an option: a node always uses crypto.randomFillSync")
    // Several cores are STTWorkerNode's job (src/workers/, docs/SCALE.md); `workers: 1` is this.
    if ('workers' in options) {
      const { workers, ...rest } = options as STTNodeOptions & { workers?: unknown }
      if (workers !== 1) throw new STTConfigError('an STTNode runs on one thread: use STTWorkerNode (the same options plus workers) for several')
      options = rest
    }
    checkKeys(options, NODE_OPTION_KEYS, 'STTNode option')
    const testRandom = (options as { [TEST_RANDOM]?: (n: number) => Uint8Array })[TEST_RANDOM]
    const pool = testRandom ? null : new RandomPool()
    const random = testRandom ?? ((n: number) => pool!.take(n))
    const config = resolveProtocolConfig(options as unknown as Record<string, unknown>, random)
    const maxReceiveQueueBytes = options.maxReceiveQueueBytes ?? DEFAULT_RECEIVE_QUEUE_BYTES
    if (!Number.isInteger(maxReceiveQueueBytes) || maxReceiveQueueBytes < 0) throw new STTConfigError('maxReceiveQueueBytes must be a non-negative integer')
    // The seeds stay out of every object of ours (no secret behind a public property, inspect()
    // or JSON): transports get the options without them, the endpoint keeps only derived keys
    // in private fields, and our copies of the seeds are zeroed once it has them.
    const withoutSeeds: Omit<STTNodeOptions, 'sharedSeed' | 'nodeSeed'> & { sharedSeed?: unknown; nodeSeed?: unknown } = { ...options }
    delete withoutSeeds.sharedSeed
    delete withoutSeeds.nodeSeed
    const transportOptions = options.backend === 'js' && options.udpBackend === undefined ? { ...withoutSeeds, udpBackend: 'dgram' as const } : withoutSeeds
    this.#driver = new Driver(this, config, chooseAead(options.backend), random, { ...transportOptions, maxReceiveQueueBytes })
    config.sharedSeed.fill(0)
    config.nodeSeed.fill(0)
    this.#nodeId = Buffer.from(this.#driver.endpoint.nodeId)
    this.#nat = new NatTraversal(this, this.#driver, options)
  }

  /** This node's name as sent to peers (the `name` option). */
  get name(): string {
    return this.#driver.endpoint.config.name ?? DEFAULTS.name
  }

  /** This node's public id: SHA3-256 of its static public key (32 bytes). */
  get nodeId(): Buffer {
    return this.#nodeId
  }

  /** Opens the configured transports; resolves with every bound address. */
  async start(): Promise<StartResult> {
    const bound = await this.#driver.start()
    this.#nat.started(bound)
    return bound
  }

  /** Registers with the relay at `url` (udp://, ws(s):// or auto://host:port); resolves with this node's reflexive address. */
  register(url: string): Promise<{ host: string; port: number }> {
    this.#driver.assertStarted()
    return this.#nat.register(url)
  }

  /** Relay or rendezvous figures: members, channels, forwarded bytes, refusals (relay); relays, reflexive address (member). */
  getNatStats() {
    return this.#nat.stats()
  }

  /**
   * Messages sent with session.send / sendToSessions / sendToAll, from every session, in
   * arrival order. Messages are kept only while an iterator runs, at most
   * `maxReceiveQueueBytes` of them (then the oldest are dropped and counted as
   * 'receive-queue-full'). Ends when the node stops.
   */
  receive(): AsyncGenerator<ReceivedPacket> {
    return this.#driver.received.iterate()
  }

  /**
   * Connects to a peer: 'udp://host:port', 'ws://host:port/stt', 'wss://...', 'auto://host:port'
   * (UDP first, WebSocket in parallel after a short delay), or { host, port }.
   */
  async connect(target: string | { host: string; port: number }, opts: ConnectOptions = {}): Promise<STTSession> {
    checkKeys(opts, CONNECT_OPTION_KEYS, 'connect option')
    const driver = this.#driver
    driver.assertStarted()
    const url = typeof target === 'string' ? target : `udp://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`
    if (/^stt:\/\//i.test(url)) return this.#nat.connect(url, { timeout: opts.timeout, congestionControl: opts.congestionControl, signal: opts.signal })
    const route = await driver.router.route(url, opts.transport)
    if (route.kind === 'auto') return connectAuto(this, route.target, opts)
    let peerNodeId: Uint8Array | undefined
    if (opts.peerNodeId !== undefined) {
      peerNodeId = typeof opts.peerNodeId === 'string' ? Buffer.from(opts.peerNodeId, 'hex') : opts.peerNodeId
      if (peerNodeId.length !== 32) throw new STTConfigError('peerNodeId must be 32 bytes (64 hex characters)')
    }
    if (opts.timeout !== undefined && (!Number.isFinite(opts.timeout) || opts.timeout <= 0)) throw new STTConfigError('timeout must be a positive number of ms')
    const { transport } = route
    return driver.connect({
      transport,
      url: route.url,
      dialOptions: opts as Record<string, unknown>,
      peerNodeId,
      timeout: opts.timeout,
      // Over a reliable transport (WebSocket, or a reliable pluggable one) rely on it for delivery.
      bare: transport.reliable && opts.fullReliability !== true,
      congestionControl: opts.congestionControl === undefined ? undefined : congestionControlOption(opts.congestionControl),
      signal: opts.signal,
      resumable: opts.resumable === undefined ? undefined : resumableOption(opts.resumable),
      resumeTimeout: opts.resumeTimeout === undefined ? undefined : resumeTimeoutOption(opts.resumeTimeout),
      ...resumeOptions(opts),
    })
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
    return this.#driver.sessions.get(id)
  }

  getActiveSessions(): STTSession[] {
    return [...this.#driver.sessions.values()].filter((s) => !s.closed)
  }

  /** Sends one message to each listed session (by id); resolves when all are buffered. */
  async sendToSessions(ids: string[], data: Uint8Array, opts: { streamId?: number } = {}): Promise<void> {
    const targets = ids.map((id) => {
      const s = this.#driver.sessions.get(id)
      if (!s) throw new STTSessionError(ErrorCode.SESSION_NOT_FOUND, `no session ${id}`)
      return s
    })
    await Promise.all(targets.map((s) => s.send(data, opts)))
  }

  async sendToAll(data: Uint8Array, opts: { streamId?: number } = {}): Promise<void> {
    await Promise.all(this.getActiveSessions().map((s) => s.send(data, opts)))
  }

  /** Accept inbound handshakes (default) or not. */
  enableAcceptConnections(): void {
    this.#driver.ep.acceptingConnections = true
  }
  disableAcceptConnections(): void {
    this.#driver.ep.acceptingConnections = false
  }

  /**
   * Transport statistics: totals (packetsSent, packetsReceived, bytesSent, bytesReceived,
   * lossRate, dropped by reason) and each transport's own figures under `transports`.
   */
  getTransportStats() {
    const driver = this.#driver
    const per: Record<string, TransportStats> = {}
    const total = { packetsSent: 0, packetsReceived: 0, bytesSent: 0, bytesReceived: 0, sendErrors: 0 }
    const dropped: Record<string, number> = {}
    for (const [name, s] of driver.router.stats()) {
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
    const ep = driver.endpoint
    for (const [k, v] of Object.entries(ep.counters.dropped)) dropped[k] = (dropped[k] ?? 0) + v
    for (const s of ep.allSessions()) {
      sent += s.counters.packetsSent
      lost += s.counters.lostPackets
      for (const [k, v] of Object.entries(s.counters.dropped)) dropped[k] = (dropped[k] ?? 0) + v
    }
    if (driver.received.dropped) dropped['receive-queue-full'] = driver.received.dropped
    return {
      ...total,
      lossRate: sent ? lost / sent : 0,
      dropped,
      droppedTotal: Object.values(dropped).reduce((a, b) => a + b, 0),
      handshakes: { ...ep.counters, dropped: undefined },
      sessions: driver.sessions.size,
      transports: per,
    }
  }

  /**
   * The transport registered under `name` (udp, websocket, udp4/udp6 dialers). Experimental:
   * for tools and tests that need a transport's own figures or controls.
   */
  transportFor(name: string): Transport | undefined {
    return this.#driver.router.get(name)
  }

  /** Closes every session (SESSION_CLOSE to each peer) and every transport. */
  stop(reason = 'node stopping'): Promise<void> {
    this.#nat.stopping()
    return this.#driver.stop(reason)
  }
}

/**
 * Packet protection for a node: the process default (native when the addon loaded), or forced
 * per node: 'js' (node:crypto) or 'native' (an error if the addon is not loaded).
 */
function chooseAead(backend: unknown): AeadBackend {
  if (backend === undefined) return defaultAead
  if (backend === 'js') return jsAead
  if (backend === 'native') {
    if (!nativeAead) throw new STTError(ErrorCode.NATIVE_UNAVAILABLE, "backend 'native' requested but the native addon is not loaded (see the install warning; STT_NATIVE)")
    return nativeAead
  }
  throw new STTConfigError("backend must be 'native' or 'js'")
}
