/**
 * One stream's send half: bytes the application wrote (large writes by reference, small ones
 * copied into shared chunks), kept until acknowledged. Offsets:
 *
 *   0 ........ ackedBase ........ sentEnd ........ writtenEnd
 *   [freed]    [in flight / acked / lost]  [not sent yet]
 *
 * Lost ranges go into a retransmission set that is served before new data; acked ranges
 * above ackedBase are remembered so a late retransmission never resends acked bytes, and
 * chunks are freed as soon as everything below their end is acked.
 * Flow control (stream and session credit) is the caller's business: it passes the limit
 * to newBytesAvailable().
 */
import { asDouble } from './as-double.js'
import { RangeSet } from './range-set.js'

/** Small writes share chunks of at least this size (amortises per-chunk overhead). */
export const MIN_CHUNK_SIZE = 16 * 1024

/**
 * Up to this many bytes a loop copies faster than set() on a new subarray. Node 20, TurboFan:
 * the loop costs ~1.1 ns (~38 instructions) per byte, the view and set() ~30 ns whatever the
 * size, garbage included (8 bytes: 11 vs 30 ns; 16: 20 vs 30; 32: 38 vs 29; 64: 75 vs 30). At
 * 64 the loop was most of writeData, the costliest JavaScript function of a 64-byte ping-pong
 * (~3,100 of ~43,000 instructions per packet; issue 13).
 */
const SMALL_COPY = 16

interface Chunk {
  data: Uint8Array
  /** Stream offset of data[0]. */
  offset: number
  /** Bytes used in data. */
  len: number
}

export class SendBuffer {
  ackedBase = 0
  sentEnd = 0
  writtenEnd = 0
  /** Final size once end() was called, else -1. */
  finalSize = -1
  private chunks: Chunk[] = []
  private chunkHead = 0
  /** Acked ranges above ackedBase, and the bytes they cover. */
  private readonly acked = new RangeSet()
  private ackedAbove = 0
  /** Ranges to retransmit (all below sentEnd, none acked). */
  private readonly lost = new RangeSet()
  /**
   * Retransmitted ranges to send a second time, in a later packet (sendAgainLater); made on
   * first use, since most streams never need one.
   */
  private again: RangeSet | null = null

  /** Mutable: follows the congestion window (flow-autotune.ts), so fractions: a double from the start (as-double.ts). */
  highWaterMark = asDouble(0)

  constructor(highWaterMark: number) {
    this.highWaterMark = highWaterMark
  }

  /** Bytes held (written and not yet acked). */
  get buffered(): number {
    return this.writtenEnd - this.ackedBase
  }

  /**
   * Bytes written and not acknowledged: `buffered` less the acked ranges above a hole, which
   * stay held (chunks free in order) but need nothing more from the network. The high-water
   * mark applies to these: with random loss the bytes acked behind a retransmission pinned
   * the buffer at its mark for round trips while nothing was left to send (sim at 10 % loss,
   * 360 Mbit/s, 20 ms RTT: the writer blocked with 3 MB held and 0 unsent). What the acked
   * ranges add is bounded by the peer's stream credit (nothing is sent past it).
   */
  get unacked(): number {
    return this.writtenEnd - this.ackedBase - this.ackedAbove
  }

  /** False when the unacknowledged bytes reach the high-water mark: the writer should wait. */
  get belowHighWater(): boolean {
    return this.unacked < this.highWaterMark
  }

  /**
   * Takes `data`. Large writes are kept by reference, as net.Socket does (the caller must not
   * change the buffer afterwards): copying every byte in was a measurable share of the
   * sender's CPU. Small writes are copied into shared chunks. Returns belowHighWater
   * afterwards (node:stream write() semantics).
   */
  write(data: Uint8Array): boolean {
    let src = 0
    const n = data.length
    if (n >= MIN_CHUNK_SIZE) {
      this.chunks.push({ data, offset: this.writtenEnd, len: n })
      this.writtenEnd += n
      return this.belowHighWater
    }
    const tail = this.chunks.length > this.chunkHead ? this.chunks[this.chunks.length - 1]! : undefined
    if (tail !== undefined && tail.len < tail.data.length && n > 0) {
      const take = Math.min(tail.data.length - tail.len, n)
      tail.data.set(n === take ? data : data.subarray(0, take), tail.len)
      tail.len += take
      src = take
    }
    if (src < n) {
      const rest = n - src
      const chunk: Chunk = { data: new Uint8Array(Math.max(rest, MIN_CHUNK_SIZE)), offset: this.writtenEnd + src, len: rest }
      chunk.data.set(src === 0 ? data : data.subarray(src), 0)
      this.chunks.push(chunk)
    }
    this.writtenEnd += n
    return this.belowHighWater
  }

  /** Marks the end of the stream. */
  end(): void {
    if (this.finalSize < 0) this.finalSize = this.writtenEnd
  }

  /** Lost ranges or second copies wait to be sent. */
  get hasRetransmit(): boolean {
    return !this.lost.isEmpty() || (this.again !== null && !this.again.isEmpty())
  }

  /** A lost range waits (served before any second copy). */
  get hasLost(): boolean {
    return !this.lost.isEmpty()
  }

  /** Start of the first range to retransmit (a lost one, else a second copy); check hasRetransmit first. */
  retransmitStart(): number {
    return this.lost.isEmpty() ? this.again!.start(0) : this.lost.start(0)
  }

  /** Length of the first range to retransmit. */
  retransmitLength(): number {
    const set = this.lost.isEmpty() ? this.again! : this.lost
    return set.end(0) - set.start(0)
  }

  /**
   * [offset, offset + len) was just retransmitted: send it once more, in a later packet, unless
   * it is acked first. For the tail of a transfer (stream-scheduler.ts says when).
   */
  sendAgainLater(offset: number, len: number): void {
    ;(this.again ??= new RangeSet()).add(offset, offset + len)
  }

  /** New (never sent) bytes that may go out given a flow-control limit on the offset. */
  newBytesAvailable(maxOffset: number): number {
    return Math.max(0, Math.min(this.writtenEnd, maxOffset) - this.sentEnd)
  }

  /** Every byte sent and acked, and the stream ended: nothing more to do for the data. */
  get allAcked(): boolean {
    return this.finalSize >= 0 && this.ackedBase === this.finalSize
  }

  /** Copies [offset, offset + len) into buf at pos (the range must be held). */
  copyOut(offset: number, len: number, buf: Uint8Array, pos: number): void {
    let i = this.findChunk(offset)
    while (len > 0) {
      const c = this.chunks[i]!
      const from = offset - c.offset
      const take = Math.min(len, c.len - from)
      // A small piece (a small write in a shared chunk) is copied by hand, and a whole chunk
      // (a large write) as it is: no view object per frame (issue 13).
      if (take <= SMALL_COPY) for (let k = 0; k < take; k++) buf[pos + k] = c.data[from + k]!
      else buf.set(from === 0 && take === c.data.length ? c.data : c.data.subarray(from, from + take), pos)
      pos += take
      offset += take
      len -= take
      i++
    }
  }

  private findChunk(offset: number): number {
    let lo = this.chunkHead
    let hi = this.chunks.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (this.chunks[mid]!.offset <= offset) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  /** Records that [offset, offset + len) went out: new data advances sentEnd, a retransmission leaves the lost set (and the second copies). */
  onSent(offset: number, len: number): void {
    if (offset >= this.sentEnd) this.sentEnd = offset + len
    else {
      this.lost.remove(offset, offset + len)
      this.again?.remove(offset, offset + len)
    }
  }

  /** [offset, offset + len) was acknowledged. */
  onAcked(offset: number, len: number): void {
    const end = offset + len
    if (end <= this.ackedBase) return
    this.lost.remove(offset, end)
    this.again?.remove(offset, end)
    const start = Math.max(offset, this.ackedBase)
    this.ackedAbove += end - start - this.acked.bytesIn(start, end)
    this.acked.add(start, end)
    if (this.acked.min() <= this.ackedBase) {
      this.ackedAbove -= this.acked.end(0) - this.ackedBase
      this.ackedBase = this.acked.end(0)
      this.acked.removeBelow(this.ackedBase)
      this.freeChunks()
    }
  }

  /** [offset, offset + len) was lost: re-queue the parts not acked meanwhile. */
  onLost(offset: number, len: number): void {
    let s = Math.max(offset, this.ackedBase)
    const e = Math.min(offset + len, this.sentEnd)
    for (let i = 0; s < e && i < this.acked.count; i++) {
      const as = this.acked.start(i)
      const ae = this.acked.end(i)
      if (ae <= s) continue
      if (as >= e) break
      if (as > s) this.lost.add(s, as)
      s = ae
    }
    if (s < e) this.lost.add(s, e)
  }

  private freeChunks(): void {
    const c = this.chunks
    while (this.chunkHead < c.length) {
      const k = c[this.chunkHead]!
      const isTail = this.chunkHead === c.length - 1
      // The tail chunk may still take appends; keep it unless it is full.
      if (k.offset + k.len > this.ackedBase || (isTail && k.len < k.data.length)) break
      c[this.chunkHead] = undefined as unknown as Chunk
      this.chunkHead++
    }
    if (this.chunkHead > 32 && this.chunkHead * 2 > c.length) {
      c.splice(0, this.chunkHead)
      this.chunkHead = 0
    }
  }

  /** Drops everything (abort): no more data will be sent or retransmitted. */
  discard(): void {
    this.chunks = []
    this.chunkHead = 0
    this.lost.clear()
    this.again = null
    this.acked.clear()
    this.ackedAbove = 0
    this.ackedBase = this.writtenEnd = this.sentEnd
  }

  /** Bytes of chunk memory currently allocated (for tests and stats). */
  get allocatedBytes(): number {
    let n = 0
    for (let i = this.chunkHead; i < this.chunks.length; i++) n += this.chunks[i]!.data.length
    return n
  }
}
