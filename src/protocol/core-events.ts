/**
 * The one event type of the core: flat, `{ kind, session, stream?, ... }`. Sessions and their
 * stream managers push each event straight into the endpoint's one queue (no per-session or
 * per-stream queue, no wrapper objects); the driver polls it (Endpoint.pollEvent) and hands
 * each event to the STTSession / STTStream it names. `stream` is the stream's wire key
 * (id * 2 + kind: odd keys are message streams).
 */
import type { STTError } from '../errors.js'
import type { PeerAddress } from '../net-types.js'
import type { Session } from './session.js'
import type { StreamEvent } from './stream-types.js'

export type CoreEvent =
  // Endpoint: handshakes.
  | { kind: 'connected'; session: Session; handle: number }
  | { kind: 'connect-failed'; session: null; handle: number; error: STTError }
  | { kind: 'accepted'; session: Session }
  /** A datagram dropped before any session took it (the reason is also counted in counters.dropped). */
  | { kind: 'drop'; session: null; reason: string; from: PeerAddress }
  // Session.
  | { kind: 'datagram'; session: Session; data: Uint8Array }
  | { kind: 'app-frame'; session: Session; frameType: number; data: Uint8Array }
  | { kind: 'peer-error'; session: Session; code: number; frameType: number; reason: string }
  | { kind: 'migrated'; session: Session; from: PeerAddress; to: PeerAddress }
  | { kind: 'key-update'; session: Session; direction: 'send' | 'receive' }
  | { kind: 'closed'; session: Session; code: number; reason: string; remote: boolean }
  | { kind: 'suspended'; session: Session }
  | { kind: 'resumed'; session: Session; pausedMs: number }
  | { kind: 'resume-attempt'; session: Session; attempt: number }
  | { kind: 'resumption-token'; session: Session; token: Uint8Array }
  /** Everything written to the session's streams so far is acknowledged (after watchAllAcked). */
  | { kind: 'all-acked'; session: Session }
  // Session, consumed by the endpoint itself (never returned by Endpoint.pollEvent).
  | { kind: 'established'; session: Session }
  | { kind: 'ticket'; session: Session; ticket: Uint8Array; expires: number }
  // A stream of the session (streams.ts).
  | StreamEvent<Session>

export type CoreEventKind = CoreEvent['kind']

/** Where the core's parts put their events (the endpoint's queue). */
export interface CoreEventSink {
  push(e: CoreEvent): void
}
