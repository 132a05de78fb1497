/**
 * Packets a session sends somewhere other than its current path (docs/PROTOCOL.md §2.1, §8.4):
 *
 * - **Path responses on the arrival path.** A KEEP_ALIVE that arrives from an address other
 *   than the session's current one is echoed back to the address it came from (RFC 9000
 *   §8.2.2: a PATH_RESPONSE goes on the path of its PATH_CHALLENGE), in a small unpadded
 *   packet of its own. That is what lets a hole-punch challenge that crossed two NATs be
 *   answered directly while the session still runs over the relay. The response is charged to
 *   the same 3x account as the path challenge that the same packet starts (path-validation.ts):
 *   one packet from a new address used to buy a 3x challenge *plus* an uncharged echo (4x).
 *   An echo that no longer fits the account is not sent (counted, 'echo-over-budget'); only
 *   the latest one is kept, and the replay window already dropped repeats of old packets.
 * - **Punches** (punch.ts) to the peer's candidate addresses.
 *
 * Both are neither ack-eliciting nor in flight: congestion control and loss recovery never see
 * them, exactly like path challenges.
 */
import type { AmplificationBudget } from './amplification.js'
import { KEEP_ALIVE_DATA_SIZE, writeFrame } from './frames.js'
import type { FrameSource, PacketBody, SentRecord } from './packet-assembler.js'
import type { SessionCounters } from './session-stats.js'
import { PunchSchedule, type PunchStats } from './punch.js'
import type { PeerAddress } from '../net-types.js'
import { AEAD_TAG_SIZE, FrameType, HEADER_SIZE } from './constants.js'

/** header + KEEP_ALIVE(_ACK) frame + tag: the whole size of a punch or a path response. */
export const OFF_PATH_PACKET_SIZE = HEADER_SIZE + 1 + KEEP_ALIVE_DATA_SIZE + AEAD_TAG_SIZE

// What the frame source writes between packets: shared, so a session that never punches or
// echoes holds no buffer of its own, and none is kept after the packet is sent (issue 14).
const NO_FRAME_DATA = new Uint8Array(KEEP_ALIVE_DATA_SIZE)

export class OffPathSender implements FrameSource {
  /** `counters`: an echo not sent because its address's 3x account could not pay for it is counted there. */
  constructor(private readonly counters: SessionCounters) {}

  private response: { to: PeerAddress; data: Uint8Array; budget: AmplificationBudget | null } | null = null
  private punch: PunchSchedule | null = null
  /** What the frame source writes for the packet being assembled. */
  private frameType: number = FrameType.KEEP_ALIVE
  private frameData: Uint8Array = NO_FRAME_DATA
  private pending: ReturnType<PunchSchedule['next']> = null
  /** The account the echo picked by next() is charged to once sent. */
  private responseBudget: AmplificationBudget | null = null

  startPunch(addresses: PeerAddress[], now: number, random: (n: number) => Uint8Array, budget: AmplificationBudget): void {
    this.punch = new PunchSchedule(addresses, now, random, budget)
  }

  /**
   * A KEEP_ALIVE arrived from `from`; true when it is handled here (off the current path):
   * answered, or refused because `budget` (the 3x account of `from`: null for an address
   * validated before, undefined for one with no account) cannot pay for the echo.
   */
  onKeepAlive(data: Uint8Array, from: PeerAddress | null, current: PeerAddress, budget: AmplificationBudget | null | undefined): boolean {
    if (!from || from.key === current.key) return false
    if (budget === undefined || (budget !== null && budget.allowance < OFF_PATH_PACKET_SIZE)) {
      this.counters.drop('echo-over-budget')
      return true
    }
    this.response = { to: from, data: data.slice(0, KEEP_ALIVE_DATA_SIZE), budget }
    return true
  }

  /** The queued echo, unless its address's account can no longer pay for it (then dropped). */
  private takeResponse(): OffPathSender['response'] {
    const r = this.response
    if (r?.budget && r.budget.allowance < OFF_PATH_PACKET_SIZE) {
      this.response = null
      this.counters.drop('echo-over-budget')
      return null
    }
    return r
  }

  /** `addr` was validated by a path challenge: true when it is one of the addresses we punch (the punch is then done). */
  reachedPunchTarget(addr: PeerAddress): boolean {
    return this.punch?.reached(addr) ?? false
  }

  /** A KEEP_ALIVE_ACK arrived from `from`: the punched address it validates, or null. */
  answered(data: Uint8Array, from: PeerAddress | null): PeerAddress | null {
    return from && this.punch ? this.punch.answered(data, from) : null
  }

  due(now: number): boolean {
    return this.takeResponse() !== null || (this.punch?.due(now, OFF_PATH_PACKET_SIZE) ?? false)
  }

  get nextAt(): number {
    return this.punch?.nextAt ?? Infinity
  }

  /** Picks the next off-path packet: its destination (the frame source then writes it), or null. */
  next(now: number): PeerAddress | null {
    const r = this.takeResponse()
    if (r) {
      this.frameType = FrameType.KEEP_ALIVE_ACK
      this.frameData = r.data
      this.response = null
      this.pending = null
      this.responseBudget = r.budget
      return r.to
    }
    this.responseBudget = null
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
    this.responseBudget?.onSent(bytes)
    this.responseBudget = null
    this.pending = null
    this.frameData = NO_FRAME_DATA
  }

  writeFrames(buf: Uint8Array, pos: number, _end: number, _rec: SentRecord, body: PacketBody): number {
    pos = writeFrame(buf, pos, { type: this.frameType as typeof FrameType.KEEP_ALIVE, data: this.frameData })
    body.ackEliciting = false
    body.inFlight = false
    return pos
  }

  stats(): PunchStats | null {
    return this.punch?.stats() ?? null
  }
}
