/**
 * The one place a session's protected packets are put together: reserve the header, let a
 * frame source fill the body, then number the packet, write the header and register it with
 * loss recovery and the counters (the pacer is the session writer's: only its packets are in
 * flight). Sealing is left to the caller, which seals a whole batch at once (PacketSpace.seal).
 *
 * Frame sources: the session's regular writer (ACK, NACK, close, keep-alive, datagrams, app
 * and stream frames) and the path challenge; both go through `assemble`, so numbering, header
 * and bookkeeping exist once.
 */
import { AEAD_TAG_SIZE, HEADER_SIZE, PacketType, PROTOCOL_VERSION } from './constants.js'
import { writeHeader } from './header.js'
import type { LossRecovery } from './loss.js'
import type { PacketSpace } from './packet-space.js'
import type { SessionCounters } from './session-stats.js'
import { StreamRecord } from './stream-record.js'

/** What a sent packet carried, handed back by loss recovery when acked or lost. */
export class SentRecord {
  readonly streams = new StreamRecord()
  /** Largest packet number covered by an ACK frame in this packet (-1: none). */
  ackLargest = -1
  /** Packet size in bytes: path MTU black-hole detection tells full-size packets from small ones. */
  size = 0
  /** Id of the path MTU probe this packet was (src/protocol/pmtu.ts), 0 for any other packet. */
  pmtuProbe = 0
  /** A resumption ticket this packet carried (sent again if the packet is lost). */
  ticket: { ticket: Uint8Array; expires: number } | null = null
}

/** What the frame source says about the packet it filled. */
export interface PacketBody {
  /** It must be acknowledged (anything but ACK/NACK/PADDING/SESSION_CLOSE-only). */
  ackEliciting: boolean
  /** It counts against the congestion window (false for path probes, which go elsewhere). */
  inFlight: boolean
  /** Responder's FINAL packet type instead of DATA. */
  final: boolean
  /** Start a key update first if one is due (first packet of a batch only). */
  mayRekey: boolean
}

/**
 * What fills a packet: an object with a method rather than a closure, so a session holds no
 * function and context per source (idle memory, issue 14).
 */
export interface FrameSource {
  /** Fills buf[pos, end) with frames (recording what it wrote in `rec`); returns the new pos. */
  writeFrames(buf: Uint8Array, pos: number, end: number, rec: SentRecord, body: PacketBody): number
}

/** Records kept for reuse: one per packet in flight would otherwise be garbage per packet. */
const RECORD_POOL_MAX = 1024
/**
 * Cleared records any session of the thread may take. A ping-pong needs two per round trip
 * (one in flight, one for the write attempt that finds nothing more to send) while a session
 * with nothing outstanding keeps one: the other was garbage every round trip (issue 13).
 * Thread-wide, so an idle session's memory does not grow (issue 14). Records hold no secret.
 */
const sharedRecords: SentRecord[] = []
const SHARED_RECORDS_MAX = 64

const packetBody: PacketBody = { ackEliciting: false, inFlight: true, final: false, mayRekey: false }

export class PacketAssembler {
  private readonly recordPool: SentRecord[] = []
  /** The one record an idle session keeps, outside the pool so the pool holds no storage then. */
  private spare: SentRecord | null = null
  /** The thread's one body (valid until the next assemble anywhere: callers read it at once). */
  private readonly body = packetBody

  constructor(
    private readonly sessionId: Uint8Array,
    private readonly space: PacketSpace,
    private readonly recovery: LossRecovery<SentRecord>,
    private readonly counters: SessionCounters,
    /** Bare mode: the transport delivers, so a packet is done once written. */
    private readonly onWrittenBare: ((rec: SentRecord) => void) | null,
  ) {}

  /**
   * Writes one packet at `off` with `room` bytes (tag included) from `source`. Returns its
   * size, or 0 when the source wrote nothing (nothing is numbered or recorded then).
   */
  assemble(now: number, buf: Uint8Array, off: number, room: number, source: FrameSource, final: boolean, mayRekey: boolean): number {
    const body = this.body
    body.ackEliciting = false
    body.inFlight = true
    body.final = final
    body.mayRekey = mayRekey
    let rec = this.recordPool.pop()
    if (rec === undefined) {
      rec = this.spare ?? sharedRecords.pop() ?? new SentRecord()
      this.spare = null
    }
    const start = off + HEADER_SIZE
    const pos = source.writeFrames(buf, start, off + room - AEAD_TAG_SIZE, rec, body)
    if (pos === start) {
      this.release(rec)
      return 0
    }
    // Fix (test/sim/streams.test.ts "key update"): a batch is sealed with the key current at
    // its end, so a key update started mid-batch sealed the earlier packets with the new key
    // under the old phase bit, and the peer dropped them as forgeries ('auth'). Updates start
    // only before the first packet of a batch: a batch is then always one key.
    if (body.mayRekey) this.space.maybeUpdateKeys(now)
    const pn = this.space.nextPacketNumber()
    writeHeader(buf, off, PROTOCOL_VERSION, body.final ? PacketType.FINAL : PacketType.DATA, this.space.phaseFlags, this.sessionId, pn)
    const size = pos + AEAD_TAG_SIZE - off
    rec.size = size
    this.recovery.onPacketSent(pn, now, size, body.ackEliciting, body.ackEliciting && body.inFlight, rec)
    if (this.onWrittenBare) this.onWrittenBare(rec)
    this.counters.packetsSent++
    this.counters.bytesSent += size
    return size
  }

  /** The body flags of the packet just assembled (valid until the next assemble). */
  get last(): Readonly<PacketBody> {
    return this.body
  }

  release(rec: SentRecord): void {
    rec.streams.clear()
    rec.ackLargest = -1
    rec.pmtuProbe = 0
    rec.ticket = null
    // With nothing outstanding an idle session keeps one record, not a burst's worth, and the
    // pool's storage is freed (length 0 does; issue 14). Bare mode releases every record at
    // once, so its pool is never trimmed.
    if (this.spare === null) this.spare = rec
    else if (this.onWrittenBare === null && this.recovery.outstanding === 0) {
      if (this.recordPool.length > 0) this.recordPool.length = 0
      if (sharedRecords.length < SHARED_RECORDS_MAX) sharedRecords.push(rec)
    } else if (this.recordPool.length < RECORD_POOL_MAX) this.recordPool.push(rec)
  }
}
