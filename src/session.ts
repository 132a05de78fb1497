/**
 * STTSession: the public face of one protocol session. Events: 'datagram' (bytes),
 * 'message' ({ streamId, data }), 'stream' (STTStream opened by the peer), 'frame'
 * (application frame type, bytes), 'migrated', 'close' ({ code, reason, remote }).
 */
import { EventEmitter } from 'node:events'
import { APP_FRAME_MAX, APP_FRAME_MIN } from './protocol/constants.js'
import { codeForWire, ErrorCode, STTError, STTSessionError, WireError } from './errors.js'
import type { Session as CoreSession, SessionEvent } from './protocol/session.js'
import type { StreamEvent } from './protocol/streams.js'
import { STTStream, type StreamOptions } from './stream.js'
import type { PeerAddress } from './transport/types.js'

/** How long close() waits for written stream data to be acknowledged, ms. */
const DEFAULT_DRAIN_TIMEOUT = 5000

export interface CloseInfo {
  code: number
  reason: string
  /** True when the peer closed it (or its transport connection went away). */
  remote: boolean
}

/** What a session needs from its node. */
export interface SessionHost {
  flush(urgent: boolean): void
  /** The node's clock (ms): the core takes time as an argument. */
  now(): number
  onMessage(session: STTSession, streamId: number, data: Uint8Array): void
  /** Resolves a target URL to an address on one of the node's transports (for migrate). */
  dial?(target: string, options: Record<string, unknown>): Promise<PeerAddress>
}

export class STTSession extends EventEmitter {
  /** Session id, hex (16 characters), the same on both sides. */
  readonly id: string
  readonly peerNodeId: Buffer
  readonly peerName: string
  /** The transport the session currently uses: 'udp' | 'websocket' | ... (changes on migration). */
  get transport(): string {
    return String(this.core.address.kind)
  }
  /** Why this transport was chosen (set by automatic fallback). */
  transportReason: string | undefined
  private readonly streams = new Map<number, STTStream>()
  private readonly writeWaiters: Array<{ key: number; resolve: () => void; reject: (e: Error) => void }> = []
  private closeInfo: CloseInfo | null = null
  private readonly closeWaiters: Array<() => void> = []
  readonly initiator: boolean

  private readonly host: SessionHost

  constructor(
    readonly core: CoreSession,
    nodeHost: SessionHost,
  ) {
    super()
    // Every application call may have produced protocol events or due frames: poke the core.
    this.host = {
      flush: (urgent) => {
        core.poke()
        nodeHost.flush(urgent)
      },
      now: () => nodeHost.now(),
      onMessage: (s, id, d) => nodeHost.onMessage(s, id, d),
      dial: nodeHost.dial,
    }
    this.id = Buffer.from(core.id).toString('hex')
    this.peerNodeId = Buffer.from(core.peerNodeId)
    this.peerName = core.peerName
    this.initiator = core.isInitiator
  }

  get remoteAddress(): string {
    return this.core.address.toString()
  }

  get closed(): boolean {
    return this.closeInfo !== null || this.core.state === 'closing' || this.core.state === 'closed'
  }

  private ensureOpen(): void {
    if (this.closed) throw new STTSessionError(ErrorCode.SESSION_CLOSED, `session ${this.id} is closed${this.closeInfo ? ` (${this.closeInfo.reason})` : ''}`)
  }

  /** Largest payload sendDatagram accepts on this session's path. */
  get maxDatagramSize(): number {
    return this.core.maxDatagramPayload
  }

  /** Sends one unreliable datagram (may be lost, duplicated or reordered; never split). */
  sendDatagram(data: Uint8Array): boolean {
    if (!(data instanceof Uint8Array)) throw new STTError(ErrorCode.CONFIG, 'sendDatagram takes a Uint8Array/Buffer')
    this.ensureOpen()
    if (data.length > this.core.maxDatagramPayload) {
      throw new STTError(ErrorCode.PAYLOAD_TOO_LARGE, `datagram of ${data.length} bytes exceeds the ${this.core.maxDatagramPayload}-byte limit of this path (use a stream or session.send for larger data)`)
    }
    const ok = this.core.sendDatagram(new Uint8Array(data))
    this.host.flush(true)
    return ok
  }

  /** Sends an application-defined frame (type 0x80-0xFE), unreliable like a datagram. */
  sendFrame(frameType: number, data: Uint8Array): void {
    if (!Number.isInteger(frameType) || frameType < APP_FRAME_MIN || frameType > APP_FRAME_MAX) {
      throw new STTError(ErrorCode.CONFIG, `application frame types are 0x80-0xFE (got ${frameType})`)
    }
    this.ensureOpen()
    if (data.length > this.core.maxDatagramPayload) throw new STTError(ErrorCode.PAYLOAD_TOO_LARGE, `frame of ${data.length} bytes exceeds ${this.core.maxDatagramPayload}`)
    this.core.sendAppFrame(frameType, new Uint8Array(data))
    this.host.flush(true)
  }

  /** Opens a reliable, ordered byte stream (a Duplex). */
  openStream(opts: StreamOptions = {}): STTStream {
    this.ensureOpen()
    if (opts.priority !== undefined && (!Number.isInteger(opts.priority) || opts.priority < 0 || opts.priority > 255)) {
      throw new STTError(ErrorCode.CONFIG, 'priority must be an integer 0-255')
    }
    if (opts.maxFrameSize !== undefined && (!Number.isInteger(opts.maxFrameSize) || opts.maxFrameSize < 1 || opts.maxFrameSize > 65536)) {
      throw new STTError(ErrorCode.CONFIG, 'maxFrameSize must be an integer 1-65536')
    }
    const key = this.core.streams.openStream({ priority: opts.priority ?? 0, maxFrameSize: opts.maxFrameSize })
    const s = this.wrap(key, opts)
    this.host.flush(opts.noDelay === true)
    return s
  }

  private wrap(key: number, opts: StreamOptions = {}): STTStream {
    const s = new STTStream({ manager: this.core.streams, flush: (u) => this.host.flush(u), sessionId: this.id }, key, opts)
    s.extraStats = () => {
      const st = this.core.getStats()
      return { rtt: st.rtt, cwnd: st.cwnd, bytesInFlight: st.bytesInFlight }
    }
    this.streams.set(key, s)
    return s
  }

  /**
   * Sends one reliable, ordered message on message stream `streamId` (default 0); the peer
   * receives it whole via node.receive() and the session's 'message' event. Resolves once
   * the message is buffered for sending (waits while the stream's send buffer is full).
   */
  async send(data: Uint8Array, opts: { streamId?: number } = {}): Promise<void> {
    if (!(data instanceof Uint8Array)) throw new STTError(ErrorCode.CONFIG, 'send takes a Uint8Array/Buffer')
    const streamId = opts.streamId ?? 0
    if (!Number.isInteger(streamId) || streamId < 0 || streamId > 2 ** 50) throw new STTError(ErrorCode.CONFIG, 'streamId must be a non-negative integer')
    this.ensureOpen()
    const ok = this.core.streams.sendMessage(streamId, data)
    this.host.flush(false)
    if (ok) return
    await new Promise<void>((resolve, reject) => this.writeWaiters.push({ key: streamId * 2 + 1, resolve, reject }))
  }

  /**
   * Moves this session to another address or transport (e.g. from udp:// to ws:// when UDP
   * starts failing, or to a new network), keeping its keys, streams and buffered data. The
   * peer follows once the new path answers its validation challenge (PROTOCOL.md §2).
   */
  async migrate(target: string, options: Record<string, unknown> = {}): Promise<void> {
    this.ensureOpen()
    if (!this.host.dial) throw new STTError(ErrorCode.CONFIG, 'this session cannot migrate (no node to dial with)')
    const addr = await this.host.dial(target, options)
    this.ensureOpen()
    if (this.core.bare && !addr.reliable) {
      throw new STTError(ErrorCode.CONFIG, `session ${this.id} relies on its transport for delivery (bare mode) and cannot move to ${target}; connect with fullReliability: true to allow it`)
    }
    this.core.migrateTo(addr)
    this.host.flush(true)
  }

  /** Dispatches one protocol event (called by the node's service loop). */
  handleEvent(ev: SessionEvent): void {
    switch (ev.type) {
      case 'datagram':
        this.emit('datagram', Buffer.from(ev.data.buffer, ev.data.byteOffset, ev.data.byteLength))
        return
      case 'app-frame':
        this.emit('frame', ev.frameType, Buffer.from(ev.data.buffer, ev.data.byteOffset, ev.data.byteLength))
        return
      case 'peer-error':
        this.emit('peer-error', ev)
        return
      case 'migrated':
        this.emit('migrated', { from: ev.from.toString(), to: ev.to.toString() })
        return
      case 'key-update':
        this.emit('key-update', ev.direction)
        return
      case 'closed':
        this.onClosed({ code: ev.code, reason: ev.reason, remote: ev.remote })
        return
      case 'stream':
        this.onStreamEvent(ev.event)
        return
      case 'established':
        return
    }
  }

  private onStreamEvent(e: StreamEvent): void {
    if (e.type === 'message') {
      this.host.onMessage(this, e.streamId, e.data!)
      return
    }
    if (e.kind === 1) {
      if (e.type === 'writable') this.releaseWriters(e.key)
      return
    }
    let s = this.streams.get(e.key)
    switch (e.type) {
      case 'stream-opened':
        if (!s) {
          s = this.wrap(e.key)
          this.emit('stream', s)
        }
        return
      case 'readable':
        s?.pump()
        return
      case 'writable':
        s?.onWritable()
        return
      case 'end':
        s?.onEnd()
        return
      case 'aborted':
        s?.onAborted(e.code ?? WireError.STREAM_CLOSED)
        return
      case 'closed':
        this.streams.delete(e.key)
        return
    }
  }

  private releaseWriters(key: number): void {
    for (let i = 0; i < this.writeWaiters.length; ) {
      if (this.writeWaiters[i]!.key === key) this.writeWaiters.splice(i, 1)[0]!.resolve()
      else i++
    }
  }

  private onClosed(info: CloseInfo): void {
    if (this.closeInfo) return
    this.closeInfo = info
    const err = new STTSessionError(codeForWire(info.code), `session closed: ${info.reason || 'no reason given'}`, { wireCode: info.code })
    // A graceful close ends unfinished streams quietly; an error close fails them with the reason.
    for (const s of this.streams.values()) s.onSessionClosed(info.code === WireError.NO_ERROR ? null : err)
    this.streams.clear()
    for (const w of this.writeWaiters.splice(0)) w.reject(err)
    for (const w of this.closeWaiters.splice(0)) w()
    this.emit('close', info)
  }

  /**
   * Closes the session on both sides (SESSION_CLOSE) after the data already written to its
   * streams was acknowledged (at most `drainTimeout`, default 5 s); resolves when it is closed.
   */
  async close(reason = 'closed by application', opts: { drainTimeout?: number } = {}): Promise<void> {
    if (this.closeInfo) return
    // Graceful, like a TCP close after write(): data already written to streams is delivered
    // (acknowledged) first, for at most drainTimeout ms (0: close at once, dropping it).
    const deadline = Date.now() + (opts.drainTimeout ?? DEFAULT_DRAIN_TIMEOUT)
    while (!this.closed && this.core.streams.unackedBytes > 0 && Date.now() < deadline) {
      this.host.flush(false)
      await new Promise((r) => setTimeout(r, 5))
    }
    if (this.closeInfo) return
    const done = new Promise<void>((r) => this.closeWaiters.push(r))
    this.core.close(WireError.NO_ERROR, reason, this.host.now())
    this.host.flush(true)
    return done
  }

  getStats() {
    return { id: this.id, peerName: this.peerName, transport: this.transport, remoteAddress: this.remoteAddress, streams: this.streams.size, ...this.core.getStats() }
  }
}
