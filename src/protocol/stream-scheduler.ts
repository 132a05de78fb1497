/**
 * Outbound side of the stream layer: which stream frames go into the next packet.
 *
 * Flow of write() (one packet's budget, sequential):
 *   1. session control: STREAMS_CREDIT, SESSION_CREDIT
 *   2. per-stream control: STREAM_OPEN, STREAM_CREDIT, STREAM_CLOSE, lost STREAM_FIN
 *   3. retransmissions of lost ranges (they unblock the peer's in-order reader first)
 *   4. new data and first STREAM_FIN: highest priority first, round-robin among equal
 *      priorities, within stream and session credit.
 * Each frame appends an item to the packet's StreamRecord; requeue() is the inverse for
 * a lost packet: data not acked meanwhile and control frames still current go back in line.
 *
 * Streams sit in three work lists (control / retransmit / active) instead of being scanned
 * one by one, so the cost per packet is bounded by the streams that have work.
 */
import { FrameType } from './constants.js'
import { type Frame, dataFrameOverhead, frameSize, writeFrame } from './frames.js'
import type { SessionFlow } from './session-flow.js'
import { RecordTag, type StreamRecord } from './stream-record.js'
import type { StreamState } from './stream-state.js'
import { writeVarint } from './varint.js'
import { truncateKeepingRoom } from './keep-room.js'

/** Do not start a DATA frame with fewer payload bytes than this when more is waiting (avoid slivers). */
export const MIN_DATA_FRAGMENT = 32

/** The lists of a scheduler that never had a stream to schedule (never written). */
const NOTHING_SCHEDULED: StreamState[] = []

export class StreamScheduler {
  // Allocated on the first stream added: a session that never uses streams holds none (issue 14).
  private ctrl = NOTHING_SCHEDULED
  private retx = NOTHING_SCHEDULED
  private active = NOTHING_SCHEDULED
  private rrCursor = 0

  constructor(private readonly flow: SessionFlow) {}

  addControl(s: StreamState): void {
    if (!s.inControl) {
      s.inControl = true
      // The first: an exact one-slot array, kept from then on (truncateKeepingRoom).
      if (this.ctrl === NOTHING_SCHEDULED) this.ctrl = [s]
      else this.ctrl.push(s)
    }
  }

  addActive(s: StreamState): void {
    if (!s.inActive) {
      s.inActive = true
      // The first: an exact one-slot array, kept from then on (truncateKeepingRoom).
      if (this.active === NOTHING_SCHEDULED) this.active = [s]
      else this.active.push(s)
    }
  }

  addRetransmit(s: StreamState): void {
    if (!s.inRetransmit) {
      s.inRetransmit = true
      // The first: an exact one-slot array, kept from then on (truncateKeepingRoom).
      if (this.retx === NOTHING_SCHEDULED) this.retx = [s]
      else this.retx.push(s)
    }
  }

  /** True when write() would write something. */
  wantsToSend(): boolean {
    const flow = this.flow
    if (flow.streamsCreditPending || flow.creditPending || this.ctrl.length > 0) return true
    // Indexed loops: asked several times per packet, and for-of left an iterator per call (issue 13).
    const retx = this.retx
    for (let i = 0; i < retx.length; i++) if (!retx[i]!.aborted && retx[i]!.send.hasRetransmit) return true
    const sessionLeft = flow.sendCredit
    const active = this.active
    for (let i = 0; i < active.length; i++) {
      const s = active[i]!
      if (!s.hasNewData()) continue
      if (sessionLeft > 0 || s.send.newBytesAvailable(s.sendMax) === 0) return true
    }
    return false
  }

  /** Fills [pos, end) of buf; returns the new position. */
  write(buf: Uint8Array, pos: number, end: number, record: StreamRecord): number {
    pos = this.writeSessionControl(buf, pos, end, record)
    pos = this.writeStreamControl(buf, pos, end, record)
    pos = this.writeRetransmissions(buf, pos, end, record)
    return this.writeNewData(buf, pos, end, record)
  }

  private writeSmall(buf: Uint8Array, pos: number, end: number, f: Frame): number {
    if (frameSize(f) > end - pos) return -1
    return writeFrame(buf, pos, f)
  }

  private writeSessionControl(buf: Uint8Array, pos: number, end: number, record: StreamRecord): number {
    const flow = this.flow
    if (flow.streamsCreditPending) {
      const p = this.writeSmall(buf, pos, end, { type: FrameType.STREAMS_CREDIT, maxStreams: flow.grantedPeerStreams })
      if (p < 0) return pos
      pos = p
      flow.streamsCreditPending = false
      record.push(RecordTag.STREAMS_CREDIT, 0, 0, flow.grantedPeerStreams)
    }
    if (flow.creditPending) {
      const p = this.writeSmall(buf, pos, end, { type: FrameType.SESSION_CREDIT, maxData: flow.maxGranted })
      if (p < 0) return pos
      pos = p
      flow.creditPending = false
      record.push(RecordTag.SESSION_CREDIT, 0, 0, flow.maxGranted)
    }
    return pos
  }

  private writeStreamControl(buf: Uint8Array, pos: number, end: number, record: StreamRecord): number {
    const list = this.ctrl
    let keep = 0
    let i = 0
    for (; i < list.length; i++) {
      const s = list[i]!
      pos = this.writeControlOf(s, buf, pos, end, record)
      if (s.openPending || s.creditPending || s.closePending || s.finPending) {
        list[keep++] = s
        break // out of room: the rest waits for the next packet
      }
      s.inControl = false
    }
    for (i++; i < list.length; i++) list[keep++] = list[i]!
    truncateKeepingRoom(list, keep)
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
      // Final size = everything we ever sent on the stream (RFC 9000 §4.5).
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

  /** Writes one DATA frame for [offset, offset + n) of s; the caller checked room. Copies straight from the send buffer. */
  private writeData(s: StreamState, offset: number, n: number, buf: Uint8Array, pos: number, record: StreamRecord): number {
    buf[pos++] = FrameType.DATA
    buf[pos++] = 0 // flags: a stream frame (the key's low bit says message or byte stream)
    pos = writeVarint(buf, pos, s.key)
    pos = writeVarint(buf, pos, offset)
    pos = writeVarint(buf, pos, n)
    s.send.copyOut(offset, n, buf, pos)
    s.send.onSent(offset, n)
    s.stats.bytesInFlight += n
    record.push(RecordTag.DATA, s.key, offset, n)
    return pos + n
  }

  /** Payload bytes that fit a DATA frame for s at `offset` with `room` left; 0 when not worth it. */
  private fit(s: StreamState, offset: number, avail: number, room: number): number {
    if (room <= 0) return 0
    avail = Math.min(avail, s.maxFrameSize)
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
      let wroteLost = false
      while (!full && !s.aborted && s.send.hasRetransmit) {
        const lost = s.send.hasLost
        // A second copy goes in a later packet than its first (a packet is lost whole).
        if (!lost && wroteLost) break
        const off = s.send.retransmitStart()
        const n = this.fit(s, off, s.send.retransmitLength(), end - pos)
        if (n === 0) {
          full = true
          break
        }
        pos = this.writeData(s, off, n, buf, pos, record)
        s.stats.retransmittedBytes += n
        s.stats.retransmittedFrames++
        if (lost) {
          wroteLost = true
          // The tail: the stream ended and every byte of it went out. Not for a writer that
          // merely paused (an app-limited stream mid-transfer): on a CPU-bound host the copies'
          // packets cost what the transfer needs.
          if (s.send.finalSize >= 0 && s.send.sentEnd === s.send.finalSize) s.send.sendAgainLater(off, n)
        }
      }
      if (!s.aborted && !s.released && s.send.hasRetransmit) list[keep++] = s
      else s.inRetransmit = false
    }
    truncateKeepingRoom(list, keep)
    return pos
  }

  /** Next stream for new data: highest priority, round-robin among equals; -1 if none. */
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
    truncateKeepingRoom(list, keep)
    if (keep === 0) return -1
    let best = -1
    let bestPri = -1
    for (let k = 0; k < keep; k++) {
      const i = (this.rrCursor + k) % keep
      const s = list[i]!
      // Without session credit only a FIN (no new bytes) can still go.
      if (sessionLeft <= 0 && s.send.newBytesAvailable(s.sendMax) > 0) continue
      if (s.priority > bestPri) {
        bestPri = s.priority
        best = i
      }
    }
    return best
  }

  private writeNewData(buf: Uint8Array, pos: number, end: number, record: StreamRecord): number {
    const flow = this.flow
    for (;;) {
      const sessionLeft = flow.sendCredit
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
        pos = this.writeData(s, off, n, buf, pos, record)
        flow.sent += n
        s.stats.bytesSent += n
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

  /** Session-level item of a lost packet: re-send the credit if it is still the current value. */
  requeueSessionItem(tag: number, value: number): void {
    if (tag === RecordTag.SESSION_CREDIT && value === this.flow.maxGranted) this.flow.creditPending = true
    else if (tag === RecordTag.STREAMS_CREDIT && value === this.flow.grantedPeerStreams) this.flow.streamsCreditPending = true
  }

  /** Stream item of a lost packet (or PTO probe): re-queue what is still needed. */
  requeue(s: StreamState, tag: number, a: number, b: number): void {
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
