/** Parsing of `scheme://host:port[/path]` targets and bare `host:port`, IPv6 in brackets. */
import { STTConfigError } from '../errors.js'

export interface HostPort {
  scheme: string
  host: string
  port: number
  path: string
}

export function parseTarget(target: string, defaultScheme: string): HostPort {
  if (typeof target !== 'string' || target.length === 0) throw new STTConfigError('target address must be a non-empty string like udp://host:port')
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? target : `${defaultScheme}://${target}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw new STTConfigError(`not a valid address: ${target}`)
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase()
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  if (!host) throw new STTConfigError(`address has no host: ${target}`)
  // ws:// and wss:// have well-known ports (RFC 6455); UDP has none.
  const defaultPort = scheme === 'wss' ? 443 : scheme === 'ws' ? 80 : NaN
  const port = url.port === '' ? defaultPort : Number(url.port)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new STTConfigError(`address needs a port 1-65535: ${target}`)
  return { scheme, host, port, path: url.pathname || '/' }
}

export function parseHostPort(target: string, scheme: string): HostPort {
  return parseTarget(target, scheme)
}
