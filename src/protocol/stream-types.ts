/** Public types and defaults of the stream layer (re-exported by streams.ts). */
import type { FlowTuning } from './flow-autotune.js'

export const DEFAULT_MAX_CONCURRENT_STREAMS = 256
export const DEFAULT_STREAM_RECEIVE_WINDOW = 1 << 20
export const DEFAULT_SESSION_RECEIVE_WINDOW = 16 << 20
export const DEFAULT_STREAM_SEND_BUFFER = 1 << 20
export const DEFAULT_MAX_MESSAGE_SIZE = 16 << 20

export interface StreamManagerOptions {
  isInitiator: boolean
  /** Peer-opened byte streams we allow at once (our STREAMS_CREDIT), and the cap on message streams. */
  maxConcurrentStreams?: number
  streamReceiveWindow?: number
  sessionReceiveWindow?: number
  /** Send buffer high-water mark per stream: write() returns false at or above it. */
  streamSendBuffer?: number
  maxMessageSize?: number
  /** false = bare mode: no retransmission, data freed as soon as it is written. */
  reliable?: boolean
  /** Window auto-tuning state shared with the session (flow-autotune.ts); none = fixed windows. */
  tuning?: FlowTuning
}

/** Limits the peer announced in the handshake. */
export interface PeerLimits {
  maxStreams: number
  streamWindow: number
  sessionWindow: number
}

export type StreamEventKind = 'stream-opened' | 'readable' | 'writable' | 'end' | 'aborted' | 'stream-closed' | 'message'

/**
 * One event of a stream, in the core's flat shape (core-events.ts): `session` is the owner the
 * stream manager was given (the protocol session; null for a manager used on its own).
 */
export interface StreamEvent<Owner = unknown> {
  kind: StreamEventKind
  session: Owner
  /** Wire key of the stream (id * 2 + kind). */
  stream: number
  streamId: number
  /** 'aborted': the peer's error code. */
  code?: number
  /** 'message': one whole message. */
  data?: Uint8Array
}

export interface StreamStats {
  bytesSent: number
  bytesReceived: number
  retransmittedBytes: number
  retransmittedFrames: number
  bytesInFlight: number
  /** Stream credit left: bytes we may still send before the peer grants more. */
  sendCredit: number
  /** Bytes the peer may still send us before we grant more. */
  receiveWindow: number
  sendBuffered: number
  receiveBuffered: number
}

export interface FlowStats {
  /** Session credit left for new stream bytes we send. */
  sendCredit: number
  /** Session bytes the peer may still send before we grant more. */
  receiveWindow: number
  sessionSent: number
  sessionReceived: number
  /** Received bytes read by the app or discarded by an abort. */
  sessionConsumed: number
}

export function byteStreamKey(id: number): number {
  return id * 2
}
export function messageStreamKey(id: number): number {
  return id * 2 + 1
}
