/**
 * TLS option handling for the WebSocket transport: loading PEM material given as file paths,
 * PEM strings or Buffers, and turning Node's many TLS error codes into `STT_TLS` errors with a
 * message a user can act on.
 */

import { readFile } from 'node:fs/promises'
import { createSecureContext } from 'node:tls'
import { ErrorCode, STTConfigError, STTTransportError } from '../errors.js'

/** PEM material: a PEM string, a Buffer holding PEM, or a path to a PEM file. */
export type PemInput = string | Buffer | Uint8Array

/** Server side of WSS. Both `cert` and `key` make `listen()` start an https server. */
export type WebSocketServerTLSOptions = {
  /** Certificate chain (leaf first), PEM or path. */
  cert?: PemInput
  /** Private key, PEM or path. */
  key?: PemInput
  /** Passphrase of an encrypted `key`. */
  passphrase?: string
}

/** Client side of WSS. Secure by default: the server certificate is always verified. */
export type WebSocketClientTLSOptions = {
  /** Trusted CA certificate(s) replacing Node's default bundle, PEM or path(s). */
  ca?: PemInput | PemInput[]
  /**
   * Verify the server certificate (default true). Setting it to false makes WSS encrypt
   * without authenticating the server; STT's own handshake still authenticates the peer.
   */
  rejectUnauthorized?: boolean
  /** SNI name and the name the certificate is checked against, when the URL holds an IP. */
  servername?: string
}

export type WebSocketTLSOptions = WebSocketServerTLSOptions & WebSocketClientTLSOptions

function looksLikePem(s: string): boolean {
  return s.includes('-----BEGIN ')
}

/** Loads one PEM input: strings containing a PEM header are PEM, other strings are paths. */
export async function loadPem(input: PemInput, what: string): Promise<Buffer | string> {
  if (typeof input !== 'string') return Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  if (looksLikePem(input)) return input
  try {
    return await readFile(input)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error'
    throw new STTConfigError(`cannot read TLS ${what} from file ${JSON.stringify(input)}: ${code}`, {
      cause: err,
    })
  }
}

export interface LoadedServerTLS {
  cert: Buffer | string
  key: Buffer | string
  passphrase?: string
}

/**
 * Loads and checks the server certificate and key. Checking with `createSecureContext` here
 * turns a bad PEM or a key that does not match the certificate into one clear error at
 * `listen()` instead of an OpenSSL message from deep inside `https.createServer`.
 */
export async function loadServerTLS(opts: WebSocketServerTLSOptions): Promise<LoadedServerTLS | undefined> {
  if (opts.cert === undefined && opts.key === undefined) return undefined
  if (opts.cert === undefined || opts.key === undefined) {
    throw new STTConfigError('WSS needs both tls.cert and tls.key (only one was given)')
  }
  const cert = await loadPem(opts.cert, 'certificate')
  const key = await loadPem(opts.key, 'private key')
  const loaded: LoadedServerTLS = { cert, key }
  if (opts.passphrase !== undefined) loaded.passphrase = opts.passphrase
  try {
    createSecureContext(loaded)
  } catch (err) {
    throw new STTTransportError(
      ErrorCode.TLS,
      `invalid TLS certificate or key for the WebSocket server: ${(err as Error).message}`,
      { cause: err },
    )
  }
  return loaded
}

export interface LoadedClientTLS {
  ca?: Array<Buffer | string>
  rejectUnauthorized: boolean
  servername?: string
}

export async function loadClientTLS(opts: WebSocketClientTLSOptions | undefined): Promise<LoadedClientTLS> {
  const out: LoadedClientTLS = { rejectUnauthorized: opts?.rejectUnauthorized !== false }
  if (opts?.ca !== undefined) {
    const list = Array.isArray(opts.ca) ? opts.ca : [opts.ca]
    out.ca = await Promise.all(list.map((c) => loadPem(c, 'CA certificate')))
  }
  if (opts?.servername !== undefined) out.servername = opts.servername
  return out
}

/**
 * Certificate verification failures as OpenSSL/Node name them. Anything here means "the peer's
 * certificate is not acceptable", as opposed to a broken connection.
 */
const CERT_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/** True when `err` came from TLS (certificate verification or the TLS handshake itself). */
export function isTLSError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const e = err as { code?: unknown; library?: unknown }
  const code = typeof e.code === 'string' ? e.code : ''
  return (
    CERT_CODES.has(code) ||
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_TLS_') ||
    code === 'EPROTO' ||
    e.library === 'SSL routines'
  )
}

/** Builds the `STT_TLS` error for a failed TLS connection to `where` (a URL without secrets). */
export function tlsError(err: unknown, where: string): STTTransportError {
  const e = err as { code?: string; message?: string }
  const code = e.code ?? 'TLS error'
  let hint: string
  if (CERT_CODES.has(code)) {
    hint =
      code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH'
        ? 'the server certificate is not valid for this host name (check the URL or tls.servername)'
        : 'the server certificate is not trusted (pass tls.ca with the CA that signed it)'
  } else if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO') {
    hint = 'the server does not speak TLS here (is it ws:// rather than wss://?)'
  } else {
    hint = 'TLS handshake failed'
  }
  return new STTTransportError(ErrorCode.TLS, `TLS to ${where} failed: ${hint} (${code}: ${e.message ?? ''})`, {
    cause: err,
  })
}
