/**
 * The relay / rendezvous role (`new STTNode({ relay: true })`, `stt relay`; docs/PROTOCOL.md §8).
 *
 * Members are the peers of this node's ordinary STT sessions, so only holders of the shared
 * seed get here; a member is known by the node id its handshake proved. Over the session's
 * control stream a member registers (with its host candidates) and learns its reflexive
 * address, and asks to be introduced to another member by node id. An introduction allocates
 * a channel: 8 random bytes both members get over their authenticated sessions. Relay
 * envelopes naming the channel are forwarded from one member's session address to the
 * other's, unchanged, and only those: the relay reads the 11-byte envelope (and could read
 * the 19-byte clear header of the packet inside) and nothing of the end-to-end packet's
 * payload, which the two members protect with their own handshake's keys.
 *
 * Channel lockout (§8.3): a channel counts against the dialler at once, but against the target
 * only once the target has sent on it (it took the call); unanswered channels per (dialler,
 * target) pair are capped and expire, so no member can fill another's quota.
 */
import { randomBytes } from 'node:crypto'
import type { Driver } from '../driver.js'
import type { STTSession } from '../session.js'
import { sessionInternals } from '../session.js'
import {
  CandidateKind,
  type Candidate,
  type ControlMessage,
  ControlType,
  decodeControl,
  encodeControl,
  relayChannelKey,
  RefusalReason,
  RENDEZVOUS_STREAM_ID,
  channelHex,
  isUnpaddedRequest,
  punchableCandidates,
} from '../protocol/rendezvous.js'
import type { PeerAddress, RxBatch } from '../transport/types.js'
import { mapEnvelopes } from './envelope-batch.js'
import { STTConfigError } from '../errors.js'

export interface RelayLimits {
  /** Relayed sessions (channels) one member may take part in at once (default 16). */
  maxSessionsPerMember?: number
  /** Channels in total (default 1024). */
  maxSessions?: number
  /** Bytes per second one relayed session may move, both directions together (default 32 MiB/s). */
  bytesPerSecond?: number
  /** Bytes per second over all relayed sessions (default 256 MiB/s). */
  totalBytesPerSecond?: number
  /** A channel on which either member sent nothing for this long is closed (ms, default 60 s). */
  channelIdleTimeout?: number
  /** A channel the target never sent on is closed after this long (ms, default 10 s). */
  channelPendingTimeout?: number
}

/** Unanswered channels one dialler may hold toward one target (§8.3). */
export const MAX_PENDING_PER_PAIR = 2

const DEFAULT_LIMITS: Required<RelayLimits> = {
  maxSessionsPerMember: 16,
  maxSessions: 1024,
  bytesPerSecond: 32 << 20,
  totalBytesPerSecond: 256 << 20,
  channelIdleTimeout: 60_000,
  channelPendingTimeout: 10_000,
}

/** Token bucket: `rate` bytes/s with one second of burst. */
export class Bucket {
  private tokens: number
  private at: number
  constructor(
    private readonly rate: number,
    now: number,
  ) {
    this.tokens = rate
    this.at = now
  }
  /** Refills up to `now`; true when `bytes` could be taken. Debits nothing: see take(). */
  has(bytes: number, now: number): boolean {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.at) * this.rate) / 1000)
    this.at = now
    return this.tokens >= bytes
  }
  /** Only after has() said yes for every bucket involved: a refusal by one debits none. */
  take(bytes: number): void {
    this.tokens -= bytes
  }
  /** Tokens now (tests). */
  get available(): number {
    return this.tokens
  }
}

/**
 * Admits `bytes` against a channel's bucket and the total one: both are checked before either
 * is debited, so a packet the total refuses costs its channel nothing. Returns the refusing
 * limit, or null when admitted (both debited).
 */
export function admit(channel: Bucket, total: Bucket, bytes: number, now: number): 'relay-rate-limit' | 'relay-total-limit' | null {
  if (!channel.has(bytes, now)) return 'relay-rate-limit'
  if (!total.has(bytes, now)) return 'relay-total-limit'
  channel.take(bytes)
  total.take(bytes)
  return null
}

interface Member {
  id: string
  session: STTSession
  candidates: Candidate[]
  channels: Set<string>
}

interface Channel {
  key: string
  id: Uint8Array
  /** The dialler. */
  a: Member
  /** The target: the channel counts against it only once `answered`. */
  b: Member
  answered: boolean
  bucket: Bucket
  createdAt: number
  /** Last envelope from a, from b: the channel lives while *both* send (one side alone cannot keep it). */
  lastA: number
  lastB: number
  packets: number
  bytes: number
}

export function resolveRelayLimits(v: unknown): Required<RelayLimits> {
  if (v === true || v === undefined) return { ...DEFAULT_LIMITS }
  if (typeof v !== 'object' || v === null) throw new STTConfigError('relay must be true or an object of limits')
  const out = { ...DEFAULT_LIMITS }
  for (const [k, val] of Object.entries(v)) {
    if (!(k in DEFAULT_LIMITS)) throw new STTConfigError(`unknown relay limit '${k}'`)
    if (typeof val !== 'number' || !(val > 0)) throw new STTConfigError(`relay limit ${k} must be a positive number`)
    ;(out as Record<string, number>)[k] = val
  }
  return out
}

/** An address as a candidate (IPv4-mapped IPv6 shown as IPv4, as peers dial it). */
export function candidateOf(addr: PeerAddress, kind: CandidateKind): Candidate | null {
  if (addr.host === undefined || addr.port === undefined) return null
  const host = addr.host.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1')
  return { kind, host, port: addr.port }
}

export class RelayServer {
  readonly limits: Required<RelayLimits>
  private readonly members = new Map<string, Member>()
  private readonly channels = new Map<string, Channel>()
  private readonly bySession = new Map<STTSession, Member>()
  private readonly total: Bucket
  private timer: NodeJS.Timeout | null = null
  private readonly counters = { registrations: 0, introductions: 0, candidatesFiltered: 0, channelsExpired: 0, refused: {} as Record<string, number>, packetsForwarded: 0, bytesForwarded: 0, dropped: {} as Record<string, number> }
  // Reused for one-packet sends of forwarded envelopes.
  private readonly one = { offsets: new Uint32Array(1), lengths: new Uint32Array(1) }

  constructor(
    private readonly driver: Driver,
    limits: Required<RelayLimits>,
  ) {
    this.limits = limits
    this.total = new Bucket(limits.totalBytesPerSecond, driver.now())
  }

  start(): void {
    this.timer = setInterval(() => this.expire(), Math.min(10_000, this.limits.channelIdleTimeout / 2, this.limits.channelPendingTimeout / 2))
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    this.members.clear()
    this.channels.clear()
    this.bySession.clear()
  }

  /** A control message on a session with this relay; true when it was one (not delivered). */
  onMessage(session: STTSession, streamId: number, data: Uint8Array): boolean {
    if (streamId !== RENDEZVOUS_STREAM_ID) return false
    if (isUnpaddedRequest(data)) {
      // The padding is what pays for the punches a REGISTER or CONNECT causes (§8.5).
      this.drop('control-unpadded')
      return true
    }
    const m = decodeControl(data)
    if (!m) {
      this.drop('control-malformed')
      return true
    }
    const from = this.bySession.get(session)
    switch (m.type) {
      case ControlType.REGISTER:
        this.register(session, m.candidates)
        return true
      case ControlType.CONNECT:
        this.connect(from, session, m.requestId, m.target)
        return true
      case ControlType.CHANNEL_CLOSE: {
        const ch = this.channels.get(channelHex(m.channel))
        // Only a member of the channel may close it (it could stop sending anyway).
        if (!ch || !from || (ch.a !== from && ch.b !== from)) this.drop('control-unexpected')
        else this.closeChannel(ch.key, from)
        return true
      }
      case ControlType.PING: {
        const reflexive = this.reflexive(session)
        if (reflexive) this.send(session, { type: ControlType.PONG, seq: m.seq, reflexive })
        return true
      }
      default:
        this.drop('control-unexpected')
        return true
    }
  }

  private reflexive(session: STTSession): Candidate | null {
    return candidateOf(sessionInternals.core(session).address, CandidateKind.REFLEXIVE)
  }

  private register(session: STTSession, candidates: Candidate[]): void {
    const id = session.peerNodeId.toString('hex')
    const old = this.members.get(id)
    if (old && old.session !== session) this.unregister(old)
    let m = this.bySession.get(session)
    if (!m) {
      m = { id, session, candidates: [], channels: new Set() }
      this.members.set(id, m)
      this.bySession.set(session, m)
      session.once('close', () => this.unregister(m!))
    }
    // Host candidates only: the reflexive one is what we observe, never what a member claims.
    m.candidates = candidates.filter((c) => c.kind === CandidateKind.HOST).slice(0, 6)
    this.counters.registrations++
    const reflexive = this.reflexive(session)
    if (reflexive) this.send(session, { type: ControlType.REGISTERED, reflexive })
  }

  private unregister(m: Member): void {
    if (this.members.get(m.id) === m) this.members.delete(m.id)
    this.bySession.delete(m.session)
    for (const key of m.channels) this.closeChannel(key, m)
  }

  private closeChannel(key: string, by: Member | null): void {
    const ch = this.channels.get(key)
    if (!ch) return
    this.channels.delete(key)
    ch.a.channels.delete(key)
    ch.b.channels.delete(key)
    for (const m of [ch.a, ch.b]) if (m !== by && !m.session.closed) this.send(m.session, { type: ControlType.CHANNEL_CLOSED, channel: ch.id })
  }

  /** Channels counted against `m`: those it dialled, and those it was called on and answered. */
  private counted(m: Member): number {
    let n = 0
    for (const key of m.channels) {
      const ch = this.channels.get(key)
      if (ch && (ch.a === m || ch.answered)) n++
    }
    return n
  }

  private refuse(session: STTSession, requestId: number, reason: RefusalReason, name: string): void {
    this.counters.refused[name] = (this.counters.refused[name] ?? 0) + 1
    this.send(session, { type: ControlType.REFUSED, requestId, reason })
  }

  private connect(from: Member | undefined, session: STTSession, requestId: number, target: Uint8Array): void {
    if (!from) return this.refuse(session, requestId, RefusalReason.NOT_REGISTERED, 'not-registered')
    const to = this.members.get(Buffer.from(target).toString('hex'))
    if (!to) return this.refuse(session, requestId, RefusalReason.UNKNOWN_PEER, 'unknown-peer')
    if (to === from) return this.refuse(session, requestId, RefusalReason.SELF, 'self')
    if (this.channels.size >= this.limits.maxSessions) return this.refuse(session, requestId, RefusalReason.TOTAL_LIMIT, 'total-limit')
    if (this.counted(from) >= this.limits.maxSessionsPerMember) return this.refuse(session, requestId, RefusalReason.MEMBER_LIMIT, 'member-limit')
    if (this.counted(to) >= this.limits.maxSessionsPerMember) return this.refuse(session, requestId, RefusalReason.PEER_LIMIT, 'peer-limit')
    let pending = 0
    for (const key of from.channels) {
      const ch = this.channels.get(key)
      if (ch && ch.a === from && ch.b === to && !ch.answered) pending++
    }
    if (pending >= MAX_PENDING_PER_PAIR) return this.refuse(session, requestId, RefusalReason.PENDING_LIMIT, 'pending-limit')
    const id = new Uint8Array(randomBytes(8))
    const key = channelHex(id)
    const now = this.driver.now()
    this.channels.set(key, { key, id, a: from, b: to, answered: false, bucket: new Bucket(this.limits.bytesPerSecond, now), createdAt: now, lastA: now, lastB: now, packets: 0, bytes: 0 })
    from.channels.add(key)
    to.channels.add(key)
    this.counters.introductions++
    // `m`'s candidates as `other` may punch them: nothing a punch would reflect at a victim
    // (loopback only between members that both reach us over loopback, §8.5).
    const cands = (m: Member, other: Member) => {
      // A member reached over WebSocket has a TCP reflexive address: no UDP punch can use its port.
      const r = sessionInternals.core(m.session).address.kind === 'udp' ? this.reflexive(m.session) : null
      const all = r ? [r, ...m.candidates] : m.candidates
      const ok = punchableCandidates(all, this.reflexive(other.session)?.host ?? '')
      this.counters.candidatesFiltered += all.length - ok.length
      return ok
    }
    // The target first: its INTRODUCE is on its way before the dialler's HELLO can be.
    this.send(to.session, { type: ControlType.INTRODUCE, channel: id, peer: from.session.peerNodeId, candidates: cands(from, to) })
    this.send(from.session, { type: ControlType.CONNECT_OK, requestId, channel: id, candidates: cands(to, from) })
  }

  private send(session: STTSession, m: ControlMessage): void {
    if (session.closed) return
    session.send(encodeControl(m), { streamId: RENDEZVOUS_STREAM_ID }).catch(() => {})
  }

  /**
   * Forwards relay envelopes: from one member of the channel, at the address of its
   * authenticated session with us, to the other member's session address; everything else is
   * dropped and counted. Returns what is left for the endpoint.
   */
  receive(batch: RxBatch): RxBatch | null {
    let now = -1 // read once per batch, and only for a batch that holds an envelope
    return mapEnvelopes(batch, (slab, off, len, src) => {
      if (now < 0) now = this.driver.now()
      this.forward(slab, off, len, src, now)
      return null
    })
  }

  private forward(slab: Uint8Array, off: number, len: number, src: PeerAddress, now: number): void {
    const ch = this.channels.get(relayChannelKey(slab, off))
    if (!ch) return this.drop('relay-unknown-channel')
    const aAddr = sessionInternals.core(ch.a.session).address
    const bAddr = sessionInternals.core(ch.b.session).address
    // Only from a member's validated session address, and only to the other's: the relay
    // sends each address at most what the other member sent (1x), never to an unvalidated one.
    const to = src.key === aAddr.key ? bAddr : src.key === bAddr.key ? aAddr : null
    if (!to) return this.drop('relay-wrong-source')
    const t = this.driver.router.transportOf(to)
    if (!t) return this.drop('relay-no-transport')
    const fromB = to === aAddr
    if (fromB && !ch.answered) {
      // The target takes the call: only now does the channel count against it.
      if (this.counted(ch.b) >= this.limits.maxSessionsPerMember) {
        this.drop('relay-peer-limit')
        return this.closeChannel(ch.key, null)
      }
      ch.answered = true
    }
    const refused = admit(ch.bucket, this.total, len, now)
    if (refused) return this.drop(refused)
    if (fromB) ch.lastB = now
    else ch.lastA = now
    ch.packets++
    ch.bytes += len
    this.counters.packetsForwarded++
    this.counters.bytesForwarded += len
    this.one.offsets[0] = off
    this.one.lengths[0] = len
    t.send({ slab, offsets: this.one.offsets, lengths: this.one.lengths, count: 1, to })
  }

  private expire(): void {
    const now = this.driver.now()
    for (const ch of [...this.channels.values()]) {
      const expired = ch.answered ? now - Math.min(ch.lastA, ch.lastB) > this.limits.channelIdleTimeout : now - ch.createdAt > this.limits.channelPendingTimeout
      if (!expired) continue
      this.counters.channelsExpired++
      this.closeChannel(ch.key, null)
    }
  }

  private drop(reason: string): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1
  }

  stats() {
    return {
      role: 'relay' as const,
      members: this.members.size,
      channels: this.channels.size,
      ...this.counters,
      refused: { ...this.counters.refused },
      dropped: { ...this.counters.dropped },
      limits: { ...this.limits },
    }
  }
}
