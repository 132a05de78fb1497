/**
 * Endpoints on a zero-latency virtual network for resumption tests (issue 12, part 2): every
 * datagram is delivered at once, timers advance on a virtual clock. `tap` sees each datagram
 * (and may drop it), `inject` delivers one from any address (a spoofed source), and `bytesTo`
 * counts what each address was sent, endpoint or not (a victim of spoofing is just an address).
 */
import { randomBytes } from 'node:crypto'
import { resolveProtocolConfig } from '../../src/config.js'
import { jsAead } from '../../src/crypto/js-aead.js'
import type { PeerAddress } from '../../src/net-types.js'
import { Endpoint, type CoreEvent } from '../../src/protocol/endpoint.js'
import type { Session } from '../../src/protocol/session.js'
import { fakeAddress } from './endpoint-pair.js'

export const rnd = (n: number) => new Uint8Array(randomBytes(n))

export class Net {
  now = 1_000_000
  readonly eps = new Map<string, { ep: Endpoint; addr: PeerAddress; events: CoreEvent[] }>()
  /** Datagrams (and round trips) seen, per packet type byte. */
  readonly types: number[] = []
  /** Bytes sent to each address key. */
  readonly bytesTo = new Map<string, number>()
  /** Sees every datagram before delivery; returning false drops it. */
  tap: (d: Uint8Array, from: PeerAddress, to: PeerAddress) => boolean = () => true
  add(name: string, opts: Record<string, unknown>): Endpoint {
    const ep = new Endpoint(resolveProtocolConfig({ name, ...opts }, rnd), jsAead, rnd, this.now)
    ep.syncWallClock(this.now, 1_700_000_000_000 + this.now)
    this.eps.set(name, { ep, addr: fakeAddress(name), events: [] })
    return ep
  }
  addr(name: string): PeerAddress {
    return this.eps.get(name)!.addr
  }
  events(name: string): CoreEvent[] {
    return this.eps.get(name)!.events
  }
  /** Delivers `d` to the endpoint at `to` (if any) as coming from `from`. */
  inject(to: PeerAddress, d: Uint8Array, from: PeerAddress): void {
    const ep = [...this.eps.values()].find((e) => e.addr.key === to.key)
    ep?.ep.handleBatch(this.now, { slab: d.slice(), offsets: new Uint32Array([0]), lengths: new Uint32Array([d.length]), count: 1, from: [from] })
  }

  /** Delivers everything at once (zero latency) until quiet, then advances `ms` of timers. */
  run(ms = 0): void {
    const end = this.now + ms
    for (;;) {
      for (let moved = true; moved; ) {
        moved = false
        for (const from of this.eps.values()) {
          for (let tx = from.ep.pollTransmit(this.now); tx; tx = from.ep.pollTransmit(this.now)) {
            for (let i = 0; i < tx.count; i++) {
              const d = tx.slab.slice(tx.offsets[i]!, tx.offsets[i]! + tx.lengths[i]!)
              this.types.push(d[1]!)
              this.bytesTo.set(tx.to.key, (this.bytesTo.get(tx.to.key) ?? 0) + d.length)
              moved = true
              if (this.tap(d, from.addr, tx.to)) this.inject(tx.to, d, from.addr)
            }
          }
          for (let e = from.ep.pollEvent(); e; e = from.ep.pollEvent()) from.events.push(e)
        }
      }
      const next = Math.min(...[...this.eps.values()].map((e) => e.ep.pollTimeout(this.now)))
      if (next > end) break
      this.now = Math.max(this.now, next)
      for (const e of this.eps.values()) e.ep.handleTimeout(this.now)
    }
    this.now = end
  }
}

export function setup(serverOpts: Record<string, unknown> = {}) {
  const net = new Net()
  const sharedSeed = rnd(32)
  const clientSeed = rnd(32)
  const server = net.add('server', { sharedSeed, ...serverOpts })
  const client = net.add('client', { sharedSeed, nodeSeed: clientSeed })
  client.connect(net.now, net.addr('server'))
  net.run(10)
  const connected = net.events('client').find((e) => e.kind === 'connected') as { session: Session }
  const token = (net.events('client').find((e) => e.kind === 'resumption-token') as { token: Uint8Array } | undefined)?.token
  return { net, sharedSeed, clientSeed, server, client, session: connected.session, token: token! }
}

export function connectedOn(net: Net, name: string, handle: number) {
  return net.events(name).find((e) => (e.kind === 'connected' || e.kind === 'connect-failed') && e.handle === handle) as
    | { kind: 'connected'; session: Session }
    | { kind: 'connect-failed'; error: { code: string } }
    | undefined
}
