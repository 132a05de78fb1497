/**
 * STTStream: a node:stream Duplex over one byte stream of a session. Backpressure is the
 * protocol's: write() returns false once the stream's send buffer (streamSendBuffer) is
 * full, and the peer's writes stall when this side stops reading (credit is granted only as
 * data is consumed here).
 *
 * Everything but the Duplex interface, `id`, `sessionId`, `abort()` and `getStats()` is
 * private (`#`): the driver reaches a stream only through `streamEvents` below, which the
 * package does not export.
 */
import { Duplex } from 'node:stream'
import { ErrorCode, STTStreamError, WireError } from './errors.js'
import type { StreamStats } from './protocol/streams.js'
import { setRecvMemory } from './protocol/recv-buffer.js'

// Received bytes are kept in Buffers: #pump pushes read()'s views as they are, and a datagram
// or application frame is a Buffer of its own. Its memory is exactly its size (allocUnsafeSlow,
// not Node's shared 8 KiB pool, whose .buffer would hand the application whatever else that pool
// holds); copyOut writes every byte of it, so nothing uninitialized is exposed either.
setRecvMemory(
  (n) => Buffer.alloc(n),
  (n) => Buffer.allocUnsafeSlow(n),
)

export interface StreamOptions {
  /** Largest DATA frame payload for this stream (the manual's max_frame_size); the packet size bounds it too. */
  maxFrameSize?: number
  /** Send small writes at once instead of coalescing them briefly. */
  noDelay?: boolean
  /** Higher goes first when several streams have data (0-255). */
  priority?: number
}

/** Per-stream numbers plus the session's rtt and cwnd. */
export type STTStreamStats = StreamStats & { rtt: number | null; cwnd: number; bytesInFlightSession: number }

/**
 * What a stream needs from its session: the stream operations of the core, and afterCall,
 * which the stream calls after them once its own state is consistent: the driver then hands
 * out the events they produced (synchronously) and sends what they made due.
 */
export interface StreamHost {
  readonly sessionId: string
  write(key: number, data: Uint8Array): boolean
  end(key: number): void
  read(key: number, max: number): Uint8Array | null
  abort(key: number, code: number): void
  /** The peer ended the stream and every byte of it is here (read or not). */
  receivedAll(key: number): boolean
  stats(key: number): STTStreamStats | null
  /** After core calls: events now, frames in this service pass or the next (`urgent`: at once). */
  afterCall(urgent: boolean): void
}

/** Driver-side entry points of a stream (not exported from the package). */
export interface StreamEvents {
  /** Protocol data is ready to read. */
  readable(s: STTStream): void
  /** The protocol's send buffer drained below its mark. */
  writable(s: STTStream): void
  /** The peer finished its direction (after everything it sent was read). */
  end(s: STTStream): void
  /** The peer aborted the stream with `code`. */
  aborted(s: STTStream, code: number): void
  /** The session is gone: fail whatever is pending (quietly when `err` is null). */
  sessionClosed(s: STTStream, err: Error | null): void
  /** Wire key of the stream (id * 2 for byte streams). */
  key(s: STTStream): number
}
export let streamEvents!: StreamEvents

export class STTStream extends Duplex {
  static {
    streamEvents = {
      readable: (s) => s.#pump(),
      writable: (s) => s.#onWritable(),
      end: (s) => {
        s.#pump()
        s.push(null)
      },
      aborted: (s, code) => s.destroy(new STTStreamError(ErrorCode.STREAM_CLOSED, `stream ${s.id} was aborted by the peer (code 0x${code.toString(16)})`, { wireCode: code })),
      sessionClosed: (s, err) => {
        if (s.destroyed) return
        s.#sessionGone = true
        if (err) s.destroy(err)
        else if (s.#host.receivedAll(s.#key)) s.#endAfterSession()
        else s.destroy()
      },
      key: (s) => s.#key,
    }
  }

  /** Stream id, the same on both sides. */
  readonly id: number
  readonly #host: StreamHost
  readonly #key: number
  readonly #noDelay: boolean
  #pendingWrite: ((err?: Error | null) => void) | null = null
  #wantRead = false
  #sessionGone = false

  /** @internal Streams are made by STTSession.openStream and the 'stream' event. */
  constructor(host: StreamHost, key: number, opts: StreamOptions = {}) {
    super({ allowHalfOpen: true, highWaterMark: 64 * 1024 })
    this.#host = host
    this.#key = key
    this.id = key >>> 1
    this.#noDelay = opts.noDelay === true
    // Every push() would otherwise queue a process.nextTick (Readable's maybeReadMore: call
    // _read() again until highWaterMark) — per chunk, and in Node 20 each tick-queue drain
    // also allocates a Map (issue 13: ~800 B and 2 ticks per 64-byte round trip). #pump
    // already moves everything readable while the consumer wants it, and Readable still
    // calls _read() itself whenever its buffer falls below highWaterMark, so the read-ahead
    // tick has nothing to do here: mark it as permanently pending so it is never queued.
    const state = (this as unknown as { _readableState?: { readingMore?: boolean } })._readableState
    if (state !== undefined && 'readingMore' in state) state.readingMore = true
  }

  get sessionId(): string {
    return this.#host.sessionId
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let accepted: boolean
    try {
      accepted = this.#host.write(this.#key, chunk)
    } catch (err) {
      cb(err as Error)
      return
    }
    // Hold the callback while the protocol's buffer is above its mark: the Duplex then
    // buffers up to its own highWaterMark and write() returns false — real backpressure.
    if (accepted) cb()
    else this.#pendingWrite = cb
    this.#host.afterCall(this.#noDelay)
  }

  override _final(cb: (err?: Error | null) => void): void {
    try {
      this.#host.end(this.#key)
    } catch (err) {
      cb(err as Error)
      return
    }
    cb()
    this.#host.afterCall(true)
  }

  override _read(): void {
    this.#wantRead = true
    this.#pump()
  }

  /** Moves readable protocol data into the Duplex while its consumer wants more. */
  #pump(): void {
    if (!this.#wantRead || this.destroyed) return
    let granted = false
    for (;;) {
      const b = this.#host.read(this.#key, 64 * 1024)
      if (b === null) break
      granted = true
      // The receive buffer never rewrites memory it handed out: give the view on without a copy.
      if (!this.push(asBuffer(b))) {
        this.#wantRead = false
        break
      }
    }
    // Reading freed receive space (the peer may get credit) and may have ended the stream.
    if (granted) this.#host.afterCall(false)
  }

  /**
   * A graceful session close behind a stream the peer had finished: as a TCP FIN after data,
   * what arrived is still read, then 'end' (the peer's SESSION_CLOSE can follow its last
   * bytes at once: in bare mode 'all-acked' means handed to the connection). The bytes are
   * already in memory, so they move into the Duplex regardless of its highWaterMark; our
   * direction ends (nothing more can be sent), and the stream closes once both are done.
   */
  #endAfterSession(): void {
    for (let b = this.#host.read(this.#key, 64 * 1024); b !== null; b = this.#host.read(this.#key, 64 * 1024)) {
      this.push(asBuffer(b))
    }
    this.push(null)
    if (!this.writableEnded) this.end()
  }

  #onWritable(): void {
    const cb = this.#pendingWrite
    this.#pendingWrite = null
    cb?.()
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const pending = this.#pendingWrite
    this.#pendingWrite = null
    // Local destroy with an error, or before both directions finished: abort on the wire.
    // (An STTStreamError came from the peer's abort: nothing to send back.)
    const abortOnWire = err ? !(err instanceof STTStreamError) : !this.#sessionGone && !(this.writableFinished && this.readableEnded)
    if (abortOnWire) {
      try {
        this.#host.abort(this.#key, WireError.STREAM_CLOSED)
      } catch {
        // Already gone.
      }
    }
    pending?.(err ?? new STTStreamError(ErrorCode.STREAM_CLOSED, `stream ${this.id} destroyed`))
    cb(err)
    if (abortOnWire) this.#host.afterCall(true)
  }

  /** Abort both directions with an application error code. */
  abort(code: number = WireError.STREAM_CLOSED): void {
    try {
      this.#host.abort(this.#key, code)
    } finally {
      this.destroy()
    }
    this.#host.afterCall(true)
  }

  getStats(): STTStreamStats | null {
    return this.#host.stats(this.#key)
  }
}

/** `b` as a Buffer: itself when it is one (setRecvMemory above), else a view of the same bytes. */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
}
