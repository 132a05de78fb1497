/**
 * The driver: connects the sans-I/O endpoint to real transports and timers. Internal; the
 * public face is STTNode (node.ts), which forwards to it.
 *
 * Service pass (after every received batch and timer, and as scheduled):
 *   1. endpoint.handleBatch / handleTimeout
 *   2. drain endpoint events: each goes straight to its STTSession / STTStream (core-events.ts)
 *   3. transmit: pollHandshakeTransmit -> transport.sendMulti (the handshake answers of the
 *      batch, a destination each: one sendmmsg on native UDP), then pollTransmit ->
 *      transport.send, at most MAX_TX_BATCHES_PER_TURN batches in all, then yield to the event
 *      loop (setImmediate) so receiving is never starved
 *   4. drain again (events of the transmission: a session closed once its SESSION_CLOSE left)
 *   5. arm one timer for endpoint.pollTimeout()
 * Application calls (STTSession / STTStream) call the core, then afterAppCall: their events
 * are drained at once, and what they made due is sent by the running pass (when the call came
 * from step 2's handlers) or by a scheduled one. `schedule(urgent)` is the one way to ask for
 * a pass: a microtask when urgent, else after I/O.
 */
import type { EventEmitter } from 'node:events'
import type { ProtocolConfig } from './config.js'
import { now } from './clock.js'
import type { AeadBackend } from './crypto/aead.js'
import { ErrorCode, STTConfigError, STTError, STTSessionError, WireError } from './errors.js'
import { Endpoint, type CoreEvent } from './protocol/endpoint.js'
import type { Session as CoreSession } from './protocol/session.js'
import { ReceiveQueue } from './receive-queue.js'
import { ResumeDialer, resumeTargets } from './resume-dialer.js'
import { TransportRouter, type StartResult } from './router.js'
import { sessionInternals, STTSession, type MigrateOptions } from './session.js'
import type { TransportSetOptions } from './transport/factory.js'
import type { MultiTxBatch, PeerAddress, RxBatch, Transport, TransportEvents, TxBatch } from './transport/types.js'

/** Bounded work per event-loop turn (quinn's IO_LOOP_BOUND idea): then yield. */
const MAX_TX_BATCHES_PER_TURN = 64
/** Single-datagram receives answered together after the event-loop turn (bounds the delay). */
const MAX_DEFERRED_RECEIVES = 64
/** Dropped datagrams after which a connection without a session is closed. */
const GARBAGE_LIMIT = 64

export interface DriverOptions extends TransportSetOptions {
  /** Bytes node.receive() keeps for its running readers. */
  maxReceiveQueueBytes: number
}

interface PendingConnect {
  resolve: (s: STTSession) => void
  reject: (e: Error) => void
}

export interface DialRequest {
  transport: Transport
  url: string
  dialOptions: Record<string, unknown>
  peerNodeId?: Uint8Array
  timeout?: number
  bare: boolean
  /** Per-connect congestion controller (default: the node's). */
  congestionControl?: 'bbr' | 'cubic' | 'newreno'
  signal?: AbortSignal
  resumable?: boolean
  resumeTimeout?: number
  resume?: Uint8Array
  requireResume?: boolean
  /** A session the node keeps for itself (to a relay): no 'session' event, not in `sessions`. */
  internal?: boolean
}

/** Hooks of the NAT traversal roles (src/nat/): relay envelopes in, control messages. */
export interface DriverHooks {
  /** Rewrites or consumes relay envelopes of a received batch (null: nothing left for the endpoint). */
  receive?: (batch: RxBatch) => RxBatch | null
  /** A message on a session; true when it was a rendezvous control message (not delivered). */
  message?: (session: STTSession, streamId: number, data: Uint8Array) => boolean
}

export class Driver {
  readonly hooks: DriverHooks = {}
  readonly #internal = new Set<number>()
  readonly endpoint: Endpoint
  readonly router: TransportRouter
  readonly received: ReceiveQueue
  readonly sessions = new Map<string, STTSession>()
  readonly #node: EventEmitter
  readonly #options: DriverOptions
  readonly #connects = new Map<number, PendingConnect>()
  readonly #garbage = new Map<string, number>()
  #timer: NodeJS.Timeout | null = null
  #timerAt = Infinity
  #scheduled = false
  #urgentScheduled = false
  #pendingReceives = 0
  /** The latest time handed to the core (#receivedAt never goes below it). */
  #lastNow = 0
  /** Events are being drained: a nested drain (an app call from a handler) leaves them to it. */
  #draining = false
  /** A pass is in its first drain: what app calls make due goes out with its transmission. */
  #beforeTransmit = false
  #started = false
  #stopping = false
  readonly #resumer = new ResumeDialer({
    dial: (target) => this.#dialFor(target, {}),
    release: (addr) => this.router.transportOf(addr)?.release?.(addr),
    schedule: () => this.schedule(true),
  })

  constructor(node: EventEmitter, config: ProtocolConfig, aead: AeadBackend, random: (n: number) => Uint8Array, options: DriverOptions) {
    this.#node = node
    this.#options = options
    this.router = new TransportRouter(options, (t) => this.#transportEvents(t))
    this.endpoint = new Endpoint(config, aead, random, now())
    // HELLO timestamps and the skew check compare clocks across hosts (issue 10 item 6): read
    // when one is needed, so a suspend or an NTP step moves them with the wall clock. Not synced
    // per packet: Date.now() is a runtime call (~0.3 k instructions a packet, issue 13).
    this.endpoint.readWallClockWith(() => Date.now())
    this.received = new ReceiveQueue(options.maxReceiveQueueBytes)
  }

  /** Monotonic time for every timer (the wall clock is the core's to read: see the constructor). */
  #now(): number {
    return (this.#lastNow = now())
  }

  /**
   * The time a batch is handled at: the transport's receive stamp when it has one (no clock read
   * here, issue 13), unless that stamp is before a time already handed to the core (offsetOf
   * keeps stamps within a microsecond behind the clock; the core never sees time go back).
   */
  #receivedAt(rx: RxBatch): number {
    const at = rx.receivedAt
    if (at !== undefined && at >= this.#lastNow) return (this.#lastNow = at)
    return this.#now()
  }

  get started(): boolean {
    return this.#started
  }

  get stopping(): boolean {
    return this.#stopping
  }

  /** Throws STT_NOT_STARTED unless start() completed (and stop() did not). */
  assertStarted(): void {
    if (!this.#started) throw new STTError(ErrorCode.NOT_STARTED, 'node is not started: call await node.start() first')
  }

  get ep(): Endpoint {
    if (!this.#started) throw new STTError(ErrorCode.NOT_STARTED, 'node is not started: call await node.start() first')
    return this.endpoint
  }

  async start(): Promise<StartResult> {
    if (this.#started) throw new STTConfigError('node already started')
    const bound = await this.router.start()
    this.#started = true
    this.endpoint.acceptingConnections = this.#options.acceptConnections !== false
    this.received.reopen()
    return bound
  }

  #transportEvents(t: Transport): TransportEvents {
    return {
      onReceive: t.receivesBatches === true ? (batch: RxBatch) => this.#onReceiveBatch(batch) : (batch: RxBatch) => this.#onReceive(batch),
      onPeerClosed: (addr: PeerAddress, reason: string, clean?: boolean) => {
        this.#garbage.delete(addr.key)
        this.endpoint.handlePeerClosed(addr, reason, clean === true, this.#now())
        this.#service()
      },
      onError: (err: Error) => {
        if (this.#node.listenerCount('transport-error') > 0) this.#node.emit('transport-error', err, t.kind)
      },
      // The transport drained a path the endpoint was holding back (handleBlocked in service).
      onWritable: (addr: PeerAddress) => {
        this.endpoint.handleWritable(addr.key)
        this.schedule(true)
      },
    }
  }

  /** A transport that hands over all that was readable (Transport.receivesBatches): answer at once. */
  #onReceiveBatch(batch: RxBatch): void {
    if (!this.#started) return
    const rx = this.hooks.receive ? this.hooks.receive(batch) : batch
    if (rx) this.endpoint.handleBatch(this.#receivedAt(rx), rx)
    this.#service()
  }

  #onReceive(batch: RxBatch): void {
    if (!this.#started) return
    const rx = this.hooks.receive ? this.hooks.receive(batch) : batch
    if (rx) this.endpoint.handleBatch(this.#now(), rx)
    // node:dgram hands over one datagram per callback, many per event-loop turn: answer
    // (ACKs, echoes) once after the turn instead of once per datagram (after at most
    // MAX_DEFERRED_RECEIVES). Batching transports take #onReceiveBatch.
    if (batch.count === 1 && this.#pendingReceives++ < MAX_DEFERRED_RECEIVES) this.schedule(false)
    else {
      this.#pendingReceives = 0
      this.#service()
    }
  }

  /** Asks for a service pass: now-ish (microtask) when urgent, else after I/O (setImmediate). */
  schedule(urgent: boolean): void {
    if (urgent) {
      if (this.#urgentScheduled) return
      this.#urgentScheduled = true
      queueMicrotask(() => {
        this.#urgentScheduled = false
        this.#service()
      })
      return
    }
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      this.#pendingReceives = 0
      this.#service()
    })
  }

  /** SessionHost.afterAppCall: an application call changed the core. */
  afterAppCall(urgent: boolean): void {
    if (!this.#started) return
    this.#drainEvents()
    if (!this.#beforeTransmit) this.schedule(urgent)
  }

  #service(): void {
    if (!this.#started) return
    const ep = this.endpoint
    this.#beforeTransmit = true
    try {
      this.#drainEvents()
    } finally {
      this.#beforeTransmit = false
    }
    const t = this.#now()
    let batches = 0
    for (let hs = ep.pollHandshakeTransmit(); hs; hs = ep.pollHandshakeTransmit()) {
      this.#sendHandshakes(hs)
      if (++batches >= MAX_TX_BATCHES_PER_TURN) break
    }
    for (let tx = batches < MAX_TX_BATCHES_PER_TURN ? ep.pollTransmit(t) : null; tx; tx = ep.pollTransmit(t)) {
      const tr = this.router.transportOf(tx.to)
      if (!tr) {
        // A path whose transport is gone (stopped dialer): nothing can reach it.
        ep.handleBlocked(tx.to.key)
        continue
      }
      tr.send(tx)
      // Writability is an input of the core: a transport above its high-water mark holds the
      // path back until its onWritable (see Endpoint.handleBlocked).
      if (tr.writable !== undefined && !tr.writable(tx.to)) ep.handleBlocked(tx.to.key)
      if (++batches >= MAX_TX_BATCHES_PER_TURN) break
    }
    if (batches >= MAX_TX_BATCHES_PER_TURN) this.schedule(false)
    this.#drainEvents()
    this.#armTimer(ep.pollTimeout(t))
  }

  /** One-datagram view for transports without sendMulti (reused: send keeps no reference). */
  readonly #oneTx: TxBatch = { slab: new Uint8Array(0), offsets: new Uint32Array(1), lengths: new Uint32Array(1), count: 1, to: null as unknown as PeerAddress }

  /**
   * Handshake datagrams, each to its own address, all of one kind (Endpoint.pollHandshakeTransmit).
   * A transport with sendMulti takes them in one call and its writability is not asked: it is the
   * socket's, not a path's, and no session waits on these addresses (native UDP tells every path
   * it refused when it drains). Other transports get one send per datagram, as before.
   */
  #sendHandshakes(hs: MultiTxBatch): void {
    const ep = this.endpoint
    const tr = this.router.transportOf(hs.dests[0]!)
    if (tr?.sendMulti !== undefined) return tr.sendMulti(hs)
    const one = this.#oneTx
    one.slab = hs.slab
    for (let i = 0; i < hs.count; i++) {
      const to = hs.dests[i]!
      if (!tr) {
        // A path whose transport is gone (stopped dialer): nothing can reach it.
        ep.handleBlocked(to.key)
        continue
      }
      one.offsets[0] = hs.offsets[i]!
      one.lengths[0] = hs.lengths[i]!
      one.to = to
      tr.send(one)
      if (tr.writable !== undefined && !tr.writable(to)) ep.handleBlocked(to.key)
    }
  }

  #armTimer(at: number): void {
    // Re-arming a Node timer costs a heap insert; only move it earlier. A timer that fires
    // early just re-evaluates pollTimeout and arms again.
    if (this.#timer && at >= this.#timerAt) return
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    this.#timerAt = at
    if (at === Infinity) return
    const delay = Math.max(0, at - this.#now())
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#timerAt = Infinity
      if (!this.#started) return
      this.endpoint.handleTimeout(this.#now())
      this.#service()
    }, Math.ceil(delay))
  }

  /**
   * Hands every queued event to its owner. Re-entrancy: a handler's app call (a write from a
   * 'data' listener) drains too; the nested drain returns at once and this loop takes the
   * events that call queued after the ones already queued: no recursion, no reordering.
   */
  #drainEvents(): void {
    if (this.#draining) return
    this.#draining = true
    const ep = this.endpoint
    try {
      for (let e = ep.pollEvent(); e !== null; e = ep.pollEvent()) this.#handleEvent(e)
    } finally {
      this.#draining = false
    }
  }

  /** Monotonic time of the core's timers (ms). */
  now(): number {
    return this.#now()
  }

  #wrap(c: CoreSession, internal = false): STTSession {
    let s = c.owner as STTSession | null
    if (!s) {
      s = new STTSession(c, this.#sessionHost)
      c.owner = s
      if (!internal) this.sessions.set(s.id, s)
    }
    return s
  }

  /** What every STTSession of this node calls (one object, not closures per session). */
  readonly #sessionHost = {
    afterAppCall: (urgent: boolean) => this.afterAppCall(urgent),
    now: () => this.#now(),
    onMessage: (sess: STTSession, streamId: number, data: Uint8Array) => this.#onMessage(sess, streamId, data),
    dial: (target: string, options: MigrateOptions) => this.#dialFor(target, options),
  }

  #handleEvent(e: CoreEvent): void {
    switch (e.kind) {
      case 'connected': {
        const internal = this.#internal.delete(e.handle)
        const s = this.#wrap(e.session, internal)
        const p = this.#connects.get(e.handle)
        this.#connects.delete(e.handle)
        if (!internal) this.#node.emit('session', s)
        p?.resolve(s)
        return
      }
      case 'connect-failed': {
        this.#internal.delete(e.handle)
        const p = this.#connects.get(e.handle)
        this.#connects.delete(e.handle)
        if (this.#node.listenerCount('handshake-failed') > 0) this.#node.emit('handshake-failed', e.error)
        p?.reject(e.error)
        return
      }
      case 'accepted':
        this.#node.emit('session', this.#wrap(e.session))
        return
      case 'drop':
        if (this.#node.listenerCount('drop') > 0) this.#node.emit('drop', { reason: e.reason, from: e.from.toString() })
        this.#noteConnectionDrop(e.from)
        return
      default: {
        const s = e.session.owner as STTSession | null
        if (!s) return
        if (e.kind === 'resume-attempt') return this.#resumer.onAttempt(e.session, resumeTargets.get(s), e.attempt)
        sessionInternals.dispatch(s, e)
        if (e.kind === 'closed') {
          this.sessions.delete(s.id)
          e.session.owner = null
          this.#releaseConnection(e.session)
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
  #releaseConnection(core: CoreSession): void {
    const addr = core.address
    const transport = this.router.transportOf(addr)
    if (!transport?.release) return
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
  #noteConnectionDrop(from: PeerAddress): void {
    const transport = this.router.transportOf(from)
    if (!transport?.release) return
    const n = (this.#garbage.get(from.key) ?? 0) + 1
    if (n < GARBAGE_LIMIT) {
      if (this.#garbage.size < 65_536) this.#garbage.set(from.key, n)
      return
    }
    this.#garbage.delete(from.key)
    for (const s of this.endpoint.allSessions()) if (s.address.key === from.key && s.state !== 'closed') return
    transport.release(from)
  }

  #onMessage(session: STTSession, streamId: number, data: Uint8Array): void {
    if (this.hooks.message?.(session, streamId, data)) return
    const p = { sessionId: session.id, streamId, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) }
    session.emit('message', p)
    this.received.push(p)
  }

  /** Dials `req.url` and runs the handshake; resolves with the established session. */
  async connect(req: DialRequest): Promise<STTSession> {
    const ep = this.ep
    const { transport, signal } = req
    if (signal?.aborted) throw new STTError(ErrorCode.ABORTED, 'connect aborted')
    const addr = await transport.dial(req.url, req.dialOptions)
    if (signal?.aborted) {
      transport.release?.(addr)
      throw new STTError(ErrorCode.ABORTED, 'connect aborted')
    }
    const handle = ep.connect(this.#now(), addr, { peerNodeId: req.peerNodeId, timeout: req.timeout, bare: req.bare, congestionControl: req.congestionControl, resumable: req.resumable, resumeTimeout: req.resumeTimeout, resume: req.resume, requireResume: req.requireResume })
    if (req.internal) this.#internal.add(handle)
    const promise = new Promise<STTSession>((resolve, reject) => {
      const done = (s: STTSession) => {
        if (!resumeTargets.has(s)) resumeTargets.set(s, [req.url])
        resolve(s)
      }
      this.#connects.set(handle, { resolve: done, reject })
      signal?.addEventListener(
        'abort',
        () => {
          if (!this.#connects.has(handle)) return
          this.#connects.delete(handle)
          ep.cancel(handle)
          reject(new STTError(ErrorCode.ABORTED, 'connect aborted'))
        },
        { once: true },
      )
    })
    this.#service()
    return promise.catch((err) => {
      transport.release?.(addr)
      throw err
    })
  }

  /** An address for `target` on the matching transport (session migration). */
  async #dialFor(target: string, options: MigrateOptions): Promise<PeerAddress> {
    const transport = await this.router.forMigration(target)
    return transport.dial(target, options as Record<string, unknown>)
  }

  /** Closes every session (SESSION_CLOSE to each peer) and every transport. */
  async stop(reason: string): Promise<void> {
    if (!this.#started || this.#stopping) return
    this.#stopping = true
    const ep = this.endpoint
    ep.closeAll(this.#now(), WireError.NO_ERROR, reason)
    this.#service()
    // Give the SESSION_CLOSE packets a turn to leave.
    await new Promise((r) => setImmediate(r))
    this.#service()
    for (const s of [...this.sessions.values()]) sessionInternals.dispatch(s, { kind: 'closed', session: sessionInternals.core(s), code: WireError.NO_ERROR, reason, remote: false })
    this.sessions.clear()
    for (const c of this.endpoint.allSessions()) c.owner = null
    for (const p of this.#connects.values()) p.reject(new STTSessionError(ErrorCode.SESSION_CLOSED, `node stopped: ${reason}`))
    this.#connects.clear()
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    this.#timerAt = Infinity
    this.#started = false
    await this.router.close()
    this.received.end()
    this.#stopping = false
  }
}
