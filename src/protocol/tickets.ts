/**
 * Resumption tickets and tokens (issue 12, part 2; docs/PROTOCOL.md §9).
 *
 * * The **resumption master secret** of a session is derived by both sides from the traffic
 *   secrets and transcript of its handshake; it never travels.
 * * A **ticket** is what the responder gives the initiator: the responder's own state for a
 *   later abbreviated handshake, sealed under a ticket key (ticket-keys.ts) only it holds. It
 *   carries the per-ticket resumption secret HKDF(master, ticket id), so the responder keeps
 *   no per-ticket state until one is used (then only its id, in the anti-replay store).
 * * A **token** is what the application stores: version, suite, expiry, session id, the
 *   peer's node id, the ticket, and the per-ticket secret wrapped under a key derived from the
 *   initiator's nodeSeed and the group. A token copied to a node with another nodeSeed, or used
 *   in another group, cannot be unwrapped there; one with the same nodeSeed (device migration) can.
 *
 * No AEAD key here ever seals two messages under one nonce by chance: a ticket is sealed under
 * its own key HKDF(generation key, ticket id) (16 random bytes, drawn per ticket), and a token
 * under its own key HKDF(wrap key, ticket id || 12 fresh random bytes) (§9.5).
 */
import { SUITE_BY_ID, SUITE_ID, type CipherSuite } from '../crypto/aead.js'
// The process's handshake backend (the addon's OpenSSL when it loaded): HKDF and the
// one-shot AEAD of tickets and tokens cost less there than through node:crypto objects.
import { aeadOpen, aeadSeal, aeadSealInPlace, hkdf } from '../crypto/handshake-crypto.js'
import { readU64, writeU64 } from './header.js'
import type { TicketKeyGen, TicketKeys } from './ticket-keys.js'

const enc = new TextEncoder()
export const TOKEN_VERSION = 1
export const TICKET_ID_SIZE = 16
const GEN_ID_SIZE = 4
/** version | suite | session id | initiator node id | secret | issued u64 | expires u64 | generation u32 */
const TICKET_PLAIN_SIZE = 1 + 1 + 8 + 32 + 32 + 8 + 8 + 4
/** gen id | ticket id (names the per-ticket key) | sealed plaintext | tag */
export const TICKET_SIZE = GEN_ID_SIZE + TICKET_ID_SIZE + TICKET_PLAIN_SIZE + 16
const TICKET_AAD = enc.encode('STT v1 ticket')
const WRAPPED_SIZE = 12 + 32 + 16
/** Each per-message key seals exactly one plaintext, so the nonce can be fixed. */
const ZERO_NONCE = new Uint8Array(12)
/** Largest generation (resumptions of one session); a ticket at it is not re-issued. */
export const MAX_GENERATION = 0xffffffff
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
  /**
   * How many resumptions of the session came before this ticket's (0: issued after the full
   * handshake). A live session refuses tickets of an older generation (§9.4), so a leftover
   * token cannot replace the session its successor already resumed.
   */
  generation: number
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

/**
 * The token wrap key of a node in a group: from its nodeSeed, so only that identity can use its
 * tokens, and from the group PSK, so a token carried into another group fails to unwrap at once
 * (STT_RESUME_REJECTED or a full handshake) instead of sending a RESUME no member answers.
 */
export function tokenWrapKey(nodeSeed: Uint8Array, psk: Uint8Array): Uint8Array {
  const group = hkdf(psk, 'STT v1', 'resumption token group', 32)
  const key = hkdf(nodeSeed, group, 'STT v1 resumption token wrap', 32)
  group.fill(0)
  return key
}

/** The key that seals one ticket: a fresh ticket id gives a fresh key (no nonce is ever shared). */
function ticketSealKey(genKey: Uint8Array, ticketId: Uint8Array): Uint8Array {
  return hkdf(genKey, 'STT v1 ticket seal', ticketId, 32)
}

/** The key that wraps one token's secret: per ticket and per wrap (the initiator's random). */
function tokenKey(wrapKey: Uint8Array, ticketId: Uint8Array, wrapNonce: Uint8Array): Uint8Array {
  const info = new Uint8Array(ticketId.length + wrapNonce.length)
  info.set(ticketId, 0)
  info.set(wrapNonce, ticketId.length)
  return hkdf(wrapKey, 'STT v1 token key', info, 32)
}

/** Responder: a new ticket for a session; the secret inside is `secretFor(ticket id)` = HKDF(master, ticket id). */
export function sealTicket(gen: TicketKeyGen, secretFor: (ticketId: Uint8Array) => Uint8Array, t: Omit<TicketContents, 'secret'>, random: (n: number) => Uint8Array): Uint8Array {
  const id = random(TICKET_ID_SIZE)
  const secret = secretFor(id)
  // The plaintext is written where its ciphertext goes and sealed in place: no separate
  // plaintext or ciphertext arrays per ticket (one per accepted handshake).
  const out = new Uint8Array(TICKET_SIZE)
  out.set(gen.id, 0)
  out.set(id, GEN_ID_SIZE)
  const at = GEN_ID_SIZE + TICKET_ID_SIZE
  const plain = out.subarray(at, at + TICKET_PLAIN_SIZE)
  plain[0] = TOKEN_VERSION
  plain[1] = SUITE_ID[t.suite]
  plain.set(t.sessionId, 2)
  plain.set(t.initiatorNodeId, 10)
  plain.set(secret, 42)
  writeU64(plain, 74, Math.floor(t.issued))
  writeU64(plain, 82, Math.floor(t.expires))
  new DataView(out.buffer, out.byteOffset + at, TICKET_PLAIN_SIZE).setUint32(90, t.generation)
  secret.fill(0)
  const key = ticketSealKey(gen.key, id)
  let sealed = false
  try {
    aeadSealInPlace('aes-256-gcm', key, ZERO_NONCE, ticketAad(gen.id), plain, out.subarray(at + TICKET_PLAIN_SIZE))
    sealed = true
  } finally {
    key.fill(0)
    if (!sealed) plain.fill(0) // the per-ticket secret
  }
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
  const key = ticketSealKey(gen.key, ticketIdOf(ticket))
  const plain = aeadOpen('aes-256-gcm', key, ZERO_NONCE, ticketAad(gen.id), ticket.subarray(GEN_ID_SIZE + TICKET_ID_SIZE))
  key.fill(0)
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
    generation: new DataView(plain.buffer, plain.byteOffset).getUint32(90),
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
  const key = tokenKey(wrapKey, ticketIdOf(t.ticket), nonce)
  out.set(aeadSeal('aes-256-gcm', key, ZERO_NONCE, wrapAad(out), t.secret), TOKEN_HEADER_SIZE + 12)
  key.fill(0)
  return out
}

/** Everything but the wrapped secret is authenticated with it. */
function wrapAad(token: Uint8Array): Uint8Array {
  const a = new Uint8Array(token.length - WRAPPED_SIZE)
  a.set(token.subarray(0, TOKEN_HEADER_SIZE), 0)
  a.set(token.subarray(TOKEN_HEADER_SIZE + WRAPPED_SIZE), TOKEN_HEADER_SIZE)
  return a
}

/**
 * Initiator: parses and unwraps a stored token; 'foreign' when this node cannot unwrap it
 * (another nodeSeed, another group, or a changed byte: the AEAD cannot tell them apart).
 */
export function decodeToken(wrapKey: Uint8Array, b: Uint8Array): ResumptionToken | 'malformed' | 'foreign' {
  if (!(b instanceof Uint8Array) || b.length < TOKEN_HEADER_SIZE + WRAPPED_SIZE + 2 || b[0] !== TOKEN_VERSION) return 'malformed'
  const suite = SUITE_BY_ID[b[1]!]
  const tail = TOKEN_HEADER_SIZE + WRAPPED_SIZE
  const len = (b[tail]! << 8) | b[tail + 1]!
  if (!suite || b.length !== tail + 2 + len || len < GEN_ID_SIZE + TICKET_ID_SIZE) return 'malformed'
  const key = tokenKey(wrapKey, ticketIdOf(b.subarray(tail + 2)), b.subarray(TOKEN_HEADER_SIZE, TOKEN_HEADER_SIZE + 12))
  const secret = aeadOpen('aes-256-gcm', key, ZERO_NONCE, wrapAad(b), b.subarray(TOKEN_HEADER_SIZE + 12, tail))
  key.fill(0)
  if (!secret) return 'foreign'
  return { suite, expires: readU64(b, 2), sessionId: b.slice(10, 18), peerNodeId: b.slice(18, 50), secret, ticket: b.slice(tail + 2) }
}
