/**
 * STT v1 handshake (docs/PROTOCOL.md §3): HELLO, CHALLENGE, AUTH_PROOF, FINAL, designed after
 * Noise XXpsk0 and WireGuard.
 *
 *   initiator                                   responder (no state until AUTH_PROOF)
 *   HELLO      psk, e            + HELLO MAC ->  1 HMAC drops outsiders; replay cache
 *              <- CHALLENGE  e, ee, s, es, payload_r, cookie(state)    (or RETRY token)
 *   AUTH_PROOF cookie, s, se, payload_i       ->  state restored from the cookie
 *              <- FINAL  first packet under the traffic keys
 *
 * This file holds the message formats and the two roles' pure functions; retransmission
 * timing lives in the endpoint.
 */
import { SUITE_BY_ID, SUITE_ID, type CipherSuite } from '../crypto/aead.js'
import { aeadOpenInPlace, aeadSealInPlace, constantTimeEqual, hmacSha256, x25519, x25519Ephemeral, x25519FromPrivate, x25519Once, type X25519KeyPair } from '../crypto/handshake-crypto.js'
import {
  HEADER_SIZE,
  HELLO_MAC_SIZE,
  HELLO_MIN_SIZE,
  HeaderFlag,
  PacketType,
  PROTOCOL_VERSION,
  SESSION_ID_SIZE,
  SUPPORTED_VERSIONS,
} from './constants.js'
import { readU64, writeHeader, writeU64 } from './header.js'
import { type GroupKeys, type NodeIdentity, nodeIdOf } from './identity.js'
import { SymmetricState } from './noise.js'
import { Reader } from './varint.js'
import { challengePayloadBytes, decodePayload, encodePayload, type HandshakePayload } from './handshake-payload.js'

export { decodePayload, encodePayload, MAX_NAME_BYTES, type HandshakePayload } from './handshake-payload.js'

const enc = new TextEncoder()
export const HELLO_NONCE_SIZE = 16
export const TOKEN_SIZE = 32
/**
 * Responder random carried in clear at the end of every FINAL and mixed into the key schedule
 * (MixHash, MixKey) before Split: the traffic keys of an accepted AUTH_PROOF are new every
 * time it is accepted, so no bug in replay detection can make the responder reuse a key and
 * nonce (issue 10, item 1). It need not be secret: the keys still depend on every DH and the PSK.
 */
export const FINAL_RANDOM_SIZE = 32
const COOKIE_PLAIN_SIZE = 32 + 32 + 32 + 32 + 1 + 8 + 1
export const COOKIE_SIZE = 12 + COOKIE_PLAIN_SIZE + 16
const PROLOGUE = enc.encode('STT v1 handshake')
/** Label of the retry token's MAC (encoded once: under a flood every HELLO gets a token). */
const RETRY_LABEL = enc.encode('retry')


/** The result both roles end with: traffic secrets and what was learnt about the peer. */
export interface HandshakeResult {
  sessionId: Uint8Array
  suite: CipherSuite
  /** Traffic secrets: initiator-to-responder and responder-to-initiator. */
  i2r: Uint8Array
  r2i: Uint8Array
  /** Final transcript hash: unique to this session. */
  transcript: Uint8Array
  /** The responder's FINAL random (§3.6), mixed into the keys; trails every FINAL. */
  finalRandom: Uint8Array
  peerNodeId: Uint8Array
  peerStaticKey: Uint8Array
  peer: HandshakePayload
}

export interface HandshakeKeys {
  group: GroupKeys
  identity: NodeIdentity
}

export function mac16(key: Uint8Array, data: Uint8Array): Uint8Array {
  // slice, not subarray: a view would first move the 32-byte result off V8's heap (an allocation).
  return hmacSha256(key, data).slice(0, HELLO_MAC_SIZE)
}

/** h after the prologue, the same for every handshake: hashed once per process. */
let prologueHash: Uint8Array | null = null
function afterPrologue(): Uint8Array {
  if (prologueHash === null) {
    const s = new SymmetricState()
    s.mixHash(PROLOGUE)
    prologueHash = s.h
  }
  return prologueHash
}

/** Transcript prefix shared by both roles: everything HELLO commits to. */
function helloTranscript(psk: Uint8Array, sessionId: Uint8Array, ePub: Uint8Array, suites: Uint8Array): SymmetricState {
  const s = new SymmetricState(undefined, afterPrologue().slice())
  s.mixHash(sessionId)
  s.mixKeyAndHashOnce(psk)
  s.mixHash(ePub)
  s.mixKey(ePub)
  s.mixHash(suites)
  return s
}

// ---------------------------------------------------------------------------------------
// Initiator
// ---------------------------------------------------------------------------------------

/** What the initiator knows after a valid CHALLENGE; the traffic keys wait for FINAL's random. */
export interface ProvenResponder {
  suite: CipherSuite
  peerNodeId: Uint8Array
  peerStaticKey: Uint8Array
  peer: HandshakePayload
}

export type ChallengeOutcome =
  | { kind: 'retry'; token: Uint8Array }
  | { kind: 'proof'; packet: Uint8Array; responder: ProvenResponder }
  | { kind: 'drop'; reason: string }

export type ErrorOutcome = { kind: 'error'; code: number; versions: number[] } | { kind: 'drop'; reason: string }

export class InitiatorHandshake {
  readonly sessionId: Uint8Array
  private readonly e: X25519KeyPair
  private readonly suites: Uint8Array
  private readonly sentNonces: Uint8Array[] = []
  private token: Uint8Array | null = null
  private attempt = 0
  /** AUTH_PROOF bytes, kept to retransmit identically until FINAL arrives. */
  proof: Uint8Array | null = null
  /** Set once a CHALLENGE proved the responder holds the seed (and its static key). */
  responder: ProvenResponder | null = null
  /** Symmetric state after AUTH_PROOF (ck, h, k, n), finished by FINAL's random. */
  private afterProof: { ck: Uint8Array; h: Uint8Array; k: Uint8Array; n: number } | null = null

  constructor(
    private readonly keys: HandshakeKeys,
    private readonly payload: HandshakePayload,
    suites: CipherSuite[],
    private readonly random: (n: number) => Uint8Array,
    /** Overrides the version byte; only tests use it (version mismatch). */
    private readonly version = PROTOCOL_VERSION,
  ) {
    this.sessionId = random(SESSION_ID_SIZE)
    this.e = x25519FromPrivate(random(32))
    this.suites = new Uint8Array([suites.length, ...suites.map((s) => SUITE_ID[s])])
  }

  /** A fresh HELLO (new nonce and timestamp, same ephemeral key) for attempt number n. */
  createHello(now: number): Uint8Array {
    const tokenLen = this.token ? this.token.length : 0
    const bodyMin = 32 + HELLO_NONCE_SIZE + 8 + this.suites.length + 1 + tokenLen + HELLO_MAC_SIZE
    const size = Math.max(HELLO_MIN_SIZE, HEADER_SIZE + bodyMin)
    const pkt = new Uint8Array(size)
    let pos = writeHeader(pkt, 0, this.version, PacketType.HELLO, 0, this.sessionId, this.attempt++)
    pkt.set(this.e.publicKey, pos)
    pos += 32
    const nonce = this.random(HELLO_NONCE_SIZE)
    this.sentNonces.push(nonce)
    pkt.set(nonce, pos)
    pos += HELLO_NONCE_SIZE
    writeU64(pkt, pos, Math.floor(now))
    pos += 8
    pkt.set(this.suites, pos)
    pos += this.suites.length
    pkt[pos++] = tokenLen
    if (this.token) pkt.set(this.token, pos)
    // The rest up to the MAC is zero padding (anti-amplification budget for the responder).
    pkt.set(mac16(this.keys.group.helloMacKey, pkt.subarray(0, size - HELLO_MAC_SIZE)), size - HELLO_MAC_SIZE)
    return pkt
  }

  private knowsNonce(n: Uint8Array): boolean {
    return this.sentNonces.some((s) => constantTimeEqual(s, n))
  }

  consumeChallenge(pkt: Uint8Array, flags: number): ChallengeOutcome {
    const r = new Reader(pkt, HEADER_SIZE, pkt.length)
    const echo = r.bytes(HELLO_NONCE_SIZE)
    if (!r.ok || !this.knowsNonce(echo)) return { kind: 'drop', reason: 'unexpected-challenge' }
    if (flags & HeaderFlag.RETRY) {
      const token = r.bytes(TOKEN_SIZE)
      if (!r.ok || r.remaining !== HELLO_MAC_SIZE) return { kind: 'drop', reason: 'malformed' }
      const mac = mac16(this.keys.group.helloMacKey, pkt.subarray(0, pkt.length - HELLO_MAC_SIZE))
      if (!constantTimeEqual(mac, pkt.subarray(pkt.length - HELLO_MAC_SIZE))) return { kind: 'drop', reason: 'bad-mac' }
      this.token = token.slice()
      return { kind: 'retry', token: this.token }
    }
    if (this.responder) return { kind: 'drop', reason: 'duplicate' }
    const eR = r.bytes(32)
    const encS = r.bytes(48)
    const payLen = (r.u8() << 8) | r.u8()
    const encPayload = r.bytes(payLen)
    const cookieLen = r.u8()
    const cookie = r.bytes(cookieLen)
    if (!r.ok || r.remaining !== 0) return { kind: 'drop', reason: 'malformed' }

    const s = helloTranscript(this.keys.group.psk, this.sessionId, this.e.publicKey, this.suites)
    s.mixHash(eR)
    s.mixKey(eR)
    const ee = x25519(this.e.privateKey, eR)
    if (!ee) return { kind: 'drop', reason: 'bad-key' }
    s.mixKey(ee)
    const sR = s.decryptAndHash(encS)
    if (!sR) return { kind: 'drop', reason: 'auth' }
    const es = x25519(this.e.privateKey, sR)
    if (!es) return { kind: 'drop', reason: 'bad-key' }
    s.mixKey(es)
    const plain = s.decryptAndHash(encPayload)
    const decoded = plain && decodePayload(plain, true)
    if (!decoded || !decoded.suite) return { kind: 'drop', reason: 'auth' }
    // Issue 10, item 10: a suite we did not offer is a protocol violation (or a downgrade).
    if (!this.suites.subarray(1).includes(SUITE_ID[decoded.suite])) return { kind: 'drop', reason: 'bad-suite' }

    // Message 3: s, se, payload.
    const encSI = s.encryptAndHash(this.keys.identity.staticKey.publicKey)
    const se = x25519(this.keys.identity.staticKey.privateKey, eR)
    if (!se) return { kind: 'drop', reason: 'bad-key' }
    s.mixKey(se)
    const encPI = s.encryptAndHash(encodePayload(this.payload))
    this.afterProof = { ck: s.ck, h: s.h, k: s.key!, n: s.counter }

    const pktLen = HEADER_SIZE + 1 + cookie.length + encSI.length + 2 + encPI.length
    const out = new Uint8Array(pktLen)
    let pos = writeHeader(out, 0, this.version, PacketType.AUTH_PROOF, 0, this.sessionId, 0)
    out[pos++] = cookie.length
    out.set(cookie, pos)
    pos += cookie.length
    out.set(encSI, pos)
    pos += encSI.length
    out[pos++] = encPI.length >>> 8
    out[pos++] = encPI.length & 0xff
    out.set(encPI, pos)
    this.proof = out
    this.responder = { suite: decoded.suite, peerNodeId: nodeIdOf(sR), peerStaticKey: sR, peer: decoded.payload }
    return { kind: 'proof', packet: out, responder: this.responder }
  }

  /**
   * The traffic secrets for the responder random `finalRandom` that trails a FINAL. Does not
   * change this handshake: a forged FINAL (wrong random) yields keys under which it does not
   * authenticate, and the caller drops it and keeps waiting.
   */
  finish(finalRandom: Uint8Array): HandshakeResult | null {
    const a = this.afterProof
    const r = this.responder
    if (!a || !r || finalRandom.length !== FINAL_RANDOM_SIZE) return null
    const s = SymmetricState.restore(a.ck, a.h, a.k, a.n)
    mixFinalRandom(s, finalRandom)
    const split = s.split()
    return { sessionId: this.sessionId, i2r: split.i2r, r2i: split.r2i, transcript: s.h, finalRandom: finalRandom.slice(), ...r }
  }

  /** A handshake-phase ERROR from the responder (§3.6). */
  consumeError(pkt: Uint8Array): ErrorOutcome {
    const parsed = parseHandshakeError(pkt)
    // After AUTH_PROOF there is no nonce to echo: a keyed error then echoes zeros.
    const zeroEcho = parsed !== null && parsed.macOffset >= 0 && this.proof !== null && parsed.echo.every((b) => b === 0)
    if (!parsed || (!this.knowsNonce(parsed.echo) && !zeroEcho)) return { kind: 'drop', reason: 'unexpected-error' }
    if (parsed.macOffset >= 0) {
      const mac = mac16(this.keys.group.helloMacKey, pkt.subarray(0, parsed.macOffset))
      if (!constantTimeEqual(mac, pkt.subarray(parsed.macOffset))) return { kind: 'drop', reason: 'bad-mac' }
    } else if (parsed.code !== AUTH_FAILED_CODE) {
      return { kind: 'drop', reason: 'unauthenticated-error' }
    } else if (this.responder) {
      // Issue 10, item 5: a valid CHALLENGE proved the responder holds the seed, so an
      // unkeyed AUTHENTICATION_FAILED can only be forged (HELLO nonces travel in clear).
      return { kind: 'drop', reason: 'unauthenticated-error' }
    }
    return { kind: 'error', code: parsed.code, versions: parsed.versions }
  }
}

// ---------------------------------------------------------------------------------------
// Handshake-phase ERROR packets (§3.6)
// ---------------------------------------------------------------------------------------

const AUTH_FAILED_CODE = 0x0103
/** body: code u16 | echo nonce 16 | keyed u8 | count u8 | versions u8* | [mac 16 when keyed] */
export function createHandshakeError(sessionId: Uint8Array, echo: Uint8Array, code: number, macKey: Uint8Array | null): Uint8Array {
  const versions = code === 0x0105 ? SUPPORTED_VERSIONS : []
  const len = HEADER_SIZE + 2 + HELLO_NONCE_SIZE + 2 + versions.length + (macKey ? HELLO_MAC_SIZE : 0)
  const out = new Uint8Array(len)
  let pos = writeHeader(out, 0, PROTOCOL_VERSION, PacketType.ERROR, 0, sessionId, 0)
  out[pos++] = code >>> 8
  out[pos++] = code & 0xff
  out.set(echo.subarray(0, HELLO_NONCE_SIZE), pos)
  pos += HELLO_NONCE_SIZE
  out[pos++] = macKey ? 1 : 0
  out[pos++] = versions.length
  for (const v of versions) out[pos++] = v
  if (macKey) out.set(mac16(macKey, out.subarray(0, pos)), pos)
  return out
}

export function parseHandshakeError(pkt: Uint8Array): { code: number; echo: Uint8Array; versions: number[]; macOffset: number } | null {
  const r = new Reader(pkt, HEADER_SIZE, pkt.length)
  const code = (r.u8() << 8) | r.u8()
  const echo = r.bytes(HELLO_NONCE_SIZE)
  const keyed = r.u8()
  const count = r.u8()
  const versions: number[] = []
  for (let i = 0; i < count; i++) versions.push(r.u8())
  const macOffset = r.pos
  if (keyed) r.bytes(HELLO_MAC_SIZE)
  if (!r.ok || r.remaining !== 0) return null
  return { code, echo, versions, macOffset: keyed ? macOffset : -1 }
}

// ---------------------------------------------------------------------------------------
// Responder (stateless until AUTH_PROOF)
// ---------------------------------------------------------------------------------------

export interface ParsedHello {
  sessionId: Uint8Array
  ePub: Uint8Array
  nonce: Uint8Array
  timestamp: number
  suites: Uint8Array
  token: Uint8Array | null
}

/** Checks size and MAC, then parses. The version byte is not checked here (see endpoint). */
export function parseHello(pkt: Uint8Array, macKey: Uint8Array): ParsedHello | 'short' | 'bad-mac' | 'malformed' {
  if (pkt.length < HELLO_MIN_SIZE) return 'short'
  const mac = mac16(macKey, pkt.subarray(0, pkt.length - HELLO_MAC_SIZE))
  if (!constantTimeEqual(mac, pkt.subarray(pkt.length - HELLO_MAC_SIZE))) return 'bad-mac'
  const r = new Reader(pkt, HEADER_SIZE, pkt.length - HELLO_MAC_SIZE)
  const ePub = r.bytes(32)
  const nonce = r.bytes(HELLO_NONCE_SIZE)
  const timestamp = readU64(pkt, r.pos)
  r.bytes(8)
  const count = r.u8()
  r.pos -= 1
  const suites = r.bytes(count + 1)
  const tokenLen = r.u8()
  const token = tokenLen ? r.bytes(tokenLen) : null
  if (!r.ok || count === 0 || timestamp < 0) return 'malformed'
  return { sessionId: pkt.slice(3, 3 + SESSION_ID_SIZE), ePub, nonce, timestamp, suites, token }
}

/**
 * The token-length byte of a HELLO, read WITHOUT checking its MAC: only to pick which HELLOs a
 * node that is behind sheds first (token-less ones, Endpoint.onHello); -1 when it lies outside.
 */
export function helloTokenLength(pkt: Uint8Array): number {
  const countAt = HEADER_SIZE + 32 + HELLO_NONCE_SIZE + 8
  if (pkt.length <= countAt) return -1
  const at = countAt + 1 + pkt[countAt]!
  return at < pkt.length - HELLO_MAC_SIZE ? pkt[at]! : -1
}

/** Picks the first suite in the initiator's preference order that we allow. */
export function chooseSuite(offered: Uint8Array, allowed: CipherSuite[]): CipherSuite | null {
  for (let i = 1; i < offered.length; i++) {
    const s = SUITE_BY_ID[offered[i]!]
    if (s && allowed.includes(s)) return s
  }
  return null
}

/**
 * The MAC input of a retry token, label | ts | session id | address, built in one scratch buffer:
 * under a flood every HELLO gets a token, and the parts joined per HELLO (the address encoded,
 * then all concatenated for the HMAC) were a measurable share of the responder's cost per HELLO
 * (bench/hello-flood-cpu.mjs). Nothing in it is secret. Its fixed offsets need an 8-byte ts.
 */
const tokenInput = new Uint8Array(512)
tokenInput.set(RETRY_LABEL, 0)
const TOKEN_TS_AT = RETRY_LABEL.length
const TOKEN_ADDR_AT = TOKEN_TS_AT + 8 + SESSION_ID_SIZE

function tokenMac(key: Uint8Array, ts: Uint8Array, sessionId: Uint8Array, addrKey: string): Uint8Array {
  // slice, not subarray: a view would first move the 32-byte HMAC off V8's heap (an allocation).
  if (ts.length !== 8 || sessionId.length !== SESSION_ID_SIZE) return hmacSha256(key, RETRY_LABEL, ts, sessionId, enc.encode(addrKey)).slice(0, 24)
  tokenInput.set(ts, TOKEN_TS_AT)
  tokenInput.set(sessionId, TOKEN_TS_AT + 8)
  const room = tokenInput.subarray(TOKEN_ADDR_AT)
  const { read, written } = enc.encodeInto(addrKey, room)
  // An address key longer than the scratch (none of this library's transports makes one): joined.
  if (read !== addrKey.length) return hmacSha256(key, tokenInput.subarray(0, TOKEN_ADDR_AT), enc.encode(addrKey)).slice(0, 24)
  return hmacSha256(key, tokenInput.subarray(0, TOKEN_ADDR_AT + written)).slice(0, 24)
}

/**
 * Address-validation token for RETRY: ts u64 | HMAC(key, "retry" | ts | session id | address)[:24].
 * `key` is the token subkey of a cookie key generation (cookie-keys.ts), never the cookie key.
 */
export function createRetryToken(key: Uint8Array, now: number, sessionId: Uint8Array, addrKey: string): Uint8Array {
  const ts = new Uint8Array(8)
  writeU64(ts, 0, Math.floor(now))
  const t = new Uint8Array(TOKEN_SIZE)
  t.set(ts, 0)
  t.set(tokenMac(key, ts, sessionId, addrKey), 8)
  return t
}

export function checkRetryToken(keys: Uint8Array[], token: Uint8Array, now: number, maxAgeMs: number, sessionId: Uint8Array, addrKey: string): boolean {
  if (token.length !== TOKEN_SIZE) return false
  const ts = readU64(token, 0)
  if (ts < 0 || now - ts > maxAgeMs || ts - now > 1000) return false
  for (const k of keys) {
    if (constantTimeEqual(tokenMac(k, token.subarray(0, 8), sessionId, addrKey), token.subarray(8))) return true
  }
  return false
}

export function createRetry(hello: ParsedHello, token: Uint8Array, macKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + HELLO_NONCE_SIZE + TOKEN_SIZE + HELLO_MAC_SIZE)
  let pos = writeHeader(out, 0, PROTOCOL_VERSION, PacketType.CHALLENGE, HeaderFlag.RETRY, hello.sessionId, 0)
  out.set(hello.nonce, pos)
  pos += HELLO_NONCE_SIZE
  out.set(token, pos)
  pos += TOKEN_SIZE
  out.set(mac16(macKey, out.subarray(0, pos)), pos)
  return out
}

/**
 * Builds CHALLENGE for a valid HELLO. The responder's whole handshake state (its ephemeral
 * private key and the symmetric state) leaves in the cookie, sealed under a key only it
 * knows and bound to the session id and the initiator's address.
 */
export function createChallenge(
  keys: HandshakeKeys,
  hello: ParsedHello,
  suite: CipherSuite,
  payload: HandshakePayload,
  cookieKey: Uint8Array,
  addrKey: string,
  now: number,
  random: (n: number) => Uint8Array,
): Uint8Array | null {
  const eRPriv = random(32)
  // e_r serves this one DH (the cookie carries eRPriv for AUTH_PROOF's): no key object is kept.
  const eR = x25519Ephemeral(eRPriv, hello.ePub)
  if (!eR) {
    eRPriv.fill(0)
    return null
  }
  const eRPub = eR.publicKey
  const ee = eR.shared
  const s = helloTranscript(keys.group.psk, hello.sessionId, hello.ePub, hello.suites)
  s.mixHash(eRPub)
  s.mixKey(eRPub)
  s.mixKey(ee)
  const encS = s.encryptAndHash(keys.identity.staticKey.publicKey)
  const es = x25519(keys.identity.staticKey.privateKey, hello.ePub)
  if (!es) {
    eRPriv.fill(0)
    return null
  }
  s.mixKey(es)
  const encPayload = s.encryptAndHash(challengePayloadBytes(payload, suite))

  const out = new Uint8Array(HEADER_SIZE + HELLO_NONCE_SIZE + 32 + encS.length + 2 + encPayload.length + 1 + COOKIE_SIZE)
  let pos = writeHeader(out, 0, PROTOCOL_VERSION, PacketType.CHALLENGE, 0, hello.sessionId, 0)
  out.set(hello.nonce, pos)
  pos += HELLO_NONCE_SIZE
  out.set(eRPub, pos)
  pos += 32
  out.set(encS, pos)
  pos += encS.length
  out[pos++] = encPayload.length >>> 8
  out[pos++] = encPayload.length & 0xff
  out.set(encPayload, pos)
  pos += encPayload.length
  out[pos++] = COOKIE_SIZE
  // The cookie is sealed where it lies in the packet: its plaintext (e_r's private key and the
  // chaining key) is written there, encrypted in place, and wiped should sealing fail.
  const nonce = random(12)
  out.set(nonce, pos)
  const plain = out.subarray(pos + 12, pos + 12 + COOKIE_PLAIN_SIZE)
  let p = 0
  plain.set(eRPriv, p)
  eRPriv.fill(0)
  plain.set(s.ck, (p += 32))
  plain.set(s.h, (p += 32))
  plain.set(s.key!, (p += 32))
  plain[(p += 32)] = s.counter
  writeU64(plain, (p += 1), Math.floor(now))
  plain[p + 8] = SUITE_ID[suite]
  let sealed = false
  try {
    aeadSealInPlace('aes-256-gcm', cookieKey, nonce, cookieAad(hello.sessionId, addrKey), plain, out.subarray(pos + 12 + COOKIE_PLAIN_SIZE))
    sealed = true
  } finally {
    if (!sealed) plain.fill(0)
  }
  return out
}

/**
 * The cookie's associated data, session id | address key, in one scratch buffer (valid until the
 * next call; the AEAD call reads it at once): built per HELLO answered and per AUTH_PROOF. Nothing
 * in it is secret. An address key too long for the scratch gets an array of its own.
 */
const aadScratch = new Uint8Array(SESSION_ID_SIZE + 256)
function cookieAad(sessionId: Uint8Array, addrKey: string): Uint8Array {
  aadScratch.set(sessionId, 0)
  const { read, written } = enc.encodeInto(addrKey, aadScratch.subarray(SESSION_ID_SIZE))
  if (read === addrKey.length) return aadScratch.subarray(0, SESSION_ID_SIZE + written)
  const a = enc.encode(addrKey)
  const out = new Uint8Array(SESSION_ID_SIZE + a.length)
  out.set(sessionId, 0)
  out.set(a, SESSION_ID_SIZE)
  return out
}

/** Both roles: the FINAL random enters the transcript and the chaining key just before Split(). */
function mixFinalRandom(s: SymmetricState, finalRandom: Uint8Array): void {
  s.mixHash(finalRandom)
  s.mixKey(finalRandom)
}

/** The cookie's nonce (its first 12 bytes): unique per CHALLENGE, the key of the accepted-handshake store. */
export function cookieNonceOf(authProof: Uint8Array): Uint8Array | null {
  if (authProof.length < HEADER_SIZE + 1 + COOKIE_SIZE || authProof[HEADER_SIZE] !== COOKIE_SIZE) return null
  return authProof.subarray(HEADER_SIZE + 1, HEADER_SIZE + 1 + 12)
}

export type ProofOutcome = { kind: 'ok'; result: HandshakeResult; cookieNonce: Uint8Array; cookieIssued: number } | { kind: 'drop'; reason: string }

/**
 * The cookie's plaintext (e_r's private key, ck, h, k, n, issue time, suite), opened in a buffer
 * made once off V8's heap (a per-AUTH_PROOF result array was a backing-store allocation) and
 * wiped before openCookie returns, whatever the outcome.
 */
const cookiePlain = new Uint8Array(new ArrayBuffer(COOKIE_PLAIN_SIZE))

/** Opens `cookie` into `plain` under the first key that authenticates it; false when none does. */
function openCookieInto(plain: Uint8Array, cookie: Uint8Array, cookieKeys: Uint8Array[], sessionId: Uint8Array, addrKey: string): boolean {
  for (const k of cookieKeys) {
    // Copied afresh per key: a failed open may leave the buffer changed.
    plain.set(cookie.subarray(12, 12 + COOKIE_PLAIN_SIZE))
    if (aeadOpenInPlace('aes-256-gcm', k, cookie.subarray(0, 12), cookieAad(sessionId, addrKey), plain, cookie.subarray(12 + COOKIE_PLAIN_SIZE))) return true
  }
  return false
}

/**
 * Verifies AUTH_PROOF against the cookie it carries; derives the traffic secrets. The cookie
 * holds the whole responder state after CHALLENGE (its static key was already mixed in), so
 * nothing else is needed.
 */
export function consumeAuthProof(
  pkt: Uint8Array,
  cookieKeys: Uint8Array[],
  addrKey: string,
  now: number,
  maxCookieAgeMs: number,
  random: (n: number) => Uint8Array,
): ProofOutcome {
  const sessionId = pkt.slice(3, 3 + SESSION_ID_SIZE)
  const r = new Reader(pkt, HEADER_SIZE, pkt.length)
  const cookieLen = r.u8()
  const cookie = r.bytes(cookieLen)
  const encSI = r.bytes(48)
  const payLen = (r.u8() << 8) | r.u8()
  const encPI = r.bytes(payLen)
  if (!r.ok || r.remaining !== 0 || cookieLen !== COOKIE_SIZE) return { kind: 'drop', reason: 'malformed' }
  const plain = cookiePlain
  let issued: number, suite: CipherSuite | undefined, s: SymmetricState, sI: Uint8Array | null, se: Uint8Array | null
  try {
    if (!openCookieInto(plain, cookie, cookieKeys, sessionId, addrKey)) return { kind: 'drop', reason: 'bad-cookie' }
    issued = readU64(plain, 32 * 4 + 1)
    if (now - issued > maxCookieAgeMs || issued - now > 1000) return { kind: 'drop', reason: 'expired-cookie' }
    suite = SUITE_BY_ID[plain[32 * 4 + 9]!]
    if (!suite) return { kind: 'drop', reason: 'bad-cookie' }
    s = SymmetricState.restore(plain.slice(32, 64), plain.slice(64, 96), plain.slice(96, 128), plain[128]!)
    sI = s.decryptAndHash(encSI)
    // e_r is used once, from its raw bytes: its public key is already in the transcript, and
    // importing the key would derive it again (a scalar multiplication as costly as the DH).
    se = sI && x25519Once(plain.subarray(0, 32), sI)
  } finally {
    plain.fill(0) // e_r's private key and the chaining key, on every path
  }
  if (!sI) return { kind: 'drop', reason: 'auth' }
  if (!se) return { kind: 'drop', reason: 'bad-key' }
  s.mixKey(se)
  const plainPI = s.decryptAndHash(encPI)
  const decoded = plainPI && decodePayload(plainPI, false)
  if (!decoded) return { kind: 'drop', reason: 'auth' }
  const finalRandom = random(FINAL_RANDOM_SIZE)
  mixFinalRandom(s, finalRandom)
  const split = s.split()
  return {
    kind: 'ok',
    cookieNonce: cookie.slice(0, 12),
    cookieIssued: issued,
    result: {
      sessionId,
      suite,
      i2r: split.i2r,
      r2i: split.r2i,
      transcript: s.h,
      finalRandom,
      peerNodeId: nodeIdOf(sI),
      peerStaticKey: sI,
      peer: decoded.payload,
    },
  }
}
