/**
 * Path validation for roaming and migration (RFC 9000 §8.2 in spirit, with STT's KEEP_ALIVE /
 * KEEP_ALIVE_ACK as challenge and response): an authenticated, newest packet from a new
 * address makes that address a candidate; a KEEP_ALIVE with fresh random bytes goes to it;
 * only the echo of those bytes, arriving from that address, moves the session. An on-path
 * attacker re-sending a captured packet from elsewhere therefore cannot redirect a session.
 */
import type { PeerAddress } from '../net-types.js'
import { KEEP_ALIVE_DATA_SIZE } from './frames.js'

/** Challenges sent to one candidate before it is given up. */
const MAX_CHALLENGES = 5

export class PathValidation {
  candidate: PeerAddress | null = null
  challenge: Uint8Array | null = null
  /** A challenge should go out with the next transmit. */
  due = false
  /** When to re-send the challenge (Infinity: not waiting). */
  retryAt = Infinity
  private tries = 0
  /**
   * The address the session moved away from last: packets still in flight on it are not a
   * new path (following them would bounce the session back).
   */
  previous: PeerAddress | null = null

  /**
   * An authenticated packet arrived from `from`. Starts validating it when it is a new path:
   * not the current address, not the one just left, the newest packet, and (for a session
   * that relies on its transport for delivery) a reliable transport.
   */
  consider(from: PeerAddress, current: PeerAddress, newest: boolean, bare: boolean, random: (n: number) => Uint8Array): void {
    if (from.key === current.key || from.key === this.previous?.key || !newest || this.candidate?.key === from.key) return
    if (bare && !from.reliable) return
    this.candidate = from
    this.challenge = random(KEEP_ALIVE_DATA_SIZE)
    this.due = true
    this.tries = 0
    this.retryAt = Infinity
  }

  /** A KEEP_ALIVE_ACK with `data` arrived from `from`: the validated candidate, or null. */
  validated(data: Uint8Array, from: PeerAddress | null): PeerAddress | null {
    const c = this.candidate
    const ch = this.challenge
    if (!c || !ch || !from || from.key !== c.key) return null
    for (let i = 0; i < KEEP_ALIVE_DATA_SIZE; i++) if (data[i] !== ch[i]) return null
    return c
  }

  /** The session moved (validated path, or its own migration) away from `old`. */
  moved(old: PeerAddress): void {
    this.previous = old
    this.candidate = null
    this.challenge = null
    this.due = false
    this.retryAt = Infinity
  }

  /** A challenge was just sent: schedule the next try after `wait` ms, or give up. */
  sent(now: number, wait: number): void {
    this.due = false
    this.tries++
    this.retryAt = this.tries >= MAX_CHALLENGES ? Infinity : now + wait
  }

  /** Timer: re-send when due. */
  onTimeout(now: number): void {
    if (now >= this.retryAt) {
      this.retryAt = Infinity
      this.due = true
    }
  }
}
