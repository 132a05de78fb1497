/**
 * Datagrams and messages crossing between the main thread and a worker: gathered for one
 * event-loop turn into one ArrayBuffer that is then transferred (postMessage transfer list), so
 * the receiving thread reads them in place, without another copy. Layout, little-endian u32s:
 *
 *   count, then per item: session key, tag, send id, length, bytes (padded to 4)
 *
 * tag DATAGRAM_TAG marks a datagram; any other tag is the message stream id of a message
 * (session.send / 'message'). The send id (0: none wanted) names a send whose completion the
 * other side reports back.
 *
 * Cost (docs/SCALE.md): each datagram is copied once into the batch (TypedArray.set, a
 * memcpy), and each turn pays one postMessage (~10-20 µs) for the whole batch, not per datagram;
 * 16 bytes of framing per item.
 */
const INITIAL = 64 << 10
const ITEM_HEADER = 16
/** The tag of a datagram (message stream ids are smaller: varints of at most 2^32 - 2 here). */
export const DATAGRAM_TAG = 0xffffffff

export class DatagramBatchWriter {
  private buf = new ArrayBuffer(INITIAL)
  private u8 = new Uint8Array(this.buf)
  private dv = new DataView(this.buf)
  private at = 4
  private count = 0

  get empty(): boolean {
    return this.count === 0
  }

  add(key: number, data: Uint8Array, tag = DATAGRAM_TAG, sendId = 0): void {
    const need = this.at + ITEM_HEADER + ((data.length + 3) & ~3)
    if (need > this.buf.byteLength) this.grow(need)
    this.dv.setUint32(this.at, key, true)
    this.dv.setUint32(this.at + 4, tag, true)
    this.dv.setUint32(this.at + 8, sendId, true)
    this.dv.setUint32(this.at + 12, data.length, true)
    this.u8.set(data, this.at + ITEM_HEADER)
    this.at += ITEM_HEADER + ((data.length + 3) & ~3)
    this.count++
  }

  /** The finished batch (to transfer); the writer starts a new buffer. */
  take(): ArrayBuffer {
    this.dv.setUint32(0, this.count, true)
    const out = this.buf
    this.buf = new ArrayBuffer(INITIAL)
    this.u8 = new Uint8Array(this.buf)
    this.dv = new DataView(this.buf)
    this.at = 4
    this.count = 0
    return out
  }

  private grow(need: number): void {
    let size = this.buf.byteLength * 2
    while (size < need) size *= 2
    const next = new ArrayBuffer(size)
    new Uint8Array(next).set(this.u8.subarray(0, this.at))
    this.buf = next
    this.u8 = new Uint8Array(next)
    this.dv = new DataView(next)
  }
}

/** Calls `each(key, data, tag, sendId)` for every item of a batch; `data` is a view into `buf`. */
export function readDatagramBatch(buf: ArrayBuffer, each: (key: number, data: Buffer, tag: number, sendId: number) => void): void {
  const dv = new DataView(buf)
  const count = dv.getUint32(0, true)
  let at = 4
  for (let i = 0; i < count; i++) {
    const key = dv.getUint32(at, true)
    const tag = dv.getUint32(at + 4, true)
    const sendId = dv.getUint32(at + 8, true)
    const len = dv.getUint32(at + 12, true)
    each(key, Buffer.from(buf, at + ITEM_HEADER, len), tag, sendId)
    at += ITEM_HEADER + ((len + 3) & ~3)
  }
}
