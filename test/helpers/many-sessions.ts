/**
 * Two sans-I/O endpoints holding many sessions at once, for the idle-session and memory
 * tests: endpoints built from options, and a pump that moves every datagram both ways.
 */
import { randomBytes } from 'node:crypto'
import { resolveProtocolConfig } from '../../src/config.js'
import { aead } from '../../src/crypto/index.js'
import type { PeerAddress } from '../../src/net-types.js'
import { Endpoint, type CoreEvent } from '../../src/protocol/endpoint.js'

/** An endpoint with the backend's AEAD and real randomness at virtual time `now`. */
export function endpointWith(opts: Record<string, unknown>, name: string, now: number): Endpoint {
  const rnd = (n: number) => new Uint8Array(randomBytes(n))
  return new Endpoint(resolveProtocolConfig({ ...opts, name }, rnd), aead, rnd, now)
}

/**
 * Moves every datagram both ways at `now` until neither endpoint has anything to send, and
 * collects their events. `deliver` false: what they send is polled and lost (a blackout).
 */
export function pumpAll(a: Endpoint, b: Endpoint, addrA: PeerAddress, addrB: PeerAddress, now: number, events: CoreEvent[], deliver = true): void {
  for (let moved = true; moved; ) {
    moved = false
    for (const [from, to, fromAddr] of [[a, b, addrA], [b, a, addrB]] as const) {
      for (let tx = from.pollTransmit(now); tx; tx = from.pollTransmit(now)) {
        if (!deliver) continue
        moved = true
        // Copy only the datagrams (the endpoint's transmit slab is megabytes).
        const offsets = new Uint32Array(tx.count)
        const lengths = tx.lengths.slice(0, tx.count)
        let size = 0
        for (let i = 0; i < tx.count; i++) size += lengths[i]!
        const slab = new Uint8Array(size)
        for (let i = 0, at = 0; i < tx.count; at += lengths[i]!, i++) {
          offsets[i] = at
          slab.set(tx.slab.subarray(tx.offsets[i]!, tx.offsets[i]! + lengths[i]!), at)
        }
        to.handleBatch(now, { slab, offsets, lengths, count: tx.count, from: new Array<PeerAddress>(tx.count).fill(fromAddr) })
      }
    }
    for (const ep of [a, b]) for (let e = ep.pollEvent(); e; e = ep.pollEvent()) events.push(e)
  }
}
