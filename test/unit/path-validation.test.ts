/**
 * PathValidation alone (src/protocol/path-validation.ts; the attacks are in sec-path.test.ts):
 * a candidate whose round of challenges went unanswered is challenged again only on a newest
 * packet from it after the backoff, which doubles each round, and never on a timer alone; the
 * echo of that round or of the one before validates it.
 */
import { describe, expect, it } from 'vitest'
import { PathValidation } from '../../src/protocol/path-validation.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'

const current = fakeAddress('current')
const X = fakeAddress('x')
const RTT = 50 // smoothed and lowest, unless a test says otherwise
const WAIT = 3 * RTT // ms between the challenges of a round
const CHALLENGE = 44
let counter = 0
const random = (n: number) => new Uint8Array(n).fill(++counter)

/** Sends every challenge of one round as it falls due, from `now`; returns when the last went out. */
function useUpRound(v: PathValidation, now: number, smoothedRtt = RTT, lowestRtt = RTT): number {
  for (let i = 0; i < 5; i++) {
    const p = v.next()
    expect(p?.address.key).toBe(X.key)
    v.sent(p!, CHALLENGE, now, smoothedRtt, lowestRtt)
    if (i < 4) {
      now = v.retryAt
      v.onTimeout(now)
    }
  }
  expect(v.retryAt).toBe(Infinity) // the round is used up: no timer
  expect(v.due).toBe(false)
  return now
}

describe('path validation: rounds of challenges to a candidate', () => {
  it('a used-up candidate is challenged again, with fresh bytes, only on a newest packet from it after a backoff that doubles', () => {
    const v = new PathValidation(CHALLENGE)
    v.consider(X, current, true, false, 10_000, random, 0)
    const first = v.next()!.challenge.slice()
    let last = useUpRound(v, 0)
    const gaps = [5 * WAIT, 10 * WAIT, 20 * WAIT, 40 * WAIT, 40 * WAIT] // one round's length, doubling up to 8
    for (const gap of gaps) {
      v.onTimeout(last + 100_000) // time alone re-arms nothing
      expect(v.due).toBe(false)
      v.consider(X, current, true, false, 1000, random, last + gap - 1) // too early
      expect(v.due).toBe(false)
      v.consider(X, current, false, false, 1000, random, last + gap) // not the newest
      expect(v.due).toBe(false)
      v.consider(X, current, true, false, 1000, random, last + gap)
      expect(v.due).toBe(true)
      expect(v.next()!.challenge).not.toEqual(first)
      last = useUpRound(v, last + gap)
    }
  })

  it('a new round still waits for the 3x budget of what the address sent', () => {
    const v = new PathValidation(CHALLENGE)
    v.consider(X, current, true, false, 147, random, 0) // 441 bytes: 10 challenges' worth
    let last = useUpRound(v, 0)
    v.consider(X, current, true, false, 1, random, last + 5 * WAIT) // re-armed: 5 challenges' worth left
    last = useUpRound(v, last + 5 * WAIT)
    v.consider(X, current, true, false, 1, random, last + 10 * WAIT)
    expect(v.next()).toBeNull() // re-armed, but 7 bytes of budget left: waits for the address to send more
    v.consider(X, current, true, false, CHALLENGE, random, last + 10 * WAIT + 1)
    expect(v.next()?.address.key).toBe(X.key)
  })

  it('review 56: a stretched smoothed RTT spaces the tries at most 1 s apart and leaves the backoff alone', () => {
    const v = new PathValidation(CHALLENGE)
    v.consider(X, current, true, false, 10_000, random, 0)
    // The current path's smoothed RTT stretched to 10 s by its holder; the lowest sample stays 50 ms.
    let last = useUpRound(v, 0, 10_000, RTT)
    expect(last).toBe(4 * 1000) // 3 x 10 s capped at 1 s between tries
    for (const gap of [5 * WAIT, 10 * WAIT, 20 * WAIT, 40 * WAIT, 40 * WAIT]) {
      v.consider(X, current, true, false, 1000, random, last + gap - 1)
      expect(v.due).toBe(false)
      v.consider(X, current, true, false, 1000, random, last + gap) // timed in the lowest RTT: as before the stretch
      expect(v.due).toBe(true)
      last = useUpRound(v, last + gap, 10_000, RTT)
    }
  })

  it('the backoff is bounded whatever the RTT: 5 tries x 1 s, doubling to 40 s; and 50 ms tries on the fastest path', () => {
    const slow = new PathValidation(CHALLENGE)
    slow.consider(X, current, true, false, 10_000, random, 0)
    let last = useUpRound(slow, 0, Infinity, Infinity) // no sample yet, or an absurd one
    for (const gap of [5000, 10_000, 20_000, 40_000, 40_000]) {
      slow.consider(X, current, true, false, 1000, random, last + gap)
      expect(slow.due).toBe(true)
      last = useUpRound(slow, last + gap, Infinity, Infinity)
    }
    const fast = new PathValidation(CHALLENGE)
    fast.consider(X, current, true, false, 10_000, random, 0)
    last = useUpRound(fast, 0, 1, 1)
    expect(last).toBe(4 * 50)
    fast.consider(X, current, true, false, 1000, random, last + 5 * 50 - 1)
    expect(fast.due).toBe(false)
    fast.consider(X, current, true, false, 1000, random, last + 5 * 50)
    expect(fast.due).toBe(true)
  })

  it('review 63: the echo of the current round or the one before validates, only from the candidate; older rounds and a new candidate\'s predecessor do not', () => {
    const Y = fakeAddress('y')
    const v = new PathValidation(CHALLENGE)
    v.consider(X, current, true, false, 10_000, random, 0)
    const rounds: Uint8Array[] = [v.next()!.challenge.slice()]
    let last = useUpRound(v, 0)
    for (const gap of [5 * WAIT, 10 * WAIT]) {
      v.consider(X, current, true, false, 1000, random, last + gap)
      rounds.push(v.next()!.challenge.slice())
      last = useUpRound(v, last + gap)
    }
    const [first, before, now] = rounds as [Uint8Array, Uint8Array, Uint8Array]
    expect(new Set([first, before, now].map((b) => b.join()))).toHaveProperty('size', 3) // fresh bytes per round
    expect(v.validated(first, X)).toBeNull() // two rounds back: no longer outstanding
    expect(v.validated(before, Y)).toBeNull() // the right bytes from another address
    expect(v.validated(now, Y)).toBeNull()
    expect(v.validated(before, X)?.key).toBe(X.key)
    expect(v.validated(now, X)?.key).toBe(X.key)
    // Another address becomes the candidate: X's bytes count for nothing, even from X.
    v.consider(Y, current, true, false, 10_000, random, last + 1)
    expect(v.validated(before, X)).toBeNull()
    expect(v.validated(now, X)).toBeNull()
    expect(v.validated(now, Y)).toBeNull()
    expect(v.validated(v.next()!.challenge, Y)?.key).toBe(Y.key)
  })
})
