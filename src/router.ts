/**
 * The node's transports and the one mapping from a target URL to the transport that dials
 * it: `udp://` → UDP, `ws://`/`wss://` → WebSocket, `auto://` → both (auto-connect.ts), and
 * `<kind>://` → a pluggable transport of that kind. Also opens and closes the transports.
 */
import { STTConfigError } from './errors.js'
import { createTransports, createWebSocket, type TransportSetOptions } from './transport/factory.js'
import { parseTarget, type HostPort } from './transport/address.js'
import type { BoundAddress, PeerAddress, Transport, TransportEvents, TransportStats } from './transport/types.js'

/** The built-in URL schemes and the transport each one dials through. */
const SCHEME_TRANSPORT: Record<string, 'udp' | 'websocket' | 'auto'> = { udp: 'udp', ws: 'websocket', wss: 'websocket', auto: 'auto' }

/** Where a connect() target goes: one transport, or the automatic UDP/WebSocket race. */
export type Route = { kind: 'auto'; target: HostPort } | { kind: 'transport'; transport: Transport; url: string }

export interface StartResult extends BoundAddress {
  websocketPort?: number
  addresses: Record<string, BoundAddress>
}

export class TransportRouter {
  readonly #options: TransportSetOptions
  readonly #events: (t: Transport) => TransportEvents
  readonly #transports = new Map<string, Transport>()
  /** Transports layered on the others (the relayed path, src/nat/): routed to, not counted twice in stats. */
  readonly #virtual = new Map<string, Transport>()

  constructor(options: TransportSetOptions, events: (t: Transport) => TransportEvents) {
    this.#options = options
    this.#events = events
    // Validate transport options now so bad input fails at the constructor, not at start().
    createTransports(options, true)
  }

  /** Opens the configured transports; resolves with every bound address. */
  async start(): Promise<StartResult> {
    const o = this.#options
    // WebSocket shares the UDP port number by default (TCP and UDP ports are separate).
    const samePort = o.websocketPort === undefined && !o.transportImpl && Array.isArray(o.transport) && o.transport.includes('udp') && o.transport.includes('websocket')
    let set = createTransports(o, false)
    const addresses: Record<string, BoundAddress> = {}
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          for (const [name, t] of set.listeners) {
            if (name === 'websocket' && samePort && addresses['udp']) {
              const ws = createWebSocket({ ...o, websocketPort: addresses['udp'].port }, true)
              set.listeners.set('websocket', ws)
              t.close().catch(() => {})
              addresses[name] = await this.#add(name, ws, true)
              continue
            }
            addresses[name] = await this.#add(name, t, true)
          }
          break
        } catch (err) {
          // Port 0: the TCP twin of the UDP port we got may be taken; try another pair.
          if (!(samePort && !o.port && attempt < 8 && addresses['udp'] && !addresses['websocket'])) throw err
          await this.close()
          for (const k of Object.keys(addresses)) delete addresses[k]
          set = createTransports(o, false)
        }
      }
      for (const [name, t] of set.dialers) await this.#add(name, t, false)
    } catch (err) {
      await this.close()
      throw err
    }
    const first = addresses[set.primary] ?? Object.values(addresses)[0] ?? { host: '', port: 0 }
    return { ...first, websocketPort: addresses['websocket']?.port, addresses }
  }

  async #add(name: string, t: Transport, listen: true): Promise<BoundAddress>
  async #add(name: string, t: Transport, listen: false): Promise<void>
  async #add(name: string, t: Transport, listen: boolean): Promise<BoundAddress | void> {
    t.attach(this.#events(t))
    this.#transports.set(name, t)
    if (listen) return t.listen()
  }

  /**
   * The route for a connect() target. `forced` ('udp' | 'websocket' | 'auto') overrides the
   * scheme (the connectUdp/connectWebSocket aliases and ConnectOptions.transport).
   */
  async route(url: string, forced?: 'udp' | 'websocket' | 'auto'): Promise<Route> {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase()
    // A pluggable transport (transportImpl) is dialled by its own scheme: `<kind>://...`.
    if (scheme !== undefined && SCHEME_TRANSPORT[scheme] === undefined && !forced) {
      const transport = [...this.#transports.values()].find((t) => String(t.kind) === scheme)
      if (!transport) throw new STTConfigError(`unsupported scheme ${scheme}:// (use udp://, ws://, wss://, auto:// or a transportImpl of that kind)`)
      return { kind: 'transport', transport, url }
    }
    const parsed = parseTarget(url, forced === 'websocket' ? 'ws' : (forced ?? 'udp'))
    const name = forced === 'auto' ? 'auto' : SCHEME_TRANSPORT[parsed.scheme]
    if (name === undefined) throw new STTConfigError(`unsupported scheme ${parsed.scheme}:// (use udp://, ws://, wss:// or auto://)`)
    if (name === 'auto') return { kind: 'auto', target: parsed }
    return { kind: 'transport', transport: this.#transportFor(name), url }
  }

  /** The transport that reaches `target` for session migration (no auto, no pluggable kinds). */
  async forMigration(target: string): Promise<Transport> {
    const parsed = parseTarget(target, 'udp')
    const name = SCHEME_TRANSPORT[parsed.scheme]
    if (name !== 'udp' && name !== 'websocket') throw new STTConfigError(`cannot migrate to ${parsed.scheme}:// (use udp://, ws:// or wss://)`)
    return this.#transportFor(name)
  }

  #transportFor(name: 'udp' | 'websocket'): Transport {
    const transport = this.#transports.get(name)
    if (!transport) throw new STTConfigError(`this node has no ${name} transport`)
    // Both UDP transports reach both address families themselves (udp-native-dual.ts, udp-dgram.ts).
    return transport
  }

  /** The transport that reaches `addr` (addresses are plain values): the one of its kind. */
  transportOf(addr: PeerAddress): Transport | undefined {
    return this.#transports.get(String(addr.kind)) ?? this.#virtual.get(String(addr.kind))
  }

  addVirtual(t: Transport): void {
    this.#virtual.set(String(t.kind), t)
  }

  get(name: string): Transport | undefined {
    return this.#transports.get(name)
  }

  stats(): Map<string, TransportStats> {
    const out = new Map<string, TransportStats>()
    for (const [name, t] of this.#transports) out.set(name, t.getStats())
    return out
  }

  async close(): Promise<void> {
    const all = [...this.#transports.values()]
    this.#transports.clear()
    await Promise.all(all.map((t) => t.close().catch(() => {})))
  }
}
