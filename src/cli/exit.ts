/**
 * Exit codes of the `stt` command and the mapping from library errors to them. Documented in
 * `stt --help` and docs/CLI.md; never renumbered.
 */
import { STTError } from '../index.js'

export const EXIT = {
  OK: 0,
  /** An unexpected internal error (a bug): run again with --verbose and report it. */
  INTERNAL: 1,
  /** Bad command line: unknown option, missing argument, malformed URL or number. */
  USAGE: 2,
  /** Configuration: seed file missing or invalid, TLS files unusable, port in use, bad option value. */
  CONFIG: 3,
  /** The peer rejected us: different shared seed (or peer id / protocol version mismatch). */
  AUTH: 4,
  /** Nobody answered: host unreachable, handshake timeout, connection refused, TLS/proxy failure. */
  UNREACHABLE: 5,
  /** A transfer failed: the receiver refused it, the hash did not match, or the session closed. */
  TRANSFER: 6,
  /** A local file problem: input file not found / not readable, output not writable. */
  FILE: 7,
} as const

export const EXIT_HELP = `Exit codes:
  0  success
  1  internal error (a bug: run again with --verbose and report it)
  2  usage: unknown option, missing argument, malformed URL or number
  3  configuration: seed file missing or invalid, TLS files unusable, port in use
  4  authentication failed: the peer uses a different shared seed
  5  unreachable: no answer, handshake timeout, connection refused, TLS or proxy failure
  6  transfer failed: refused by the receiver, hash mismatch, session closed mid-transfer
  7  local file error: input not found or unreadable, output not writable`

/** An error the CLI reports as one line with a chosen exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'CliError'
  }
}

export const usage = (msg: string) => new CliError(msg, EXIT.USAGE)

const AUTH = new Set(['STT_AUTH_FAILED', 'STT_PEER_MISMATCH', 'STT_VERSION_MISMATCH'])
const UNREACHABLE = new Set([
  'STT_HANDSHAKE_TIMEOUT',
  'STT_CONNECTION_REFUSED',
  'STT_NETWORK_UNREACHABLE',
  'STT_TIMEOUT',
  'STT_ABORTED',
  'STT_WEBSOCKET_HANDSHAKE',
  'STT_WEBSOCKET_CLOSED',
  'STT_TLS',
  'STT_PROXY_AUTH',
  'STT_PROXY_REFUSED',
  'STT_TRANSPORT',
  'STT_UDP_SEND_FAILED',
  'STT_RELAY_REFUSED',
])
const TRANSFER = new Set(['STT_SESSION_CLOSED', 'STT_SESSION_TIMEOUT', 'STT_RELAY_LOST', 'STT_STREAM_CLOSED', 'STT_FLOW_CONTROL', 'STT_PROTOCOL', 'STT_INVALID_FRAME'])

/** Walks `cause` links for an errno code (EADDRINUSE, ENOENT, ...). */
function errnoOf(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return e.code
  }
  return undefined
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode
  const errno = errnoOf(err)
  if (errno === 'EADDRINUSE' || errno === 'EADDRNOTAVAIL' || (errno === 'EACCES' && err instanceof STTError)) return EXIT.CONFIG
  if (err instanceof STTError) {
    if (AUTH.has(err.code)) return EXIT.AUTH
    if (UNREACHABLE.has(err.code)) return EXIT.UNREACHABLE
    if (TRANSFER.has(err.code)) return EXIT.TRANSFER
    if (err.code === 'STT_CONFIG' || err.code === 'STT_NATIVE_UNAVAILABLE') return EXIT.CONFIG
    return EXIT.INTERNAL
  }
  if (errno === 'ENOENT' || errno === 'EACCES' || errno === 'EISDIR' || errno === 'ENOTDIR' || errno === 'EPERM' || errno === 'ENOSPC') return EXIT.FILE
  if (errno === 'ECONNREFUSED' || errno === 'EHOSTUNREACH' || errno === 'ENETUNREACH' || errno === 'ETIMEDOUT' || errno === 'ENOTFOUND' || errno === 'EAI_AGAIN') return EXIT.UNREACHABLE
  return EXIT.INTERNAL
}

/** A one-line, human explanation of an error (with a hint where we know one). */
export function describeError(err: unknown): string {
  const e = err as Error & { code?: string }
  const msg = (e?.message ?? String(err)).split('\n')[0]!
  if (err instanceof CliError) return msg
  const errno = errnoOf(err)
  if (errno === 'EADDRINUSE') return `${msg} (the port is in use: stop the other program or choose another --port)`
  if (err instanceof STTError) {
    switch (err.code) {
      case 'STT_AUTH_FAILED':
        return `authentication failed: the peer uses a different shared seed (${msg}); use the same seed file on both sides`
      case 'STT_HANDSHAKE_TIMEOUT':
        return `no answer from the peer (${msg}); check host, port and firewall, or try ws:// / auto://`
      default:
        return `${msg} [${err.code}]`
    }
  }
  return errno && !msg.includes(errno) ? `${msg} [${errno}]` : msg
}
