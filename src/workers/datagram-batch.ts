/**
 * Datagrams crossing between the main thread and a worker: gathered for one event-loop turn
 * into one ArrayBuffer that is then transferred (postMessage transfer list), so the receiving
 * thread reads them in place, without another copy. Layout, little-endian u32s:
 *
 *   count, then per datagram: session key, length, bytes (padded to 4)
 *
 * Cost (docs/SCALE.md): each datagram is copied once into the batch (TypedArray.set, a
 * memcpy), and each turn pays one postMessage (~10-20 µs) for the whole batch, not per datagram.
 */
const INITIAL = 64 << 10

export class DatagramBatchWriter {
  private buf = new ArrayBuffer(INITIAL)
  private u8 = new Uint8Array(this.buf)
  private dv = new DataView(this.buf)
  private at = 4
  private count = 0

  get empty(): boolean {
    return this.count === 0
  }

  add(key: number, data: Uint8Array): void {
    const need = this.at + 8 + ((data.length + 3) & ~3)
    if (need > this.buf.byteLength) this.grow(need)
    this.dv.setUint32(this.at, key, true)
    this.dv.setUint32(this.at + 4, data.length, true)
    this.u8.set(data, this.at + 8)
    this.at += 8 + ((data.length + 3) & ~3)
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

/** Calls `each(key, data)` for every datagram of a batch; `data` is a view into `buf`. */
export function readDatagramBatch(buf: ArrayBuffer, each: (key: number, data: Buffer) => void): void {
  const dv = new DataView(buf)
  const count = dv.getUint32(0, true)
  let at = 4
  for (let i = 0; i < count; i++) {
    const key = dv.getUint32(at, true)
    const len = dv.getUint32(at + 4, true)
    each(key, Buffer.from(buf, at + 8, len))
    at += 8 + ((len + 3) & ~3)
  }
}
