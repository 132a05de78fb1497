/** Messages between STTWorkerNode (main thread) and its workers (worker-entry.ts). */
import type { CloseInfo } from '../session.js'

export interface WorkerInit {
  index: number
  /** A reuseport group member to adopt (-1: bind host:port normally, single-worker fallback). */
  fd: number
  host: string
  port: number
  /** STTNodeOptions minus workers (structured-cloneable: seeds as bytes or hex). */
  options: Record<string, unknown>
  /** Int32Array over it: [0] live sessions of the whole node, [1 + i] those of worker i. */
  counters: SharedArrayBuffer
  maxSessions: number
  /** Lets tests make the worker throw (STTWorkerNode's internal crash door). */
  testHooks: boolean
}

export type ToWorker =
  | { t: 'dgrams'; buf: ArrayBuffer }
  | { t: 'close'; key: number; reason: string }
  | { t: 'stats' }
  | { t: 'stop' }
  | { t: 'crash' }

export interface SessionInfo {
  key: number
  id: string
  peerNodeId: Uint8Array
  peerName: string
  remoteAddress: string
  transport: string
}

export type FromWorker =
  | { t: 'ready'; port: number }
  | { t: 'session'; s: SessionInfo }
  | { t: 'dgrams'; buf: ArrayBuffer }
  | { t: 'closed'; key: number; info: CloseInfo; error?: { code: string; message: string } }
  | { t: 'stats'; stats: WorkerStats }
  | { t: 'start-failed'; code: string; message: string }
  /** Sends (WorkerSession.send) that completed, by send id; failed ones with their error. */
  | { t: 'acks'; ok: number[]; failed: Array<{ id: number; code: string; message: string }> }

export interface WorkerStats {
  sessions: number
  accepted: number
  refused: number
  datagramsIn: number
  datagramsOut: number
  messagesIn: number
  messagesOut: number
}
