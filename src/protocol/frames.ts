/**
 * Frame codec (docs/PROTOCOL.md §5). Frames live inside the encrypted payload of protected
 * packets; one packet carries any number of them back to back. Integers are RFC 9000
 * varints unless a field says u8. Stream frames carry a *stream key*: id * 2 + kind, where
 * kind 1 marks a message stream (session.send) and 0 a byte stream (openStream).
 */
import { APP_FRAME_MAX, APP_FRAME_MIN, DataFlag, FrameType } from './constants.js'
import { Reader, varintSize, writeVarint } from './varint.js'

export interface PaddingFrame { type: typeof FrameType.PADDING; length: number }
/** Reliable stream data at `offset`, or (datagram: true) one unreliable datagram. */
export interface DataFrame {
  type: typeof FrameType.DATA
  datagram: boolean
  streamKey: number
  offset: number
  data: Uint8Array
}
/** Inclusive packet-number ranges, highest first, as carried by ACK (RFC 9000 §19.3 layout). */
export interface AckFrame { type: typeof FrameType.ACK; ackDelayMicros: number; ranges: Array<[number, number]> }
export interface NackFrame { type: typeof FrameType.NACK; packetNumbers: number[] }
export interface KeepAliveFrame { type: typeof FrameType.KEEP_ALIVE | typeof FrameType.KEEP_ALIVE_ACK; data: Uint8Array }
export interface StreamOpenFrame { type: typeof FrameType.STREAM_OPEN; streamKey: number; priority: number }
export interface StreamCloseFrame { type: typeof FrameType.STREAM_CLOSE; streamKey: number; errorCode: number; finalSize: number }
export interface StreamFinFrame { type: typeof FrameType.STREAM_FIN; streamKey: number; finalSize: number }
export interface StreamCreditFrame { type: typeof FrameType.STREAM_CREDIT; streamKey: number; maxOffset: number }
export interface SessionCreditFrame { type: typeof FrameType.SESSION_CREDIT; maxData: number }
export interface StreamsCreditFrame { type: typeof FrameType.STREAMS_CREDIT; maxStreams: number }
/** A resumption ticket (responder -> initiator, §9): opaque bytes and their expiry (wall-clock ms). */
export interface NewTicketFrame { type: typeof FrameType.NEW_TICKET; expires: number; ticket: Uint8Array }
export interface SessionCloseFrame { type: typeof FrameType.SESSION_CLOSE; errorCode: number; reason: string }
export interface ErrorFrame { type: typeof FrameType.ERROR; errorCode: number; frameType: number; reason: string }
/** Application-defined frame, types 0x80..0xFE. */
export interface AppFrame { type: number; app: true; data: Uint8Array }

export type Frame =
  | PaddingFrame
  | DataFrame
  | AckFrame
  | NackFrame
  | KeepAliveFrame
  | StreamOpenFrame
  | StreamCloseFrame
  | StreamFinFrame
  | StreamCreditFrame
  | SessionCreditFrame
  | StreamsCreditFrame
  | NewTicketFrame
  | SessionCloseFrame
  | ErrorFrame
  | AppFrame

export const KEEP_ALIVE_DATA_SIZE = 8
export const MAX_REASON_BYTES = 256
export const MAX_ACK_RANGES = 64
export const MAX_NACK_COUNT = 64

const utf8 = new TextEncoder()
const utf8d = new TextDecoder('utf-8', { fatal: false })

/** Reason strings are cut to MAX_REASON_BYTES on a character boundary. */
export function encodeReason(reason: string): Uint8Array {
  let b = utf8.encode(reason)
  if (b.length <= MAX_REASON_BYTES) return b
  let cut = MAX_REASON_BYTES
  while (cut > 0 && (b[cut]! & 0xc0) === 0x80) cut--
  b = b.subarray(0, cut)
  return b
}

/** Encoded size of the DATA frame header (everything before the data bytes). */
export function dataFrameOverhead(streamKey: number, offset: number, length: number): number {
  return 2 + varintSize(streamKey) + varintSize(offset) + varintSize(length)
}

/** Bytes a datagram of `length` bytes takes as a DATA frame (frameSize of that frame). */
export function datagramFrameSize(length: number): number {
  return 2 + varintSize(length) + length
}

/**
 * A datagram's DATA frame, written without a frame object per datagram and the generic frame
 * switch (issue 13: one per packet of a datagram ping-pong); writeFrame writes datagrams with it.
 */
export function writeDatagramFrame(buf: Uint8Array, pos: number, data: Uint8Array): number {
  buf[pos++] = FrameType.DATA
  buf[pos++] = DataFlag.DATAGRAM
  pos = writeVarint(buf, pos, data.length)
  buf.set(data, pos)
  return pos + data.length
}

/** Bytes `frame` takes on the wire. */
export function frameSize(f: Frame): number {
  if ('app' in f) return 1 + varintSize(f.data.length) + f.data.length
  switch (f.type) {
    case FrameType.PADDING:
      return f.length
    case FrameType.DATA:
      return f.datagram
        ? datagramFrameSize(f.data.length)
        : dataFrameOverhead(f.streamKey, f.offset, f.data.length) + f.data.length
    case FrameType.ACK: {
      const r = f.ranges
      let n = 1 + varintSize(r[0]![1]) + varintSize(f.ackDelayMicros) + varintSize(r.length - 1) + varintSize(r[0]![1] - r[0]![0])
      for (let i = 1; i < r.length; i++) {
        n += varintSize(r[i - 1]![0] - r[i]![1] - 2) + varintSize(r[i]![1] - r[i]![0])
      }
      return n
    }
    case FrameType.NACK: {
      let n = 1 + varintSize(f.packetNumbers.length)
      for (const pn of f.packetNumbers) n += varintSize(pn)
      return n
    }
    case FrameType.KEEP_ALIVE:
    case FrameType.KEEP_ALIVE_ACK:
      return 1 + KEEP_ALIVE_DATA_SIZE
    case FrameType.STREAM_OPEN:
      return 2 + varintSize(f.streamKey)
    case FrameType.STREAM_CLOSE:
      return 1 + varintSize(f.streamKey) + varintSize(f.errorCode) + varintSize(f.finalSize)
    case FrameType.STREAM_FIN:
      return 1 + varintSize(f.streamKey) + varintSize(f.finalSize)
    case FrameType.STREAM_CREDIT:
      return 1 + varintSize(f.streamKey) + varintSize(f.maxOffset)
    case FrameType.SESSION_CREDIT:
      return 1 + varintSize(f.maxData)
    case FrameType.STREAMS_CREDIT:
      return 1 + varintSize(f.maxStreams)
    case FrameType.NEW_TICKET:
      return 1 + varintSize(f.expires) + varintSize(f.ticket.length) + f.ticket.length
    case FrameType.SESSION_CLOSE: {
      const r = encodeReason(f.reason)
      return 1 + varintSize(f.errorCode) + varintSize(r.length) + r.length
    }
    case FrameType.ERROR: {
      const r = encodeReason(f.reason)
      return 2 + varintSize(f.errorCode) + varintSize(r.length) + r.length
    }
  }
}

/** Writes `f` at `pos` (the caller checked frameSize fits); returns the position after it. */
export function writeFrame(buf: Uint8Array, pos: number, f: Frame): number {
  buf[pos++] = f.type
  if ('app' in f) {
    pos = writeVarint(buf, pos, f.data.length)
    buf.set(f.data, pos)
    return pos + f.data.length
  }
  switch (f.type) {
    case FrameType.PADDING:
      buf.fill(0, pos - 1, pos - 1 + f.length)
      return pos - 1 + f.length
    case FrameType.DATA:
      if (f.datagram) return writeDatagramFrame(buf, pos - 1, f.data)
      buf[pos++] = 0
      pos = writeVarint(buf, pos, f.streamKey)
      pos = writeVarint(buf, pos, f.offset)
      pos = writeVarint(buf, pos, f.data.length)
      buf.set(f.data, pos)
      return pos + f.data.length
    case FrameType.ACK: {
      const r = f.ranges
      pos = writeVarint(buf, pos, r[0]![1])
      pos = writeVarint(buf, pos, f.ackDelayMicros)
      pos = writeVarint(buf, pos, r.length - 1)
      pos = writeVarint(buf, pos, r[0]![1] - r[0]![0])
      for (let i = 1; i < r.length; i++) {
        pos = writeVarint(buf, pos, r[i - 1]![0] - r[i]![1] - 2)
        pos = writeVarint(buf, pos, r[i]![1] - r[i]![0])
      }
      return pos
    }
    case FrameType.NACK:
      pos = writeVarint(buf, pos, f.packetNumbers.length)
      for (const pn of f.packetNumbers) pos = writeVarint(buf, pos, pn)
      return pos
    case FrameType.KEEP_ALIVE:
    case FrameType.KEEP_ALIVE_ACK:
      buf.set(f.data.subarray(0, KEEP_ALIVE_DATA_SIZE), pos)
      return pos + KEEP_ALIVE_DATA_SIZE
    case FrameType.STREAM_OPEN:
      pos = writeVarint(buf, pos, f.streamKey)
      buf[pos++] = f.priority & 0xff
      return pos
    case FrameType.STREAM_CLOSE:
      pos = writeVarint(buf, pos, f.streamKey)
      pos = writeVarint(buf, pos, f.errorCode)
      return writeVarint(buf, pos, f.finalSize)
    case FrameType.STREAM_FIN:
      pos = writeVarint(buf, pos, f.streamKey)
      return writeVarint(buf, pos, f.finalSize)
    case FrameType.STREAM_CREDIT:
      pos = writeVarint(buf, pos, f.streamKey)
      return writeVarint(buf, pos, f.maxOffset)
    case FrameType.SESSION_CREDIT:
      return writeVarint(buf, pos, f.maxData)
    case FrameType.STREAMS_CREDIT:
      return writeVarint(buf, pos, f.maxStreams)
    case FrameType.NEW_TICKET:
      pos = writeVarint(buf, pos, f.expires)
      pos = writeVarint(buf, pos, f.ticket.length)
      buf.set(f.ticket, pos)
      return pos + f.ticket.length
    case FrameType.SESSION_CLOSE: {
      const r = encodeReason(f.reason)
      pos = writeVarint(buf, pos, f.errorCode)
      pos = writeVarint(buf, pos, r.length)
      buf.set(r, pos)
      return pos + r.length
    }
    case FrameType.ERROR: {
      const r = encodeReason(f.reason)
      pos = writeVarint(buf, pos, f.errorCode)
      buf[pos++] = f.frameType & 0xff
      pos = writeVarint(buf, pos, r.length)
      buf.set(r, pos)
      return pos + r.length
    }
  }
}

/**
 * The DATA and ACK frames readFrame fills in place when given one (issue 13: a ping-pong
 * packet carries both, and a fresh object per frame plus an array per ACK range was most of
 * the garbage of decoding). Whoever passes it handles each frame before reading the next and
 * keeps neither the frame nor an ACK's ranges (their pairs are rewritten too).
 */
export class FrameScratch {
  readonly data: DataFrame = { type: FrameType.DATA, datagram: false, streamKey: 0, offset: 0, data: new Uint8Array(0) }
  readonly ack: AckFrame = { type: FrameType.ACK, ackDelayMicros: 0, ranges: [] }
}

/**
 * The one FrameScratch every session of this thread decodes into: packets are processed one at
 * a time and each frame is handled before the next is read, so they can share it (one per
 * session added to every idle session's memory, issue 14's 8 KiB budget).
 */
export const frameScratch = new FrameScratch()

/** ranges[i] = [lo, hi], rewriting the pair already there (i is at most ranges.length). */
function setRange(ranges: Array<[number, number]>, i: number, lo: number, hi: number): void {
  const p = ranges[i]
  if (p === undefined) ranges.push([lo, hi])
  else {
    p[0] = lo
    p[1] = hi
  }
}

/** Why a payload could not be decoded; the packet is dropped and counted under this name. */
export type FrameError = 'truncated' | 'unknown-frame' | 'bad-value'

/**
 * Decodes one frame at r.pos. Returns the frame, or a FrameError string (never throws).
 * DATA and application frames return views into the buffer, not copies.
 */
export function readFrame(r: Reader, into?: FrameScratch): Frame | FrameError {
  const type = r.u8()
  if (!r.ok) return 'truncated'
  if (type >= APP_FRAME_MIN && type <= APP_FRAME_MAX) {
    const len = r.varint()
    const data = r.bytes(len)
    return r.ok ? { type, app: true, data } : 'truncated'
  }
  let f: Frame
  switch (type) {
    case FrameType.PADDING: {
      let n = 1
      while (r.pos < r.end && r.buf[r.pos] === 0) {
        r.pos++
        n++
      }
      return { type, length: n }
    }
    case FrameType.DATA: {
      const flags = r.u8()
      if (flags & ~DataFlag.DATAGRAM) return 'bad-value'
      const datagram = (flags & DataFlag.DATAGRAM) !== 0
      const streamKey = datagram ? 0 : r.varint()
      const offset = datagram ? 0 : r.varint()
      const len = r.varint()
      const data = r.bytes(len)
      if (into === undefined) f = { type, datagram, streamKey, offset, data }
      else {
        const d = into.data
        d.datagram = datagram
        d.streamKey = streamKey
        d.offset = offset
        d.data = data
        f = d
      }
      break
    }
    case FrameType.ACK: {
      const largest = r.varint()
      const ackDelayMicros = r.varint()
      const extra = r.varint()
      const first = r.varint()
      if (!r.ok) return 'truncated'
      if (extra >= MAX_ACK_RANGES || first > largest) return 'bad-value'
      const ranges = into === undefined ? [] : into.ack.ranges
      setRange(ranges, 0, largest - first, largest)
      let smallest = largest - first
      for (let i = 0; i < extra; i++) {
        const gap = r.varint()
        const len = r.varint()
        const hi = smallest - gap - 2
        if (!r.ok) return 'truncated'
        if (hi < 0 || len > hi) return 'bad-value'
        setRange(ranges, i + 1, hi - len, hi)
        smallest = hi - len
      }
      // Never down to 0: V8 would drop the array's storage and grow it again next packet.
      if (ranges.length > extra + 1) ranges.length = extra + 1
      if (into === undefined) f = { type, ackDelayMicros, ranges }
      else {
        into.ack.ackDelayMicros = ackDelayMicros
        f = into.ack
      }
      break
    }
    case FrameType.NACK: {
      const count = r.varint()
      if (count > MAX_NACK_COUNT) return 'bad-value'
      const packetNumbers: number[] = []
      for (let i = 0; i < count && r.ok; i++) packetNumbers.push(r.varint())
      f = { type, packetNumbers }
      break
    }
    case FrameType.KEEP_ALIVE:
    case FrameType.KEEP_ALIVE_ACK:
      f = { type, data: r.bytes(KEEP_ALIVE_DATA_SIZE) }
      break
    case FrameType.STREAM_OPEN:
      f = { type, streamKey: r.varint(), priority: r.u8() }
      break
    case FrameType.STREAM_CLOSE:
      f = { type, streamKey: r.varint(), errorCode: r.varint(), finalSize: r.varint() }
      break
    case FrameType.STREAM_FIN:
      f = { type, streamKey: r.varint(), finalSize: r.varint() }
      break
    case FrameType.STREAM_CREDIT:
      f = { type, streamKey: r.varint(), maxOffset: r.varint() }
      break
    case FrameType.SESSION_CREDIT:
      f = { type, maxData: r.varint() }
      break
    case FrameType.STREAMS_CREDIT:
      f = { type, maxStreams: r.varint() }
      break
    case FrameType.NEW_TICKET: {
      const expires = r.varint()
      const len = r.varint()
      if (len > 1024) return 'bad-value'
      f = { type, expires, ticket: r.bytes(len).slice() }
      break
    }
    case FrameType.SESSION_CLOSE: {
      const errorCode = r.varint()
      const len = r.varint()
      if (len > MAX_REASON_BYTES) return 'bad-value'
      f = { type, errorCode, reason: utf8d.decode(r.bytes(len)) }
      break
    }
    case FrameType.ERROR: {
      const errorCode = r.varint()
      const frameType = r.u8()
      const len = r.varint()
      if (len > MAX_REASON_BYTES) return 'bad-value'
      f = { type, errorCode, frameType, reason: utf8d.decode(r.bytes(len)) }
      break
    }
    default:
      return 'unknown-frame'
  }
  return r.ok ? f : 'truncated'
}

/** Decodes a whole payload; for tests and tools (the session parses frame by frame). */
export function decodeFrames(buf: Uint8Array, start = 0, end = buf.length): Frame[] | FrameError {
  const r = new Reader(buf, start, end)
  const out: Frame[] = []
  while (r.pos < r.end) {
    const f = readFrame(r)
    if (typeof f === 'string') return f
    out.push(f)
  }
  return out
}

/** Encodes frames into a fresh buffer; for tests and tools. */
export function encodeFrames(frames: Frame[]): Uint8Array {
  let n = 0
  for (const f of frames) n += frameSize(f)
  const buf = new Uint8Array(n)
  let pos = 0
  for (const f of frames) pos = writeFrame(buf, pos, f)
  return buf
}

/**
 * Frames a path probe may hold (RFC 9000 §9.1: PATH_CHALLENGE, PATH_RESPONSE and PADDING are
 * STT's KEEP_ALIVE, KEEP_ALIVE_ACK and PADDING): a packet of only these never moves a session.
 * Unlike RFC 9000's PING, STT's KEEP_ALIVE is also the path challenge, so an idle peer's
 * keep-alives count as probing too (PROTOCOL.md §2.1).
 */
export function isProbing(type: number): boolean {
  return type === FrameType.KEEP_ALIVE || type === FrameType.KEEP_ALIVE_ACK || type === FrameType.PADDING
}

/** True for frames whose packet must be acknowledged (RFC 9002 "ack-eliciting"). */
export function isAckEliciting(type: number): boolean {
  return type !== FrameType.ACK && type !== FrameType.PADDING && type !== FrameType.KEEP_ALIVE_ACK && type !== FrameType.NACK
}
