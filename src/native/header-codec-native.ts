/**
 * The native header codec behind the HeaderCodec interface, with the argument validation the
 * C++ side relies on (it only asserts). `headerCodec` is native when the addon is loaded and the
 * TypeScript reference otherwise.
 */
import { STTConfigError } from '../errors.js'
import { HEADER_SIZE } from '../protocol/constants.js'
import type { NativeBinding } from './binding.js'
import { type HeaderCodec, type HeaderColumns, jsHeaderCodec } from './header-codec-js.js'
import { binding } from './load.js'
import { assertBatch } from './validate.js'

function assertColumns(op: string, cols: HeaderColumns, count: number, withStatus: boolean): void {
  const u8 = [cols.version, cols.type, cols.flags, ...(withStatus ? [cols.status] : [])]
  for (const a of u8) {
    if (!(a instanceof Uint8Array) || a.length < count) throw new STTConfigError(`${op}: column arrays must be Uint8Array of length >= count`)
  }
  for (const a of [cols.sessionId, cols.pn]) {
    if (!(a instanceof BigUint64Array) || a.length < count) {
      throw new STTConfigError(`${op}: sessionId and pn must be BigUint64Array of length >= count`)
    }
  }
}

export function createNativeHeaderCodec(b: NativeBinding): HeaderCodec {
  return {
    name: 'native',
    decodeHeaders(slab, offsets, lengths, count, out) {
      assertBatch('decodeHeaders', slab, offsets, lengths, count, 0)
      assertColumns('decodeHeaders', out, count, true)
      b.decodeHeaders(slab, offsets, lengths, count, out.version, out.type, out.flags, out.sessionId, out.pn, out.status)
    },
    encodeHeaders(slab, offsets, lengths, count, cols) {
      assertBatch('encodeHeaders', slab, offsets, lengths, count, HEADER_SIZE)
      assertColumns('encodeHeaders', cols, count, false)
      b.encodeHeaders(slab, offsets, lengths, count, cols.version, cols.type, cols.flags, cols.sessionId, cols.pn)
    },
  }
}

/**
 * Smallest batches the native codec gets; smaller ones stay in TypeScript.
 *
 * Set from bench/codec.bench.mjs (2026-11-27, this 2-vCPU machine, 1200-byte packets, median of
 * 3 runs): one native call costs ~400-480 ns of fixed overhead (ten typed-array arguments plus
 * the TS validation), the TS codec ~75-90 ns per packet to decode and ~125-190 ns to encode.
 * decode: TS faster at 1, 2, 4 packets (156/123/86 vs 480/265/127 ns per packet), native from 8
 * (64 vs 109 ns). encode: TS faster at 1, 2 (188/149 vs 409/204 ns), native from 4 (119 vs 145).
 */
export const DECODE_NATIVE_MIN_BATCH = 8
export const ENCODE_NATIVE_MIN_BATCH = 4

/** Routes each call by batch size between two codecs (both produce identical bytes/columns). */
export function createRoutedHeaderCodec(native: HeaderCodec, js: HeaderCodec, decodeMin: number, encodeMin: number): HeaderCodec {
  return {
    name: native.name,
    decodeHeaders: (slab, offsets, lengths, count, out) =>
      (count < decodeMin ? js : native).decodeHeaders(slab, offsets, lengths, count, out),
    encodeHeaders: (slab, offsets, lengths, count, cols) =>
      (count < encodeMin ? js : native).encodeHeaders(slab, offsets, lengths, count, cols),
  }
}

/** Native (routed by batch size) when the addon is loaded, else the TypeScript reference. */
export const headerCodec: HeaderCodec = binding
  ? createRoutedHeaderCodec(createNativeHeaderCodec(binding), jsHeaderCodec, DECODE_NATIVE_MIN_BATCH, ENCODE_NATIVE_MIN_BATCH)
  : jsHeaderCodec
