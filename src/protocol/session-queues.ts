/**
 * What a session's application and peer queued for the next packets, apart from streams:
 * unreliable datagrams, application frames and KEEP_ALIVE echoes (path responses). Bounded:
 * datagrams by maxQueuedDatagrams, echoes by MAX_PENDING_KEEPALIVE_ACKS.
 */
import { FrameType } from './constants.js'
import { type AppFrame, datagramFrameSize, frameSize, KEEP_ALIVE_DATA_SIZE, writeDatagramFrame, writeFrame } from './frames.js'
import type { SessionCounters } from './session-stats.js'

/** KEEP_ALIVE echoes held at most (a peer sending many KEEP_ALIVEs gets only the latest few back). */
const MAX_PENDING_KEEPALIVE_ACKS = 4

export class SessionQueues {
  private readonly datagrams: Uint8Array[] = []
  private readonly appFrames: AppFrame[] = []
  private readonly keepAliveAcks: Uint8Array[] = []

  constructor(
    private readonly maxDatagrams: number,
    private readonly counters: SessionCounters,
  ) {}

  /** Datagrams or application frames wait (both are sent within cwnd and pacer). */
  get hasData(): boolean {
    return this.datagrams.length > 0 || this.appFrames.length > 0
  }

  get hasDatagrams(): boolean {
    return this.datagrams.length > 0
  }

  get hasEchoes(): boolean {
    return this.keepAliveAcks.length > 0
  }

  /** Queues an unreliable datagram; false when it was dropped (queue full). */
  pushDatagram(data: Uint8Array): boolean {
    if (this.datagrams.length >= this.maxDatagrams) {
      this.counters.drop('datagram-queue-full')
      return false
    }
    this.datagrams.push(data)
    return true
  }

  pushAppFrame(frameType: number, data: Uint8Array): void {
    this.appFrames.push({ type: frameType, app: true, data })
  }

  /** The peer's KEEP_ALIVE bytes, echoed in a KEEP_ALIVE_ACK (copied: the slab is reused). */
  pushEcho(data: Uint8Array): void {
    if (this.keepAliveAcks.length < MAX_PENDING_KEEPALIVE_ACKS) this.keepAliveAcks.push(data.slice())
  }

  /** Writes the KEEP_ALIVE_ACK echoes that fit. */
  writeEchoes(buf: Uint8Array, pos: number, end: number): number {
    const q = this.keepAliveAcks
    if (q.length === 0) return pos
    while (q.length && end - pos >= 1 + KEEP_ALIVE_DATA_SIZE) {
      pos = writeFrame(buf, pos, { type: FrameType.KEEP_ALIVE_ACK, data: q.shift()! })
    }
    // Drained: setting the length frees the storage shift() left (an idle session's echo
    // queue then holds none; issue 14).
    if (q.length === 0) q.length = 0
    return pos
  }

  /**
   * Writes the datagrams, then the application frames that fit into buf[pos, end) (the
   * packet body starts at `bodyStart`). All of them are ack-eliciting.
   */
  writeData(buf: Uint8Array, pos: number, end: number, bodyStart: number): number {
    while (this.datagrams.length) {
      const d = this.datagrams[0]!
      const size = datagramFrameSize(d.length)
      if (size > end - pos) {
        // Queued for a larger path (before a migration): it can never be sent, drop it
        // rather than hold back every datagram behind it.
        if (size > end - bodyStart) {
          this.datagrams.shift()
          this.counters.drop('datagram-too-large')
          continue
        }
        break
      }
      pos = writeDatagramFrame(buf, pos, d)
      this.datagrams.shift()
      this.counters.datagramsSent++
    }
    while (this.appFrames.length) {
      const f = this.appFrames[0]!
      if (frameSize(f) > end - pos) break
      pos = writeFrame(buf, pos, f)
      this.appFrames.shift()
    }
    return pos
  }
}
