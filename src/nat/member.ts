/**
 * The member side of NAT traversal (docs/guide/09-nat.md, docs/PROTOCOL.md §8):
 *
 * - `register(url)` keeps an internal STT session to a relay (only seed holders get one),
 *   registers this node's host candidates on it and learns the reflexive address. PINGs hold
 *   the NAT mapping to the relay open; their interval halves (down to 2 s) whenever the
 *   reflexive address changed between two of them (the NAT forgot the mapping), so it adapts
 *   to the mapping lifetime it observes.
 * - `connect(nodeId)`: asks the relay for an introduction (CONNECT), gets a channel, and runs
 *   the end-to-end handshake through it at once, pinned to that node id. When the session is
 *   up both members punch toward each other's candidates (punch.ts); a direct path that
 *   answers takes over by migration. Race, don't wait: nothing waits for punching.
 * - The target side accepts the relayed handshake like any other (after INTRODUCE), checks
 *   the peer is who the relay introduced, and punches too.
 * - When the session with a relay ends, every session still running through it fails with
 *   STT_RELAY_LOST; sessions that went direct are untouched.
 */
import { networkInterfaces } from 'node:os'
import type { EventEmitter } from 'node:events'
import type { Driver } from '../driver.js'
import { ErrorCode, errorFor, STTConfigError, STTError, STTHandshakeError, STTTransportError, WireError } from '../errors.js'
import type { StartResult } from '../router.js'
import { AmplificationBudget } from '../protocol/amplification.js'
import {
  type Candidate,
  CandidateKind,
  type ControlMessage,
  ControlType,
  decodeControl,
  encodeControl,
  RefusalReason,
  punchableCandidates,
  RENDEZVOUS_STREAM_ID,
} from '../protocol/rendezvous.js'
import { sessionInternals, type STTSession } from '../session.js'
import type { PeerAddress } from '../transport/types.js'
import { RelayedAddress, RelayPathTransport } from './relay-path.js'
import { DEFAULT_FALLBACK_DELAY } from '../auto-connect.js'

const REQUEST_TIMEOUT_MS = 5_000
const PING_MAX_MS = 15_000
const PING_MIN_MS = 2_000
/**
 * While a session stays relayed it punches again (a NAT mapping or a firewall may change):
 * first after 2 s, then with doubling gaps up to 60 s. Each round's budget is 3x the bytes
 * the peer sent us through the relay since the previous round (the peer, a member, pays for it).
 */
const REPUNCH_FIRST_MS = 2_000
const REPUNCH_MAX_MS = 60_000

interface Pending {
  resolve: (m: ControlMessage) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
}

interface ChannelInfo {
  address: RelayedAddress
  peer: string
  candidates: Candidate[]
  link: RelayLink
  /** The next punch round while the session stays relayed. */
  repunch?: NodeJS.Timeout | null
  /** Channel bytes received when the last punch round started (its credit was counted up to there). */
  punched?: number
  /** The dialler's handshake on this channel, while it runs: CHANNEL_CLOSED aborts it. */
  dialling?: AbortController
}

interface RelayLink {
  url: string
  session: STTSession
  relay: PeerAddress
  reflexive: Candidate | null
  registered: Promise<Candidate>
  onRegistered: ((c: Candidate) => void) | null
  pending: Map<number, Pending>
  pingTimer: NodeJS.Timeout | null
  pingEvery: number
  pingSeq: number
  mappingChanges: number
}

const REFUSAL_TEXT: Record<number, string> = {
  [RefusalReason.UNKNOWN_PEER]: 'the peer is not registered with the relay',
  [RefusalReason.MEMBER_LIMIT]: 'this node reached the relay limit of relayed sessions per member',
  [RefusalReason.TOTAL_LIMIT]: 'the relay reached its total limit of relayed sessions',
  [RefusalReason.PEER_LIMIT]: 'the peer reached the relay limit of relayed sessions per member',
  [RefusalReason.NOT_REGISTERED]: 'this node is not registered with the relay',
  [RefusalReason.SELF]: 'a node cannot be introduced to itself',
  [RefusalReason.PENDING_LIMIT]: 'the peer has not answered the introductions this node already asked for',
}

export interface NatConnectOptions {
  timeout?: number
  congestionControl?: 'bbr' | 'cubic' | 'newreno'
  signal?: AbortSignal
}

export class RendezvousMember {
  readonly path: RelayPathTransport
  private readonly links = new Map<string, RelayLink>()
  private readonly channels = new Map<string, ChannelInfo>()
  private requestSeq = 1
  private readonly counters = { introductions: 0, refused: 0, relayLost: 0, punchedDirect: 0, channelsClosedByRelay: 0, controlMalformed: 0, candidatesFiltered: 0, fellBack: 0 }
  private retryTimer: NodeJS.Timeout | null = null
  private stopped = false

  constructor(
    private readonly node: EventEmitter,
    private readonly driver: Driver,
    private readonly rendezvous: string | undefined,
  ) {
    this.path = new RelayPathTransport((addr) => driver.router.transportOf(addr))
    driver.router.addVirtual(this.path)
    // Before any listener of the application: a relayed session from a peer the relay did not
    // introduce on that channel is closed before anyone uses it.
    node.prependListener('session', (s: STTSession) => this.onSession(s))
  }

  /** After node.start(): registers with the `rendezvous` relay in the background. */
  started(bound: StartResult): void {
    this.bound = bound.addresses['udp'] ?? null
    this.stopped = false
    if (this.rendezvous) this.registerInBackground(this.rendezvous, 1_000)
  }

  private registerInBackground(url: string, backoff: number): void {
    this.register(url).catch(() => {
      if (this.stopped) return
      this.retryTimer = setTimeout(() => this.registerInBackground(url, Math.min(backoff * 2, 30_000)), backoff)
      this.retryTimer.unref()
    })
  }

  stopping(): void {
    this.stopped = true
    if (this.retryTimer) clearTimeout(this.retryTimer)
    for (const link of this.links.values()) this.dropLink(link, new STTError(ErrorCode.ABORTED, 'node stopped'))
  }

  /** Registers with the relay at `url` (udp://host:port or ws://...); resolves with our reflexive address. */
  register(url: string): Promise<{ host: string; port: number }> {
    const key = normalize(url)
    // One session per relay: concurrent calls (the rendezvous option and register()) share it.
    let p = this.registering.get(key)
    if (!p) {
      p = this.registerOnce(key).finally(() => this.registering.delete(key))
      this.registering.set(key, p)
    }
    return p
  }

  private readonly registering = new Map<string, Promise<{ host: string; port: number }>>()

  private async registerOnce(key: string): Promise<{ host: string; port: number }> {
    const existing = this.links.get(key)
    if (existing) {
      const c = await existing.registered
      return { host: c.host, port: c.port }
    }
    const session = await this.dialRelay(key)
    let onRegistered: ((c: Candidate) => void) | null = null
    const registered = new Promise<Candidate>((r) => (onRegistered = r))
    const link: RelayLink = {
      url: key,
      session,
      relay: sessionInternals.core(session).address,
      reflexive: null,
      registered,
      onRegistered,
      pending: new Map(),
      pingTimer: null,
      pingEvery: PING_MAX_MS,
      pingSeq: 0,
      mappingChanges: 0,
    }
    this.links.set(key, link)
    session.on('error', () => {})
    session.once('close', () => this.dropLink(link, errorFor(ErrorCode.RELAY_LOST, `session with relay ${key} ended`)))
    this.send(link, { type: ControlType.REGISTER, candidates: this.hostCandidates() })
    const timeout = new Promise<never>((_, reject) => {
      const t = setTimeout(() => reject(new STTTransportError(ErrorCode.TIMEOUT, `relay ${key} did not confirm the registration`)), REQUEST_TIMEOUT_MS)
      void registered.then(() => clearTimeout(t))
    })
    const c = await Promise.race([registered, timeout]).catch((e) => {
      this.dropLink(link, e as Error)
      void session.close('registration failed', { drainTimeout: 0 }).catch(() => {})
      throw e
    })
    this.schedulePing(link)
    return { host: c.host, port: c.port }
  }

  /**
   * The internal session to the relay at `key`: udp://, ws(s)://, or auto:// (UDP first, WebSocket
   * to the same host and port number after 300 ms or at once when UDP fails; the first session up
   * wins, the other attempt is cancelled or closed). A member whose UDP to the relay is blocked is
   * relayed over its WebSocket session all the same (relay envelopes ride any carrier).
   */
  private async dialRelay(key: string): Promise<STTSession> {
    const router = this.driver.router
    // Not resumable: a relay that went silent must end the session, so relayed sessions fail fast (STT_RELAY_LOST).
    const dial = async (url: string, signal?: AbortSignal) => {
      const route = await router.route(url)
      if (route.kind !== 'transport') throw new STTConfigError('a relay is reached over udp://, ws(s):// or auto://')
      return this.driver.connect({ transport: route.transport, url, dialOptions: {}, bare: false, internal: true, resumable: false, signal })
    }
    const route = await router.route(key)
    if (route.kind === 'transport') return dial(key)
    const t = route.target
    const host = t.host.includes(':') ? `[${t.host}]` : t.host
    const wsUrl = `ws://${host}:${t.port}${t.path && t.path !== '/' ? t.path : '/stt'}`
    const udpCtl = new AbortController()
    const wsCtl = new AbortController()
    const udp = dial(`udp://${host}:${t.port}`, udpCtl.signal)
    const ws = new Promise<STTSession>((resolve, reject) => {
      let started = false
      const go = () => {
        if (started) return
        started = true
        if (wsCtl.signal.aborted) return reject(new STTError(ErrorCode.ABORTED, 'cancelled'))
        dial(wsUrl, wsCtl.signal).then(resolve, reject)
      }
      const timer = setTimeout(go, DEFAULT_FALLBACK_DELAY)
      udp.catch(() => {
        clearTimeout(timer)
        go()
      })
      wsCtl.signal.addEventListener('abort', () => {
        clearTimeout(timer)
        if (!started) reject(new STTError(ErrorCode.ABORTED, 'cancelled'))
      }, { once: true })
    })
    const loser = (p: Promise<STTSession>) => p.then((s) => s.close('duplicate relay session', { drainTimeout: 0 }), () => {}).catch(() => {})
    try {
      const winner = await Promise.any([udp.then((s) => ({ s, udp: true })), ws.then((s) => ({ s, udp: false }))])
      if (winner.udp) {
        wsCtl.abort()
        void loser(ws)
      } else {
        udpCtl.abort()
        void loser(udp)
      }
      return winner.s
    } catch (err) {
      const errors = (err as AggregateError).errors ?? [err]
      const auth = errors.find((e: unknown) => e instanceof STTError && (e.code === ErrorCode.AUTH_FAILED || e.code === ErrorCode.PEER_MISMATCH || e.code === ErrorCode.VERSION_MISMATCH))
      if (auth) throw auth
      throw new STTHandshakeError(ErrorCode.HANDSHAKE_TIMEOUT, `relay ${key}: neither UDP nor WebSocket reached it (${errors.map((e: Error) => e.message).join('; ')})`, { cause: err })
    }
  }

  private hostCandidates(): Candidate[] {
    const out: Candidate[] = []
    const bound = this.bound
    if (!bound?.port) return out
    const port = bound.port
    if (bound.host && bound.host !== '0.0.0.0' && bound.host !== '::') return [{ kind: CandidateKind.HOST, host: bound.host, port }]
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') out.push({ kind: CandidateKind.HOST, host: a.address, port })
    }
    return out.slice(0, 6)
  }

  /** Where this node's UDP transport is bound (host candidates). */
  private bound: { host: string; port: number } | null = null

  private schedulePing(link: RelayLink): void {
    if (link.pingTimer) clearTimeout(link.pingTimer)
    link.pingTimer = setTimeout(() => {
      this.send(link, { type: ControlType.PING, seq: ++link.pingSeq })
      this.schedulePing(link)
    }, link.pingEvery)
    link.pingTimer.unref()
  }

  private dropLink(link: RelayLink, err: Error): void {
    if (this.links.get(link.url) !== link) return
    this.links.delete(link.url)
    if (link.pingTimer) clearTimeout(link.pingTimer)
    for (const p of link.pending.values()) {
      clearTimeout(p.timer)
      p.reject(err)
    }
    link.pending.clear()
    // On node.stop() the driver closes every session itself, gracefully.
    if (this.stopped) return
    // Sessions still running through this relay cannot continue: fail them with a typed error.
    const now = this.driver.now()
    for (const ch of [...this.channels.values()]) {
      if (ch.link !== link) continue
      this.forget(ch)
      this.counters.relayLost += this.closeRelayed(ch, `relay ${link.url} lost`, now)
    }
    this.driver.schedule(true)
    if (this.rendezvous && normalize(this.rendezvous) === link.url && !this.stopped) this.registerInBackground(link.url, 1_000)
  }

  private send(link: RelayLink, m: ControlMessage): void {
    if (link.session.closed) return
    link.session.send(encodeControl(m), { streamId: RENDEZVOUS_STREAM_ID }).catch(() => {})
  }

  /** A message on one of our relay sessions (all of theirs are control messages). */
  onMessage(session: STTSession, streamId: number, data: Uint8Array): boolean {
    const link = [...this.links.values()].find((l) => l.session === session)
    if (!link) return false
    if (streamId !== RENDEZVOUS_STREAM_ID) return true
    const m = decodeControl(data)
    if (!m) {
      this.counters.controlMalformed++
      return true
    }
    switch (m.type) {
      case ControlType.REGISTERED:
        link.reflexive = m.reflexive
        link.onRegistered?.(m.reflexive)
        link.onRegistered = null
        return true
      case ControlType.PONG: {
        const r = link.reflexive
        if (r && (r.host !== m.reflexive.host || r.port !== m.reflexive.port)) {
          // The NAT gave us a new mapping between two pings: it forgets sooner than we ping.
          link.mappingChanges++
          link.pingEvery = Math.max(PING_MIN_MS, link.pingEvery / 2)
          this.schedulePing(link)
        }
        link.reflexive = m.reflexive
        return true
      }
      case ControlType.CONNECT_OK:
      case ControlType.REFUSED: {
        const p = link.pending.get(m.requestId)
        if (!p) return true
        link.pending.delete(m.requestId)
        clearTimeout(p.timer)
        p.resolve(m)
        return true
      }
      case ControlType.INTRODUCE: {
        this.counters.introductions++
        const address = new RelayedAddress(link.relay, m.channel)
        this.addChannel({ address, peer: Buffer.from(m.peer).toString('hex'), candidates: m.candidates, link })
        return true
      }
      case ControlType.CHANNEL_CLOSED: {
        const ch = this.channels.get(new RelayedAddress(link.relay, m.channel).key)
        if (!ch) return true
        this.forget(ch)
        // Closed before our handshake on it completed: the target took the call at its limit, or
        // never answered (§8.3). connect() fails at once with STT_RELAY_REFUSED.
        ch.dialling?.abort()
        // A session still on the channel cannot go on (one that went direct is untouched).
        this.counters.channelsClosedByRelay += this.closeRelayed(ch, `relay ${link.url} closed the channel`, this.driver.now())
        this.driver.schedule(true)
        return true
      }
      default:
        return true
    }
  }

  private addChannel(ch: ChannelInfo): void {
    this.channels.set(ch.address.key, ch)
    this.path.channels.set(ch.address.key, ch.address)
  }

  private forget(ch: ChannelInfo): void {
    if (this.channels.get(ch.address.key) !== ch) return
    this.channels.delete(ch.address.key)
    this.path.channels.delete(ch.address.key)
  }

  /** We are done with `ch`: forgotten here, and CHANNEL_CLOSE tells the relay (§8.3). */
  private release(ch: ChannelInfo): void {
    if (this.channels.get(ch.address.key) !== ch) return
    this.forget(ch)
    if (this.links.get(ch.link.url) === ch.link) this.send(ch.link, { type: ControlType.CHANNEL_CLOSE, channel: ch.address.channel })
  }

  /** Closes the sessions still running over `ch` (others lose it as their fallback); returns how many. */
  private closeRelayed(ch: ChannelInfo, reason: string, now: number): number {
    let n = 0
    for (const core of this.driver.endpoint.allSessions()) {
      if (core.fallback.address?.key === ch.address.key) core.fallback.address = null
      if (core.address.key === ch.address.key && core.state !== 'closed' && core.state !== 'closing') {
        n++
        core.close(WireError.NETWORK_UNREACHABLE, reason, now)
      }
    }
    return n
  }

  /** Connects to `nodeId` through the relay at `relayUrl` (or the `rendezvous` one). */
  async connect(nodeId: Uint8Array, relayUrl: string | undefined, opts: NatConnectOptions): Promise<STTSession> {
    const url = relayUrl ?? this.rendezvous
    if (!url) throw new STTConfigError('stt://<nodeId> needs a relay: stt://<nodeId>@host:port, or the rendezvous option')
    await this.register(url)
    const link = this.links.get(normalize(url))
    if (!link) throw errorFor(ErrorCode.RELAY_LOST, `relay ${url} lost`)
    const requestId = this.requestSeq++
    const answer = await new Promise<ControlMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        link.pending.delete(requestId)
        reject(new STTTransportError(ErrorCode.TIMEOUT, `relay ${url} did not answer the introduction request`))
      }, REQUEST_TIMEOUT_MS)
      link.pending.set(requestId, { resolve, reject, timer })
      this.send(link, { type: ControlType.CONNECT, requestId, target: nodeId })
    })
    if (answer.type === ControlType.REFUSED) {
      this.counters.refused++
      throw new STTTransportError(ErrorCode.RELAY_REFUSED, `relay refused: ${REFUSAL_TEXT[answer.reason] ?? `reason ${answer.reason}`}`)
    }
    if (answer.type !== ControlType.CONNECT_OK) throw new STTTransportError(ErrorCode.RELAY_REFUSED, 'unexpected answer from the relay')
    const address = new RelayedAddress(link.relay, answer.channel)
    const dialling = new AbortController()
    const ch: ChannelInfo = { address, peer: Buffer.from(nodeId).toString('hex'), candidates: answer.candidates, link, dialling }
    this.addChannel(ch)
    try {
      // The relayed path starts at once; punching runs beside it once the session is up.
      const s = await this.driver.connect({
        transport: this.path,
        url: address.key,
        dialOptions: {},
        peerNodeId: nodeId,
        timeout: opts.timeout,
        bare: false,
        congestionControl: opts.congestionControl,
        signal: opts.signal ? AbortSignal.any([opts.signal, dialling.signal]) : dialling.signal,
      })
      ch.dialling = undefined
      s.once('close', () => this.release(ch))
      void this.punch(s, ch)
      return s
    } catch (e) {
      this.release(ch)
      if (dialling.signal.aborted && !opts.signal?.aborted) {
        this.counters.refused++
        throw new STTTransportError(ErrorCode.RELAY_REFUSED, 'relay refused: it closed the channel before the session was up (the peer is at the relay limit of relayed sessions per member, or did not answer within the pending timeout)')
      }
      throw e
    }
  }

  /** Every new session: the relayed ones we accepted must come from the introduced peer. */
  private onSession(s: STTSession): void {
    const core = sessionInternals.core(s)
    if (core.address.kind !== 'relay') return
    const ch = this.channels.get(core.address.key)
    if (!ch) return
    if (s.initiator) return
    s.once('close', () => this.release(ch))
    if (s.peerNodeId.toString('hex') !== ch.peer) {
      core.close(WireError.AUTHENTICATION_FAILED, 'not the peer the relay introduced', this.driver.now())
      this.driver.schedule(true)
      return
    }
    void this.punch(s, ch)
  }

  private async punch(s: STTSession, ch: ChannelInfo, round = 0, lastBytes = 0): Promise<void> {
    const udp = this.driver.router.get('udp')
    if (!udp) return
    const addrs: PeerAddress[] = []
    // Never at an address a punch would reflect at a victim (§8.5), whatever the relay said.
    const cands = punchableCandidates(ch.candidates, ch.link.relay.host ?? '')
    if (round === 0) this.counters.candidatesFiltered += ch.candidates.length - cands.length
    for (const c of cands) {
      try {
        addrs.push(await udp.dial(`udp://${c.host.includes(':') ? `[${c.host}]` : c.host}:${c.port}`))
      } catch {
        // An unusable candidate (another family) is skipped.
      }
    }
    if (addrs.length === 0 || s.closed) return
    // Each round counts against 3x what the peer really sent us through the relay since the
    // previous one (the first: since the channel opened, its handshake included).
    const core = sessionInternals.core(s)
    const budget = new AmplificationBudget()
    const bytes = ch.address.bytesReceived
    ch.punched = bytes
    budget.onReceived(bytes - lastBytes)
    core.startPunch(this.driver.now(), addrs, budget)
    if (round === 0) {
      // A direct path that dies sends the session back to this channel (path-fallback.ts);
      // punching then starts over from its second round, toward the introduction's candidates
      // (maybe stale: why its punched move is still safe is in PROTOCOL.md §8.4).
      core.fallback.address = ch.address
      s.on('path', (p: string) => {
        if (p === 'direct') this.counters.punchedDirect++
        else if (!s.closed && !this.stopped) {
          this.counters.fellBack++
          void this.punch(s, ch, 1, ch.punched ?? 0)
        }
      })
    }
    this.driver.schedule(true)
    if (ch.repunch) clearTimeout(ch.repunch)
    ch.repunch = setTimeout(() => {
      ch.repunch = null
      if (!s.closed && s.path === 'relayed' && !this.stopped) void this.punch(s, ch, round + 1, bytes)
    }, Math.min(REPUNCH_MAX_MS, REPUNCH_FIRST_MS * 2 ** round))
    ch.repunch.unref()
  }

  stats() {
    const links = [...this.links.values()].map((l) => ({
      relay: l.url,
      /** The transport of the session with the relay ('udp' or 'websocket'; auto:// picks one). */
      transport: l.session.transport,
      reflexive: l.reflexive ? `${l.reflexive.host}:${l.reflexive.port}` : null,
      keepAliveMs: l.pingEvery,
      mappingChanges: l.mappingChanges,
    }))
    return { role: 'member' as const, relays: links, channels: this.channels.size, ...this.counters, path: this.path.getStats() }
  }
}

/** `host:port` and `udp://host:port` name the same relay. */
function normalize(url: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `udp://${url}`
}
