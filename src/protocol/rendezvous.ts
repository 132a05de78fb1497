/**
 * Rendezvous and relay wire formats (docs/PROTOCOL.md §8). Sans-I/O: codecs only.
 *
 * Two things travel here:
 * - **Control messages** between a member and its relay, carried as ordinary STT messages on
 *   message stream RENDEZVOUS_STREAM_ID of the member's authenticated session with the relay
 *   (so only holders of the shared seed can register, look up, or ask to be introduced).
 * - **Relay envelopes**: `version u8 | type RELAY u8 | flags u8 | channel id (8)` followed by
 *   one whole STT packet of the two members' end-to-end session. The relay reads only this
 *   11-byte envelope; what follows is the members' own (encrypted, authenticated) packet.
 */
import { PROTOCOL_VERSION } from './wire-constants.js'

/** Packet type byte of a relay envelope (header byte 1; no STT packet type uses it). */
export const RELAY_PACKET_TYPE = 0x20
/** Envelope bytes in front of the relayed packet. */
export const RELAY_HEADER_SIZE = 11
export const CHANNEL_ID_SIZE = 8
/** The message stream of a member's session with its relay that carries control messages. */
export const RENDEZVOUS_STREAM_ID = 0x3fff_fff0
/**
 * REGISTER and CONNECT are padded to this size: every punch packet a member sends because of
 * an introduction is bounded by 3x the padded request that caused it (the 3x rule, §8.5).
 */
export const PADDED_REQUEST_SIZE = 1200
/** Candidates per member a relay passes on (bounds punches per introduction). */
export const MAX_CANDIDATES = 8

export enum ControlType {
  REGISTER = 1,
  REGISTERED = 2,
  CONNECT = 3,
  CONNECT_OK = 4,
  REFUSED = 5,
  INTRODUCE = 6,
  CHANNEL_CLOSED = 7,
  PING = 8,
  PONG = 9,
  /** member → relay: the sender is done with a channel it is on (§8.3). */
  CHANNEL_CLOSE = 10,
}

export enum CandidateKind {
  HOST = 1,
  REFLEXIVE = 2,
}

/** Why a relay refused a CONNECT (u8 on the wire). */
export const RefusalReason = {
  UNKNOWN_PEER: 1,
  MEMBER_LIMIT: 2,
  TOTAL_LIMIT: 3,
  PEER_LIMIT: 4,
  NOT_REGISTERED: 5,
  SELF: 6,
  /** The dialler already has 2 introductions to this peer that the peer has not answered. */
  PENDING_LIMIT: 7,
} as const
export type RefusalReason = (typeof RefusalReason)[keyof typeof RefusalReason]

export interface Candidate {
  kind: CandidateKind
  host: string
  port: number
}

export type ControlMessage =
  | { type: ControlType.REGISTER; candidates: Candidate[] }
  | { type: ControlType.REGISTERED; reflexive: Candidate }
  | { type: ControlType.CONNECT; requestId: number; target: Uint8Array }
  | { type: ControlType.CONNECT_OK; requestId: number; channel: Uint8Array; candidates: Candidate[] }
  | { type: ControlType.REFUSED; requestId: number; reason: RefusalReason }
  | { type: ControlType.INTRODUCE; channel: Uint8Array; peer: Uint8Array; candidates: Candidate[] }
  | { type: ControlType.CHANNEL_CLOSED; channel: Uint8Array }
  | { type: ControlType.PING; seq: number }
  | { type: ControlType.PONG; seq: number; reflexive: Candidate }
  | { type: ControlType.CHANNEL_CLOSE; channel: Uint8Array }

// ---------------------------------------------------------------------------------------
// Candidates: kind u8 | family u8 (4 | 6) | address (4 | 16) | port u16
// ---------------------------------------------------------------------------------------

function ipv4Bytes(host: string): number[] | null {
  const parts = host.split('.')
  if (parts.length !== 4) return null
  const out: number[] = []
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null
    out.push(Number(p))
  }
  return out
}

function ipv6Bytes(host: string): number[] | null {
  const h = host.replace(/^\[|\]$/g, '').replace(/%.*$/, '')
  const halves = h.split('::')
  if (halves.length > 2) return null
  const groups = (s: string) => (s === '' ? [] : s.split(':'))
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  const fill = 8 - head.length - tail.length
  if ((halves.length === 1 && fill !== 0) || fill < 0) return null
  const all = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill('0'), ...tail]
  const out: number[] = []
  for (const g of all) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return null
    const v = parseInt(g, 16)
    out.push(v >> 8, v & 0xff)
  }
  return out
}

/** RFC 5952 text: the longest run (of two or more) of zero groups becomes '::'. */
function compressIpv6(g: string[]): string {
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    let j = i
    while (j < 8 && g[j] === '0') j++
    if (j - i > bestLen) {
      best = i
      bestLen = j - i
    }
    i = j === i ? i + 1 : j
  }
  if (best < 0) return g.join(':')
  return `${g.slice(0, best).join(':')}::${g.slice(best + bestLen).join(':')}`
}

/**
 * Where a candidate address can be meant (§8.5): `unusable` nowhere (unspecified, multicast,
 * broadcast and reserved IPv4, port 0), `loopback` and `link-local` only on the same host or
 * link. A punch at any of these would be reflected at a victim: the puncher's own host,
 * every host of a group, or a neighbour.
 */
export type AddressScope = 'unusable' | 'loopback' | 'link-local' | 'global'

export function addressScope(host: string): AddressScope {
  let v4 = ipv4Bytes(host.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1'))
  if (!v4) {
    const v6 = ipv6Bytes(host)
    if (!v6) return 'unusable'
    // IPv4-mapped (::ffff:a.b.c.d written in hex groups): the IPv4 rules apply.
    if (v6.slice(0, 10).every((x) => x === 0) && v6[10] === 0xff && v6[11] === 0xff) v4 = v6.slice(12)
    else {
      if (v6.every((x) => x === 0)) return 'unusable'
      if (v6.slice(0, 15).every((x) => x === 0) && v6[15] === 1) return 'loopback'
      if (v6[0] === 0xff) return 'unusable'
      if (v6[0] === 0xfe && (v6[1]! & 0xc0) === 0x80) return 'link-local'
      return 'global'
    }
  }
  const [a, b] = v4 as [number, number]
  if (a === 0 || a >= 224) return 'unusable' // this network, multicast, reserved, broadcast
  if (a === 127) return 'loopback'
  if (a === 169 && b === 254) return 'link-local'
  return 'global'
}

/**
 * The candidates that may be punched by a node that reaches the other side (the relay, or the
 * recipient of an introduction) at `via`: never unusable ones, loopback only when `via` is
 * loopback itself (everyone on one host), IPv6 link-local never (the wire has no zone), IPv4
 * link-local only when `via` is link-local too.
 */
export function punchableCandidates(cs: readonly Candidate[], via: string): Candidate[] {
  const scope = addressScope(via)
  return cs.filter((c) => {
    if (c.port === 0) return false
    const s = addressScope(c.host)
    if (s === 'global') return true
    if (s === 'unusable') return false
    if (s === 'link-local' && c.host.includes(':')) return false
    return s === scope
  })
}

export function candidateSize(c: Candidate): number {
  return c.host.includes(':') ? 20 : 8
}

function writeCandidate(out: number[], c: Candidate): void {
  const v4 = ipv4Bytes(c.host)
  const bytes = v4 ?? ipv6Bytes(c.host)
  if (!bytes) throw new RangeError(`not an IP address: ${c.host}`)
  out.push(c.kind, v4 ? 4 : 6, ...bytes, (c.port >> 8) & 0xff, c.port & 0xff)
}

function readCandidate(b: Uint8Array, pos: number): [Candidate, number] | null {
  if (pos + 2 > b.length) return null
  const kind = b[pos]!
  const fam = b[pos + 1]!
  if (kind !== CandidateKind.HOST && kind !== CandidateKind.REFLEXIVE) return null
  const n = fam === 4 ? 4 : fam === 6 ? 16 : 0
  if (n === 0 || pos + 2 + n + 2 > b.length) return null
  const a = b.subarray(pos + 2, pos + 2 + n)
  let host: string
  if (fam === 4) host = [...a].join('.')
  else {
    const g: string[] = []
    for (let i = 0; i < 16; i += 2) g.push(((a[i]! << 8) | a[i + 1]!).toString(16))
    host = compressIpv6(g)
  }
  const port = (b[pos + 2 + n]! << 8) | b[pos + 3 + n]!
  return [{ kind: kind as CandidateKind, host, port }, pos + 4 + n]
}

function writeCandidates(out: number[], cs: Candidate[]): void {
  const list = cs.slice(0, MAX_CANDIDATES)
  out.push(list.length)
  for (const c of list) writeCandidate(out, c)
}

function readCandidates(b: Uint8Array, pos: number): [Candidate[], number] | null {
  if (pos >= b.length) return null
  const n = b[pos++]!
  if (n > MAX_CANDIDATES) return null
  const out: Candidate[] = []
  for (let i = 0; i < n; i++) {
    const r = readCandidate(b, pos)
    if (!r) return null
    out.push(r[0])
    pos = r[1]
  }
  return [out, pos]
}

// ---------------------------------------------------------------------------------------
// Control messages: type u8 | body | zero padding (REGISTER, CONNECT)
// ---------------------------------------------------------------------------------------

/** A plain Uint8Array copy (a Buffer's slice would stay a Buffer). */
function copy(b: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(b.subarray(start, end))
}

function u32(out: number[], v: number): void {
  out.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff)
}

function readU32(b: Uint8Array, pos: number): number {
  return ((b[pos]! << 24) | (b[pos + 1]! << 16) | (b[pos + 2]! << 8) | b[pos + 3]!) >>> 0
}

export function encodeControl(m: ControlMessage): Uint8Array {
  const out: number[] = [m.type]
  switch (m.type) {
    case ControlType.REGISTER:
      writeCandidates(out, m.candidates)
      break
    case ControlType.REGISTERED:
      writeCandidate(out, m.reflexive)
      break
    case ControlType.CONNECT:
      u32(out, m.requestId)
      out.push(...m.target)
      break
    case ControlType.CONNECT_OK:
      u32(out, m.requestId)
      out.push(...m.channel)
      writeCandidates(out, m.candidates)
      break
    case ControlType.REFUSED:
      u32(out, m.requestId)
      out.push(m.reason)
      break
    case ControlType.INTRODUCE:
      out.push(...m.channel, ...m.peer)
      writeCandidates(out, m.candidates)
      break
    case ControlType.CHANNEL_CLOSED:
    case ControlType.CHANNEL_CLOSE:
      out.push(...m.channel)
      break
    case ControlType.PING:
      u32(out, m.seq)
      break
    case ControlType.PONG:
      u32(out, m.seq)
      writeCandidate(out, m.reflexive)
      break
  }
  const padded = m.type === ControlType.REGISTER || m.type === ControlType.CONNECT
  const b = new Uint8Array(padded ? Math.max(out.length, PADDED_REQUEST_SIZE) : out.length)
  b.set(out)
  return b
}

/**
 * REGISTER and CONNECT shorter than PADDED_REQUEST_SIZE: the padding that pays for the punches
 * they cause is missing (the relay drops and counts them, 'control-unpadded').
 */
export function isUnpaddedRequest(b: Uint8Array): boolean {
  return b.length >= 1 && (b[0] === ControlType.REGISTER || b[0] === ControlType.CONNECT) && b.length < PADDED_REQUEST_SIZE
}

/** Decodes one control message; null when malformed or unpadded (the caller drops and counts it). */
export function decodeControl(b: Uint8Array): ControlMessage | null {
  if (b.length < 1 || isUnpaddedRequest(b)) return null
  const type = b[0]!
  const pos = 1
  switch (type) {
    case ControlType.REGISTER: {
      const r = readCandidates(b, pos)
      return r ? { type, candidates: r[0] } : null
    }
    case ControlType.REGISTERED: {
      const r = readCandidate(b, pos)
      return r ? { type, reflexive: r[0] } : null
    }
    case ControlType.CONNECT:
      if (b.length < pos + 4 + 32) return null
      return { type, requestId: readU32(b, pos), target: copy(b, pos + 4, pos + 36) }
    case ControlType.CONNECT_OK: {
      if (b.length < pos + 4 + CHANNEL_ID_SIZE) return null
      const requestId = readU32(b, pos)
      const channel = copy(b, pos + 4, pos + 4 + CHANNEL_ID_SIZE)
      const r = readCandidates(b, pos + 4 + CHANNEL_ID_SIZE)
      return r ? { type, requestId, channel, candidates: r[0] } : null
    }
    case ControlType.REFUSED:
      if (b.length < pos + 5) return null
      return { type, requestId: readU32(b, pos), reason: b[pos + 4]! as RefusalReason }
    case ControlType.INTRODUCE: {
      if (b.length < pos + CHANNEL_ID_SIZE + 32) return null
      const channel = copy(b, pos, pos + CHANNEL_ID_SIZE)
      const peer = copy(b, pos + CHANNEL_ID_SIZE, pos + CHANNEL_ID_SIZE + 32)
      const r = readCandidates(b, pos + CHANNEL_ID_SIZE + 32)
      return r ? { type, channel, peer, candidates: r[0] } : null
    }
    case ControlType.CHANNEL_CLOSED:
    case ControlType.CHANNEL_CLOSE:
      if (b.length < pos + CHANNEL_ID_SIZE) return null
      return { type, channel: copy(b, pos, pos + CHANNEL_ID_SIZE) }
    case ControlType.PING:
      if (b.length < pos + 4) return null
      return { type, seq: readU32(b, pos) }
    case ControlType.PONG: {
      if (b.length < pos + 4) return null
      const r = readCandidate(b, pos + 4)
      return r ? { type, seq: readU32(b, pos), reflexive: r[0] } : null
    }
    default:
      return null
  }
}

// ---------------------------------------------------------------------------------------
// Relay envelope
// ---------------------------------------------------------------------------------------

/** True when datagram [off, off+len) of `slab` is a relay envelope with a packet inside. */
export function isRelayEnvelope(slab: Uint8Array, off: number, len: number): boolean {
  return len > RELAY_HEADER_SIZE && slab[off + 1] === RELAY_PACKET_TYPE
}

/** Writes the envelope for `channel` at `off` (the relayed packet follows at off + 11). */
export function writeRelayHeader(buf: Uint8Array, off: number, channel: Uint8Array): void {
  buf[off] = PROTOCOL_VERSION
  buf[off + 1] = RELAY_PACKET_TYPE
  buf[off + 2] = 0
  buf.set(channel, off + 3)
}

/** The channel id of the envelope at `off`, as a map key (hex). */
export function relayChannelKey(slab: Uint8Array, off: number): string {
  let s = ''
  for (let i = 0; i < CHANNEL_ID_SIZE; i++) s += slab[off + 3 + i]!.toString(16).padStart(2, '0')
  return s
}

export function channelHex(channel: Uint8Array): string {
  return Buffer.from(channel).toString('hex')
}
