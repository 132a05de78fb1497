/**
 * The types of a session's interface with the endpoint: what it is built from (SessionInit)
 * and what it reports (SessionEvent). Apart from session.ts so that file stays its glue.
 */
import type { ProtocolConfig } from '../config.js'
import type { AeadBackend } from '../crypto/aead.js'
import type { PeerAddress } from '../net-types.js'
import type { HandshakeResult } from './handshake.js'
import type { SessionParams } from './params.js'
import type { StreamEvent } from './streams.js'

export type SessionEvent =
  | { type: 'established' }
  | { type: 'datagram'; data: Uint8Array }
  | { type: 'app-frame'; frameType: number; data: Uint8Array }
  | { type: 'peer-error'; code: number; frameType: number; reason: string }
  | { type: 'migrated'; from: PeerAddress; to: PeerAddress }
  | { type: 'key-update'; direction: 'send' | 'receive' }
  | { type: 'closed'; code: number; reason: string; remote: boolean }
  | { type: 'suspended' }
  | { type: 'resumed'; pausedMs: number }
  | { type: 'resume-attempt'; attempt: number }
  | { type: 'ticket'; ticket: Uint8Array; expires: number }
  | { type: 'resumption-token'; token: Uint8Array }
  | { type: 'stream'; event: StreamEvent }

export interface SessionInit {
  result: HandshakeResult
  isInitiator: boolean
  config: ProtocolConfig
  aead: AeadBackend
  address: PeerAddress
  localParams: SessionParams
  now: number
  random: (n: number) => Uint8Array
  /** Per-connect override of config.congestionControl. */
  congestionControl?: ProtocolConfig['congestionControl']
  /** Per-connect overrides of config.resumable / config.resumeTimeout (suspension.ts). */
  resumable?: boolean
  resumeTimeout?: number
  /** Resumptions before this session (session-resumption.ts); 0 after a full handshake. */
  generation?: number
  /** Opened by the abbreviated handshake (RESUME), on either side. */
  resumed?: boolean
}
