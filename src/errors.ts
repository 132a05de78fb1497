/**
 * Every error this library throws or rejects with is an `STTError` (or a subclass) with a
 * stable string `code` and the numeric code of STT's appendix D (`numericCode`), so callers can
 * switch on either. Messages never contain key material or seeds.
 */

/** Stable string codes. Never renamed once released; new ones are only added. */
export const ErrorCode = {
  CONFIG: 'STT_CONFIG',
  NOT_STARTED: 'STT_NOT_STARTED',
  AUTH_FAILED: 'STT_AUTH_FAILED',
  HANDSHAKE_TIMEOUT: 'STT_HANDSHAKE_TIMEOUT',
  VERSION_MISMATCH: 'STT_VERSION_MISMATCH',
  PEER_MISMATCH: 'STT_PEER_MISMATCH',
  CONNECTION_REFUSED: 'STT_CONNECTION_REFUSED',
  NETWORK_UNREACHABLE: 'STT_NETWORK_UNREACHABLE',
  SESSION_CLOSED: 'STT_SESSION_CLOSED',
  SESSION_TIMEOUT: 'STT_SESSION_TIMEOUT',
  TOO_MANY_SESSIONS: 'STT_TOO_MANY_SESSIONS',
  SESSION_NOT_FOUND: 'STT_SESSION_NOT_FOUND',
  STREAM_CLOSED: 'STT_STREAM_CLOSED',
  TOO_MANY_STREAMS: 'STT_TOO_MANY_STREAMS',
  STREAM_ID_CONFLICT: 'STT_STREAM_ID_CONFLICT',
  FLOW_CONTROL: 'STT_FLOW_CONTROL',
  PROTOCOL: 'STT_PROTOCOL',
  /** @deprecated Never produced: malformed frames surface as STT_PROTOCOL (STTProtocolError). */
  INVALID_FRAME: 'STT_INVALID_FRAME',
  ENCRYPTION: 'STT_ENCRYPTION',
  PAYLOAD_TOO_LARGE: 'STT_PAYLOAD_TOO_LARGE',
  TRANSPORT: 'STT_TRANSPORT',
  UDP_SEND_FAILED: 'STT_UDP_SEND_FAILED',
  WEBSOCKET_CLOSED: 'STT_WEBSOCKET_CLOSED',
  WEBSOCKET_HANDSHAKE: 'STT_WEBSOCKET_HANDSHAKE',
  TLS: 'STT_TLS',
  PROXY_AUTH: 'STT_PROXY_AUTH',
  PROXY_REFUSED: 'STT_PROXY_REFUSED',
  ABORTED: 'STT_ABORTED',
  TIMEOUT: 'STT_TIMEOUT',
  NATIVE_UNAVAILABLE: 'STT_NATIVE_UNAVAILABLE',
  RESOURCE_EXHAUSTED: 'STT_RESOURCE_EXHAUSTED',
  /** A suspended session was not resumed within resumeTimeout (issue 12). */
  SESSION_EXPIRED: 'STT_SESSION_EXPIRED',
  /** A resumption token was refused and the connect asked for requireResume (issue 12). */
  RESUME_REJECTED: 'STT_RESUME_REJECTED',
  /** The relay refused to introduce or relay (not registered, unknown peer, a limit reached). */
  RELAY_REFUSED: 'STT_RELAY_REFUSED',
  /** A session that ran through a relay lost it (the session with the relay ended). */
  RELAY_LOST: 'STT_RELAY_LOST',
  /** The worker thread that held the session exited (crashed): its sessions are gone. */
  WORKER_EXITED: 'STT_WORKER_EXITED',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/**
 * Appendix D numeric codes (16-bit, category in the high byte). These are also the values
 * carried on the wire in SESSION_CLOSE, STREAM_CLOSE and ERROR frames (docs/PROTOCOL.md).
 */
export const WireError = {
  NO_ERROR: 0x0000,
  CONNECTION_TIMEOUT: 0x0101,
  CONNECTION_REFUSED: 0x0102,
  AUTHENTICATION_FAILED: 0x0103,
  NETWORK_UNREACHABLE: 0x0104,
  PROTOCOL_VERSION_MISMATCH: 0x0105,
  SESSION_CLOSED: 0x0201,
  SESSION_TIMEOUT: 0x0202,
  TOO_MANY_SESSIONS: 0x0203,
  SESSION_NOT_FOUND: 0x0204,
  /** Not in appendix D: the next free code of its category (issue 12, suspended past resumeTimeout). */
  SESSION_EXPIRED: 0x0205,
  /** Not in appendix D: a RESUME was refused (expired, unknown, replayed ticket, §8). */
  RESUME_REJECTED: 0x0106,
  STREAM_CLOSED: 0x0301,
  TOO_MANY_STREAMS: 0x0302,
  STREAM_ID_CONFLICT: 0x0303,
  FLOW_CONTROL_VIOLATION: 0x0304,
  INVALID_FRAME: 0x0401,
  ENCRYPTION_ERROR: 0x0402,
  CHECKSUM_MISMATCH: 0x0403,
  UNKNOWN_FRAME_TYPE: 0x0404,
  HANDSHAKE_FAILURE: 0x0405,
  UDP_SEND_FAILED: 0x0501,
  WEBSOCKET_CLOSED: 0x0502,
  WEBSOCKET_HANDSHAKE_FAILED: 0x0503,
  TLS_ERROR: 0x0504,
  TIMEOUT: 0x0601,
  BUFFER_OVERFLOW: 0x0602,
  RESOURCE_EXHAUSTED: 0x0603,
} as const

const numericFor: Record<ErrorCode, number> = {
  STT_CONFIG: 0x0102,
  STT_NOT_STARTED: 0x0102,
  STT_AUTH_FAILED: WireError.AUTHENTICATION_FAILED,
  STT_HANDSHAKE_TIMEOUT: WireError.CONNECTION_TIMEOUT,
  STT_VERSION_MISMATCH: WireError.PROTOCOL_VERSION_MISMATCH,
  STT_PEER_MISMATCH: WireError.AUTHENTICATION_FAILED,
  STT_CONNECTION_REFUSED: WireError.CONNECTION_REFUSED,
  STT_NETWORK_UNREACHABLE: WireError.NETWORK_UNREACHABLE,
  STT_SESSION_CLOSED: WireError.SESSION_CLOSED,
  STT_SESSION_TIMEOUT: WireError.SESSION_TIMEOUT,
  STT_TOO_MANY_SESSIONS: WireError.TOO_MANY_SESSIONS,
  STT_SESSION_NOT_FOUND: WireError.SESSION_NOT_FOUND,
  STT_STREAM_CLOSED: WireError.STREAM_CLOSED,
  STT_TOO_MANY_STREAMS: WireError.TOO_MANY_STREAMS,
  STT_STREAM_ID_CONFLICT: WireError.STREAM_ID_CONFLICT,
  STT_FLOW_CONTROL: WireError.FLOW_CONTROL_VIOLATION,
  STT_PROTOCOL: WireError.INVALID_FRAME,
  STT_INVALID_FRAME: WireError.INVALID_FRAME,
  STT_ENCRYPTION: WireError.ENCRYPTION_ERROR,
  STT_PAYLOAD_TOO_LARGE: WireError.BUFFER_OVERFLOW,
  STT_TRANSPORT: WireError.UDP_SEND_FAILED,
  STT_UDP_SEND_FAILED: WireError.UDP_SEND_FAILED,
  STT_WEBSOCKET_CLOSED: WireError.WEBSOCKET_CLOSED,
  STT_WEBSOCKET_HANDSHAKE: WireError.WEBSOCKET_HANDSHAKE_FAILED,
  STT_TLS: WireError.TLS_ERROR,
  STT_PROXY_AUTH: WireError.WEBSOCKET_HANDSHAKE_FAILED,
  STT_PROXY_REFUSED: WireError.WEBSOCKET_HANDSHAKE_FAILED,
  STT_ABORTED: WireError.TIMEOUT,
  STT_TIMEOUT: WireError.TIMEOUT,
  STT_NATIVE_UNAVAILABLE: WireError.RESOURCE_EXHAUSTED,
  STT_RESOURCE_EXHAUSTED: WireError.RESOURCE_EXHAUSTED,
  STT_SESSION_EXPIRED: WireError.SESSION_EXPIRED,
  STT_RESUME_REJECTED: WireError.RESUME_REJECTED,
  STT_RELAY_REFUSED: WireError.CONNECTION_REFUSED,
  STT_RELAY_LOST: WireError.NETWORK_UNREACHABLE,
  STT_WORKER_EXITED: WireError.SESSION_CLOSED,
}

export interface STTErrorOptions {
  cause?: unknown
  /** For errors that came from the peer or the wire: the 16-bit wire code. */
  wireCode?: number
}

/**
 * Which class each code belongs to: an error's class and its code always agree, so
 * `err instanceof STTStreamError` and `err.code === 'STT_STREAM_CLOSED'` never contradict each
 * other (the rule of Node's `ERR_*` and ws's `WS_ERR_*` codes). Codes that fit no family
 * (aborts, the addon, resource limits) are plain `STTError`s.
 */
export const ERROR_FAMILY = {
  STT_CONFIG: 'config',
  STT_NOT_STARTED: 'error',
  STT_AUTH_FAILED: 'handshake',
  STT_HANDSHAKE_TIMEOUT: 'handshake',
  STT_VERSION_MISMATCH: 'handshake',
  STT_PEER_MISMATCH: 'handshake',
  STT_TOO_MANY_SESSIONS: 'handshake',
  STT_CONNECTION_REFUSED: 'transport',
  STT_NETWORK_UNREACHABLE: 'transport',
  STT_SESSION_CLOSED: 'session',
  STT_SESSION_TIMEOUT: 'session',
  STT_SESSION_NOT_FOUND: 'session',
  STT_WORKER_EXITED: 'session',
  STT_STREAM_CLOSED: 'stream',
  STT_TOO_MANY_STREAMS: 'stream',
  STT_STREAM_ID_CONFLICT: 'stream',
  STT_FLOW_CONTROL: 'stream',
  STT_PROTOCOL: 'protocol',
  STT_INVALID_FRAME: 'protocol',
  STT_RESOURCE_EXHAUSTED: 'protocol',
  STT_ENCRYPTION: 'error',
  STT_PAYLOAD_TOO_LARGE: 'error',
  STT_TRANSPORT: 'transport',
  STT_UDP_SEND_FAILED: 'transport',
  STT_WEBSOCKET_CLOSED: 'transport',
  STT_WEBSOCKET_HANDSHAKE: 'transport',
  STT_TLS: 'transport',
  STT_PROXY_AUTH: 'transport',
  STT_PROXY_REFUSED: 'transport',
  STT_TIMEOUT: 'transport',
  STT_ABORTED: 'error',
  STT_NATIVE_UNAVAILABLE: 'error',
  STT_SESSION_EXPIRED: 'session',
  STT_RESUME_REJECTED: 'handshake',
  STT_RELAY_REFUSED: 'transport',
  STT_RELAY_LOST: 'session',
} as const satisfies Record<ErrorCode, 'error' | 'config' | 'handshake' | 'session' | 'stream' | 'protocol' | 'transport'>
type CodesOf<F extends string> = { [C in ErrorCode]: (typeof ERROR_FAMILY)[C] extends F ? C : never }[ErrorCode]
/** Codes a plain `STTError` carries (no subclass fits them). */
export type GeneralErrorCode = CodesOf<'error'>
export type HandshakeErrorCode = CodesOf<'handshake'>
export type SessionErrorCode = CodesOf<'session'>
export type StreamErrorCode = CodesOf<'stream'>
export type ProtocolErrorCode = CodesOf<'protocol'>
export type TransportErrorCode = CodesOf<'transport'>

/** Lets the subclasses below pass their own codes to the base constructor; never exported. */
const kFamily: unique symbol = Symbol('STTError family')

/** Base class of every error of this library. */
export class STTError extends Error {
  readonly code: ErrorCode
  /** STT appendix D numeric code (always set; derived from `code`). */
  readonly numericCode: number
  /** The 16-bit code the peer sent, only when the error came from the wire. */
  readonly wireCode: number | undefined

  constructor(code: GeneralErrorCode, message: string, options?: STTErrorOptions)
  constructor(code: ErrorCode, message: string, options: STTErrorOptions | undefined, family: typeof kFamily)
  constructor(code: ErrorCode, message: string, options: STTErrorOptions = {}, _family?: typeof kFamily) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined)
    this.name = new.target.name
    this.code = code
    this.numericCode = numericFor[code]
    this.wireCode = options.wireCode
  }
}

export class STTConfigError extends STTError {
  declare readonly code: 'STT_CONFIG'
  constructor(message: string, options?: STTErrorOptions) {
    super(ErrorCode.CONFIG, message, options, kFamily)
  }
}
export class STTHandshakeError extends STTError {
  declare readonly code: HandshakeErrorCode
  constructor(code: HandshakeErrorCode, message: string, options?: STTErrorOptions) {
    super(code, message, options, kFamily)
  }
}
export class STTSessionError extends STTError {
  declare readonly code: SessionErrorCode
  constructor(code: SessionErrorCode, message: string, options?: STTErrorOptions) {
    super(code, message, options, kFamily)
  }
}
export class STTStreamError extends STTError {
  declare readonly code: StreamErrorCode
  constructor(code: StreamErrorCode, message: string, options?: STTErrorOptions) {
    super(code, message, options, kFamily)
  }
}
export class STTTransportError extends STTError {
  declare readonly code: TransportErrorCode
  constructor(code: TransportErrorCode, message: string, options?: STTErrorOptions) {
    super(code, message, options, kFamily)
  }
}
/** The peer broke the protocol (malformed frames, abusive fragmentation): sessions it closed. */
export class STTProtocolError extends STTError {
  declare readonly code: ProtocolErrorCode
  constructor(code: ProtocolErrorCode, message: string, options?: STTErrorOptions) {
    super(code, message, options, kFamily)
  }
}

/** An error of the class that `code` belongs to (see ERROR_FAMILY). */
export function errorFor(code: ErrorCode, message: string, options?: STTErrorOptions): STTError {
  switch (ERROR_FAMILY[code]) {
    case 'config':
      return new STTConfigError(message, options)
    case 'handshake':
      return new STTHandshakeError(code as HandshakeErrorCode, message, options)
    case 'session':
      return new STTSessionError(code as SessionErrorCode, message, options)
    case 'stream':
      return new STTStreamError(code as StreamErrorCode, message, options)
    case 'protocol':
      return new STTProtocolError(code as ProtocolErrorCode, message, options)
    case 'transport':
      return new STTTransportError(code as TransportErrorCode, message, options)
    default:
      return new STTError(code as GeneralErrorCode, message, options)
  }
}

/** The error for a close or abort the peer reported with wire code `wire` (`wireCode` set). */
export function errorFromWire(wire: number, message: string): STTError {
  return errorFor(codeForWire(wire), message, { wireCode: wire })
}

/** Maps a wire error code (SESSION_CLOSE / STREAM_CLOSE) to the string code users see. */
export function codeForWire(wire: number): ErrorCode {
  switch (wire) {
    case WireError.AUTHENTICATION_FAILED:
      return ErrorCode.AUTH_FAILED
    case WireError.PROTOCOL_VERSION_MISMATCH:
      return ErrorCode.VERSION_MISMATCH
    case WireError.TOO_MANY_SESSIONS:
      return ErrorCode.TOO_MANY_SESSIONS
    case WireError.SESSION_TIMEOUT:
      return ErrorCode.SESSION_TIMEOUT
    case WireError.SESSION_EXPIRED:
      return ErrorCode.SESSION_EXPIRED
    case WireError.TOO_MANY_STREAMS:
      return ErrorCode.TOO_MANY_STREAMS
    case WireError.FLOW_CONTROL_VIOLATION:
      return ErrorCode.FLOW_CONTROL
    case WireError.INVALID_FRAME:
    case WireError.UNKNOWN_FRAME_TYPE:
      return ErrorCode.PROTOCOL
    case WireError.STREAM_CLOSED:
      return ErrorCode.STREAM_CLOSED
    case WireError.STREAM_ID_CONFLICT:
      return ErrorCode.STREAM_ID_CONFLICT
    case WireError.RESOURCE_EXHAUSTED:
      return ErrorCode.RESOURCE_EXHAUSTED
    // Only a session whose relay went away closes with it (src/nat/member.ts).
    case WireError.NETWORK_UNREACHABLE:
      return ErrorCode.RELAY_LOST
    case WireError.BUFFER_OVERFLOW:
      return ErrorCode.PAYLOAD_TOO_LARGE
    default:
      return ErrorCode.SESSION_CLOSED
  }
}
