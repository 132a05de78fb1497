/**
 * STTStream: a node:stream Duplex over one byte stream of a session. Backpressure is the
 * protocol's: write() returns false once the stream's send buffer (streamSendBuffer) is
 * full, and the peer's writes stall when this side stops reading (credit is granted only as
 * data is consumed here).
 */
import { Duplex } from 'node:stream'
import { ErrorCode, STTStreamError, WireError } from './errors.js'
import type { StreamManager, StreamStats } from './protocol/streams.js'

export interface StreamOptions {
  /** Largest DATA frame payload for this stream (the manual's max_frame_size); the packet size bounds it too. */
  maxFrameSize?: number
  /** Send small writes at once instead of coalescing them briefly. */
  noDelay?: boolean
  /** Higher goes first when several streams have data (0-255). */
  priority?: number
}

/** What a stream needs from its session (kept narrow so the stream can't reach further). */
export interface StreamHost {
  readonly manager: StreamManager
  /** Ask the node to transmit soon (immediately when `urgent`). */
  flush(urgent: boolean): void
  readonly sessionId: string
}

export class STTStream extends Duplex {
  /** Stream id, the same on both sides. */
  readonly id: number
  private pendingWrite: ((err?: Error | null) => void) | null = null
  private wantRead = false
  private readonly noDelay: boolean

  constructor(
    private readonly host: StreamHost,
    /** Wire key (id * 2 for byte streams). */
    readonly key: number,
    opts: StreamOptions = {},
  ) {
    super({ allowHalfOpen: true, highWaterMark: 64 * 1024 })
    this.id = key >>> 1
    this.noDelay = opts.noDelay === true
  }

  get sessionId(): string {
    return this.host.sessionId
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let accepted: boolean
    try {
      accepted = this.host.manager.write(this.key, chunk)
    } catch (err) {
      cb(err as Error)
      return
    }
    this.host.flush(this.noDelay)
    // Hold the callback while the protocol's buffer is above its mark: the Duplex then
    // buffers up to its own highWaterMark and write() returns false — real backpressure.
    if (accepted) cb()
    else this.pendingWrite = cb
  }

  override _final(cb: (err?: Error | null) => void): void {
    try {
      this.host.manager.end(this.key)
    } catch (err) {
      cb(err as Error)
      return
    }
    this.host.flush(true)
    cb()
  }

  override _read(): void {
    this.wantRead = true
    this.pump()
  }

  /** Moves readable protocol data into the Duplex while its consumer wants more. */
  pump(): void {
    if (!this.wantRead || this.destroyed) return
    let granted = false
    for (;;) {
      const b = this.host.manager.read(this.key, 64 * 1024)
      if (b === null) break
      granted = true
      // The receive buffer never rewrites memory it handed out: give the view on without a copy.
      if (!this.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength))) {
        this.wantRead = false
        break
      }
    }
    if (granted) this.host.flush(false) // reading may have produced credit for the peer
  }

  /** The protocol's send buffer drained below its mark. */
  onWritable(): void {
    const cb = this.pendingWrite
    this.pendingWrite = null
    cb?.()
  }

  /** The peer finished its direction (after everything it sent was read). */
  onEnd(): void {
    this.pump()
    this.push(null)
  }

  onAborted(code: number): void {
    this.destroy(new STTStreamError(ErrorCode.STREAM_CLOSED, `stream ${this.id} was aborted by the peer (code 0x${code.toString(16)})`, { wireCode: code }))
  }

  /** Session gone: fail whatever is pending. */
  onSessionClosed(err: Error | null): void {
    if (this.destroyed) return
    this.sessionGone = true
    if (err) this.destroy(err)
    else this.destroy()
  }
  private sessionGone = false

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const pending = this.pendingWrite
    this.pendingWrite = null
    if (err && !(err instanceof STTStreamError)) {
      // Local destroy with an error (or before both directions finished): abort on the wire.
      try {
        this.host.manager.abort(this.key, WireError.STREAM_CLOSED)
        this.host.flush(true)
      } catch {
        // Already gone.
      }
    } else if (!err && !this.sessionGone && !(this.writableFinished && this.readableEnded)) {
      try {
        this.host.manager.abort(this.key, WireError.STREAM_CLOSED)
        this.host.flush(true)
      } catch {
        // Already gone.
      }
    }
    pending?.(err ?? new STTStreamError(ErrorCode.STREAM_CLOSED, `stream ${this.id} destroyed`))
    cb(err)
  }

  /** Abort both directions with an application error code. */
  abort(code = WireError.STREAM_CLOSED): void {
    try {
      this.host.manager.abort(this.key, code)
      this.host.flush(true)
    } finally {
      this.destroy()
    }
  }

  getStats(): (StreamStats & { rtt: number | null; cwnd: number; bytesInFlightSession: number }) | null {
    const s = this.host.manager.getStreamStats(this.key)
    const extra = this.extraStats?.()
    return s ? { ...s, rtt: extra?.rtt ?? null, cwnd: extra?.cwnd ?? 0, bytesInFlightSession: extra?.bytesInFlight ?? 0 } : null
  }

  /** Session-level numbers (rtt, cwnd) merged into getStats(); set by the session. */
  extraStats: (() => { rtt: number | null; cwnd: number; bytesInFlight: number }) | null = null
}
