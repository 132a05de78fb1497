/**
 * Builds a node's transports from its options: which ones listen (`transport`), with which
 * settings. UDP uses the native addon when it loaded (recvmmsg/sendmmsg, GSO/GRO) and
 * node:dgram otherwise; `transportImpl` plugs in any object implementing Transport.
 */
import { STTConfigError } from '../errors.js'
import type { Transport } from './types.js'
import { UdpDgramTransport } from './udp-dgram.js'
import { WebSocketTransport, type WebSocketTransportOptions } from './websocket.js'
import { nativeUdpAvailable } from './udp-native.js'
import { DualStackNativeUdp } from './udp-native-dual.js'

export type TransportName = 'udp' | 'websocket'

export interface TransportSetOptions extends Omit<WebSocketTransportOptions, 'port' | 'host'> {
  /** Listen address for every transport (default 0.0.0.0). */
  host?: string
  /** UDP port, and the WebSocket port unless websocketPort is given (0 = any free port). */
  port?: number
  /** What the node listens on: 'udp' (default), 'websocket', or both. */
  transport?: TransportName | TransportName[]
  websocketPort?: number
  recvBufferSize?: number
  sendBufferSize?: number
  /** 'native' (default when the addon loaded) or 'dgram' (node:dgram). */
  udpBackend?: 'native' | 'dgram'
  /** Native UDP: use GSO on send / GRO on receive where the kernel has them (default true). */
  gso?: boolean
  gro?: boolean
  /** A custom transport (pluggable): used as the listener of its own `kind`. */
  transportImpl?: Transport
  /** Accept inbound sessions (default true). */
  acceptConnections?: boolean
}

export interface TransportSet {
  listeners: Map<string, Transport>
  dialers: Map<string, Transport>
  primary: string
}

function listNames(t: unknown): TransportName[] {
  const list = t === undefined ? ['udp'] : Array.isArray(t) ? t : [t]
  if (list.length === 0) throw new STTConfigError("transport list is empty (use 'udp', 'websocket' or both)")
  for (const n of list) if (n !== 'udp' && n !== 'websocket') throw new STTConfigError(`unknown transport '${String(n)}' (use 'udp' or 'websocket')`)
  return [...new Set(list as TransportName[])]
}

function checkPort(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) throw new STTConfigError(`${name} must be an integer 0-65535 (got ${String(v)})`)
  return v
}

export function createUdp(o: TransportSetOptions, listen: boolean): Transport {
  const opts = { host: listen ? (o.host ?? '0.0.0.0') : '0.0.0.0', port: listen ? (o.port ?? 0) : 0, recvBufferSize: o.recvBufferSize, sendBufferSize: o.sendBufferSize }
  const wantNative = o.udpBackend === 'native' || (o.udpBackend === undefined && nativeUdpAvailable)
  if (wantNative && nativeUdpAvailable) return new DualStackNativeUdp({ ...opts, gso: o.gso, gro: o.gro })
  return new UdpDgramTransport(opts)
}

export function createWebSocket(o: TransportSetOptions, listen: boolean): Transport {
  const { host, port, websocketPort, transport: _t, recvBufferSize: _r, sendBufferSize: _s, udpBackend: _u, transportImpl: _i, acceptConnections: _a, gso: _g, gro: _gr, ...ws } = o
  return new WebSocketTransport({ ...ws, host: listen ? host : undefined, port: listen ? (websocketPort ?? port ?? 0) : 0 })
}

/** With `validateOnly`, checks the options and creates nothing that holds resources. */
export function createTransports(o: TransportSetOptions, validateOnly: boolean): TransportSet {
  checkPort(o.port, 'port')
  checkPort(o.websocketPort, 'websocketPort')
  for (const k of ['recvBufferSize', 'sendBufferSize'] as const) {
    const v = o[k]
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 4096 || v > 1 << 30)) throw new STTConfigError(`${k} must be an integer between 4096 and 2^30 bytes`)
  }
  if (o.udpBackend !== undefined && o.udpBackend !== 'native' && o.udpBackend !== 'dgram') throw new STTConfigError("udpBackend must be 'native' or 'dgram'")
  const names = o.transportImpl ? [] : listNames(o.transport)
  const listeners = new Map<string, Transport>()
  const dialers = new Map<string, Transport>()
  if (validateOnly) return { listeners, dialers, primary: names[0] ?? 'custom' }
  if (o.transportImpl) {
    listeners.set(String(o.transportImpl.kind), o.transportImpl)
    return { listeners, dialers, primary: String(o.transportImpl.kind) }
  }
  for (const n of names) listeners.set(n, n === 'udp' ? createUdp(o, true) : createWebSocket(o, true))
  // Any node can dial any transport: the missing ones only dial (UDP on an ephemeral port).
  if (!listeners.has('udp')) dialers.set('udp', createUdp(o, false))
  if (!listeners.has('websocket')) dialers.set('websocket', createWebSocket(o, false))
  return { listeners, dialers, primary: names[0]! }
}
