/**
 * StreamManager: the multiplexer a session owns. Sans-I/O: frames in (handleFrame), frames
 * out into a caller buffer (writeFrames), events out (into the owner's sink: the endpoint's one
 * queue, core-events.ts; pollEvent when used on its own), application calls in
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
 * Per-stream state machine: stream-state.ts. Outbound scheduling: stream-scheduler.ts.
 * Session-level credit: session-flow.ts. In bare mode (reliable: false) everything written
 * is treated as acknowledged at once and onLost is a no-op.
 */
import type { FlowTuning } from './flow-autotune.js'
import { ErrorCode, STTError, STTStreamError, WireError } from '../errors.js'
import { FrameType } from './constants.js'
import { Fifo } from './fifo.js'
import type { Frame } from './frames.js'
import { MessageAssembler, encodeMessageHeader } from './messages.js'
import { RangeSet } from './range-set.js'
import { SessionFlow } from './session-flow.js'
import { RecordTag, StreamRecord } from './stream-record.js'
import { StreamScheduler } from './stream-scheduler.js'
import { StreamKind, StreamState } from './stream-state.js'
import {
  DEFAULT_MAX_CONCURRENT_STREAMS,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_SESSION_RECEIVE_WINDOW,
  DEFAULT_STREAM_RECEIVE_WINDOW,
  DEFAULT_STREAM_SEND_BUFFER,
  type FlowStats,
  type PeerLimits,
  type StreamEvent,
  type StreamEventKind,
  type StreamManagerOptions,
  type StreamStats,
} from './stream-types.js'

export * from './stream-types.js'
export { StreamRecord, RecordTag, StreamKind }

// Scratch for a message header: send.write copies writes this small (send-buffer.ts), so one
// per thread serves every session (it was 200 bytes of each idle session, issue 14).
const MESSAGE_HEADER = new Uint8Array(8)

/** Index of a byte stream within its opener's id sequence (1,3,5.. or 2,4,6..). */
function streamIndex(id: number): number {
  return id % 2 === 1 ? (id - 1) / 2 : id / 2 - 1
}

/** The stream map of a session with no stream open (never written; a Map costs ~180 bytes). */
const NO_STREAMS: ReadonlyMap<number, StreamState> = new Map()

export class StreamManager<Owner = unknown> {
  /** NO_STREAMS until a stream opens and again once none is left (idle memory, issue 14). */
  private streams = NO_STREAMS as Map<number, StreamState>
  /** Events of a manager used on its own (tests); an owned one pushes into its owner's sink. */
  private ownEvents: Fifo<StreamEvent<Owner>> | null = null
  private sink: { push(e: StreamEvent<Owner>): void } | null = null
  private owner: Owner = null as Owner
  /** watchAllAcked was called and 'all-acked' is not out yet. */
  private watchingAcks = false
  private readonly flow: SessionFlow
  private readonly scheduler: StreamScheduler

  readonly isInitiator: boolean
  readonly reliable: boolean
  private readonly maxConcurrent: number
  private readonly streamWindow: number
  private readonly sendFloor: number
  private readonly tuning: FlowTuning | null
  /**
   * Send-buffer high-water mark of `s`: the configured size, or up to 2 x cwnd when the peer's
   * credit lets that much be in flight (flow-autotune.ts); never more than the peer allows
   * ahead of what it acknowledged, so a slow reader still stops the writer at the floor.
   */
  private sendHighWater(s: StreamState): number {
    if (this.tuning === null) return this.sendFloor
    return Math.max(this.sendFloor, Math.min(this.tuning.sendHighWater(this.sendFloor), s.sendMax - s.send.ackedBase))
  }
  private readonly maxMessageSize: number
  private readonly peerStreamWindow: number
  private readonly peerMaxMessageStreams: number

  /** Local byte streams opened so far (cumulative); compared with flow.peerMaxStreams. */
  private nextLocalIdx = 0
  /** Indices of released peer byte streams: frames for them are late retransmissions. */
  private readonly releasedPeer = new RangeSet()
  private messageStreams = 0
  /**
   * Called after every application call that may have made frames due (open, write, end,
   * abort, read, sendMessage): the session schedules itself, so the endpoint needs no scan of
   * idle sessions to notice (endpoint-scheduler.ts).
   */
  schedule: () => void = () => {}

  constructor(opts: StreamManagerOptions, peer: PeerLimits) {
    this.isInitiator = opts.isInitiator
    this.reliable = opts.reliable ?? true
    this.maxConcurrent = opts.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS
    this.streamWindow = opts.streamReceiveWindow ?? DEFAULT_STREAM_RECEIVE_WINDOW
    this.sendFloor = opts.streamSendBuffer ?? DEFAULT_STREAM_SEND_BUFFER
    this.tuning = opts.tuning ?? null
    this.maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE
    this.peerStreamWindow = peer.streamWindow
    this.peerMaxMessageStreams = peer.maxStreams
    this.flow = new SessionFlow(opts.sessionReceiveWindow ?? DEFAULT_SESSION_RECEIVE_WINDOW, peer.sessionWindow, peer.maxStreams, this.maxConcurrent, this.tuning)
    this.scheduler = new StreamScheduler(this.flow)
  }

  // ---------------------------------------------------------------- application side

  /** Opens a byte stream; returns its key (id * 2). Throws STT_TOO_MANY_STREAMS when the peer's credit is used up. */
  openStream(opts: { priority?: number; maxFrameSize?: number } = {}): number {
    if (this.nextLocalIdx >= this.flow.peerMaxStreams) {
      throw new STTStreamError(ErrorCode.TOO_MANY_STREAMS, `peer allows ${this.flow.peerMaxStreams} streams; all in use`)
    }
    const idx = this.nextLocalIdx++
    const id = this.isInitiator ? 2 * idx + 1 : 2 * idx + 2
    const s = this.create(id * 2, true, (opts.priority ?? 0) & 0xff)
    if (opts.maxFrameSize !== undefined) s.maxFrameSize = opts.maxFrameSize
    s.openPending = true
    this.scheduler.addControl(s)
    this.schedule()
    return s.key
  }

  /**
   * Events go to `sink` from now on, each naming `owner` as its session (the protocol session
   * and the endpoint's queue): an event an application call produces (read -> 'end', abort ->
   * 'stream-closed') is in the driver's queue when the call returns.
   */
  attach(owner: Owner, sink: { push(e: StreamEvent<Owner>): void }): void {
    this.owner = owner
    this.sink = sink
  }

  /** Where events go: the owner's sink, or (a manager used on its own) a queue made on first use. */
  private eventSink(): { push(e: StreamEvent<Owner>): void } {
    return this.sink ?? (this.sink = this.ownEvents = new Fifo<StreamEvent<Owner>>())
  }

  /** Number of live streams (both kinds); for stats and leak checks. */
  get streamCount(): number {
    return this.streams.size
  }

  /** Bytes written by the application and not yet acknowledged, over all live streams. */
  get unackedBytes(): number {
    let n = 0
    for (const s of this.streams.values()) if (!s.aborted) n += s.send.buffered
    return n
  }

  /**
   * Asks for one 'all-acked' event (in the owner's sink) once everything written so far is
   * acknowledged or dropped by an abort. Returns true, and arms nothing, when that is already
   * the case. The streams are only walked while someone waits (session.close()), not per ACK.
   */
  watchAllAcked(): boolean {
    if (this.unackedBytes === 0) return true
    this.watchingAcks = true
    return false
  }

  private checkAllAcked(): void {
    if (!this.watchingAcks || this.unackedBytes > 0) return
    this.watchingAcks = false
    this.allAcked()
  }

  /** Emits 'all-acked' (set by the session: the event is the session's, not a stream's). */
  allAcked: () => void = () => {}

  has(key: number): boolean {
    return this.streams.has(key)
  }

  /** The peer finished byte stream `key` and all of it arrived (what is unread can still be read). */
  receivedAll(key: number): boolean {
    const s = this.streams.get(key)
    return s !== undefined && s.kind === StreamKind.BYTES && !s.aborted && s.recv.complete
  }

  /** Copies `data` into the stream's send buffer. Returns false at or above the high-water mark (wait for 'writable'). */
  write(key: number, data: Uint8Array): boolean {
    const s = this.streams.get(key)
    if (s === undefined || s.aborted || s.send.finalSize >= 0) {
      throw new STTStreamError(ErrorCode.STREAM_CLOSED, `stream ${key >>> 1} is not writable`)
    }
    s.send.highWaterMark = this.sendHighWater(s)
    const ok = s.send.write(data)
    if (!ok) s.writeBlocked = true
    this.scheduler.addActive(s)
    this.schedule()
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
    this.scheduler.addActive(s)
    this.schedule()
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
      this.scheduler.addControl(s)
    }
    s.send.discard()
    this.flow.onConsumed(s.recv.discard())
    this.maybeRelease(s)
    this.checkAllAcked()
    this.schedule()
  }

  /**
   * Reads up to `max` in-order bytes of a byte stream (a view of the stored copy), or null
   * when nothing is readable. Reading grants the peer credit; not reading withholds it, which
   * is how backpressure reaches the remote writer.
   */
  read(key: number, max = Infinity): Uint8Array | null {
    const s = this.streams.get(key)
    if (s === undefined || s.kind !== StreamKind.BYTES || s.abortedLocally) return null
    const b = s.recv.read(max)
    if (b !== null) this.onConsumed(s, b.length)
    if (b === null || !s.recv.readable) s.readableSignaled = false
    this.checkEnd(s)
    if (b !== null) this.schedule()
    return b
  }

  /** Sends one message on message stream `streamId` (opened implicitly). Returns false at or above the high-water mark. */
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
    const n = encodeMessageHeader(MESSAGE_HEADER, data.length)
    s.send.write(MESSAGE_HEADER.subarray(0, n))
    s.send.highWaterMark = this.sendHighWater(s)
    const ok = s.send.write(data)
    if (!ok) s.writeBlocked = true
    this.scheduler.addActive(s)
    this.schedule()
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
  getFlowStats(): FlowStats {
    return this.flow.stats()
  }

  /** A manager used on its own (no attach): its next event, or null. */
  pollEvent(): StreamEvent<Owner> | null {
    return this.ownEvents?.shift() ?? null
  }

  // ---------------------------------------------------------------- wire side: inbound

  /**
   * Applies one stream-layer frame. Returns 0, or a WireError code the session must turn into
   * SESSION_CLOSE (flow-control violation, stream limit, id conflict, oversize message).
   * Frames that are not the stream layer's (ACK, NACK, datagrams, ...) are ignored (0).
   * DATA bytes are copied; the frame's buffer may be reused after the call.
   */
  handleFrame(f: Frame, _now: number): number {
    if ('app' in f) return 0
    switch (f.type) {
      case FrameType.DATA: {
        if (f.datagram) return 0
        const s = this.lookup(f.streamKey)
        if (s === null || typeof s === 'number') return s ?? 0
        return this.receiveData(s, f.offset, f.data)
      }
      case FrameType.STREAM_OPEN: {
        const s = this.lookup(f.streamKey)
        if (typeof s === 'number') return s
        if (s !== null) s.priority = f.priority
        return 0
      }
      case FrameType.STREAM_FIN:
        return this.handleFin(f.streamKey, f.finalSize)
      case FrameType.STREAM_CLOSE:
        return this.handleClose(f.streamKey, f.errorCode, f.finalSize)
      case FrameType.STREAM_CREDIT: {
        const s = this.lookup(f.streamKey)
        if (typeof s === 'number') return s
        if (s !== null && f.maxOffset > s.sendMax) {
          s.sendMax = f.maxOffset
          this.scheduler.addActive(s)
        }
        return 0
      }
      case FrameType.SESSION_CREDIT:
        this.flow.onPeerCredit(f.maxData)
        return 0
      case FrameType.STREAMS_CREDIT:
        this.flow.onPeerStreamsCredit(f.maxStreams)
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
    if (s.aborted) {
      // Late data of an aborted stream: counted (the sender counted it too), then dropped.
      this.flow.onConsumed(s.recv.discard())
      return 0
    }
    if (s.kind === StreamKind.MESSAGES) return this.pumpMessages(s)
    if (!s.recv.readable) this.creditBehindHole(s)
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
    return this.flow.onReceived(delta)
  }

  private pumpMessages(s: StreamState): number {
    const asm = s.messages!
    const start = s.recv.readOffset
    for (;;) {
      const m = asm.next(s.recv)
      if (m === null) break
      this.eventSink().push({ kind: 'message', session: this.owner, stream: s.key, streamId: s.id, data: m })
    }
    this.onConsumed(s, s.recv.readOffset - start)
    return asm.error
  }

  private handleFin(key: number, finalSize: number): number {
    const s = this.lookup(key)
    if (s === null || typeof s === 'number') return s ?? 0
    const before = s.recv.highestReceived
    const code = s.recv.setFinalSize(finalSize)
    if (code !== 0) return code
    const c2 = this.accountReceived(s, before)
    if (c2 !== 0) return c2
    if (s.abortedLocally) this.flow.onConsumed(s.recv.discard())
    this.checkEnd(s)
    this.maybeRelease(s)
    return 0
  }

  private handleClose(key: number, errorCode: number, finalSize: number): number {
    const s = this.lookup(key)
    if (s === null || typeof s === 'number') return s ?? 0
    if (s.abortedByPeer) return 0
    const before = s.recv.highestReceived
    const code = s.recv.setFinalSize(finalSize)
    if (code !== 0) return code
    const c2 = this.accountReceived(s, before)
    if (c2 !== 0) return c2
    const sendWasDone = s.finAcked && s.send.allAcked
    s.abortedByPeer = true
    this.flow.onConsumed(s.recv.discard())
    if (!sendWasDone && !s.closeSent && !s.closePending) {
      // Answer with our own final size so the peer can settle its session credit.
      s.closeCode = errorCode
      s.closePending = true
      this.scheduler.addControl(s)
    }
    s.send.discard()
    if (!s.abortedLocally) this.eventSink().push({ kind: 'aborted', session: this.owner, stream: s.key, streamId: s.id, code: errorCode })
    this.maybeRelease(s)
    this.checkAllAcked()
    return 0
  }

  /**
   * Finds the stream a peer frame refers to, opening peer streams implicitly. Returns null for
   * frames about streams already released (late retransmissions), or a WireError code.
   */
  private lookup(key: number): StreamState | null | number {
    const s = this.streams.get(key)
    if (s !== undefined) return s
    if ((key & 1) === StreamKind.MESSAGES) {
      if (this.messageStreams >= this.maxConcurrent) return WireError.TOO_MANY_STREAMS
      return this.create(key, false, 0)
    }
    const id = Math.floor(key / 2)
    if (id === 0) return WireError.STREAM_ID_CONFLICT
    const idx = streamIndex(id)
    if ((id % 2 === 1) === this.isInitiator) {
      // Our own id space: released earlier (stale) or never opened (the peer is confused).
      return idx < this.nextLocalIdx ? null : WireError.STREAM_ID_CONFLICT
    }
    if (this.releasedPeer.contains(idx)) return null
    if (idx >= this.flow.grantedPeerStreams) return WireError.TOO_MANY_STREAMS
    const p = this.create(key, false, 0)
    this.emit('stream-opened', p)
    return p
  }

  private create(key: number, local: boolean, priority: number): StreamState {
    const s = new StreamState(key, local, {
      sendHighWater: this.sendFloor,
      recvWindow: this.streamWindow,
      peerStreamWindow: this.peerStreamWindow,
      priority,
      tuning: this.tuning,
    })
    if (s.kind === StreamKind.MESSAGES) {
      s.messages = new MessageAssembler(this.maxMessageSize)
      this.messageStreams++
    }
    if (this.streams === NO_STREAMS) this.streams = new Map()
    this.streams.set(key, s)
    return s
  }

  // ---------------------------------------------------------------- bookkeeping

  private onConsumed(s: StreamState, n: number): void {
    if (n <= 0) return
    this.flow.onConsumed(n)
    if (s.recv.takeCreditUpdate() >= 0) {
      s.creditPending = true
      this.scheduler.addControl(s)
    }
  }

  /** s's reader waits for a hole: grant credit early if the peer is about to run out (recv-buffer.ts). */
  private creditBehindHole(s: StreamState): void {
    if (s.recv.bufferedBytes === 0) return
    this.flow.onHeldBehindHole()
    if (s.recv.takeCreditBehindHole() >= 0) {
      s.creditPending = true
      this.scheduler.addControl(s)
    }
  }

  private checkEnd(s: StreamState): void {
    if (!s.endEmitted && !s.aborted && s.recv.finished) {
      s.endEmitted = true
      this.emit('end', s)
      this.maybeRelease(s)
    }
  }

  private checkWritable(s: StreamState): void {
    if (s.writeBlocked && !s.aborted && s.send.unacked <= this.sendHighWater(s) / 2) {
      s.writeBlocked = false
      this.emit('writable', s)
    }
  }

  /** Both halves done: forget the stream and, for a peer stream, let the peer open another. */
  private maybeRelease(s: StreamState): void {
    if (s.released || s.kind !== StreamKind.BYTES || !s.sendDone || !s.recvDone) return
    s.released = true
    this.streams.delete(s.key)
    if (this.streams.size === 0) this.streams = NO_STREAMS as Map<number, StreamState>
    if (!s.local) {
      const idx = streamIndex(s.id)
      this.releasedPeer.add(idx, idx + 1)
      this.flow.onPeerStreamReleased()
    }
    this.emit('stream-closed', s)
  }

  private emit(kind: StreamEventKind, s: StreamState): void {
    this.eventSink().push({ kind, session: this.owner, stream: s.key, streamId: s.id })
  }

  // ---------------------------------------------------------------- wire side: outbound

  /** True when writeFrames would write something (control, retransmission, or data within credit). */
  wantsToSend(): boolean {
    return this.scheduler.wantsToSend()
  }

  /**
   * Fills [pos, end) of `buf` with stream frames and returns the new position (pos when
   * nothing fits or nothing is due). What went in is appended to `record`; hand it back via
   * onAcked / onLost. In bare mode the content counts as delivered right away.
   */
  writeFrames(buf: Uint8Array, pos: number, end: number, record: StreamRecord): number {
    const firstItem = record.items.length
    pos = this.scheduler.write(buf, pos, end, record)
    if (!this.reliable) this.applyItems(record.items, firstItem, true)
    return pos
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
      if (tag === RecordTag.SESSION_CREDIT || tag === RecordTag.STREAMS_CREDIT) {
        if (!acked) this.scheduler.requeueSessionItem(tag, items[i + 3]!)
        continue
      }
      const s = this.streams.get(items[i + 1]!)
      if (s === undefined) continue // released meanwhile: nothing left to do
      if (acked) this.ackItem(s, tag, items[i + 2]!, items[i + 3]!)
      else this.scheduler.requeue(s, tag, items[i + 2]!, items[i + 3]!)
    }
    if (acked) this.checkAllAcked()
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
}
