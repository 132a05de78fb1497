/**
 * Per-stream state held by the StreamManager: the two buffers, peer credit, and the flags
 * of the small state machine below.
 *
 * Send half:  open -> (end) FIN queued -> FIN sent -> FIN + all data acked = done
 *             any  -> (abort / peer abort) CLOSE queued -> CLOSE acked = done
 * Recv half:  open -> final size known (FIN or CLOSE) -> app read everything = done
 *             any  -> peer CLOSE, or local abort + final size known = done
 * The stream is released (id freed, STREAMS_CREDIT replenished for peer streams) when both
 * halves are done. STREAM_CLOSE aborts both directions: the side receiving it answers with
 * its own STREAM_CLOSE (carrying its final size) unless its send half was already done, so
 * both sides agree on final sizes and session-level credit never leaks.
 */
import type { FlowTuning } from './flow-autotune.js'
import type { MessageAssembler } from './messages.js'
import { RecvBuffer } from './recv-buffer.js'
import { SendBuffer } from './send-buffer.js'

export const StreamKind = { BYTES: 0, MESSAGES: 1 } as const

export class StreamState {
  readonly id: number
  readonly kind: number
  readonly send: SendBuffer
  readonly recv: RecvBuffer
  /** Peer's credit for this stream: we may send offsets below this. */
  sendMax: number
  priority: number
  /** Largest DATA frame payload for this stream (the manual's max_frame_size); the packet bounds it too. */
  maxFrameSize = Infinity

  // Send-half flags.
  openPending = false
  /** The peer acknowledged something of this stream, so it knows the stream exists. */
  peerKnows = false
  finSent = false
  finAcked = false
  /** FIN lost and must be sent again. */
  finPending = false
  /** STREAM_CLOSE must be (re)sent. */
  closePending = false
  closeSent = false
  closeAcked = false
  closeCode = 0
  /** We aborted the stream (discard incoming data). */
  abortedLocally = false
  /** The peer aborted (STREAM_CLOSE received). */
  abortedByPeer = false

  // Recv-half flags.
  /** A STREAM_CREDIT with recv.maxOffset must be (re)sent. */
  creditPending = false
  endEmitted = false
  /** 'readable' was signalled and the app has not drained yet. */
  readableSignaled = false
  /** write() returned false; emit 'writable' once drained below the low-water mark. */
  writeBlocked = false

  // Scheduler membership (avoid duplicates in the manager's lists).
  inControl = false
  inRetransmit = false
  inActive = false
  released = false

  stats = { bytesSent: 0, bytesReceived: 0, retransmittedBytes: 0, retransmittedFrames: 0, bytesInFlight: 0 }
  messages: MessageAssembler | null = null

  constructor(
    readonly key: number,
    readonly local: boolean,
    opts: { sendHighWater: number; recvWindow: number; peerStreamWindow: number; priority: number; tuning?: FlowTuning | null },
  ) {
    this.id = Math.floor(key / 2)
    this.kind = key & 1
    this.send = new SendBuffer(opts.sendHighWater)
    this.recv = new RecvBuffer(opts.recvWindow, opts.tuning ?? null)
    this.sendMax = opts.peerStreamWindow
    this.priority = opts.priority
  }

  /** Nothing more to send or to get acknowledged on the send half. */
  get sendDone(): boolean {
    if (this.closeSent || this.closePending) return this.closeAcked
    if (this.abortedByPeer) return true
    return this.finAcked && this.send.allAcked
  }

  /** Nothing more to deliver on the receive half. */
  get recvDone(): boolean {
    if (this.abortedByPeer) return true
    if (this.recv.finalSize < 0) return false
    return this.abortedLocally || this.recv.finished
  }

  get aborted(): boolean {
    return this.abortedLocally || this.abortedByPeer
  }

  /** New data or a first FIN could go out given the stream credit (session credit checked by the caller). */
  hasNewData(): boolean {
    if (this.aborted) return false
    if (this.send.newBytesAvailable(this.sendMax) > 0) return true
    return this.send.finalSize >= 0 && !this.finSent && this.send.sentEnd === this.send.finalSize
  }
}
