/**
 * UDP hole punching for a session that runs over a relay (docs/PROTOCOL.md §8.4). Sans-I/O.
 *
 * After an introduction both members punch at once: each sends, to each of the peer's
 * candidate addresses, a protected packet of the session holding one KEEP_ALIVE with fresh
 * random bytes (a path challenge). The outbound packet opens our own NAT's mapping toward
 * that address; the peer's simultaneous packets then find it open. The peer answers a
 * KEEP_ALIVE that arrived off its current path on the path it arrived on (session.ts), so an
 * echo of our challenge arriving *from the candidate* proves the direct path works both ways:
 * the session then moves there (path validation, nothing lost: streams are above paths).
 *
 * Pacing: tries at 0, 20, 60, 140, 300, 620 ms after the start (doubling gaps), at most one
 * packet per candidate per try. Budget: every punch of a round counts against 3x the bytes
 * the peer really sent us through the relay (since the channel opened, or since the previous
 * round), over all candidates; an address that never answers gets at most MAX_TRIES small
 * packets per round.
 */
import { AmplificationBudget } from './amplification.js'
import { KEEP_ALIVE_DATA_SIZE } from './frames.js'
import type { PeerAddress } from '../net-types.js'

const MAX_TRIES = 6
const FIRST_GAP_MS = 20

interface PunchTarget {
  address: PeerAddress
  challenge: Uint8Array
  tries: number
  nextAt: number
}

export interface PunchStats {
  candidates: number
  punchesSent: number
  /** Bytes received that this round's budget rests on (3x of it may be sent). */
  creditBytes: number
  succeeded: string | null
}

export class PunchSchedule {
  private readonly targets: PunchTarget[]
  private sentPackets = 0
  private done: PeerAddress | null = null

  constructor(
    addresses: PeerAddress[],
    now: number,
    random: (n: number) => Uint8Array,
    private readonly budget: AmplificationBudget,
  ) {
    this.targets = addresses.map((address) => ({ address, challenge: random(KEEP_ALIVE_DATA_SIZE), tries: 0, nextAt: now }))
  }

  /** A punch is due at `now` (and the budget holds one of `minBytes`). */
  due(now: number, minBytes: number): boolean {
    return this.next(now, minBytes) !== null
  }

  /** The target to punch now, or null. */
  next(now: number, minBytes: number): PunchTarget | null {
    if (this.done || this.budget.allowance < minBytes) return null
    for (const t of this.targets) if (t.tries < MAX_TRIES && now >= t.nextAt) return t
    return null
  }

  /** A punch of `bytes` went to `t`. */
  sent(t: PunchTarget, bytes: number, now: number): void {
    this.budget.onSent(bytes)
    this.sentPackets++
    t.tries++
    t.nextAt = now + FIRST_GAP_MS * 2 ** (t.tries - 1)
  }

  /** Next time a punch becomes due (Infinity when finished). */
  get nextAt(): number {
    if (this.done) return Infinity
    let at = Infinity
    for (const t of this.targets) if (t.tries < MAX_TRIES && t.nextAt < at) at = t.nextAt
    return at
  }

  /** A KEEP_ALIVE_ACK with `data` came from `from`: the punched address when it echoes our challenge. */
  answered(data: Uint8Array, from: PeerAddress): PeerAddress | null {
    if (this.done) return null
    for (const t of this.targets) {
      if (t.address.key !== from.key) continue
      let d = 0
      for (let i = 0; i < KEEP_ALIVE_DATA_SIZE; i++) d |= data[i]! ^ t.challenge[i]!
      if (d !== 0) return null
      this.done = t.address
      return t.address
    }
    return null
  }

  /**
   * `addr` echoed a path challenge (§2.1) and is one of our targets: it proved what a punch's
   * echo proves, so the punch is done there too. True when it is a target and the punch was
   * not done yet: once done, a later challenge echoed from a target (after the peer's NAT
   * rebound elsewhere, say) is an ordinary apparent migration, not a punch (review of 872e59b:
   * an attacker racing packets spoofed from the old target would otherwise pin the session).
   */
  reached(addr: PeerAddress): boolean {
    if (this.done) return false
    const t = this.targets.find((x) => x.address.key === addr.key)
    if (t) this.done = t.address
    return !!t
  }

  get finished(): boolean {
    return this.done !== null || this.nextAt === Infinity
  }

  stats(): PunchStats {
    return { candidates: this.targets.length, punchesSent: this.sentPackets, creditBytes: this.budget.bytesReceived, succeeded: this.done?.toString() ?? null }
  }
}
