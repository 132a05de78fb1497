/**
 * STTSession: the public face of one protocol session. Events: 'datagram' (bytes),
 * 'message' ({ streamId, data }), 'stream' (STTStream opened by the peer), 'frame'
 * (application frame type, bytes), 'migrated', 'key-update', 'peer-error', 'suspended' (the
 * peer went silent; nothing is lost), 'resumed' ({ pausedMs }), 'resumption-token' (bytes to
 * store for node.connect(url, { resume })), 'error' (an
 * STTError, when the session ends because of one) and 'close' ({ code, reason, remote,
 * hadError }). Internals are `#private`; the driver reaches them through `sessionInternals`,
 * which the package does not export.
 */
import { EventEmitter } from 'node:events'
import { APP_FRAME_MAX, APP_FRAME_MIN } from './protocol/constants.js'
import { checkKeys, keysOf } from './options.js'
import { codeForWire, ErrorCode, errorFor, errorFromWire, STTConfigError, STTError, STTSessionError, WireError } from './errors.js'
import type { CoreEvent } from './protocol/core-events.js'
import type { Session as CoreSession } from './protocol/session.js'
import type { StreamEvent } from './protocol/streams.js'
import { asBuffer, STTStream, streamEvents, type StreamHost, type StreamOptions } from './stream.js'
import type { PeerAddress } from './transport/types.js'
import { SessionStreamHost } from './session-stream-host.js'
import type { ProxyAuth, WebSocketClientTLSOptions } from './transport/websocket.js'

/** How long close() waits for written stream data to be acknowledged, ms. */
const DEFAULT_DRAIN_TIMEOUT = 5000
/** The stream map of every session before its first stream (never added to; delete and clear are no-ops on it). */
const NO_STREAMS = new Map<number, STTStream>()

export interface CloseInfo {
  /** Wire code the session was closed with (NO_ERROR = 0 for a graceful close). */
  code: number
  reason: string
  /** True when the peer closed it (or its transport connection went away). */
  remote: boolean
  /** As net.Socket's 'close': true when 'error' was emitted just before. */
  hadError: boolean
}

export interface SendOptions {
  /** Message stream id (default 0). */
  streamId?: number
}

export interface CloseOptions {
  /** How long to wait for written stream data to be acknowledged, ms (default 5000; 0 = at once). */
  drainTimeout?: number
}

const SEND_OPTION_KEYS = keysOf<SendOptions>({ streamId: true })
const CLOSE_OPTION_KEYS = keysOf<CloseOptions>({ drainTimeout: true })
const STREAM_OPTION_KEYS = keysOf<StreamOptions>({ maxFrameSize: true, noDelay: true, priority: true })
const MIGRATE_OPTION_KEYS = keysOf<MigrateOptions>({ tls: true, proxy: true, proxyAuth: true, connectTimeout: true })

/** What a session needs from its node (the driver). */
export interface SessionHost {
  /**
   * The driver's one entry after every application call into the core: it hands the events
   * the call produced to their sessions and streams at once (in order, also when a handler
   * calls again), then has what the call made due sent: in the current service pass when one
   * is running, else in one scheduled at once (microtask) when `urgent`, or after I/O.
   */
  afterAppCall(urgent: boolean): void
  /** The node's clock (ms): the core takes time as an argument. */
  now(): number
  onMessage(session: STTSession, streamId: number, data: Uint8Array): void
  /** Resolves a target URL to an address on one of the node's transports (for migrate). */
  dial?(target: string, options: MigrateOptions): Promise<PeerAddress>
}

/** Options of session.migrate(): what connect() passes to a WebSocket dial. */
export interface MigrateOptions {
  tls?: WebSocketClientTLSOptions
  proxy?: string | null
  proxyAuth?: ProxyAuth
  connectTimeout?: number
}

/** Driver-side entry points of a session (not exported from the package). */
export interface SessionInternals {
  core(s: STTSession): CoreSession
  /** Hands one core event of this session (or of one of its streams) to it (the driver). */
  dispatch(s: STTSession, ev: CoreEvent): void
}
export let sessionInternals!: SessionInternals

export class STTSession extends EventEmitter {
  static {
    sessionInternals = {
      core: (s) => s.#core,
      dispatch: (s, ev) => s.#handleEvent(ev),
    }
  }

  /** Session id, hex (16 characters), the same on both sides. */
  readonly id: string
  readonly peerNodeId: Buffer
  readonly peerName: string
  readonly initiator: boolean
  /** Why this transport was chosen (set by automatic fallback). */
  transportReason: string | undefined
  readonly #core: CoreSession
  readonly #host: SessionHost
  /** NO_STREAMS (shared, stays empty) until the first stream: a Map costs ~180 bytes per idle session (issue 14). */
  #streams = NO_STREAMS
  readonly #writeWaiters: Array<{ key: number; resolve: () => void; reject: (e: Error) => void }> = []
  readonly #closeWaiters: Array<() => void> = []
  /** close() waiting for 'all-acked' (or the session's end). */
  #ackWaiter: (() => void) | null = null
  #closeInfo: CloseInfo | null = null
  #resumptionToken: Buffer | null = null
  readonly #streamHost: StreamHost

  /** @internal Sessions are made by the node ('session' event, connect()). */
  constructor(core: CoreSession, host: SessionHost) {
    super()
    this.#core = core
    this.#host = host
    this.id = Buffer.from(core.id).toString('hex')
    this.peerNodeId = Buffer.from(core.peerNodeId)
    this.peerName = core.peerName
    this.initiator = core.isInitiator
    this.#streamHost = new SessionStreamHost(this.id, core, host)
  }

  /** After every call into the core: its events now, its frames soon (SessionHost.afterAppCall). */
  #afterCall(urgent: boolean): void {
    this.#host.afterAppCall(urgent)
  }

  /** 'handshaking' | 'active' | 'suspended' (peer silent, waiting to resume) | 'closing' | 'closed'. */
  get state(): string {
    return this.#closeInfo ? 'closed' : this.#core.state
  }

  /**
   * Resumes a suspended session now: moves it to `target` when given (any transport of the
   * node, as migrate does) and probes the peer at once instead of waiting for the backoff.
   * Resolves when the probe is queued; 'resumed' fires when the peer answers.
   */
  async resume(target?: string, options: MigrateOptions = {}): Promise<void> {
    if (target !== undefined) await this.migrate(target, options)
    this.#ensureOpen()
    this.#core.resumeNow(this.#host.now())
    this.#afterCall(true)
  }

  /**
   * Initiator: the newest resumption token (null until the peer sent a ticket). Pass it to
   * node.connect(url, { resume }) after a restart to get this session id back in one round trip.
   * It is a credential of this node identity: store it as you store the nodeSeed.
   */
  get resumptionToken(): Buffer | null {
    return this.#resumptionToken
  }

  /**
   * True when this session was opened by the abbreviated handshake from a resumption token
   * (`connect(url, { resume })`, either side); false after a full handshake, including the
   * fallback when the token was refused.
   */
  get resumed(): boolean {
    return this.#core.resumption.resumed
  }

  /** The transport the session currently uses: 'udp' | 'websocket' | ... (changes on migration). */
  get transport(): string {
    return String(this.#core.address.kind)
  }

  /** 'relayed' while the session runs through a relay channel, else 'direct' ('path' event on change). */
  get path(): 'direct' | 'relayed' {
    return this.#core.address.kind === 'relay' ? 'relayed' : 'direct'
  }

  get remoteAddress(): string {
    return this.#core.address.toString()
  }

  get closed(): boolean {
    return this.#closeInfo !== null || this.#core.state === 'closing' || this.#core.state === 'closed'
  }

  #ensureOpen(): void {
    if (this.closed) throw new STTSessionError(ErrorCode.SESSION_CLOSED, `session ${this.id} is closed${this.#closeInfo ? ` (${this.#closeInfo.reason})` : ''}`)
  }

  /** Largest payload sendDatagram accepts on this session's path. */
  get maxDatagramSize(): number {
    return this.#core.maxDatagramPayload
  }

  /** Sends one unreliable datagram (may be lost, duplicated or reordered; never split). */
  sendDatagram(data: Uint8Array): boolean {
    if (!(data instanceof Uint8Array)) throw new STTConfigError('sendDatagram takes a Uint8Array/Buffer')
    this.#ensureOpen()
    if (data.length > this.#core.maxDatagramPayload) {
      throw new STTError(ErrorCode.PAYLOAD_TOO_LARGE, `datagram of ${data.length} bytes exceeds the ${this.#core.maxDatagramPayload}-byte limit of this path (use a stream or session.send for larger data)`)
    }
    const ok = this.#core.sendDatagram(new Uint8Array(data))
    this.#afterCall(true)
    return ok
  }

  /** Sends an application-defined frame (type 0x80-0xFE), unreliable like a datagram. */
  sendFrame(frameType: number, data: Uint8Array): void {
    if (!Number.isInteger(frameType) || frameType < APP_FRAME_MIN || frameType > APP_FRAME_MAX) {
      throw new STTConfigError(`application frame types are 0x80-0xFE (got ${frameType})`)
    }
    this.#ensureOpen()
    if (data.length > this.#core.maxDatagramPayload) throw new STTError(ErrorCode.PAYLOAD_TOO_LARGE, `frame of ${data.length} bytes exceeds ${this.#core.maxDatagramPayload}`)
    this.#core.sendAppFrame(frameType, new Uint8Array(data))
    this.#afterCall(true)
  }

  /** Opens a reliable, ordered byte stream (a Duplex). */
  openStream(opts: StreamOptions = {}): STTStream {
    checkKeys(opts, STREAM_OPTION_KEYS, 'openStream option')
    this.#ensureOpen()
    if (opts.priority !== undefined && (!Number.isInteger(opts.priority) || opts.priority < 0 || opts.priority > 255)) {
      throw new STTConfigError('priority must be an integer 0-255')
    }
    if (opts.maxFrameSize !== undefined && (!Number.isInteger(opts.maxFrameSize) || opts.maxFrameSize < 1 || opts.maxFrameSize > 65536)) {
      throw new STTConfigError('maxFrameSize must be an integer 1-65536')
    }
    const key = this.#core.streams.openStream({ priority: opts.priority ?? 0, maxFrameSize: opts.maxFrameSize })
    const s = this.#wrap(key, opts)
    this.#afterCall(opts.noDelay === true)
    return s
  }

  #wrap(key: number, opts: StreamOptions = {}): STTStream {
    const s = new STTStream(this.#streamHost, key, opts)
    if (this.#streams === NO_STREAMS) this.#streams = new Map()
    this.#streams.set(key, s)
    return s
  }

  /**
   * Sends one reliable, ordered message on message stream `streamId` (default 0); the peer
   * receives it whole via node.receive() and the session's 'message' event. Resolves once
   * the message is buffered for sending (waits while the stream's send buffer is full).
   */
  async send(data: Uint8Array, opts: SendOptions = {}): Promise<void> {
    if (!(data instanceof Uint8Array)) throw new STTConfigError('send takes a Uint8Array/Buffer')
    checkKeys(opts, SEND_OPTION_KEYS, 'send option')
    const streamId = opts.streamId ?? 0
    if (!Number.isInteger(streamId) || streamId < 0 || streamId > 2 ** 50) throw new STTConfigError('streamId must be a non-negative integer')
    this.#ensureOpen()
    const ok = this.#core.streams.sendMessage(streamId, data)
    this.#afterCall(false)
    if (ok) return
    await new Promise<void>((resolve, reject) => this.#writeWaiters.push({ key: streamId * 2 + 1, resolve, reject }))
  }

  /**
   * Moves this session to another address or transport (e.g. from udp:// to ws:// when UDP
   * starts failing, or to a new network), keeping its keys, streams and buffered data. The
   * peer follows once the new path answers its validation challenge (PROTOCOL.md §2).
   */
  async migrate(target: string, options: MigrateOptions = {}): Promise<void> {
    checkKeys(options, MIGRATE_OPTION_KEYS, 'migrate option')
    this.#ensureOpen()
    if (!this.#host.dial) throw new STTConfigError('this session cannot migrate (no node to dial with)')
    const addr = await this.#host.dial(target, options)
    this.#ensureOpen()
    if (this.#core.bare && !addr.reliable) {
      throw new STTConfigError(`session ${this.id} relies on its transport for delivery (bare mode) and cannot move to ${target}; connect with fullReliability: true to allow it`)
    }
    this.#core.migrateTo(addr)
    this.#afterCall(true)
  }

  #handleEvent(ev: CoreEvent): void {
    switch (ev.kind) {
      case 'datagram':
        this.emit('datagram', asBuffer(ev.data))
        return
      case 'app-frame':
        this.emit('frame', ev.frameType, asBuffer(ev.data))
        return
      case 'peer-error':
        this.emit('peer-error', ev)
        return
      case 'migrated':
        this.emit('migrated', { from: ev.from.toString(), to: ev.to.toString() })
        if ((ev.from.kind === 'relay') !== (ev.to.kind === 'relay')) this.emit('path', this.path, { from: ev.from.toString(), to: ev.to.toString() })
        return
      case 'key-update':
        this.emit('key-update', ev.direction)
        return
      case 'suspended':
        this.emit('suspended')
        return
      case 'resumed':
        this.emit('resumed', { pausedMs: ev.pausedMs })
        return
      case 'resumption-token':
        this.#resumptionToken = Buffer.from(ev.token)
        this.emit('resumption-token', this.#resumptionToken)
        return
      case 'closed':
        this.#onClosed(ev.code, ev.reason, ev.remote)
        return
      case 'all-acked': {
        const w = this.#ackWaiter
        this.#ackWaiter = null
        w?.()
        return
      }
      case 'stream-opened':
      case 'readable':
      case 'writable':
      case 'end':
      case 'aborted':
      case 'stream-closed':
      case 'message':
        this.#onStreamEvent(ev)
        return
      default:
        return
    }
  }

  #onStreamEvent(e: StreamEvent): void {
    if (e.kind === 'message') {
      this.#host.onMessage(this, e.streamId, e.data!)
      return
    }
    // Odd keys are message streams: only 'writable' (send() waiting for buffer space) matters.
    if ((e.stream & 1) === 1) {
      if (e.kind === 'writable') this.#releaseWriters(e.stream)
      return
    }
    let s = this.#streams.get(e.stream)
    switch (e.kind) {
      case 'stream-opened':
        if (!s) {
          s = this.#wrap(e.stream)
          this.emit('stream', s)
        }
        return
      case 'readable':
        if (s) streamEvents.readable(s)
        return
      case 'writable':
        if (s) streamEvents.writable(s)
        return
      case 'end':
        if (s) streamEvents.end(s)
        return
      case 'aborted':
        if (s) streamEvents.aborted(s, e.code ?? WireError.STREAM_CLOSED)
        return
      case 'stream-closed':
        this.#streams.delete(e.stream)
        return
    }
  }

  #releaseWriters(key: number): void {
    for (let i = 0; i < this.#writeWaiters.length; ) {
      if (this.#writeWaiters[i]!.key === key) this.#writeWaiters.splice(i, 1)[0]!.resolve()
      else i++
    }
  }

  /**
   * net.Socket semantics: a session that ends because of an error (a timeout, the peer closing
   * with an error code, its connection going away) emits 'error' and then 'close' with
   * `hadError: true`; a graceful close (NO_ERROR, ours or the peer's) emits only 'close'. Both
   * are emitted on the next tick, so the driver's service pass is never cut short by a
   * throwing listener (or by 'error' without one, which throws as it does for a socket).
   */
  #onClosed(code: number, reason: string, remote: boolean): void {
    if (this.#closeInfo) return
    // The wire code is the error's `wireCode` only when the peer sent it (or its connection went).
    const message = `session ${this.id} closed: ${reason || 'no reason given'}`
    const error = code === WireError.NO_ERROR ? undefined : remote ? errorFromWire(code, message) : errorFor(codeForWire(code), message)
    const info: CloseInfo = { code, reason, remote, hadError: error !== undefined }
    this.#closeInfo = info
    // A graceful close ends unfinished streams quietly; an error close fails them with the reason.
    for (const s of this.#streams.values()) streamEvents.sessionClosed(s, error ?? null)
    this.#streams.clear()
    const pendingErr = error ?? new STTSessionError(ErrorCode.SESSION_CLOSED, `session ${this.id} closed: ${reason || 'no reason given'}`)
    for (const w of this.#writeWaiters.splice(0)) w.reject(pendingErr)
    for (const w of this.#closeWaiters.splice(0)) w()
    const ackWaiter = this.#ackWaiter
    this.#ackWaiter = null
    ackWaiter?.()
    process.nextTick(() => {
      if (error) this.emit('error', error)
      this.emit('close', info)
    })
  }

  /**
   * Closes the session on both sides (SESSION_CLOSE) after the data already written to its
   * streams was acknowledged (at most `drainTimeout`, default 5 s); resolves when it is closed.
   */
  async close(reason = 'closed by application', opts: CloseOptions = {}): Promise<void> {
    checkKeys(opts, CLOSE_OPTION_KEYS, 'close option')
    if (this.#closeInfo) return
    // Graceful, like a TCP close after write(): data already written to streams is delivered
    // (acknowledged) first, for at most drainTimeout ms (0: close at once, dropping it). The
    // core says when ('all-acked'); the session ending meanwhile ends the wait too.
    const drainTimeout = opts.drainTimeout ?? DEFAULT_DRAIN_TIMEOUT
    if (drainTimeout > 0 && !this.closed && !this.#core.streams.watchAllAcked()) await this.#allAcked(drainTimeout)
    if (this.#closeInfo) return
    const done = new Promise<void>((r) => this.#closeWaiters.push(r))
    this.#core.close(WireError.NO_ERROR, reason, this.#host.now())
    this.#afterCall(true)
    return done
  }

  /** Resolves on 'all-acked', the session's end, or after `timeout` ms, whichever comes first. */
  #allAcked(timeout: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeout)
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
      // Two close() calls at once both wait for the one event (a late call of done is a no-op).
      const previous = this.#ackWaiter
      this.#ackWaiter = previous
        ? () => {
            previous()
            done()
          }
        : done
    })
  }

  getStats() {
    return { id: this.id, peerName: this.peerName, transport: this.transport, remoteAddress: this.remoteAddress, path: this.path, punch: this.#core.punchStats, streams: this.#streams.size, ...this.#core.getStats() }
  }
}
