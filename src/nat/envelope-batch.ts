/**
 * One pass over a received batch for relay envelopes, shared by the relay (which forwards
 * them) and a member (which unwraps them): batches without an envelope, nearly all of them,
 * are returned as they are, with no allocation.
 */
import { isRelayEnvelope, RELAY_HEADER_SIZE } from '../protocol/rendezvous.js'
import type { PeerAddress, RxBatch } from '../transport/types.js'

/**
 * What becomes of one envelope: `null` consumed (forwarded or dropped here), `'keep'` handed to
 * the endpoint as it is (which drops and counts it), or the address its inner packet is
 * delivered from (the envelope header stripped).
 */
export type EnvelopeAction = PeerAddress | 'keep' | null

/** The batch with each envelope replaced by what `onEnvelope` made of it; null when nothing is left. */
export function mapEnvelopes(batch: RxBatch, onEnvelope: (slab: Uint8Array, off: number, len: number, from: PeerAddress) => EnvelopeAction): RxBatch | null {
  let any = false
  for (let i = 0; i < batch.count && !any; i++) any = isRelayEnvelope(batch.slab, batch.offsets[i]!, batch.lengths[i]!)
  if (!any) return batch
  const offsets = new Uint32Array(batch.count)
  const lengths = new Uint32Array(batch.count)
  const from: PeerAddress[] = []
  let n = 0
  for (let i = 0; i < batch.count; i++) {
    const off = batch.offsets[i]!
    const len = batch.lengths[i]!
    const src = batch.from[i]!
    const action: EnvelopeAction = isRelayEnvelope(batch.slab, off, len) ? onEnvelope(batch.slab, off, len, src) : 'keep'
    if (action === null) continue
    const inner = action !== 'keep'
    offsets[n] = inner ? off + RELAY_HEADER_SIZE : off
    lengths[n] = inner ? len - RELAY_HEADER_SIZE : len
    from.push(inner ? action : src)
    n++
  }
  return n === 0 ? null : { slab: batch.slab, offsets, lengths, count: n, from, backlog: batch.backlog }
}
