/**
 * Review 63 (of path13e, F2): a genuine candidate slower than a round plus the capped backoff.
 * The doubling stops at 8 rounds' length, 5 x max(3 x lowest RTT, 50 ms) x 8 = 2 s on a session
 * whose lowest RTT is under 17 ms, and every round changes the bytes. When only the current
 * round's echo was accepted, a peer that moved to a path with a 3 s RTT and kept sending from it
 * (each packet the newest) started a new round before any echo came back: it was never validated
 * (main and path13e). The echo of the round before counts too (RFC 9000 §8.2.2, any outstanding
 * challenge): an echo is then good until the round after next starts, at least two capped
 * backoffs plus a round (84 x 50 ms = 4.2 s here), so 3 s and 4 s candidates validate.
 */
import { describe, expect, it } from 'vitest'
import { PathValidation } from '../../src/protocol/path-validation.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'

const current = fakeAddress('current')
const X = fakeAddress('x')
const CHALLENGE = 44
let counter = 0
const random = (n: number) => {
  counter++
  return Uint8Array.from({ length: n }, (_, i) => (counter * 31 + i) & 0xff)
}

describe('review 63: a genuine candidate with an RTT above 8 rounds of backoff', () => {
  it.each([3000, 4000])('is validated by the echo of one of its challenges (RTT %i ms, session lowest and smoothed RTT 10 ms)', (CANDIDATE_RTT) => {
    const v = new PathValidation(CHALLENGE)
    const RTT = 10
    const echoes: Array<{ at: number; data: Uint8Array }> = []
    let moved = -1
    for (let now = 0; now <= 120_000 && moved < 0; now += 10) {
      v.onTimeout(now)
      // The peer sends a 1000-byte packet from X every 10 ms, each the newest.
      v.consider(X, current, true, false, 1000, random, now)
      for (let p = v.next(); p; p = v.next()) {
        echoes.push({ at: now + CANDIDATE_RTT, data: p.challenge.slice() })
        v.sent(p, CHALLENGE, now, RTT, RTT)
      }
      while (echoes.length > 0 && echoes[0]!.at <= now) {
        if (v.validated(echoes.shift()!.data, X)) moved = now
      }
    }
    expect(moved).toBeGreaterThan(0)
  })
})
