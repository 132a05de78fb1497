/**
 * Argument checks shared by the wrappers around the addon. The C++ side only asserts (a failed
 * assert aborts the process), so everything a caller can get wrong is caught here first and
 * thrown as a typed STTConfigError.
 */
import { STTConfigError } from '../errors.js'

export function assertU8(op: string, name: string, v: unknown, minLength = 0): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new STTConfigError(`${op}: ${name} must be a Uint8Array`)
  if (v.length < minLength) throw new STTConfigError(`${op}: ${name} must hold at least ${minLength} bytes`)
}

/** Two capacities, not a rest parameter: it runs for every batch sealed, opened and sent (no array per call, issue 13). */
export function assertCount(op: string, count: unknown, capacityA: number, capacityB: number): asserts count is number {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
    throw new STTConfigError(`${op}: count must be a non-negative integer`)
  }
  if (count > capacityA) throw new STTConfigError(`${op}: count ${count} exceeds an array of length ${capacityA}`)
  if (count > capacityB) throw new STTConfigError(`${op}: count ${count} exceeds an array of length ${capacityB}`)
}

/**
 * Checks a (slab, offsets, lengths, count) batch: typed arrays of the right kinds, count within
 * them, and every packet inside the slab and at least minLength bytes long.
 */
export function assertBatch(
  op: string,
  slab: unknown,
  offsets: unknown,
  lengths: unknown,
  count: unknown,
  minLength: number,
): asserts count is number {
  assertU8(op, 'slab', slab)
  if (!(offsets instanceof Uint32Array)) throw new STTConfigError(`${op}: offsets must be a Uint32Array`)
  if (!(lengths instanceof Uint32Array)) throw new STTConfigError(`${op}: lengths must be a Uint32Array`)
  assertCount(op, count, offsets.length, lengths.length)
  const size = slab.length
  for (let i = 0; i < count; i++) {
    const off = offsets[i]!
    const len = lengths[i]!
    if (off + len > size) throw new STTConfigError(`${op}: packet ${i} [${off}, ${off + len}) is outside the slab (${size} bytes)`)
    if (len < minLength) throw new STTConfigError(`${op}: packet ${i} is ${len} bytes, shorter than ${minLength}`)
  }
}
