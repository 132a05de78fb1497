/**
 * Path validation for roaming and migration (RFC 9000 §8.2 and §9.3, with STT's KEEP_ALIVE /
 * KEEP_ALIVE_ACK as challenge and response; docs/PROTOCOL.md §2.1):
 *
 * - An authenticated, newest packet from a new address makes it a *candidate*: a KEEP_ALIVE
 *   with fresh random bytes goes to it, and only the echo of those bytes arriving from that
 *   address moves the session. Until then traffic stays on the current address. Everything
 *   sent to a candidate, retries included, stays within 3x what came from it (amplification.ts).
 *   A candidate whose round of challenges went unanswered is not given up: a newest packet
 *   from it after an exponential backoff starts another round (review 52). The backoff is
 *   timed in the session's lowest RTT ever, which an attacker holding the current path cannot
 *   raise, and the tries of a round are at most 1 s apart (review 56). The echo of the round
 *   before the current one validates too (RFC 9000 §8.2.2: any outstanding challenge), else a
 *   candidate slower than a round plus its backoff was never validated (review 63).
 * - When the session moves because the *peer's* address changed (an apparent migration), the
 *   address it left becomes `previous` and is validated too (RFC 9000 §9.3.3): an attacker who
 *   raced copies of the peer's packets from its own address cannot keep the session, because
 *   once the old path echoes its challenge, the next newest authenticated non-probing packet
 *   from it (not the echo itself; session.ts decides once the frames are read) moves the session back. `previous` is forgotten after 3 PTO; after that, packets from it start an
 *   ordinary validation. Packets arriving on `previous` before its validation are in flight
 *   on the path just left and start nothing (following them would bounce the session).
 * - After our own migration (session.migrate) the old address is `previous` without a
 *   challenge and without expiry: the peer follows us once it validates our new address. Not
 *   challenged even once the peer has followed: moving back there also moves the peer, and one
 *   raced packet then made both sides swap paths for good (PROTOCOL.md §2.1, review 63).
 */
import type { PeerAddress } from '../net-types.js'
import { AmplificationBudget } from './amplification.js'
import { KEEP_ALIVE_DATA_SIZE } from './frames.js'

/** Challenges in one round of validating an address (each round: fresh bytes, 3 RTT apart). */
const MAX_CHALLENGES = 5
/**
 * After a round goes unanswered, the next one starts on a newest packet from the address no
 * sooner than 2^(rounds used up, at most this) rounds' length after its last challenge.
 */
const MAX_BACKOFF_DOUBLINGS = 3
/**
 * Bounds of the time between two challenges of a round, 3 RTT (ms): a floor for fast paths, and
 * a cap (about 3 x kInitialRtt) so that an attacker who stretches the current path's RTT (by delaying
 * what it forwards) holds off the next try by at most 1 s (review 56). A try sooner than the
 * candidate's RTT costs nothing but a try: the echo of any try of the round, or of the round
 * before, validates.
 */
const MIN_CHALLENGE_GAP = 50
const MAX_CHALLENGE_GAP = 1000

/** Time between two challenges of a round when the RTT is `rtt` (ms). */
export function challengeGap(rtt: number): number {
  return Math.min(Math.max(3 * rtt, MIN_CHALLENGE_GAP), MAX_CHALLENGE_GAP)
}

/** RFC 9000 §9.3.3 / §9.4: the path left behind is kept for this many PTOs. */
const PREVIOUS_PATH_PTOS = 3

export interface PathProbe {
  address: PeerAddress
  challenge: Uint8Array
  /**
   * The bytes of the round before, also accepted: they went to this same address (a new address
   * is a new probe), and without them an echo slower than the capped backoff never matched.
   */
  earlier: Uint8Array | null
  due: boolean
  retryAt: number
  tries: number
  /** Rounds of MAX_CHALLENGES that went unanswered. */
  rounds: number
  /** Once a round is used up: the earliest time a newest packet from the address starts the next. */
  rearmAt: number
  /** Null for an address validated before (the path just left, unless it never was): no amplification limit. */
  budget: AmplificationBudget | null
}

interface PreviousPath {
  address: PeerAddress
  /** Challenge to the old path (apparent migrations only). */
  probe: PathProbe | null
  validated: boolean
  until: number
}

function probe(address: PeerAddress, random: (n: number) => Uint8Array, budget: AmplificationBudget | null): PathProbe {
  return { address, challenge: random(KEEP_ALIVE_DATA_SIZE), earlier: null, due: true, retryAt: Infinity, tries: 0, rounds: 0, rearmAt: Infinity, budget }
}

function budgetOf(received: number): AmplificationBudget {
  const b = new AmplificationBudget()
  b.onReceived(received)
  return b
}

function sameBytes(data: Uint8Array, challenge: Uint8Array): boolean {
  let d = 0
  for (let i = 0; i < KEEP_ALIVE_DATA_SIZE; i++) d |= data[i]! ^ challenge[i]!
  return d === 0
}

/** `data` echoes the current round's bytes or the round before's; both compared in full (constant time). */
function matches(p: PathProbe, data: Uint8Array): boolean {
  const current = sameBytes(data, p.challenge)
  const earlier = p.earlier !== null && sameBytes(data, p.earlier)
  return current || earlier
}

export class PathValidation {
  private cand: PathProbe | null = null
  private prev: PreviousPath | null = null
  /**
   * The latest unvalidated address that sent only non-newest packets (no candidate): its
   * budget, so an off-path echo to it is charged too; a candidate made for it later takes it over.
   */
  private stray: { address: PeerAddress; budget: AmplificationBudget } | null = null

  /** Smallest challenge packet: header + KEEP_ALIVE frame + AEAD tag. */
  constructor(private readonly minChallengeBytes: number) {}

  get candidate(): PeerAddress | null {
    return this.cand?.address ?? null
  }

  get previous(): PeerAddress | null {
    return this.prev?.address ?? null
  }

  /** The candidate's budget (tests and stats). */
  get candidateBudget(): AmplificationBudget | null {
    return this.cand?.budget ?? null
  }

  private sendable(p: PathProbe | null | undefined): p is PathProbe {
    return !!p && p.due && (!p.budget || p.budget.allowance >= this.minChallengeBytes)
  }

  /** A challenge can go out now. */
  get due(): boolean {
    return this.sendable(this.cand) || this.sendable(this.prev?.probe)
  }

  /** The probe to send now (candidate first), or null. */
  next(): PathProbe | null {
    if (this.sendable(this.cand)) return this.cand
    const pp = this.prev?.probe
    return this.sendable(pp) ? pp : null
  }

  /**
   * An authenticated packet of `len` bytes arrived from `from`. Starts validating a new path
   * when it is one. Returns the address to move back to when `from` is the validated previous
   * path and the packet is the newest (RFC 9000 §9.3.3), else null; the session moves there
   * only if the packet turns out not to be probing (§9.3).
   */
  consider(from: PeerAddress, current: PeerAddress, newest: boolean, bare: boolean, len: number, random: (n: number) => Uint8Array, now: number): PeerAddress | null {
    if (from.key === current.key) return null
    if (this.prev && from.key === this.prev.address.key) return this.prev.validated && newest ? this.prev.address : null
    const starts = newest && !(bare && !from.reliable)
    const c = this.cand
    if (c && from.key === c.address.key) {
      c.budget?.onReceived(len)
      // A used-up candidate the peer keeps sending from is validated again, as a new address
      // would be, after a backoff (docs/PROTOCOL.md §2.1, review 52): else an attacker who
      // dropped one round of challenges kept the session elsewhere for good.
      if (starts && now >= c.rearmAt) {
        c.earlier = c.challenge
        c.challenge = random(KEEP_ALIVE_DATA_SIZE)
        c.tries = 0
        c.rearmAt = Infinity
        c.due = true
      }
      return null
    }
    const stray = this.stray?.address.key === from.key ? this.stray : null
    if (!starts) {
      if (stray) stray.budget.onReceived(len)
      else this.stray = { address: from, budget: budgetOf(len) }
      return null
    }
    // One account per address: what a stray address was already sent stays charged.
    const budget = stray?.budget ?? new AmplificationBudget()
    budget.onReceived(len)
    this.stray = null
    this.cand = probe(from, random, budget)
    return null
  }

  /**
   * The budget a packet sent to `addr` off the current path is charged to: null when `addr`
   * was validated before (the path just left, unless moved() gave it a budget), undefined when it never sent us anything
   * authenticated (nothing may go there), else its 3x account.
   */
  budgetFor(addr: PeerAddress): AmplificationBudget | null | undefined {
    if (this.cand && this.cand.address.key === addr.key) return this.cand.budget
    if (this.prev && this.prev.address.key === addr.key) return this.prev.probe?.budget ?? null
    if (this.stray && this.stray.address.key === addr.key) return this.stray.budget
    return undefined
  }

  /**
   * A KEEP_ALIVE_ACK echoing `data` arrived from `from`. Returns the address to move to: the
   * validated candidate, else null (an echo from the previous path only validates it).
   */
  validated(data: Uint8Array, from: PeerAddress | null): PeerAddress | null {
    if (!from) return null
    const c = this.cand
    if (c && from.key === c.address.key && matches(c, data)) return c.address
    const p = this.prev
    if (p?.probe && from.key === p.address.key && matches(p.probe, data)) {
      // Validated, but the answer itself moves nothing (RFC 9000 §9.3: only the newest
      // non-probing packet does; consider() names the path on the peer's next newest packet there).
      // Moving back on it made a deliberate migration ping-pong: the peer that moved answers
      // our challenge on the path it left, and over a faster old path (UDP vs WebSocket)
      // that answer is often the newest packet (node-migrate.test.ts, UDP -> WebSocket).
      p.validated = true
      p.probe = null
      return null
    }
    return null
  }

  /**
   * The session moved away from `old`. `apparent`: because the peer's address changed (the old
   * path is then validated too and remembered for 3 PTO); otherwise our own migration.
   * `oldBudget`: the 3x account of `old` when it never proved it receives (a resumed session's
   * RESUME address, review 12 finding 3); null when it was validated.
   */
  moved(old: PeerAddress, apparent: boolean, now: number, pto: number, random: (n: number) => Uint8Array, oldBudget: AmplificationBudget | null = null): void {
    this.cand = null
    this.prev = apparent
      ? { address: old, probe: probe(old, random, oldBudget), validated: false, until: now + PREVIOUS_PATH_PTOS * pto }
      : { address: old, probe: null, validated: false, until: Infinity }
  }

  /**
   * A challenge to `p` of `bytes` was just sent: schedule the next try (3 x `smoothedRtt`, within
   * the bounds of challengeGap), or, the round used up, let a newest packet from the address
   * start the next after the backoff: one round's length timed in `lowestRtt` (the session's
   * lowest RTT sample ever, RttEstimator.lowestRtt), doubling up to 8 rounds' length. Not in
   * the smoothed RTT: an attacker holding the current path can stretch that by delaying what it
   * forwards, and so put off the genuine address's next round (review 56). A lowest sample cannot
   * be raised from the path; the cap bounds the backoff even so (40 s at most).
   */
  sent(p: PathProbe, bytes: number, now: number, smoothedRtt: number, lowestRtt: number): void {
    p.due = false
    p.tries++
    p.budget?.onSent(bytes)
    if (p.tries < MAX_CHALLENGES) {
      p.retryAt = now + challengeGap(smoothedRtt)
      return
    }
    p.retryAt = Infinity
    p.rearmAt = now + MAX_CHALLENGES * challengeGap(lowestRtt) * 2 ** Math.min(p.rounds++, MAX_BACKOFF_DOUBLINGS)
  }

  /** Next time onTimeout has work. */
  get retryAt(): number {
    let t = Math.min(this.cand?.retryAt ?? Infinity, this.prev?.probe?.retryAt ?? Infinity)
    if (this.prev) t = Math.min(t, this.prev.until)
    return t
  }

  /** Timer: re-send challenges when due; forget the previous path after 3 PTO. */
  onTimeout(now: number): void {
    for (const p of [this.cand, this.prev?.probe]) {
      if (p && now >= p.retryAt) {
        p.retryAt = Infinity
        p.due = true
      }
    }
    if (this.prev && now >= this.prev.until) this.prev = null
  }
}
