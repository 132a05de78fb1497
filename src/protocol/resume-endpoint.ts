/**
 * Resumption tickets and the abbreviated handshake inside the endpoint (issue 12, part 2;
 * PROTOCOL.md §9). The endpoint owns sessions and sockets-free I/O; this owns what resumption
 * adds to it:
 *
 *   responder: ticket keys, the single-use store, a NEW_TICKET for every session (again every
 *              resumeTimeout / 2, so a live session always holds a valid one), RESUME handling;
 *   initiator: connects with a token (RESUME, retransmitted like HELLO), RESUME_ACCEPT, and the
 *              fallback to a full handshake when the token is refused or RESUME gets no answer
 *              within half the timeout (or STT_RESUME_REJECTED / STT_HANDSHAKE_TIMEOUT with
 *              requireResume).
 *
 * The responder's order of checks, and why, is PROTOCOL.md §9.4 (review 12 changed it).
 */
import type { ProtocolConfig } from '../config.js'
import { ErrorCode, STTHandshakeError, WireError, type STTError } from '../errors.js'
import type { PeerAddress } from '../net-types.js'
import { AcceptedHandshakes } from './handshake-replay.js'
import { createHandshakeError, mac16, parseHandshakeError, type HandshakePayload } from './handshake.js'
import { sessionIdEquals, sessionKeyAt } from './header.js'
import { PacketType } from './constants.js'
import type { CoreEvent, CoreEventSink } from './core-events.js'
import type { ConnectOptions, EndpointCounters } from './endpoint-types.js'
import type { GroupKeys } from './identity.js'
import { consumeResume, InitiatorResume, parseResume, type ParsedResume } from './resume-handshake.js'
import type { Session, SessionInit } from './session.js'
import { ResumeBinding } from './session-resumption.js'
import { TicketKeys } from './ticket-keys.js'
import { decodeToken, encodeToken, MAX_GENERATION, sealTicket, ticketIdOf, TICKET_ID_SIZE, tokenWrapKey } from './tickets.js'
import { constantTimeEqual } from '../crypto/handshake-crypto.js'

/** What the endpoint lends this: its configuration, keys and collections (not copies). */
export interface ResumeHost {
  readonly config: ProtocolConfig
  readonly group: GroupKeys
  readonly nodeId: Uint8Array
  readonly sessions: Map<number, Session>
  readonly events: CoreEventSink
  readonly counters: EndpointCounters
  random(n: number): Uint8Array
  wall(now: number): number
  send(to: PeerAddress, data: Uint8Array): void
  drop(reason: string, from: PeerAddress): void
}

/** Endpoint operations resumption needs. */
export interface ResumeHooks {
  /** Puts a RESUME's nonce in the RESUME nonce cache (kept as HELLO's are): a drop reason, or null when it is new. */
  rememberNonce(nonce: Uint8Array, from: PeerAddress, now: number): string | null
  payload(bare: boolean, addr: PeerAddress): HandshakePayload
  /** Forgets a session (ended, or replaced by its resumption). */
  remove(s: Session): void
  /** Full handshake under the same connect handle (fallback). */
  connectFull(now: number, addr: PeerAddress, opts: ConnectOptions, handle: number): void
  /** True when a full handshake of this endpoint (initiator) holds the session-map slot `key`. */
  handshaking(key: number): boolean
}

/** Builds, registers and schedules a session (the endpoint fills in config, keys, params). */
export type NewSession = (init: Omit<SessionInit, 'config' | 'aead' | 'random' | 'localParams'>, bare: boolean) => Session

interface PendingResume {
  handle: number
  init: InitiatorResume
  address: PeerAddress
  deadline: number
  /** No answer at all by then: a full handshake for the rest of the timeout (Infinity with requireResume). */
  fallbackAt: number
  nextSend: number
  backoff: number
  /** The connect's options: for its session, and for the full handshake it may fall back to. */
  opts: ConnectOptions
  bare: boolean
  session: Session | null
}

export class ResumptionManager {
  readonly #wrapKey: Uint8Array
  readonly ticketKeys: TicketKeys
  readonly used = new AcceptedHandshakes()
  /** Sessions held weakly: a closed session must not live on for resumeTimeout / 2. */
  private readonly reissue: Array<{ s: WeakRef<Session>; at: number }> = []
  private readonly pending = new Map<number, PendingResume>()
  counters = { issued: 0, resumed: 0, rejected: 0 }

  constructor(
    private readonly host: ResumeHost,
    private readonly hooks: ResumeHooks,
    private readonly newSession: NewSession,
    nodeSeed: Uint8Array,
  ) {
    this.#wrapKey = tokenWrapKey(nodeSeed, host.group.psk)
    this.ticketKeys = new TicketKeys((n) => host.random(n), host.config.resumeTimeout)
  }

  // ------------------------------------------------------------------ responder

  /** A NEW_TICKET for `s`, and another before this one expires. */
  issue(s: Session, now: number): void {
    // A session at the last generation issues no ticket (its successor's would wrap to 0).
    if (s.isInitiator || s.resumption.generation >= MAX_GENERATION) return
    const lifetime = this.ticketKeys.lifetime
    const wall = Math.floor(this.host.wall(now))
    const generation = s.resumption.generation
    const ticket = sealTicket(this.ticketKeys.sealing(now), (id) => s.resumption.ticketSecret(id), { suite: s.suite as 'aes-256-gcm', sessionId: s.id, initiatorNodeId: s.peerNodeId, issued: wall, expires: wall + lifetime, generation }, (n) => this.host.random(n))
    s.queueTicket(ticket, wall + lifetime)
    this.counters.issued++
    // Same lifetime for every ticket: due times only grow, so a FIFO is a heap here.
    this.reissue.push({ s: new WeakRef(s), at: now + lifetime / 2 })
  }

  /** RESUME (responder) or RESUME_ACCEPT (initiator). */
  onPacket(now: number, type: number, pkt: Uint8Array, from: PeerAddress, accepting: boolean): void {
    if (type === PacketType.RESUME_ACCEPT) this.onAccept(now, pkt, from)
    else if (accepting) this.onResume(now, pkt, from)
    else this.host.drop('not-accepting', from)
  }

  private onResume(now: number, pkt: Uint8Array, from: PeerAddress): void {
    const h = this.host
    const parsed = parseResume(pkt, h.group.helloMacKey)
    if (parsed === 'bad-mac') return h.drop('resume-bad-mac', from)
    if (parsed === 'malformed') return h.drop('resume-malformed', from)
    if (Math.abs(h.wall(now) - parsed.timestamp) > h.config.helloMaxSkew) return h.drop('stale-resume', from)
    // Remembered like a HELLO's nonce (per-source share included), in a cache of its own so a
    // RESUME flood cannot block full handshakes: a byte-exact replay stops here.
    const seen = this.hooks.rememberNonce(parsed.nonce, from, now)
    if (seen) return h.drop(seen, from)
    const current = this.sessionOf(parsed.sessionId)
    // Another session (or handshake) holds the map slot of this id (53 of its 64 bits): it
    // must not be overwritten (review 12, finding 1). The initiator falls back (new id).
    if (!current && (this.collides(parsed.sessionId) || this.pending.has(sessionKeyAt(parsed.sessionId, -3)))) return this.refuse(from, parsed, 'session-id-collision')
    // RESUME_ACCEPT was lost and the initiator repeats RESUME: answer it again, derive nothing,
    // and only to the address the resumption is bound to, within its budget (§9.6).
    const bound = current?.resumption.binding
    if (bound && constantTimeEqual(bound.ePub, parsed.ePub)) {
      const again = bound.repeat(from, pkt.length)
      if (again) h.send(from, again)
      else h.drop(from.key === bound.address.key ? 'resume-amplification' : 'resume-other-address', from)
      return
    }
    // No room: said before the ticket is opened, so it is not spent (finding 8); as for AUTH_PROOF.
    if (!current && h.sessions.size >= h.config.maxSessions) return this.refuse(from, parsed, 'too-many-sessions', WireError.TOO_MANY_SESSIONS)
    const bare = false
    const live = current ? current.resumption.generation : -1
    const out = consumeResume(h.group, this.ticketKeys, this.used, parsed, this.hooks.payload(bare, from), now, h.wall(now), (n) => h.random(n), live, { reliable: from.reliable, ciphers: h.config.ciphers })
    if (out.kind === 'reject') return this.refuse(from, parsed, `resume-${out.reason}`)
    // The initiator proved the ticket's secret: it is the session's peer (e.g. restarted), so
    // what is left of the old session (suspended, or never told) gives way.
    if (current) {
      current.finish(WireError.NO_ERROR, 'the peer resumed this session from a new connection', true)
      this.hooks.remove(current)
    }
    const s = this.newSession({ result: out.result, isInitiator: false, address: from, now, generation: out.ticket.generation + 1, resumed: true }, out.result.peer.params.bareMode)
    // The RESUME's source is not validated: 3x its bytes until the peer is heard from it.
    s.resumption.binding = new ResumeBinding(from, parsed.ePub.slice(), out.accept, pkt.length)
    s.resumption.onSent(from, out.accept.length)
    this.counters.resumed++
    h.send(from, out.accept)
    h.counters.handshakesAccepted++
    h.events.push({ kind: 'accepted', session: s })
    this.issue(s, now)
  }

  /** Drops a MAC-checked RESUME and answers it with a keyed ERROR (RESUME_REJECTED unless `code`). */
  private refuse(from: PeerAddress, r: ParsedResume, reason: string, code: number = WireError.RESUME_REJECTED): void {
    if (code === WireError.RESUME_REJECTED) this.counters.rejected++
    this.host.drop(reason, from)
    this.host.send(from, createHandshakeError(r.sessionId, r.nonce, code, this.host.group.helloMacKey))
  }

  private sessionOf(id: Uint8Array): Session | undefined {
    return this.lookup(id)
  }

  /** True when the map slot of `id` is held by a session with another id, or by a full handshake of ours. */
  private collides(id: Uint8Array): boolean {
    const key = sessionKeyAt(id, -3)
    const s = this.host.sessions.get(key)
    return (s !== undefined && s.state !== 'closed' && !sessionIdEquals(id, -3, s.id)) || this.hooks.handshaking(key)
  }

  /** True when a resumption of ours (initiator) holds the map slot `key` (HELLO's collision check). */
  resuming(key: number): boolean {
    return this.pending.has(key)
  }

  /** The live session with this id, if any. */
  private lookup(id: Uint8Array): Session | undefined {
    const s = this.host.sessions.get(sessionKeyAt(id, -3))
    return s && sessionIdEquals(id, -3, s.id) && s.state !== 'closed' ? s : undefined
  }

  // ------------------------------------------------------------------ initiator

  /** A connect with a token (endpoint.connect); the outcome is an endpoint event, as for a full handshake. */
  connect(now: number, address: PeerAddress, opts: ConnectOptions, handle: number, bare: boolean): number {
    const h = this.host
    h.counters.handshakesInitiated++
    const token = decodeToken(this.#wrapKey, opts.resume!)
    const fallback = { ...opts, resume: undefined }
    const reject = (why: string) => {
      if (typeof token === 'object') token.secret.fill(0)
      if (opts.requireResume) this.failed(handle, new STTHandshakeError(ErrorCode.RESUME_REJECTED, `resumption token refused: ${why}`))
      else this.hooks.connectFull(now, address, fallback, handle)
      return handle
    }
    if (token === 'malformed') return reject('not a resumption token of this library')
    if (token === 'foreign') return reject('it was issued to another node identity (nodeSeed) or in another group (sharedSeed)')
    // The application pinned its peer: a token for another one must not quietly connect there.
    if (opts.peerNodeId && !constantTimeEqual(opts.peerNodeId, token.peerNodeId)) {
      token.secret.fill(0)
      this.failed(handle, new STTHandshakeError(ErrorCode.PEER_MISMATCH, 'the resumption token is for another peer than the pinned peerNodeId'))
      return handle
    }
    if (h.wall(now) >= token.expires) return reject('it expired')
    if (!h.config.ciphers.includes(token.suite)) return reject(`its cipher suite (${token.suite}) is not among this node's ciphers`)
    if (this.lookup(token.sessionId)) return reject('its session is still open on this node')
    // Two connects with one token: the second would collide with the first (one session id);
    // it is refused at once rather than left waiting for an answer that goes to the first.
    if (this.pending.has(sessionKeyAt(token.sessionId, -3))) return reject('a resumption with it is already in progress on this node')
    if (this.collides(token.sessionId)) return reject('its session id collides with another session or handshake on this node')
    const init = new InitiatorResume(h.group, h.nodeId, token, this.hooks.payload(bare, address), (n) => h.random(n))
    token.secret.fill(0)
    const timeout = opts.timeout ?? h.config.handshakeTimeout
    // Half the timeout for an answer to RESUME (a peer that does not know RESUME drops it), the
    // rest for the full handshake it falls back to: the connect still ends within `timeout`.
    const fallbackAt = opts.requireResume ? Infinity : now + timeout / 2
    const p: PendingResume = { handle, init, address, deadline: now + timeout, fallbackAt, nextSend: now, backoff: h.config.handshakeRetryInitial, opts: fallback, bare, session: null }
    this.pending.set(sessionKeyAt(init.sessionId, -3), p)
    this.send(now, p)
    return handle
  }

  private failed(handle: number, error: STTError): void {
    this.host.counters.handshakesFailed++
    this.host.events.push({ kind: 'connect-failed', session: null, handle, error })
  }

  private send(now: number, p: PendingResume): void {
    this.host.send(p.address, p.init.createResume(this.host.wall(now)))
    p.nextSend = now + p.backoff
    p.backoff = Math.min(p.backoff * 2, 1000)
  }

  /** RESUME_ACCEPT: the session exists from here; FINAL (sent with it) confirms it. */
  private onAccept(now: number, pkt: Uint8Array, from: PeerAddress): void {
    const p = this.pending.get(sessionKeyAt(pkt, 0))
    if (!p || p.session) return this.host.drop('unknown-handshake', from)
    const out = p.init.consumeAccept(pkt)
    if (out.kind === 'drop') return this.host.drop(`resume-accept-${out.reason}`, from)
    // The slot was taken since connect (an inbound session or a full handshake): never overwrite it.
    if (this.collides(p.init.sessionId)) return this.refused(now, p, 'its session id now collides with another session on this node')
    const { congestionControl, resumable, resumeTimeout } = p.opts
    p.session = this.newSession({ result: out.result, isInitiator: true, address: p.address, now, congestionControl, resumable, resumeTimeout, resumed: true }, p.bare)
  }

  /** A keyed RESUME_REJECTED (fall back, or fail) or TOO_MANY_SESSIONS (fail) for one of our RESUMEs. True when it was ours. */
  onError(now: number, pkt: Uint8Array): boolean {
    const p = this.pending.get(sessionKeyAt(pkt, 0))
    if (!p) return false
    // RESUME_ACCEPT already made the session (its FINAL is on the way): a later ERROR, even keyed
    // (any group member can make one), must not orphan it and start a full handshake (finding 7).
    if (p.session) return true
    const e = parseHandshakeError(pkt)
    if (!e || e.macOffset < 0 || !p.init.knowsNonce(e.echo)) return false
    if (!constantTimeEqual(mac16(this.host.group.helloMacKey, pkt.subarray(0, e.macOffset)), pkt.subarray(e.macOffset))) return false
    if (e.code === WireError.TOO_MANY_SESSIONS) {
      // A full handshake would meet the same limit: no fallback.
      this.forget(p)
      this.failed(p.handle, new STTHandshakeError(ErrorCode.TOO_MANY_SESSIONS, `peer at ${p.address} has no room for another session`, { wireCode: e.code }))
      return true
    }
    if (e.code !== WireError.RESUME_REJECTED) return false
    this.refused(now, p, `peer at ${p.address} refused the resumption token (expired, unknown, already used, superseded, or another node's)`)
    return true
  }

  /** The resumption `p` cannot go on: fail it (requireResume) or fall back to a full handshake. */
  private refused(now: number, p: PendingResume, why: string): void {
    this.forget(p)
    if (p.opts.requireResume) this.failed(p.handle, new STTHandshakeError(ErrorCode.RESUME_REJECTED, why))
    // The full handshake gets what is left of the connect's timeout, as after no answer (fallbackAt).
    else this.hooks.connectFull(now, p.address, { ...p.opts, timeout: p.deadline - now }, p.handle)
  }

  /** A session's 'established' (a resumption's connect completes) or 'ticket' (a new token) event. */
  sessionEvent(s: Session, ev: Extract<CoreEvent, { kind: 'established' | 'ticket' }>): CoreEvent | null {
    if (ev.kind === 'ticket') {
      const token = this.tokenFor(s, ev.ticket, ev.expires)
      return token && { kind: 'resumption-token', session: s, token }
    }
    const p = this.pending.get(s.key)
    if (!p || p.session !== s) return null
    this.forget(p)
    this.host.counters.handshakesCompleted++
    return { kind: 'connected', session: s, handle: p.handle }
  }

  cancel(handle: number): boolean {
    for (const p of this.pending.values()) {
      if (p.handle === handle) {
        this.forget(p)
        return true
      }
    }
    return false
  }

  failAll(err: STTError): void {
    for (const p of [...this.pending.values()]) {
      this.forget(p)
      this.failed(p.handle, err)
    }
  }

  private forget(p: PendingResume): void {
    this.pending.delete(sessionKeyAt(p.init.sessionId, -3))
    p.init.wipe()
    // Abandoned after RESUME_ACCEPT, before FINAL (timeout, cancel, node stopping): as a full handshake's.
    if (p.session?.state === 'handshaking') {
      p.session.finish(WireError.CONNECTION_TIMEOUT, 'handshake abandoned', false)
      this.hooks.remove(p.session)
    }
  }

  /** The token the application stores, for a NEW_TICKET that session `s` received. */
  private tokenFor(s: Session, ticket: Uint8Array, expires: number): Uint8Array | null {
    if (ticket.length < 4 + TICKET_ID_SIZE) return null
    const secret = s.resumption.ticketSecret(ticketIdOf(ticket))
    const token = encodeToken(this.#wrapKey, { suite: s.suite as 'aes-256-gcm', expires, sessionId: s.id, peerNodeId: s.peerNodeId, secret, ticket }, (n) => this.host.random(n))
    secret.fill(0)
    return token
  }

  // ------------------------------------------------------------------ timers

  handleTimeout(now: number): void {
    this.ticketKeys.onTimeout(now)
    while (this.reissue.length > 0 && this.reissue[0]!.at <= now) {
      const s = this.reissue.shift()!.s.deref()
      if (s && (s.state === 'active' || s.state === 'suspended') && this.lookup(s.id) === s) this.issue(s, now)
    }
    for (const p of [...this.pending.values()]) {
      if (now >= p.deadline) {
        this.forget(p)
        this.failed(p.handle, new STTHandshakeError(ErrorCode.HANDSHAKE_TIMEOUT, `no answer to the resumption from ${p.address} within the handshake timeout`))
      } else if (now >= p.fallbackAt && !p.session) {
        this.forget(p)
        this.hooks.connectFull(now, p.address, { ...p.opts, timeout: p.deadline - now }, p.handle)
      } else if (now >= p.nextSend && !p.session) {
        this.send(now, p)
      }
    }
  }

  deadline(): number {
    let t = Math.min(this.ticketKeys.deadline(), this.reissue[0]?.at ?? Infinity)
    // Asked after every service pass: no iterator for the usual empty map (issue 13).
    if (this.pending.size > 0) for (const p of this.pending.values()) t = Math.min(t, p.deadline, p.session ? Infinity : Math.min(p.nextSend, p.fallbackAt))
    return t
  }
}
