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

/** Native when loaded, else the TypeScript reference. */
export const headerCodec: HeaderCodec = binding ? createNativeHeaderCodec(binding) : jsHeaderCodec
