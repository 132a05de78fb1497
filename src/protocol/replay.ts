/**
 * Anti-replay sliding window (RFC 6479): a ring of 32-bit words tracks which of the last
 * WINDOW_SIZE packet numbers were seen. Checked only after a packet authenticated, so an
 * attacker cannot advance the window with forged numbers.
 */

const WORD_BITS = 32
const RING_WORDS = 128 // 4096 bits
/** Packets this far behind the highest seen are still accepted once (RFC 6479 §2: ring size minus one word). */
export const REPLAY_WINDOW_SIZE = (RING_WORDS - 1) * WORD_BITS // 4064

export class ReplayWindow {
  private readonly ring = new Uint32Array(RING_WORDS)
  private highest = -1

  /** Highest packet number accepted so far (-1 before the first). */
  get largest(): number {
    return this.highest
  }

  /** True when `pn` is new (and marks it seen); false for duplicates and packets too old. */
  accept(pn: number): boolean {
    if (pn < 0) return false
    if (pn > this.highest) {
      const curWord = this.highest < 0 ? -1 : Math.floor(this.highest / WORD_BITS)
      const newWord = Math.floor(pn / WORD_BITS)
      // Clear the words we skip over (at most the whole ring).
      const steps = Math.min(newWord - curWord, RING_WORDS)
      for (let i = 1; i <= steps; i++) this.ring[(curWord + i) % RING_WORDS] = 0
      this.highest = pn
    } else if (this.highest - pn >= REPLAY_WINDOW_SIZE) {
      return false
    }
    const word = Math.floor(pn / WORD_BITS) % RING_WORDS
    const bit = 1 << (pn % WORD_BITS)
    if (this.ring[word]! & bit) return false
    this.ring[word] = this.ring[word]! | bit
    return true
  }

  /** Checks without marking (for deciding whether decrypting is worth it). */
  wouldAccept(pn: number): boolean {
    if (pn < 0) return false
    if (pn > this.highest) return true
    if (this.highest - pn >= REPLAY_WINDOW_SIZE) return false
    const word = Math.floor(pn / WORD_BITS) % RING_WORDS
    return (this.ring[word]! & (1 << (pn % WORD_BITS))) === 0
  }
}
