/**
 * One established (or, on the initiator, about-to-be-confirmed) STT session, sans-I/O: the
 * glue between its parts and the frame dispatch.
 *
 * Inbound, per batch of packets for this session (handlePackets):
 *   1. PacketSpace.open: replay pre-check, AEAD open in place (one batch call per key phase),
 *      replay window update, key-phase advance
 *   2. lifecycle (session-lifecycle.ts): handshake confirmation, keep-alive clock
 *   3. roaming: an authenticated, newest packet from a new address starts path validation
 *   4. frames: ACK/NACK -> loss recovery; stream frames -> StreamManager; the rest here
 * Outbound (writePackets): session-writer.ts fills packets through the one PacketAssembler, then
 * one seal for all of them; the path challenge (path-probe.ts) and PMTU probe (pmtu-probe.ts)
 * are other frame sources through it.
 */
import type { CipherSuite } from '../crypto/aead.js'
import { WireError } from '../errors.js'
import type { PeerAddress } from '../net-types.js'
import type { ProtocolConfig } from '../config.js'
import { AckTracker, FULL_PACKET_SLACK } from './ack-tracker.js'
import { NO_CONTROLLER_YET } from './congestion/base.js'
import { FlowTuning } from './flow-autotune.js'
import { AEAD_TAG_SIZE, FrameType, HEADER_SIZE } from './constants.js'
import type { AmplificationBudget } from './amplification.js'
import { OffPathSender } from './off-path.js'
import { PathFallback } from './path-fallback.js'
import { type DataFrame, type Frame, frameScratch, isAckEliciting, isProbing, readFrame } from './frames.js'
import { INTEGRITY_LIMIT, packetsPerKey } from './aead-limits.js'
import { PathValidation } from './path-validation.js'
import { PATH_PROBE_SIZE, PathProber } from './path-probe.js'
import type { PmtuSearch } from './pmtu.js'
import { PacketSize } from './packet-size.js'
import { PmtuProber } from './pmtu-probe.js'
import { copyOut } from './recv-buffer.js'
import { sessionKeyOf } from './header.js'
import { LossDetector, type LossRecovery, PassThroughLossDetector } from './loss.js'
import { PacketAssembler, SentRecord } from './packet-assembler.js'
import { PacketSpace } from './packet-space.js'
import { packBytes } from './packed-bytes.js'
import type { SessionParams } from './params.js'
import { RttEstimator } from './rtt.js'
import { SessionLifecycle, type SessionState } from './session-lifecycle.js'
import type { SessionInit, SessionLink } from './session-types.js'
import { SessionQueues } from './session-queues.js'
import { Suspension, type SuspensionEvent } from './suspension.js'
import { SessionResumption } from './session-resumption.js'
import { SessionCounters, sessionStats } from './session-stats.js'
import { SessionWriter } from './session-writer.js'
import { StreamManager } from './streams.js'
import { Reader } from './varint.js'
import { seedOf } from './xorshift.js'

export type { SessionState } from './session-lifecycle.js'
export { SentRecord } from './packet-assembler.js'
export type { SessionInit, SessionLink } from './session-types.js'

export class Session {
  readonly id: Uint8Array
  readonly key: number
  readonly isInitiator: boolean
  readonly peerNodeId: Uint8Array
  readonly peerName: string
  readonly peerParams: SessionParams
  readonly bare: boolean
  readonly suite: string
  readonly transcript: Uint8Array
  address: PeerAddress
  readonly streams: StreamManager<Session>
  readonly counters = new SessionCounters()
  readonly rtt: RttEstimator
  readonly recovery: LossRecovery<SentRecord>
  /** Time, RTT and cwnd for window auto-tuning (flow-autotune.ts). */
  private readonly tuning: FlowTuning
  readonly acks: AckTracker
  private readonly space: PacketSpace
  private readonly assembler: PacketAssembler
  private readonly life: SessionLifecycle
  /** Suspension instead of idle close; made on first use (idle memory, issue 14), null until then. */
  suspension: Suspension | null = null
  /** -1: not resumable (bare mode never is: its data is freed once written). */
  private readonly resumeTimeout: number
  /** Resumption secret, tickets, and the gate of a session made by RESUME (session-resumption.ts). */
  readonly resumption: SessionResumption
  /** Path validation of new peer addresses (roaming, migration); challenge = header + KEEP_ALIVE + tag. */
  private readonly path = new PathValidation(PATH_PROBE_SIZE)
  /** Address of the packet whose frames are being processed, and whether it was the newest. */
  private currentFrom: PeerAddress | null = null
  private currentNewest = false
  /** The validated previous path the packet being processed came from: moved to after its frames unless they are all probing. */
  private backTo: PeerAddress | null = null
  /** Hole punches and path responses, sent off the current path (off-path.ts). */
  private readonly offPath = new OffPathSender(this.counters)
  private readonly pathProber: PathProber
  /** The relay channel to go back to when a punched direct path dies (path-fallback.ts). */
  readonly fallback = new PathFallback()

  readonly createdAt: number
  /** Scheduler bookkeeping: deadline heap slot, ready list slot, stale mark (endpoint-scheduler.ts). */
  heapIndex = -1
  heapDeadline = Infinity
  readySlot = -1
  deadlineStale = false
  /** The driver's object for this session (its STTSession), so events reach it without a lookup; the core never reads it. */
  owner: unknown = null
  /** Responder: digest of the AUTH_PROOF that created it, set by the endpoint (a repeat means FINAL was lost). */
  readonly proofDigest: Uint8Array
  /** Outbound packets on the current path (session-writer.ts). */
  private readonly writer: SessionWriter
  private readonly queues: SessionQueues
  /** Packet size limits of the current path and its MTU search (packet-size.ts). */
  private readonly size: PacketSize
  private readonly prober: PmtuProber
  private readonly config: ProtocolConfig
  private readonly random: (n: number) => Uint8Array

  constructor(
    init: SessionInit,
    /** The endpoint's: its event queue, and where this session asks for a service pass. */
    private readonly link: SessionLink,
  ) {
    const { result, config, aead, now } = init
    const [id, peerNodeId, transcript, finalRandom, proofDigest] = packBytes([result.sessionId, result.peerNodeId, result.transcript, result.finalRandom, 32])
    this.id = id!
    this.key = sessionKeyOf(id!)
    this.isInitiator = init.isInitiator
    this.peerNodeId = peerNodeId!
    this.peerName = result.peer.name
    this.peerParams = result.peer.params
    this.bare = init.localParams.bareMode
    this.suite = result.suite
    this.transcript = transcript!
    this.proofDigest = proofDigest!
    this.address = init.address
    this.createdAt = now
    this.config = config
    this.random = init.random
    this.life = new SessionLifecycle(config, init.isInitiator, now)
    this.queues = new SessionQueues(config.maxQueuedDatagrams, this.counters)
    this.size = new PacketSize(config, init.localParams.maxPacketSize, result.peer.params.maxPacketSize, init.address, this.bare, now)

    this.rtt = new RttEstimator()
    // The traffic and resumption secrets in one buffer of their own (never beside bytes the
    // application sees); the handshake's copies are zeroed, as destroyKey zeroes these.
    const [mySecret, peerSecret, master] = packBytes(init.isInitiator ? [result.i2r, result.r2i, 32] : [result.r2i, result.i2r, 32])
    this.resumption = new SessionResumption(result, master!, init.generation, init.resumed)
    result.i2r.fill(0)
    result.r2i.fill(0)
    const suite = result.suite as CipherSuite
    const limits = {
      rekeyAfterPackets: packetsPerKey(suite, config.rekeyAfterPackets, Math.max(init.localParams.maxPacketSize, config.reliablePacketSize, result.peer.params.maxPacketSize)),
      rekeyAfterMs: config.rekeyAfterMs,
      integrityLimit: Math.min(INTEGRITY_LIMIT[suite], config.integrityLimitOverride ?? Infinity),
    }
    const final = { random: finalRandom!, accept: init.isInitiator }
    const onKeyUpdate = (direction: 'send' | 'receive') => link.events.push({ kind: 'key-update', session: this, direction })
    this.space = new PacketSpace(aead, suite, mySecret!, peerSecret!, limits, now, this.counters, onKeyUpdate, final, this.rtt)
    this.tuning = new FlowTuning(Math.max(config.sessionMemoryLimit, config.sessionReceiveWindow, config.streamReceiveWindow))
    // The controller is made on the first data (session-writer.ts), from what is fixed now: sized
    // by the path's upper limit (packets start at the PMTU base, 1200, and grow), seeded now.
    const congestion = { algorithm: this.bare ? 'none' : (init.congestionControl ?? config.congestionControl), maxDatagramSize: this.size.limit, seed: seedOf(init.random(4)) | 0 } as const
    this.recovery = this.bare ? new PassThroughLossDetector<SentRecord>(this.rtt, NO_CONTROLLER_YET) : new LossDetector<SentRecord>(this.rtt, NO_CONTROLLER_YET)
    this.assembler = new PacketAssembler(this.id, this.space, this.recovery, this.counters, this.bare ? (rec) => this.onRecordAcked(rec, 0) : null)
    // ACK every 8th ack-eliciting packet (or within max_ack_delay): at line rate ACK packets cost the
    // receiver as much CPU as data packets (bench: 2 -> 8 took JS-backend loopback from 0.36 to see bench/README.md).
    this.pathProber = new PathProber(this.path, this.offPath, this.assembler, this.space, this.rtt)
    this.acks = new AckTracker({ nack: !this.bare, ackElicitingThreshold: 8 }, this.rtt)
    this.streams = new StreamManager(
      {
        isInitiator: init.isInitiator,
        maxConcurrentStreams: config.maxConcurrentStreams,
        streamReceiveWindow: config.streamReceiveWindow,
        sessionReceiveWindow: config.sessionReceiveWindow,
        streamSendBuffer: config.streamSendBuffer,
        maxMessageSize: config.maxMessageSize,
        reliable: !this.bare,
        tuning: this.tuning,
      },
      { maxStreams: result.peer.params.maxStreams, streamWindow: result.peer.params.streamWindow, sessionWindow: result.peer.params.sessionWindow },
    )
    this.streams.attach(this, link.events)
    this.streams.schedule = () => link.schedule(this)
    this.streams.allAcked = () => link.events.push({ kind: 'all-acked', session: this })
    const { life, acks, queues, streams, resumption, assembler, space, recovery, rtt, size, path, offPath, bare, random } = this
    this.writer = new SessionWriter({ life, acks, queues, streams, resumption, assembler, space, recovery, rtt, congestion, size, path, offPath, bare, random, onCloseSent: () => this.emitClosed(this.closeCode, this.closeReason, false) })
    this.prober = new PmtuProber(this.pmtu, this.assembler, this.space, this.writer, this.rtt, this.random)
    this.resumeTimeout = (init.resumable ?? config.resumable) && !this.bare ? init.resumeTimeout ?? config.resumeTimeout : -1
  }

  private createSuspension(): Suspension {
    const link = this.link
    const parts = { life: this.life, rtt: this.rtt, recovery: this.recovery, streams: this.streams, releaseRecord: (r: SentRecord) => this.assembler.release(r), push: (e: SuspensionEvent) => link.events.push({ ...e, session: this }), pathTimeout: (t: number) => this.path.onTimeout(t), refitPath: () => this.fitPacketSize(this.address), clearProbes: () => (this.writer.probesWanted = 0), close: (c: number, r: string, t: number) => this.close(c, r, t) }
    return (this.suspension = new Suspension(this.resumeTimeout, this.isInitiator, this.random, parts))
  }

  get state(): SessionState {
    return this.life.state
  }

  /** Initiator: AUTH_PROOF retransmission deadline until the first packet from the responder. */
  get handshakeDeadline(): number {
    return this.life.handshakeDeadline
  }

  set handshakeDeadline(t: number) {
    this.life.handshakeDeadline = t
  }

  get closeCode(): number {
    return this.life.closeCode
  }

  get closeReason(): string {
    return this.life.closeReason
  }

  /** Path MTU search of the current path (stats, tests). */
  get pmtu(): PmtuSearch {
    return this.size.pmtu
  }

  private fitPacketSize(addr: PeerAddress): void {
    this.size.fit(addr, this.life.lastReceived)
  }

  /** Largest packet this session sends (the smaller of both sides' limits for its transport). */
  get packetSize(): number {
    return this.size.current
  }

  /** Largest datagram payload sendDatagram accepts. */
  get maxDatagramPayload(): number {
    return this.size.maxDatagramPayload
  }

  // -------------------------------------------------------------------------------------
  // Inbound
  // -------------------------------------------------------------------------------------

  /** Packets [first, first+count) of the batch, all with this session's id, decrypted in place; returns how many authenticated. */
  handlePackets(now: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, first: number, count: number, from: PeerAddress[]): number {
    if (this.state === 'closed') return 0
    this.tune(now)
    const accepted = this.space.open(now, slab, offsets, lengths, first, count, from, this)
    if (this.space.integrityLimitReached) this.close(WireError.ENCRYPTION_ERROR, 'AEAD integrity limit reached (too many packets failed authentication)', now)
    if (accepted > 0) this.link.schedule(this)
    return accepted
  }

  /** PacketSpace.open's reader: one authenticated packet of the batch (a method: no closure per session). */
  onOpened(now: number, slab: Uint8Array, pn: number, off: number, len: number, from: PeerAddress): boolean {
    this.onAuthenticated(now, pn, from, len)
    this.processFrames(now, pn, slab, off + HEADER_SIZE, off + len - AEAD_TAG_SIZE)
    return this.state !== 'closed'
  }

  private onAuthenticated(now: number, pn: number, from: PeerAddress, len: number): void {
    this.counters.packetsReceived++
    this.counters.bytesReceived += len
    if (this.life.onAuthenticated(now)) this.link.events.push({ kind: 'established', session: this })
    this.resumption.onHeard(from)
    this.currentFrom = from
    this.currentNewest = pn >= this.space.largestReceived
    // Back to the validated previous path only on a non-probing packet (RFC 9000 §9.3), known
    // once its frames are read (processFrames); the fallback is followed at once.
    this.backTo = this.path.consider(from, this.address, this.currentNewest, this.bare, len, this.random, now)
    if (this.backTo) return
    const back = this.fallback.onPacket(from, this.address, this.currentNewest, now, this.rtt.pto())
    if (back) this.moveTo(back, true, now)
    else if (this.state === 'suspended' && this.currentNewest && from.key === this.address.key) this.suspension!.resume(now)
  }

  /**
   * The echo of a punch or of a path challenge (§8.4). The punched move (the relay stays the
   * fallback, no validated `previous`) is only for the first move off the relay channel: off it,
   * a punch echo moves nothing and a challenge's echo is an apparent migration (§2.1).
   */
  private onKeepAliveAck(data: Uint8Array, now: number): void {
    const onRelay = this.fallback.holds(this.address)
    const punched = this.offPath.answered(data, this.currentFrom)
    if (punched) {
      if (onRelay && punched.key !== this.address.key) this.moveTo(punched, false, now)
      return
    }
    const c = this.path.validated(data, this.currentFrom)
    // A punch target that echoed our challenge proved what a punch echo proves.
    if (c) this.moveTo(c, !(onRelay && this.offPath.reachedPunchTarget(c)), now)
  }

  /** Budget of the address being validated (tests: issue 10, item 4). */
  get candidateBudget() {
    return this.path.candidateBudget
  }

  /**
   * Switches the session to `addr`: a validated path after the peer's address changed
   * (`apparent`: the old path is then validated too, RFC 9000 §9.3.3), or our own migration.
   */
  private moveTo(addr: PeerAddress, apparent: boolean, now: number): void {
    const old = this.address
    this.path.moved(old, apparent, now, this.rtt.pto(), this.random, this.resumption.budgetFor(old))
    this.fallback.moved(now)
    this.address = addr
    this.fitPacketSize(addr)
    this.counters.migrations++
    this.resumption.onMoved()
    this.link.events.push({ kind: 'migrated', session: this, from: old, to: addr })
    if (apparent) this.suspension?.resume(now)
  }

  private processFrames(now: number, pn: number, buf: Uint8Array, start: number, end: number): void {
    const r = new Reader(buf, start, end)
    const backTo = this.backTo
    this.backTo = null
    let ackEliciting = false
    let probingOnly = true
    while (r.pos < r.end) {
      const f = readFrame(r, frameScratch)
      if (typeof f === 'string') {
        this.counters.drop(f === 'unknown-frame' ? 'unknown-frame' : 'malformed-frame')
        this.close(f === 'unknown-frame' ? WireError.UNKNOWN_FRAME_TYPE : WireError.INVALID_FRAME, `peer sent a ${f} frame`, now)
        return
      }
      if (isAckEliciting(f.type)) ackEliciting = true
      if (!isProbing(f.type)) probingOnly = false
      const err = this.handleFrame(now, f)
      if (err) {
        this.close(err, 'protocol violation by peer', now)
        return
      }
      if (this.state === 'closed') return
    }
    // Not when a frame of this packet already moved the session there (a punch echo).
    if (backTo && !probingOnly && backTo.key !== this.address.key) this.moveTo(backTo, true, now)
    if (!this.bare) this.acks.onPacketReceived(pn, ackEliciting, now, end - start + FULL_PACKET_SLACK >= this.size.current)
  }

  private handleFrame(now: number, f: Frame): number {
    if ('app' in f) {
      this.link.events.push({ kind: 'app-frame', session: this, frameType: f.type, data: copyOut(f.data) })
      return 0
    }
    switch (f.type) {
      case FrameType.PADDING:
        return 0
      case FrameType.ACK: {
        const out = this.recovery.onAck(f.ranges, f.ackDelayMicros, now)
        if (out.error) return out.error
        for (let i = 0; i < out.acked.length; i++) this.onRecordAcked(out.acked[i]!, now)
        this.pmtu.onAckFrameDone()
        this.onRecordsLost(out.lost, now)
        return 0
      }
      case FrameType.NACK: {
        this.onRecordsLost(this.recovery.onNack(f.packetNumbers, now), now)
        return 0
      }
      case FrameType.KEEP_ALIVE:
        if (!this.offPath.onKeepAlive(f.data, this.currentFrom, this.address, this.currentFrom && this.path.budgetFor(this.currentFrom))) this.queues.pushEcho(f.data)
        return 0
      case FrameType.KEEP_ALIVE_ACK:
        this.onKeepAliveAck(f.data, now)
        return 0
      case FrameType.DATA:
        if (!(f as DataFrame).datagram) return this.streams.handleFrame(f, now)
        this.counters.datagramsReceived++
        this.link.events.push({ kind: 'datagram', session: this, data: copyOut(f.data) })
        return 0
      case FrameType.SESSION_CLOSE:
        this.finish(f.errorCode, f.reason, true)
        return 0
      case FrameType.NEW_TICKET:
        if (this.isInitiator) this.link.events.push({ kind: 'ticket', session: this, ticket: f.ticket, expires: f.expires })
        return 0
      case FrameType.ERROR:
        this.link.events.push({ kind: 'peer-error', session: this, code: f.errorCode, frameType: f.frameType, reason: f.reason })
        return 0
      default:
        return this.streams.handleFrame(f, now)
    }
  }

  private onRecordAcked(rec: SentRecord, now: number): void {
    if (rec.ackLargest >= 0) this.acks.onAckFrameAcked(rec.ackLargest)
    this.pmtu.onAcked(rec.pmtuProbe, rec.size, now)
    this.streams.onAcked(rec.streams)
    this.assembler.release(rec)
  }

  /** Packets declared lost by one loss-detection round (ACK, NACK or timer). */
  private onRecordsLost(lost: readonly SentRecord[], now: number): void {
    if (lost.length === 0) return
    this.counters.lostPackets += lost.length
    let large = 0
    for (const rec of lost) {
      if (this.pmtu.onLost(rec.pmtuProbe, rec.size, now)) large++
      this.streams.onLost(rec.streams)
      this.resumption.onLost(rec)
      this.assembler.release(rec)
    }
    // One round counts once for black-hole detection, however many packets it declared lost.
    this.pmtu.onPacketsLost(large)
  }

  // -------------------------------------------------------------------------------------
  // Timers
  // -------------------------------------------------------------------------------------

  /**
   * Absolute time of the next thing this session must do (Infinity: nothing). With
   * `sendable` false (its path is blocked) the deadlines that only lead to sending (ACK
   * delay, pacer) are left out: handleWritable brings the session back, not a timer.
   */
  pollTimeout(now: number, sendable = true): number {
    if (this.state === 'closed') return Infinity
    if (this.state === 'closing') return this.life.deadline()
    // Events need no deadline: they go into the endpoint's queue as they happen, app calls'
    // included (test/sim/transfer.test.ts "slow reader").
    if (this.state === 'suspended') return Math.min(this.suspension!.deadline(), this.path.retryAt)
    let t = Math.min(this.life.deadline(), this.path.retryAt, this.space.previousKeyDeadline, this.pmtu.getTimeout(), this.offPath.nextAt)
    if (!this.bare) t = Math.min(t, this.recovery.getTimeout())
    if (!sendable || this.resumption.blocked(this.address)) return t
    if (!this.bare) t = Math.min(t, this.acks.getTimeout(now))
    // Data held back only by the pacer needs a wake-up when tokens are back.
    // (No controller yet: a new one's pacer lets the first packet go now.)
    const cc = this.writer.cc
    if (this.state === 'active' && this.resumption.dataAllowed && (this.streams.wantsToSend() || this.queues.hasDatagrams) && (cc === null || cc.canSend(this.packetSize))) {
      t = Math.min(t, cc === null ? now : this.writer.pacer!.nextSendTime(now, this.packetSize))
    }
    return t
  }

  handleTimeout(now: number): void {
    if (this.state === 'closed' || this.state === 'handshaking') return
    if (this.state === 'suspended') return this.suspendedTimeout(now)
    const out = this.life.onTimeout(now)
    if (out === 'linger-over') return this.finish(this.closeCode, this.closeReason, false)
    if (out === 'idle-timeout' && this.suspend(now)) return
    if (out === 'idle-timeout') return this.close(WireError.SESSION_TIMEOUT, `no authenticated packet for ${this.config.keepAliveTimeout} ms`, now)
    if (this.state === 'closing') return
    this.path.onTimeout(now)
    this.space.expire(now)
    if (now >= this.pmtu.getTimeout()) this.pmtu.onTimeout(now)
    if (now >= this.recovery.getTimeout()) {
      const lost = this.recovery.onTimeout(now)
      this.onRecordsLost(lost.lost, now)
      if (lost.probes > 0) {
        this.writer.probesWanted = lost.probes
        for (const rec of lost.probeRecords) this.streams.onLost(rec.streams)
        // Nothing acknowledged for a PTO: above base, a base-size probe checks for a black hole.
        this.pmtu.onPtoExpired()
        const back = this.fallback.onPto(this.recovery.stats().ptoCount, this.address)
        if (back) this.migrateTo(back)
      }
    }
    this.link.schedule(this)
  }

  // -------------------------------------------------------------------------------------
  // Outbound
  // -------------------------------------------------------------------------------------

  /** True when a packet is due now, ignoring pacing (session-writer.ts). */
  wantsToSend(now: number): boolean {
    return this.writer.wantsToSend(now)
  }

  /** Writes the punch or path challenge due now into packet 0 of the slab (path-probe.ts); returns its destination, or null. */
  writePathChallenge(now: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array): PeerAddress | null {
    return this.pathProber.write(now, slab, offsets, lengths, this.state === 'active', this.state === 'active' || this.state === 'suspended', this.packetSize)
  }

  /** Writes a path MTU probe into packet 0 of the slab when one is due (pmtu-probe.ts; none to an unvalidated RESUME address); true if it did. */
  writePmtuProbe(now: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array): boolean {
    return this.life.confirmed && !this.life.closeFrame && this.resumption.allowance(this.address) === Infinity && this.prober.write(now, slab, offsets, lengths)
  }

  /**
   * Writes up to `max` packets into `slab`, packet i at offsets[i] with `packetSize` bytes of room
   * (the caller laid the offsets out), seals them in one batch, returns how many (sizes in lengths[i]).
   */
  writePackets(now: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, max: number): number {
    if (this.state === 'closed' || this.state === 'handshaking') return 0
    this.tune(now)
    return this.writer.write(now, slab, offsets, lengths, max, this.address)
  }

  /** The last writePackets left nothing due now (SessionWriter.sentAll). */
  get sentAll(): boolean {
    return this.writer.sentAll
  }

  private tune(now: number): void {
    const t = this.tuning
    t.now = now
    t.srtt = this.rtt.smoothedRtt
    t.cwnd = this.bare ? 0 : (this.writer.cc?.cwnd ?? this.writer.initialCwnd)
  }

  // -------------------------------------------------------------------------------------
  // Application calls
  // -------------------------------------------------------------------------------------

  /** Queues an unreliable datagram; returns false when it was dropped (queue full). */
  sendDatagram(data: Uint8Array): boolean {
    if (!this.queues.pushDatagram(data)) return false
    this.link.schedule(this)
    return true
  }

  sendAppFrame(frameType: number, data: Uint8Array): void {
    this.queues.pushAppFrame(frameType, data)
    this.link.schedule(this)
  }

  /** Starts closing at `now`: one SESSION_CLOSE goes out, then the session lingers briefly and ends. */
  close(code: number, reason: string, now: number): void {
    if (this.life.beginClose(code, reason, now)) this.link.schedule(this)
    else if (this.state === 'handshaking') this.finish(code, reason, false)
  }

  /** Ends the session for good (no more packets either way). */
  finish(code: number, reason: string, remote: boolean): void {
    if (!this.life.end(code, reason)) return
    this.space.destroy()
    this.resumption.wipe()
    this.emitClosed(code, reason, remote)
    this.link.schedule(this)
  }

  private emitClosed(code: number, reason: string, remote: boolean): void {
    if (!this.life.takeClosedEvent()) return
    this.link.events.push({ kind: 'closed', session: this, code, reason, remote })
    this.link.schedule(this)
  }

  /** A packet arrived for this closing session: answer it with SESSION_CLOSE (rate-limited). */
  resendClose(): void {
    if (this.life.lateClosingPacket()) this.link.schedule(this)
  }

  /**
   * Our side moves to `addr` (session migration across addresses and transports): later
   * packets go there, and a KEEP_ALIVE makes the peer see the new path at once and validate it.
   */
  migrateTo(addr: PeerAddress): void {
    if (addr.key === this.address.key) return
    this.moveTo(addr, false, this.life.lastReceived)
    this.life.keepAliveDue = true
    this.link.schedule(this)
  }

  /** Suspends instead of closing (peer silent, or its connection dropped); false when not resumable. */
  suspend(now: number): boolean {
    // A responder session never heard from under its keys (full or resumed: FINAL or
    // RESUME_ACCEPT lost, and the initiator gave up or fell back to a full handshake under a
    // new id) has no peer to wait for: it closes instead of holding a maxSessions slot for
    // resumeTimeout (PROTOCOL.md §9.4, §9.7; second review of issue 12, item 2).
    const done = (this.isInitiator || this.life.heard) && this.resumeTimeout >= 0 ? (this.suspension ?? this.createSuspension()).suspend(now) : false
    this.link.schedule(this)
    return done
  }

  private suspendedTimeout(now: number): void {
    this.suspension!.handleTimeout(now)
    this.link.schedule(this)
  }

  /** session.resume(): probe now (after the driver moved us to the address the application chose). */
  resumeNow(now: number): void {
    if (this.resumeTimeout >= 0) (this.suspension ?? this.createSuspension()).resumeNow(now)
    this.link.schedule(this)
  }

  /** Starts hole punching toward the peer's candidate addresses (punch.ts), within `budget`. */
  startPunch(now: number, addresses: PeerAddress[], budget: AmplificationBudget): void {
    this.offPath.startPunch(addresses, now, this.random, budget)
    this.link.schedule(this)
  }

  get punchStats() {
    return this.offPath.stats()
  }

  /** Responder: sends `ticket` (sealed by the endpoint with sealTicket and this session's secret). */
  queueTicket(ticket: Uint8Array, expires: number): void {
    this.resumption.queue(ticket, expires)
    this.link.schedule(this)
  }

  /** Responder: a duplicate AUTH_PROOF means our FINAL was lost; send one again. */
  resendFinal(): void {
    this.life.needFinal = true
    this.link.schedule(this)
  }

  getStats() {
    const { cc, pacer } = this.writer.congestionForStats()
    return sessionStats(this, cc, this.bare ? null : pacer)
  }
}
