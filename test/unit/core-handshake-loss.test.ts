/**
 * Lost and duplicated handshake packets of each kind: the handshake still completes with
 * exactly one session on each side, one 'connected' and one 'accepted' event.
 */
import { describe, expect, it } from 'vitest'
import { CorePair, PT, typeOf } from './core-harness.js'

const KINDS = [
  ['HELLO', PT.HELLO],
  ['CHALLENGE', PT.CHALLENGE],
  ['AUTH_PROOF', PT.AUTH_PROOF],
  ['FINAL', PT.FINAL],
] as const

function expectOneSessionEach(p: CorePair): void {
  // Let every retransmission and late duplicate play out.
  p.advance(5000)
  expect(p.failures()).toEqual([])
  expect(p.connected()).toHaveLength(1)
  expect(p.accepted()).toHaveLength(1)
  expect(p.a.sessionCount).toBe(1)
  expect(p.b.sessionCount).toBe(1)
  const sa = p.connected()[0]!
  const sb = p.accepted()[0]!
  expect(sa.state).toBe('active')
  expect(sb.state).toBe('active')
  expect(Buffer.from(sa.transcript).equals(Buffer.from(sb.transcript))).toBe(true)
  expect(p.roundTrip(sa, sb, 'after')).toBe(true)
  expect(p.a.counters.handshakesCompleted).toBe(1)
  expect(p.b.counters.handshakesAccepted).toBe(1)
}

describe('handshake under loss and duplication', () => {
  for (const [name, type] of KINDS) {
    for (const times of [1, 3]) {
      it(`${name} lost ${times}x: completes`, () => {
        const p = new CorePair({ seed: `loss-${name}-${times}` })
        let dropped = 0
        p.tap = (d) => (typeOf(d.data) === type && dropped < times ? (dropped++, []) : [d.data])
        p.handshake({}, 30_000)
        expect(dropped).toBe(times)
        expectOneSessionEach(p)
      })
    }

    it(`${name} duplicated (every copy twice): completes, duplicates dropped and counted`, () => {
      const p = new CorePair({ seed: `dup-${name}` })
      p.tap = (d) => (typeOf(d.data) === type ? [d.data, d.data] : [d.data])
      p.handshake()
      expectOneSessionEach(p)
      const dropsA = { ...p.a.counters.dropped }
      const dropsB = { ...p.b.counters.dropped }
      const sessDropsA = p.connected()[0]!.counters.dropped
      if (type === PT.HELLO) expect(dropsB['replayed-hello']).toBeGreaterThanOrEqual(1)
      if (type === PT.CHALLENGE) expect(dropsA['challenge-duplicate']).toBeGreaterThanOrEqual(1)
      if (type === PT.FINAL) expect(sessDropsA['replay']).toBeGreaterThanOrEqual(1)
      if (type === PT.AUTH_PROOF) {
        // The duplicate looks like "FINAL was lost": the responder (re)sends FINAL, never a second
        // session; copies arriving together coalesce into one FINAL.
        expect(p.log.filter((d) => typeOf(d.data) === PT.FINAL).length).toBeGreaterThanOrEqual(1)
        expect(dropsB['duplicate-session']).toBeUndefined()
      }
    })
  }

  it('every handshake packet lost once (HELLO, CHALLENGE, AUTH_PROOF, FINAL): completes', () => {
    const p = new CorePair({ seed: 'loss-each-once' })
    const seen = new Set<number>()
    p.tap = (d) => {
      const t = typeOf(d.data)
      if (t !== PT.DATA && !seen.has(t)) {
        seen.add(t)
        return []
      }
      return [d.data]
    }
    p.handshake({}, 30_000)
    expect([...seen].sort()).toEqual([PT.HELLO, PT.CHALLENGE, PT.AUTH_PROOF, PT.FINAL].sort())
    expectOneSessionEach(p)
  })

  it('seeded random loss (30%) and duplication (30%) of handshake packets over 20 handshakes: always exactly one session each', () => {
    for (let i = 0; i < 20; i++) {
      const p = new CorePair({ seed: `loss-random-${i}` })
      const rng = p.rng.fork('tap')
      p.tap = (d) => {
        if (typeOf(d.data) === PT.DATA) return [d.data]
        if (rng.chance(0.3)) return []
        return rng.chance(0.3) ? [d.data, d.data] : [d.data]
      }
      p.handshake({}, 60_000)
      p.tap = (d) => [d.data]
      expectOneSessionEach(p)
    }
  })

  it('the responder answering FINAL to a repeated AUTH_PROOF does not start a new session and is bounded', () => {
    const p = new CorePair({ seed: 'proof-repeat' })
    p.handshake()
    p.advance(100)
    const proof = p.log.find((d) => typeOf(d.data) === PT.AUTH_PROOF)!.data
    const before = p.log.length
    for (let i = 0; i < 5; i++) p.deliver('b', proof)
    expect(p.b.sessionCount).toBe(1)
    expect(p.accepted()).toHaveLength(1)
    // Each repeat gets at most one FINAL back.
    expect(p.log.length - before).toBeLessThanOrEqual(5)
  })
})
