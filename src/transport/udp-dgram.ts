/**
 * UDP on node:dgram: the pure-JavaScript transport (one datagram per send call: node:dgram has no mmsg).
 * One socket per address family, created on demand, so a node bound to IPv4 can still dial
 * an IPv6 peer. Socket buffers are set large and the sizes the kernel granted are reported.
 */
import dgram from 'node:dgram'
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { ErrorCode, STTConfigError, STTTransportError } from '../errors.js'
import type { BoundAddress, PeerAddress, Transport, TransportEvents, TransportStats, TxBatch } from './types.js'
import { parseHostPort } from './address.js'

export interface UdpTransportOptions {
  host?: string
  port?: number
  recvBufferSize?: number
  sendBufferSize?: number
}

export const DEFAULT_SOCKET_BUFFER = 4 * 1024 * 1024

class UdpPeer implements PeerAddress {
  readonly key: string
  readonly kind = 'udp'
  readonly reliable = false
  readonly family: 'IPv4' | 'IPv6'
  constructor(
    readonly host: string,
    readonly port: number,
    /** Which of this transport's sockets sends to it. */
    readonly socketFamily: 4 | 6,
  ) {
    this.key = socketFamily === 6 ? `udp:[${host}]:${port}` : `udp:${host}:${port}`
    this.family = socketFamily === 6 ? 'IPv6' : 'IPv4'
  }
  toString(): string {
    return this.socketFamily === 6 ? `udp://[${this.host}]:${this.port}` : `udp://${this.host}:${this.port}`
  }
}

export class UdpDgramTransport implements Transport {
  readonly kind = 'udp'
  readonly reliable = false
  private events: TransportEvents | null = null
  private readonly sockets: { 4?: dgram.Socket; 6?: dgram.Socket } = {}
  private readonly peers = new Map<string, UdpPeer>()
  private bound: BoundAddress | null = null
  private closed = false
  private readonly stats: TransportStats = { kind: 'udp', packetsSent: 0, packetsReceived: 0, bytesSent: 0, bytesReceived: 0, sendErrors: 0, dropped: {} }
  // Receive scratch: node:dgram hands one Buffer per datagram.
  private readonly rxOffsets = new Uint32Array([0])
  private readonly rxLengths = new Uint32Array(1)
  private readonly rxFrom: PeerAddress[] = [null as unknown as PeerAddress]

  constructor(private readonly opts: UdpTransportOptions = {}) {
    const port = opts.port ?? 0
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new STTConfigError(`port must be an integer 0-65535 (got ${String(opts.port)})`)
  }

  attach(events: TransportEvents): void {
    this.events = events
  }

  private peer(host: string, port: number, family: 4 | 6): UdpPeer {
    const k = `${family}|${host}|${port}`
    let p = this.peers.get(k)
    if (!p) {
      if (this.peers.size > 65_536) this.peers.clear() // bounded: sessions keep their own reference
      p = new UdpPeer(host, port, family)
      this.peers.set(k, p)
    }
    return p
  }

  private async open(family: 4 | 6, host: string, port: number): Promise<dgram.Socket> {
    const existing = this.sockets[family]
    if (existing) return existing
    const sock = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 && host !== '::' ? true : false })
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        sock.close()
        reject(
          err.code === 'EADDRINUSE'
            ? new STTConfigError(`UDP port ${port} on ${host} is already in use`, { cause: err })
            : new STTTransportError(ErrorCode.TRANSPORT, `cannot bind UDP ${host}:${port}: ${err.message}`, { cause: err }),
        )
      }
      sock.once('error', onError)
      sock.bind(port, host, () => {
        sock.off('error', onError)
        resolve()
      })
    })
    const rcv = this.opts.recvBufferSize ?? DEFAULT_SOCKET_BUFFER
    const snd = this.opts.sendBufferSize ?? DEFAULT_SOCKET_BUFFER
    try {
      sock.setRecvBufferSize(rcv)
      sock.setSendBufferSize(snd)
    } catch {
      // The kernel may refuse; the granted size is reported below either way.
    }
    this.stats.recvBufferSize = sock.getRecvBufferSize()
    this.stats.sendBufferSize = sock.getSendBufferSize()
    sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo))
    sock.on('error', (err) => {
      this.stats.sendErrors++
      this.events?.onError?.(err)
    })
    this.sockets[family] = sock
    return sock
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed || !this.events) return
    this.stats.packetsReceived++
    this.stats.bytesReceived += msg.length
    this.rxLengths[0] = msg.length
    this.rxFrom[0] = this.peer(rinfo.address, rinfo.port, rinfo.family === 'IPv6' ? 6 : 4)
    this.events.onReceive({ slab: msg, offsets: this.rxOffsets, lengths: this.rxLengths, count: 1, from: this.rxFrom })
  }

  async listen(): Promise<BoundAddress> {
    const host = this.opts.host ?? '0.0.0.0'
    const family = isIP(host) === 6 ? 6 : 4
    const sock = await this.open(family, host, this.opts.port ?? 0)
    const a = sock.address()
    this.bound = { host: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' }
    return this.bound
  }

  async dial(target: string): Promise<PeerAddress> {
    const { host, port } = parseHostPort(target, 'udp')
    let ip = host
    if (!isIP(host)) {
      try {
        ip = (await lookup(host)).address
      } catch (err) {
        throw new STTTransportError(ErrorCode.NETWORK_UNREACHABLE, `cannot resolve ${host}: ${(err as Error).message}`, { cause: err })
      }
    }
    const family = isIP(ip) === 6 ? 6 : 4
    if (!this.sockets[family]) await this.open(family, family === 6 ? '::' : '0.0.0.0', 0)
    return this.peer(ip, port, family)
  }

  /** One completion callback for every send (no closure per datagram on the hot path). */
  private readonly onSent = (err: Error | null): void => {
    if (err) {
      this.stats.sendErrors++
      this.events?.onError?.(err)
    }
  }

  send(batch: TxBatch): void {
    const to = batch.to
    const sock = this.sockets[to.family === 'IPv6' ? 6 : 4]
    if (!sock || this.closed) {
      this.stats.dropped['closed'] = (this.stats.dropped['closed'] ?? 0) + batch.count
      return
    }
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i]!
      const len = batch.lengths[i]!
      // node:dgram copies synchronously when it can send at once and keeps the buffer
      // otherwise, so give it its own copy: the slab is reused by the caller.
      const data = Buffer.from(batch.slab.subarray(off, off + len))
      this.stats.packetsSent++
      this.stats.bytesSent += len
      sock.send(data, to.port!, to.host!, this.onSent)
    }
  }

  getStats(): TransportStats {
    // node:dgram cannot set IP_MTU_DISCOVER: Linux's default (IP_PMTUDISC_WANT) sets DF only up to
    // the kernel's cached path MTU and fragments above it (docs/guide/07-troubleshooting.md#mtu).
    return { ...this.stats, dropped: { ...this.stats.dropped }, dontFragment: false }
  }

  get address(): BoundAddress | null {
    return this.bound
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const socks = [this.sockets[4], this.sockets[6]].filter((s): s is dgram.Socket => !!s)
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))))
  }
}
