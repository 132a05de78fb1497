/**
 * Writes a session's packets that leave off its current path (the validation itself is
 * path-validation.ts, punching off-path.ts): one packet, alone in its batch, through the
 * session's PacketAssembler like every other packet.
 *
 * - Hole punches and answers to them (off-path.ts) go first: they are what opens a direct path.
 * - A path challenge (KEEP_ALIVE with the challenge) is padded to probe the new path's MTU for
 *   full packets as QUIC does, but never past 3x of what came from the unvalidated address,
 *   retries included (issue 10, item 4; PathValidation.next only returns a probe whose budget
 *   holds at least the unpadded packet).
 * - Neither is in flight nor waited for: they go to a candidate, not the session's path.
 */
import type { PeerAddress } from '../net-types.js'
import { AEAD_TAG_SIZE, FrameType, HEADER_SIZE } from './constants.js'
import { KEEP_ALIVE_DATA_SIZE, writeFrame } from './frames.js'
import type { OffPathSender } from './off-path.js'
import type { FrameSource, PacketAssembler, PacketBody, SentRecord } from './packet-assembler.js'
import type { PacketSpace } from './packet-space.js'
import type { PathValidation } from './path-validation.js'
import type { RttEstimator } from './rtt.js'

/** Header + KEEP_ALIVE with its 8 bytes + tag: the smallest challenge or punch. */
export const PATH_PROBE_SIZE = HEADER_SIZE + 1 + KEEP_ALIVE_DATA_SIZE + AEAD_TAG_SIZE

// Placeholder until a path challenge is due: shared, so an idle session allocates none.
const NO_CHALLENGE = new Uint8Array(KEEP_ALIVE_DATA_SIZE)

export class PathProber implements FrameSource {
  /** The challenge `writeFrames` writes: set by write for one packet, then the placeholder again. */
  private challenge: Uint8Array = NO_CHALLENGE

  constructor(
    private readonly path: PathValidation,
    private readonly offPath: OffPathSender,
    private readonly assembler: PacketAssembler,
    private readonly space: PacketSpace,
    private readonly rtt: RttEstimator,
  ) {}

  /**
   * Writes the punch or path challenge due now into packet 0 of the slab, sealed; returns its
   * destination, or null. `punching`: the session may punch (active); `validating`: it may
   * challenge (active or suspended); `maxPacket`: the session's current packet size.
   */
  write(now: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, punching: boolean, validating: boolean, maxPacket: number): PeerAddress | null {
    const off = punching ? this.offPath.next(now) : null
    if (off) {
      lengths[0] = this.assembler.assemble(now, slab, offsets[0]!, PATH_PROBE_SIZE, this.offPath, false, false)
      this.space.seal(slab, offsets, lengths, 1)
      this.offPath.sent(now, lengths[0]!)
      return off
    }
    const probe = validating ? this.path.next() : null
    if (!probe) return null
    const room = Math.min(maxPacket, 1200, probe.budget ? probe.budget.allowance : Infinity)
    this.challenge = probe.challenge
    const size = this.assembler.assemble(now, slab, offsets[0]!, room, this, false, false)
    this.challenge = NO_CHALLENGE
    lengths[0] = size
    this.space.seal(slab, offsets, lengths, 1)
    this.path.sent(probe, size, now, this.rtt.smoothedRtt, this.rtt.lowestRtt)
    return probe.address
  }

  /** Frame source of a path challenge: the challenge, padded to the end of the packet. */
  writeFrames(buf: Uint8Array, pos: number, end: number, _rec: SentRecord, body: PacketBody): number {
    pos = writeFrame(buf, pos, { type: FrameType.KEEP_ALIVE, data: this.challenge })
    pos = writeFrame(buf, pos, { type: FrameType.PADDING, length: end - pos })
    body.ackEliciting = false
    body.inFlight = false
    return pos
  }
}
