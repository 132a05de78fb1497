/**
 * Variable-length integers as in RFC 9000 §16: the two most significant bits of the first
 * byte give the length (1, 2, 4 or 8 bytes), the rest is the value, big-endian. We limit
 * values to Number.MAX_SAFE_INTEGER (2^53 - 1) because they are JavaScript numbers; a
 * decoder meeting a larger value reports it as malformed.
 */

export const VARINT_MAX = Number.MAX_SAFE_INTEGER

/** Bytes needed to encode `v`. */
export function varintSize(v: number): number {
  if (v < 0x40) return 1
  if (v < 0x4000) return 2
  if (v < 0x40000000) return 4
  return 8
}

/** Writes `v` at `pos`; returns the position after it. The caller guarantees room. */
export function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  if (!(v >= 0 && v <= VARINT_MAX) || !Number.isInteger(v)) throw new RangeError(`varint out of range: ${v}`)
  if (v < 0x40) {
    buf[pos] = v
    return pos + 1
  }
  if (v < 0x4000) {
    buf[pos] = 0x40 | (v >>> 8)
    buf[pos + 1] = v & 0xff
    return pos + 2
  }
  if (v < 0x40000000) {
    buf[pos] = 0x80 | (v >>> 24)
    buf[pos + 1] = (v >>> 16) & 0xff
    buf[pos + 2] = (v >>> 8) & 0xff
    buf[pos + 3] = v & 0xff
    return pos + 4
  }
  const hi = Math.floor(v / 0x100000000)
  const lo = v >>> 0
  buf[pos] = 0xc0 | (hi >>> 24)
  buf[pos + 1] = (hi >>> 16) & 0xff
  buf[pos + 2] = (hi >>> 8) & 0xff
  buf[pos + 3] = hi & 0xff
  buf[pos + 4] = lo >>> 24
  buf[pos + 5] = (lo >>> 16) & 0xff
  buf[pos + 6] = (lo >>> 8) & 0xff
  buf[pos + 7] = lo & 0xff
  return pos + 8
}

/**
 * Reading state shared by the decoders: `pos` advances; `ok` turns false on truncation or an
 * out-of-range value, after which every read returns 0 (callers check `ok` once at the end
 * of a frame instead of after every field).
 */
export class Reader {
  pos: number
  ok = true
  constructor(
    readonly buf: Uint8Array,
    pos: number,
    readonly end: number,
  ) {
    this.pos = pos
  }

  get remaining(): number {
    return this.end - this.pos
  }

  fail(): 0 {
    this.ok = false
    this.pos = this.end
    return 0
  }

  u8(): number {
    if (this.pos >= this.end) return this.fail()
    return this.buf[this.pos++]!
  }

  varint(): number {
    if (this.pos >= this.end) return this.fail()
    const b = this.buf
    const first = b[this.pos]!
    const len = 1 << (first >>> 6)
    if (this.pos + len > this.end) return this.fail()
    let v = first & 0x3f
    if (len === 8) {
      // 62-bit values: the high part must keep the result a safe integer.
      const hi = ((v << 24) | (b[this.pos + 1]! << 16) | (b[this.pos + 2]! << 8) | b[this.pos + 3]!) >>> 0
      const lo = ((b[this.pos + 4]! << 24) | (b[this.pos + 5]! << 16) | (b[this.pos + 6]! << 8) | b[this.pos + 7]!) >>> 0
      if (hi > 0x1fffff) return this.fail()
      this.pos += 8
      // hi 0: lo as is, a small integer for V8 (readU64 in header.ts says why)
      return hi === 0 ? lo : hi * 0x100000000 + lo
    }
    for (let i = 1; i < len; i++) v = v * 256 + b[this.pos + i]!
    this.pos += len
    return v
  }

  bytes(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.end) {
      this.fail()
      return this.buf.subarray(0, 0)
    }
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }
}
