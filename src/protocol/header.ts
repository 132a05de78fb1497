/**
 * The 19-byte cleartext packet header (docs/PROTOCOL.md §2). It is the AEAD's associated data
 * for protected packets and is MAC'd for HELLO:
 *
 *   0      1      2      3 .......... 10  11 ............ 18
 *   ver    type   flags  session id (8B)  packet number (u64 BE)
 */
import { FLAGS_OFFSET, HEADER_SIZE, PN_OFFSET, SESSION_ID_OFFSET, SESSION_ID_SIZE, TYPE_OFFSET, VERSION_OFFSET } from './constants.js'

export interface Header {
  version: number
  type: number
  flags: number
  sessionId: Uint8Array
  packetNumber: number
}

export function writeHeader(buf: Uint8Array, pos: number, version: number, type: number, flags: number, sessionId: Uint8Array, pn: number): number {
  buf[pos + VERSION_OFFSET] = version
  buf[pos + TYPE_OFFSET] = type
  buf[pos + FLAGS_OFFSET] = flags
  // Eight bytes: a loop, not set() on a subarray (a view object per packet).
  const n = Math.min(sessionId.length, SESSION_ID_SIZE)
  for (let i = 0; i < n; i++) buf[pos + SESSION_ID_OFFSET + i] = sessionId[i]!
  writeU64(buf, pos + PN_OFFSET, pn)
  return pos + HEADER_SIZE
}

/** Big-endian u64 from a safe integer. */
export function writeU64(buf: Uint8Array, pos: number, v: number): void {
  const hi = Math.floor(v / 0x100000000)
  const lo = v >>> 0
  buf[pos] = hi >>> 24
  buf[pos + 1] = (hi >>> 16) & 0xff
  buf[pos + 2] = (hi >>> 8) & 0xff
  buf[pos + 3] = hi & 0xff
  buf[pos + 4] = lo >>> 24
  buf[pos + 5] = (lo >>> 16) & 0xff
  buf[pos + 6] = (lo >>> 8) & 0xff
  buf[pos + 7] = lo & 0xff
}

/**
 * Big-endian u64 as a number; values above 2^53 come back as -1 (never valid for us).
 * Below 2^32 the value is `lo` itself, not `0 * 2^32 + lo`: that sum is a float operation, so V8
 * returned every packet number as a heap number, which made each field and array holding one
 * switch to doubles (ACK tracker, loss records, and through RangeSet's shared allocation site
 * every range set, stream offsets included). The late switches (a send buffer's acked offset on
 * the first ACK) threw away optimized code in the sender's first megabytes (issue 9: a process's
 * first 16 MiB cost ~3x the CPU per byte of the next, most of the difference TurboFan compiling,
 * part of it compiling again after such switches; as-double.ts).
 */
export function readU64(buf: Uint8Array, pos: number): number {
  const hi = ((buf[pos]! << 24) | (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!) >>> 0
  const lo = ((buf[pos + 4]! << 24) | (buf[pos + 5]! << 16) | (buf[pos + 6]! << 8) | buf[pos + 7]!) >>> 0
  if (hi === 0) return lo
  if (hi > 0x1fffff) return -1
  return hi * 0x100000000 + lo
}

export function readHeader(buf: Uint8Array, pos: number, len: number): Header | null {
  if (len < HEADER_SIZE) return null
  return {
    version: buf[pos + VERSION_OFFSET]!,
    type: buf[pos + TYPE_OFFSET]!,
    flags: buf[pos + FLAGS_OFFSET]!,
    sessionId: buf.slice(pos + SESSION_ID_OFFSET, pos + SESSION_ID_OFFSET + SESSION_ID_SIZE),
    packetNumber: readU64(buf, pos + PN_OFFSET),
  }
}

/**
 * A number key for a session id, for Map lookups without allocating: 53 of its 64 bits. Two
 * live ids with the same key are refused at session creation, so the key identifies a session;
 * the receiver still compares all 8 bytes before using it.
 */
export function sessionKeyAt(buf: Uint8Array, pos: number): number {
  const p = pos + SESSION_ID_OFFSET
  const hi = ((buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!) & 0x1fffff
  const lo = ((buf[p + 3]! << 24) | (buf[p + 4]! << 16) | (buf[p + 5]! << 8) | buf[p + 6]!) >>> 0
  return hi * 0x100000000 + lo
}

export function sessionKeyOf(id: Uint8Array): number {
  return sessionKeyAt(id, -SESSION_ID_OFFSET)
}

export function sessionIdEquals(buf: Uint8Array, pos: number, id: Uint8Array): boolean {
  const p = pos + SESSION_ID_OFFSET
  for (let i = 0; i < SESSION_ID_SIZE; i++) if (buf[p + i] !== id[i]) return false
  return true
}
