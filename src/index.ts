/**
 * stt-node: STT (Seigr Toolset Transmissions) for Node.js. Public API only.
 */
import { randomBytes } from 'node:crypto'

export { STTNode, type STTNodeOptions, type ConnectOptions, type ReceivedPacket, type CipherName } from './node.js'
export { STTSession, type CloseInfo, type CloseOptions, type MigrateOptions, type SendOptions } from './session.js'
export { STTStream, type StreamOptions, type STTStreamStats } from './stream.js'
/** One node on several cores: worker threads on one UDP port, sessions steered by id (docs/SCALE.md). */
export { STTWorkerNode, WorkerSession, type STTWorkerNodeOptions } from './workers/worker-node.js'
export type { WorkerStats } from './workers/worker-messages.js'
export {
  STTError,
  STTConfigError,
  STTHandshakeError,
  STTSessionError,
  STTStreamError,
  STTTransportError,
  STTProtocolError,
  ErrorCode,
  WireError,
  type STTErrorOptions,
  type GeneralErrorCode,
  type HandshakeErrorCode,
  type SessionErrorCode,
  type StreamErrorCode,
  type ProtocolErrorCode,
  type TransportErrorCode,
} from './errors.js'
export { backend } from './crypto/index.js'
/** 'prebuild' (binary shipped in the package) or 'source' (compiled here) with the native backend; null with 'js'. */
export { nativeSource, type NativeSource } from './native/load.js'
export type { Transport, TransportStats, PeerAddress, TxBatch, MultiTxBatch, RxBatch, BoundAddress, TransportEvents } from './transport/types.js'
export { PROTOCOL_VERSION } from './protocol/constants.js'
/** In-memory transport pair: tests, examples, and the model for your own transportImpl. */
export { createChannelPair, ChannelTransport, type ChannelPairOptions } from './transport/channel.js'

/** A new random 32-byte seed (for sharedSeed or nodeSeed). */
export function generateSeed(): Buffer {
  return randomBytes(32)
}
