/**
 * In-memory harness for the core-* tests: two sans-I/O Endpoints, a virtual clock, seeded
 * randomness (reproducible from the printed seed), a log of every datagram sent, and a `tap`
 * that may drop, duplicate or rewrite each datagram in flight. Not a test file itself.
 */
import { resolveProtocolConfig } from '../../src/config.js'
import type { AeadBackend } from '../../src/crypto/aead.js'
import { jsAead } from '../../src/crypto/js-aead.js'
import type { STTError } from '../../src/errors.js'
import { Endpoint, type CoreEvent } from '../../src/protocol/endpoint.js'
import type { Session } from '../../src/protocol/session.js'
import type { PeerAddress } from '../../src/transport/types.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'
import { Rng, seededRandom } from '../helpers/rng.js'

export type Side = 'a' | 'b'
export interface Datagram {
  from: Side
  to: Side
  data: Uint8Array
  at: number
  /** Address the receiver sees (normally the sender's). */
  fromAddr: PeerAddress
  /** The destination the endpoint chose (a third-party address leaves the simulation). */
  toKey: string
}

export const PT = { HELLO: 0x01, CHALLENGE: 0x02, AUTH_PROOF: 0x03, FINAL: 0x04, DATA: 0x10, ERROR: 0xff } as const
export const typeOf = (d: Uint8Array) => d[1]!

export interface PairOptions {
  a?: Record<string, unknown>
  b?: Record<string, unknown>
  seed?: string
  sharedSeed?: Uint8Array
  aead?: AeadBackend
  latency?: number
}

export class CorePair {
  now = 1_700_000_000_000
  readonly a: Endpoint
  readonly b: Endpoint
  readonly addrA = fakeAddress('a')
  readonly addrB = fakeAddress('b')
  readonly eventsA: CoreEvent[] = []
  readonly eventsB: CoreEvent[] = []
  /** Every datagram the endpoints emitted, before the tap. */
  readonly log: Datagram[] = []
  /** Decides what arrives: [] drops, [d, d] duplicates, a changed copy corrupts. */
  tap: (d: Datagram) => Uint8Array[] = (d) => [d.data]
  readonly sharedSeed: Uint8Array
  readonly rng: Rng
  private queue: Datagram[] = []
  latency: number

  constructor(o: PairOptions = {}) {
    this.rng = new Rng(o.seed ?? 'core-pair')
    this.sharedSeed = o.sharedSeed ?? this.rng.fork('shared').bytes(32)
    const rA = seededRandom(this.rng.fork('a'))
    const rB = seededRandom(this.rng.fork('b'))
    const aead = o.aead ?? jsAead
    this.a = new Endpoint(resolveProtocolConfig({ sharedSeed: this.sharedSeed, name: 'A', ...o.a }, rA), aead, rA, this.now)
    this.b = new Endpoint(resolveProtocolConfig({ sharedSeed: this.sharedSeed, name: 'B', ...o.b }, rB), aead, rB, this.now)
    this.latency = o.latency ?? 5
  }

  ep(s: Side): Endpoint {
    return s === 'a' ? this.a : this.b
  }

  /** Hands `packets` to side b as ONE receive batch (as recvmmsg leaves it; `backlog`: it filled every slot), then flushes. */
  batchToB(packets: Array<{ data: Uint8Array; from: PeerAddress }>, backlog: boolean): void {
    const slab = new Uint8Array(packets.reduce((n, x) => n + x.data.length, 0))
    const offsets = new Uint32Array(packets.length)
    const lengths = new Uint32Array(packets.length)
    let at = 0
    packets.forEach((x, i) => {
      slab.set(x.data, at)
      offsets[i] = at
      lengths[i] = x.data.length
      at += x.data.length
    })
    this.b.handleBatch(this.now, { slab, offsets, lengths, count: packets.length, from: packets.map((x) => x.from), ...(backlog ? { backlog: true } : {}) })
    this.flush()
  }

  flush(): void {
    for (const side of ['a', 'b'] as const) {
      const ep = this.ep(side)
      for (let tx = ep.pollTransmit(this.now); tx; tx = ep.pollTransmit(this.now)) {
        for (let i = 0; i < tx.count; i++) {
          const data = tx.slab.slice(tx.offsets[i]!, tx.offsets[i]! + tx.lengths[i]!)
          const to: Side = tx.to.key === this.addrA.key ? 'a' : tx.to.key === this.addrB.key ? 'b' : side === 'a' ? 'b' : 'a'
          const d: Datagram = { from: side, to, data, at: this.now + this.latency, fromAddr: side === 'a' ? this.addrA : this.addrB, toKey: tx.to.key }
          this.log.push(d)
          // Datagrams addressed elsewhere (a third-party address) leave the simulation.
          if (tx.to.key !== this.addrA.key && tx.to.key !== this.addrB.key) continue
          for (const copy of this.tap(d)) this.queue.push({ ...d, data: copy })
        }
      }
      for (let e = ep.pollEvent(); e; e = ep.pollEvent()) (side === 'a' ? this.eventsA : this.eventsB).push(e)
    }
  }

  /** Delivers `data` to `to` right now, as if sent from `fromAddr` (default: the other side). */
  deliver(to: Side, data: Uint8Array, fromAddr?: PeerAddress): void {
    const slab = data.slice()
    const from = fromAddr ?? (to === 'a' ? this.addrB : this.addrA)
    this.ep(to).handleBatch(this.now, { slab, offsets: new Uint32Array([0]), lengths: new Uint32Array([slab.length]), count: 1, from: [from] })
    this.flush()
  }

  /** Runs the virtual network until `until()` holds or `maxMs` of virtual time pass. */
  run(until: () => boolean, maxMs = 60_000): boolean {
    const end = this.now + maxMs
    this.flush()
    while (!until()) {
      const tA = this.a.pollTimeout(this.now)
      const tB = this.b.pollTimeout(this.now)
      let tQ = Infinity
      for (const d of this.queue) if (d.at < tQ) tQ = d.at
      const next = Math.max(this.now, Math.min(tA, tB, tQ))
      if (next === Infinity || next > end) {
        if (end !== Infinity) this.now = Math.max(this.now, end)
        return until()
      }
      this.now = next
      const due = this.queue.filter((d) => d.at <= this.now)
      this.queue = this.queue.filter((d) => d.at > this.now)
      for (const d of due) {
        const slab = d.data.slice()
        this.ep(d.to).handleBatch(this.now, { slab, offsets: new Uint32Array([0]), lengths: new Uint32Array([slab.length]), count: 1, from: [d.fromAddr] })
      }
      if (this.now >= tA) this.a.handleTimeout(this.now)
      if (this.now >= tB) this.b.handleTimeout(this.now)
      this.flush()
    }
    return true
  }

  /** Lets `ms` of virtual time pass. */
  advance(ms: number): void {
    this.run(() => false, ms)
  }

  connected(): Session[] {
    return this.eventsA.filter((e) => e.kind === 'connected').map((e) => (e as { session: Session }).session)
  }

  accepted(): Session[] {
    return this.eventsB.filter((e) => e.kind === 'accepted').map((e) => (e as { session: Session }).session)
  }

  failures(): STTError[] {
    return this.eventsA.filter((e) => e.kind === 'connect-failed').map((e) => (e as { error: STTError }).error)
  }

  /** Connects a -> b and runs until the outcome; returns both sessions. */
  handshake(opts: Parameters<Endpoint['connect']>[2] = {}, maxMs = 60_000): { sa: Session; sb: Session } {
    const before = this.connected().length
    const failed = this.failures().length
    this.a.connect(this.now, this.addrB, opts)
    this.run(() => this.connected().length > before || this.failures().length > failed, maxMs)
    const sa = this.connected()[before]
    if (!sa) throw new Error(`handshake did not complete: ${this.failures().map((f) => f.code).join(', ')}`)
    const sb = this.accepted().find((s) => Buffer.from(s.id).equals(Buffer.from(sa.id)))
    if (!sb) throw new Error('initiator connected but the responder never accepted')
    return { sa, sb }
  }

  sessionEvents(side: Side, type: string): Array<{ session: Session; event: { type: string; [k: string]: unknown } }> {
    return (side === 'a' ? this.eventsA : this.eventsB).filter((e) => e.kind === type).map((e) => ({ session: e.session, event: e })) as never
  }

  /** Sends a datagram each way and runs until both arrive; true on success. */
  roundTrip(sa: Session, sb: Session, tag: string, maxMs = 10_000): boolean {
    const payload = (s: string) => new TextEncoder().encode(s)
    const got = (side: Side, s: string) => this.sessionEvents(side, 'datagram').some((e) => Buffer.from(e.event.data as Uint8Array).toString() === s)
    sa.sendDatagram(payload(`${tag}:a->b`))
    sb.sendDatagram(payload(`${tag}:b->a`))
    return this.run(() => got('b', `${tag}:a->b`) && got('a', `${tag}:b->a`), maxMs)
  }
}

export function totalDropped(ep: Endpoint): number {
  let n = Object.values(ep.counters.dropped).reduce((x, y) => x + y, 0)
  for (const s of ep.allSessions()) n += Object.values(s.counters.dropped).reduce((x, y) => x + y, 0)
  return n
}
