/**
 * The full handshakes this endpoint started as initiator (connect without a token; with one it
 * is resume-endpoint.ts): HELLO and AUTH_PROOF sent and retransmitted with backoff until the
 * deadline, CHALLENGE (or RETRY), the FINAL that builds the session, handshake ERRORs, and the
 * 'connected' / 'connect-failed' outcome. The endpoint demultiplexes datagrams and owns the
 * session map; this owns the pending connects, by session-map slot and by handle.
 */
import type { AeadBackend } from '../crypto/aead.js'
import type { ProtocolConfig } from '../config.js'
import { ErrorCode, STTConfigError, STTHandshakeError, STTSessionError, STTTransportError, WireError, type STTError } from '../errors.js'
import type { PeerAddress } from '../net-types.js'
import { PROTOCOL_VERSION } from './constants.js'
import type { CoreEventSink } from './core-events.js'
import type { ConnectOptions, EndpointCounters } from './endpoint-types.js'
import { InitiatorHandshake } from './handshake.js'
import { openFinal } from './handshake-final.js'
import { sessionIdEquals, sessionKeyAt } from './header.js'
import type { GroupKeys, NodeIdentity } from './identity.js'
import type { SessionParams } from './params.js'
import { Session, type SessionLink } from './session.js'

interface PendingConnect {
  handle: number
  hs: InitiatorHandshake
  address: PeerAddress
  deadline: number
  timeout: number
  nextSend: number
  backoff: number
  peerNodeId?: Uint8Array
  bare: boolean
  congestionControl?: 'bbr' | 'cubic' | 'newreno'
  resume: { resumable?: boolean; resumeTimeout?: number }
  session: Session | null
  /** AUTH_FAILED answers seen (one may be a corrupted HELLO). */
  authFailures: number
}

// 1 s: under 30 % loss a handshake needs several tries of each round; 2 s left ~0.5 % of them
// timing out within 10 s in the simulator (test/sim/transfer.test.ts).
const MAX_HANDSHAKE_BACKOFF_MS = 1000

/** What the endpoint lends this: its configuration, collections and operations (not copies). */
export interface ConnectHost {
  readonly config: ProtocolConfig
  readonly aead: AeadBackend
  readonly events: CoreEventSink
  readonly counters: EndpointCounters
  readonly random: (n: number) => Uint8Array
  wall(now: number): number
  send(to: PeerAddress, data: Uint8Array): void
  drop(reason: string, from: PeerAddress): void
  localParams(bare: boolean, addr: PeerAddress): SessionParams
  /** Puts a new session in the session map and the deadline heap (FINAL authenticated). */
  adopt(s: Session): void
  /** Forgets a session (its handshake abandoned). */
  remove(s: Session): void
  /** A session's deadline moved (AUTH_PROOF retransmitted). */
  touch(s: Session): void
  /** The endpoint's link (event queue, scheduling), handed to every session it builds. */
  readonly link: SessionLink
}

export class PendingConnects {
  // Long-term secrets in true private fields, as in the endpoint.
  readonly #group: GroupKeys
  readonly #identity: NodeIdentity
  /** By session-map slot of the handshake's session id (sessionKeyAt(id, -3)). */
  private readonly pending = new Map<number, PendingConnect>()
  private readonly byHandle = new Map<number, PendingConnect>()

  constructor(
    private readonly host: ConnectHost,
    group: GroupKeys,
    identity: NodeIdentity,
  ) {
    this.#group = group
    this.#identity = identity
  }

  /** True when a pending connect holds the session-map slot `key`. */
  holds(key: number): boolean {
    return this.pending.has(key)
  }

  /** Starts a full handshake with `address` under `handle`; the outcome arrives as an event. */
  connect(now: number, address: PeerAddress, opts: ConnectOptions, handle: number, bare: boolean): number {
    const { config } = this.host
    const hs = new InitiatorHandshake(
      { group: this.#group, identity: this.#identity },
      { name: config.name, params: this.host.localParams(bare, address) },
      config.ciphers,
      this.host.random,
      opts.versionOverride,
    )
    const p: PendingConnect = {
      handle,
      hs,
      address,
      deadline: now + (opts.timeout ?? config.handshakeTimeout),
      timeout: opts.timeout ?? config.handshakeTimeout,
      nextSend: now,
      backoff: config.handshakeRetryInitial,
      peerNodeId: opts.peerNodeId,
      bare,
      congestionControl: opts.congestionControl,
      resume: { resumable: opts.resumable, resumeTimeout: opts.resumeTimeout },
      session: null,
      authFailures: 0,
    }
    this.pending.set(sessionKeyAt(hs.sessionId, -3), p)
    this.byHandle.set(p.handle, p)
    this.host.counters.handshakesInitiated++
    this.sendHandshake(now, p)
    return p.handle
  }

  /** Abandons a pending connect (AbortSignal); no event follows. */
  cancel(handle: number): void {
    const p = this.byHandle.get(handle)
    if (p) this.remove(p)
  }

  private remove(p: PendingConnect): void {
    this.pending.delete(sessionKeyAt(p.hs.sessionId, -3))
    this.byHandle.delete(p.handle)
    if (p.session && p.session.state === 'handshaking') {
      p.session.finish(WireError.CONNECTION_TIMEOUT, 'handshake abandoned', false)
      this.host.remove(p.session)
    }
  }

  private fail(p: PendingConnect, error: STTError): void {
    this.remove(p)
    this.host.counters.handshakesFailed++
    this.host.events.push({ kind: 'connect-failed', session: null, handle: p.handle, error })
  }

  private sendHandshake(now: number, p: PendingConnect): void {
    const data = p.hs.proof ?? p.hs.createHello(this.host.wall(now))
    this.host.send(p.address, data)
    p.nextSend = now + p.backoff
    p.backoff = Math.min(p.backoff * 2, MAX_HANDSHAKE_BACKOFF_MS)
  }

  onChallenge(now: number, pkt: Uint8Array, flags: number, from: PeerAddress): void {
    const p = this.pending.get(sessionKeyAt(pkt, 0))
    if (!p || !sessionIdEquals(pkt, 0, p.hs.sessionId)) return this.host.drop('unknown-handshake', from)
    const out = p.hs.consumeChallenge(pkt, flags)
    if (out.kind === 'drop') return this.host.drop(`challenge-${out.reason}`, from)
    if (out.kind === 'retry') {
      p.backoff = this.host.config.handshakeRetryInitial
      this.sendHandshake(now, p)
      return
    }
    const r = out.responder
    if (p.peerNodeId && !Buffer.from(p.peerNodeId).equals(Buffer.from(r.peerNodeId))) {
      return this.fail(p, new STTHandshakeError(ErrorCode.PEER_MISMATCH, `peer at ${p.address} has node id ${Buffer.from(r.peerNodeId).toString('hex', 0, 8)}…, expected ${Buffer.from(p.peerNodeId).toString('hex', 0, 8)}…`))
    }
    // The traffic keys wait for FINAL's random (§3.6): AUTH_PROOF is retransmitted until then.
    p.backoff = this.host.config.handshakeRetryInitial
    this.sendHandshake(now, p)
  }

  /**
   * A FINAL for a handshake that sent AUTH_PROOF. Its trailing random completes the key
   * schedule; the packet must authenticate under the resulting r2i key before a session is
   * built (a forged FINAL costs an HKDF and one AEAD open, then is dropped).
   */
  onFinal(now: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, i: number, from: PeerAddress[]): void {
    const host = this.host
    const off = offsets[i]!
    const len = lengths[i]!
    const p = this.pending.get(sessionKeyAt(slab, off))
    if (!p || !sessionIdEquals(slab, off, p.hs.sessionId) || !p.hs.proof || p.session) return host.drop('unknown-session', from[i]!)
    const result = openFinal(host.aead, p.hs, slab.subarray(off, off + len))
    if (!result) return host.drop('final-auth', from[i]!)
    const session = new Session(
      { result, isInitiator: true, config: host.config, aead: host.aead, address: p.address, localParams: host.localParams(p.bare, p.address), now, random: host.random, congestionControl: p.congestionControl, ...p.resume },
      host.link,
    )
    p.session = session
    host.adopt(session)
    session.handlePackets(now, slab, offsets, lengths, i, 1, from)
  }

  onHandshakeError(now: number, pkt: Uint8Array, from: PeerAddress): void {
    const p = this.pending.get(sessionKeyAt(pkt, 0))
    if (!p || !sessionIdEquals(pkt, 0, p.hs.sessionId)) return this.host.drop('unknown-handshake', from)
    const out = p.hs.consumeError(pkt)
    if (out.kind === 'drop') return this.host.drop(`error-${out.reason}`, from)
    switch (out.code) {
      case WireError.PROTOCOL_VERSION_MISMATCH:
        return this.fail(p, new STTHandshakeError(ErrorCode.VERSION_MISMATCH, `peer at ${p.address} speaks STT protocol version(s) ${out.versions.join(', ') || 'unknown'}; we speak ${PROTOCOL_VERSION}`, { wireCode: out.code }))
      case WireError.AUTHENTICATION_FAILED:
        // Unauthenticated, and a HELLO corrupted in flight earns one too: believe it only when
        // a fresh HELLO is rejected again (a wrong seed still fails within two round trips).
        if (++p.authFailures < 2 && !p.hs.proof) {
          p.backoff = this.host.config.handshakeRetryInitial
          this.sendHandshake(now, p)
          return
        }
        return this.fail(p, new STTHandshakeError(ErrorCode.AUTH_FAILED, `peer at ${p.address} rejected our handshake: the shared seed does not match`, { wireCode: out.code }))
      case WireError.TOO_MANY_SESSIONS:
        return this.fail(p, new STTHandshakeError(ErrorCode.TOO_MANY_SESSIONS, `peer at ${p.address} has no room for another session`, { wireCode: out.code }))
      case WireError.HANDSHAKE_FAILURE:
        return this.fail(p, new STTConfigError(`peer at ${p.address} supports none of our cipher suites (${this.host.config.ciphers.join(', ')})`, { wireCode: out.code }))
      default:
        return this.fail(p, new STTHandshakeError(ErrorCode.AUTH_FAILED, `peer at ${p.address} refused the handshake (code 0x${out.code.toString(16)})`, { wireCode: out.code }))
    }
  }

  /** A session of a pending connect is established: its handle (the connect is done), or null when it is not ours. */
  established(s: Session): number | null {
    const p = this.pending.get(s.key)
    if (!p || p.session !== s) return null
    this.pending.delete(s.key)
    this.byHandle.delete(p.handle)
    this.host.counters.handshakesCompleted++
    return p.handle
  }

  /** Deadlines: connects out of time fail, the others retransmit when due. */
  handleTimeout(now: number): void {
    for (const p of [...this.pending.values()]) {
      if (now >= p.deadline) {
        this.fail(
          p,
          new STTHandshakeError(
            ErrorCode.HANDSHAKE_TIMEOUT,
            `no handshake answer from ${p.address} within ${p.timeout} ms: the peer is unreachable, the path drops UDP, or the peer does not share our seed and runs in stealth mode`,
          ),
        )
      } else if (now >= p.nextSend) {
        this.sendHandshake(now, p)
        if (p.session) {
          p.session.handshakeDeadline = p.nextSend
          this.host.touch(p.session)
        }
      }
    }
  }

  /** The earliest deadline or retransmission of a pending connect (Infinity: none). */
  deadline(): number {
    let t = Infinity
    // Asked after every service pass: no iterator for the usual empty map (issue 13).
    if (this.pending.size > 0) for (const p of this.pending.values()) t = Math.min(t, p.deadline, p.nextSend)
    return t
  }

  /** A connection-oriented transport lost the connection to `addr`: connects to it fail. */
  onPeerClosed(addr: PeerAddress, reason: string): void {
    for (const p of [...this.pending.values()]) {
      if (p.address.key === addr.key) this.fail(p, new STTTransportError(ErrorCode.WEBSOCKET_CLOSED, `connection to ${addr} closed during the handshake: ${reason}`))
    }
  }

  /** The node stops: every pending connect fails. */
  failAll(reason: string): void {
    for (const p of [...this.pending.values()]) this.fail(p, new STTSessionError(ErrorCode.SESSION_CLOSED, `node stopping: ${reason}`))
  }
}
