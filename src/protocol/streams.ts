/**
 * StreamManager: the multiplexer a session owns. Sans-I/O: frames in (handleFrame), frames
 * out into a caller buffer (writeFrames), events out (pollEvent), application calls in
 * (openStream / write / end / abort / read / sendMessage). Time never enters: loss and ACKs
 * are the session's LossDetector / AckTracker, which hand back the StreamRecord of each
 * packet through onAcked / onLost.
 *
 * Streams are addressed by their *key* (id * 2 + kind) as on the wire. Byte streams (kind 0)
 * are opened with openStream: the initiator gets odd ids (1, 3, 5, ...), the responder even
 * ids (2, 4, ...), and the peer's STREAMS_CREDIT (cumulative, like RFC 9000 MAX_STREAMS)
 * bounds how many we may open. Message streams (kind 1) have app-chosen ids, are opened
 * implicitly by either side and are never released; their number is capped instead.
 *
 * Outbound flow of writeFrames (one packet's worth of budget):
 *   1. session control: STREAMS_CREDIT, SESSION_CREDIT
 *   2. per-stream control: STREAM_OPEN, STREAM_CREDIT, STREAM_CLOSE, lost STREAM_FIN
 *   3. retransmissions of lost ranges (oldest unblock the peer's reader first)
 *   4. new data (and the first STREAM_FIN), highest priority first, round-robin among equals,
 *      within stream and session credit.
 * In bare mode (reliable: false) everything written is treated as acknowledged at once.
 */
import { ErrorCode, STTError, STTStreamError, WireError } from '../errors.js'
import { FrameType } from './constants.js'
import { type Frame, dataFrameOverhead, frameSize, writeFrame } from './frames.js'
import { MessageAssembler, encodeMessageHeader } from './messages.js'
import { RangeSet } from './range-set.js'
import { RecordTag, StreamRecord } from './stream-record.js'
import { StreamKind, StreamState } from './stream-state.js'
import { writeVarint } from './varint.js'

export { StreamRecord, RecordTag, StreamKind }

export const DEFAULT_MAX_CONCURRENT_STREAMS = 256
export const DEFAULT_STREAM_RECEIVE_WINDOW = 1 << 20
export const DEFAULT_SESSION_RECEIVE_WINDOW = 16 << 20
export const DEFAULT_STREAM_SEND_BUFFER = 1 << 20
export const DEFAULT_MAX_MESSAGE_SIZE = 16 << 20
/** Do not start a DATA frame with fewer payload bytes than this when more is waiting (avoid slivers). */
const MIN_DATA_FRAGMENT = 32

export interface StreamManagerOptions {
  isInitiator: boolean
  /** Peer-opened byte streams we allow at once (our STREAMS_CREDIT), and the cap on message streams. */
  maxConcurrentStreams?: number
  streamReceiveWindow?: number
  sessionReceiveWindow?: number
  /** Send buffer high-water mark per stream: write() returns false at or above it. */
  streamSendBuffer?: number
  maxMessageSize?: number
  /** false = bare mode: no retransmission, data freed as soon as it is written. */
  reliable?: boolean
}

/** Limits the peer announced in the handshake. */
export interface PeerLimits {
  maxStreams: number
  streamWindow: number
  sessionWindow: number
}

export type StreamEventType = 'stream-opened' | 'readable' | 'writable' | 'end' | 'aborted' | 'closed' | 'message'

export interface StreamEvent {
  type: StreamEventType
  key: number
  streamId: number
  kind: number
  /** 'aborted': the peer's error code. */
  code?: number
  /** 'message': one whole message. */
  data?: Uint8Array
}

export interface StreamStats {
  bytesSent: number
  bytesReceived: number
  retransmittedBytes: number
  retransmittedFrames: number
  bytesInFlight: number
  /** Stream credit left: bytes we may still send before the peer grants more. */
  sendCredit: number
  /** Bytes the peer may still send us before we grant more. */
  receiveWindow: number
  sendBuffered: number
  receiveBuffered: number
}

export function byteStreamKey(id: number): number {
  return id * 2
}
export function messageStreamKey(id: number): number {
  return id * 2 + 1
}

export class StreamManager {
  private readonly streams = new Map<number, StreamState>()
  private readonly events: StreamEvent[] = []
  private eventHead = 0
  private readonly ctrl: StreamState[] = []
  private readonly retx: StreamState[] = []
  private readonly active: StreamState[] = []
  private rrCursor = 0

  readonly isInitiator: boolean
  readonly reliable: boolean
  private readonly maxConcurrent: number
  private readonly streamWindow: number
  private readonly sessionWindow: number
  private readonly sendHighWater: number
  private readonly maxMessageSize: number
  private readonly peerStreamWindow: number

  // Local byte streams: cumulative count opened, and the peer's cumulative limit.
  private nextLocalIdx = 0
  private peerMaxStreams: number
  private readonly peerMaxMessageStreams: number
  // Peer byte streams: cumulative limit we granted, released indices (stale-frame detection).
  private grantedPeerStreams: number
  private streamsCreditPending = false
  private readonly releasedPeer = new RangeSet()
  private messageStreams = 0

  // Session flow control, send side.
  private peerSessionMax: number
  private sessionSent = 0
  // Session flow control, receive side.
  private sessionMaxGranted: number
  private sessionReceived = 0
  private sessionConsumed = 0
  private sessionCreditPending = false

  private readonly hdr = new Uint8Array(8)

  constructor(opts: StreamManagerOptions, peer: PeerLimits) {
    this.isInitiator = opts.isInitiator
    this.reliable = opts.reliable ?? true
    this.maxConcurrent = opts.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS
    this.streamWindow = opts.streamReceiveWindow ?? DEFAULT_STREAM_RECEIVE_WINDOW
    this.sessionWindow = opts.sessionReceiveWindow ?? DEFAULT_SESSION_RECEIVE_WINDOW
    this.sendHighWater = opts.streamSendBuffer ?? DEFAULT_STREAM_SEND_BUFFER
    this.maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE
    this.peerStreamWindow = peer.streamWindow
    this.peerMaxStreams = peer.maxStreams
    this.peerMaxMessageStreams = peer.maxStreams
    this.peerSessionMax = peer.sessionWindow
    this.grantedPeerStreams = this.maxConcurrent
    this.sessionMaxGranted = this.sessionWindow
  }

  // ---------------------------------------------------------------- application side

  /** Opens a byte stream; returns its key (id * 2). Throws STT_TOO_MANY_STREAMS when the peer's credit is used up. */
  openStream(opts: { priority?: number } = {}): number {
    if (this.nextLocalIdx >= this.peerMaxStreams) {
      throw new STTStreamError(ErrorCode.TOO_MANY_STREAMS, `peer allows ${this.peerMaxStreams} streams; all in use`)
    }
    const idx = this.nextLocalIdx++
    const id = this.isInitiator ? 2 * idx + 1 : 2 * idx + 2
    const s = this.create(id * 2, true, opts.priority ?? 0)
    s.openPending = true
    this.addControl(s)
    return s.key
  }

  /** Number of live streams (both kinds); for stats and leak checks. */
  get streamCount(): number {
    return this.streams.size
  }

  has(key: number): boolean {
    return this.streams.has(key)
  }

  private writable(key: number): StreamState {
    const s = this.streams.get(key)
    if (s === undefined || s.aborted || s.send.finalSize >= 0) {
      throw new STTStreamError(ErrorCode.STREAM_CLOSED, `stream ${key >>> 1} is not writable`)
    }
    return s
  }

  /** Copies `data` into the stream's send buffer. Returns false above the high-water mark (wait for 'writable'). */
  write(key: number, data: Uint8Array): boolean {
    const s = this.writable(key)
    const ok = s.send.write(data)
    if (!ok) s.writeBlocked = true
    this.addActive(s)
    return ok
  }

  /**
   * Half-closes the sending direction (STREAM_FIN after the buffered data). A no-op on a
   * stream already ended, aborted or released (end after abort is not an error).
   */
  end(key: number): void {
    const s = this.streams.get(key)
    if (s === undefined || s.aborted || s.send.finalSize >= 0) return
    s.send.end()
    this.addActive(s)
  }

  /** Aborts both directions with `code` (STREAM_CLOSE); buffered data is dropped. */
  abort(key: number, code: number): void {
    const s = this.streams.get(key)
    if (s === undefined || s.abortedLocally) return
    if (s.kind === StreamKind.MESSAGES) throw new STTStreamError(ErrorCode.STREAM_CLOSED, 'message streams cannot be aborted')
    s.abortedLocally = true
    if (!(s.sendDone && s.recvDone) && !s.abortedByPeer && !s.closeSent) {
      s.closeCode = code
      s.closePending = true
      this.addControl(s)
    }
    s.send.discard()
    this.sessionConsumed += s.recv.discard()
    this.maybeGrantSessionCredit()
    this.maybeRelease(s)
  }

  /**
   * Reads up to `max` in-order bytes of a byte stream (a view, valid until the next call on
   * this manager), or null when nothing is readable. Reading grants the peer credit; not
   * reading withholds it, which is how backpressure reaches the remote writer.
   */
  read(key: number, max = Infinity): Uint8Array | null {
    const s = this.streams.get(key)
    if (s === undefined || s.kind !== StreamKind.BYTES || s.abortedLocally) return null
    const b = s.recv.read(max)
    if (b !== null) this.onConsumed(s, b.length)
    if (b === null || !s.recv.readable) s.readableSignaled = false
    this.checkEnd(s)
    return b
  }

  /** Sends one message on message stream `streamId` (opened implicitly). Returns false above the high-water mark. */
  sendMessage(streamId: number, data: Uint8Array): boolean {
    if (data.length > this.maxMessageSize) {
      throw new STTError(ErrorCode.PAYLOAD_TOO_LARGE, `message of ${data.length} bytes exceeds maxMessageSize ${this.maxMessageSize}`)
    }
    const key = streamId * 2 + 1
    let s = this.streams.get(key)
    if (s === undefined) {
      if (this.messageStreams >= this.peerMaxMessageStreams) {
        throw new STTStreamError(ErrorCode.TOO_MANY_STREAMS, `too many message streams (${this.messageStreams})`)
      }
      s = this.create(key, true, 0)
    }
    if (s.aborted) throw new STTStreamError(ErrorCode.STREAM_CLOSED, `message stream ${streamId} was aborted`)
    const n = encodeMessageHeader(this.hdr, data.length)
    s.send.write(this.hdr.subarray(0, n))
    const ok = s.send.write(data)
    if (!ok) s.writeBlocked = true
    this.addActive(s)
    return ok
  }

  getStreamStats(key: number): StreamStats | null {
    const s = this.streams.get(key)
    if (s === undefined) return null
    return {
      ...s.stats,
      // Not clamped: a negative value would be a bug, and tests check for it.
      sendCredit: s.sendMax - s.send.sentEnd,
      receiveWindow: s.recv.maxOffset - s.recv.highestReceived,
      sendBuffered: s.send.buffered,
      receiveBuffered: s.recv.bufferedBytes,
    }
  }

  /** Session-level flow-control state. */
  getFlowStats(): { sendCredit: number; receiveWindow: number; sessionSent: number; sessionReceived: number; sessionConsumed: number } {
    return {
      sendCredit: this.peerSessionMax - this.sessionSent,
      sessionSent: this.sessionSent,
      receiveWindow: this.sessionMaxGranted - this.sessionReceived,
      sessionReceived: this.sessionReceived,
      sessionConsumed: this.sessionConsumed,
    }
  }

  /** Next event for the session to turn into public events, or null. */
  pollEvent(): StreamEvent | null {
    if (this.eventHead >= this.events.length) {
      if (this.events.length > 0) {
        this.events.length = 0
        this.eventHead = 0
      }
      return null
    }
    const e = this.events[this.eventHead]!
    this.events[this.eventHead++] = undefined as unknown as StreamEvent
    return e
  }

  // ---------------------------------------------------------------- wire side: inbound

  /**
   * Applies one stream-layer frame. Returns 0, or a WireError code the session must turn into
   * SESSION_CLOSE (flow-control violation, stream limit, id conflict, oversize message).
   * Frames that are not the stream layer's (ACK, NACK, ...) are ignored (0).
   */
  handleFrame(f: Frame, _now: number): number {
    if ('app' in f) return 0
    switch (f.type) {
      case FrameType.DATA: {
        if (f.datagram) return 0
        const s = this.lookup(f.streamKey)
        if (typeof s === 'number') return s
        if (s === null) return 0
        return this.receiveData(s, f.offset, f.data)
      }
      case FrameType.STREAM_OPEN: {
        const s = this.lookup(f.streamKey)
        if (typeof s === 'number') return s
        if (s !== null) s.priority = f.priority
        return 0
      }
      case FrameType.STREAM_FIN: {
        const s = this.lookup(f.streamKey)
        if (typeof s === 'number') return s
        if (s === null) return 0
        const before = s.recv.highestReceived
        const code = s.recv.setFinalSize(f.finalSize)
        if (code !== 0) return code
        const c2 = this.accountReceived(s, before)
        if (c2 !== 0) return c2
        if (s.abortedLocally) this.sessionConsumed += s.recv.discard()
        this.checkEnd(s)
        this.maybeRelease(s)
        return 0
      }
      case FrameType.STREAM_CLOSE:
        return this.handleClose(f.streamKey, f.errorCode, f.finalSize)
      case FrameType.STREAM_CREDIT: {
        const s = this.lookup(f.streamKey)
        if (typeof s === 'number') return s
        if (s !== null && f.maxOffset > s.sendMax) {
          s.sendMax = f.maxOffset
          this.addActive(s)
        }
        return 0
      }
      case FrameType.SESSION_CREDIT:
        if (f.maxData > this.peerSessionMax) this.peerSessionMax = f.maxData
        return 0
      case FrameType.STREAMS_CREDIT:
        if (f.maxStreams > this.peerMaxStreams) this.peerMaxStreams = f.maxStreams
        return 0
      default:
        return 0
    }
  }

  private receiveData(s: StreamState, offset: number, data: Uint8Array): number {
    const before = s.recv.highestReceived
    const code = s.recv.insert(offset, data)
    if (code !== 0) return code
    const c2 = this.accountReceived(s, before)
    if (c2 !== 0) return c2
    if (s.abortedLocally || s.abortedByPeer) {
      this.sessionConsumed += s.recv.discard()
      this.maybeGrantSessionCredit()
      return 0
    }
    if (s.kind === StreamKind.MESSAGES) return this.pumpMessages(s)
    if (s.recv.readable && !s.readableSignaled) {
      s.readableSignaled = true
      this.emit('readable', s)
    }
    return 0
  }

  /** Session-level receive accounting for growth of s's highest received offset. */
  private accountReceived(s: StreamState, before: number): number {
    const delta = s.recv.highestReceived - before
    if (delta <= 0) return 0
    s.stats.bytesReceived += delta
    this.sessionReceived += delta
    return this.sessionReceived > this.sessionMaxGranted ? WireError.FLOW_CONTROL_VIOLATION : 0
  }

  private pumpMessages(s: StreamState): number {
    const asm = s.messages!
    const start = s.recv.readOffset
    for (;;) {
      const m = asm.next(s.recv)
      if (m === null) break
      this.events.push({ type: 'message', key: s.key, streamId: s.id, kind: s.kind, data: m })
    }
    this.onConsumed(s, s.recv.readOffset - start)
    return asm.error
  }

  private handleClose(key: number, errorCode: number, finalSize: number): number {
    const s = this.lookup(key)
    if (typeof s === 'number') return s
    if (s === null || s.abortedByPeer) return 0
    const before = s.recv.highestReceived
    const code = s.recv.setFinalSize(finalSize)
    if (code !== 0) return code
    const c2 = this.accountReceived(s, before)
    if (c2 !== 0) return c2
    const sendWasDone = s.finAcked && s.send.allAcked
    s.abortedByPeer = true
    this.sessionConsumed += s.recv.discard()
    this.maybeGrantSessionCredit()
    if (!sendWasDone && !s.closeSent && !s.closePending) {
      // Answer with our own final size so the peer can settle its session credit.
      s.closeCode = errorCode
      s.closePending = true
      this.addControl(s)
    }
    s.send.discard()
    if (!s.abortedLocally) this.events.push({ type: 'aborted', key: s.key, streamId: s.id, kind: s.kind, code: errorCode })
    this.maybeRelease(s)
    return 0
  }

  /**
   * Finds the stream a peer frame refers to, opening peer streams implicitly. Returns null for
   * frames about streams already released (late retransmissions), or a WireError code.
   */
  private lookup(key: number): StreamState | null | number {
    const s = this.streams.get(key)
    if (s !== undefined) return s
    const id = Math.floor(key / 2)
    if ((key & 1) === StreamKind.MESSAGES) {
      if (this.messageStreams >= this.maxConcurrent) return WireError.TOO_MANY_STREAMS
      const m = this.create(key, false, 0)
      return m
    }
    if (id === 0) return WireError.STREAM_ID_CONFLICT
    const odd = id % 2 === 1
    const idx = odd ? (id - 1) / 2 : id / 2 - 1
    if (odd === this.isInitiator) {
      // Our own id space: released earlier (stale) or never opened (peer is confused).
      return idx < this.nextLocalIdx ? null : WireError.STREAM_ID_CONFLICT
    }
    if (this.releasedPeer.contains(idx)) return null
    if (idx >= this.grantedPeerStreams) return WireError.TOO_MANY_STREAMS
    const p = this.create(key, false, 0)
    this.emit('stream-opened', p)
    return p
  }

  private create(key: number, local: boolean, priority: number): StreamState {
    const s = new StreamState(key, local, {
      sendHighWater: this.sendHighWater,
      recvWindow: this.streamWindow,
      peerStreamWindow: this.peerStreamWindow,
      priority,
    })
    if (s.kind === StreamKind.MESSAGES) {
      s.messages = new MessageAssembler(this.maxMessageSize)
      this.messageStreams++
    }
    this.streams.set(key, s)
    return s
  }

  // ---------------------------------------------------------------- flow-control bookkeeping

  private onConsumed(s: StreamState, n: number): void {
    if (n <= 0) return
    this.sessionConsumed += n
    if (s.recv.takeCreditUpdate() >= 0) {
      s.creditPending = true
      this.addControl(s)
    }
    this.maybeGrantSessionCredit()
  }

  private maybeGrantSessionCredit(): void {
    if (this.sessionMaxGranted - this.sessionConsumed > this.sessionWindow / 2) return
    this.sessionMaxGranted = this.sessionConsumed + this.sessionWindow
    this.sessionCreditPending = true
  }

  private checkEnd(s: StreamState): void {
    if (!s.endEmitted && !s.aborted && s.recv.finished) {
      s.endEmitted = true
      this.emit('end', s)
      this.maybeRelease(s)
    }
  }

  private checkWritable(s: StreamState): void {
    if (s.writeBlocked && !s.aborted && s.send.buffered <= this.sendHighWater / 2) {
      s.writeBlocked = false
      this.emit('writable', s)
    }
  }

  private maybeRelease(s: StreamState): void {
    if (s.released || s.kind !== StreamKind.BYTES || !s.sendDone || !s.recvDone) return
    s.released = true
    this.streams.delete(s.key)
    if (!s.local) {
      const idx = s.id % 2 === 1 ? (s.id - 1) / 2 : s.id / 2 - 1
      this.releasedPeer.add(idx, idx + 1)
      this.grantedPeerStreams++
      this.streamsCreditPending = true
    }
    this.emit('closed', s)
  }

  private emit(type: StreamEventType, s: StreamState): void {
    this.events.push({ type, key: s.key, streamId: s.id, kind: s.kind })
  }

  private addControl(s: StreamState): void {
    if (!s.inControl) {
      s.inControl = true
      this.ctrl.push(s)
    }
  }

  private addActive(s: StreamState): void {
    if (!s.inActive) {
      s.inActive = true
      this.active.push(s)
    }
  }

  private addRetransmit(s: StreamState): void {
    if (!s.inRetransmit) {
      s.inRetransmit = true
      this.retx.push(s)
    }
  }

  // ---------------------------------------------------------------- wire side: outbound

  /** True when writeFrames would write something (control, retransmission, or data within credit). */
  wantsToSend(): boolean {
    if (this.streamsCreditPending || this.sessionCreditPending || this.ctrl.length > 0) return true
    for (const s of this.retx) if (!s.aborted && s.send.hasRetransmit) return true
    const sessionLeft = this.peerSessionMax - this.sessionSent
    for (const s of this.active) {
      if (!s.hasNewData()) continue
      if (sessionLeft > 0 || s.send.newBytesAvailable(s.sendMax) === 0) return true
    }
    return false
  }

  /**
   * Fills [pos, end) of `buf` with frames (see the outbound flow at the top) and returns the
   * new position. What went in is appended to `record`; hand it back via onAcked / onLost.
   */
  writeFrames(buf: Uint8Array, pos: number, end: number, record: StreamRecord): number {
    const firstItem = record.items.length
    pos = this.writeSessionControl(buf, pos, end, record)
    pos = this.writeStreamControl(buf, pos, end, record)
    pos = this.writeRetransmissions(buf, pos, end, record)
    pos = this.writeNewData(buf, pos, end, record)
    if (!this.reliable) this.applyItems(record.items, firstItem, true)
    return pos
  }

  private writeSmall(buf: Uint8Array, pos: number, end: number, f: Frame): number {
    const n = frameSize(f)
    if (n > end - pos) return -1
    return writeFrame(buf, pos, f)
  }

  private writeSessionControl(buf: Uint8Array, pos: number, end: number, record: StreamRecord): number {
    if (this.streamsCreditPending) {
      const p = this.writeSmall(buf, pos, end, { type: FrameType.STREAMS_CREDIT, maxStreams: this.grantedPeerStreams })
      if (p < 0) return pos
      pos = p
      this.streamsCreditPending = false
      record.push(RecordTag.STREAMS_CREDIT, 0, 0, this.grantedPeerStreams)
    }
    if (this.sessionCreditPending) {
      const p = this.writeSmall(buf, pos, end, { type: FrameType.SESSION_CREDIT, maxData: this.sessionMaxGranted })
      if (p < 0) return pos
      pos = p
      this.sessionCreditPending = false
      record.push(RecordTag.SESSION_CREDIT, 0, 0, this.sessionMaxGranted)
    }
    return pos
  }

  private writeStreamControl(buf: Uint8Array, pos: number, end: number, record: StreamRecord): number {
    const list = this.ctrl
    let keep = 0
    let i = 0
    for (; i < list.length; i++) {
      const s = list[i]!
      const p = this.writeControlOf(s, buf, pos, end, record)
      pos = p
      if (s.openPending || s.creditPending || s.closePending || s.finPending) {
        list[keep++] = s
        if (!s.released) break // out of room: keep the rest for the next packet
      } else {
        s.inControl = false
      }
    }
    for (i++; i < list.length; i++) list[keep++] = list[i]!
    list.length = keep
    return pos
  }

  private writeControlOf(s: StreamState, buf: Uint8Array, pos: number, end: number, record: StreamRecord): number {
    if (s.released) {
      s.openPending = s.creditPending = s.closePending = s.finPending = false
      return pos
    }
    if (s.openPending) {
      if (s.aborted) s.openPending = false
      else {
        const p = this.writeSmall(buf, pos, end, { type: FrameType.STREAM_OPEN, streamKey: s.key, priority: s.priority })
        if (p < 0) return pos
        pos = p
        s.openPending = false
        record.push(RecordTag.OPEN, s.key, s.priority, 0)
      }
    }
    if (s.creditPending) {
      if (s.aborted || s.recv.finalSize >= 0) s.creditPending = false
      else {
        const p = this.writeSmall(buf, pos, end, { type: FrameType.STREAM_CREDIT, streamKey: s.key, maxOffset: s.recv.maxOffset })
        if (p < 0) return pos
        pos = p
        s.creditPending = false
        record.push(RecordTag.STREAM_CREDIT, s.key, 0, s.recv.maxOffset)
      }
    }
    if (s.closePending) {
      const f: Frame = { type: FrameType.STREAM_CLOSE, streamKey: s.key, errorCode: s.closeCode, finalSize: s.send.sentEnd }
      const p = this.writeSmall(buf, pos, end, f)
      if (p < 0) return pos
      pos = p
      s.closePending = false
      s.closeSent = true
      s.finPending = false
      record.push(RecordTag.CLOSE, s.key, s.closeCode, s.send.sentEnd)
    }
    if (s.finPending) {
      if (s.aborted || s.finAcked) s.finPending = false
      else {
        const p = this.writeSmall(buf, pos, end, { type: FrameType.STREAM_FIN, streamKey: s.key, finalSize: s.send.finalSize })
        if (p < 0) return pos
        pos = p
        s.finPending = false
        record.push(RecordTag.FIN, s.key, 0, s.send.finalSize)
      }
    }
    return pos
  }

  /** Writes one DATA frame header + bytes for [offset, offset + n) of s; the caller checked room. */
  private writeData(s: StreamState, offset: number, n: number, buf: Uint8Array, pos: number): number {
    buf[pos++] = FrameType.DATA
    buf[pos++] = 0 // flags: a stream frame (the key's low bit says message or byte stream)
    pos = writeVarint(buf, pos, s.key)
    pos = writeVarint(buf, pos, offset)
    pos = writeVarint(buf, pos, n)
    s.send.copyOut(offset, n, buf, pos)
    s.send.onSent(offset, n)
    s.stats.bytesInFlight += n
    return pos + n
  }

  /** Payload bytes that fit a DATA frame for s at `offset` with `room` left; 0 when not worth it. */
  private fit(s: StreamState, offset: number, avail: number, room: number): number {
    if (room <= 0) return 0
    const ov = dataFrameOverhead(s.key, offset, Math.min(avail, room))
    const n = Math.min(avail, room - ov)
    if (n <= 0 || (n < avail && n < MIN_DATA_FRAGMENT)) return 0
    return n
  }

  private writeRetransmissions(buf: Uint8Array, pos: number, end: number, record: StreamRecord): number {
    const list = this.retx
    let keep = 0
    let full = false
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!
      while (!full && !s.aborted && s.send.hasRetransmit) {
        const off = s.send.retransmitStart()
        const n = this.fit(s, off, s.send.retransmitLength(), end - pos)
        if (n === 0) {
          full = true
          break
        }
        pos = this.writeData(s, off, n, buf, pos)
        s.stats.retransmittedBytes += n
        s.stats.retransmittedFrames++
        record.push(RecordTag.DATA, s.key, off, n)
      }
      if (!s.aborted && !s.released && s.send.hasRetransmit) list[keep++] = s
      else s.inRetransmit = false
    }
    list.length = keep
    return pos
  }

  /** Picks the next stream for new data: highest priority, round-robin among equals. -1 if none. */
  private pickActive(sessionLeft: number): number {
    const list = this.active
    let keep = 0
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!
      if (!s.released && s.hasNewData()) list[keep++] = s
      else {
        s.inActive = false
        if (i < this.rrCursor) this.rrCursor--
      }
    }
    list.length = keep
    const n = keep
    if (n === 0) return -1
    let best = -1
    let bestPri = -1
    for (let k = 0; k < n; k++) {
      const i = (this.rrCursor + k) % n
      const s = list[i]!
      if (sessionLeft <= 0 && s.send.newBytesAvailable(s.sendMax) > 0) continue
      if (s.priority > bestPri) {
        bestPri = s.priority
        best = i
      }
    }
    return best
  }

  private writeNewData(buf: Uint8Array, pos: number, end: number, record: StreamRecord): number {
    for (;;) {
      const sessionLeft = this.peerSessionMax - this.sessionSent
      const i = this.pickActive(sessionLeft)
      if (i < 0) return pos
      const s = this.active[i]!
      const send = s.send
      let wrote = false
      const avail = Math.min(send.newBytesAvailable(s.sendMax), sessionLeft)
      if (avail > 0) {
        const off = send.sentEnd
        const n = this.fit(s, off, avail, end - pos)
        if (n === 0) return pos
        pos = this.writeData(s, off, n, buf, pos)
        this.sessionSent += n
        s.stats.bytesSent += n
        record.push(RecordTag.DATA, s.key, off, n)
        wrote = true
      }
      if (send.finalSize >= 0 && !s.finSent && send.sentEnd === send.finalSize) {
        const p = this.writeSmall(buf, pos, end, { type: FrameType.STREAM_FIN, streamKey: s.key, finalSize: send.finalSize })
        if (p < 0) return pos
        pos = p
        s.finSent = true
        record.push(RecordTag.FIN, s.key, 0, send.finalSize)
        wrote = true
      }
      if (!wrote) return pos
      this.rrCursor = i + 1
    }
  }

  // ---------------------------------------------------------------- acknowledgements

  /** The packet that carried `record` was acknowledged: free acked data, settle FIN/CLOSE. */
  onAcked(record: StreamRecord): void {
    this.applyItems(record.items, 0, true)
  }

  /**
   * The packet that carried `record` was lost (or, for PTO probes, its content should be sent
   * again): re-queue data not acked meanwhile and control frames that are still current.
   */
  onLost(record: StreamRecord): void {
    if (!this.reliable) return // bare mode: the transport below does not lose anything
    this.applyItems(record.items, 0, false)
  }

  private applyItems(items: readonly number[], from: number, acked: boolean): void {
    for (let i = from; i < items.length; i += 4) {
      const tag = items[i]!
      const key = items[i + 1]!
      const a = items[i + 2]!
      const b = items[i + 3]!
      if (tag === RecordTag.SESSION_CREDIT) {
        if (!acked && b === this.sessionMaxGranted) this.sessionCreditPending = true
        continue
      }
      if (tag === RecordTag.STREAMS_CREDIT) {
        if (!acked && b === this.grantedPeerStreams) this.streamsCreditPending = true
        continue
      }
      const s = this.streams.get(key)
      if (s === undefined) continue
      if (acked) this.ackItem(s, tag, a, b)
      else this.loseItem(s, tag, a, b)
    }
  }

  private ackItem(s: StreamState, tag: number, a: number, b: number): void {
    s.peerKnows = true
    switch (tag) {
      case RecordTag.DATA:
        s.stats.bytesInFlight = Math.max(0, s.stats.bytesInFlight - b)
        s.send.onAcked(a, b)
        this.checkWritable(s)
        break
      case RecordTag.FIN:
        s.finAcked = true
        s.finPending = false
        break
      case RecordTag.CLOSE:
        s.closeAcked = true
        s.closePending = false
        break
      default:
        return
    }
    this.maybeRelease(s)
  }

  private loseItem(s: StreamState, tag: number, a: number, b: number): void {
    switch (tag) {
      case RecordTag.DATA:
        s.stats.bytesInFlight = Math.max(0, s.stats.bytesInFlight - b)
        if (s.aborted) return
        s.send.onLost(a, b)
        if (s.send.hasRetransmit) this.addRetransmit(s)
        return
      case RecordTag.FIN:
        if (!s.aborted && !s.finAcked) {
          s.finPending = true
          this.addControl(s)
        }
        return
      case RecordTag.CLOSE:
        if (!s.closeAcked) {
          s.closePending = true
          this.addControl(s)
        }
        return
      case RecordTag.STREAM_CREDIT:
        if (!s.aborted && s.recv.finalSize < 0 && b === s.recv.maxOffset) {
          s.creditPending = true
          this.addControl(s)
        }
        return
      case RecordTag.OPEN:
        if (!s.aborted && !s.peerKnows) {
          s.openPending = true
          this.addControl(s)
        }
        return
    }
  }
}
