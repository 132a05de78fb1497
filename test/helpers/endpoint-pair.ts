/**
 * Two sans-I/O endpoints joined by an in-memory wire with a virtual clock: the smallest
 * harness for handshake and session tests. Loss/duplication are explicit hooks.
 */
import { randomBytes } from 'node:crypto'
import { resolveProtocolConfig } from '../../src/config.js'
import { jsAead } from '../../src/crypto/js-aead.js'
import type { AeadBackend } from '../../src/crypto/aead.js'
import { Endpoint, type CoreEvent } from '../../src/protocol/endpoint.js'
import type { PeerAddress } from '../../src/net-types.js'

/** A plain address value of the simulated transport kind `sim`. */
export function fakeAddress(name: string, reliable = false): PeerAddress {
  return { key: `sim:${name}`, kind: 'sim', reliable, toString: () => `sim://${name}` }
}

export interface Wire {
  from: 'a' | 'b'
  data: Uint8Array
}

export class EndpointPair {
  now = 1_000_000
  readonly a: Endpoint
  readonly b: Endpoint
  readonly addrA: PeerAddress
  readonly addrB: PeerAddress
  readonly eventsA: CoreEvent[] = []
  readonly eventsB: CoreEvent[] = []
  /** Return false to drop a datagram in flight. */
  filter: (w: Wire, index: number) => boolean = () => true
  sent = 0
  private queue: Array<Wire & { at: number }> = []
  latency = 5

  constructor(
    optsA: Record<string, unknown> = {},
    optsB: Record<string, unknown> = {},
    seed = randomBytes(32),
    aead: AeadBackend = jsAead,
    reliable = false,
  ) {
    const rnd = (n: number) => new Uint8Array(randomBytes(n))
    this.a = new Endpoint(resolveProtocolConfig({ sharedSeed: seed, name: 'A', ...optsA }, rnd), aead, rnd, this.now)
    this.b = new Endpoint(resolveProtocolConfig({ sharedSeed: seed, name: 'B', ...optsB }, rnd), aead, rnd, this.now)
    this.addrA = fakeAddress('a', reliable)
    this.addrB = fakeAddress('b', reliable)
  }

  private flush(): void {
    for (const [ep, from] of [[this.a, 'a'], [this.b, 'b']] as const) {
      for (let tx = ep.pollTransmit(this.now); tx; tx = ep.pollTransmit(this.now)) {
        for (let i = 0; i < tx.count; i++) {
          const data = tx.slab.slice(tx.offsets[i]!, tx.offsets[i]! + tx.lengths[i]!)
          const w = { from, data, at: this.now + this.latency }
          if (this.filter(w, this.sent++)) this.queue.push(w)
        }
      }
      for (let e = ep.pollEvent(); e; e = ep.pollEvent()) (from === 'a' ? this.eventsA : this.eventsB).push(e)
    }
  }

  /** Delivers a raw datagram now, as if from `from`. */
  inject(to: 'a' | 'b', data: Uint8Array): void {
    const ep = to === 'a' ? this.a : this.b
    const slab = data.slice()
    ep.handleBatch(this.now, { slab, offsets: new Uint32Array([0]), lengths: new Uint32Array([slab.length]), count: 1, from: [to === 'a' ? this.addrB : this.addrA] })
    this.flush()
  }

  /** Runs the virtual network until `until()` or `maxMs` of virtual time pass. */
  run(until: () => boolean, maxMs = 60_000): boolean {
    const end = this.now + maxMs
    this.flush()
    while (!until()) {
      const tA = this.a.pollTimeout(this.now)
      const tB = this.b.pollTimeout(this.now)
      const tQ = this.queue.length ? Math.min(...this.queue.map((w) => w.at)) : Infinity
      const next = Math.max(this.now, Math.min(tA, tB, tQ))
      if (next === Infinity || next > end) return until()
      this.now = next
      const due = this.queue.filter((w) => w.at <= this.now)
      this.queue = this.queue.filter((w) => w.at > this.now)
      for (const w of due) {
        const ep = w.from === 'a' ? this.b : this.a
        ep.handleBatch(this.now, { slab: w.data, offsets: new Uint32Array([0]), lengths: new Uint32Array([w.data.length]), count: 1, from: [w.from === 'a' ? this.addrA : this.addrB] })
      }
      if (this.now >= tA) this.a.handleTimeout(this.now)
      if (this.now >= tB) this.b.handleTimeout(this.now)
      this.flush()
    }
    return true
  }
}
