/**
 * Anti-replay sliding window (RFC 6479): a ring of 32-bit words tracks which of the last
 * WINDOW_SIZE packet numbers were seen. Checked only after a packet authenticated, so an
 * attacker cannot advance the window with forged numbers.
 */

const WORD_BITS = 32
const RING_WORDS = 128 // 4096 bits
/** Packets this far behind the highest seen are still accepted once (RFC 6479 §2: ring size minus one word). */
export const REPLAY_WINDOW_SIZE = (RING_WORDS - 1) * WORD_BITS // 4064
/**
 * A session starts with an 8-word ring (224 packets of reordering) and grows to the full one
 * once it has received GROW_AT packets or first rejects one as too old: an idle session (keep-
 * alives only) never needs 4,064 packets of reordering, and the full ring is 512 bytes of it
 * (issue 14: memory per idle session). A packet rejected as too old is lost, never accepted
 * twice, and its data is resent in a new packet (stream-record.ts). Numbers the small ring had
 * already forgotten when it grows stay refused (`floor`): growing never reopens a replay.
 */
const RING_WORDS_INITIAL = 8
const GROW_AT = 256

/**
 * A ring of `n` zero words: a plain array of small integers (words hold int32 results of | and &),
 * ~120 bytes less than a Uint32Array with its ArrayBuffer (issue 14). Copied by slice to its exact
 * length: push leaves room for 16 more words (8 words took 185 bytes, the copy 111).
 */
function zeroRing(n: number): number[] {
  const ring: number[] = []
  for (let i = 0; i < n; i++) ring.push(0)
  return ring.slice()
}

export class ReplayWindow {
  private ring = zeroRing(RING_WORDS_INITIAL)
  private words = RING_WORDS_INITIAL
  private highest = -1
  /** Lowest number still acceptable: what the small ring had forgotten when it grew. */
  private floor = 0

  /** Packets behind the highest that are still accepted (grows to REPLAY_WINDOW_SIZE). */
  get windowSize(): number {
    return (this.words - 1) * WORD_BITS
  }

  private grow(): void {
    // Numbers the small ring no longer covered are unknown to the big one: refuse them for good.
    this.floor = Math.max(0, this.highest - this.windowSize + 1)
    const ring = zeroRing(RING_WORDS)
    if (this.highest >= 0) {
      const top = Math.floor(this.highest / WORD_BITS)
      for (let k = 0; k < this.words && top - k >= 0; k++) ring[(top - k) % RING_WORDS] = this.ring[(top - k) % this.words]!
    }
    this.ring = ring
    this.words = RING_WORDS
  }

  /** Highest packet number accepted so far (-1 before the first). */
  get largest(): number {
    return this.highest
  }

  /** True when `pn` is new (and marks it seen); false for duplicates and packets too old. */
  accept(pn: number): boolean {
    if (pn < 0) return false
    if (this.words < RING_WORDS && (pn >= GROW_AT || this.highest - pn >= this.windowSize)) this.grow()
    if (pn < this.floor) return false
    const words = this.words
    if (pn > this.highest) {
      const curWord = this.highest < 0 ? -1 : Math.floor(this.highest / WORD_BITS)
      const newWord = Math.floor(pn / WORD_BITS)
      // Clear the words we skip over (at most the whole ring).
      const steps = Math.min(newWord - curWord, words)
      for (let i = 1; i <= steps; i++) this.ring[(curWord + i) % words] = 0
      this.highest = pn
    } else if (this.highest - pn >= this.windowSize) {
      return false
    }
    const word = Math.floor(pn / WORD_BITS) % words
    const bit = 1 << (pn % WORD_BITS)
    if (this.ring[word]! & bit) return false
    this.ring[word] = this.ring[word]! | bit
    return true
  }

  /** Checks without marking (for deciding whether decrypting is worth it). */
  wouldAccept(pn: number): boolean {
    if (pn < 0) return false
    if (pn > this.highest) return true
    if (pn < this.floor || this.highest - pn >= this.windowSize) return false
    const word = Math.floor(pn / WORD_BITS) % this.words
    return (this.ring[word]! & (1 << (pn % WORD_BITS))) === 0
  }
}
