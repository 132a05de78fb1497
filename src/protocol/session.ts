/**
 * One established (or, on the initiator, about-to-be-confirmed) STT session, sans-I/O.
 *
 * Inbound, per batch of packets for this session (handlePackets):
 *   1. replay pre-check on the cleartext packet number (cheap drop of obvious duplicates)
 *   2. AEAD open in place, one batch call per key phase
 *   3. replay window update (only authenticated numbers move it), key-phase advance
 *   4. roaming: an authenticated, newest packet from a new address moves the session there
 *   5. frames: ACK/NACK -> loss recovery; stream frames -> StreamManager; the rest here
 * Outbound (writePackets): ACK, NACK, control, datagrams, app frames, stream frames, within
 * the congestion window and pacer, then one sealBatch for all packets written.
 */
import type { AeadBackend } from '../crypto/aead.js'
import { WireError } from '../errors.js'
import type { PeerAddress } from '../transport/types.js'
import type { ProtocolConfig } from '../config.js'
import { AckTracker } from './ack-tracker.js'
import { createCongestionController } from './congestion/index.js'
import { Pacer } from './congestion/pacer.js'
import { AEAD_TAG_SIZE, FLAGS_OFFSET, FrameType, HEADER_SIZE, HeaderFlag, PacketType, PN_OFFSET, PROTOCOL_VERSION, TYPE_OFFSET } from './constants.js'
import { type AppFrame, type DataFrame, type Frame, frameSize, isAckEliciting, KEEP_ALIVE_DATA_SIZE, readFrame, writeFrame } from './frames.js'
import type { HandshakeResult } from './handshake.js'
import { PathValidation } from './path-validation.js'
import { udpPacketSize } from './udp-size.js'
import { readU64, sessionKeyOf, writeHeader } from './header.js'
import { LossDetector, type LossRecovery, PassThroughLossDetector } from './loss.js'
import { type DirectionKey, makeKey, nextKey, ReceiveKeys } from './packet-keys.js'
import type { SessionParams } from './params.js'
import { ReplayWindow } from './replay.js'
import { RttEstimator } from './rtt.js'
import { SessionCounters } from './session-stats.js'
import { type StreamEvent, StreamManager, StreamRecord } from './streams.js'
import { Reader, varintSize } from './varint.js'

export type SessionState = 'handshaking' | 'active' | 'closing' | 'closed'

/** What a sent packet carried, handed back by loss recovery when acked or lost. */
export class SentRecord {
  readonly streams = new StreamRecord()
  /** Largest packet number covered by an ACK frame in this packet (-1: none). */
  ackLargest = -1
}

export type SessionEvent =
  | { type: 'established' }
  | { type: 'datagram'; data: Uint8Array }
  | { type: 'app-frame'; frameType: number; data: Uint8Array }
  | { type: 'peer-error'; code: number; frameType: number; reason: string }
  | { type: 'migrated'; from: PeerAddress; to: PeerAddress }
  | { type: 'key-update'; direction: 'send' | 'receive' }
  | { type: 'closed'; code: number; reason: string; remote: boolean }
  | { type: 'stream'; event: StreamEvent }

export interface SessionInit {
  result: HandshakeResult
  isInitiator: boolean
  config: ProtocolConfig
  aead: AeadBackend
  address: PeerAddress
  localParams: SessionParams
  now: number
  random: (n: number) => Uint8Array
}

/** Time a closing session keeps answering late packets with SESSION_CLOSE before it is forgotten. */
const CLOSING_LINGER_MS = 1000
const MAX_PENDING_KEEPALIVE_ACKS = 4

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
  state: SessionState
  address: PeerAddress
  readonly streams: StreamManager
  readonly counters = new SessionCounters()
  readonly rtt: RttEstimator
  readonly recovery: LossRecovery<SentRecord>
  private readonly loss: LossDetector<SentRecord> | null
  private readonly cc
  private readonly pacer: Pacer
  readonly acks: AckTracker

  private sendKey: DirectionKey
  private readonly recvKeys: ReceiveKeys
  private readonly replay = new ReplayWindow()
  private nextPn = 0
  private packetsUnderKey = 0
  private keyStartedAt: number
  /** Cleared after a key update until the peer is seen using the new phase. */
  private updateConfirmed = true

  readonly createdAt: number
  lastReceived: number
  private lastSent: number
  private nextKeepAlive: number
  /** Responder: digest of the AUTH_PROOF that created it (a repeat of it means FINAL was lost). */
  proofDigest: Uint8Array | null = null
  /** Initiator: AUTH_PROOF retransmission deadline until the first packet from the responder. */
  handshakeDeadline = Infinity
  /** Responder: send a FINAL packet on the next write. */
  private needFinal: boolean
  /**
   * Responder: until the initiator is heard under the traffic keys, FINAL is repeated on a
   * timer (250 ms, doubling), not only when AUTH_PROOF is repeated: under heavy loss the
   * initiator's retransmissions alone leave too few chances within handshakeTimeout.
   */
  private finalResendAt = Infinity
  private finalBackoff = 250
  private finalHeard = false
  private closeFrame: { code: number; reason: string } | null = null
  private closeSent = false
  private closingUntil = Infinity
  closeCode = 0
  closeReason = ''
  private probesWanted = 0
  /** Consecutive packets sent without an ack-eliciting frame. */
  private ackOnlyRun = 0

  private readonly datagrams: Uint8Array[] = []
  private readonly appFrames: AppFrame[] = []
  private readonly keepAliveAcks: Uint8Array[] = []
  private keepAliveDue = false
  private readonly events: SessionEvent[] = []
  private readonly recordPool: SentRecord[] = []
  private maxPacket: number
  /** Packet size limits: ours for reliable / unreliable paths, and the peer's. */
  private readonly packetLimits: { reliable: number; peer: number }
  private readonly statusScratch = new Uint8Array(256)
  private readonly openOffsets = new Uint32Array(256)
  private readonly openLengths = new Uint32Array(256)
  private readonly openIndex = new Uint32Array(256)

  constructor(
    init: SessionInit,
    /** Endpoint callback: this session has something to send or its deadline changed. */
    private readonly wake: (s: Session) => void,
  ) {
    const { result, config, aead, now } = init
    this.id = result.sessionId
    this.key = sessionKeyOf(result.sessionId)
    this.isInitiator = init.isInitiator
    this.peerNodeId = result.peerNodeId
    this.peerName = result.peer.name
    this.peerParams = result.peer.params
    this.bare = init.localParams.bareMode
    this.suite = result.suite
    this.transcript = result.transcript
    this.address = init.address
    this.state = init.isInitiator ? 'handshaking' : 'active'
    this.needFinal = !init.isInitiator
    this.createdAt = now
    this.lastReceived = now
    this.lastSent = now
    this.keyStartedAt = now
    this.nextKeepAlive = now + config.keepAliveInterval
    this.config = config
    this.packetLimits = { reliable: Math.max(init.localParams.maxPacketSize, config.reliablePacketSize), peer: result.peer.params.maxPacketSize }
    this.maxPacket = Math.min(init.localParams.maxPacketSize, result.peer.params.maxPacketSize)

    const mySecret = init.isInitiator ? result.i2r : result.r2i
    const peerSecret = init.isInitiator ? result.r2i : result.i2r
    this.sendKey = makeKey(aead, result.suite, mySecret, 0)
    this.recvKeys = new ReceiveKeys(aead, result.suite, peerSecret)
    this.aead = aead
    this.random = init.random

    this.rtt = new RttEstimator()
    this.cc = createCongestionController(this.bare ? 'none' : config.congestionControl, { maxDatagramSize: this.maxPacket, rtt: this.rtt })
    this.pacer = new Pacer(this.cc, this.rtt, this.maxPacket, 10)
    this.loss = this.bare ? null : new LossDetector<SentRecord>(this.rtt, this.cc)
    this.recovery = this.loss ?? new PassThroughLossDetector<SentRecord>(this.rtt, this.cc)
    // ACK every 8th ack-eliciting packet (or within max_ack_delay): at line rate ACK packets cost the
    // receiver as much CPU as data packets (bench: 2 -> 8 took JS-backend loopback from 0.36 to see bench/README.md).
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
      },
      { maxStreams: result.peer.params.maxStreams, streamWindow: result.peer.params.streamWindow, sessionWindow: result.peer.params.sessionWindow },
    )
  }
  private readonly config: ProtocolConfig
  private readonly aead: AeadBackend
  private readonly random: (n: number) => Uint8Array

  /** After a move to another transport: packets must fit a UDP path again, or may grow over TCP. */
  private fitPacketSize(addr: PeerAddress): void {
    const mine = addr.transport.reliable ? this.packetLimits.reliable : udpPacketSize(this.config, addr)
    this.maxPacket = Math.min(mine, this.packetLimits.peer)
  }

  /** Largest packet this session sends (the smaller of both sides' limits for its transport). */
  get packetSize(): number {
    return this.maxPacket
  }

  /** Largest datagram payload sendDatagram accepts. */
  get maxDatagramPayload(): number {
    // DATA frame: type, flags, then the length as a varint (up to 4 bytes for 64 KiB packets).
    return this.maxPacket - HEADER_SIZE - AEAD_TAG_SIZE - 2 - varintSize(this.maxPacket)
  }

  // -------------------------------------------------------------------------------------
  // Inbound
  // -------------------------------------------------------------------------------------

  /**
   * Processes packets [first, first+count) of the batch, all carrying this session's id.
   * They are decrypted in place. Returns how many authenticated.
   */
  handlePackets(now: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, first: number, count: number, from: PeerAddress[]): number {
    if (this.state === 'closed') return 0
    let accepted = 0
    // Group packets by the key that should open them (nearly always one group).
    let i = first
    const end = first + count
    while (i < end) {
      let n = 0
      let key: DirectionKey | null = null
      for (; i < end && n < this.openOffsets.length; i++) {
        const off = offsets[i]!
        const len = lengths[i]!
        if (len < HEADER_SIZE + AEAD_TAG_SIZE + 1) {
          this.counters.drop('truncated')
          continue
        }
        const type = slab[off + TYPE_OFFSET]!
        if (type !== PacketType.DATA && type !== PacketType.FINAL) {
          this.counters.drop('unexpected-type')
          continue
        }
        const pn = readU64(slab, off + PN_OFFSET)
        if (!this.replay.wouldAccept(pn)) {
          this.counters.drop('replay')
          continue
        }
        const k = this.recvKeys.keyFor(slab[off + FLAGS_OFFSET]! & HeaderFlag.KEY_PHASE, pn)
        if (key && k !== key) break
        key = k
        this.openOffsets[n] = off
        this.openLengths[n] = len
        this.openIndex[n] = i
        n++
      }
      if (n === 0 || !key) continue
      key.key.openBatch(slab, this.openOffsets, this.openLengths, n, HEADER_SIZE, this.statusScratch)
      for (let j = 0; j < n; j++) {
        if (!this.statusScratch[j]) {
          this.counters.drop('auth')
          continue
        }
        const off = this.openOffsets[j]!
        const pn = readU64(slab, off + PN_OFFSET)
        if (!this.replay.accept(pn)) {
          this.counters.drop('replay')
          continue
        }
        if (key !== this.recvKeys.current && key !== this.recvKeys.previous) this.onPeerKeyUpdate(pn)
        else if (key === this.recvKeys.current && !this.updateConfirmed && key.phase === this.sendKey.phase) this.updateConfirmed = true
        accepted++
        this.onAuthenticated(now, pn, from[this.openIndex[j]!]!, this.openLengths[j]!)
        this.processFrames(now, pn, slab, off + HEADER_SIZE, off + this.openLengths[j]! - AEAD_TAG_SIZE)
        if ((this.state as SessionState) === "closed") return accepted
      }
    }
    if (accepted > 0) this.wake(this)
    return accepted
  }

  private onPeerKeyUpdate(pn: number): void {
    this.recvKeys.advance(pn)
    this.counters.keyUpdates++
    this.events.push({ type: 'key-update', direction: 'receive' })
    // The peer moved to a new phase: follow it (RFC 9001 §6.2) unless we already did.
    if (this.sendKey.phase !== this.recvKeys.current.phase) this.updateSendKey(false)
    else this.updateConfirmed = true
  }

  private onAuthenticated(now: number, pn: number, from: PeerAddress, len: number): void {
    this.lastReceived = now
    this.nextKeepAlive = now + this.config.keepAliveInterval
    this.counters.packetsReceived++
    this.counters.bytesReceived += len
    if (this.state === 'handshaking') {
      // First authenticated packet from the responder confirms the handshake (FINAL or data).
      this.state = 'active'
      this.handshakeDeadline = Infinity
      this.events.push({ type: 'established' })
    }
    // Responder: any packet from the initiator under the traffic keys proves it got FINAL.
    this.finalHeard = true
    this.finalResendAt = Infinity
    this.currentFrom = from
    this.path.consider(from, this.address, pn >= this.replay.largest, this.bare, this.random)
  }

  /** Path validation of new peer addresses (roaming, migration). */
  private readonly path = new PathValidation()
  /** Address of the packet whose frames are being processed. */
  private currentFrom: PeerAddress | null = null

  private onPathResponse(data: Uint8Array): void {
    const c = this.path.validated(data, this.currentFrom)
    if (c) this.moveTo(c)
  }

  /** Switches the session to `addr` (validated path, or our own migration). */
  private moveTo(addr: PeerAddress): void {
    const old = this.address
    this.path.moved(old)
    this.address = addr
    this.fitPacketSize(addr)
    this.counters.migrations++
    this.events.push({ type: 'migrated', from: old, to: addr })
  }

  /**
   * Writes the path-validation packet (KEEP_ALIVE with the challenge) for the candidate
   * address when one is due; returns its length and destination, or null.
   */
  writePathChallenge(now: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array): PeerAddress | null {
    const to = this.path.candidate
    if (!this.path.due || !to || !this.path.challenge || this.state !== 'active') return null
    const off = offsets[0]!
    let pos = off + HEADER_SIZE
    pos = writeFrame(slab, pos, { type: FrameType.KEEP_ALIVE, data: this.path.challenge })
    // Padding probes the new path's MTU for full packets as QUIC does, within 3x of what came from it.
    const size = Math.min(this.maxPacket, 1200)
    pos = writeFrame(slab, pos, { type: FrameType.PADDING, length: off + size - AEAD_TAG_SIZE - pos })
    const pn = this.nextPn++
    writeHeader(slab, off, PROTOCOL_VERSION, PacketType.DATA, this.sendKey.phase ? HeaderFlag.KEY_PHASE : 0, this.id, pn)
    lengths[0] = size
    const rec = this.recordPool.pop() ?? new SentRecord()
    this.recovery.onPacketSent(pn, now, size, false, false, rec)
    if (this.bare) this.releaseRecord(rec)
    this.sendKey.key.sealBatch(slab, offsets, lengths, 1, HEADER_SIZE)
    this.counters.packetsSent++
    this.counters.bytesSent += size
    this.path.sent(now, Math.max(3 * this.rtt.smoothedRtt, 50))
    return to
  }

  private processFrames(now: number, pn: number, buf: Uint8Array, start: number, end: number): void {
    const r = new Reader(buf, start, end)
    let ackEliciting = false
    while (r.pos < r.end) {
      const f = readFrame(r)
      if (typeof f === 'string') {
        this.counters.drop(f === 'unknown-frame' ? 'unknown-frame' : 'malformed-frame')
        this.close(f === 'unknown-frame' ? WireError.UNKNOWN_FRAME_TYPE : WireError.INVALID_FRAME, `peer sent a ${f} frame`)
        return
      }
      if (isAckEliciting(f.type)) ackEliciting = true
      const err = this.handleFrame(now, f)
      if (err) {
        this.close(err, 'protocol violation by peer')
        return
      }
      if (this.state === 'closed') return
    }
    if (!this.bare) this.acks.onPacketReceived(pn, ackEliciting, now)
  }

  private handleFrame(now: number, f: Frame): number {
    if ('app' in f) {
      this.events.push({ type: 'app-frame', frameType: f.type, data: f.data.slice() })
      return 0
    }
    switch (f.type) {
      case FrameType.PADDING:
        return 0
      case FrameType.ACK: {
        const out = this.recovery.onAck(f.ranges, f.ackDelayMicros, now)
        if (out.error) return out.error
        for (const rec of out.acked) this.onRecordAcked(rec)
        for (const rec of out.lost) this.onRecordLost(rec)
        if (out.lost.length) this.counters.lostPackets += out.lost.length
        return 0
      }
      case FrameType.NACK: {
        const lost = this.recovery.onNack(f.packetNumbers, now)
        for (const rec of lost) this.onRecordLost(rec)
        this.counters.lostPackets += lost.length
        return 0
      }
      case FrameType.KEEP_ALIVE:
        if (this.keepAliveAcks.length < MAX_PENDING_KEEPALIVE_ACKS) this.keepAliveAcks.push(f.data.slice())
        return 0
      case FrameType.KEEP_ALIVE_ACK:
        this.onPathResponse(f.data)
        return 0
      case FrameType.DATA:
        if ((f as DataFrame).datagram) {
          this.counters.datagramsReceived++
          this.events.push({ type: 'datagram', data: f.data.slice() })
          return 0
        }
        return this.streams.handleFrame(f, now)
      case FrameType.SESSION_CLOSE:
        this.closeCode = f.errorCode
        this.closeReason = f.reason
        this.finish(f.errorCode, f.reason, true)
        return 0
      case FrameType.ERROR:
        this.events.push({ type: 'peer-error', code: f.errorCode, frameType: f.frameType, reason: f.reason })
        return 0
      default:
        return this.streams.handleFrame(f, now)
    }
  }

  private onRecordAcked(rec: SentRecord): void {
    if (rec.ackLargest >= 0) this.acks.onAckFrameAcked(rec.ackLargest)
    this.streams.onAcked(rec.streams)
    this.releaseRecord(rec)
  }

  private onRecordLost(rec: SentRecord): void {
    this.streams.onLost(rec.streams)
    this.releaseRecord(rec)
  }

  private releaseRecord(rec: SentRecord): void {
    rec.streams.clear()
    rec.ackLargest = -1
    if (this.recordPool.length < 1024) this.recordPool.push(rec)
  }

  // -------------------------------------------------------------------------------------
  // Timers
  // -------------------------------------------------------------------------------------

  /** Absolute time of the next thing this session must do (Infinity: nothing). */
  pollTimeout(now: number): number {
    if (this.state === 'closed') return Infinity
    if (this.state === 'closing') return this.closingUntil
    // Fix (test/sim/transfer.test.ts "slow reader"): stream events queued by app calls outside
    // handlePackets/handleTimeout (e.g. 'end' when a backpressured reader reads the last bytes
    // later) did not wake the session, so Endpoint.pollEvent never saw them until the next
    // packet or keep-alive (up to keepAliveInterval). An immediate deadline makes the endpoint
    // call handleTimeout, which wakes the session, and the events are polled.
    if (this.state === 'active' && this.streams.hasPendingEvents) return now
    let t = Math.min(this.lastReceived + this.config.keepAliveTimeout, this.nextKeepAlive, this.handshakeDeadline, this.path.retryAt, this.finalResendAt)
    if (!this.bare) t = Math.min(t, this.acks.getTimeout(), this.recovery.getTimeout())
    // Data held back only by the pacer needs a wake-up when tokens are back.
    if (this.state === 'active' && (this.streams.wantsToSend() || this.datagrams.length > 0) && this.cc.canSend(this.maxPacket)) {
      t = Math.min(t, this.pacer.nextSendTime(now, this.maxPacket))
    }
    return t
  }

  handleTimeout(now: number): void {
    if (this.state === 'closed' || this.state === 'handshaking') return
    if (this.state === 'closing') {
      if (now >= this.closingUntil) this.finish(this.closeCode, this.closeReason, false)
      return
    }
    if (now >= this.lastReceived + this.config.keepAliveTimeout) {
      this.close(WireError.SESSION_TIMEOUT, `no authenticated packet for ${this.config.keepAliveTimeout} ms`)
      return
    }
    if (now >= this.finalResendAt) {
      this.needFinal = true
      this.finalBackoff = Math.min(this.finalBackoff * 2, 2000)
      this.finalResendAt = now + this.finalBackoff
    }
    this.path.onTimeout(now)
    if (now >= this.nextKeepAlive) {
      this.keepAliveDue = true
      this.nextKeepAlive = now + this.config.keepAliveInterval
    }
    if (now >= this.recovery.getTimeout()) {
      const out = this.recovery.onTimeout(now)
      for (const rec of out.lost) this.onRecordLost(rec)
      this.counters.lostPackets += out.lost.length
      if (out.probes > 0) {
        this.probesWanted = out.probes
        for (const rec of out.probeRecords) this.streams.onLost(rec.streams)
      }
    }
    this.wake(this)
  }

  // -------------------------------------------------------------------------------------
  // Outbound
  // -------------------------------------------------------------------------------------

  /** True when writePackets would produce something now (ignoring pacing). */
  wantsToSend(now: number): boolean {
    if (this.state === 'closed' || this.state === 'handshaking') return false
    if (this.closeFrame && !this.closeSent) return true
    if (this.state === 'closing') return false
    return (
      this.path.due ||
      this.needFinal ||
      this.keepAliveDue ||
      this.probesWanted > 0 ||
      this.keepAliveAcks.length > 0 ||
      this.acks.ackDue(now) ||
      this.acks.nackDue(now) ||
      this.datagrams.length > 0 ||
      this.appFrames.length > 0 ||
      this.streams.wantsToSend()
    )
  }

  /** Earliest time the pacer lets the next full packet go (now when it may go now). */
  nextSendTime(now: number): number {
    return this.pacer.nextSendTime(now, this.maxPacket)
  }

  /**
   * Writes up to `max` packets into `slab`, packet i at offsets[i] with `maxPacket` bytes of
   * room (the caller laid the offsets out), seals them all in one batch, and returns how many
   * it wrote (their sizes in lengths[i]).
   */
  writePackets(now: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, max: number): number {
    let n = 0
    while (n < max) {
      const off = offsets[n]!
      const len = this.writeOnePacket(now, slab, off, Math.min(this.maxPacket, slab.length - off), n === 0)
      if (len === 0) break
      lengths[n] = len
      n++
    }
    if (n > 0) {
      this.sendKey.key.sealBatch(slab, offsets, lengths, n, HEADER_SIZE)
      this.lastSent = now
    }
    return n
  }

  private writeOnePacket(now: number, buf: Uint8Array, off: number, room: number, firstOfBatch: boolean): number {
    if (this.state === 'closed' || this.state === 'handshaking') return 0
    const end = off + room - AEAD_TAG_SIZE
    let pos = off + HEADER_SIZE
    const closing = this.closeFrame !== null
    if (closing && this.closeSent) return 0
    if (!closing && this.state === 'closing') return 0

    const rec = this.recordPool.pop() ?? new SentRecord()
    let ackEliciting = false
    const isFinal = this.needFinal
    // ACK (piggybacked whenever there is something new to acknowledge) and NACK first.
    if (this.acks.hasNewPackets) {
      const p = this.acks.writeAck(buf, pos, end, now)
      if (p !== pos) rec.ackLargest = this.acks.lastAckLargest
      pos = p
    }
    if (!closing) pos = this.acks.writeNack(buf, pos, end, now)

    if (closing) {
      const f: Frame = { type: FrameType.SESSION_CLOSE, errorCode: this.closeFrame!.code, reason: this.closeFrame!.reason }
      if (frameSize(f) <= end - pos) pos = writeFrame(buf, pos, f)
      this.closeSent = true
      // Closed as far as the application is concerned; we only linger to repeat the close.
      this.emitClosed(this.closeCode, this.closeReason, false)
    } else {
      while (this.keepAliveAcks.length && end - pos >= 1 + KEEP_ALIVE_DATA_SIZE) {
        pos = writeFrame(buf, pos, { type: FrameType.KEEP_ALIVE_ACK, data: this.keepAliveAcks.shift()! })
      }
      const cwndOpen = this.probesWanted > 0 || this.cc.canSend(room)
      const paced = this.probesWanted > 0 || this.pacer.nextSendTime(now, room) <= now
      if (this.keepAliveDue && end - pos >= 1 + KEEP_ALIVE_DATA_SIZE) {
        pos = writeFrame(buf, pos, { type: FrameType.KEEP_ALIVE, data: this.random8() })
        this.keepAliveDue = false
        ackEliciting = true
      }
      if (cwndOpen && paced) {
        while (this.datagrams.length) {
          const d = this.datagrams[0]!
          const f: Frame = { type: FrameType.DATA, datagram: true, streamKey: 0, offset: 0, data: d }
          if (frameSize(f) > end - pos) {
            // Queued for a larger path (before a migration): it can never be sent, drop it
            // rather than hold back every datagram behind it.
            if (frameSize(f) > end - (off + HEADER_SIZE)) {
              this.datagrams.shift()
              this.counters.drop('datagram-too-large')
              continue
            }
            break
          }
          pos = writeFrame(buf, pos, f)
          this.datagrams.shift()
          this.counters.datagramsSent++
          ackEliciting = true
        }
        while (this.appFrames.length) {
          const f = this.appFrames[0]!
          if (frameSize(f) > end - pos) break
          pos = writeFrame(buf, pos, f)
          this.appFrames.shift()
          ackEliciting = true
        }
        const before = pos
        pos = this.streams.writeFrames(buf, pos, end, rec.streams)
        if (pos !== before) ackEliciting = true
      }
      // Every 16th packet of a pure ACK stream asks for an ACK itself, so the peer's ACKs of
      // it let our AckTracker forget old ranges (RFC 9000 §13.2.4).
      if (!ackEliciting && rec.ackLargest >= 0 && this.ackOnlyRun >= 16 && end - pos >= 1 + KEEP_ALIVE_DATA_SIZE) {
        pos = writeFrame(buf, pos, { type: FrameType.KEEP_ALIVE, data: this.random8() })
        ackEliciting = true
      }
      if (this.probesWanted > 0 && !ackEliciting && end - pos >= 1 + KEEP_ALIVE_DATA_SIZE) {
        // A probe must elicit an ACK even when there is no data to resend (RFC 9002 §6.2.4).
        pos = writeFrame(buf, pos, { type: FrameType.KEEP_ALIVE, data: this.random8() })
        ackEliciting = true
      }
      if (isFinal && pos === off + HEADER_SIZE) pos = writeFrame(buf, pos, { type: FrameType.PADDING, length: 1 })
    }
    if (pos === off + HEADER_SIZE) {
      this.releaseRecord(rec)
      return 0
    }
    if (ackEliciting && this.probesWanted > 0) this.probesWanted--
    this.ackOnlyRun = ackEliciting ? 0 : this.ackOnlyRun + 1
    if (isFinal && this.finalResendAt === Infinity && !this.finalHeard) this.finalResendAt = now + this.finalBackoff
    this.needFinal = false
    // Fix (test/sim/streams.test.ts "key update"): writePackets seals the whole batch with the
    // key current at its end, so a key update started mid-batch sealed the earlier packets with
    // the new key under the old phase bit, and the peer dropped them as forgeries ('auth').
    // Start updates only on the first packet of a batch: a batch is then always one key.
    if (firstOfBatch) this.maybeUpdateKeys(now)
    const pn = this.nextPn++
    const flags = this.sendKey.phase ? HeaderFlag.KEY_PHASE : 0
    writeHeader(buf, off, PROTOCOL_VERSION, isFinal ? PacketType.FINAL : PacketType.DATA, flags, this.id, pn)
    const size = pos + AEAD_TAG_SIZE - off
    const inFlight = ackEliciting
    this.recovery.onPacketSent(pn, now, size, ackEliciting, inFlight, rec)
    if (inFlight) this.pacer.onPacketSent(now, size)
    // Bare mode: the transport delivers; what was written is done once sent.
    if (this.bare) this.onRecordAcked(rec)
    this.packetsUnderKey++
    this.counters.packetsSent++
    this.counters.bytesSent += size
    return size
  }

  private random8(): Uint8Array {
    return this.random(KEEP_ALIVE_DATA_SIZE)
  }

  /** Starts a key update when the packet or time limit is reached and the last one was confirmed. */
  private maybeUpdateKeys(now: number): void {
    if (!this.updateConfirmed) return
    if (this.packetsUnderKey < this.config.rekeyAfterPackets && now - this.keyStartedAt < this.config.rekeyAfterMs) return
    this.updateSendKey(true)
    this.keyStartedAt = now
  }

  private updateSendKey(initiated: boolean): void {
    const old = this.sendKey
    this.sendKey = nextKey(this.aead, this.suite as 'aes-256-gcm', old)
    old.key.destroy()
    this.packetsUnderKey = 0
    this.updateConfirmed = !initiated
    this.counters.keyUpdates++
    this.events.push({ type: 'key-update', direction: 'send' })
  }

  // -------------------------------------------------------------------------------------
  // Application calls
  // -------------------------------------------------------------------------------------

  /** Queues an unreliable datagram; returns false when it was dropped (queue full). */
  sendDatagram(data: Uint8Array): boolean {
    if (this.datagrams.length >= this.config.maxQueuedDatagrams) {
      this.counters.drop('datagram-queue-full')
      return false
    }
    this.datagrams.push(data)
    this.wake(this)
    return true
  }

  sendAppFrame(frameType: number, data: Uint8Array): void {
    this.appFrames.push({ type: frameType, app: true, data })
    this.wake(this)
  }

  /** Starts closing: one SESSION_CLOSE goes out, then the session lingers briefly and ends. */
  close(code: number, reason: string, now = this.lastSent): void {
    if (this.state === 'closing' || this.state === 'closed') return
    this.closeCode = code
    this.closeReason = reason
    if (this.state === 'handshaking') {
      this.finish(code, reason, false)
      return
    }
    this.closeFrame = { code, reason }
    this.state = 'closing'
    this.closingUntil = Math.max(now, this.lastReceived) + CLOSING_LINGER_MS
    this.wake(this)
  }

  /** Ends the session for good (no more packets either way). */
  finish(code: number, reason: string, remote: boolean): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.closeCode = code
    this.closeReason = reason
    this.sendKey.key.destroy()
    this.recvKeys.destroy()
    this.emitClosed(code, reason, remote)
    this.wake(this)
  }

  private closedEmitted = false
  private emitClosed(code: number, reason: string, remote: boolean): void {
    if (this.closedEmitted) return
    this.closedEmitted = true
    this.events.push({ type: 'closed', code, reason, remote })
    this.wake(this)
  }

  /** For the closing state: a late packet from the peer gets our SESSION_CLOSE again. */
  get closeAcknowledgementNeeded(): boolean {
    return this.state === 'closing' && this.closeSent
  }

  resendClose(): void {
    if (this.state === 'closing') {
      // Fix (test/fuzz/core-authenticated.property.test.ts, "closing state"): the packets that
      // trigger this are not authenticated (any datagram naming the session id), so answering
      // every one let anyone make us send a SESSION_CLOSE (up to ~300 bytes) to the peer per
      // 19-byte forgery. Answer only the 1st, 2nd, 4th, 8th... (RFC 9000 §10.2.1).
      this.closingRx++
      if ((this.closingRx & (this.closingRx - 1)) !== 0) return
      this.closeSent = false
      this.wake(this)
    }
  }
  private closingRx = 0

  /**
   * The application changed stream state (wrote, read, ended): events it produced (e.g. a
   * stream's 'end' once its last bytes were read) and frames it made due (credit) must be
   * picked up without waiting for the next packet.
   */
  poke(): void {
    this.wake(this)
  }

  /**
   * Our side moves to `addr` (session migration across addresses and transports): later
   * packets go there, and a KEEP_ALIVE makes the peer see the new path at once and validate it.
   */
  migrateTo(addr: PeerAddress): void {
    if (addr.key === this.address.key) return
    this.moveTo(addr)
    this.keepAliveDue = true
    this.wake(this)
  }

  /** Responder: a duplicate AUTH_PROOF means our FINAL was lost; send one again. */
  resendFinal(): void {
    this.needFinal = true
    this.wake(this)
  }

  pollEvent(): SessionEvent | null {
    const se = this.streams.pollEvent()
    if (se) return { type: 'stream', event: se }
    return this.events.shift() ?? null
  }

  getStats() {
    const r = this.recovery.stats()
    return {
      ...this.counters.snapshot(),
      rtt: this.rtt.hasSample ? this.rtt.smoothedRtt : null,
      rttVar: this.rtt.rttvar,
      minRtt: Number.isFinite(this.rtt.minRtt) ? this.rtt.minRtt : null,
      latestRtt: this.rtt.latestRtt,
      cwnd: r.cwnd,
      bytesInFlight: r.bytesInFlight,
      congestionEvents: r.congestionEvents,
      ptoCount: r.ptoCount,
      lossRate: this.counters.packetsSent ? this.counters.lostPackets / this.counters.packetsSent : 0,
      flow: this.streams.getFlowStats(),
      suite: this.suite,
      bare: this.bare,
    }
  }
}
