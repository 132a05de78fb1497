/**
 * STTWorkerNode: one node on N cores. It runs N worker_threads, each with its own STTNode on
 * its own socket of one SO_REUSEPORT group (reuseport-group.ts), and the kernel steers every
 * datagram to a worker by the session id of its cleartext header: a handshake and all later
 * packets of that session (from any address: roaming, NAT rebinding) reach the same worker.
 * The application stays in the main thread: 'session' gives a WorkerSession whose datagrams and
 * messages cross threads in transferred batches (datagram-batch.ts).
 *
 * Where steering is unavailable (not Linux, or the pure-TypeScript backend) it runs ONE worker
 * and warns once. A worker that crashes closes only its own sessions (error STT_WORKER_EXITED)
 * and is replaced on the same socket, so the node keeps serving. stop() ends every worker and
 * closes the group: no handle is left.
 */
import { EventEmitter } from 'node:events'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { DEFAULTS } from '../config.js'
import { ErrorCode, errorFor, STTConfigError, STTSessionError } from '../errors.js'
import type { STTNodeOptions } from '../node.js'
import type { CloseInfo } from '../session.js'
import { DATAGRAM_TAG, DatagramBatchWriter, readDatagramBatch } from './datagram-batch.js'
import { MAX_GROUP_SOCKETS, ReuseportGroup, reuseportUnavailableReason } from './reuseport-group.js'
import type { FromWorker, SessionInfo, ToWorker, WorkerInit, WorkerStats } from './worker-messages.js'

export interface STTWorkerNodeOptions extends STTNodeOptions {
  /** Worker threads (default 1); 'auto' = os.availableParallelism(). */
  workers?: number | 'auto'
}

/** Internal: lets tests crash a worker on purpose (never set by applications). */
export const WORKER_TEST_HOOKS: unique symbol = Symbol('stt.workers.testHooks')

let warned = false
function warnOnce(message: string): void {
  if (warned) return
  warned = true
  process.emitWarning(message, { code: 'STT_WORKERS_FALLBACK' })
}

/** The compiled worker script (dist/workers/worker-entry.js, also when this module runs from src/ under a test runner). */
function workerScript(): URL {
  const here = new URL('./worker-entry.js', import.meta.url)
  if (existsSync(fileURLToPath(here))) return here
  return new URL('../../dist/workers/worker-entry.js', import.meta.url)
}

/** A session held by a worker, as the main thread sees it. */
export class WorkerSession extends EventEmitter {
  #closed = false
  #closeWaiters: Array<() => void> = []
  readonly #pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>()
  readonly #owner: STTWorkerNode
  constructor(
    owner: STTWorkerNode,
    /** Which worker holds it (the one the session id steers to). */
    readonly worker: number,
    readonly key: number,
    info: SessionInfo,
  ) {
    super()
    this.#owner = owner
    this.id = info.id
    this.peerNodeId = Buffer.from(info.peerNodeId)
    this.peerName = info.peerName
    this.remoteAddress = info.remoteAddress
    this.transport = info.transport
  }
  readonly id: string
  readonly peerNodeId: Buffer
  readonly peerName: string
  readonly remoteAddress: string
  readonly transport: string

  get closed(): boolean {
    return this.#closed
  }

  /** Queues a datagram for the worker (sent with the others of this turn); false once closed. */
  sendDatagram(data: Uint8Array): boolean {
    if (this.#closed) return false
    return this.#owner._send(this, data)
  }

  /**
   * Sends a message (delivered whole and reliably, as STTSession.send) on message stream
   * `streamId` (default 0); resolves once the worker's session has taken it.
   */
  send(data: Uint8Array, opts: { streamId?: number } = {}): Promise<void> {
    if (!(data instanceof Uint8Array)) return Promise.reject(new STTConfigError('send takes a Uint8Array/Buffer'))
    const streamId = opts.streamId ?? 0
    if (!Number.isInteger(streamId) || streamId < 0 || streamId >= DATAGRAM_TAG) return Promise.reject(new STTConfigError('streamId must be an integer 0..2^32-2 on a WorkerSession'))
    if (this.#closed) return Promise.reject(new STTSessionError(ErrorCode.SESSION_CLOSED, `session ${this.id} is closed`))
    return new Promise((resolve, reject) => {
      const id = this.#owner._sendMessage(this, data, streamId)
      if (id === 0) reject(new STTSessionError(ErrorCode.SESSION_CLOSED, `session ${this.id} is closed`))
      else this.#pending.set(id, { resolve, reject })
    })
  }

  /** @internal a send's outcome from the worker */
  _settle(id: number, error?: Error): boolean {
    const p = this.#pending.get(id)
    if (!p) return false
    this.#pending.delete(id)
    if (error) p.reject(error)
    else p.resolve()
    return true
  }

  /** Closes the session (in its worker); resolves once it is closed. */
  close(reason = 'closed by application'): Promise<void> {
    if (this.#closed) return Promise.resolve()
    const done = new Promise<void>((r) => this.#closeWaiters.push(r))
    this.#owner._close(this, reason)
    return done
  }

  /** @internal */
  _closed(info: CloseInfo, error?: Error): void {
    if (this.#closed) return
    this.#closed = true
    for (const w of this.#closeWaiters.splice(0)) w()
    const pendingErr = error ?? new STTSessionError(ErrorCode.SESSION_CLOSED, `session ${this.id} closed: ${info.reason}`)
    for (const p of this.#pending.values()) p.reject(pendingErr)
    this.#pending.clear()
    process.nextTick(() => {
      if (error) this.emit('error', error)
      this.emit('close', info)
    })
  }
}

interface Slot {
  index: number
  worker: Worker
  sessions: Map<number, WorkerSession>
  out: DatagramBatchWriter
  flushQueued: boolean
  stopping: boolean
  restarts: number
  statsWaiters: Array<(s: WorkerStats) => void>
}

export class STTWorkerNode extends EventEmitter {
  readonly #options: Record<string, unknown>
  readonly #wanted: number
  readonly #maxSessions: number
  readonly #counters = new SharedArrayBuffer(4 * (1 + MAX_GROUP_SOCKETS))
  readonly #testHooks: boolean
  #group: ReuseportGroup | null = null
  #slots: Slot[] = []
  #host = '0.0.0.0'
  #port = 0
  #state: 'new' | 'started' | 'stopped' = 'new'
  #sendIds = 0
  /** Send id -> the session waiting for it (acks name only the id). */
  readonly #sends = new Map<number, WorkerSession>()

  constructor(options: STTWorkerNodeOptions) {
    super()
    if (!options || typeof options !== 'object') throw new STTConfigError('STTWorkerNode needs an options object with at least sharedSeed')
    const { workers, ...rest } = options
    const n = workers === undefined ? 1 : workers === 'auto' ? availableParallelism() : workers
    if (!Number.isInteger(n) || n < 1 || n > MAX_GROUP_SOCKETS) throw new STTConfigError(`workers must be 1..${MAX_GROUP_SOCKETS} or 'auto' (got ${String(workers)})`)
    if (rest.transportImpl) throw new STTConfigError('transportImpl cannot be shared by workers: each worker owns its socket')
    const transports = rest.transport === undefined ? ['udp'] : Array.isArray(rest.transport) ? rest.transport : [rest.transport]
    if (transports.some((t) => t !== 'udp')) throw new STTConfigError("STTWorkerNode serves UDP only (transport: 'udp'); run WebSocket on an STTNode")
    this.#testHooks = (options as { [WORKER_TEST_HOOKS]?: boolean })[WORKER_TEST_HOOKS] === true
    // Every worker must be the same node: one identity (node seed) for all of them.
    const nodeSeed = rest.nodeSeed ?? new Uint8Array(randomBytes(32))
    this.#options = { ...rest, nodeSeed }
    this.#maxSessions = rest.maxSessions ?? DEFAULTS.maxSessions
    this.#host = rest.host ?? '0.0.0.0'
    this.#port = rest.port ?? 0
    const why = n > 1 ? reuseportUnavailableReason() : null
    if (why) warnOnce(`stt-node: ${why}; running 1 worker instead of ${n}`)
    this.#wanted = why ? 1 : n
  }

  /** Worker threads this node runs (1 where steering is unavailable). */
  get workers(): number {
    return this.#wanted
  }

  /** Live sessions over all workers. */
  get sessionCount(): number {
    return Atomics.load(new Int32Array(this.#counters), 0)
  }

  /** Opens the group and starts every worker; resolves with the bound port once all serve. */
  async start(): Promise<{ host: string; port: number; workers: number }> {
    if (this.#state !== 'new') throw new STTConfigError('an STTWorkerNode starts once')
    this.#state = 'started'
    if (this.#wanted > 1) {
      this.#group = await ReuseportGroup.open(this.#host, this.#port, this.#wanted)
      this.#port = this.#group.port
    }
    try {
      for (let i = 0; i < this.#wanted; i++) {
        const slot = this.#spawn(i)
        this.#slots.push(slot)
        const port = await this.#ready(slot)
        // Single worker without a group: it bound the port itself (maybe 0 = any).
        if (!this.#group) this.#port = port
      }
    } catch (e) {
      await this.stop()
      throw e
    }
    return { host: this.#host, port: this.#port, workers: this.#wanted }
  }

  /** Ends every worker (their sessions close) and the group's sockets. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return
    this.#state = 'stopped'
    await Promise.all(
      this.#slots.map(async (slot) => {
        slot.stopping = true
        const exited = new Promise<void>((r) => slot.worker.once('exit', () => r()))
        slot.worker.postMessage({ t: 'stop' } satisfies ToWorker)
        // A worker that does not finish in time is terminated (its env cleanup closes the socket).
        const timer = setTimeout(() => void slot.worker.terminate(), 10_000)
        await exited
        clearTimeout(timer)
      }),
    )
    this.#group?.close()
    this.#group = null
  }

  /** Per-worker counters (sessions, accepted, refused, datagrams). */
  async stats(): Promise<WorkerStats[]> {
    return Promise.all(
      this.#slots.map(
        (slot) =>
          new Promise<WorkerStats>((resolve) => {
            slot.statsWaiters.push(resolve)
            slot.worker.postMessage({ t: 'stats' } satisfies ToWorker)
          }),
      ),
    )
  }

  /** @internal WorkerSession.sendDatagram */
  _send(s: WorkerSession, data: Uint8Array): boolean {
    const slot = this.#slots[s.worker]
    if (!slot || slot.sessions.get(s.key) !== s) return false
    slot.out.add(s.key, data)
    if (!slot.flushQueued) {
      slot.flushQueued = true
      setImmediate(() => this.#flush(slot))
    }
    return true
  }

  /** @internal WorkerSession.send: queues the message, returns its send id (0: session gone). */
  _sendMessage(s: WorkerSession, data: Uint8Array, streamId: number): number {
    const slot = this.#slots[s.worker]
    if (!slot || slot.sessions.get(s.key) !== s) return 0
    const id = (this.#sendIds = (this.#sendIds % 0xfffffffe) + 1)
    this.#sends.set(id, s)
    slot.out.add(s.key, data, streamId, id)
    if (!slot.flushQueued) {
      slot.flushQueued = true
      setImmediate(() => this.#flush(slot))
    }
    return id
  }

  /** @internal WorkerSession.close */
  _close(s: WorkerSession, reason: string): void {
    const slot = this.#slots[s.worker]
    if (!slot || slot.sessions.get(s.key) !== s) return
    this.#flush(slot) // datagrams queued before the close go first
    slot.worker.postMessage({ t: 'close', key: s.key, reason } satisfies ToWorker)
  }

  /** Internal test door: makes worker `index` throw an uncaught exception. */
  _crashForTest(index: number): void {
    if (!this.#testHooks) throw new STTConfigError('not a test node')
    this.#slots[index]?.worker.postMessage({ t: 'crash' } satisfies ToWorker)
  }

  #forgetSends(s: WorkerSession): void {
    for (const [id, owner] of this.#sends) if (owner === s) this.#sends.delete(id)
  }

  #flush(slot: Slot): void {
    slot.flushQueued = false
    if (slot.out.empty) return
    const buf = slot.out.take()
    slot.worker.postMessage({ t: 'dgrams', buf } satisfies ToWorker, [buf])
  }

  #spawn(index: number): Slot {
    const init: WorkerInit = {
      index,
      fd: this.#group ? this.#group.fd(index) : -1,
      host: this.#host,
      port: this.#port,
      options: this.#options,
      counters: this.#counters,
      maxSessions: this.#maxSessions,
      testHooks: this.#testHooks,
    }
    const worker = new Worker(workerScript(), { workerData: init, stdout: false, stderr: false })
    const slot: Slot = { index, worker, sessions: new Map(), out: new DatagramBatchWriter(), flushQueued: false, stopping: false, restarts: 0, statsWaiters: [] }
    worker.on('message', (m: FromWorker) => this.#onMessage(slot, m))
    worker.on('error', (e: Error) => (slot as Slot & { lastError?: Error }).lastError = e)
    worker.on('exit', (code) => this.#onExit(slot, code))
    return slot
  }

  #ready(slot: Slot): Promise<number> {
    return new Promise((resolve, reject) => {
      const onMsg = (m: FromWorker): void => {
        if (m.t === 'ready') {
          slot.worker.off('message', onMsg)
          resolve(m.port)
        } else if (m.t === 'start-failed') {
          slot.worker.off('message', onMsg)
          reject(errorFor(m.code as ErrorCode, `worker ${slot.index}: ${m.message}`))
        }
      }
      slot.worker.on('message', onMsg)
      slot.worker.once('exit', (code) => reject(new STTSessionError(ErrorCode.WORKER_EXITED, `worker ${slot.index} exited (${code}) before it served`)))
    })
  }

  #onMessage(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case 'session': {
        const s = new WorkerSession(this, slot.index, m.s.key, m.s)
        slot.sessions.set(m.s.key, s)
        this.emit('session', s)
        break
      }
      case 'dgrams':
        readDatagramBatch(m.buf, (key, data, tag) => {
          const s = slot.sessions.get(key)
          if (!s) return
          if (tag === DATAGRAM_TAG) s.emit('datagram', data)
          else s.emit('message', { sessionId: s.id, streamId: tag, data })
        })
        break
      case 'acks':
        for (const id of m.ok) {
          this.#sends.get(id)?._settle(id)
          this.#sends.delete(id)
        }
        for (const f of m.failed) {
          this.#sends.get(f.id)?._settle(f.id, errorFor(f.code as ErrorCode, f.message))
          this.#sends.delete(f.id)
        }
        break
      case 'closed': {
        const s = slot.sessions.get(m.key)
        if (!s) break
        slot.sessions.delete(m.key)
        this.#forgetSends(s)
        s._closed(m.info, m.error ? errorFor(m.error.code as ErrorCode, m.error.message) : undefined)
        break
      }
      case 'stats':
        slot.statsWaiters.shift()?.(m.stats)
        break
    }
  }

  #onExit(slot: Slot, code: number): void {
    // Its sessions are gone with it: close each with a typed reason.
    const lost = [...slot.sessions.values()]
    slot.sessions.clear()
    for (const s of lost) this.#forgetSends(s)
    const counters = new Int32Array(this.#counters)
    const held = Atomics.exchange(counters, 1 + slot.index, 0)
    Atomics.sub(counters, 0, held)
    for (const w of slot.statsWaiters.splice(0)) w({ sessions: 0, accepted: 0, refused: 0, datagramsIn: 0, datagramsOut: 0, messagesIn: 0, messagesOut: 0 })
    if (slot.stopping || this.#state !== 'started') {
      for (const s of lost) s._closed({ code: 0, reason: 'node stopped', remote: false, hadError: false })
      return
    }
    const cause = (slot as Slot & { lastError?: Error }).lastError
    const reason = `worker ${slot.index} exited (code ${code})${cause ? `: ${cause.message}` : ''}`
    for (const s of lost) s._closed({ code: 0x0201, reason, remote: false, hadError: true }, new STTSessionError(ErrorCode.WORKER_EXITED, `session ${s.id} closed: ${reason}`, { cause }))
    this.emit('worker-exit', { worker: slot.index, code, error: cause })
    // Replace it on the same socket (the group keeps the socket's index): the node keeps serving.
    const next = this.#spawn(slot.index)
    next.restarts = slot.restarts + 1
    this.#slots[slot.index] = next
    this.#ready(next).catch((e: unknown) => this.emit('error', e))
  }
}
