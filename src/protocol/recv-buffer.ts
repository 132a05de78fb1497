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
let page = newMemory(PAGE_SIZE)
let pageUsed = 0

/**
 * Makes the memory received bytes are kept in (zero-filled, of the kind `make` returns), for
 * the pages from now on. The Node layer makes Buffers: the views read() hands out are then
 * Buffers already, and a node:stream takes them without a Buffer view of its own per chunk
 * (issue 13). Subarrays of a page are of its kind.
 */
export function setRecvMemory(make: (n: number) => Uint8Array): void {
  newMemory = make
  page = make(PAGE_SIZE)
  pageUsed = 0
}

/** The memory the last allocPage call carved its bytes from: the page, or a buffer of their own. */
let allocMem: Uint8Array = page

/** n bytes of page memory (large requests get their own buffer): their position in allocMem. */
function allocPage(n: number): number {
  if (n > PAGE_SIZE / 8) {
    allocMem = newMemory(n)
    return 0
  }
  if (pageUsed + n > PAGE_SIZE) {
    page = newMemory(PAGE_SIZE)
    pageUsed = 0
  }
  allocMem = page
  pageUsed += n
  return pageUsed - n
}

/** Largest segment that contiguous copies are merged into without copying. */
const MERGE_VIEW_LIMIT = 64 * 1024

/**
 * Data that arrives past a hole of at most this many bytes (with the hole) is copied to where
 * it would be had the hole arrived first, and the hole's bytes are reserved in front of it: when
 * they come, they land there and the pieces merge into one view. On a path that reorders every
 * packet (per-datagram jitter) each packet was a segment of its own otherwise, read out as a
 * chunk of its own: ~25 times the segments, chunks and Buffer objects of an in-order stream.
 * Memory: a reservation stands for stream offsets of one hole, holes are disjoint and below the
 * granted credit, so reservations add at most one window to what a full window holds anyway.
 */
export const RESERVE_LIMIT = PAGE_SIZE / 8

/**
 * Received bytes [offset, end) of the stream, stored in mem[offset - base, end - base). No view
 * of them is made until they are read: merging a neighbour in is arithmetic (per packet, two
 * subarray views were made before, one of them only to replace the other).
 */
interface Segment {
  offset: number
  end: number
  mem: Uint8Array
  base: number
  /**
   * Bytes right before the segment in `mem`, reserved for stream offsets [offset - lead, offset):
   * a hole. Each stream byte is stored once (insert fills holes only), so that memory is written
   * once, by the hole's own bytes, and no view of it was handed out before.
   */
  lead: number
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
    const lastEnd = segs.length > this.segHead ? segs[segs.length - 1]!.end : this.readOffset
    if (s >= lastEnd) {
      const view = s === offset ? data : data.subarray(s - offset)
      if (s > lastEnd && end - lastEnd <= RESERVE_LIMIT) this.pushAfterHole(lastEnd, s, view)
      else this.push(segs.length, s, view)
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
      s = Math.max(s, seg.end)
      i++
    }
    return this.checkFragmentation()
  }

  private checkFragmentation(): number {
    this.tuner.onHole(!this.readable)
    return this.segs.length - this.segHead > this.maxSegments ? WireError.RESOURCE_EXHAUSTED : 0
  }

  /**
   * Stores a copy of `view` at `offset` before index `at`; returns how many segments that added
   * (1 new, 0 merged into a neighbour, -1 when it joined its two neighbours into one).
   */
  private push(at: number, offset: number, view: Uint8Array): number {
    this.bufferedBytes += view.length
    const next = at < this.segs.length ? this.segs[at]! : undefined
    if (next !== undefined && next.lead > 0 && offset >= next.offset - next.lead) return this.fillReserved(at, next, offset, view)
    const end = offset + view.length
    const prev = at > this.segHead ? this.segs[at - 1]! : undefined
    const adjacent = prev !== undefined && prev.end === offset
    if (adjacent && end - prev.offset <= MERGE_VIEW_LIMIT && prev.mem === page && prev.end - prev.base === pageUsed && pageUsed + view.length <= PAGE_SIZE && view.length <= PAGE_SIZE / 8) {
      // In-order data lands right behind the previous segment in the same page: it grows.
      page.set(view, allocPage(view.length))
      prev.end = end
      return 0
    }
    if (adjacent && end - prev.offset <= MERGE_SEGMENT_LIMIT) {
      const at = allocPage(end - prev.offset)
      allocMem.set(prev.mem.subarray(prev.offset - prev.base, prev.end - prev.base), at)
      allocMem.set(view, at + prev.end - prev.offset)
      prev.mem = allocMem
      prev.base = prev.offset - at
      prev.end = end
      prev.lead = 0 // moved: whatever was reserved before it stays unused
      return 0
    }
    const pos = allocPage(view.length)
    allocMem.set(view, pos)
    this.insertSegment(at, { offset, end, mem: allocMem, base: offset - pos, lead: 0 })
    return 1
  }

  private insertSegment(at: number, seg: Segment): void {
    // A freed array: an exact one for the first segment, not 17 slots (issue 14).
    if (this.segs.length === 0 && !this.segsRefillable) this.segs = [seg]
    else if (at === this.segs.length) this.segs.push(seg)
    else this.segs.splice(at, 0, seg)
  }

  /** Appends `view` (at `offset`, past the last segment) behind a reserved hole [holeStart, offset). */
  private pushAfterHole(holeStart: number, offset: number, view: Uint8Array): void {
    this.bufferedBytes += view.length
    const lead = offset - holeStart
    const pos = allocPage(lead + view.length)
    allocMem.set(view, pos + lead)
    this.insertSegment(this.segs.length, { offset, end: offset + view.length, mem: allocMem, base: holeStart - pos, lead })
  }

  /**
   * `view` belongs to the hole reserved in front of `next` (segment `at`): copied into its place,
   * it merges with the neighbours it touches (in memory too) while a segment stays within
   * MERGE_VIEW_LIMIT. Returns as push() does.
   */
  private fillReserved(at: number, next: Segment, offset: number, view: Uint8Array): number {
    const { mem, base } = next
    const end = offset + view.length
    mem.set(view, offset - base)
    const leadBefore = offset - (next.offset - next.lead)
    next.lead = next.offset - end
    const prev = at > this.segHead ? this.segs[at - 1]! : undefined
    // Same memory and the same offset mapping: adjacent in the stream means adjacent in memory.
    const joinsPrev = prev !== undefined && prev.mem === mem && prev.base === base && prev.end === offset
    const joinsNext = end === next.offset
    if (joinsPrev && joinsNext && next.end - prev.offset <= MERGE_VIEW_LIMIT) {
      prev.end = next.end
      this.segs.splice(at, 1)
      return -1
    }
    if (joinsNext && next.end - offset <= MERGE_VIEW_LIMIT) {
      next.offset = offset
      next.lead = leadBefore
      return 0
    }
    if (joinsPrev && end - prev.offset <= MERGE_VIEW_LIMIT) {
      prev.end = end
      return 0
    }
    this.insertSegment(at, { offset, end, mem, base, lead: leadBefore })
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
      if (g.end <= s) lo = mid + 1
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
    const from = seg.offset - seg.base
    let out: Uint8Array
    if (seg.end - seg.offset <= max) {
      const to = seg.end - seg.base
      out = from === 0 && to === seg.mem.length ? seg.mem : seg.mem.subarray(from, to)
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
      out = seg.mem.subarray(from, from + max)
      seg.offset += max
      seg.lead = 0 // what lies before it now was handed out
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
      n += seg.end - seg.offset
      at = seg.end
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
