/** Turning CLI flags into STTNode options, shared by the commands. */
import { usage } from './exit.js'

export type TransportName = 'udp' | 'websocket'

export function parseTransports(s: string | undefined, fallback: TransportName[]): TransportName[] {
  if (s === undefined) return fallback
  const list = s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean).map((x) => (x === 'ws' ? 'websocket' : x))
  if (list.length === 0) throw usage('--transport needs udp, websocket, or udp,websocket')
  for (const t of list) if (t !== 'udp' && t !== 'websocket') throw usage(`unknown transport '${t}' (use udp, websocket, or udp,websocket)`)
  return [...new Set(list)] as TransportName[]
}

/** Checks a target URL up front so a typo is a usage error, not a connect failure. */
export function checkTarget(to: string): { scheme: string; host: string; port: number } {
  let u: URL
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(to) ? to : `udp://${to}`
  try {
    u = new URL(withScheme)
  } catch {
    throw usage(`not a valid address: ${to} (expected udp://host:port, ws://host:port/stt, wss://host:port/stt or auto://host:port)`)
  }
  const scheme = u.protocol.slice(0, -1).toLowerCase()
  if (!['udp', 'ws', 'wss', 'auto'].includes(scheme)) throw usage(`unsupported scheme ${scheme}:// in ${to} (use udp://, ws://, wss:// or auto://)`)
  const port = Number(u.port)
  if (!u.hostname) throw usage(`address has no host: ${to}`)
  if (!u.port || !Number.isInteger(port) || port < 1 || port > 65535) throw usage(`address needs a port 1-65535: ${to}`)
  return { scheme, host: u.hostname.replace(/^\[|\]$/g, ''), port }
}
