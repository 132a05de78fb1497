/**
 * xorshift32 in [0, 1): for timing that only needs desynchronising between flows (BBR's probe
 * waits), never for anything secret. A zero seed would stay zero, so it becomes 1.
 */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

/** A seed from the first four bytes (little-endian). */
export function seedOf(bytes: Uint8Array): number {
  return (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0
}
