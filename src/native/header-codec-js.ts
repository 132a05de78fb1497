/**
 * Pure-TypeScript batch codec of the 19-byte packet header (docs/PROTOCOL.md §2). It is the
 * differential reference for native/frame.cc: same columns, same statuses, byte for byte.
 *
 *   offset 0   version         u8
 *   offset 1   type            u8   (PacketType)
 *   offset 2   flags           u8   (HeaderFlag bits)
 *   offset 3   session id      8 bytes, exposed as the big-endian u64 they spell
 *   offset 11  packet number   u64 big-endian
 */
import {
  FLAGS_OFFSET,
  HEADER_SIZE,
  PN_OFFSET,
  PROTOCOL_VERSION,
  SESSION_ID_OFFSET,
  TYPE_OFFSET,
  VERSION_OFFSET,
} from '../protocol/constants.js'
import { HeaderStatus } from './binding.js'

/** Column arrays, one element per packet; `status` is only read/written by decode. */
export interface HeaderColumns {
  version: Uint8Array
  type: Uint8Array
  flags: Uint8Array
  sessionId: BigUint64Array
  pn: BigUint64Array
  status: Uint8Array
}

export function allocHeaderColumns(capacity: number): HeaderColumns {
  return {
    version: new Uint8Array(capacity),
    type: new Uint8Array(capacity),
    flags: new Uint8Array(capacity),
    sessionId: new BigUint64Array(capacity),
    pn: new BigUint64Array(capacity),
    status: new Uint8Array(capacity),
  }
}

/** The surface shared by the native and the TypeScript codec. */
export interface HeaderCodec {
  readonly name: 'native' | 'js'
  decodeHeaders(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, out: HeaderColumns): void
  encodeHeaders(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, cols: HeaderColumns): void
}

/** Two u32 reads are cheaper than DataView.getBigUint64 + an intermediate BigInt per field. */
function readU64(slab: Uint8Array, at: number): bigint {
  const hi = ((slab[at]! << 24) | (slab[at + 1]! << 16) | (slab[at + 2]! << 8) | slab[at + 3]!) >>> 0
  const lo = ((slab[at + 4]! << 24) | (slab[at + 5]! << 16) | (slab[at + 6]! << 8) | slab[at + 7]!) >>> 0
  return (BigInt(hi) << 32n) | BigInt(lo)
}

function writeU64(slab: Uint8Array, at: number, v: bigint): void {
  const hi = Number((v >> 32n) & 0xffffffffn)
  const lo = Number(v & 0xffffffffn)
  slab[at] = hi >>> 24
  slab[at + 1] = hi >>> 16
  slab[at + 2] = hi >>> 8
  slab[at + 3] = hi
  slab[at + 4] = lo >>> 24
  slab[at + 5] = lo >>> 16
  slab[at + 6] = lo >>> 8
  slab[at + 7] = lo
}

export const jsHeaderCodec: HeaderCodec = {
  name: 'js',
  decodeHeaders(slab, offsets, lengths, count, out) {
    for (let i = 0; i < count; i++) {
      const off = offsets[i]!
      if (lengths[i]! < HEADER_SIZE) {
        out.version[i] = out.type[i] = out.flags[i] = 0
        out.sessionId[i] = out.pn[i] = 0n
        out.status[i] = HeaderStatus.SHORT
        continue
      }
      const v = slab[off + VERSION_OFFSET]!
      out.version[i] = v
      out.type[i] = slab[off + TYPE_OFFSET]!
      out.flags[i] = slab[off + FLAGS_OFFSET]!
      out.sessionId[i] = readU64(slab, off + SESSION_ID_OFFSET)
      out.pn[i] = readU64(slab, off + PN_OFFSET)
      out.status[i] = v === PROTOCOL_VERSION ? HeaderStatus.OK : HeaderStatus.BAD_VERSION
    }
  },
  encodeHeaders(slab, offsets, _lengths, count, cols) {
    for (let i = 0; i < count; i++) {
      const off = offsets[i]!
      slab[off + VERSION_OFFSET] = cols.version[i]!
      slab[off + TYPE_OFFSET] = cols.type[i]!
      slab[off + FLAGS_OFFSET] = cols.flags[i]!
      writeU64(slab, off + SESSION_ID_OFFSET, cols.sessionId[i]!)
      writeU64(slab, off + PN_OFFSET, cols.pn[i]!)
    }
  },
}
