/**
 * Writes a session's path MTU probes (the search itself is pmtu.ts): one packet, alone in its
 * batch, through the session's PacketAssembler like every other packet.
 *
 * - Alone: a datagram larger than its neighbours must never share a GSO super-datagram with
 *   data (the kernel refuses a GSO segment size above the link MTU with EINVAL, and the native
 *   socket would take that for "no GSO here").
 * - KEEP_ALIVE + PADDING: the peer answers the KEEP_ALIVE at once, so the ACK is not delayed,
 *   and nothing in the probe needs resending when it is lost.
 * - Waits for the congestion window and the pacer like data, but is tracked outside bytes in
 *   flight and arms no PTO: its loss never shrinks the window nor resends anything (RFC 9000
 *   §14.4); the search's own timer (one PTO) or loss recovery settles it. A black-hole
 *   confirmation (base size, after a PTO) ignores the window and the pacer, like a PTO probe,
 *   and goes after the PTO's own probes.
 */
import { AEAD_TAG_SIZE, HEADER_SIZE } from './constants.js'
import { KEEP_ALIVE_DATA_SIZE } from './frames.js'
import type { FrameSource, PacketAssembler, PacketBody, SentRecord } from './packet-assembler.js'
import type { PacketSpace } from './packet-space.js'
import { type PmtuSearch, writeProbeFrames } from './pmtu.js'
import type { RttEstimator } from './rtt.js'
import type { CongestionSlot } from './session-writer.js'

export class PmtuProber implements FrameSource {
  private now = 0

  constructor(
    private readonly pmtu: PmtuSearch,
    private readonly assembler: PacketAssembler,
    private readonly space: PacketSpace,
    /** The session's controller and pacer (none before its first data: a new one would let the probe go). */
    private readonly congestion: CongestionSlot,
    private readonly rtt: RttEstimator,
    /** The endpoint's randomness: a probe's KEEP_ALIVE carries fresh bytes. */
    private readonly random: (n: number) => Uint8Array,
  ) {}

  /** Writes the probe the search wants into packet 0 of the slab, sealed; false when none goes now. */
  write(now: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array): boolean {
    const size = this.pmtu.probeDue()
    if (size === 0 || slab.length - offsets[0]! < size) return false
    const cc = this.congestion.cc
    const confirmation = this.pmtu.isConfirmation(size)
    // The PTO's own probes go first: they may carry the data that was lost, and the
    // confirmation judges the path by what is acknowledged after the PTO anyway.
    if (confirmation && this.congestion.probesWanted > 0) return false
    // A black-hole confirmation goes like a PTO probe: the lost full-size packets may fill the window.
    if (cc !== null && !confirmation && (!cc.canSend(size) || this.congestion.pacer!.nextSendTime(now, size) > now)) return false
    this.now = now
    lengths[0] = this.assembler.assemble(now, slab, offsets[0]!, size, this, false, false)
    this.space.seal(slab, offsets, lengths, 1)
    return true
  }

  writeFrames(buf: Uint8Array, pos: number, end: number, rec: SentRecord, body: PacketBody): number {
    body.ackEliciting = false
    body.inFlight = false
    rec.pmtuProbe = this.pmtu.onProbeSent(end + AEAD_TAG_SIZE - (pos - HEADER_SIZE), this.now, this.rtt.pto())
    return writeProbeFrames(buf, pos, end, this.random(KEEP_ALIVE_DATA_SIZE))
  }
}
