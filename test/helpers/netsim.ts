/**
 * Deterministic network simulator for sans-I/O endpoints (lesson 12: simulation first).
 *
 * Nothing here touches sockets or real timers. Time is a number of virtual milliseconds that
 * only moves when the driver says so, and every random choice comes from a seeded `Rng`, so a
 * failing scenario replays bit for bit from its seed.
 *
 * Flow of one datagram through `Network.send(now, from, to, bytes)`:
 *   1. the bytes are copied (the sender may reuse its slab the moment `send` returns);
 *   2. the `from -> to` Link decides its fate, in this order:
 *        filter hook -> blackout -> MTU -> bottleneck queue (tail drop) -> random loss ->
 *        burst loss (Gilbert-Elliott) -> corruption -> duplication -> delay/jitter/reorder;
 *   3. surviving copies wait in the network's event heap until `deliverDue(now)` hands them out.
 * Loss is applied *after* the queue: a datagram lost on the wire still used the bottleneck's
 * bandwidth, as on a real link.
 *
 * `runUntil` (bottom of the file) is the quinn-style driver: deliver, fire timers, poll
 * transmits, advance the clock to the next event; repeat until a condition holds.
 */

import type { BoundAddress, PeerAddress, RxBatch, Transport, TransportEvents, TransportStats, TxBatch } from '../../src/transport/types.js'
import { Rng } from './rng.js'

// ---------------------------------------------------------------------------------------------
// Min-heap ordered by (time, insertion sequence): equal-time events pop in FIFO order, which keeps
// runs deterministic without relying on the engine's sort stability.

interface HeapEntry<T> {
  time: number
  seq: number
  value: T
}

export class MinHeap<T> {
  private items: HeapEntry<T>[] = []
  private seq = 0

  get size(): number {
    return this.items.length
  }

  push(time: number, value: T): void {
    const items = this.items
    items.push({ time, seq: this.seq++, value })
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!less(items[i]!, items[parent]!)) break
      swap(items, i, parent)
      i = parent
    }
  }

  peekTime(): number | null {
    return this.items.length > 0 ? this.items[0]!.time : null
  }

  pop(): HeapEntry<T> | undefined {
    const items = this.items
    if (items.length === 0) return undefined
    const top = items[0]!
    const last = items.pop()!
    if (items.length > 0) {
      items[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < items.length && less(items[l]!, items[m]!)) m = l
        if (r < items.length && less(items[r]!, items[m]!)) m = r
        if (m === i) break
        swap(items, i, m)
        i = m
      }
    }
    return top
  }
}

function less<T>(a: HeapEntry<T>, b: HeapEntry<T>): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq)
}

function swap<T>(items: T[], i: number, j: number): void {
  const tmp = items[i]!
  items[i] = items[j]!
  items[j] = tmp
}

// ---------------------------------------------------------------------------------------------
// Virtual clock: the current time plus scheduled scenario actions ("at t=5000 start a blackout").
// Datagrams in flight live in the Network's own heap; endpoint timers live in the endpoints.

export class VirtualClock {
  private current: number
  private readonly events = new MinHeap<() => void>()

  constructor(start = 0) {
    this.current = start
  }

  get now(): number {
    return this.current
  }

  /** Moves time forward to `time` (never backwards: the protocol may assume monotonic time). */
  advanceTo(time: number): void {
    if (time < this.current) throw new Error(`VirtualClock: cannot go back from ${this.current} to ${time}`)
    this.current = time
  }

  /** Moves time forward by `ms`. Does not run scheduled actions; `runDue` does. */
  advance(ms: number): void {
    this.advanceTo(this.current + ms)
  }

  /** Schedules `fn` at absolute time `at` (the driver runs it when the clock reaches `at`). */
  schedule(at: number, fn: () => void): void {
    this.events.push(at, fn)
  }

  /** Schedules `fn` `ms` from now. */
  after(ms: number, fn: () => void): void {
    this.schedule(this.current + ms, fn)
  }

  nextEventTime(): number | null {
    return this.events.peekTime()
  }

  /** Runs every action scheduled at or before now, in time order. Returns how many ran. */
  runDue(): number {
    let ran = 0
    for (let t = this.events.peekTime(); t !== null && t <= this.current; t = this.events.peekTime()) {
      this.events.pop()!.value()
      ran++
    }
    return ran
  }
}

// ---------------------------------------------------------------------------------------------
// Link: one direction of a path.

export type DropReason = 'filter' | 'blackout' | 'mtu' | 'queue' | 'loss' | 'burst'
export type FilterVerdict = 'pass' | 'drop'

/** What the per-datagram filter hook sees. `index` counts every datagram offered to this link, from 0. */
export interface LinkDatagram {
  index: number
  now: number
  bytes: Uint8Array
}

export interface GilbertElliott {
  /** Per-datagram probability of moving good -> bad. */
  pGoodToBad: number
  /** Per-datagram probability of moving bad -> good (mean burst length is 1 / pBadToGood). */
  pBadToGood: number
  /** Loss probability while bad (default 1). */
  lossInBad?: number
  /** Loss probability while good (default 0). */
  lossInGood?: number
}

export interface LinkConfig {
  /** One-way propagation delay in ms (default 0). */
  delayMs?: number
  /** Uniform extra delay in [0, jitterMs]. Jitter alone never reorders (see `reorder`, `jitterReorders`). */
  jitterMs?: number
  /**
   * Jitter drawn per datagram reorders, as the C emulator's does (bench/netem/emu.c) and as a
   * path with several queues does: a datagram with less jitter overtakes one sent just before.
   */
  jitterReorders?: boolean
  /** Bottleneck rate in bytes per second; 0 or undefined = infinitely fast (no serialization delay). */
  bandwidth?: number
  /** Bytes allowed to wait for the bottleneck (tail drop beyond). Only meaningful with `bandwidth`. */
  queueBytes?: number
  /** Largest datagram carried; larger ones are dropped with reason 'mtu'. */
  mtu?: number
  /** Independent random loss probability per datagram. */
  loss?: number
  /** Bursty loss (Gilbert-Elliott two-state model). */
  burst?: GilbertElliott
  /** With probability `rate`, hold a datagram back by `extraDelayMs` so later ones overtake it. */
  reorder?: { rate: number; extraDelayMs: number }
  /** Probability that a datagram is delivered twice. */
  duplicate?: number
  /** Probability that a delivered copy has bits flipped (`corruptBits`, default 1, distinct bits). */
  corrupt?: number
  corruptBits?: number
  /** Windows [start, end) of virtual time (by send time) during which everything is dropped. */
  blackouts?: ReadonlyArray<readonly [number, number]>
  /**
   * Windows [start, end) of virtual time (by arrival time) during which the receiving host is
   * stalled: nothing is lost, but whatever would arrive is held until `end` and then delivered
   * in order, like a process that stops reading its socket for a while (a loaded machine, a GC
   * pause, a descheduled VM). RTT samples spike; the path itself does not change.
   */
  stalls?: ReadonlyArray<readonly [number, number]>
  /** Per-datagram hook, e.g. `({ index }) => index === 3 ? 'drop' : 'pass'`. Returning true also drops. */
  filter?: (d: LinkDatagram) => FilterVerdict | boolean
}

export interface LinkStats {
  /** Datagrams offered to the link. */
  sent: number
  bytesSent: number
  /** Copies handed to the receiver (duplicates count twice). */
  delivered: number
  bytesDelivered: number
  dropped: Record<DropReason, number>
  duplicated: number
  corrupted: number
  /** Datagrams held back by the reorder knob (whether or not something actually overtook them). */
  reordered: number
}

/** One copy the link decided to deliver. */
export interface Departure {
  at: number
  bytes: Uint8Array
}

function emptyStats(): LinkStats {
  return {
    sent: 0,
    bytesSent: 0,
    delivered: 0,
    bytesDelivered: 0,
    dropped: { filter: 0, blackout: 0, mtu: 0, queue: 0, loss: 0, burst: 0 },
    duplicated: 0,
    corrupted: 0,
    reordered: 0,
  }
}

export class Link {
  config: LinkConfig
  readonly stats: LinkStats = emptyStats()
  // One generator per knob: enabling one knob never changes another knob's decisions.
  private readonly rngLoss: Rng
  private readonly rngBurst: Rng
  private readonly rngJitter: Rng
  private readonly rngReorder: Rng
  private readonly rngDup: Rng
  private readonly rngCorrupt: Rng
  /** Gilbert-Elliott state. */
  private bad = false
  /** When the bottleneck finishes serializing what it already accepted. */
  private busyUntil = -Infinity
  /** Latest in-order delivery time: jitter is clamped to it so it cannot reorder. */
  private lastInOrder = -Infinity

  constructor(config: LinkConfig, rng: Rng) {
    this.config = { ...config }
    this.rngLoss = rng.fork('loss')
    this.rngBurst = rng.fork('burst')
    this.rngJitter = rng.fork('jitter')
    this.rngReorder = rng.fork('reorder')
    this.rngDup = rng.fork('dup')
    this.rngCorrupt = rng.fork('corrupt')
  }

  /** Changes knobs at run time (merged over the current config). */
  set(patch: LinkConfig): void {
    this.config = { ...this.config, ...patch }
  }

  /** Bytes waiting for (or being serialized by) the bottleneck at `now` (fluid approximation). */
  backlogBytes(now: number): number {
    const bw = this.config.bandwidth
    if (bw === undefined || bw <= 0) return 0
    return Math.max(0, ((this.busyUntil - now) * bw) / 1000)
  }

  /**
   * Decides the fate of one datagram sent at `now`. `bytes` must already be a private copy.
   * Returns the copies to deliver (0, 1 or 2) or the drop reason.
   */
  transmit(now: number, bytes: Uint8Array): Departure[] | DropReason {
    const c = this.config
    const index = this.stats.sent
    this.stats.sent++
    this.stats.bytesSent += bytes.length

    const drop = (reason: DropReason): DropReason => {
      this.stats.dropped[reason]++
      return reason
    }

    if (c.filter !== undefined) {
      const verdict = c.filter({ index, now, bytes })
      if (verdict === true || verdict === 'drop') return drop('filter')
    }
    if (c.blackouts?.some(([start, end]) => now >= start && now < end)) return drop('blackout')
    if (c.mtu !== undefined && bytes.length > c.mtu) return drop('mtu')

    // Bottleneck: serialization delay and a byte-limited FIFO in front of it.
    let departAt = now
    const bw = c.bandwidth
    if (bw !== undefined && bw > 0) {
      if (c.queueBytes !== undefined && this.backlogBytes(now) + bytes.length > c.queueBytes) return drop('queue')
      const start = Math.max(now, this.busyUntil)
      departAt = start + (bytes.length * 1000) / bw
      this.busyUntil = departAt
    }

    if (this.rngLoss.chance(c.loss ?? 0)) return drop('loss')
    if (c.burst !== undefined) {
      const b = c.burst
      // Transition first, then draw the loss for the state we are in.
      if (this.bad ? this.rngBurst.chance(b.pBadToGood) : this.rngBurst.chance(b.pGoodToBad)) this.bad = !this.bad
      if (this.rngBurst.chance(this.bad ? (b.lossInBad ?? 1) : (b.lossInGood ?? 0))) return drop('burst')
    }

    const copies = this.rngDup.chance(c.duplicate ?? 0) ? 2 : 1
    if (copies === 2) this.stats.duplicated++

    let arriveAt = departAt + (c.delayMs ?? 0)
    if (c.jitterMs !== undefined && c.jitterMs > 0) arriveAt += this.rngJitter.float() * c.jitterMs
    const stall = c.stalls?.find(([start, end]) => arriveAt >= start && arriveAt < end)
    if (stall !== undefined) arriveAt = stall[1]
    if (c.jitterReorders === true) {
      // Per-datagram jitter, not clamped to the in-order stream.
    } else if (c.reorder !== undefined && this.rngReorder.chance(c.reorder.rate)) {
      // Held back: not clamped, and does not hold back the in-order stream behind it.
      this.stats.reordered++
      arriveAt += c.reorder.extraDelayMs
    } else {
      arriveAt = Math.max(arriveAt, this.lastInOrder)
      this.lastInOrder = arriveAt
    }

    const out: Departure[] = []
    for (let i = 0; i < copies; i++) {
      // Each copy is corrupted independently, and always in its own buffer.
      const copy = i === 0 ? bytes : bytes.slice()
      if (copy.length > 0 && this.rngCorrupt.chance(c.corrupt ?? 0)) {
        flipBits(copy, c.corruptBits ?? 1, this.rngCorrupt)
        this.stats.corrupted++
      }
      out.push({ at: arriveAt, bytes: copy })
    }
    return out
  }
}

/** Flips `n` distinct bits of `buf` (so the result always differs from the original). */
export function flipBits(buf: Uint8Array, n: number, rng: Rng): void {
  const total = buf.length * 8
  const chosen = new Set<number>()
  while (chosen.size < Math.min(n, total)) chosen.add(rng.int(total))
  for (const bit of chosen) buf[bit >> 3]! ^= 1 << (bit & 7)
}

// ---------------------------------------------------------------------------------------------
// Network: named nodes, one Link per ordered pair, and the in-flight heap.

export interface Delivery {
  to: string
  from: string
  data: Uint8Array
}

export interface TraceEntry {
  time: number
  from: string
  to: string
  /** Index of the datagram on its link. */
  index: number
  size: number
  event: 'drop' | 'depart' | 'deliver'
  reason?: DropReason
  /** For 'depart': when it will arrive. */
  at?: number
}

export interface NetworkOptions {
  seed: number | string
  /** Config for links not configured explicitly. */
  defaults?: LinkConfig
  /** Record a trace of every datagram's fate (for determinism tests and failure dumps). */
  trace?: boolean
}

export class Network {
  readonly rng: Rng
  readonly trace: TraceEntry[] | null
  defaults: LinkConfig
  private readonly links = new Map<string, Link>()
  private readonly inFlight = new MinHeap<Delivery & { index: number }>()
  private readonly hosts = new Map<string, SimHost>()
  private latest = -Infinity
  /** NAT: node -> the public name its datagrams carry as source (see setNat). */
  private readonly natOut = new Map<string, string>()
  /** NAT: public name -> node that receives what is addressed to it. */
  private readonly natIn = new Map<string, string>()

  constructor(options: NetworkOptions) {
    this.rng = new Rng(options.seed)
    this.defaults = { ...(options.defaults ?? {}) }
    this.trace = options.trace === true ? [] : null
  }

  /** The latest `now` this network was called with (what sim transports use as "now"). */
  get now(): number {
    return this.latest
  }

  /** The link `from -> to`, created from the defaults on first use. */
  link(from: string, to: string): Link {
    const key = `${from}->${to}`
    let link = this.links.get(key)
    if (link === undefined) {
      // Forked by name, so a link's randomness does not depend on creation order.
      link = new Link(this.defaults, this.rng.fork(`link:${key}`))
      this.links.set(key, link)
    }
    return link
  }

  /** Configures both directions between `a` and `b` (the reverse gets `back` when given). */
  connect(a: string, b: string, config: LinkConfig = {}, back: LinkConfig = config): void {
    this.link(a, b).set(config)
    this.link(b, a).set(back)
  }

  /** Applies a patch to both directions, e.g. `setBoth('c', 's', { blackouts: [[1000, 3000]] })`. */
  setBoth(a: string, b: string, patch: LinkConfig): void {
    this.link(a, b).set(patch)
    this.link(b, a).set(patch)
  }

  /** Every link created so far, keyed `from->to`. */
  allLinks(): ReadonlyMap<string, Link> {
    return this.links
  }

  /**
   * NAT rebinding / roaming: from now on, datagrams sent by `node` appear to come from
   * `publicName` (they use the `publicName -> peer` links, and the peer sees a `sim:publicName`
   * address), and datagrams addressed to `publicName` are delivered to `node`. The previous
   * public name stops mapping to `node` (datagrams to it then reach whoever owns that name:
   * with no such node they vanish). Datagrams to the node's own name still reach it; cut that
   * path with a link knob when the old address must die. `null` removes the mapping.
   */
  setNat(node: string, publicName: string | null): void {
    const old = this.natOut.get(node)
    if (old !== undefined) this.natIn.delete(old)
    if (publicName === null) {
      this.natOut.delete(node)
      return
    }
    this.natOut.set(node, publicName)
    this.natIn.set(publicName, node)
  }

  /** The name `node`'s datagrams currently carry as source. */
  publicName(node: string): string {
    return this.natOut.get(node) ?? node
  }

  /** Sends one datagram. The bytes are copied before this returns. */
  send(now: number, sender: string, to: string, bytes: Uint8Array): void {
    this.touch(now)
    const from = this.natOut.get(sender) ?? sender
    const link = this.link(from, to)
    const index = link.stats.sent
    const fate = link.transmit(now, bytes.slice())
    if (typeof fate === 'string') {
      this.trace?.push({ time: now, from, to, index, size: bytes.length, event: 'drop', reason: fate })
      return
    }
    for (const d of fate) {
      this.inFlight.push(d.at, { from, to, data: d.bytes, index })
      this.trace?.push({ time: now, from, to, index, size: bytes.length, event: 'depart', at: d.at })
    }
  }

  /** When the next datagram arrives, or null if nothing is in flight. */
  nextEventTime(): number | null {
    return this.inFlight.peekTime()
  }

  get inFlightCount(): number {
    return this.inFlight.size
  }

  /** Removes and returns every datagram due at or before `now`, in arrival order. */
  deliverDue(now: number): Delivery[] {
    this.touch(now)
    const out: Delivery[] = []
    for (let t = this.inFlight.peekTime(); t !== null && t <= now; t = this.inFlight.peekTime()) {
      const { value } = this.inFlight.pop()!
      const stats = this.link(value.from, value.to).stats
      stats.delivered++
      stats.bytesDelivered += value.data.length
      this.trace?.push({ time: now, from: value.from, to: value.to, index: value.index, size: value.data.length, event: 'deliver' })
      out.push({ to: this.natIn.get(value.to) ?? value.to, from: value.from, data: value.data })
    }
    return out
  }

  /** The PeerAddress/Transport adapter for node `name` (see SimHost). */
  host(name: string): SimHost {
    let host = this.hosts.get(name)
    if (host === undefined) {
      host = new SimHost(this, name)
      this.hosts.set(name, host)
    }
    return host
  }

  /** Per-link stats as a plain object, handy in failure messages. */
  statsSummary(): Record<string, LinkStats> {
    const out: Record<string, LinkStats> = {}
    for (const [key, link] of this.links) out[key] = link.stats
    return out
  }

  private touch(now: number): void {
    if (now > this.latest) this.latest = now
  }
}

// ---------------------------------------------------------------------------------------------
// Adapter between simulated nodes and the Transport types the core speaks.

export const SIM_KEY_PREFIX = 'sim:'

/**
 * A stand-in Transport for one simulated node (kind `sim`). The driver moves datagrams via
 * pollTransmit, but `send` also works (it injects into the network at the network's current
 * time), which is handy for forging traffic.
 */
export class SimTransport implements Transport {
  readonly kind = 'sim'
  readonly reliable = false
  readonly batchSize = 64
  readonly maxDatagramSize: number
  events: TransportEvents | null = null
  private readonly counters = { packetsSent: 0, bytesSent: 0, packetsReceived: 0, bytesReceived: 0 }

  constructor(
    private readonly host: SimHost,
    mtu = 65507,
  ) {
    this.maxDatagramSize = mtu
  }

  attach(events: TransportEvents): void {
    this.events = events
  }

  async listen(): Promise<BoundAddress> {
    return { host: this.host.name, port: 0 }
  }

  async dial(target: string): Promise<PeerAddress> {
    return this.host.addressOf(target.startsWith(SIM_KEY_PREFIX) ? target.slice(SIM_KEY_PREFIX.length) : target)
  }

  send(batch: TxBatch): void {
    const to = this.host.nodeOf(batch.to)
    const now = this.host.network.now === -Infinity ? 0 : this.host.network.now
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i]!
      const len = batch.lengths[i]!
      this.counters.packetsSent++
      this.counters.bytesSent += len
      this.host.network.send(now, this.host.name, to, batch.slab.subarray(off, off + len))
    }
  }

  /** Called by the driver for every batch it hands to this node's endpoint. */
  countReceived(batch: RxBatch): void {
    this.counters.packetsReceived += batch.count
    for (let i = 0; i < batch.count; i++) this.counters.bytesReceived += batch.lengths[i]!
  }

  getStats(): TransportStats {
    return { kind: this.kind, ...this.counters, sendErrors: 0, dropped: {} }
  }

  async close(): Promise<void> {}
}

/** One simulated node: its transport, its view of other nodes' addresses, batch conversion. */
export class SimHost {
  readonly transport: SimTransport
  private readonly addresses = new Map<string, PeerAddress>()

  constructor(
    readonly network: Network,
    readonly name: string,
  ) {
    this.transport = new SimTransport(this)
  }

  /** The address under which this node reaches `remote` (cached: same object every time). */
  addressOf(remote: string): PeerAddress {
    let addr = this.addresses.get(remote)
    if (addr === undefined) {
      const key = SIM_KEY_PREFIX + remote
      addr = Object.freeze({ key, kind: this.transport.kind, reliable: this.transport.reliable, host: remote, toString: () => `sim://${remote}` }) as PeerAddress
      this.addresses.set(remote, addr)
    }
    return addr
  }

  /** The node name behind a `sim:` address; throws on foreign addresses (a bug in the endpoint). */
  nodeOf(addr: PeerAddress): string {
    if (!addr.key.startsWith(SIM_KEY_PREFIX)) throw new Error(`SimHost ${this.name}: not a sim address: ${addr.key}`)
    return addr.key.slice(SIM_KEY_PREFIX.length)
  }

  /**
   * Packs deliveries addressed to this node into RxBatches of at most `batchSize`, each with a
   * fresh slab: receivers decrypt in place, so no two datagrams (or duplicates) may share bytes.
   */
  toRxBatches(deliveries: readonly Delivery[], batchSize = this.transport.batchSize): RxBatch[] {
    const out: RxBatch[] = []
    for (let start = 0; start < deliveries.length; start += batchSize) {
      const chunk = deliveries.slice(start, start + batchSize)
      let total = 0
      for (const d of chunk) total += d.data.length
      const slab = new Uint8Array(total)
      const offsets = new Uint32Array(chunk.length)
      const lengths = new Uint32Array(chunk.length)
      const from: PeerAddress[] = []
      let pos = 0
      chunk.forEach((d, i) => {
        slab.set(d.data, pos)
        offsets[i] = pos
        lengths[i] = d.data.length
        pos += d.data.length
        from.push(this.addressOf(d.from))
      })
      out.push({ slab, offsets, lengths, count: chunk.length, from })
    }
    return out
  }
}

/** Builds a one-datagram-per-entry TxBatch: for tests that drive an endpoint or transport by hand. */
export function txBatchOf(to: PeerAddress, datagrams: readonly Uint8Array[]): TxBatch {
  let total = 0
  for (const d of datagrams) total += d.length
  const slab = new Uint8Array(total)
  const offsets = new Uint32Array(datagrams.length)
  const lengths = new Uint32Array(datagrams.length)
  let pos = 0
  datagrams.forEach((d, i) => {
    slab.set(d, pos)
    offsets[i] = pos
    lengths[i] = d.length
    pos += d.length
  })
  return { slab, offsets, lengths, count: datagrams.length, to }
}

// ---------------------------------------------------------------------------------------------
// Driver.

/** The sans-I/O surface the driver needs (quinn-style handle_* in, poll_* out). */
export interface SansIoEndpoint {
  handleBatch(now: number, batch: RxBatch): void
  handleTimeout(now: number): void
  /** Next datagrams to send, all to one address; call until null. */
  pollTransmit(now: number): TxBatch | null
  /** Absolute deadline in ms of the earliest timer, or null. */
  pollTimeout(): number | null
  pollEvent?(): unknown | null
}

export interface RunOptions {
  clock: VirtualClock
  network: Network
  /** Endpoints by node name; iteration order (insertion order) is the processing order. */
  endpoints: Record<string, SansIoEndpoint> | ReadonlyMap<string, SansIoEndpoint>
  /** Stop as soon as this holds (checked before each step and after each step's work). */
  until?: () => boolean
  /** Virtual-time limit (absolute ms). Default: start + 10 minutes. */
  maxTime?: number
  /** Step limit (one step = one point in virtual time). Default 1,000,000. */
  maxSteps?: number
  /** When given, the driver drains `pollEvent` after every step and reports each event here. */
  onEvent?: (node: string, event: unknown, now: number) => void
  /** Return the result instead of throwing when `until` was not reached. */
  allowFail?: boolean
  /** Per node: when its event loop is busy and how late its timers fire (a real process on a shared machine). */
  schedules?: Record<string, HostSchedule>
}

/**
 * How a node's event loop deviates from an ideal one. A real sender shares its CPUs with its
 * peer and other processes: its loop stalls for tens of ms (on-CPU work, or descheduled), and a
 * Node timer fires 1-2 ms after its deadline. The driver models both for one node:
 *  - busy windows [start, end) (absolute virtual ms, sorted): inside one the node runs no timer,
 *    reads nothing and sends nothing; what arrived meanwhile is handed over at `end` (as from a
 *    socket buffer), then its timers run and it transmits;
 *  - timer lateness: each timer deadline fires that many ms late, drawn uniformly from
 *    [0, timerLatenessMs) with the network's seeded generator (once per distinct deadline).
 */
export interface HostSchedule {
  busy?: ReadonlyArray<readonly [number, number]>
  timerLatenessMs?: number
  /**
   * CPU time (ms) one datagram costs the node, received or sent: after a step that moved n, the
   * node is busy for n times this (a process whose sending rate its CPU bounds).
   */
  datagramCostMs?: number
}

/** Per-node state the driver keeps for a HostSchedule. */
class HostClock {
  private next = 0
  /** Datagrams that arrived while the node was busy. */
  readonly held: Delivery[] = []
  private deadline = NaN
  private fireAt = NaN
  /** End of the CPU work of the datagrams it moved (datagramCostMs). */
  private workUntil = -Infinity

  constructor(
    private readonly schedule: HostSchedule,
    private readonly rng: Rng,
  ) {}

  /** The driver's clock reached `now`: windows that ended are done. */
  advance(now: number): void {
    const busy = this.schedule.busy ?? []
    while (this.next < busy.length && busy[this.next]![1] <= now) this.next++
  }

  /** End of the busy window time `t` (>= the driver's now) falls in, or null when the node runs then. */
  busyUntil(t: number): number | null {
    const busy = this.schedule.busy ?? []
    let i = this.next
    while (i < busy.length && busy[i]![1] <= t) i++
    const w = busy[i]
    const end = w !== undefined && w[0] <= t ? w[1] : null
    if (t < this.workUntil) return Math.max(this.workUntil, end ?? -Infinity)
    return end
  }

  /** The node moved `datagrams` at `now`: it is busy with them for their CPU cost. */
  work(now: number, datagrams: number): void {
    const cost = this.schedule.datagramCostMs ?? 0
    if (cost > 0 && datagrams > 0) this.workUntil = Math.max(this.workUntil, now) + datagrams * cost
  }

  /** When a timer with this deadline fires (its lateness is drawn once per deadline). */
  timerAt(deadline: number | null): number | null {
    const late = this.schedule.timerLatenessMs ?? 0
    if (deadline === null || late <= 0) return deadline
    if (deadline !== this.deadline) {
      this.deadline = deadline
      this.fireAt = deadline + this.rng.float() * late
    }
    return this.fireAt
  }
}

export type StopReason = 'until' | 'idle' | 'maxTime' | 'maxSteps'

export interface RunResult {
  reason: StopReason
  /** Virtual time when the run stopped. */
  now: number
  steps: number
  /** Datagrams handed to endpoints / taken from them during this run. */
  delivered: number
  transmitted: number
}

/**
 * HostClocks by network, then schedule: a test that passes one schedule object to several
 * SimPairs (seeds) must not hand the next run the last one's busy time, held datagrams and
 * generator (a run's result then depended on the runs before it in the process).
 */
const hostClocks = new WeakMap<object, WeakMap<HostSchedule, HostClock>>()

/** Steps in a row without the clock moving before we call it a livelock (a timer stuck in the past). */
const LIVELOCK_STEPS = 10_000
/** pollTransmit calls in one step before we call it a runaway sender. */
const MAX_TRANSMITS_PER_STEP = 1_000_000

/**
 * Drives endpoints over the network until `until()` holds.
 *
 * Each step, at the clock's current time: run scheduled scenario actions; deliver due datagrams
 * (as RxBatches, per node); fire every endpoint timer whose deadline has passed; drain
 * pollTransmit into the network; drain events (if `onEvent`). Then advance the clock to the
 * earliest of: next arrival, next scenario action, next endpoint deadline.
 *
 * Without `until`, runs until nothing is pending ('idle') or `maxTime`, and both count as
 * success. With `until`, stopping for any other reason throws (with per-link stats and the
 * seed) unless `allowFail`.
 */
export function runUntil(options: RunOptions): RunResult {
  const { clock, network } = options
  const entries = options.endpoints instanceof Map ? [...options.endpoints] : Object.entries(options.endpoints)
  const endpoints = new Map<string, SansIoEndpoint>(entries)
  const hosts = new Map([...endpoints.keys()].map((name) => [name, network.host(name)] as const))
  const maxTime = options.maxTime ?? clock.now + 600_000
  const maxSteps = options.maxSteps ?? 1_000_000
  const until = options.until
  const result: RunResult = { reason: 'until', now: clock.now, steps: 0, delivered: 0, transmitted: 0 }
  let lastTime = clock.now
  let lastMoved = 0
  let stuck = 0
  const schedules = new Map<string, HostClock>()
  for (const [name, sc] of Object.entries(options.schedules ?? {})) {
    // One HostClock per schedule across runUntil calls: what a busy node holds must not be lost.
    let clocks = hostClocks.get(network)
    if (clocks === undefined) hostClocks.set(network, (clocks = new WeakMap()))
    let hc = clocks.get(sc)
    if (hc === undefined) clocks.set(sc, (hc = new HostClock(sc, network.rng.fork(`schedule:${name}`))))
    schedules.set(name, hc)
  }
  const busyUntil = (name: string, now: number): number | null => schedules.get(name)?.busyUntil(now) ?? null
  const timerAt = (name: string, endpoint: SansIoEndpoint): number | null => {
    const deadline = endpoint.pollTimeout()
    const sc = schedules.get(name)
    return sc === undefined ? deadline : sc.timerAt(deadline)
  }

  const finish = (reason: StopReason): RunResult => {
    result.reason = reason
    result.now = clock.now
    // Without a goal, running out of work or out of time is the expected way to stop.
    const ok = reason === 'until' || (until === undefined && (reason === 'idle' || reason === 'maxTime'))
    if (!ok && options.allowFail !== true) {
      throw new Error(
        `runUntil stopped by ${reason} at t=${clock.now} after ${result.steps} steps ` +
          `(${network.inFlightCount} datagrams in flight, seed ${network.rng.seed}); links: ${JSON.stringify(network.statsSummary())}`,
      )
    }
    return result
  }

  for (;;) {
    if (until?.() === true) return finish('until')
    if (result.steps >= maxSteps) return finish('maxSteps')
    result.steps++
    const now = clock.now

    clock.runDue()

    // 1. Deliver, grouped per destination so each endpoint sees batches as from a real socket.
    for (const sc of schedules.values()) sc.advance(now)
    const movedBy = new Map<string, number>()
    const due = network.deliverDue(now)
    // A busy node's datagrams wait (its socket buffer); they come first once it runs again.
    for (const [name, sc] of schedules) {
      if (sc.held.length > 0 && busyUntil(name, now) === null) due.unshift(...sc.held.splice(0))
    }
    if (due.length > 0) {
      const byNode = new Map<string, Delivery[]>()
      for (const d of due) {
        if (!endpoints.has(d.to)) continue // nobody listening there: UDP drops silently
        if (busyUntil(d.to, now) !== null) {
          schedules.get(d.to)!.held.push(d)
          continue
        }
        let list = byNode.get(d.to)
        if (list === undefined) byNode.set(d.to, (list = []))
        list.push(d)
      }
      for (const [name, list] of byNode) {
        const host = hosts.get(name)!
        const endpoint = endpoints.get(name)!
        movedBy.set(name, list.length)
        for (const batch of host.toRxBatches(list)) {
          host.transport.countReceived(batch)
          endpoint.handleBatch(now, batch)
          result.delivered += batch.count
        }
      }
    }

    // 2. Timers, 3. transmits, 4. events.
    for (const [name, endpoint] of endpoints) {
      if (busyUntil(name, now) !== null) continue
      const deadline = timerAt(name, endpoint)
      if (deadline !== null && deadline <= now) endpoint.handleTimeout(now)
      let polls = 0
      for (let tx = endpoint.pollTransmit(now); tx !== null; tx = endpoint.pollTransmit(now)) {
        if (++polls > MAX_TRANSMITS_PER_STEP) throw new Error(`runUntil: ${name} never stops transmitting at t=${now}`)
        const to = hosts.get(name)!.nodeOf(tx.to)
        for (let i = 0; i < tx.count; i++) {
          const off = tx.offsets[i]!
          network.send(now, name, to, tx.slab.subarray(off, off + tx.lengths[i]!))
          result.transmitted++
        }
        movedBy.set(name, (movedBy.get(name) ?? 0) + tx.count)
      }
      schedules.get(name)?.work(now, movedBy.get(name) ?? 0)
      if (options.onEvent !== undefined && endpoint.pollEvent !== undefined) {
        for (let ev = endpoint.pollEvent(); ev !== null; ev = endpoint.pollEvent()) options.onEvent(name, ev, now)
      }
    }

    if (until?.() === true) return finish('until')

    // 5. Advance to the next thing that can happen.
    // A busy node's timer (and what it holds) waits for the end of its busy window.
    const nodeTime = (name: string, e: SansIoEndpoint): number | null => {
      const at = timerAt(name, e)
      const timer = at === null ? Infinity : (busyUntil(name, Math.max(now, at)) ?? at)
      const held = (schedules.get(name)?.held.length ?? 0) > 0 ? (busyUntil(name, now) ?? now) : Infinity
      const t = Math.min(timer, held)
      return t === Infinity ? null : t
    }
    const candidates = [network.nextEventTime(), clock.nextEventTime(), ...[...endpoints].map(([name, e]) => nodeTime(name, e))]
    let next = Infinity
    for (const t of candidates) if (t !== null && t < next) next = t
    if (next === Infinity) return finish('idle')
    const target = Math.max(next, now)
    if (target > maxTime) {
      clock.advanceTo(Math.max(now, maxTime))
      return finish('maxTime')
    }
    clock.advanceTo(target)
    // Zero-delay ping-pong legitimately runs many steps at one instant; only a step that moved
    // no datagrams and did not advance time means a timer that stays in the past.
    const moved = result.delivered + result.transmitted
    if (clock.now === lastTime && moved === lastMoved) {
      if (++stuck > LIVELOCK_STEPS) throw new Error(`runUntil: livelock at t=${now}: a deadline stays in the past after handleTimeout`)
    } else {
      stuck = 0
      lastTime = clock.now
      lastMoved = moved
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Convenience bundle.

export interface Sim {
  clock: VirtualClock
  network: Network
  /** The address under which `from` reaches `to`. */
  address(from: string, to: string): PeerAddress
  /** runUntil over this sim's clock and network. */
  run(options: Omit<RunOptions, 'clock' | 'network'>): RunResult
}

/** A clock and a network with default links: `createSim({ seed: 1, link: { delayMs: 10 } })`. */
export function createSim(options: { seed: number | string; link?: LinkConfig; start?: number; trace?: boolean }): Sim {
  const clock = new VirtualClock(options.start ?? 0)
  const network = new Network({ seed: options.seed, defaults: options.link ?? {}, trace: options.trace ?? false })
  return {
    clock,
    network,
    address: (from, to) => network.host(from).addressOf(to),
    run: (opts) => runUntil({ ...opts, clock, network }),
  }
}
