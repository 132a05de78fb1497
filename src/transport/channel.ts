/**
 * In-memory Transport pair, for tests and examples: two endpoints wired back to back, with no
 * sockets and no virtual clock. Delivery is genuinely asynchronous (setImmediate, like a socket's
 * readable event), so code that would break on real I/O ordering breaks here too.
 *
 * Flow of one datagram sent on `a`:
 *   1. a.send: oversize or closed -> counted (and reported via onError), not delivered;
 *   2. a.filter(bytes, 'out') may drop or duplicate it; then seeded random loss (`lossRate`);
 *   3. b.filter(bytes, 'in') may drop or duplicate it; the bytes are copied into b's queue;
 *   4. on the next setImmediate, b delivers its queue to onReceive in RxBatches of up to
 *      `batchSize`, reusing one slab and poisoning it (0xEE) after each callback, so a receiver
 *      that keeps a view past the callback sees garbage in tests instead of working by luck.
 */

import { ErrorCode, STTConfigError, STTTransportError } from '../errors.js'
import type { BoundAddress, PeerAddress, RxBatch, Transport, TransportEvents, TransportStats, TxBatch } from './types.js'

/** What a filter can do with one datagram. */
export type ChannelVerdict = 'pass' | 'drop' | 'dup'
/** 'out' = being sent by this end; 'in' = about to be received by this end. */
export type ChannelDirection = 'out' | 'in'
export type ChannelFilter = (bytes: Uint8Array, dir: ChannelDirection) => ChannelVerdict

export interface ChannelPairOptions {
  /** Probability of dropping each datagram (both directions). Default 0. */
  lossRate?: number
  /** Seed for the loss decisions. Default 1. */
  seed?: number
  /** Largest datagram carried (both ends). Default 65507, the IPv4 UDP payload limit. */
  mtu?: number
  /** Names of the two ends, used in addresses (`channel:<name>`). Default ['a', 'b']. */
  names?: readonly [string, string]
}

/** Largest UDP payload over IPv4: what node:dgram would accept. */
const DEFAULT_MTU = 65507
/** Datagrams per onReceive call: the same order of magnitude as recvmmsg batches. */
const BATCH_SIZE = 64
const POISON = 0xee

/** mulberry32: a tiny seeded PRNG; good enough for loss decisions, deterministic per seed (tests and benchmarks use it too). */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export class ChannelTransport implements Transport {
  readonly kind = 'channel'
  readonly reliable = false
  readonly batchSize = BATCH_SIZE
  readonly maxDatagramSize: number
  /** Inspect, drop or duplicate datagrams passing this end (see ChannelDirection). */
  filter: ChannelFilter | null = null
  /** The other end (set by createChannelPair). */
  peer!: ChannelTransport

  private events: TransportEvents | null = null
  private closed = false
  private readonly queue: Uint8Array[] = []
  private immediate: NodeJS.Immediate | null = null
  private slab = new Uint8Array(0)
  private peerAddr: PeerAddress | null = null
  private readonly stats = {
    packetsSent: 0,
    packetsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    sendErrors: 0,
    duplicated: 0,
    dropped: { oversize: 0, closed: 0, filter: 0, loss: 0, 'no-receiver': 0 } as Record<string, number>,
  }

  constructor(
    readonly name: string,
    mtu: number,
    private readonly random: () => number,
    private readonly lossRate: number,
  ) {
    this.maxDatagramSize = mtu
  }

  attach(events: TransportEvents): void {
    this.events = events
  }

  async listen(): Promise<BoundAddress> {
    return { host: `channel:${this.name}`, port: 0 }
  }

  /** Resolves the peer's address. `target` may be `channel:<peer>`, `channel://<peer>`, or empty. */
  async dial(target: string): Promise<PeerAddress> {
    const name = target.replace(/^channel:(\/\/)?/, '')
    if (name !== '' && name !== this.peer.name) {
      throw new STTTransportError(ErrorCode.NETWORK_UNREACHABLE, `channel ${this.name} can only reach ${this.peer.name}, not ${name}`)
    }
    return this.peerAddress()
  }

  /** The address of the other end, as this end sees it (the same object every time). */
  peerAddress(): PeerAddress {
    if (this.peerAddr === null) {
      const peerName = this.peer.name
      this.peerAddr = Object.freeze({ key: `channel:${peerName}`, kind: this.kind, reliable: this.reliable, host: peerName, toString: () => `channel://${peerName}` })
    }
    return this.peerAddr
  }

  send(batch: TxBatch): void {
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i]!
      const bytes = batch.slab.subarray(off, off + batch.lengths[i]!)
      if (this.closed) {
        this.fail('closed', new STTTransportError(ErrorCode.TRANSPORT, `channel ${this.name} is closed`))
        continue
      }
      if (bytes.length > this.maxDatagramSize) {
        this.fail(
          'oversize',
          new STTTransportError(ErrorCode.TRANSPORT, `datagram of ${bytes.length} bytes exceeds ${this.maxDatagramSize}`),
        )
        continue
      }
      this.stats.packetsSent++
      this.stats.bytesSent += bytes.length
      const copies = this.applyFilter(bytes, 'out')
      for (let c = 0; c < copies; c++) {
        // Decided per copy: a duplicate can be lost independently, as on a real path.
        if (this.lossRate > 0 && this.random() < this.lossRate) {
          this.stats.dropped['loss']!++
          continue
        }
        this.peer.enqueue(bytes)
      }
    }
  }

  getStats(): TransportStats {
    const s = this.stats
    return {
      kind: this.kind,
      packetsSent: s.packetsSent,
      packetsReceived: s.packetsReceived,
      bytesSent: s.bytesSent,
      bytesReceived: s.bytesReceived,
      sendErrors: s.sendErrors,
      dropped: { ...s.dropped },
      duplicated: s.duplicated,
    }
  }

  /** Stops sending and receiving; queued datagrams are discarded. Does not close the peer. */
  async close(): Promise<void> {
    this.closed = true
    if (this.immediate !== null) clearImmediate(this.immediate)
    this.immediate = null
    this.queue.length = 0
  }

  /** Receiving side of step 3: filter, copy, schedule a flush. */
  private enqueue(bytes: Uint8Array): void {
    const copies = this.applyFilter(bytes, 'in')
    for (let c = 0; c < copies; c++) {
      if (this.closed) this.stats.dropped['closed']!++
      else if (this.events === null) this.stats.dropped['no-receiver']!++
      else this.queue.push(bytes.slice())
    }
    if (this.queue.length > 0 && this.immediate === null) this.immediate = setImmediate(() => this.flush())
  }

  private flush(): void {
    this.immediate = null
    // Everything we receive comes from the peer; its address from our side has us as transport.
    const sender = this.peerAddress()
    while (this.queue.length > 0 && !this.closed && this.events !== null) {
      const chunk = this.queue.splice(0, BATCH_SIZE)
      let total = 0
      for (const d of chunk) total += d.length
      if (this.slab.length < total) this.slab = new Uint8Array(Math.max(total, this.slab.length * 2))
      const offsets = new Uint32Array(chunk.length)
      const lengths = new Uint32Array(chunk.length)
      let pos = 0
      chunk.forEach((d, i) => {
        this.slab.set(d, pos)
        offsets[i] = pos
        lengths[i] = d.length
        pos += d.length
        this.stats.packetsReceived++
        this.stats.bytesReceived += d.length
      })
      const batch: RxBatch = { slab: this.slab, offsets, lengths, count: chunk.length, from: new Array<PeerAddress>(chunk.length).fill(sender) }
      try {
        this.events.onReceive(batch)
      } finally {
        this.slab.fill(POISON, 0, pos)
      }
    }
  }

  /** Runs the filter; returns how many copies continue (0, 1 or 2). */
  private applyFilter(bytes: Uint8Array, dir: ChannelDirection): number {
    const verdict = this.filter === null ? 'pass' : this.filter(bytes, dir)
    if (verdict === 'drop') {
      this.stats.dropped['filter']!++
      return 0
    }
    if (verdict === 'dup') {
      this.stats.duplicated++
      return 2
    }
    return 1
  }

  private fail(reason: string, err: Error): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1
    this.stats.sendErrors++
    this.events?.onError?.(err)
  }
}

/**
 * Two transports wired to each other. Datagrams sent on one arrive on the other's onReceive
 * asynchronously (setImmediate), in order unless a filter or loss intervenes.
 */
export function createChannelPair(options: ChannelPairOptions = {}): [ChannelTransport, ChannelTransport] {
  const mtu = options.mtu ?? DEFAULT_MTU
  const lossRate = options.lossRate ?? 0
  if (!(lossRate >= 0 && lossRate <= 1)) throw new STTConfigError(`lossRate must be in [0, 1], got ${lossRate}`)
  if (!(Number.isInteger(mtu) && mtu > 0)) throw new STTConfigError(`mtu must be a positive integer, got ${mtu}`)
  const [nameA, nameB] = options.names ?? ['a', 'b']
  if (nameA === nameB) throw new STTConfigError('channel ends need distinct names')
  // One generator per direction so traffic in one direction does not shift the other's losses.
  const seed = options.seed ?? 1
  const a = new ChannelTransport(nameA, mtu, mulberry32(seed), lossRate)
  const b = new ChannelTransport(nameB, mtu, mulberry32(seed ^ 0x9e3779b9), lossRate)
  a.peer = b
  b.peer = a
  return [a, b]
}
