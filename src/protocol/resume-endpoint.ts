/**
 * Resumption tickets and the abbreviated handshake inside the endpoint (issue 12, part 2;
 * PROTOCOL.md §8). The endpoint owns sessions and sockets-free I/O; this owns what resumption
 * adds to it:
 *
 *   responder: ticket keys, the single-use store, a NEW_TICKET for every session (again every
 *              resumeTimeout / 2, so a live session always holds a valid one), RESUME handling;
 *   initiator: connects with a token (RESUME, retransmitted like HELLO), RESUME_ACCEPT, and the
 *              fallback to a full handshake (or STT_RESUME_REJECTED with requireResume).
 */
import type { ProtocolConfig } from '../config.js'
import { ErrorCode, STTHandshakeError, WireError, type STTError } from '../errors.js'
import type { PeerAddress } from '../net-types.js'
import { AcceptedHandshakes } from './handshake-replay.js'
import { createHandshakeError, mac16, parseHandshakeError, type HandshakePayload, type HandshakeResult } from './handshake.js'
import { sessionKeyAt } from './header.js'
import type { GroupKeys } from './identity.js'
import { consumeResume, InitiatorResume, parseResume } from './resume-handshake.js'
import type { Session } from './session.js'
import { TicketKeys } from './ticket-keys.js'
import { decodeToken, encodeToken, sealTicket, ticketIdOf, TICKET_ID_SIZE, tokenWrapKey } from './tickets.js'
import { constantTimeEqual } from '../crypto/handshake-crypto.js'

export interface ResumeConnect {
  resume: Uint8Array
  requireResume?: boolean
  timeout?: number
}

/** What the endpoint lends this (its private parts, as closures). */
export interface ResumeHost {
  readonly config: ProtocolConfig
  readonly group: GroupKeys
  readonly nodeId: Uint8Array
  random(n: number): Uint8Array
  wall(now: number): number
  send(to: PeerAddress, data: Uint8Array): void
  drop(reason: string, from: PeerAddress): void
  seenNonce(nonce: Uint8Array, now: number): boolean
  payload(bare: boolean, addr: PeerAddress): HandshakePayload
  /** Builds, registers and schedules a session from a handshake result. */
  createSession(result: HandshakeResult, isInitiator: boolean, addr: PeerAddress, now: number, bare: boolean): Session
  /** Ends and forgets an existing session (it is being replaced by its resumption). */
  replace(s: Session, now: number): void
  sessionCount(): number
  accepted(s: Session): void
  connected(handle: number, s: Session): void
  failed(handle: number, err: STTError): void
  /** Full handshake under the same connect handle (fallback). */
  connectFull(now: number, addr: PeerAddress, handle: number): void
}

interface PendingResume {
  handle: number
  init: InitiatorResume
  address: PeerAddress
  deadline: number
  nextSend: number
  backoff: number
  require: boolean
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
    nodeSeed: Uint8Array,
  ) {
    this.#wrapKey = tokenWrapKey(nodeSeed)
    this.ticketKeys = new TicketKeys((n) => host.random(n), host.config.resumeTimeout)
  }

  // ------------------------------------------------------------------ responder

  /** A NEW_TICKET for `s`, and another before this one expires. */
  issue(s: Session, now: number): void {
    if (s.isInitiator) return
    const lifetime = this.ticketKeys.lifetime
    const wall = Math.floor(this.host.wall(now))
    const ticket = sealTicket(this.ticketKeys.sealing(now), (id) => s.ticketSecret(id), { suite: s.suite as 'aes-256-gcm', sessionId: s.id, initiatorNodeId: s.peerNodeId, issued: wall, expires: wall + lifetime }, (n) => this.host.random(n))
    s.queueTicket(ticket, wall + lifetime)
    this.counters.issued++
    // Same lifetime for every ticket: due times only grow, so a FIFO is a heap here.
    this.reissue.push({ s: new WeakRef(s), at: now + lifetime / 2 })
  }

  onResume(now: number, pkt: Uint8Array, from: PeerAddress): void {
    const h = this.host
    const parsed = parseResume(pkt, h.group.helloMacKey)
    if (parsed === 'bad-mac') return h.drop('resume-bad-mac', from)
    if (parsed === 'malformed') return h.drop('resume-malformed', from)
    if (Math.abs(h.wall(now) - parsed.timestamp) > h.config.helloMaxSkew) return h.drop('stale-resume', from)
    if (h.seenNonce(parsed.nonce, now)) return h.drop('replayed-hello', from)
    const current = this.sessionOf(parsed.sessionId)
    // RESUME_ACCEPT was lost and the initiator repeats RESUME: answer it again, derive nothing.
    if (current?.resumed && constantTimeEqual(current.resumed.ePub, parsed.ePub)) {
      h.send(from, current.resumed.accept)
      return
    }
    const bare = false
    const out = consumeResume(h.group, this.ticketKeys, this.used, parsed, h.payload(bare, from), now, h.wall(now), (n) => h.random(n))
    if (out.kind === 'reject') {
      this.counters.rejected++
      h.drop(`resume-${out.reason}`, from)
      h.send(from, createHandshakeError(parsed.sessionId, parsed.nonce, WireError.RESUME_REJECTED, h.group.helloMacKey))
      return
    }
    if (out.result.peer.params.bareMode && !from.reliable) return h.drop('bad-params', from)
    // The initiator proved the ticket's secret: it is the session's peer (e.g. restarted), so
    // what is left of the old session (suspended, or never told) gives way.
    if (current) h.replace(current, now)
    else if (h.sessionCount() >= h.config.maxSessions) return h.drop('too-many-sessions', from)
    const s = h.createSession(out.result, false, from, now, out.result.peer.params.bareMode)
    s.resumed = { ePub: parsed.ePub.slice(), accept: out.accept }
    this.counters.resumed++
    h.send(from, out.accept)
    h.accepted(s)
    this.issue(s, now)
  }

  private sessionOf(id: Uint8Array): Session | undefined {
    return this.lookup(id)
  }

  /** Set by the endpoint: finds a live session by id. */
  lookup: (id: Uint8Array) => Session | undefined = () => undefined

  // ------------------------------------------------------------------ initiator

  /** A connect with a token; the outcome comes through host.connected / failed / connectFull. */
  connect(now: number, address: PeerAddress, opts: ResumeConnect, handle: number, bare: boolean): void {
    const h = this.host
    const token = decodeToken(this.#wrapKey, opts.resume)
    const reject = (why: string) => {
      if (opts.requireResume) h.failed(handle, new STTHandshakeError(ErrorCode.RESUME_REJECTED, `resumption token refused: ${why}`))
      else h.connectFull(now, address, handle)
    }
    if (token === 'malformed') return reject('not a resumption token of this library')
    if (token === 'other-node') return reject('it was issued to another node identity (nodeSeed)')
    if (h.wall(now) >= token.expires) return reject('it expired')
    if (this.lookup(token.sessionId)) return reject('its session is still open on this node')
    const init = new InitiatorResume(h.group, h.nodeId, token, h.payload(bare, address), (n) => h.random(n))
    token.secret.fill(0)
    const timeout = opts.timeout ?? h.config.handshakeTimeout
    const p: PendingResume = { handle, init, address, deadline: now + timeout, nextSend: now, backoff: h.config.handshakeRetryInitial, require: opts.requireResume === true, bare, session: null }
    this.pending.set(sessionKeyAt(init.sessionId, -3), p)
    this.send(now, p)
  }

  private send(now: number, p: PendingResume): void {
    this.host.send(p.address, p.init.createResume(this.host.wall(now)))
    p.nextSend = now + p.backoff
    p.backoff = Math.min(p.backoff * 2, 1000)
  }

  /** RESUME_ACCEPT: the session exists from here; FINAL (sent with it) confirms it. */
  onAccept(now: number, pkt: Uint8Array, from: PeerAddress): void {
    const p = this.pending.get(sessionKeyAt(pkt, 0))
    if (!p || p.session) return this.host.drop('unknown-handshake', from)
    const out = p.init.consumeAccept(pkt)
    if (out.kind === 'drop') return this.host.drop(`resume-accept-${out.reason}`, from)
    p.session = this.host.createSession(out.result, true, p.address, now, p.bare)
  }

  /** A keyed RESUME_REJECTED for one of our RESUMEs: fall back (or fail). True when it was ours. */
  onError(now: number, pkt: Uint8Array): boolean {
    const p = this.pending.get(sessionKeyAt(pkt, 0))
    if (!p) return false
    const e = parseHandshakeError(pkt)
    if (!e || e.macOffset < 0 || !p.init.knowsNonce(e.echo)) return false
    if (!constantTimeEqual(mac16(this.host.group.helloMacKey, pkt.subarray(0, e.macOffset)), pkt.subarray(e.macOffset))) return false
    if (e.code !== WireError.RESUME_REJECTED) return false
    this.forget(p)
    if (p.require) this.host.failed(p.handle, new STTHandshakeError(ErrorCode.RESUME_REJECTED, `peer at ${p.address} refused the resumption token (expired, unknown, already used, or another node's)`))
    else this.host.connectFull(now, p.address, p.handle)
    return true
  }

  /** Session `s` heard its first packet: the connect it belongs to, if it is a resumption. */
  established(s: Session): number | null {
    const p = this.pending.get(s.key)
    if (!p || p.session !== s) return null
    this.forget(p)
    return p.handle
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
      this.host.failed(p.handle, err)
    }
  }

  private forget(p: PendingResume): void {
    this.pending.delete(sessionKeyAt(p.init.sessionId, -3))
  }

  /** The token the application stores, for a NEW_TICKET that session `s` received. */
  tokenFor(s: Session, ticket: Uint8Array, expires: number): Uint8Array | null {
    if (ticket.length < 4 + TICKET_ID_SIZE) return null
    const secret = s.ticketSecret(ticketIdOf(ticket))
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
        this.host.failed(p.handle, new STTHandshakeError(ErrorCode.HANDSHAKE_TIMEOUT, `no answer to the resumption from ${p.address} within the handshake timeout`))
      } else if (now >= p.nextSend && !p.session) {
        this.send(now, p)
      }
    }
  }

  deadline(): number {
    let t = Math.min(this.ticketKeys.deadline(), this.reissue[0]?.at ?? Infinity)
    for (const p of this.pending.values()) t = Math.min(t, p.deadline, p.session ? Infinity : p.nextSend)
    return t
  }
}
