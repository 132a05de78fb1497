/**
 * UDP Transport over the native addon (native/udp_socket.cc): recvmmsg straight into a slab this
 * class owns, one JavaScript call per received batch, sendmmsg with UDP GSO, UDP GRO on receive.
 *
 * Receive flow (per readable event, bounded in C++ to 4 rounds of at most 64 datagrams):
 *   1. the kernel writes datagrams into `slab` slots; native writes offsets/lengths (GRO
 *      super-datagrams already split per datagram) and a 48-byte address record per entry;
 *   2. native calls onNativeRecv(count, backlog, receivedAt) once; the records become PeerAddress objects
 *      from a bounded cache (same remote => same object), and events.onReceive sees one RxBatch
 *      whose views are valid until it returns. backlog: the round filled every slot, so the
 *      socket may hold more (RxBatch.backlog: the endpoint then sheds flooded HELLOs first).
 * Send flow: one native call per TxBatch (one destination: sendmmsg with GSO groups) or per
 * MultiTxBatch (a destination per datagram: the handshake answers of a receive batch, one
 * sendmmsg for all their peers); on EAGAIN the unsent tail is copied into the ONE pending batch
 * and retried once when the socket is writable; anything beyond that is dropped and counted as
 * 'queue-full' (the protocol retransmits), never queued without bound. Every address the driver
 * was told "not writable" meanwhile gets its onWritable when the socket drains.
 */
import { lookup } from 'node:dns/promises'
import { getSystemErrorName } from 'node:util'
import { offsetOf } from '../clock.js'
import { ErrorCode, STTConfigError, STTError, STTTransportError } from '../errors.js'
import {
  Addr,
  Capability,
  MAX_GRO_SEGMENTS,
  type NativeBinding,
  type NativeUdpSocket,
  RECV_SLOT_SIZE,
  SendResult,
  Stat,
} from '../native/binding.js'
import { binding as loadedBinding } from '../native/load.js'
import { assertBatch } from '../native/validate.js'
import { parseHostPort } from './address.js'
import type {
  BoundAddress,
  MultiTxBatch,
  PeerAddress,
  RxBatch,
  Transport,
  TransportEvents,
  TransportStats,
  TxBatch,
} from './types.js'

export interface NativeUdpOptions {
  /** Local address to bind (IP literal or name). Default '0.0.0.0'; an IPv6 literal makes an IPv6-only socket. */
  host?: string
  /** Local port. Default 0 (any). */
  port?: number
  /** SO_RCVBUF request in bytes (SO_RCVBUFFORCE when permitted). Default 4 MiB. */
  recvBufferSize?: number
  /** SO_SNDBUF request in bytes (SO_SNDBUFFORCE when permitted). Default 4 MiB. */
  sendBufferSize?: number
  /** Use UDP GSO when the kernel has it. Default true. */
  gso?: boolean
  /** Use UDP GRO when the kernel has it. Default true. */
  gro?: boolean
  /** DebugFlag bits (src/native/binding.ts) forcing slow paths; tests only. */
  debugFlags?: number
  /** Receive slots of 64 KiB (datagrams per recvmmsg). Default 64, at most 64. */
  recvSlots?: number
  /** Most remote addresses remembered for PeerAddress reuse. Default 4096. */
  maxPeers?: number
  /**
   * Read and send through a dup of this already bound socket instead of binding one (a worker's
   * member of a reuseport group, src/workers/reuseport-group.ts); `host` must name its family.
   */
  adoptFd?: number
}

const DEFAULT_BUFFER_SIZE = 4 << 20
/** Largest IPv4 UDP payload; also used for IPv6 so both families accept the same datagrams. */
const MAX_DATAGRAM_SIZE = 65507
const MAX_SLOTS = 64

/** A remote UDP endpoint of one NativeUdpTransport; `dest` is the native send record. */
class NativeUdpPeer implements PeerAddress {
  readonly key: string
  readonly kind = 'udp'
  readonly reliable = false
  readonly family: 'IPv4' | 'IPv6'
  /** Address record (Addr layout) handed to the addon on every send; LOCAL is learned on receive. */
  readonly dest = new Uint32Array(Addr.STRIDE)

  constructor(
    /** The NativeUdpTransport that made it (its id: an address holds no transport object). */
    readonly owner: number,
    readonly host: string,
    readonly port: number,
    family: 4 | 6,
    addr16: Uint8Array,
  ) {
    this.key = family === 6 ? `udp:[${host}]:${port}` : `udp:${host}:${port}`
    this.family = family === 6 ? 'IPv6' : 'IPv4'
    this.dest[Addr.FAMILY] = family
    this.dest[Addr.PORT] = port
    new Uint8Array(this.dest.buffer).set(addr16.subarray(0, 16), Addr.REMOTE * 4)
  }

  toString(): string {
    return this.key.replace(/^udp:/, 'udp://')
  }
}

interface PendingBatch {
  slab: Uint8Array
  offsets: Uint32Array
  lengths: Uint32Array
  count: number
  /** The destination of every datagram, or of the first when `dests` is set. */
  to: NativeUdpPeer
  /** A sendMulti tail: datagram i goes to dests[i]. */
  dests: NativeUdpPeer[] | null
}

function errnoError(syscall: string, errno: number): Error & { code: string; errno: number; syscall: string } {
  const code = getSystemErrorName(-errno)
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno: -errno, syscall })
}

function checkInt(name: string, v: unknown, min: number, max: number): void {
  if (v === undefined) return
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new STTConfigError(`${name} must be an integer in [${min}, ${max}]`)
  }
}


let nextTransportId = 1

export class NativeUdpTransport implements Transport {
  readonly kind = 'udp'
  /** One call per recvmmsg: everything readable at once. */
  readonly receivesBatches = true
  /** Tells this transport's addresses from another's (see send). */
  private readonly id = nextTransportId++
  readonly reliable = false
  readonly maxDatagramSize = MAX_DATAGRAM_SIZE

  private readonly b: NativeBinding
  private readonly opts: Required<Omit<NativeUdpOptions, 'host'>> & { host: string }
  private events: TransportEvents | null = null
  private sock: NativeUdpSocket | null = null
  private opening: Promise<BoundAddress> | null = null
  private family: 4 | 6 = 4
  private closing: Promise<void> | null = null
  private closed = false
  private resolveClose: (() => void) | null = null
  private open = false

  private readonly counters = new Float64Array(Stat.COUNT)
  private readonly sendResult = new Int32Array(SendResult.COUNT)
  private recvBufferSize = 0
  private sendBufferSize = 0
  private readonly dropped: Record<string, number> = { oversize: 0, 'queue-full': 0, closed: 0 }
  private gsoWarned = false
  private pending: PendingBatch | null = null
  private sockId = -1 // the open socket's handle for udpSendOne (UdpSocketTable); -1: none
  /** Addresses writable() said false to while a batch was pending: all get onWritable at the drain. */
  private readonly refused = new Set<PeerAddress>()
  /** Destination records of sendMulti (Addr.STRIDE u32 per datagram), grown as needed. */
  private multiDests = new Uint32Array(0)

  // Receive side: TS-owned memory the addon writes into.
  private recvAddrs = new Uint32Array(0)
  private recvAddrBytes = new Uint8Array(0)
  private readonly rx: RxBatch = {
    slab: new Uint8Array(0),
    offsets: new Uint32Array(0),
    lengths: new Uint32Array(0),
    count: 0,
    from: [],
    backlog: false,
    receivedAt: NaN,
  }
  /** Added to the addon's receive stamps (uv_hrtime ms) gives the node's clock; NaN: none (older addon). */
  private hrtimeOffset = NaN
  private readonly peers = new Map<number | string, NativeUdpPeer>()
  private lastPeer: NativeUdpPeer | null = null
  private readonly scratchAddr = new Uint32Array(Addr.STRIDE)

  constructor(options: NativeUdpOptions = {}, nativeBinding: NativeBinding | null = loadedBinding) {
    if (!nativeBinding?.UdpSocket || !nativeBinding.addrParse || !nativeBinding.addrFormat) {
      throw new STTError(ErrorCode.NATIVE_UNAVAILABLE, 'the native UDP transport needs the stt_native addon built on Linux')
    }
    this.b = nativeBinding
    if (options.host !== undefined && (typeof options.host !== 'string' || options.host === '')) {
      throw new STTConfigError('host must be a non-empty string')
    }
    checkInt('port', options.port, 0, 65535)
    checkInt('recvBufferSize', options.recvBufferSize, 0, 0x7fffffff)
    checkInt('sendBufferSize', options.sendBufferSize, 0, 0x7fffffff)
    checkInt('debugFlags', options.debugFlags, 0, 0xff)
    checkInt('recvSlots', options.recvSlots, 1, MAX_SLOTS)
    checkInt('maxPeers', options.maxPeers, 1, 1 << 24)
    checkInt('adoptFd', options.adoptFd, 0, 0x7fffffff)
    this.opts = {
      host: options.host ?? '0.0.0.0',
      port: options.port ?? 0,
      recvBufferSize: options.recvBufferSize ?? DEFAULT_BUFFER_SIZE,
      sendBufferSize: options.sendBufferSize ?? DEFAULT_BUFFER_SIZE,
      gso: options.gso ?? true,
      gro: options.gro ?? true,
      debugFlags: options.debugFlags ?? 0,
      recvSlots: options.recvSlots ?? MAX_SLOTS,
      maxPeers: options.maxPeers ?? 4096,
      adoptFd: options.adoptFd ?? -1,
    }
  }

  attach(events: TransportEvents): void {
    this.events = events
  }

  /** Address family of this socket (decided by the bind host; IPv6 sockets are IPv6-only). */
  get socketFamily(): 4 | 6 {
    return this.family
  }

  /** Binds and starts receiving. Idempotent; dial() calls it too (clients need replies). */
  listen(): Promise<BoundAddress> {
    if (this.closed) return Promise.reject(new STTTransportError(ErrorCode.TRANSPORT, 'transport is closed'))
    this.opening ??= this.openSocket()
    return this.opening
  }

  async dial(target: string): Promise<PeerAddress> {
    if (typeof target !== 'string') throw new STTConfigError('dial target must be a string')
    const { host, port } = parseHostPort(target, 'udp')
    await this.listen()
    const rec = this.scratchAddr
    rec.fill(0)
    const bytes = new Uint8Array(rec.buffer, Addr.REMOTE * 4, 16)
    let family = this.b.addrParse!(host, bytes)
    if (family === 0) {
      const { address } = await lookup(host, { family: this.family })
      family = this.b.addrParse!(address, bytes)
    }
    if (family !== this.family) {
      throw new STTConfigError(`cannot reach ${host} (IPv${family}) from an IPv${this.family} socket; bind host decides the family`)
    }
    rec[Addr.FAMILY] = family
    rec[Addr.PORT] = port
    return this.peerFor(rec, new Uint8Array(rec.buffer), 0)
  }

  /**
   * True while no unsent batch waits for the socket to drain. The socket is one queue for every
   * peer, so each `to` that hears false hears onWritable at the drain, not only the pending
   * batch's (the driver holds back every path it asked about).
   */
  writable(to?: PeerAddress): boolean {
    if (this.closed) return false
    if (this.pending === null) return true
    if (to !== undefined) this.refused.add(to)
    return false
  }

  send(batch: TxBatch): void {
    const { slab, offsets, lengths, count, to } = batch
    if (!(to instanceof NativeUdpPeer) || to.owner !== this.id) {
      throw new STTConfigError('send: batch.to is not an address of this transport (use its dial())')
    }
    assertBatch('send', slab, offsets, lengths, count, 0)
    if (!this.admits('send', count)) return
    let o = offsets
    let l = lengths
    let n = count
    for (let i = 0; i < count; i++) {
      if (lengths[i]! > MAX_DATAGRAM_SIZE) {
        ;({ o, l, n } = this.withoutOversize(offsets, lengths, count))
        break
      }
    }
    if (n > 0) this.sendNow(slab, o, l, n, to, null, true)
  }

  /** A batch of `count` may go now; else it is dropped and counted (closed, or one batch already waits). */
  private admits(what: string, count: number): boolean {
    if (this.closed) {
      this.dropped.closed! += count
      return false
    }
    if (!this.open || this.sock === null) throw new STTError(ErrorCode.NOT_STARTED, `${what} before listen()/dial() completed`)
    if (this.pending !== null) {
      // One batch already waits for EPOLLOUT: keep order and memory bounded, drop this one.
      this.dropped['queue-full']! += count
      return false
    }
    return true
  }

  /** As send, datagram i to dests[i]: one sendmmsg whatever the number of peers (UdpCore::SendMulti). */
  sendMulti(batch: MultiTxBatch): void {
    const { slab, offsets, lengths, count, dests } = batch
    assertBatch('sendMulti', slab, offsets, lengths, count, 0)
    if (!Array.isArray(dests) || dests.length < count) throw new STTConfigError('sendMulti: dests must hold a destination per datagram')
    for (let i = 0; i < count; i++) {
      const to = dests[i]
      if (!(to instanceof NativeUdpPeer) || to.owner !== this.id) {
        throw new STTConfigError(`sendMulti: dests[${i}] is not an address of this transport (use its dial())`)
      }
    }
    if (!this.admits('sendMulti', count)) return
    let o = offsets
    let l = lengths
    let n = count
    let d = dests as NativeUdpPeer[]
    for (let i = 0; i < count; i++) {
      if (lengths[i]! > MAX_DATAGRAM_SIZE) {
        ;({ o, l, n, d } = this.withoutOversize(offsets, lengths, count, d))
        break
      }
    }
    if (n > 0) this.sendNow(slab, o, l, n, d[0]!, d, true)
  }

  /** Whether the open socket keeps the event loop alive (default true), like dgram's ref/unref. */
  setRef(ref: boolean): void {
    if (this.open && this.sock !== null) this.sock.setRef(ref)
  }

  getStats(): TransportStats {
    const c = this.counters
    const caps = this.open && this.sock !== null ? this.sock.caps() : 0
    return {
      kind: this.kind,
      packetsSent: c[Stat.PACKETS_SENT]!,
      packetsReceived: c[Stat.PACKETS_RECEIVED]!,
      bytesSent: c[Stat.BYTES_SENT]!,
      bytesReceived: c[Stat.BYTES_RECEIVED]!,
      sendErrors: c[Stat.SEND_ERRORS]!,
      dropped: {
        ...this.dropped,
        truncated: c[Stat.DROPPED_TRUNCATED]!,
        'meta-full': c[Stat.DROPPED_META_FULL]!,
      },
      recvBufferSize: this.recvBufferSize,
      sendBufferSize: this.sendBufferSize,
      gso: (caps & Capability.GSO) !== 0,
      gro: (caps & Capability.GRO) !== 0,
      mmsg: (caps & Capability.MMSG) !== 0,
      pktinfo: (caps & Capability.PKTINFO) !== 0,
      // DF on every datagram, kernel PMTU cache ignored (IP(V6)_PMTUDISC_PROBE): packet sizes
      // come from the protocol's path MTU search alone (src/protocol/pmtu.ts).
      dontFragment: (caps & Capability.DONTFRAG) !== 0,
      sendErrorsMsgSize: c[Stat.SEND_EMSGSIZE]!,
      // Datagrams skipped for a destination record the socket cannot use (another family, port 0).
      sendErrorsBadDest: c[Stat.SEND_BAD_DEST]!,
      gsoDisabledErrno: c[Stat.GSO_DISABLED_ERRNO] ? getSystemErrorName(-c[Stat.GSO_DISABLED_ERRNO]!) : undefined,
      recvSyscalls: c[Stat.RECV_SYSCALLS]!,
      sendSyscalls: c[Stat.SEND_SYSCALLS]!,
      recvCallbacks: c[Stat.RECV_CALLBACKS]!,
      groSuperDatagrams: c[Stat.GRO_SUPER_DATAGRAMS]!,
      sendEagain: c[Stat.SEND_EAGAIN]!,
      recvErrors: c[Stat.RECV_ERRORS]!,
    }
  }

  close(): Promise<void> {
    if (this.closing) return this.closing
    this.closed = true
    this.sockId = -1
    this.pending = null
    this.refused.clear()
    this.closing = (async () => {
      if (this.opening) await this.opening.catch(() => undefined)
      const sock = this.sock
      if (sock === null || !this.open) return
      const done = new Promise<void>((resolve) => (this.resolveClose = resolve))
      if (sock.close()) await done
    })()
    return this.closing
  }

  // ---- internals -------------------------------------------------------------------------

  private async openSocket(): Promise<BoundAddress> {
    const b = this.b
    const o = this.opts
    const addr = new Uint8Array(16)
    let family = b.addrParse!(o.host, addr)
    if (family === 0) {
      const { address } = await lookup(o.host)
      family = b.addrParse!(address, addr)
    }
    if (family !== 4 && family !== 6) throw new STTConfigError(`cannot bind ${o.host}: not an IP address`)
    if (this.closed) throw new STTTransportError(ErrorCode.TRANSPORT, 'transport is closed')
    this.family = family
    const sock = new b.UdpSocket!(
      this,
      NativeUdpTransport.prototype.onNativeRecv,
      NativeUdpTransport.prototype.onNativeWritable,
      NativeUdpTransport.prototype.onNativeClose,
      this.counters,
      this.sendResult,
    )
    const r = sock.open(family, addr, o.port, o.recvBufferSize, o.sendBufferSize, o.gso, o.gro, o.debugFlags, o.adoptFd)
    if (r.errno !== 0) {
      const cause = errnoError('bind', r.errno)
      // Same code and wording as the node:dgram transport: a port in use is a configuration problem.
      if (cause.code === 'EADDRINUSE') throw new STTConfigError(`UDP port ${o.port} on ${o.host} is already in use`, { cause })
      throw new STTTransportError(ErrorCode.TRANSPORT, `cannot bind udp ${o.host}:${o.port}: ${cause.code}`, { cause })
    }
    this.sock = sock
    this.open = true
    if (b.hrtimeMs !== undefined) this.hrtimeOffset = offsetOf(b.hrtimeMs)
    if (this.b.udpSendOne !== undefined && sock.id !== undefined) this.sockId = sock.id()
    this.recvBufferSize = r.recvBufferSize
    this.sendBufferSize = r.sendBufferSize
    // Entries per slot: one datagram, or up to MAX_GRO_SEGMENTS when GRO coalesces.
    const slots = o.recvSlots
    const capacity = slots * ((r.caps & Capability.GRO) !== 0 ? MAX_GRO_SEGMENTS : 1)
    const rx = this.rx
    rx.slab = new Uint8Array(slots * RECV_SLOT_SIZE)
    rx.offsets = new Uint32Array(capacity)
    rx.lengths = new Uint32Array(capacity)
    this.recvAddrs = new Uint32Array(capacity * Addr.STRIDE)
    this.recvAddrBytes = new Uint8Array(this.recvAddrs.buffer)
    sock.setReceiveBuffers(rx.slab, RECV_SLOT_SIZE, rx.offsets, rx.lengths, this.recvAddrs)
    sock.start()
    return { host: o.host, port: r.port, family: family === 6 ? 'IPv6' : 'IPv4' }
  }

  /** Called by the addon (this = the transport) once per received batch. */
  private onNativeRecv(count: number, backlog?: number, receivedAt?: number): void {
    const rx = this.rx
    rx.backlog = backlog === 1
    rx.receivedAt = (receivedAt as number) + this.hrtimeOffset
    const recs = this.recvAddrs
    const from = rx.from
    // The setter is a runtime call even when nothing changes (one datagram per batch is usual).
    if (from.length !== count) from.length = count
    let prev: NativeUdpPeer | undefined
    for (let i = 0; i < count; i++) {
      const base = i * Addr.STRIDE
      // Consecutive datagrams from one peer (the common case, and always within a GRO
      // super-datagram) reuse the previous lookup.
      if (prev !== undefined && this.sameRemote(prev.dest, 0, recs, base)) {
        from[i] = prev
        continue
      }
      prev = this.peerFor(recs, this.recvAddrBytes, base)
      if ((recs[base + Addr.FLAGS]! & Addr.FLAG_LOCAL) !== 0) {
        // Remember where the peer reached us so replies leave from that address.
        prev.dest.set(recs.subarray(base + Addr.LOCAL, base + Addr.STRIDE), Addr.LOCAL)
      }
      from[i] = prev
    }
    rx.count = count
    this.events?.onReceive(rx)
  }

  /** Called by the addon once after armWritable(): retry the pending batch once. */
  private onNativeWritable(): void {
    const p = this.pending
    this.pending = null
    if (p === null || this.closed) return
    this.sendNow(p.slab, p.offsets, p.lengths, p.count, p.to, p.dests, false)
    // writable() said false while the batch waited: the driver holds those paths back until now.
    if (p.dests === null) this.events?.onWritable?.(p.to)
    // A copy: an onWritable handler that sends and hits EAGAIN again refills the set for the next drain.
    const refused = [...this.refused]
    this.refused.clear()
    for (const to of refused) if (to !== p.to || p.dests !== null) this.events?.onWritable?.(to)
  }

  /** Called by the addon when the poll handle and the fd are closed. */
  private onNativeClose(): void {
    this.open = false
    this.sock = null
    this.sockId = -1
    this.resolveClose?.()
    this.resolveClose = null
  }

  private sameRemote(ra: Uint32Array, a: number, rb: Uint32Array, b: number): boolean {
    if (ra[a + Addr.PORT] !== rb[b + Addr.PORT] || ra[a + Addr.REMOTE] !== rb[b + Addr.REMOTE]) return false
    if (rb[b + Addr.FAMILY] === 4) return ra[a + Addr.FAMILY] === 4
    return (
      ra[a + Addr.FAMILY] === 6 &&
      ra[a + Addr.REMOTE + 1] === rb[b + Addr.REMOTE + 1] &&
      ra[a + Addr.REMOTE + 2] === rb[b + Addr.REMOTE + 2] &&
      ra[a + Addr.REMOTE + 3] === rb[b + Addr.REMOTE + 3]
    )
  }

  /** The cached PeerAddress for the record at recs[base] (bytes = byte view of recs' buffer). */
  private peerFor(recs: Uint32Array, bytes: Uint8Array, base: number): NativeUdpPeer {
    // The last batch's peer first (a ping-pong's every batch): no key, no Map lookup (issue 13).
    const last = this.lastPeer
    if (last !== null && this.sameRemote(last.dest, 0, recs, base)) return last
    const family = recs[base + Addr.FAMILY] === 6 ? 6 : 4
    const port = recs[base + Addr.PORT]!
    const r = base + Addr.REMOTE
    // IPv4: the address word and the port fit exactly in a double (48 bits): no string built.
    const key: number | string =
      family === 4 ? recs[r]! * 65536 + port : `${recs[r]}.${recs[r + 1]}.${recs[r + 2]}.${recs[r + 3]}.${port}`
    let peer = this.peers.get(key)
    if (peer === undefined) {
      const addr = bytes.subarray(recs.byteOffset + r * 4, recs.byteOffset + r * 4 + 16)
      const host = this.b.addrFormat!(family, addr)
      peer = new NativeUdpPeer(this.id, host, port, family, addr)
      // Bounded: spoofed sources must not grow memory. Map order = insertion: evict the oldest.
      // An evicted peer still works for whoever holds it; only reuse of the object is lost.
      if (this.peers.size >= this.opts.maxPeers) this.peers.delete(this.peers.keys().next().value!)
      this.peers.set(key, peer)
    }
    return (this.lastPeer = peer)
  }

  /** Sends to `to`, or datagram i to dests[i] when `dests` is set (then to = dests[0]). */
  private sendNow(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, to: NativeUdpPeer, dests: NativeUdpPeer[] | null, mayQueue: boolean): void {
    const sock = this.sock
    if (sock === null) return
    // One datagram by socket id: no arrays, no unwrap (issue 13). -1 (no such open socket): close cleared sockId first.
    let processed: number
    if (dests !== null) processed = sock.sendMulti(slab, offsets, lengths, count, this.destRecords(dests, count))
    else if (count === 1 && this.sockId > 0) processed = this.b.udpSendOne!(this.sockId, slab, offsets[0]!, lengths[0]!, to.dest)
    else processed = sock.send(slab, offsets, lengths, count, to.dest) // an addon without udpSendOne has no sendOne either
    if (processed < 0) return void (this.dropped.closed! += count)
    const r = this.sendResult
    if (r[SendResult.GSO_DISABLED] !== 0 && !this.gsoWarned) {
      this.gsoWarned = true
      process.emitWarning(`stt-node: UDP GSO switched off for this socket (${getSystemErrorName(-r[SendResult.GSO_DISABLED]!)})`, {
        code: 'STT_GSO_DISABLED',
      })
    }
    // EMSGSIZE (a datagram above the local interface MTU: DF is always set) is what a path MTU
    // probe larger than the link gets; it is counted (sendErrorsMsgSize) and the protocol sees a
    // lost probe. Only other failures are worth an error event.
    if (r[SendResult.ERRORS]! > r[SendResult.EMSGSIZE]!) {
      const cause = errnoError('sendmmsg', r[SendResult.LAST_ERRNO]!)
      this.events?.onError?.(
        new STTTransportError(ErrorCode.UDP_SEND_FAILED, `${r[SendResult.ERRORS]} ${dests === null ? `datagram(s) to ${to}` : `of ${count} datagrams (a destination each)`} failed: ${cause.message}`, {
          cause,
        }),
      )
    }
    if (processed >= count) return
    if (!mayQueue) {
      this.dropped['queue-full']! += count - processed
      return
    }
    // Copy the unsent tail: the caller may reuse its slab as soon as send() returns.
    let total = 0
    for (let i = processed; i < count; i++) total += lengths[i]!
    const p: PendingBatch = {
      slab: new Uint8Array(total),
      offsets: new Uint32Array(count - processed),
      lengths: new Uint32Array(count - processed),
      count: count - processed,
      to: dests === null ? to : dests[processed]!,
      dests: dests === null ? null : dests.slice(processed, count),
    }
    let at = 0
    for (let i = processed; i < count; i++) {
      const off = offsets[i]!
      const len = lengths[i]!
      p.slab.set(slab.subarray(off, off + len), at)
      p.offsets[i - processed] = at
      p.lengths[i - processed] = len
      at += len
    }
    this.pending = p
    sock.armWritable()
  }

  /** The address records of dests[0, count) side by side, as UdpCore::SendMulti reads them. */
  private destRecords(dests: NativeUdpPeer[], count: number): Uint32Array {
    if (this.multiDests.length < count * Addr.STRIDE) this.multiDests = new Uint32Array(Math.max(count, 64) * Addr.STRIDE)
    const recs = this.multiDests
    for (let i = 0; i < count; i++) recs.set(dests[i]!.dest, i * Addr.STRIDE)
    return recs
  }

  private withoutOversize<D>(offsets: Uint32Array, lengths: Uint32Array, count: number, dests: D[] = []): { o: Uint32Array; l: Uint32Array; n: number; d: D[] } {
    const o = new Uint32Array(count)
    const l = new Uint32Array(count)
    const d: D[] = []
    let n = 0
    for (let i = 0; i < count; i++) {
      if (lengths[i]! > MAX_DATAGRAM_SIZE) {
        this.dropped.oversize! += 1
        continue
      }
      o[n] = offsets[i]!
      l[n] = lengths[i]!
      if (i < dests.length) d.push(dests[i]!)
      n++
    }
    return { o, l, n, d }
  }
}

/** True when this process can use NativeUdpTransport (addon loaded, built with UDP support). */
export const nativeUdpAvailable: boolean = loadedBinding?.UdpSocket !== undefined
