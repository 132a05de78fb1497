/**
 * The sans-I/O endpoint: every session and handshake of one node, fed datagrams and `now`,
 * returning datagrams to send, the next deadline and events (quinn-proto's shape):
 *
 *   handleBatch(now, rx)   - demultiplex by packet type and session id (the handshakes this
 *                            endpoint started are pending-connects.ts, resumption resume-endpoint.ts)
 *   handleTimeout(now)     - handshake retransmissions/timeouts, session timers
 *   handleBlocked(path) / handleWritable(path) - the transport behind a path is above its
 *                            high-water mark / drained (the driver asks the transport)
 *   pollHandshakeTransmit() - the queued handshake datagrams (answers, retransmitted HELLOs) as
 *                            one MultiTxBatch, a destination per datagram, or null (outbox.ts)
 *   pollTransmit(now)      - next TxBatch (one destination), or null; send it before polling again
 *   pollTimeout(now)       - absolute time of the next deadline (Infinity: none)
 *   pollEvent()            - the next event (core-events.ts: one flat queue, in order)
 *
 * It never touches sockets, transports, timers or the wall clock; time, randomness and
 * transport writability come from outside.
 */
import type { AeadBackend, CipherSuite } from '../crypto/aead.js'
import { sha256 } from '../crypto/handshake-crypto.js'
import type { ProtocolConfig } from '../config.js'
import { ErrorCode, STTProtocolError, STTSessionError, WireError } from '../errors.js'
import type { MultiTxBatch, PeerAddress, RxBatch, TxBatch } from '../net-types.js'
import { HEADER_SIZE, HELLO_MIN_SIZE, PacketType, PROTOCOL_VERSION, TYPE_OFFSET, VERSION_OFFSET } from './constants.js'
import {
  chooseSuite,
  consumeAuthProof,
  createChallenge,
  createHandshakeError,
  createRetry,
  cookieNonceOf,
  HELLO_NONCE_SIZE,
  helloTokenLength,
  parseHello,
  type HandshakePayload,
} from './handshake.js'
import { sessionIdEquals, sessionKeyAt } from './header.js'
import { deriveGroupKeys, deriveIdentity, type GroupKeys, type NodeIdentity } from './identity.js'
import { sameParams, type SessionParams } from './params.js'
import { EndpointScheduler } from './endpoint-scheduler.js'
import { HELLOS_ANSWERED_PER_BACKLOGGED_BATCH, ResponderState, sourceOf } from './responder-state.js'
import { Session } from './session.js'
import { ResumptionManager } from './resume-endpoint.js'
import { PendingConnects } from './pending-connects.js'
import { udpPacketSize } from './udp-size.js'
import type { ConnectOptions, EndpointCounters } from './endpoint-types.js'
import type { CoreEvent } from './core-events.js'
import { Fifo } from './fifo.js'
import { Outbox } from './outbox.js'
import type { SessionLink } from './session-types.js'

export type { ConnectOptions, EndpointCounters } from './endpoint-types.js'
export type { CoreEvent } from './core-events.js'

/** Bytes per transmit batch on connection transports: well below their hard cap minus high-water mark. */
const RELIABLE_BATCH_BYTES = 256 * 1024
/** Packets one session may write per pollTransmit (one transport batch). */
const DEFAULT_TX_BATCH = 32

export class Endpoint {
  // Long-term secrets in true private fields: not reachable from any property, inspect() or JSON.
  readonly #identity: NodeIdentity
  readonly #group: GroupKeys
  /** Options without the seeds (they are only read once, to derive the keys above). */
  readonly config: ProtocolConfig
  private readonly sessions = new Map<number, Session>()
  /** Full handshakes this endpoint started (pending-connects.ts). */
  private readonly connects: PendingConnects
  private readonly responder: ResponderState
  private readonly resumption: ResumptionManager
  /** Handshake datagrams, each to its own address (outbox.ts): pollHandshakeTransmit / pollTransmit. */
  private readonly outbox = new Outbox()
  /** Ready set, deadline heap and blocked paths: no pass scans idle sessions. */
  private readonly sched = new EndpointScheduler<Session>()
  /** Every event of the endpoint and its sessions and streams, in the order they happened. */
  private readonly events = new Fifo<CoreEvent>()
  /** Sessions that ended since the last input: they leave the session map after it. */
  private readonly closedSessions: Session[] = []
  /** What every session holds of the endpoint: the event queue and the scheduler. */
  private readonly link: SessionLink = {
    events: this.events,
    schedule: (s: Session): void => {
      this.sched.schedule(s)
      // A session that ended schedules itself once more (Session.finish).
      if (s.state === 'closed') this.closedSessions.push(s)
    },
  }
  private nextHandle = 1
  /** Accept inbound handshakes (a node that only dials can turn this off). */
  acceptingConnections = true
  readonly counters: EndpointCounters = {
    handshakesInitiated: 0,
    handshakesCompleted: 0,
    handshakesFailed: 0,
    handshakesAccepted: 0,
    retriesSent: 0,
    dropped: {},
  }
  /** Called for every dropped datagram (operators' visibility). */
  /** Force address validation on every HELLO (tests; also useful under attack). */
  requireRetry = false
  /** Token-less HELLOs the batch being handled may still answer before the rest are shed (handleBatch). */
  private helloAllowance = Infinity

  // Transmit scratch: one slab, reused for every batch.
  private readonly txSlab: Uint8Array
  private readonly txOffsets: Uint32Array
  private readonly txLengths: Uint32Array
  private readonly one = { offsets: new Uint32Array([0]), lengths: new Uint32Array(1) }
  /** What pollTransmit returns, refilled on each call (valid until the next one): no object per batch. */
  private readonly tx: TxBatch = { slab: new Uint8Array(0), offsets: this.one.offsets, lengths: this.one.lengths, count: 0, to: null as unknown as PeerAddress }

  constructor(
    config: ProtocolConfig,
    private readonly aead: AeadBackend,
    private readonly random: (n: number) => Uint8Array,
    now: number,
    readonly txBatchSize = DEFAULT_TX_BATCH,
  ) {
    this.#group = deriveGroupKeys(config.sharedSeed)
    this.#identity = deriveIdentity(config.nodeSeed)
    this.config = { ...config, sharedSeed: new Uint8Array(0), nodeSeed: new Uint8Array(0) }
    this.responder = new ResponderState(random, config.handshakeTimeout)
    // Pending connects (pending-connects.ts) borrow the endpoint's parts as resumption does.
    this.connects = new PendingConnects(
      {
        config: this.config,
        aead,
        events: this.events,
        counters: this.counters,
        random,
        wall: (t) => this.wall(t),
        send: (to, data) => this.outbox.push(to, data),
        drop: (r, from) => this.drop(r, from),
        localParams: (bare, addr) => this.localParams(bare, addr),
        adopt: (s) => {
          this.sessions.set(s.key, s)
          this.sched.touch(s)
        },
        remove: (s) => this.removeSession(s),
        touch: (s) => this.sched.touch(s),
        link: this.link,
      },
      this.#group,
      this.#identity,
    )
    // Resumption (resume-endpoint.ts) borrows the endpoint's private parts through these closures.
    this.resumption = new ResumptionManager(
      { config: this.config, group: this.#group, nodeId: this.#identity.nodeId, random, sessions: this.sessions, events: this.events, counters: this.counters, wall: (t) => this.wall(t), send: (to, data) => this.outbox.push(to, data), drop: (r, from) => this.drop(r, from) },
      { rememberNonce: (n, from, t) => this.responder.rememberNonce(n, sourceOf(from), t, this.config.helloMaxSkew), payload: (bare, addr) => ({ name: this.config.name, params: this.localParams(bare, addr) }), remove: (x) => this.removeSession(x), connectFull: (t, addr, opts, handle) => void this.connect(t, addr, opts, handle), handshaking: (k) => this.connects.holds(k) },
      (init, bare) => this.addSession(new Session({ ...init, config: this.config, aead, random, localParams: this.localParams(bare, init.address) }, this.link)),
      config.nodeSeed,
    )
    void now
    const stride = Math.max(config.maxPacketSize, config.reliablePacketSize)
    this.txSlab = new Uint8Array(txBatchSize * stride)
    this.txOffsets = new Uint32Array(txBatchSize)
    this.txLengths = new Uint32Array(txBatchSize)
    for (let i = 0; i < txBatchSize; i++) this.txOffsets[i] = i * stride
  }

  /**
   * Wall-clock time (ms since the epoch) that goes with a monotonic `now` (item 6): HELLO
   * timestamps and the skew check use it, timers never. Without a call wall = `now`.
   */
  private wall: (now: number) => number = (now) => now

  syncWallClock(now: number, wallNow: number): void {
    this.wall = (t) => t + wallNow - now
  }

  /** The driver's wall clock, read only when a handshake needs it (not on every packet: issue 13). */
  readWallClockWith(read: () => number): void {
    this.wall = read
  }

  get nodeId(): Uint8Array {
    return this.#identity.nodeId
  }

  get sessionCount(): number {
    return this.sessions.size
  }

  allSessions(): IterableIterator<Session> {
    return this.sessions.values()
  }

  private localParams(bare: boolean, addr: PeerAddress): SessionParams {
    const c = this.config
    const maxPacketSize = addr.reliable ? Math.max(c.reliablePacketSize, c.maxPacketSize) : udpPacketSize(c, addr)
    return { maxStreams: c.maxConcurrentStreams, streamWindow: c.streamReceiveWindow, sessionWindow: c.sessionReceiveWindow, bareMode: bare, maxPacketSize }
  }

  /** The last CHALLENGE payload made, frozen and reused while its value holds (its encoding is remembered, handshake.ts). */
  private lastChallengePayload: HandshakePayload | null = null

  private challengePayload(addr: PeerAddress): HandshakePayload {
    const params = this.localParams(false, addr)
    const last = this.lastChallengePayload
    if (last !== null && last.name === this.config.name && sameParams(last.params, params)) return last
    return (this.lastChallengePayload = Object.freeze({ name: this.config.name, params: Object.freeze(params) }))
  }

  private drop(reason: string, from: PeerAddress): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1
    // An event, not a callback (issue 13 §1): the driver closes connections that send only
    // garbage and tells 'drop' listeners.
    this.events.push({ kind: 'drop', session: null, reason, from })
  }

  private addSession(s: Session): Session {
    // Callers check the slot first (resume-endpoint.ts collides): a live session is never overwritten.
    if ((this.sessions.get(s.key)?.state ?? 'closed') !== 'closed') throw new STTProtocolError(ErrorCode.PROTOCOL, 'internal: session-map slot in use')
    this.sessions.set(s.key, s)
    this.sched.touch(s)
    this.sched.schedule(s)
    return s
  }

  private removeSession(s: Session): void {
    if (this.sessions.get(s.key) === s) this.sessions.delete(s.key)
    this.sched.forget(s)
  }

  // -------------------------------------------------------------------------------------
  // Initiator
  // -------------------------------------------------------------------------------------

  /** Starts a handshake with `address`; the outcome arrives as a connected/connect-failed event. */
  connect(now: number, address: PeerAddress, opts: ConnectOptions = {}, handle = this.nextHandle++): number {
    const bare = opts.bare === true && address.reliable
    if (opts.resume) return this.resumption.connect(now, address, opts, handle, bare)
    return this.connects.connect(now, address, opts, handle, bare)
  }

  /** Abandons a pending connect (AbortSignal); no event follows. */
  cancel(handle: number): void {
    this.connects.cancel(handle)
    this.resumption.cancel(handle)
  }

  // -------------------------------------------------------------------------------------
  // Responder
  // -------------------------------------------------------------------------------------

  /** A handshake ERROR answering HELLO `pkt` (its session id and nonce echoed). */
  private helloError(pkt: Uint8Array, to: PeerAddress, code: number, macKey: Uint8Array | null): void {
    const echo = pkt.subarray(HEADER_SIZE + 32, HEADER_SIZE + 32 + HELLO_NONCE_SIZE)
    this.outbox.push(to, createHandshakeError(pkt.subarray(3, 11), echo, code, macKey))
  }

  private onHello(now: number, pkt: Uint8Array, from: PeerAddress): void {
    if (!this.acceptingConnections) return this.drop('not-accepting', from)
    if (pkt.length < HELLO_MIN_SIZE) return this.drop('short-hello', from)
    // The node is behind (the receive round filled the batch: the socket may hold more) under a
    // HELLO flood: established sessions' packets come first. Once the batch has had its allowance
    // of MAC-valid token-less HELLOs, a further token-less HELLO is shed before its MAC (it would
    // only have earned a RETRY); still metered, so RETRY stays engaged. Only MAC-valid HELLOs use
    // the allowance, so a non-member's garbage neither sheds an honest HELLO nor reaches the meter
    // (review 65). HELLOs with a token are never shed (PROTOCOL.md §3.3).
    if (this.helloAllowance <= 0 && pkt[VERSION_OFFSET] === PROTOCOL_VERSION && helloTokenLength(pkt) === 0 && this.responder.retryEngaged(now, this.requireRetry, this.config.retryThreshold)) {
      this.responder.meter(now)
      return this.drop('hello-shed', from)
    }
    const parsed = parseHello(pkt, this.#group.helloMacKey)
    if (typeof parsed !== 'string' && parsed.token === null && pkt[VERSION_OFFSET] === PROTOCOL_VERSION) this.helloAllowance--
    if (parsed === 'bad-mac') {
      this.drop('auth-failed', from)
      // Tell a non-member its seed is wrong (unless stealth): small, unauthenticated, rate-limited.
      if (!this.config.stealth && this.responder.takeReplyToken(now)) {
        this.helloError(pkt, from, WireError.AUTHENTICATION_FAILED, null)
      }
      return
    }
    if (pkt[VERSION_OFFSET] !== PROTOCOL_VERSION) {
      this.drop('version-mismatch', from)
      this.helloError(pkt, from, WireError.PROTOCOL_VERSION_MISMATCH, this.#group.helloMacKey)
      return
    }
    if (typeof parsed === 'string') return this.drop(`hello-${parsed}`, from)
    // Wall time: the initiator's clock and ours are compared, not our monotonic timers (item 6).
    if (Math.abs(this.wall(now) - parsed.timestamp) > this.config.helloMaxSkew) return this.drop('stale-hello', from)
    if (this.responder.hellos.seen(parsed.nonce, now)) return this.drop('replayed-hello', from)
    if (this.sessions.has(sessionKeyAt(pkt, 0)) || this.connects.holds(sessionKeyAt(pkt, 0)) || this.resumption.resuming(sessionKeyAt(pkt, 0))) return this.drop('session-id-collision', from)
    if (this.sessions.size >= this.config.maxSessions) {
      this.drop('too-many-sessions', from)
      this.helloError(pkt, from, WireError.TOO_MANY_SESSIONS, this.#group.helloMacKey)
      return
    }
    // Under load: prove the address (RETRY) before we spend a Diffie-Hellman on it.
    const admitted = this.responder.admit(parsed, from.key, sourceOf(from), now, this.requireRetry, this.config)
    if (admitted.kind === 'drop') return this.drop(admitted.reason, from)
    if (admitted.kind === 'retry') {
      this.counters.retriesSent++
      this.outbox.push(from, createRetry(parsed, admitted.token, this.#group.helloMacKey))
      return
    }
    const suite = chooseSuite(parsed.suites, this.config.ciphers)
    if (!suite) {
      this.drop('no-common-cipher', from)
      this.helloError(pkt, from, WireError.HANDSHAKE_FAILURE, this.#group.helloMacKey)
      return
    }
    const challenge = createChallenge(
      { group: this.#group, identity: this.#identity },
      parsed,
      suite as CipherSuite,
      this.challengePayload(from),
      this.responder.cookieKeys.sealing(now).cookie,
      from.key,
      now,
      this.random,
    )
    if (!challenge) return this.drop('bad-key', from)
    // Anti-amplification: never more than 3x what the unvalidated address sent us.
    if (challenge.length > 3 * pkt.length) return this.drop('amplification-limit', from)
    this.outbox.push(from, challenge)
  }

  private onAuthProof(now: number, pkt: Uint8Array, from: PeerAddress): void {
    const key = sessionKeyAt(pkt, 0)
    const existing = this.sessions.get(key)
    if (existing) {
      // Our FINAL was lost and the initiator repeats AUTH_PROOF: answer it again.
      if (!existing.isInitiator && Buffer.from(existing.proofDigest).equals(Buffer.from(sha256(pkt)))) existing.resendFinal()
      else this.drop('duplicate-session', from)
      return
    }
    if (!this.acceptingConnections) return this.drop('not-accepting', from)
    // Item 1: an AUTH_PROOF is accepted once, whether or not its session still exists.
    const nonce = cookieNonceOf(pkt)
    if (nonce && this.responder.accepted.has(nonce, now)) return this.drop('proof-replayed', from)
    // Fail closed before the two X25519 operations, not after them (review of issue 10).
    if (this.responder.accepted.full(now)) return this.drop('proof-store-full', from)
    const out = consumeAuthProof(pkt, this.responder.cookieKeys.opening(now).map((g) => g.cookie), from.key, now, this.config.handshakeTimeout, this.random)
    if (out.kind === 'drop') return this.drop(`proof-${out.reason}`, from)
    const r = out.result
    if (r.peer.params.bareMode && !from.reliable) return this.drop('bad-params', from)
    if (this.sessions.size >= this.config.maxSessions) {
      this.drop('too-many-sessions', from)
      this.outbox.push(from, createHandshakeError(r.sessionId, new Uint8Array(HELLO_NONCE_SIZE), WireError.TOO_MANY_SESSIONS, this.#group.helloMacKey))
      return
    }
    // Kept until the cookie could no longer be accepted (consumeAuthProof's age check).
    if (!this.responder.accepted.add(out.cookieNonce, out.cookieIssued + this.config.handshakeTimeout + 1, now)) return this.drop('proof-store-full', from)
    const session = new Session(
      { result: r, isInitiator: false, config: this.config, aead: this.aead, address: from, localParams: this.localParams(r.peer.params.bareMode, from), now, random: this.random },
      this.link,
    )
    session.proofDigest.set(sha256(pkt))
    this.sessions.set(session.key, session)
    this.counters.handshakesAccepted++
    this.events.push({ kind: 'accepted', session })
    this.resumption.issue(session, now)
    this.sched.schedule(session)
  }

  // -------------------------------------------------------------------------------------
  // Input
  // -------------------------------------------------------------------------------------

  handleBatch(now: number, rx: RxBatch): void {
    const { slab, offsets, lengths, count, from } = rx
    this.helloAllowance = rx.backlog === true ? HELLOS_ANSWERED_PER_BACKLOGGED_BATCH : Infinity
    let i = 0
    while (i < count) {
      const off = offsets[i]!
      const len = lengths[i]!
      if (len < HEADER_SIZE) {
        this.drop('truncated', from[i]!)
        i++
        continue
      }
      const type = slab[off + TYPE_OFFSET]!
      if (type === PacketType.DATA || type === PacketType.FINAL) {
        if (slab[off + VERSION_OFFSET] !== PROTOCOL_VERSION) {
          this.drop('bad-version', from[i]!)
          i++
          continue
        }
        const key = sessionKeyAt(slab, off)
        const found = this.sessions.get(key)
        const s = found !== undefined && sessionIdEquals(slab, off, found.id) ? found : undefined
        if (!s && type === PacketType.FINAL) {
          this.connects.onFinal(now, slab, offsets, lengths, i, from)
          i++
          continue
        }
        if (!s) {
          this.drop('unknown-session', from[i]!)
          i++
          continue
        }
        // A run of consecutive packets for the same session is opened as one batch.
        let j = i + 1
        // Same checks as for packet i, so a packet that differs is judged (and counted) on its own.
        while (j < count && this.sameRun(slab, offsets[j]!, lengths[j]!, type, s)) j++
        if (s.state === 'closing') s.resendClose()
        else s.handlePackets(now, slab, offsets, lengths, i, j - i, from)
        i = j
        continue
      }
      const pkt = slab.subarray(off, off + len)
      switch (type) {
        case PacketType.HELLO:
          this.onHello(now, pkt, from[i]!)
          break
        case PacketType.CHALLENGE:
          this.connects.onChallenge(now, pkt, pkt[2]!, from[i]!)
          break
        case PacketType.AUTH_PROOF:
          this.onAuthProof(now, pkt, from[i]!)
          break
        case PacketType.ERROR:
          if (!this.resumption.onError(now, pkt)) this.connects.onHandshakeError(now, pkt, from[i]!)
          break
        case PacketType.RESUME:
        case PacketType.RESUME_ACCEPT:
          this.resumption.onPacket(now, type, pkt, from[i]!, this.acceptingConnections)
          break
        default:
          this.drop('unknown-type', from[i]!)
      }
      i++
    }
    this.removeClosed()
  }

  /** True when the datagram at `off` is one more protected packet of `type` for session `s`. */
  private sameRun(slab: Uint8Array, off: number, len: number, type: number, s: Session): boolean {
    return (
      len >= HEADER_SIZE &&
      slab[off + TYPE_OFFSET] === type &&
      slab[off + VERSION_OFFSET] === PROTOCOL_VERSION &&
      sessionKeyAt(slab, off) === s.key &&
      sessionIdEquals(slab, off, s.id)
    )
  }

  /** A connection-oriented transport lost the connection: sessions on it are closed. */
  handlePeerClosed(addr: PeerAddress, reason: string, clean = false, now = 0): void {
    for (const s of this.sessions.values()) {
      if (s.address.key !== addr.key || s.state === 'closed') continue
      // A session already closing (SESSION_CLOSE sent or received) ends as it was closing: the
      // peer releasing the connection after it saw our SESSION_CLOSE is not an error.
      if (s.state === 'closing') s.finish(s.closeCode, s.closeReason, false)
      // The peer released the connection on purpose (e.g. it dropped a duplicate auto://
      // attempt): a remote close without an error, as a TCP FIN is for net.Socket.
      // A connection lost without a close (1006): a resumable session waits for its peer (issue 12).
      else if (!clean && (s.state === 'suspended' || s.suspend(now))) continue
      else if (clean) s.finish(WireError.NO_ERROR, `transport connection closed: ${reason}`, true)
      else s.finish(WireError.WEBSOCKET_CLOSED, `transport connection closed: ${reason}`, true)
    }
    this.connects.onPeerClosed(addr, reason)
    this.sched.unblock(addr.key)
    this.removeClosed()
  }

  /**
   * The transport behind `pathKey` (an address key) is above its high-water mark: sessions
   * on that path send nothing until handleWritable. Without this a WebSocket whose peer
   * stopped reading kept being fed until the transport dropped packets at its hard cap, and
   * in bare mode (no STT retransmission) those bytes were lost for good
   * (test/integration/node-ws-backpressure.test.ts).
   */
  handleBlocked(pathKey: string): void {
    this.sched.block(pathKey)
  }

  /** The transport behind `pathKey` drained: its waiting sessions may send again. */
  handleWritable(pathKey: string): void {
    this.sched.unblock(pathKey)
  }

  handleTimeout(now: number): void {
    this.responder.cookieKeys.onTimeout(now)
    this.resumption.handleTimeout(now)
    this.connects.handleTimeout(now)
    // Only sessions whose deadline is due: the heap holds every session's next deadline.
    this.sched.refresh(now)
    for (let s = this.sched.popDue(now); s; s = this.sched.popDue(now)) s.handleTimeout(now)
    this.removeClosed()
  }

  /** Sessions closed by the last input leave the map at once, whether or not events are polled. */
  private removeClosed(): void {
    if (this.closedSessions.length === 0) return
    for (const s of this.closedSessions) if (s.state === 'closed') this.removeSession(s)
    this.closedSessions.length = 0
  }

  // -------------------------------------------------------------------------------------
  // Output
  // -------------------------------------------------------------------------------------

  /**
   * Up to 64 queued handshake datagrams of one transport kind, datagram i to dests[i] (valid
   * until the next call), or null. A driver that polls this before pollTransmit hands a receive
   * batch's answers (a RETRY per flooding address) to its transport in one call; pollTransmit
   * alone hands them over one by one. Either way every datagram goes where it was queued for.
   */
  pollHandshakeTransmit(): MultiTxBatch | null {
    return this.outbox.pollBatch()
  }

  /** The next datagrams to send, or null. The returned batch is valid until the next call. */
  pollTransmit(now: number): TxBatch | null {
    const o = this.outbox.shift()
    if (o) {
      this.one.lengths[0] = o.data.length
      return this.batch(o.data, this.one.offsets, this.one.lengths, 1, o.to)
    }
    const ready = this.sched.ready
    ready.compact()
    for (let i = ready.nextIndex(0), s = ready.at(i); s !== null; i = ready.nextIndex(i + 1), s = ready.at(i)) {
      if (!s.wantsToSend(now)) {
        ready.delete(s)
        continue
      }
      // A blocked path (handleBlocked) parks the session until handleWritable.
      if (this.sched.parkIfBlocked(s)) continue
      // Whatever it writes moves its deadlines (pacer, loss timer, path retry).
      this.sched.touch(s)
      const pathTo = s.writePathChallenge(now, this.txSlab, this.txOffsets, this.txLengths)
      if (pathTo) return this.batch(this.txSlab, this.txOffsets, this.txLengths, 1, pathTo)
      if (s.writePmtuProbe(now, this.txSlab, this.txOffsets, this.txLengths)) return this.batch(this.txSlab, this.txOffsets, this.txLengths, 1, s.address)
      // Over a connection (WebSocket) one batch must fit what the transport still takes above
      // its high-water mark: it drops beyond its hard cap, and in bare mode nothing resends.
      const max = s.address.reliable ? Math.max(1, Math.min(this.txBatchSize, Math.floor(RELIABLE_BATCH_BYTES / s.packetSize))) : this.txBatchSize
      const n = s.writePackets(now, this.txSlab, this.txOffsets, this.txLengths, max)
      if (n === 0) {
        ready.delete(s)
        continue
      }
      // Nothing more due: out of the ready set now, not at the next poll. Else round-robin: a busy one goes to the back.
      if (s.sentAll) ready.delete(s)
      else if (ready.size > 1) {
        ready.delete(s)
        ready.add(s)
      }
      return this.batch(this.txSlab, this.txOffsets, this.txLengths, n, s.address)
    }
    return null
  }

  private batch(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, to: PeerAddress): TxBatch {
    const tx = this.tx
    tx.slab = slab
    tx.offsets = offsets
    tx.lengths = lengths
    tx.count = count
    tx.to = to
    return tx
  }

  pollTimeout(now: number): number {
    let t = Infinity
    if (this.outbox.length) return now
    // Cookie keys are retired and wiped on time, even on an idle node (item 3).
    t = Math.min(this.responder.cookieKeys.deadline(), this.resumption.deadline(), this.connects.deadline())
    return Math.min(t, this.sched.nextDeadline(now))
  }

  /**
   * The next event (core-events.ts), or null. Events are returned in the order they happened;
   * 'established' and 'ticket' are the endpoint's own ('connected', 'resumption-token').
   */
  pollEvent(): CoreEvent | null {
    for (let e = this.events.shift(); e !== undefined; e = this.events.shift()) {
      switch (e.kind) {
        case 'established': {
          const handle = this.connects.established(e.session)
          if (handle !== null) return { kind: 'connected', session: e.session, handle }
          const out = this.resumption.sessionEvent(e.session, e)
          if (out) return out
          continue
        }
        case 'ticket': {
          const out = this.resumption.sessionEvent(e.session, e)
          if (out) return out
          continue
        }
        case 'closed':
          if (e.session.state === 'closed') this.removeSession(e.session)
          return e
        default:
          return e
      }
    }
    return null
  }

  /** Closes every session (SESSION_CLOSE to each) and abandons pending connects. */
  closeAll(now: number, code: number, reason: string): void {
    this.connects.failAll(reason)
    this.resumption.failAll(new STTSessionError(ErrorCode.SESSION_CLOSED, `node stopping: ${reason}`))
    for (const s of this.sessions.values()) s.close(code, reason, now)
  }
}
