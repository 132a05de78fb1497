/**
 * Packets a session sends somewhere other than its current path (docs/PROTOCOL.md §2.1, §8.4):
 *
 * - **Path responses on the arrival path.** A KEEP_ALIVE that arrives from an address other
 *   than the session's current one is echoed back to the address it came from (RFC 9000
 *   §8.2.2: a PATH_RESPONSE goes on the path of its PATH_CHALLENGE), in a small unpadded
 *   packet of its own. That is what lets a hole-punch challenge that crossed two NATs be
 *   answered directly while the session still runs over the relay. The response is no larger
 *   than the authenticated packet that asked for it (at most 1x, within the 3x rule), only the
 *   latest one is kept, and the replay window already dropped repeats of old packets.
 * - **Punches** (punch.ts) to the peer's candidate addresses.
 *
 * Both are neither ack-eliciting nor in flight: congestion control and loss recovery never see
 * them, exactly like path challenges.
 */
import type { AmplificationBudget } from './amplification.js'
import { KEEP_ALIVE_DATA_SIZE, writeFrame } from './frames.js'
import type { FrameSource } from './packet-assembler.js'
import { PunchSchedule, type PunchStats } from './punch.js'
import type { PeerAddress } from '../net-types.js'
import { AEAD_TAG_SIZE, FrameType, HEADER_SIZE } from './constants.js'

/** header + KEEP_ALIVE(_ACK) frame + tag: the whole size of a punch or a path response. */
export const OFF_PATH_PACKET_SIZE = HEADER_SIZE + 1 + KEEP_ALIVE_DATA_SIZE + AEAD_TAG_SIZE

export class OffPathSender {
  private response: { to: PeerAddress; data: Uint8Array } | null = null
  private punch: PunchSchedule | null = null
  /** What the frame source writes for the packet being assembled. */
  private frameType: number = FrameType.KEEP_ALIVE
  private frameData: Uint8Array = new Uint8Array(KEEP_ALIVE_DATA_SIZE)
  private pending: ReturnType<PunchSchedule['next']> = null

  startPunch(addresses: PeerAddress[], now: number, random: (n: number) => Uint8Array, budget: AmplificationBudget): void {
    this.punch = new PunchSchedule(addresses, now, random, budget)
  }

  /** A KEEP_ALIVE arrived from `from`; true when it is answered here (off the current path). */
  onKeepAlive(data: Uint8Array, from: PeerAddress | null, current: PeerAddress): boolean {
    if (!from || from.key === current.key) return false
    this.response = { to: from, data: data.slice(0, KEEP_ALIVE_DATA_SIZE) }
    return true
  }

  /** A KEEP_ALIVE_ACK arrived from `from`: the punched address it validates, or null. */
  answered(data: Uint8Array, from: PeerAddress | null): PeerAddress | null {
    return from && this.punch ? this.punch.answered(data, from) : null
  }

  due(now: number): boolean {
    return this.response !== null || (this.punch?.due(now, OFF_PATH_PACKET_SIZE) ?? false)
  }

  get nextAt(): number {
    return this.punch?.nextAt ?? Infinity
  }

  /** Picks the next off-path packet: its destination (the frame source then writes it), or null. */
  next(now: number): PeerAddress | null {
    if (this.response) {
      this.frameType = FrameType.KEEP_ALIVE_ACK
      this.frameData = this.response.data
      const to = this.response.to
      this.response = null
      this.pending = null
      return to
    }
    const t = this.punch?.next(now, OFF_PATH_PACKET_SIZE) ?? null
    if (!t) return null
    this.frameType = FrameType.KEEP_ALIVE
    this.frameData = t.challenge
    this.pending = t
    return t.address
  }

  /** The packet picked by next() went out with `bytes`. */
  sent(now: number, bytes: number): void {
    if (this.pending) this.punch!.sent(this.pending, bytes, now)
    this.pending = null
  }

  readonly frames: FrameSource = (buf, pos, _end, _rec, body) => {
    pos = writeFrame(buf, pos, { type: this.frameType as typeof FrameType.KEEP_ALIVE, data: this.frameData })
    body.ackEliciting = false
    body.inFlight = false
    return pos
  }

  stats(): PunchStats | null {
    return this.punch?.stats() ?? null
  }
}
