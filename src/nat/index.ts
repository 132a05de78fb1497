/**
 * NAT traversal for one node: the relay role (relay-server.ts) or the member role
 * (member.ts), wired into the driver's hooks. STTNode holds one of these and forwards
 * `stt://` connects, `register()`, start/stop and stats to it.
 */
import type { EventEmitter } from 'node:events'
import type { Driver } from '../driver.js'
import { STTConfigError } from '../errors.js'
import type { StartResult } from '../router.js'
import type { STTSession } from '../session.js'
import { RendezvousMember, type NatConnectOptions } from './member.js'
import { RelayServer, resolveRelayLimits, type RelayLimits } from './relay-server.js'

export type { RelayLimits } from './relay-server.js'

export interface NatOptions {
  relay?: boolean | RelayLimits
  rendezvous?: string
}

/** `stt://<64 hex>` or `stt://<64 hex>@host:port` (the relay, UDP). */
export function parseSttUrl(url: string): { nodeId: Uint8Array; relay: string | undefined } {
  const m = /^stt:\/\/([0-9a-f]{64})(?:@(.+))?$/i.exec(url)
  if (!m) throw new STTConfigError('stt:// targets are stt://<node id, 64 hex characters>[@relayhost:port]')
  const relay = m[2] === undefined ? undefined : /^[a-z][a-z0-9+.-]*:\/\//i.test(m[2]) ? m[2] : `udp://${m[2]}`
  return { nodeId: new Uint8Array(Buffer.from(m[1]!, 'hex')), relay }
}

export class NatTraversal {
  readonly relay: RelayServer | null
  readonly member: RendezvousMember | null

  constructor(node: EventEmitter, driver: Driver, opts: NatOptions) {
    if (opts.rendezvous !== undefined && typeof opts.rendezvous !== 'string') throw new STTConfigError('rendezvous must be a relay URL (udp://host:port)')
    if (opts.relay !== undefined && opts.relay !== false) {
      this.relay = new RelayServer(driver, resolveRelayLimits(opts.relay))
      this.member = null
      driver.hooks.receive = (b) => this.relay!.receive(b)
      driver.hooks.message = (s, id, d) => this.relay!.onMessage(s, id, d)
    } else {
      this.relay = null
      this.member = new RendezvousMember(node, driver, opts.rendezvous)
      driver.hooks.receive = (b) => this.member!.path.unwrap(b)
      driver.hooks.message = (s, id, d) => this.member!.onMessage(s, id, d)
    }
  }

  started(bound: StartResult): void {
    this.relay?.start()
    this.member?.started(bound)
  }

  stopping(): void {
    this.relay?.stop()
    this.member?.stopping()
  }

  async connect(url: string, opts: NatConnectOptions): Promise<STTSession> {
    if (!this.member) throw new STTConfigError('a relay node does not dial stt:// targets')
    const { nodeId, relay } = parseSttUrl(url)
    return this.member.connect(nodeId, relay, opts)
  }

  register(url: string): Promise<{ host: string; port: number }> {
    if (!this.member) throw new STTConfigError('a relay node does not register with another relay')
    return this.member.register(url)
  }

  stats() {
    return this.relay ? this.relay.stats() : this.member!.stats()
  }
}
