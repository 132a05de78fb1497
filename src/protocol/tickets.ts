/**
 * Resumption tickets and tokens (issue 12, part 2; docs/PROTOCOL.md §8).
 *
 * * The **resumption master secret** of a session is derived by both sides from the traffic
 *   secrets and transcript of its handshake; it never travels.
 * * A **ticket** is what the responder gives the initiator: the responder's own state for a
 *   later abbreviated handshake, sealed under a ticket key (ticket-keys.ts) only it holds. It
 *   carries the per-ticket resumption secret HKDF(master, ticket id), so the responder keeps
 *   no per-ticket state until one is used (then only its id, in the anti-replay store).
 * * A **token** is what the application stores: version, suite, expiry, session id, the
 *   peer's node id, the ticket, and the per-ticket secret wrapped under a key derived from the
 *   initiator's nodeSeed. A token copied to a node with another nodeSeed cannot be unwrapped
 *   there; one with the same nodeSeed (device migration) can.
 */
import { SUITE_BY_ID, SUITE_ID, type CipherSuite } from '../crypto/aead.js'
import { aeadOpen, aeadSeal, hkdf } from '../crypto/primitives.js'
import { readU64, writeU64 } from './header.js'
import type { TicketKeyGen, TicketKeys } from './ticket-keys.js'

const enc = new TextEncoder()
export const TOKEN_VERSION = 1
export const TICKET_ID_SIZE = 12
const GEN_ID_SIZE = 4
const TICKET_PLAIN_SIZE = 1 + 1 + 8 + 32 + 32 + 8 + 8
/** gen id | ticket id (= AEAD nonce) | sealed plaintext | tag */
export const TICKET_SIZE = GEN_ID_SIZE + TICKET_ID_SIZE + TICKET_PLAIN_SIZE + 16
const TICKET_AAD = enc.encode('STT v1 ticket')
const WRAPPED_SIZE = 12 + 32 + 16
/** version | suite | expires u64 | session id | peer node id | wrapped secret | ticket length u16 | ticket */
const TOKEN_HEADER_SIZE = 1 + 1 + 8 + 8 + 32

export interface TicketContents {
  suite: CipherSuite
  sessionId: Uint8Array
  /** The initiator the ticket was issued to. */
  initiatorNodeId: Uint8Array
  /** Per-ticket resumption secret. */
  secret: Uint8Array
  /** Wall-clock ms on the responder's clock. */
  issued: number
  expires: number
}

/** Both sides, after the handshake: the session's resumption master secret. */
export function resumptionMaster(i2r: Uint8Array, r2i: Uint8Array, transcript: Uint8Array): Uint8Array {
  const ikm = new Uint8Array(64)
  ikm.set(i2r, 0)
  ikm.set(r2i, 32)
  const out = hkdf(ikm, 'STT v1 resumption', transcript, 32)
  ikm.fill(0)
  return out
}

/** The secret of one ticket: every re-issued ticket has its own. */
export function ticketSecret(master: Uint8Array, ticketId: Uint8Array): Uint8Array {
  return hkdf(master, 'STT v1 ticket secret', ticketId, 32)
}

/** The token wrap key of a node: from its nodeSeed, so only that identity can use its tokens. */
export function tokenWrapKey(nodeSeed: Uint8Array): Uint8Array {
  return hkdf(nodeSeed, 'STT v1', 'resumption token wrap', 32)
}

/** Responder: a new ticket for a session; the secret inside is `secretFor(ticket id)` = HKDF(master, ticket id). */
export function sealTicket(gen: TicketKeyGen, secretFor: (ticketId: Uint8Array) => Uint8Array, t: Omit<TicketContents, 'secret'>, random: (n: number) => Uint8Array): Uint8Array {
  const id = random(TICKET_ID_SIZE)
  const secret = secretFor(id)
  const plain = new Uint8Array(TICKET_PLAIN_SIZE)
  plain[0] = TOKEN_VERSION
  plain[1] = SUITE_ID[t.suite]
  plain.set(t.sessionId, 2)
  plain.set(t.initiatorNodeId, 10)
  plain.set(secret, 42)
  writeU64(plain, 74, Math.floor(t.issued))
  writeU64(plain, 82, Math.floor(t.expires))
  secret.fill(0)
  const out = new Uint8Array(TICKET_SIZE)
  out.set(gen.id, 0)
  out.set(id, GEN_ID_SIZE)
  out.set(aeadSeal('aes-256-gcm', gen.key, id, ticketAad(gen.id), plain), GEN_ID_SIZE + TICKET_ID_SIZE)
  plain.fill(0)
  return out
}

function ticketAad(genId: Uint8Array): Uint8Array {
  const a = new Uint8Array(TICKET_AAD.length + GEN_ID_SIZE)
  a.set(TICKET_AAD, 0)
  a.set(genId, TICKET_AAD.length)
  return a
}

export function ticketIdOf(ticket: Uint8Array): Uint8Array {
  return ticket.subarray(GEN_ID_SIZE, GEN_ID_SIZE + TICKET_ID_SIZE)
}

export type TicketOutcome = TicketContents | 'unknown-ticket' | 'expired'

/** Responder: opens a ticket (wall-clock `wallNow`); unknown generation and forgeries look alike. */
export function openTicket(keys: TicketKeys, ticket: Uint8Array, now: number, wallNow: number): TicketOutcome {
  if (ticket.length !== TICKET_SIZE) return 'unknown-ticket'
  const gen = keys.opening(ticket.subarray(0, GEN_ID_SIZE), now)
  if (!gen) return 'unknown-ticket'
  const plain = aeadOpen('aes-256-gcm', gen.key, ticketIdOf(ticket), ticketAad(gen.id), ticket.subarray(GEN_ID_SIZE + TICKET_ID_SIZE))
  if (!plain || plain[0] !== TOKEN_VERSION) return 'unknown-ticket'
  const suite = SUITE_BY_ID[plain[1]!]
  if (!suite) return 'unknown-ticket'
  const out: TicketContents = {
    suite,
    sessionId: plain.slice(2, 10),
    initiatorNodeId: plain.slice(10, 42),
    secret: plain.slice(42, 74),
    issued: readU64(plain, 74),
    expires: readU64(plain, 82),
  }
  plain.fill(0)
  if (wallNow >= out.expires) {
    out.secret.fill(0)
    return 'expired'
  }
  return out
}

export interface ResumptionToken {
  suite: CipherSuite
  /** Wall-clock ms (the responder's clock) after which the ticket is refused. */
  expires: number
  sessionId: Uint8Array
  peerNodeId: Uint8Array
  secret: Uint8Array
  ticket: Uint8Array
}

/** Initiator: the bytes the application stores (`session.resumptionToken`). */
export function encodeToken(wrapKey: Uint8Array, t: ResumptionToken, random: (n: number) => Uint8Array): Uint8Array {
  const out = new Uint8Array(TOKEN_HEADER_SIZE + WRAPPED_SIZE + 2 + t.ticket.length)
  out[0] = TOKEN_VERSION
  out[1] = SUITE_ID[t.suite]
  writeU64(out, 2, Math.floor(t.expires))
  out.set(t.sessionId, 10)
  out.set(t.peerNodeId, 18)
  const tail = TOKEN_HEADER_SIZE + WRAPPED_SIZE
  out[tail] = t.ticket.length >>> 8
  out[tail + 1] = t.ticket.length & 0xff
  out.set(t.ticket, tail + 2)
  const nonce = random(12)
  out.set(nonce, TOKEN_HEADER_SIZE)
  out.set(aeadSeal('aes-256-gcm', wrapKey, nonce, wrapAad(out), t.secret), TOKEN_HEADER_SIZE + 12)
  return out
}

/** Everything but the wrapped secret is authenticated with it. */
function wrapAad(token: Uint8Array): Uint8Array {
  const a = new Uint8Array(token.length - WRAPPED_SIZE)
  a.set(token.subarray(0, TOKEN_HEADER_SIZE), 0)
  a.set(token.subarray(TOKEN_HEADER_SIZE + WRAPPED_SIZE), TOKEN_HEADER_SIZE)
  return a
}

/** Initiator: parses and unwraps a stored token; 'other-node' when this node's seed cannot unwrap it. */
export function decodeToken(wrapKey: Uint8Array, b: Uint8Array): ResumptionToken | 'malformed' | 'other-node' {
  if (!(b instanceof Uint8Array) || b.length < TOKEN_HEADER_SIZE + WRAPPED_SIZE + 2 || b[0] !== TOKEN_VERSION) return 'malformed'
  const suite = SUITE_BY_ID[b[1]!]
  const tail = TOKEN_HEADER_SIZE + WRAPPED_SIZE
  const len = (b[tail]! << 8) | b[tail + 1]!
  if (!suite || b.length !== tail + 2 + len) return 'malformed'
  const secret = aeadOpen('aes-256-gcm', wrapKey, b.subarray(TOKEN_HEADER_SIZE, TOKEN_HEADER_SIZE + 12), wrapAad(b), b.subarray(TOKEN_HEADER_SIZE + 12, tail))
  if (!secret) return 'other-node'
  return { suite, expires: readU64(b, 2), sessionId: b.slice(10, 18), peerNodeId: b.slice(18, 50), secret, ticket: b.slice(tail + 2) }
}
