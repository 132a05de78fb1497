/**
 * The node's native UDP transport: both address families behind one Transport, as
 * wireguard-go's StdNetBind keeps an IPv4 and an IPv6 socket behind one Bind. A native socket
 * (udp-native.ts) has one family (IPv6 sockets are IPv6-only, so IPv4 peers never show up as
 * mapped addresses); this opens the bind host's family at listen() and the other family on
 * the first dial that needs it (wildcard address, ephemeral port), and routes every send by
 * the destination's family. The driver sees one 'udp' transport whatever it dials.
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { ErrorCode, STTTransportError } from '../errors.js'
import { parseHostPort } from './address.js'
import type { BoundAddress, MultiTxBatch, PeerAddress, Transport, TransportEvents, TransportStats, TxBatch } from './types.js'
import { NativeUdpTransport, type NativeUdpOptions } from './udp-native.js'

export class DualStackNativeUdp implements Transport {
  readonly kind = 'udp'
  /** As NativeUdpTransport (each family's socket delivers its recvmmsg batches). */
  readonly receivesBatches = true
  readonly reliable = false
  readonly #options: NativeUdpOptions
  readonly #primary: NativeUdpTransport
  /** The socket of the other family, once a dial needed it. */
  #other: Promise<NativeUdpTransport> | null = null
  #otherReady: NativeUdpTransport | null = null
  #events: TransportEvents | null = null

  constructor(options: NativeUdpOptions = {}) {
    this.#options = options
    this.#primary = new NativeUdpTransport(options)
  }

  attach(events: TransportEvents): void {
    this.#events = events
    this.#primary.attach(events)
  }

  listen(): Promise<BoundAddress> {
    return this.#primary.listen()
  }

  async dial(target: string): Promise<PeerAddress> {
    const { host, port } = parseHostPort(target, 'udp')
    let ip = host
    if (isIP(host) === 0) {
      try {
        ip = (await lookup(host)).address
      } catch (err) {
        throw new STTTransportError(ErrorCode.NETWORK_UNREACHABLE, `cannot resolve ${host}: ${(err as Error).message}`, { cause: err })
      }
    }
    const family = isIP(ip) === 6 ? 6 : 4
    await this.#primary.listen()
    const t = family === this.#primary.socketFamily ? this.#primary : await this.#otherFamily()
    return t.dial(family === 6 ? `udp://[${ip}]:${port}` : `udp://${ip}:${port}`)
  }

  #otherFamily(): Promise<NativeUdpTransport> {
    this.#other ??= (async () => {
      const host = this.#primary.socketFamily === 6 ? '0.0.0.0' : '::'
      const t = new NativeUdpTransport({ ...this.#options, host, port: 0 })
      if (this.#events) t.attach(this.#events)
      await t.listen()
      this.#otherReady = t
      return t
    })()
    return this.#other
  }

  /** The socket of `to`'s family (null: that family was never opened, so nothing came from it). */
  #for(to: PeerAddress): NativeUdpTransport | null {
    const six = to.family === 'IPv6'
    if ((this.#primary.socketFamily === 6) === six) return this.#primary
    return this.#otherReady
  }

  send(batch: TxBatch): void {
    const t = this.#for(batch.to)
    if (t) t.send(batch)
    else this.#primary.send(batch) // not an address of ours: the primary reports it
  }

  /** Each family's socket takes the datagrams of its destinations (usually all of one family: one call). */
  sendMulti(batch: MultiTxBatch): void {
    const { dests, count } = batch
    if (count === 0) return
    const first = this.#for(dests[0]!) ?? this.#primary
    let i = 1
    while (i < count && (this.#for(dests[i]!) ?? this.#primary) === first) i++
    if (i >= count) return first.sendMulti(batch)
    for (const t of [this.#primary, this.#otherReady]) {
      if (t === null) continue
      const mine: number[] = []
      for (let k = 0; k < count; k++) if ((this.#for(dests[k]!) ?? this.#primary) === t) mine.push(k)
      if (mine.length === 0) continue
      t.sendMulti({
        slab: batch.slab,
        offsets: Uint32Array.from(mine, (k) => batch.offsets[k]!),
        lengths: Uint32Array.from(mine, (k) => batch.lengths[k]!),
        count: mine.length,
        dests: mine.map((k) => dests[k]!),
      })
    }
  }

  writable(to: PeerAddress): boolean {
    return this.#for(to)?.writable(to) ?? false
  }

  setRef(ref: boolean): void {
    this.#primary.setRef(ref)
    this.#otherReady?.setRef(ref)
  }

  getStats(): TransportStats {
    const a = this.#primary.getStats()
    const b = this.#otherReady?.getStats()
    if (!b) return a
    const out: TransportStats = { ...a, dropped: { ...a.dropped } }
    // Counters add up; capabilities and socket sizes are the primary socket's.
    for (const [k, v] of Object.entries(b)) {
      if (typeof v === 'number' && typeof a[k] === 'number' && !/BufferSize$/.test(k) && k !== 'gsoDisabledErrno') out[k] = (a[k] as number) + v
    }
    for (const [k, v] of Object.entries(b.dropped)) out.dropped[k] = (out.dropped[k] ?? 0) + v
    out.families = 2
    return out
  }

  async close(): Promise<void> {
    const other = this.#other
    await Promise.all([this.#primary.close(), other ? other.then((t) => t.close(), () => undefined) : undefined])
  }
}
