/**
 * A session's outbound packets on its current path (writePackets): the session's frame source
 * fills packets through the one PacketAssembler, then one seal for all packets written. The
 * frame source writes ACK and NACK first, then either SESSION_CLOSE or keep-alive echoes,
 * keep-alive, the NEW_TICKET of session-resumption.ts, datagrams, application frames and
 * stream frames (the last three only within the congestion window and pacer).
 *
 * It also keeps the PTO probes still wanted and the run of ACK-only packets, and answers
 * wantsToSend for the endpoint's ready set. Packets that leave off the current path
 * (challenges, punches) are path-probe.ts, PMTU probes pmtu-probe.ts; both go through the
 * same assembler.
 */
import type { PeerAddress } from '../net-types.js'
import { initialWindow } from './congestion/base.js'
import { type CongestionAlgorithm, type CongestionController, createCongestionController, Pacer } from './congestion/index.js'
import type { AckTracker } from './ack-tracker.js'
import { AEAD_TAG_SIZE, FrameType, HEADER_SIZE } from './constants.js'
import { type Frame, frameSize, KEEP_ALIVE_DATA_SIZE, writeFrame } from './frames.js'
import { FINAL_RANDOM_SIZE } from './handshake.js'
import type { LossRecovery } from './loss.js'
import type { OffPathSender } from './off-path.js'
import type { FrameSource, PacketAssembler, PacketBody, SentRecord } from './packet-assembler.js'
import type { PacketSize } from './packet-size.js'
import type { PacketSpace } from './packet-space.js'
import type { PathValidation } from './path-validation.js'
import type { RttEstimator } from './rtt.js'
import type { SessionLifecycle } from './session-lifecycle.js'
import type { SessionQueues } from './session-queues.js'
import type { SessionResumption } from './session-resumption.js'
import type { StreamManager } from './streams.js'

/** A pure-ACK stream asks for an ACK itself every this many packets (RFC 9000 §13.2.4). */
const ACK_ONLY_RUN_LIMIT = 16

/**
 * Room (bytes) a written packet must leave unused before write asks wantsToSend instead of
 * assembling the next packet: a small DATA frame's worth (stream-scheduler.ts MIN_DATA_FRAGMENT).
 */
const ROOM_LEFT_TO_ASK = 32

/** Pacer burst of a session (datagrams). */
const PACER_BURST_PACKETS = 10

/**
 * What the path MTU prober reads of a session's sending state: its congestion controller and
 * pacer (null until its first data: SessionWriter.startCongestion) and the PTO probes it still owes.
 */
export interface CongestionSlot {
  readonly cc: CongestionController | null
  readonly pacer: Pacer | null
  /** PTO probes still to send (they go before a path MTU black-hole confirmation). */
  readonly probesWanted: number
}

/** What a session's controller is made from, fixed when the session is made. */
export interface CongestionRecipe {
  readonly algorithm: CongestionAlgorithm
  /** The path's packet size limit when the session was made. */
  readonly maxDatagramSize: number
  /** Seed of BBR's probe timing (int32), drawn when the session was made. */
  readonly seed: number
}

/** The session's parts the writer reads and advances (its own objects, not copies). */
export interface SessionWriterParts {
  readonly life: SessionLifecycle
  readonly acks: AckTracker
  readonly queues: SessionQueues
  readonly streams: StreamManager
  readonly resumption: SessionResumption
  readonly assembler: PacketAssembler
  readonly space: PacketSpace
  readonly recovery: LossRecovery<SentRecord>
  readonly rtt: RttEstimator
  readonly congestion: CongestionRecipe
  /** Packet size limits of the current path (packet-size.ts). */
  readonly size: PacketSize
  /** For wantsToSend only: a path challenge, punch or echo off the path is due (path-probe.ts writes them). */
  readonly path: PathValidation
  readonly offPath: OffPathSender
  readonly bare: boolean
  readonly random: (n: number) => Uint8Array
  /** The SESSION_CLOSE was written: the application sees the session closed. */
  readonly onCloseSent: () => void
}

export class SessionWriter implements FrameSource, CongestionSlot {
  /**
   * Made for the first packet that carries data (datagrams, application or stream frames),
   * not with the session (issue 14: BBR and its filters are ~1.5 KB of an idle session).
   * Until then the packets sent (ACKs, keep-alives, tickets, FINAL, probes) are not in flight:
   * they are tracked for loss and RTT but charged to no window, so the controller starts from
   * its initial state on the first data, however long the session idled.
   */
  cc: CongestionController | null = null
  pacer: Pacer | null = null
  /** PTO probes still to send: each ack-eliciting packet is one (RFC 9002 §6.2.4). */
  probesWanted = 0
  /**
   * The last write stopped because nothing was due any more (wantsToSend false), so the
   * endpoint drops the session from its ready set without asking again (Session.sentAll).
   */
  sentAll = false
  /** Consecutive packets sent without an ack-eliciting frame. */
  private ackOnlyRun = 0
  /** `now` and room of the packet writeFrames is filling (set by write). */
  private writeNow = 0
  private writeRoom = 0

  private readonly life: SessionLifecycle
  private readonly acks: AckTracker
  private readonly queues: SessionQueues
  private readonly streams: StreamManager
  private readonly resumption: SessionResumption
  private readonly assembler: PacketAssembler
  private readonly space: PacketSpace
  private readonly recovery: LossRecovery<SentRecord>
  private readonly rtt: RttEstimator
  private readonly congestion: CongestionRecipe
  private readonly size: PacketSize
  private readonly path: PathValidation
  private readonly offPath: OffPathSender
  private readonly bare: boolean
  private readonly random: (n: number) => Uint8Array
  private readonly onCloseSent: () => void

  constructor(parts: SessionWriterParts) {
    this.life = parts.life
    this.acks = parts.acks
    this.queues = parts.queues
    this.streams = parts.streams
    this.resumption = parts.resumption
    this.assembler = parts.assembler
    this.space = parts.space
    this.recovery = parts.recovery
    this.rtt = parts.rtt
    this.congestion = parts.congestion
    this.size = parts.size
    this.path = parts.path
    this.offPath = parts.offPath
    this.bare = parts.bare
    this.random = parts.random
    this.onCloseSent = parts.onCloseSent
  }

  /** True when write, or a path challenge, punch or PMTU probe, would produce something now (ignoring pacing). */
  wantsToSend(now: number): boolean {
    const life = this.life
    const state = life.state
    if (state === 'closed' || state === 'handshaking') return false
    if (life.closeFrame && !life.closeSent) return true
    if (state === 'closing') return false
    return (
      this.path.due ||
      this.offPath.due(now) ||
      (life.confirmed && this.size.pmtu.probeDue() > 0) ||
      life.needFinal ||
      life.keepAliveDue ||
      this.probesWanted > 0 ||
      this.queues.hasEchoes ||
      this.acks.ackDue(now) ||
      this.acks.nackDue(now) ||
      this.queues.hasData ||
      this.resumption.wants(life.confirmed) ||
      this.streams.wantsToSend()
    )
  }

  /**
   * Writes up to `max` packets to `address` (the session's current path) into `slab`, packet i
   * at offsets[i] with the path's packet size of room (the caller laid the offsets out), seals
   * them all in one batch, and returns how many it wrote (their sizes in lengths[i]).
   */
  write(now: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, max: number, address: PeerAddress): number {
    const life = this.life
    let n = 0
    let finalAt = -1
    this.writeNow = now
    // Until a resumed session's address is validated, 3x what it sent (session-resumption.ts).
    let allowance = this.resumption.allowance(address)
    this.sentAll = false
    while (n < max) {
      const off = offsets[n]!
      const final = life.needFinal
      // A FINAL leaves room for the FINAL random that trails it (§3.6).
      const room = Math.min(this.size.current, slab.length - off, allowance) - (final ? FINAL_RANDOM_SIZE : 0)
      if (room < HEADER_SIZE + AEAD_TAG_SIZE + 1 + KEEP_ALIVE_DATA_SIZE) break
      if (life.closeFrame !== null ? life.closeSent : life.state === 'closing') break
      this.writeRoom = room
      const len = this.assembler.assemble(now, slab, off, room, this, final, n === 0)
      if (len === 0) break
      const body = this.assembler.last
      if (body.ackEliciting && body.inFlight) this.pacer!.onPacketSent(now, len)
      if (body.ackEliciting && this.probesWanted > 0) this.probesWanted--
      this.ackOnlyRun = body.ackEliciting ? 0 : this.ackOnlyRun + 1
      life.onPacketWritten(now, body.final)
      if (body.final) finalAt = n
      lengths[n] = len
      allowance -= len + (body.final ? FINAL_RANDOM_SIZE : 0)
      this.resumption.onSent(address, len + (body.final ? FINAL_RANDOM_SIZE : 0))
      n++
      // A packet that left room stopped for want of something to send, mostly: ask before
      // assembling one more, which found nothing after each packet of a ping-pong and cost
      // more than the question (issue 13). Full packets (bulk) go on without asking.
      if (room - len >= ROOM_LEFT_TO_ASK && !this.wantsToSend(now)) {
        this.sentAll = true
        break
      }
    }
    if (n > 0) this.space.seal(slab, offsets, lengths, n, finalAt)
    // Out of data (or credit) with the window open: delivery-rate samples from now on are
    // app-limited, so an idle period cannot drag the bandwidth estimate down.
    if (n < max && !this.bare && life.state === 'active' && !this.queues.hasDatagrams && (this.cc === null || this.cc.availableWindow() >= this.size.current) && (this.sentAll || !this.streams.wantsToSend())) {
      this.recovery.onAppLimited()
    }
    return n
  }

  /**
   * The session's frame source: ACK and NACK first, then either SESSION_CLOSE or keep-alive
   * echoes, keep-alive, datagrams, application frames and stream frames (the last three only
   * within the congestion window and pacer).
   */
  writeFrames(buf: Uint8Array, pos: number, end: number, rec: SentRecord, body: PacketBody): number {
    const now = this.writeNow
    const room = this.writeRoom
    const start = pos
    const life = this.life
    const closing = life.closeFrame !== null
    // No controller yet: a new one's window and pacer would let any one packet go.
    const cc = this.cc
    const cwndOpen = !closing && (cc === null || this.probesWanted > 0 || cc.canSend(room))
    const paced = !closing && (cc === null || this.probesWanted > 0 || this.pacer!.nextSendTime(now, room) <= now)
    // The pacer woke from a stall of this process (pacer.ts STALL_MIN_MS): what it could not send
    // meanwhile must not read as a slower path (delivery-rate app-limited, loss.ts onSendStall).
    if (cc !== null && this.pacer!.takeStall() > 0) this.recovery.onSendStall()
    const dataWanted = cwndOpen && paced && life.state === 'active' && this.resumption.dataAllowed
    // ACK and NACK first: the ACK when one is due, else piggybacked on a packet that goes out
    // anyway. Never an ACK-only packet that answers only non-ack-eliciting ones (RFC 9000
    // §13.2.1): each ACK the peer sent, while the pacer held our data back, drew one from us,
    // and a reordering path, whose every out-of-order packet draws an ACK, doubled the packets
    // both ends seal, send and open.
    if (this.acks.hasNewPackets && (closing || body.final || this.acks.ackDue(now) || this.mayElicit(dataWanted) || this.acks.nackDue(now))) {
      const p = this.acks.writeAck(buf, pos, end, now)
      if (p !== pos) rec.ackLargest = this.acks.lastAckLargest
      pos = p
    }
    if (!closing) pos = this.acks.writeNack(buf, pos, end, now)

    if (closing) {
      const c = life.closeFrame!
      const f: Frame = { type: FrameType.SESSION_CLOSE, errorCode: c.code, reason: c.reason }
      if (frameSize(f) <= end - pos) pos = writeFrame(buf, pos, f)
      life.closeSent = true
      // Closed as far as the application is concerned; we only linger to repeat the close.
      this.onCloseSent()
      return pos
    }
    let ackEliciting = false
    pos = this.queues.writeEchoes(buf, pos, end)
    if (life.keepAliveDue && end - pos >= 1 + KEEP_ALIVE_DATA_SIZE) {
      pos = writeFrame(buf, pos, { type: FrameType.KEEP_ALIVE, data: this.random(KEEP_ALIVE_DATA_SIZE) })
      life.keepAliveDue = false
      ackEliciting = true
    }
    const t = pos
    pos = this.resumption.write(buf, pos, end, rec, life.confirmed)
    if (pos !== t) ackEliciting = true
    if (dataWanted) {
      const before = pos
      pos = this.queues.writeData(buf, pos, end, start)
      pos = this.streams.writeFrames(buf, pos, end, rec.streams)
      if (pos !== before) {
        ackEliciting = true
        if (this.cc === null) this.startCongestion()
      }
    }
    // Every 16th packet of a pure ACK stream asks for an ACK itself, so the peer's ACKs of
    // it let our AckTracker forget old ranges (RFC 9000 §13.2.4).
    if (!ackEliciting && rec.ackLargest >= 0 && this.ackOnlyRun >= ACK_ONLY_RUN_LIMIT && end - pos >= 1 + KEEP_ALIVE_DATA_SIZE) {
      pos = writeFrame(buf, pos, { type: FrameType.KEEP_ALIVE, data: this.random(KEEP_ALIVE_DATA_SIZE) })
      ackEliciting = true
    }
    if (this.probesWanted > 0 && !ackEliciting && end - pos >= 1 + KEEP_ALIVE_DATA_SIZE) {
      // A probe must elicit an ACK even when there is no data to resend (RFC 9002 §6.2.4).
      pos = writeFrame(buf, pos, { type: FrameType.KEEP_ALIVE, data: this.random(KEEP_ALIVE_DATA_SIZE) })
      ackEliciting = true
    }
    if (body.final && pos === start) pos = writeFrame(buf, pos, { type: FrameType.PADDING, length: 1 })
    body.ackEliciting = ackEliciting
    if (this.cc === null) body.inFlight = false
    return pos
  }

  /** Whether this packet will carry anything but ACK/NACK (else a piggybacked ACK would make it an ACK-only packet). */
  private mayElicit(dataWanted: boolean): boolean {
    return (
      this.probesWanted > 0 ||
      this.queues.hasEchoes ||
      this.life.keepAliveDue ||
      this.resumption.wants(this.life.confirmed) ||
      (dataWanted && (this.queues.hasData || this.streams.wantsToSend()))
    )
  }

  /** Makes the controller and pacer and hands the controller to loss recovery: the session's first data is about to be sent. */
  startCongestion(): void {
    const made = this.makeCongestion()
    this.cc = made.cc
    this.pacer = made.pacer
    this.recovery.cc = made.cc
  }

  /** The window of the controller before it is made (flow-autotune.ts reads the window every write). */
  get initialCwnd(): number {
    return initialWindow(this.congestion.maxDatagramSize)
  }

  /** The controller and pacer for statistics: the session's, or new ones (not kept) before its first data. */
  congestionForStats(): { cc: CongestionController; pacer: Pacer } {
    return this.cc !== null ? { cc: this.cc, pacer: this.pacer! } : this.makeCongestion()
  }

  /** A controller and pacer as the session would have made them when it was made (same packet size, seed and initial RTT). */
  private makeCongestion(): { cc: CongestionController; pacer: Pacer } {
    const { algorithm, maxDatagramSize, seed } = this.congestion
    const cc = createCongestionController(algorithm, { maxDatagramSize, rtt: this.rtt, seed, initialSrtt: this.rtt.initialRtt })
    return { cc, pacer: new Pacer(cc, this.rtt, maxDatagramSize, PACER_BURST_PACKETS) }
  }
}
