/**
 * xorshift32 in [0, 1): for timing that only needs desynchronising between flows (BBR's probe
 * waits), never for anything secret. A zero seed would stay zero, so it becomes 1.
 */
export function xorshift32(seed: number): () => number {
  let x = xorshiftState(seed)
  return () => {
    x = xorshiftNext(x)
    return (x >>> 0) / 2 ** 32
  }
}

/** The state xorshiftNext starts from for `seed` (an int32, so a field holding it is a small integer). */
export function xorshiftState(seed: number): number {
  return seed | 0 || 1
}

/** One xorshift32 step on a state kept by the caller (no closure per generator; issue 14). */
export function xorshiftNext(x: number): number {
  x ^= x << 13
  x ^= x >>> 17
  x ^= x << 5
  return x
}

/** A seed from the first four bytes (little-endian). */
export function seedOf(bytes: Uint8Array): number {
  return (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0
}
