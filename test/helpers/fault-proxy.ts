/**
 * A real UDP proxy on loopback that injects seeded faults (lesson 12; udx-native's
 * test/helpers/proxy.js, quic-network-simulator's drop-rate/corrupt-rate/blackhole knobs).
 *
 *   client ──► [listen socket, port 0] ──faults(toTarget)──► [upstream socket per client] ──► target
 *   client ◄── [listen socket]         ◄──faults(toClient)── [upstream socket per client] ◄── target
 *
 * One upstream socket per client address, like a NAT mapping, so the target's replies tell us
 * which client to return them to and the target sees each client as a distinct address.
 *
 * Faults per datagram, in order: blockAll -> drop hook -> random loss -> burst loss
 * (Gilbert-Elliott) -> duplication -> per copy: corruption (one flipped bit), delay + jitter,
 * reorder (extra hold). Decisions come from a seeded Rng (one stream per direction and knob), so
 * *which* datagrams are hit is reproducible; the timing of real sockets is not, and tests must
 * not assert on it. Delay and jitter use real timers, so jitter larger than the gap between
 * datagrams reorders them, as a real path would.
 */

import dgram from 'node:dgram'
import net from 'node:net'
import { Rng } from './rng.js'
import { flipBits, type GilbertElliott } from './netsim.js'

export type ProxyDirection = 'toTarget' | 'toClient'

export interface DirectionFaults {
  /** Independent loss probability. */
  loss?: number
  /** Bursty loss (Gilbert-Elliott). */
  burstLoss?: GilbertElliott
  /** Probability of sending a datagram twice. */
  duplicate?: number
  /** With probability `rate`, hold a datagram `delayMs` longer so later ones overtake it. */
  reorder?: { rate: number; delayMs: number }
  /** Probability of flipping one random bit of a (copied) datagram. */
  corrupt?: number
  /** Fixed delay plus uniform jitter in [0, jitterMs]. */
  delay?: { ms: number; jitterMs?: number }
  /** Drop everything (a blackout / blackhole) until set back to false. */
  blockAll?: boolean
  /** Per-datagram hook: return true to drop. `index` counts datagrams seen in this direction from 0. */
  drop?: (bytes: Buffer, index: number) => boolean
}

export interface FaultProxyOptions extends DirectionFaults {
  target: { host: string; port: number }
  seed?: number | string
  /** UDP port to listen on (default 0: any), e.g. the TCP port of a WebSocket listener, so auto:// finds both. */
  port?: number
  /** 4 (default) binds 127.0.0.1, 6 binds ::1. */
  family?: 4 | 6
  /** Overrides for client -> target, merged over the top-level faults. */
  toTarget?: DirectionFaults
  /** Overrides for target -> client, merged over the top-level faults. */
  toClient?: DirectionFaults
}

export interface DirectionStats {
  received: number
  /** Datagrams handed to the socket (duplicates count twice). */
  forwarded: number
  bytesForwarded: number
  dropped: { blocked: number; filter: number; loss: number; burst: number }
  duplicated: number
  corrupted: number
  reordered: number
  sendErrors: number
}

export interface FaultProxy {
  /** Where clients should send. */
  readonly host: string
  readonly port: number
  readonly family: 4 | 6
  readonly stats: Readonly<Record<ProxyDirection, DirectionStats>>
  /** Distinct client addresses seen (= upstream sockets opened). */
  readonly clientCount: number
  /** Changes faults at run time, e.g. `set({ blockAll: true })`, then `set({ blockAll: false })`. */
  set(patch: DirectionFaults, direction?: ProxyDirection | 'both'): void
  /** The faults currently in force for one direction. */
  faults(direction: ProxyDirection): Readonly<DirectionFaults>
  /** Closes every socket and cancels every pending delayed send; leaves no handles behind. */
  close(): Promise<void>
}

const FAULT_KEYS = ['loss', 'burstLoss', 'duplicate', 'reorder', 'corrupt', 'delay', 'blockAll', 'drop'] as const

function pickFaults(o: DirectionFaults | undefined): DirectionFaults {
  const out: Record<string, unknown> = {}
  if (o !== undefined) for (const k of FAULT_KEYS) if (o[k] !== undefined) out[k] = o[k]
  return out as DirectionFaults
}

function emptyStats(): DirectionStats {
  return { received: 0, forwarded: 0, bytesForwarded: 0, dropped: { blocked: 0, filter: 0, loss: 0, burst: 0 }, duplicated: 0, corrupted: 0, reordered: 0, sendErrors: 0 }
}

/** Fault state and decisions for one direction. */
class Impairment {
  faults: DirectionFaults
  readonly stats = emptyStats()
  private bad = false
  private readonly rng: Record<'loss' | 'burst' | 'dup' | 'corrupt' | 'delay' | 'reorder', Rng>

  constructor(faults: DirectionFaults, rng: Rng) {
    this.faults = faults
    this.rng = {
      loss: rng.fork('loss'),
      burst: rng.fork('burst'),
      dup: rng.fork('dup'),
      corrupt: rng.fork('corrupt'),
      delay: rng.fork('delay'),
      reorder: rng.fork('reorder'),
    }
  }

  /** The copies to send and how long to hold each; empty when dropped. */
  decide(msg: Buffer): Array<{ data: Buffer; delayMs: number }> {
    const f = this.faults
    const s = this.stats
    const index = s.received++
    const reason = this.dropReason(msg, index)
    if (reason !== null) {
      s.dropped[reason]++
      return []
    }
    const copies = this.rng.dup.chance(f.duplicate ?? 0) ? 2 : 1
    if (copies === 2) s.duplicated++
    const out: Array<{ data: Buffer; delayMs: number }> = []
    for (let i = 0; i < copies; i++) {
      // Always a private copy: node may still be using `msg`, and copies are corrupted independently.
      const data = Buffer.from(msg)
      if (data.length > 0 && this.rng.corrupt.chance(f.corrupt ?? 0)) {
        flipBits(data, 1, this.rng.corrupt)
        s.corrupted++
      }
      let delayMs = f.delay?.ms ?? 0
      const jitter = f.delay?.jitterMs ?? 0
      if (jitter > 0) delayMs += this.rng.delay.float() * jitter
      if (f.reorder !== undefined && this.rng.reorder.chance(f.reorder.rate)) {
        s.reordered++
        delayMs += f.reorder.delayMs
      }
      out.push({ data, delayMs })
    }
    return out
  }

  private dropReason(msg: Buffer, index: number): keyof DirectionStats['dropped'] | null {
    const f = this.faults
    if (f.blockAll === true) return 'blocked'
    if (f.drop?.(msg, index) === true) return 'filter'
    if (this.rng.loss.chance(f.loss ?? 0)) return 'loss'
    if (f.burstLoss !== undefined) {
      const b = f.burstLoss
      // Transition first, then draw the loss for the state we are in (same model as netsim).
      if (this.bad ? this.rng.burst.chance(b.pBadToGood) : this.rng.burst.chance(b.pGoodToBad)) this.bad = !this.bad
      if (this.rng.burst.chance(this.bad ? (b.lossInBad ?? 1) : (b.lossInGood ?? 0))) return 'burst'
    }
    return null
  }
}

interface Upstream {
  socket: dgram.Socket
  ready: Promise<void>
}

function bindSocket(socket: dgram.Socket, host: string, port = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(port, host, () => {
      socket.off('error', reject)
      resolve()
    })
  })
}

function closeSocket(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve())
    } catch {
      resolve() // already closed (e.g. its bind failed)
    }
  })
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const family = options.family ?? 4
  const type = family === 6 ? 'udp6' : 'udp4'
  const loopback = family === 6 ? '::1' : '127.0.0.1'
  const rng = new Rng(options.seed ?? 1)
  const base = pickFaults(options)
  const dirs: Record<ProxyDirection, Impairment> = {
    toTarget: new Impairment({ ...base, ...pickFaults(options.toTarget) }, rng.fork('toTarget')),
    toClient: new Impairment({ ...base, ...pickFaults(options.toClient) }, rng.fork('toClient')),
  }
  const target = options.target
  const targetIsIp = net.isIP(target.host) !== 0
  const upstreams = new Map<string, Upstream>()
  let clientsSeen = 0
  const timers = new Set<NodeJS.Timeout>()
  let closed = false

  const listener = dgram.createSocket(type)
  // Errors (e.g. ICMP port unreachable surfacing as ECONNREFUSED) must not crash the test run.
  listener.on('error', () => {})
  await bindSocket(listener, loopback, options.port ?? 0)
  const bound = listener.address()

  /** Applies one direction's faults and sends the survivors with `send`. */
  const forward = (dir: ProxyDirection, msg: Buffer, send: (data: Buffer, done: (err: Error | null) => void) => void): void => {
    const imp = dirs[dir]
    for (const { data, delayMs } of imp.decide(msg)) {
      const go = (): void => {
        if (closed) return
        imp.stats.forwarded++
        imp.stats.bytesForwarded += data.length
        send(data, (err) => {
          if (err !== null) imp.stats.sendErrors++
        })
      }
      if (delayMs <= 0) go()
      else {
        const timer = setTimeout(() => {
          timers.delete(timer)
          go()
        }, delayMs)
        timers.add(timer)
      }
    }
  }

  const upstreamFor = (client: dgram.RemoteInfo): Upstream => {
    const key = `${client.address}|${client.port}`
    let up = upstreams.get(key)
    if (up !== undefined) return up
    const socket = dgram.createSocket(type)
    socket.on('error', () => {})
    socket.on('message', (msg, from) => {
      if (closed) return
      // Like an address-restricted NAT: only the target may answer through this mapping.
      if (from.port !== target.port || (targetIsIp && from.address !== target.host)) return
      forward('toClient', msg, (data, done) => listener.send(data, client.port, client.address, done))
    })
    up = { socket, ready: bindSocket(socket, loopback) }
    upstreams.set(key, up)
    clientsSeen++
    return up
  }

  listener.on('message', (msg, client) => {
    if (closed) return
    const up = upstreamFor(client)
    forward('toTarget', msg, (data, done) => {
      // Sends wait for the upstream bind; promise callbacks keep them in order.
      up.ready.then(
        () => (closed ? done(null) : up.socket.send(data, target.port, target.host, done)),
        (err: Error) => done(err),
      )
    })
  })

  return {
    host: bound.address,
    port: bound.port,
    family,
    stats: { toTarget: dirs.toTarget.stats, toClient: dirs.toClient.stats },
    get clientCount() {
      return clientsSeen
    },
    set(patch, direction = 'both') {
      const clean = pickFaults(patch)
      // Explicit `undefined` in the patch clears a knob.
      const cleared = FAULT_KEYS.filter((k) => k in patch && patch[k] === undefined)
      for (const d of direction === 'both' ? (['toTarget', 'toClient'] as const) : [direction]) {
        const next: Record<string, unknown> = { ...dirs[d].faults, ...clean }
        for (const k of cleared) delete next[k]
        dirs[d].faults = next as DirectionFaults
      }
    },
    faults: (direction) => ({ ...dirs[direction].faults }),
    async close() {
      if (closed) return
      closed = true
      for (const t of timers) clearTimeout(t)
      timers.clear()
      const ups = [...upstreams.values()]
      upstreams.clear()
      await Promise.all([
        closeSocket(listener),
        // An upstream still binding is closed once the bind settles, so no late bind callback fires.
        ...ups.map(async (u) => {
          await u.ready.catch(() => {})
          await closeSocket(u.socket)
        }),
      ])
    },
  }
}

/**
 * startFaultProxy on a port number that is also free for TCP, for a node whose WebSocket listens on
 * the proxy's number (auto:// tries UDP and WebSocket on one port): a number the OS handed out for
 * UDP can be in use for TCP by another test's connection (EADDRINUSE, seen once in CI). The number
 * comes from a TCP listener, released once the proxy holds it for UDP, just before the caller
 * listens on it over TCP.
 */
export async function startFaultProxyOnSharedPort(options: Omit<FaultProxyOptions, 'port'>): Promise<FaultProxy> {
  for (let attempt = 1; ; attempt++) {
    const tcp = net.createServer()
    await new Promise<void>((resolve) => tcp.listen(0, options.family === 6 ? '::1' : '127.0.0.1', resolve))
    const port = (tcp.address() as net.AddressInfo).port
    try {
      return await startFaultProxy({ ...options, port })
    } catch (err) {
      if (attempt >= 5) throw err // the number is taken for UDP: try another
    } finally {
      await new Promise<void>((resolve) => tcp.close(() => resolve()))
    }
  }
}
