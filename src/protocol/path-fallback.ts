/**
 * Falling back from a punched direct path to the relay channel it replaced (docs/PROTOCOL.md
 * §8.4). Sans-I/O.
 *
 * After a session moved from its relay channel to a punched direct path, the channel stays
 * its *fallback*. When the direct path dies (a NAT forgets the mapping and gives a new one, a
 * firewall starts dropping), the session goes back to the channel instead of waiting for the
 * idle timeout:
 * - **The side that sends** notices first: FALLBACK_PTOS probe timeouts in a row with nothing
 *   acknowledged on the direct path. It moves to the fallback as in its own migration (§2.1),
 *   and its next packets, probes included, go through the relay.
 * - **The other side follows** when a newest authenticated packet arrives from the fallback
 *   while the direct path has been silent for more than 3 PTO. Packets that were merely still
 *   in flight on the channel when both moved to the direct path arrive within that window (or
 *   are not the newest), so they never bounce a working session back.
 * The fallback address was validated before (the session ran on it), and the relay forwards
 * only between the two members' authenticated relay sessions: no new address gets anything.
 */
import type { PeerAddress } from '../net-types.js'

/** Consecutive PTOs on the direct path (backoff 1, 2, 4 x PTO: about 7 PTO) before falling back. */
export const FALLBACK_PTOS = 3
/** The peer's silence on the current path, in PTOs, before a packet from the fallback is followed. */
const FOLLOW_SILENCE_PTOS = 3

export class PathFallback {
  /** The relay channel to go back to (null: none; set by the NAT member). */
  address: PeerAddress | null = null
  /** When the current path last delivered an authenticated packet (or was moved to). */
  private lastOnCurrent = 0
  /** Times the session fell back (stats). */
  count = 0

  /** The session's `current` path is its relay channel. */
  holds(current: PeerAddress): boolean {
    return this.address !== null && current.key === this.address.key
  }

  /** The session moved to a new path at `now`. */
  moved(now: number): void {
    this.lastOnCurrent = now
  }

  /** A probe timeout fired; `ptoCount` in a row: the fallback to move to now, or null. */
  onPto(ptoCount: number, current: PeerAddress): PeerAddress | null {
    if (!this.address || current.key === this.address.key || ptoCount < FALLBACK_PTOS) return null
    this.count++
    return this.address
  }

  /** An authenticated packet from `from` (`newest`: highest packet number yet): the fallback to follow the peer to, or null. */
  onPacket(from: PeerAddress, current: PeerAddress, newest: boolean, now: number, pto: number): PeerAddress | null {
    if (from.key === current.key) {
      this.lastOnCurrent = now
      return null
    }
    if (!this.address || from.key !== this.address.key || !newest) return null
    if (now - this.lastOnCurrent <= FOLLOW_SILENCE_PTOS * pto) return null
    this.count++
    return this.address
  }
}
