/**
 * The endpoint's handshake datagrams waiting to be sent, each to its own address: answers to
 * HELLOs (RETRY, CHALLENGE, ERROR), FINAL, AUTH_PROOF, the initiator's HELLO retransmissions,
 * resumption packets. Sessions' packets never come here (they are written at pollTransmit).
 *
 * pollBatch hands them over many at a time as one MultiTxBatch: under a HELLO flood the answers
 * of one receive batch go to as many addresses as there were HELLOs, and one transport call
 * (one sendmmsg on the native UDP socket, a msg_name per message) carries them all instead of
 * one call per answer (issue 14: a RETRY per sendmsg was about a quarter of a flooded
 * responder's CPU). What each address gets is unchanged: the same datagrams, in the same order.
 */
import type { MultiTxBatch, PeerAddress } from '../net-types.js'

/**
 * Most datagrams in one batch: what one sendmmsg carries (MAX_MSGS of the native ABI; the
 * protocol layer does not import it), and a bound on the copy.
 */
export const HANDSHAKE_TX_BATCH = 64

export class Outbox {
  private readonly to: PeerAddress[] = []
  private readonly data: Uint8Array[] = []
  /** Index of the oldest entry not handed over yet (no Array.shift per datagram). */
  private head = 0
  /** What pollBatch returns, refilled on each call (valid until the next one). */
  private readonly batch: MultiTxBatch = {
    slab: new Uint8Array(2048),
    offsets: new Uint32Array(HANDSHAKE_TX_BATCH),
    lengths: new Uint32Array(HANDSHAKE_TX_BATCH),
    count: 0,
    dests: [],
  }

  get length(): number {
    return this.to.length - this.head
  }

  push(to: PeerAddress, data: Uint8Array): void {
    this.to.push(to)
    this.data.push(data)
  }

  /** The oldest datagram alone, or undefined (Endpoint.pollTransmit's one-destination batches). */
  shift(): { to: PeerAddress; data: Uint8Array } | undefined {
    if (this.head === this.to.length) return undefined
    const out = { to: this.to[this.head]!, data: this.data[this.head]! }
    this.advance(1)
    return out
  }

  /**
   * The oldest datagrams, up to `max`, that go to addresses of the oldest one's transport kind
   * (the driver hands a batch to one transport), copied side by side into one slab; null when
   * empty. Order is kept, so a later datagram of another kind waits for the next call.
   */
  pollBatch(max = HANDSHAKE_TX_BATCH): MultiTxBatch | null {
    const start = this.head
    const end = this.to.length
    if (start === end) return null
    const kind = this.to[start]!.kind
    const limit = Math.min(max, HANDSHAKE_TX_BATCH)
    let n = 0
    let bytes = 0
    while (start + n < end && n < limit && this.to[start + n]!.kind === kind) bytes += this.data[start + n++]!.length
    const b = this.batch
    if (b.slab.length < bytes) b.slab = new Uint8Array(Math.max(bytes, 2 * b.slab.length))
    const dests = b.dests
    dests.length = n
    let at = 0
    for (let i = 0; i < n; i++) {
      const d = this.data[start + i]!
      b.slab.set(d, at)
      b.offsets[i] = at
      b.lengths[i] = d.length
      dests[i] = this.to[start + i]!
      at += d.length
    }
    b.count = n
    this.advance(n)
    return b
  }

  private advance(n: number): void {
    this.head += n
    if (this.head === this.to.length) {
      // Drained (the usual end of a service pass): start over, holding no sent datagram.
      this.to.length = 0
      this.data.length = 0
      this.head = 0
    } else if (this.head >= 1024 && 2 * this.head >= this.to.length) {
      // Never fully drained for a long while: drop the sent prefix so it is not kept alive.
      this.to.splice(0, this.head)
      this.data.splice(0, this.head)
      this.head = 0
    }
  }
}
