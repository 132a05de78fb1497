/**
 * Two real `Endpoint`s (handshake, sessions, AEAD, loss recovery, congestion control, streams)
 * on the deterministic network simulator, plus the small application logic the sim scenarios
 * share: a stream writer that keeps the send buffer topped up, a reader that drains
 * `StreamManager.read` from the event handler (optionally rate-limited), SHA-256 of both ends.
 *
 *   const p = new SimPair({ seed: 1, link: { delayMs: 10 } })
 *   p.connect()                                  // runs the handshake, sets p.cs / p.ss
 *   const t = p.transfer({ streams: 8, bytesPerStream: 8 << 20 })
 *   p.run(() => t.done(), 600_000)
 *   t.expectExact()
 *
 * Everything is seeded: endpoints get `seededRandom(...)` (deterministic X25519 keys too) and
 * the network its own seed, so a run replays exactly. Endpoints use the JS AEAD (real crypto).
 */
import { createHash, type Hash } from 'node:crypto'
import { resolveProtocolConfig } from '../../src/config.js'
import { jsAead } from '../../src/crypto/js-aead.js'
import { Endpoint, type CoreEvent } from '../../src/protocol/endpoint.js'
import { setRecvMemory } from '../../src/protocol/recv-buffer.js'
import type { Session } from '../../src/protocol/session.js'
import type { StreamEvent } from '../../src/protocol/streams.js'
import { createSim, type HostSchedule, type LinkConfig, type RunResult, type SansIoEndpoint, type Sim } from './netsim.js'
import { Rng, seededRandom } from './rng.js'

export type Side = 'client' | 'server'

export interface SimPairOptions {
  seed: number
  /** Default config of every link (both directions, and links created later, e.g. after NAT rebinding). */
  link?: LinkConfig
  /** Protocol options for both endpoints (sharedSeed is supplied). */
  options?: Record<string, unknown>
  client?: Record<string, unknown>
  server?: Record<string, unknown>
  /** Virtual start time (ms). */
  start?: number
  /** Record the network trace (sim.network.trace). */
  trace?: boolean
  /** Busy windows and timer lateness per side (netsim.ts HostSchedule); may be set after construction. */
  schedules?: Partial<Record<Side, HostSchedule>>
}

/** Adapts an Endpoint to the driver (the driver's pollTimeout takes no `now` and wants null for "none"). */
function adapt(ep: Endpoint, sim: Sim): SansIoEndpoint {
  return {
    handleBatch: (now, b) => ep.handleBatch(now, b),
    handleTimeout: (now) => ep.handleTimeout(now),
    pollTransmit: (now) => ep.pollTransmit(now),
    pollTimeout: () => {
      const t = ep.pollTimeout(sim.clock.now)
      return t === Infinity ? null : t
    },
    pollEvent: () => ep.pollEvent(),
  }
}

export type StreamHandler = (side: Side, session: Session, e: StreamEvent<Session>, now: number) => void

const STREAM_KINDS = new Set(['stream-opened', 'readable', 'writable', 'end', 'aborted', 'stream-closed', 'message'])
function isStreamEvent(e: CoreEvent): e is StreamEvent<Session> {
  return STREAM_KINDS.has(e.kind)
}

export class SimPair {
  readonly sim: Sim
  readonly client: Endpoint
  readonly server: Endpoint
  cs!: Session
  ss!: Session
  readonly events: Array<{ side: Side; now: number; ev: CoreEvent }> = []
  /** Per-session (non-stream) events, e.g. key-update, migrated. */
  readonly sessionEvents: Array<{ side: Side; now: number; kind: string }> = []
  private readonly streamHandlers: StreamHandler[] = []
  private readonly endpoints: Record<string, SansIoEndpoint>
  /** Called after every step-event batch; tests hook per-step checks here. */
  onEvent: ((side: Side, ev: CoreEvent, now: number) => void) | null = null

  constructor(readonly opts: SimPairOptions) {
    // A fresh receive page for every pair: recv-buffer.ts's bump allocator is module state, and
    // where in its page the previous test left off decides which contiguous segments merge, so
    // read sizes and credit timing (and with them a sharing result: bbr vs bbr, one BDP, seed
    // 917, read 0.37 alone and 1.09 after the rest of bbr.test.ts) depended on earlier tests.
    setRecvMemory((n) => new Uint8Array(n))
    this.sim = createSim({ seed: opts.seed, link: opts.link ?? {}, start: opts.start ?? 0, trace: opts.trace ?? false })
    const sharedSeed = new Rng(`shared:${opts.seed}`).bytes(32)
    const mk = (side: Side, extra: Record<string, unknown> | undefined): Endpoint => {
      const random = seededRandom(`${side}:${opts.seed}`)
      const config = resolveProtocolConfig({ sharedSeed, name: side, ...opts.options, ...extra }, random)
      return new Endpoint(config, jsAead, random, this.sim.clock.now)
    }
    this.client = mk('client', opts.client)
    this.server = mk('server', opts.server)
    this.endpoints = { client: adapt(this.client, this.sim), server: adapt(this.server, this.sim) }
  }

  get now(): number {
    return this.sim.clock.now
  }

  onStream(h: StreamHandler): void {
    this.streamHandlers.push(h)
  }

  private dispatch(node: string, ev: CoreEvent, now: number): void {
    const side = node as Side
    this.events.push({ side, now, ev })
    if (ev.kind === 'connected') this.cs = ev.session
    if (ev.kind === 'accepted') this.ss = ev.session
    if (isStreamEvent(ev)) {
      for (const h of this.streamHandlers) h(side, ev.session, ev, now)
    } else if (ev.kind !== 'connected' && ev.kind !== 'accepted' && ev.kind !== 'connect-failed') {
      this.sessionEvents.push({ side, now, kind: ev.kind })
    }
    this.onEvent?.(side, ev, now)
  }

  /** Runs the driver until `until` (throws with seed and link stats when not reached, unless allowFail). */
  run(until: () => boolean, maxTime: number, allowFail = false): RunResult {
    return this.sim.run({
      endpoints: this.endpoints,
      until,
      maxTime: this.now + maxTime,
      onEvent: (node, ev, now) => this.dispatch(node, ev as CoreEvent, now),
      allowFail,
      schedules: this.opts.schedules as Record<string, HostSchedule> | undefined,
    })
  }

  /** Starts the handshake (client -> server) and runs until both sides have their session. */
  connect(maxTime = 15_000, allowFail = false): RunResult {
    this.client.connect(this.now, this.sim.address('client', 'server'))
    return this.run(() => this.cs !== undefined && this.ss !== undefined, maxTime, allowFail)
  }

  session(side: Side): Session {
    return side === 'client' ? this.cs : this.ss
  }

  /** Sets transfer-style byte streams going; see Transfer. */
  transfer(o: TransferOptions): Transfer {
    return new Transfer(this, o)
  }
}

/** A deterministic, non-repeating-per-stream byte source: a prime-length random block, rotated per stream. */
const BLOCK_LEN = 1_048_573
let block: Uint8Array | null = null
function patternBlock(): Uint8Array {
  if (block === null) {
    // Twice the block so any window of up to BLOCK_LEN bytes is one contiguous view.
    const b = new Rng('pattern').bytes(BLOCK_LEN)
    block = new Uint8Array(2 * BLOCK_LEN)
    block.set(b, 0)
    block.set(b, BLOCK_LEN)
  }
  return block
}

/** Bytes [pos, pos + n) of stream number `index`'s content (n <= BLOCK_LEN). */
export function streamBytes(index: number, pos: number, n: number): Uint8Array {
  const start = (pos + index * 7919) % BLOCK_LEN
  return patternBlock().subarray(start, start + n)
}

export interface TransferOptions {
  /** Who writes (default client). */
  from?: Side
  streams: number
  bytesPerStream: number
  /** Bytes per write() call (default 64 KiB). */
  writeSize?: number
  /** Receiver read rate in bytes per virtual second (default: unlimited, drain on every event). */
  readRate?: number
  /** Read tick for the rate-limited reader (ms, default 10). */
  readTickMs?: number
  /** Explicit sessions (default: the pair's client/server sessions per `from`). */
  sessions?: { from: Session; to: Session }
}

interface StreamProgress {
  index: number
  key: number
  written: number
  ended: boolean
  blocked: boolean
  writeReturnedFalse: number
  read: number
  ended_rx: boolean
  txHash: Hash
  rxHash: Hash
  txDigest: string | null
  rxDigest: string | null
  firstByteAt: number
  lastReadAt: number
  doneAt: number
}

/**
 * Writer on one side, reader on the other. The writer keeps each stream topped up until
 * write() returns false, then waits for 'writable'. The reader hashes what it reads.
 */
export class Transfer {
  readonly from: Side
  readonly to: Side
  readonly streams: StreamProgress[] = []
  private readonly byKey = new Map<number, StreamProgress>()
  private readonly writeSize: number
  /** Rate-limited reader: bytes it may still read this tick. */
  private readBudget = Infinity
  /** Largest sendBuffered seen on any stream of the writer. */
  maxSendBuffered = 0
  /** Largest receiveBuffered seen on any stream of the reader. */
  maxRecvBuffered = 0
  readonly fromSession: Session
  readonly toSession: Session

  constructor(
    p: SimPair,
    readonly o: TransferOptions,
  ) {
    this.from = o.from ?? 'client'
    this.to = this.from === 'client' ? 'server' : 'client'
    this.writeSize = o.writeSize ?? 64 * 1024
    this.fromSession = o.sessions?.from ?? p.session(this.from)
    this.toSession = o.sessions?.to ?? p.session(this.to)
    const ws = this.fromSession.streams
    for (let i = 0; i < o.streams; i++) {
      const key = ws.openStream()
      const sp: StreamProgress = {
        index: i,
        key,
        written: 0,
        ended: false,
        blocked: false,
        writeReturnedFalse: 0,
        read: 0,
        ended_rx: false,
        txHash: createHash('sha256'),
        rxHash: createHash('sha256'),
        txDigest: null,
        rxDigest: null,
        firstByteAt: -1,
        lastReadAt: -1,
        doneAt: -1,
      }
      this.streams.push(sp)
      this.byKey.set(key, sp)
    }
    p.onStream((_side, session, e, now) => {
      const sp = this.byKey.get(e.stream)
      if (sp === undefined) return
      if (session === this.fromSession && e.kind === 'writable') {
        sp.blocked = false
        this.pump(sp)
      }
      if (session === this.toSession) {
        if (e.kind === 'stream-opened' || e.kind === 'readable') this.drain(sp, now)
        if (e.kind === 'end') {
          sp.ended_rx = true
          sp.rxDigest = sp.rxHash.digest('hex')
          sp.doneAt = now
        }
      }
    })
    if (o.readRate !== undefined) {
      const tick = o.readTickMs ?? 10
      const perTick = (o.readRate * tick) / 1000
      this.readBudget = perTick
      const loop = (): void => {
        this.readBudget = perTick
        for (const sp of this.streams) this.drain(sp, p.now)
        if (!this.done()) p.sim.clock.after(tick, loop)
      }
      p.sim.clock.after(tick, loop)
    }
    for (const sp of this.streams) this.pump(sp)
  }

  private pump(sp: StreamProgress): void {
    const ws = this.fromSession.streams
    const total = this.o.bytesPerStream
    while (!sp.blocked && sp.written < total) {
      const n = Math.min(this.writeSize, total - sp.written)
      const data = streamBytes(sp.index, sp.written, n)
      sp.txHash.update(data)
      sp.written += n
      if (!ws.write(sp.key, data)) {
        sp.blocked = true
        sp.writeReturnedFalse++
      }
    }
    const st = ws.getStreamStats(sp.key)
    if (st !== null && st.sendBuffered > this.maxSendBuffered) this.maxSendBuffered = st.sendBuffered
    if (sp.written === total && !sp.ended) {
      ws.end(sp.key)
      sp.ended = true
      sp.txDigest = sp.txHash.digest('hex')
    }
  }

  private drain(sp: StreamProgress, now: number): void {
    const rs = this.toSession.streams
    if (this.readBudget !== Infinity) {
      const st = rs.getStreamStats(sp.key)
      if (st !== null && st.receiveBuffered > this.maxRecvBuffered) this.maxRecvBuffered = st.receiveBuffered
    }
    while (this.readBudget > 0) {
      const b = rs.read(sp.key, this.readBudget === Infinity ? Infinity : Math.max(1, Math.floor(this.readBudget)))
      if (b === null) break
      if (sp.firstByteAt < 0) sp.firstByteAt = now
      sp.lastReadAt = now
      sp.rxHash.update(b)
      sp.read += b.length
      if (this.readBudget !== Infinity) this.readBudget -= b.length
    }
  }

  /** Every stream fully read and ended on the receiver. */
  done(): boolean {
    return this.streams.every((s) => s.ended_rx)
  }

  get bytesRead(): number {
    return this.streams.reduce((n, s) => n + s.read, 0)
  }

  /** Length and SHA-256 of every stream match on both ends. */
  expectExact(expectFn: (v: unknown) => { toBe(x: unknown): void; toEqual(x: unknown): void }): void {
    for (const s of this.streams) {
      expectFn({ stream: s.index, read: s.read }).toEqual({ stream: s.index, read: this.o.bytesPerStream })
      expectFn(s.rxDigest).toBe(s.txDigest)
    }
  }
}

/** Wall-clock helper for reporting each scenario's real time. */
export function timed<T>(label: string, fn: () => T): T {
  const t0 = performance.now()
  try {
    return fn()
  } finally {
    const ms = performance.now() - t0
    // Printed so the report can quote real durations (vitest shows console output per test).
    console.log(`[sim] ${label}: ${ms.toFixed(0)} ms real time`)
  }
}
