/**
 * The types of a session's interface with the endpoint: what it is built from (SessionInit)
 * and what links it to its endpoint (SessionLink). Apart from session.ts so that file stays its glue.
 */
import type { ProtocolConfig } from '../config.js'
import type { AeadBackend } from '../crypto/aead.js'
import type { PeerAddress } from '../net-types.js'
import type { HandshakeResult } from './handshake.js'
import type { SessionParams } from './params.js'
import type { CoreEventSink } from './core-events.js'
import type { Session } from './session.js'

/** What a session holds of its endpoint (one object shared by all its sessions). */
export interface SessionLink {
  /** The endpoint's one event queue (core-events.ts). */
  readonly events: CoreEventSink
  /** `s` may have something to send, or its deadline moved: it joins the next service pass. */
  schedule(s: Session): void
}

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
