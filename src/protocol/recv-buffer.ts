/**
 * One stream's receive half: out-of-order segments copied once out of the decrypted datagram,
 * handed to the application in order, plus the stream's flow-control window (RFC 9000 §4).
 *
 *   0 ...... readOffset ...... highestReceived ...... maxOffset (credit granted)
 *   [consumed]  [buffered, maybe with holes]  [may still arrive]
 *
 * The peer may never send beyond maxOffset (FLOW_CONTROL_VIOLATION) or beyond / disagree
 * with a known final size (RFC 9000 §4.5). Credit is extended when the app has consumed more
 * than half the window, so a reader that stops reading stops the writer within one window.
 */
import { type FlowTuning, WindowTuner } from './flow-autotune.js'
import { WireError } from '../errors.js'
import { truncateKeepingRoom } from './keep-room.js'

/**
 * Adjacent segments are merged while the result stays this small, so a sender of many tiny
 * frames (small writes, after a loss) does not leave one object per frame behind.
 */
export const MERGE_SEGMENT_LIMIT = 2048
/** Out-of-order segments allowed per window byte: a legitimate sender needs far fewer. */
const SEGMENT_BYTES_PER_SLOT = 256

/**
 * Received bytes are copied out of the (reused) datagram into pages handed out by a bump
 * allocator and never written again: one allocation per 256 KiB instead of one per packet,
 * in-order packets land back to back so merging them is free (a longer view of the same page),
 * and the views can be given to the application without another copy. A page lives as long
 * as any view of it.
 */
const PAGE_SIZE = 256 * 1024
let newMemory: (n: number) => Uint8Array = (n) => new Uint8Array(n)
/** Memory for copyOut's copies (setRecvMemory's makeCopy). */
let newCopy: (n: number) => Uint8Array = (n) => new Uint8Array(n)
let page = newMemory(PAGE_SIZE)
let pageUsed = 0

/**
 * Makes the memory received bytes are kept in (zero-filled, of the kind `make` returns), for
 * the pages from now on. The Node layer makes Buffers: the views read() hands out are then
 * Buffers already, and a node:stream takes them without a Buffer view of its own per chunk
 * (issue 13). Subarrays of a page are of its kind.
 */
export function setRecvMemory(make: (n: number) => Uint8Array, makeCopy?: (n: number) => Uint8Array): void {
  newMemory = make
  page = make(PAGE_SIZE)
  pageUsed = 0
  if (makeCopy !== undefined) newCopy = makeCopy
}

/**
 * A copy of received bytes the application keeps on its own (a datagram, an application frame),
 * in memory of its own (not a page: one kept datagram must not hold 256 KiB), of the kind
 * setRecvMemory's `makeCopy` returns. The Node layer makes exact-size Buffers: a
 * Uint8Array.slice() of 64 bytes lives on V8's heap, and the Buffer view of it then moved it
 * into a backing store of its own (~0.5 µs a datagram, issue 13).
 */
export function copyOut(data: Uint8Array): Uint8Array {
  const copy = newCopy(data.length)
  copy.set(data)
  return copy
}

/** n bytes of page memory (large requests get their own buffer). */
function allocPage(n: number): Uint8Array {
  if (n > PAGE_SIZE / 8) return newMemory(n)
  if (pageUsed + n > PAGE_SIZE) {
    page = newMemory(PAGE_SIZE)
    pageUsed = 0
  }
  const out = page.subarray(pageUsed, pageUsed + n)
  pageUsed += n
  return out
}

/** True when `d` ends exactly where the next page allocation of n bytes would start. */
function endsAtPageTop(d: Uint8Array, n: number): boolean {
  return d.buffer === page.buffer && d.byteOffset - page.byteOffset + d.length === pageUsed && pageUsed + n <= PAGE_SIZE && n <= PAGE_SIZE / 8
}

/** Largest segment that contiguous copies are merged into without copying. */
const MERGE_VIEW_LIMIT = 64 * 1024

interface Segment {
  offset: number
  data: Uint8Array
}

export class RecvBuffer {
  readOffset = 0
  highestReceived = 0
  /** Known final size, or -1. */
  finalSize = -1
  /** Largest offset the peer may send up to (exclusive), as last granted. */
  maxOffset: number
  /** Bytes currently held in segments. */
  bufferedBytes = 0
  /** Segments sorted by offset, non-overlapping, all at or above readOffset. */
  private segs: Segment[] = []
  private segHead = 0
  /** `segs` was emptied by pop() and kept its (small) storage: the next segment is pushed into it. */
  private segsRefillable = false

  /** Segment count above which the peer is fragmenting abusively (RESOURCE_EXHAUSTED). */
  private get maxSegments(): number {
    return Math.max(64, Math.ceil(this.tuner.window / SEGMENT_BYTES_PER_SLOT))
  }

  /** Current window (grows with flow-autotune.ts). */
  get window(): number {
    return this.tuner.window
  }

  private readonly tuner: WindowTuner

  constructor(window: number, tuning: FlowTuning | null = null) {
    this.maxOffset = window
    this.tuner = new WindowTuner(window, tuning)
  }

  /**
   * Stores `data` received at `offset` (copied; the caller's buffer may be reused).
   * Returns 0 or a WireError code.
   */
  insert(offset: number, data: Uint8Array): number {
    const end = offset + data.length
    if (end > this.maxOffset) return WireError.FLOW_CONTROL_VIOLATION
    if (this.finalSize >= 0 && end > this.finalSize) return WireError.FLOW_CONTROL_VIOLATION
    if (end > this.highestReceived) this.highestReceived = end
    this.tuner.onArrival(this.readOffset, this.highestReceived)
    let s = Math.max(offset, this.readOffset)
    if (s >= end) return 0
    const segs = this.segs
    // Fast path: in-order append after the last segment (or into an empty buffer).
    const last = segs.length > this.segHead ? segs[segs.length - 1]! : undefined
    const lastEnd = last !== undefined ? last.offset + last.data.length : this.readOffset
    if (s >= lastEnd) {
      this.push(segs.length, s, s === offset ? data : data.subarray(s - offset))
      return this.checkFragmentation()
    }
    // General case: fill the holes of [s, end) between existing segments.
    let i = this.findFirstEndingAfter(s)
    while (s < end) {
      const seg = i < segs.length ? segs[i] : undefined
      if (seg === undefined || seg.offset >= end) {
        this.push(i, s, data.subarray(s - offset))
        break
      }
      if (seg.offset > s) i += this.push(i, s, data.subarray(s - offset, seg.offset - offset))
      s = Math.max(s, seg.offset + seg.data.length)
      i++
    }
    return this.checkFragmentation()
  }

  private checkFragmentation(): number {
    this.tuner.onHole(!this.readable)
    return this.segs.length - this.segHead > this.maxSegments ? WireError.RESOURCE_EXHAUSTED : 0
  }

  /** Stores a copy of `view` at `offset` before index `at`; returns 1 if a segment was added, 0 if merged. */
  private push(at: number, offset: number, view: Uint8Array): number {
    this.bufferedBytes += view.length
    const prev = at > this.segHead ? this.segs[at - 1]! : undefined
    const adjacent = prev !== undefined && prev.offset + prev.data.length === offset
    if (adjacent && prev.data.length + view.length <= MERGE_VIEW_LIMIT && endsAtPageTop(prev.data, view.length)) {
      // In-order data lands right behind the previous segment in the same page: extend the view.
      allocPage(view.length).set(view)
      const start = prev.data.byteOffset - page.byteOffset
      prev.data = page.subarray(start, start + prev.data.length + view.length)
      return 0
    }
    if (adjacent && prev.data.length + view.length <= MERGE_SEGMENT_LIMIT) {
      const merged = allocPage(prev.data.length + view.length)
      merged.set(prev.data, 0)
      merged.set(view, prev.data.length)
      prev.data = merged
      return 0
    }
    const copy = allocPage(view.length)
    copy.set(view)
    const seg: Segment = { offset, data: copy }
    // A freed array: an exact one for the first segment, not 17 slots (issue 14).
    if (this.segs.length === 0 && !this.segsRefillable) this.segs = [seg]
    else if (at === this.segs.length) this.segs.push(seg)
    else this.segs.splice(at, 0, seg)
    return 1
  }

  /** Segments currently held (for tests and memory accounting). */
  get segmentCount(): number {
    return this.segs.length - this.segHead
  }

  private findFirstEndingAfter(s: number): number {
    let lo = this.segHead
    let hi = this.segs.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const g = this.segs[mid]!
      if (g.offset + g.data.length <= s) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Records the final size (STREAM_FIN / STREAM_CLOSE). Returns 0 or a WireError code. */
  setFinalSize(size: number): number {
    if (this.finalSize >= 0) return size === this.finalSize ? 0 : WireError.FLOW_CONTROL_VIOLATION
    if (size < this.highestReceived || size > this.maxOffset) return WireError.FLOW_CONTROL_VIOLATION
    this.finalSize = size
    this.highestReceived = size
    return 0
  }

  /** Bytes readable in order right now. */
  get readable(): boolean {
    return this.segs.length > this.segHead && this.segs[this.segHead]!.offset === this.readOffset
  }

  /** All data up to the final size was read. */
  get finished(): boolean {
    return this.finalSize >= 0 && this.readOffset === this.finalSize
  }

  /** Every byte up to the final size arrived (read, or buffered without a gap). */
  get complete(): boolean {
    return this.finalSize >= 0 && this.readOffset + this.bufferedBytes === this.finalSize
  }

  /**
   * Returns up to `max` in-order bytes, or null: a view of the stored copy (no further copy)
   * whose memory is never written again, so the caller may keep it.
   */
  read(max = Infinity): Uint8Array | null {
    if (!this.readable || max <= 0) return null
    const seg = this.segs[this.segHead]!
    let out: Uint8Array
    if (seg.data.length <= max) {
      out = seg.data
      this.segs[this.segHead] = undefined as unknown as Segment
      this.segHead++
      if (this.segHead === this.segs.length) {
        // Each chunk of a ping-pong empties this: popped, a small array keeps its storage
        // (V8 frees it on `length = 0`, and on popping out more than 16 slots).
        this.segsRefillable = this.segs.length <= 16
        if (this.segsRefillable) truncateKeepingRoom(this.segs)
        else this.segs.length = 0
        this.segHead = 0
      } else if (this.segHead > 64 && this.segHead * 2 > this.segs.length) {
        this.segs.splice(0, this.segHead)
        this.segHead = 0
      }
    } else {
      out = seg.data.subarray(0, max)
      seg.data = seg.data.subarray(max)
      seg.offset += max
    }
    this.readOffset += out.length
    this.bufferedBytes -= out.length
    this.tuner.onHole(this.bufferedBytes > 0 && !this.readable)
    return out
  }

  /**
   * If the app consumed past half the window, extends the credit and returns the new
   * maxOffset to advertise (STREAM_CREDIT); otherwise -1. No credit once the final size is known.
   */
  takeCreditUpdate(): number {
    if (this.finalSize >= 0) return -1
    if (this.maxOffset - this.readOffset > this.window / 2) return -1
    this.maxOffset = this.readOffset + this.tuner.onCreditUpdate(this.readableBytes(this.window / 4))
    return this.maxOffset
  }

  /**
   * Credit granted before the reader consumes anything: when the peer has used up all but a
   * quarter of the window while a hole holds the reader back (data waits behind it), the
   * window grows (flow-autotune.ts growBehindHole, bounded by the memory limit) and the new
   * maxOffset to advertise is returned; otherwise -1.
   */
  takeCreditBehindHole(): number {
    if (this.finalSize >= 0 || this.readable || this.bufferedBytes === 0) return -1
    if (this.maxOffset - this.highestReceived > this.window / 4 || !this.tuner.growBehindHole()) return -1
    this.maxOffset = Math.max(this.maxOffset, this.readOffset + this.window)
    return this.maxOffset
  }

  /**
   * In-order bytes the application could read now (counted up to `limit`): what a slow reader
   * leaves behind. Bytes beyond a hole are not the reader's doing: with random loss every
   * window has holes, and counting what waits behind them made a fast reader look slow, so
   * the window never grew and the sender sat flow-control-blocked behind each retransmission
   * (sim at 10 % loss, 360 Mbit/s, 20 ms RTT: no credit for 3 RTTs with 2.5 MB held).
   */
  private readableBytes(limit: number): number {
    let n = 0
    let at = this.readOffset
    for (let i = this.segHead; i < this.segs.length && n < limit; i++) {
      const seg = this.segs[i]!
      if (seg.offset !== at) break
      n += seg.data.length
      at += seg.data.length
    }
    return n
  }

  /** Drops everything buffered and treats it as consumed (abort). Returns the bytes released. */
  discard(): number {
    const upTo = Math.max(this.highestReceived, this.finalSize)
    const released = upTo - this.readOffset
    this.segs = []
    this.segsRefillable = false
    this.segHead = 0
    this.bufferedBytes = 0
    this.readOffset = upTo
    return released
  }
}
