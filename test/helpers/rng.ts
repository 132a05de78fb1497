/**
 * Seeded pseudo-random numbers for tests: xoshiro128** (Blackman & Vigna), seeded by hashing a
 * string key, so every random choice in a test is reproducible from one printed seed.
 *
 * Why a hand-rolled PRNG: Math.random cannot be seeded, and node:crypto is unseedable by design.
 * Not for cryptography.
 *
 * Substreams: `fork(label)` derives a new generator from this generator's *seed key* and the
 * label, not from its current state. Forking therefore consumes nothing from the parent, and
 * adding a new consumer (a new fork) never shifts the numbers an existing consumer sees. The
 * network simulator relies on this: turning on duplication must not change which datagrams the
 * loss knob drops.
 */

/** A `random(n)` byte source, the shape the protocol core accepts for nonces, ids and keys. */
export type RandomSource = (n: number) => Uint8Array

/** 128-bit string hash (cyrb128) -> four 32-bit words; used only to seed xoshiro. */
function hash128(key: string): [number, number, number, number] {
  let h1 = 1779033703
  let h2 = 3144134277
  let h3 = 1013904242
  let h4 = 2773480762
  for (let i = 0; i < key.length; i++) {
    const k = key.charCodeAt(i)
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067)
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233)
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213)
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179)
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067)
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233)
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213)
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179)
  h1 ^= h2 ^ h3 ^ h4
  h2 ^= h1
  h3 ^= h1
  h4 ^= h1
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0]
}

export class Rng {
  /** The key this generator was seeded from (printable; pass it back to `new Rng` to replay). */
  readonly seed: string
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor(seed: number | string) {
    this.seed = String(seed)
    let [a, b, c, d] = hash128(this.seed)
    // xoshiro's only bad state is all-zero; the hash makes it astronomically unlikely, but cheap to rule out.
    if ((a | b | c | d) === 0) a = 1
    this.s0 = a
    this.s1 = b
    this.s2 = c
    this.s3 = d
  }

  /** Next uniform uint32. */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0
    const t = this.s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result
  }

  /** Uniform float in [0, 1) with 53 bits of precision. */
  float(): number {
    const hi = this.next() >>> 5 // 27 bits
    const lo = this.next() >>> 6 // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992
  }

  /** Uniform integer in [0, n), without modulo bias. `n` must be in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x1_0000_0000) throw new RangeError(`Rng.int: bad bound ${n}`)
    // Rejection sampling: discard the top partial bucket so every residue is equally likely.
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n)
    for (;;) {
      const x = this.next()
      if (x < limit) return x % n
    }
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  /** True with probability p (p <= 0 never draws a number, so disabled knobs cost nothing). */
  chance(p: number): boolean {
    if (p <= 0) return false
    if (p >= 1) return true
    return this.float() < p
  }

  /** Fills `out` with random bytes and returns it. */
  fill(out: Uint8Array): Uint8Array {
    let i = 0
    for (; i + 4 <= out.length; i += 4) {
      const x = this.next()
      out[i] = x & 0xff
      out[i + 1] = (x >>> 8) & 0xff
      out[i + 2] = (x >>> 16) & 0xff
      out[i + 3] = x >>> 24
    }
    if (i < out.length) {
      let x = this.next()
      for (; i < out.length; i++, x >>>= 8) out[i] = x & 0xff
    }
    return out
  }

  /** `n` fresh random bytes. */
  bytes(n: number): Uint8Array {
    return this.fill(new Uint8Array(n))
  }

  /** A uniformly chosen element. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.pick: empty array')
    return items[this.int(items.length)] as T
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const tmp = items[i] as T
      items[i] = items[j] as T
      items[j] = tmp
    }
    return items
  }

  /** An independent generator for `label` (see the file comment: it does not advance this one). */
  fork(label: string): Rng {
    return new Rng(`${this.seed}/${label}`)
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}

/**
 * The seed for a test run: `STT_TEST_SEED` when set (to replay a failure), else `fallback`.
 * Tests should print the seed in failure messages so a red CI run can be reproduced locally.
 */
export function testSeed(fallback: number | string): string {
  const env = process.env['STT_TEST_SEED']
  return env !== undefined && env !== '' ? env : String(fallback)
}

/** A deterministic `random(n)` for the protocol core: same seed, same keys/nonces/ids. */
export function seededRandom(seed: number | string | Rng): RandomSource {
  const rng = seed instanceof Rng ? seed : new Rng(seed)
  return (n) => rng.bytes(n)
}

/**
 * A `random(n)` that returns 0, 1, 2, ... (mod 256) across calls. Makes hex dumps of
 * handshakes readable and lets a test predict exactly which bytes the core drew.
 */
export function countingRandom(start = 0): RandomSource {
  let next = start
  return (n) => {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = next++ & 0xff
    return out
  }
}

/**
 * A `random(n)` that replays `chunks` in order and throws when asked for a different length or
 * for more than was scripted: for known-answer tests that pin ephemeral keys or nonces.
 */
export function scriptedRandom(chunks: readonly Uint8Array[]): RandomSource & { readonly remaining: number } {
  let i = 0
  const fn = (n: number): Uint8Array => {
    const chunk = chunks[i]
    if (chunk === undefined) throw new Error(`scriptedRandom: asked for ${n} bytes after all ${chunks.length} chunks were used`)
    if (chunk.length !== n) throw new Error(`scriptedRandom: chunk ${i} has ${chunk.length} bytes, asked for ${n}`)
    i++
    return chunk.slice()
  }
  return Object.defineProperty(fn, 'remaining', { get: () => chunks.length - i }) as RandomSource & { readonly remaining: number }
}
