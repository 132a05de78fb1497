/**
 * The abbreviated 1-RTT handshake with a resumption ticket (issue 12, part 2; PROTOCOL.md §9),
 * after TLS 1.3's psk_dhe_ke: the group PSK and the ticket's resumption secret enter the
 * chaining key first, then a fresh ephemeral X25519 exchange and a fresh responder random, so
 * the traffic keys are new for every resumption (no nonce is ever reused across the closed and
 * the resumed session) and forward secret. No static-key DH: the initiator proves the ticket
 * secret (only the holder of the node seed it was issued to can unwrap it from the token, and
 * the responder checks the node id sealed in the ticket), the responder proves it could open
 * the ticket. No 0-RTT data: application data waits for RESUME_ACCEPT.
 *
 * Ephemeral secrets are wiped once used, as the full handshake's are: the raw private bytes
 * right after the key is made, the DH output after it is mixed, the key object (native keys
 * are cleansed by OpenSSL) and the initiator's saved chaining state once RESUME_ACCEPT is in
 * or the attempt is abandoned (wipe()).
 *
 *   initiator                                            responder
 *   RESUME  e_i, nonce, timestamp, ticket,
 *           {node id, params, name} + HELLO MAC  ->  MAC, skew, nonce cache, ticket (keys, expiry,
 *                                                    session id, single use), decrypt, node id
 *           <- RESUME_ACCEPT  echo nonce, e_r, {suite, params, name}, rf
 */
import type { CipherSuite } from '../crypto/aead.js'
import { constantTimeEqual, x25519, x25519FromPrivate, type X25519KeyPair } from '../crypto/handshake-crypto.js'
import { HEADER_SIZE, HELLO_MAC_SIZE, PacketType, PROTOCOL_VERSION, SESSION_ID_SIZE } from './constants.js'
import { decodePayload, encodePayload, FINAL_RANDOM_SIZE, HELLO_NONCE_SIZE, mac16, type HandshakePayload, type HandshakeResult } from './handshake.js'
import { readU64, writeHeader, writeU64 } from './header.js'
import type { GroupKeys } from './identity.js'
import { SymmetricState } from './noise.js'
import type { TicketKeys } from './ticket-keys.js'
import { openTicket, ticketIdOf, type ResumptionToken, type TicketContents } from './tickets.js'
import { Reader } from './varint.js'

/** A key pair from fresh random bytes, the raw bytes zeroed at once. */
function ephemeral(random: (n: number) => Uint8Array): X25519KeyPair {
  const raw = random(32)
  const k = x25519FromPrivate(raw)
  raw.fill(0)
  return k
}

/** Drops a private key: a native key is freed and cleansed now, a KeyObject when collected. */
function dropKey(k: X25519KeyPair | null): void {
  const p = k?.privateKey as { destroy?: () => void } | undefined
  p?.destroy?.()
}

const PROLOGUE = new TextEncoder().encode('STT v1 resume')

/** The transcript both roles share up to the initiator's payload. */
function resumeTranscript(psk: Uint8Array, sessionId: Uint8Array, secret: Uint8Array, ticket: Uint8Array, ePub: Uint8Array): SymmetricState {
  const s = new SymmetricState()
  s.mixHash(PROLOGUE)
  s.mixHash(sessionId)
  s.mixKeyAndHashOnce(psk)
  s.mixKeyAndHash(secret)
  s.mixHash(ticket)
  s.mixHash(ePub)
  s.mixKey(ePub)
  return s
}

function finish(s: SymmetricState, rf: Uint8Array): { i2r: Uint8Array; r2i: Uint8Array; transcript: Uint8Array } {
  s.mixHash(rf)
  s.mixKey(rf)
  const split = s.split()
  return { ...split, transcript: s.h }
}

export class InitiatorResume {
  readonly sessionId: Uint8Array
  /** Null once used or abandoned (wipe). */
  private e: X25519KeyPair | null
  private readonly nonces: Uint8Array[] = []
  private attempt = 0
  /** Symmetric state after RESUME's payload (the same in every attempt: e_i is kept). */
  private readonly afterPayload: SymmetricState
  private readonly encPayload: Uint8Array

  constructor(
    private readonly group: GroupKeys,
    private readonly nodeId: Uint8Array,
    private readonly token: ResumptionToken,
    payload: HandshakePayload,
    private readonly random: (n: number) => Uint8Array,
  ) {
    this.sessionId = token.sessionId
    this.e = ephemeral(random)
    this.ePub.set(this.e.publicKey)
    const s = resumeTranscript(group.psk, token.sessionId, token.secret, token.ticket, this.e.publicKey)
    const body = encodePayload(payload)
    const plain = new Uint8Array(32 + body.length)
    plain.set(nodeId, 0)
    plain.set(body, 32)
    this.encPayload = s.encryptAndHash(plain)
    this.afterPayload = s
  }

  /** RESUME for attempt n: fresh nonce and timestamp (the replay cache), same e_i and payload. */
  createResume(wallNow: number): Uint8Array {
    const t = this.token.ticket
    const size = HEADER_SIZE + 32 + HELLO_NONCE_SIZE + 8 + 2 + t.length + 2 + this.encPayload.length + HELLO_MAC_SIZE
    const pkt = new Uint8Array(size)
    let pos = writeHeader(pkt, 0, PROTOCOL_VERSION, PacketType.RESUME, 0, this.sessionId, this.attempt++)
    pkt.set(this.ePub, pos)
    pos += 32
    const nonce = this.random(HELLO_NONCE_SIZE)
    this.nonces.push(nonce)
    pkt.set(nonce, pos)
    pos += HELLO_NONCE_SIZE
    writeU64(pkt, pos, Math.floor(wallNow))
    pos += 8
    pos = putBlock(pkt, pos, t)
    pos = putBlock(pkt, pos, this.encPayload)
    pkt.set(mac16(this.group.helloMacKey, pkt.subarray(0, pos)), pos)
    return pkt
  }

  private readonly ePub = new Uint8Array(32)

  /** True while the ephemeral private key and the saved chaining state exist (tests). */
  get holdsSecrets(): boolean {
    return this.e !== null
  }

  /** Forgets the ephemeral key and the chaining state (after RESUME_ACCEPT, or abandoned). */
  wipe(): void {
    dropKey(this.e)
    this.e = null
    this.afterPayload.ck.fill(0)
    this.afterPayload.key?.fill(0)
  }

  /** True for the nonce of a RESUME we sent (an ERROR must echo one). */
  knowsNonce(n: Uint8Array): boolean {
    return this.nonces.some((x) => constantTimeEqual(x, n))
  }

  /** RESUME_ACCEPT: the traffic secrets, or a drop reason. */
  consumeAccept(pkt: Uint8Array): { kind: 'ok'; result: HandshakeResult } | { kind: 'drop'; reason: string } {
    const r = new Reader(pkt, HEADER_SIZE, pkt.length)
    const echo = r.bytes(HELLO_NONCE_SIZE)
    const eR = r.bytes(32)
    const len = (r.u8() << 8) | r.u8()
    const encR = r.bytes(len)
    const rf = r.bytes(FINAL_RANDOM_SIZE)
    if (!r.ok || r.remaining !== 0) return { kind: 'drop', reason: 'malformed' }
    if (!this.nonces.some((n) => constantTimeEqual(n, echo))) return { kind: 'drop', reason: 'unexpected' }
    if (!this.e) return { kind: 'drop', reason: 'unexpected' }
    const s = SymmetricState.restore(this.afterPayload.ck.slice(), this.afterPayload.h, this.afterPayload.key!.slice(), this.afterPayload.counter)
    s.mixHash(eR)
    s.mixKey(eR)
    const ee = x25519(this.e.privateKey, eR)
    if (!ee) return { kind: 'drop', reason: 'bad-key' }
    s.mixKey(ee)
    ee.fill(0)
    const plain = s.decryptAndHash(encR)
    const decoded = plain && decodePayload(plain, true)
    if (!decoded || !decoded.suite) return { kind: 'drop', reason: 'auth' }
    if (decoded.suite !== this.token.suite) return { kind: 'drop', reason: 'bad-suite' }
    const keys = finish(s, rf)
    this.wipe()
    return {
      kind: 'ok',
      result: { sessionId: this.sessionId, suite: decoded.suite, ...keys, finalRandom: rf.slice(), peerNodeId: this.token.peerNodeId, peerStaticKey: new Uint8Array(0), peer: decoded.payload },
    }
  }
}

function putBlock(out: Uint8Array, pos: number, b: Uint8Array): number {
  out[pos++] = b.length >>> 8
  out[pos++] = b.length & 0xff
  out.set(b, pos)
  return pos + b.length
}

export interface ParsedResume {
  sessionId: Uint8Array
  ePub: Uint8Array
  nonce: Uint8Array
  timestamp: number
  ticket: Uint8Array
  encPayload: Uint8Array
}

/** Checks the group MAC (other groups and outsiders stop here), then parses. */
export function parseResume(pkt: Uint8Array, macKey: Uint8Array): ParsedResume | 'bad-mac' | 'malformed' {
  if (pkt.length < HEADER_SIZE + HELLO_MAC_SIZE) return 'malformed'
  const mac = mac16(macKey, pkt.subarray(0, pkt.length - HELLO_MAC_SIZE))
  if (!constantTimeEqual(mac, pkt.subarray(pkt.length - HELLO_MAC_SIZE))) return 'bad-mac'
  const r = new Reader(pkt, HEADER_SIZE, pkt.length - HELLO_MAC_SIZE)
  const ePub = r.bytes(32)
  const nonce = r.bytes(HELLO_NONCE_SIZE)
  const timestamp = readU64(pkt, r.pos)
  r.bytes(8)
  const tl = (r.u8() << 8) | r.u8()
  const ticket = r.bytes(tl)
  const pl = (r.u8() << 8) | r.u8()
  const encPayload = r.bytes(pl)
  if (!r.ok || r.remaining !== 0 || timestamp < 0) return 'malformed'
  return { sessionId: pkt.slice(3, 3 + SESSION_ID_SIZE), ePub, nonce, timestamp, ticket, encPayload }
}

/** Ticket ids already used (single use), until the ticket could no longer be opened (monotonic ms). */
export interface UsedTickets {
  has(id: Uint8Array, now: number): boolean
  /** `owner`: the initiator's node id (hex), whose share of the store is capped. */
  add(id: Uint8Array, until: number, now: number, owner?: string): boolean
  full(now: number, owner?: string): boolean
}

export type ResumeOutcome =
  | { kind: 'ok'; result: HandshakeResult; accept: Uint8Array; ticket: TicketContents }
  | { kind: 'reject'; reason: 'unknown-ticket' | 'expired' | 'bad-ticket' | 'old-generation' | 'replayed' | 'auth' | 'other-node' | 'bad-params' | 'bad-suite' | 'store-full' | 'bad-key' }

/** The responder's policy for this RESUME, checked before the ticket is marked used. */
export interface ResumePolicy {
  /** The RESUME came over a connection (bare mode may be asked for); default true. */
  reliable?: boolean
  /** The suites the responder allows now (config.ciphers); default any (review 12, finding 9). */
  ciphers?: readonly CipherSuite[]
}

/**
 * Responder: a parsed, MAC-checked RESUME (skew and nonce cache are the endpoint's). The
 * ticket is marked used only once the initiator proved its secret and nothing else refuses it
 * (`policy`), so a forged RESUME cannot burn someone's ticket and an accepted one is never
 * dropped after; a replayed one finds it used. `liveGeneration` is the generation of
 * the session with this id that is still open here (-1: none): an older ticket is refused.
 */
export function consumeResume(
  group: GroupKeys,
  ticketKeys: TicketKeys,
  used: UsedTickets,
  hello: ParsedResume,
  payload: HandshakePayload,
  now: number,
  wallNow: number,
  random: (n: number) => Uint8Array,
  liveGeneration = -1,
  policy: ResumePolicy = {},
): ResumeOutcome {
  const t = openTicket(ticketKeys, hello.ticket, now, wallNow)
  if (t === 'unknown-ticket' || t === 'expired') return { kind: 'reject', reason: t }
  const wipe = () => t.secret.fill(0)
  if (!constantTimeEqual(t.sessionId, hello.sessionId)) return wipe(), { kind: 'reject', reason: 'bad-ticket' }
  if (t.generation < liveGeneration) return wipe(), { kind: 'reject', reason: 'old-generation' }
  // A ticket of a suite the node no longer allows (its policy changed since it issued it).
  if (policy.ciphers && !policy.ciphers.includes(t.suite)) return wipe(), { kind: 'reject', reason: 'bad-suite' }
  const id = ticketIdOf(hello.ticket)
  // The single-use store runs on monotonic time and keeps an id until the ticket key that
  // opens it is dropped: no wall-clock step can make it forget a ticket that still opens
  // (review 12, finding 5). openTicket found the generation, so it exists.
  const until = ticketKeys.opening(hello.ticket.subarray(0, 4), now)!.retiresAt
  if (used.has(id, now)) return wipe(), { kind: 'reject', reason: 'replayed' }
  const owner = Buffer.from(t.initiatorNodeId).toString('hex')
  if (used.full(now, owner)) return wipe(), { kind: 'reject', reason: 'store-full' }
  const s = resumeTranscript(group.psk, hello.sessionId, t.secret, hello.ticket, hello.ePub)
  wipe()
  const plain = s.decryptAndHash(hello.encPayload)
  const decoded = plain && plain.length >= 32 ? decodePayload(plain.subarray(32), false) : null
  if (!plain || !decoded) return { kind: 'reject', reason: 'auth' }
  if (!constantTimeEqual(plain.subarray(0, 32), t.initiatorNodeId)) return { kind: 'reject', reason: 'other-node' }
  // Every refusal comes before the ticket is spent (review 12, finding 8).
  if (decoded.payload.params.bareMode && policy.reliable === false) return { kind: 'reject', reason: 'bad-params' }
  if (!used.add(id, until, now, owner)) return { kind: 'reject', reason: 'store-full' }
  const eR = ephemeral(random)
  s.mixHash(eR.publicKey)
  s.mixKey(eR.publicKey)
  const ee = x25519(eR.privateKey, hello.ePub)
  dropKey(eR)
  if (!ee) return { kind: 'reject', reason: 'bad-key' }
  s.mixKey(ee)
  ee.fill(0)
  const encR = s.encryptAndHash(encodePayload(payload, t.suite))
  const rf = random(FINAL_RANDOM_SIZE)
  const keys = finish(s, rf)
  const out = new Uint8Array(HEADER_SIZE + HELLO_NONCE_SIZE + 32 + 2 + encR.length + FINAL_RANDOM_SIZE)
  let pos = writeHeader(out, 0, PROTOCOL_VERSION, PacketType.RESUME_ACCEPT, 0, hello.sessionId, 0)
  out.set(hello.nonce, pos)
  pos += HELLO_NONCE_SIZE
  out.set(eR.publicKey, pos)
  pos += 32
  pos = putBlock(out, pos, encR)
  out.set(rf, pos)
  return {
    kind: 'ok',
    accept: out,
    ticket: t,
    result: { sessionId: hello.sessionId, suite: t.suite, ...keys, finalRandom: rf, peerNodeId: t.initiatorNodeId, peerStaticKey: new Uint8Array(0), peer: decoded.payload },
  }
}

export type { CipherSuite }
