import { describe, expect, it } from 'vitest'
import { RandomPool } from '../../src/crypto/random-pool.js'

describe('RandomPool', () => {
  it('hands out every byte once, as copies', () => {
    const pool = new RandomPool()
    const seen = new Set<string>()
    // 3 blocks' worth of 32-byte pieces: no piece repeats (a repeat of 32 random bytes would
    // mean the block handed the same range out twice).
    for (let i = 0; i < 400; i++) {
      const k = Buffer.from(pool.take(32)).toString('hex')
      expect(seen.has(k)).toBe(false)
      seen.add(k)
    }
    // A piece is a copy with its own buffer, never a view of the block: zeroing or keeping it
    // (an ephemeral private key) cannot touch the block or another piece.
    const a = pool.take(8)
    expect(a.byteOffset).toBe(0)
    expect(a.buffer.byteLength).toBe(8)
  })

  it('serves sizes across a refill and large requests directly', () => {
    const pool = new RandomPool()
    for (let i = 0; i < 200; i++) expect(pool.take(i % 37).length).toBe(i % 37)
    const big = pool.take(10_000)
    expect(big.length).toBe(10_000)
    expect(big.some((b) => b !== 0)).toBe(true)
  })
})
