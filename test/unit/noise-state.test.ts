/**
 * SymmetricState.mixKeyAndHashOnce (the group PSK's MixKeyAndHash, done once per PSK array) must
 * leave a state byte-identical to mixKeyAndHash's, on every later operation, and refuse to run
 * when the chaining key is no longer the initial one (the precomputed result would be wrong).
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { SymmetricState } from '../../src/protocol/noise.js'

const rnd = (n: number) => new Uint8Array(randomBytes(n))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** Both states through the same later steps; their outputs and final keys must agree. */
function sameAfterwards(a: SymmetricState, b: SymmetricState): void {
  const e = rnd(32)
  for (const s of [a, b]) {
    s.mixHash(e)
    s.mixKey(e)
  }
  const msg = rnd(40)
  expect(hex(a.encryptAndHash(msg))).toBe(hex(b.encryptAndHash(msg)))
  expect([hex(a.ck), hex(a.h)]).toEqual([hex(b.ck), hex(b.h)])
  const sa = a.split()
  const sb = b.split()
  expect([hex(sa.i2r), hex(sa.r2i)]).toEqual([hex(sb.i2r), hex(sb.r2i)])
}

describe('SymmetricState.mixKeyAndHashOnce', () => {
  it('a state whose public ck was changed before its first use does not poison the cache for later handshakes (review 74)', () => {
    const psk = rnd(32)
    const odd = new SymmetricState()
    odd.ck[0]! ^= 1
    odd.mixKeyAndHashOnce(psk)
    const a = new SymmetricState()
    const b = new SymmetricState()
    a.mixKeyAndHash(psk)
    b.mixKeyAndHashOnce(psk)
    expect([hex(b.ck), hex(b.h), hex(b.key!)]).toEqual([hex(a.ck), hex(a.h), hex(a.key!)])
  })

  it('gives the state mixKeyAndHash gives, first use and remembered, for several PSKs', () => {
    const psks = [rnd(32), rnd(32), rnd(16)]
    for (let round = 0; round < 3; round++) {
      for (const psk of psks) {
        const sid = rnd(8)
        const a = new SymmetricState()
        const b = new SymmetricState()
        a.mixHash(sid)
        b.mixHash(sid)
        a.mixKeyAndHash(psk)
        b.mixKeyAndHashOnce(psk)
        expect([hex(a.ck), hex(a.h), hex(a.key!), a.counter]).toEqual([hex(b.ck), hex(b.h), hex(b.key!), b.counter])
        sameAfterwards(a, b)
      }
    }
  })

  it('states do not share arrays: zeroing one state\'s ck changes neither the next state nor the result', () => {
    const psk = rnd(32)
    const first = new SymmetricState()
    first.mixKeyAndHashOnce(psk)
    const ck = hex(first.ck)
    first.ck.fill(0)
    first.key!.fill(0)
    const again = new SymmetricState()
    again.mixKeyAndHashOnce(psk)
    expect(hex(again.ck)).toBe(ck)
    const ref = new SymmetricState()
    ref.mixKeyAndHash(psk)
    expect(hex(again.key!)).toBe(hex(ref.key!))
  })

  it('a PSK array rewritten in place is recognised as a new PSK', () => {
    const psk = rnd(32)
    new SymmetricState().mixKeyAndHashOnce(psk)
    psk.set(rnd(32))
    const a = new SymmetricState()
    const b = new SymmetricState()
    a.mixKeyAndHash(psk)
    b.mixKeyAndHashOnce(psk)
    expect([hex(a.ck), hex(a.h), hex(a.key!)]).toEqual([hex(b.ck), hex(b.h), hex(b.key!)])
  })

  it('refuses once the chaining key has moved on (after a MixKey, or on a restored state)', () => {
    const psk = rnd(32)
    const s = new SymmetricState()
    s.mixKey(rnd(32))
    expect(() => s.mixKeyAndHashOnce(psk)).toThrow(/not the initial one/)
    const t = new SymmetricState()
    t.mixKeyAndHashOnce(psk)
    expect(() => t.mixKeyAndHashOnce(psk)).toThrow(/not the initial one/)
    const r = SymmetricState.restore(rnd(32), rnd(32), rnd(32), 0)
    expect(() => r.mixKeyAndHashOnce(psk)).toThrow(/not the initial one/)
  })
})
