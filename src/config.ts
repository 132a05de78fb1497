/**
 * Node options: defaults, units and validation. Defaults follow the STT manual's appendix C
 * where it names one (handshake 10 s, keep-alive 10 s / 30 s, 256 streams, 100 sessions).
 */
import type { CipherSuite } from './crypto/aead.js'
import { STTConfigError } from './errors.js'
import { MAX_NAME_BYTES } from './protocol/handshake.js'
import { MIN_SEED_BYTES } from './protocol/identity.js'
import { MAX_PACKETS_PER_KEY } from './protocol/aead-limits.js'
import { DEFAULT_RESUME_TIMEOUT, MAX_RESUME_TIMEOUT } from './protocol/suspension.js'

export interface ProtocolConfig {
  /** Group secret (>= 32 bytes): only holders can complete a handshake. */
  sharedSeed: Uint8Array
  /** This node's identity seed (>= 32 bytes); random when omitted (a fresh identity per run). */
  nodeSeed: Uint8Array
  /** Human label sent to peers inside the encrypted handshake (<= 64 UTF-8 bytes). */
  name: string
  /** Cipher suites in preference order (the initiator's order wins). */
  ciphers: CipherSuite[]
  handshakeTimeout: number
  /** First handshake retransmission after this many ms; doubles each time (capped at 1 s). */
  handshakeRetryInitial: number
  keepAliveInterval: number
  keepAliveTimeout: number
  maxSessions: number
  maxConcurrentStreams: number
  /** Largest UDP payload STT sends (1472 = Ethernet 1500 - IPv4 20 - UDP 8). */
  maxPacketSize: number
  /** The same over IPv6: 1452 (40-byte IP header) unless maxPacketSize was set explicitly. */
  ipv6PacketSize: number
  /**
   * Largest packet over reliable, message-based transports (WebSocket): TCP segments for us,
   * so packets need not fit a path MTU, and larger ones cost far less per byte.
   */
  reliablePacketSize: number
  /** Per-stream receive window (bytes of credit per stream). */
  streamReceiveWindow: number
  /** Session-wide receive window. */
  sessionReceiveWindow: number
  /** Buffered, unacknowledged bytes per stream before write() returns false (the floor; it follows 2 x cwnd). */
  streamSendBuffer: number
  /**
   * Per-session bound on auto-tuned windows: receive windows (stream and session) double
   * while the reader keeps up with them, and send buffers follow 2 x cwnd, up to this many
   * bytes (flow-autotune.ts). 64 MiB carries 1 Gbit/s x 100 ms with credit to spare.
   */
  sessionMemoryLimit: number
  maxMessageSize: number
  /** Congestion controller: BBRv3 (default), CUBIC or NewReno. Per connect too (ConnectOptions). */
  congestionControl: 'bbr' | 'newreno' | 'cubic'
  /**
   * Key update after this many packets in one direction: at most 2^23, AES-GCM's limit for
   * 64 KiB packets (RFC 9001 §6.6); AES-GCM sessions with larger packets update sooner
   * (protocol/aead-limits.ts).
   */
  rekeyAfterPackets: number
  /** Key update after this many ms. */
  rekeyAfterMs: number
  /** Max accepted clock skew of a HELLO timestamp, ms. */
  helloMaxSkew: number
  /** Handshakes per second above which HELLOs must carry an address-validation token. */
  retryThreshold: number
  /** Don't tell non-members that their seed was wrong (they then time out). */
  stealth: boolean
  /** Datagrams queued for sending per session before sendDatagram() drops the oldest. */
  maxQueuedDatagrams: number
  /**
   * Not an option: lowers the suites' AEAD integrity limits (2^52 / 2^36 failed decryptions)
   * so tests can reach them. resolveProtocolConfig never sets it.
   */
  integrityLimitOverride?: number
  /**
   * A session whose peer is silent past keepAliveTimeout (or whose connection dropped) is
   * suspended instead of closed, and resumes when the peer is heard again (suspension.ts).
   */
  resumable: boolean
  /** How long a suspended session waits before it closes with STT_SESSION_EXPIRED (ms, <= 24 h). */
  resumeTimeout: number
}

export const DEFAULTS: Omit<ProtocolConfig, 'sharedSeed' | 'nodeSeed'> = {
  name: '',
  ciphers: ['aes-256-gcm', 'chacha20-poly1305'],
  handshakeTimeout: 10_000,
  handshakeRetryInitial: 250,
  keepAliveInterval: 10_000,
  keepAliveTimeout: 30_000,
  maxSessions: 100,
  maxConcurrentStreams: 256,
  maxPacketSize: 1472,
  ipv6PacketSize: 1452,
  reliablePacketSize: 65_536,
  streamReceiveWindow: 4 << 20,
  sessionReceiveWindow: 16 << 20,
  streamSendBuffer: 4 << 20,
  sessionMemoryLimit: 64 << 20,
  maxMessageSize: 16 << 20,
  // BBR: random loss and reordering are not read as congestion (issue 9; test/sim/bbr.test.ts).
  congestionControl: 'bbr',
  rekeyAfterPackets: MAX_PACKETS_PER_KEY,
  rekeyAfterMs: 10 * 60_000,
  helloMaxSkew: 60_000,
  retryThreshold: 200,
  stealth: false,
  maxQueuedDatagrams: 256,
  resumable: true,
  resumeTimeout: DEFAULT_RESUME_TIMEOUT,
}

export function toBytes(v: unknown, what: string): Uint8Array {
  if (v instanceof Uint8Array) return new Uint8Array(v)
  if (typeof v === 'string') {
    if (/^[0-9a-fA-F]+$/.test(v) && v.length % 2 === 0) {
      // Decoded straight into memory of its own: Buffer.from(v, 'hex') would leave a copy of
      // the seed in Buffer's shared pool, readable through any other pooled Buffer's .buffer.
      const out = new Uint8Array(v.length / 2)
      Buffer.from(out.buffer).write(v, 'hex')
      return out
    }
    throw new STTConfigError(`${what} must be bytes (Uint8Array/Buffer) or a hex string`)
  }
  throw new STTConfigError(`${what} must be bytes (Uint8Array/Buffer) or a hex string`)
}

function positiveInt(v: unknown, name: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new STTConfigError(`${name} must be an integer between ${min} and ${max} (got ${String(v)})`)
  }
  return v
}

/** Validates a congestionControl option (node or connect). */
export function congestionControlOption(v: unknown): ProtocolConfig['congestionControl'] {
  if (v !== 'bbr' && v !== 'newreno' && v !== 'cubic') throw new STTConfigError(`congestionControl must be 'bbr', 'cubic' or 'newreno' (got ${String(v)})`)
  return v
}

/** Validates user options into a complete ProtocolConfig; throws STTConfigError naming the bad option. */
export function resolveProtocolConfig(o: Record<string, unknown>, random: (n: number) => Uint8Array): ProtocolConfig {
  if (o.sharedSeed === undefined) throw new STTConfigError('sharedSeed is required (32 random bytes shared by the group; see generateSeed())')
  const sharedSeed = toBytes(o.sharedSeed, 'sharedSeed')
  if (sharedSeed.length < MIN_SEED_BYTES) throw new STTConfigError(`sharedSeed must be at least ${MIN_SEED_BYTES} bytes (got ${sharedSeed.length})`)
  const nodeSeed = o.nodeSeed === undefined ? random(32) : toBytes(o.nodeSeed, 'nodeSeed')
  if (nodeSeed.length < MIN_SEED_BYTES) throw new STTConfigError(`nodeSeed must be at least ${MIN_SEED_BYTES} bytes (got ${nodeSeed.length})`)
  const c: ProtocolConfig = { ...DEFAULTS, sharedSeed, nodeSeed }
  if (o.name !== undefined) {
    if (typeof o.name !== 'string' || Buffer.byteLength(o.name) > MAX_NAME_BYTES) throw new STTConfigError(`name must be a string of at most ${MAX_NAME_BYTES} UTF-8 bytes`)
    c.name = o.name
  }
  const cipher = o.cipher ?? o.ciphers
  if (cipher !== undefined) {
    const list = Array.isArray(cipher) ? cipher : [cipher]
    for (const s of list) {
      if (s !== 'aes-256-gcm' && s !== 'chacha20-poly1305') throw new STTConfigError(`cipher must be 'aes-256-gcm' or 'chacha20-poly1305' (got ${String(s)})`)
    }
    if (list.length === 0) throw new STTConfigError('cipher list is empty')
    c.ciphers = list as CipherSuite[]
  }
  const ints: Array<[keyof ProtocolConfig, number, number]> = [
    ['handshakeTimeout', 100, 600_000],
    ['handshakeRetryInitial', 10, 60_000],
    ['keepAliveInterval', 50, 3_600_000],
    ['keepAliveTimeout', 100, 86_400_000],
    ['maxSessions', 1, 1_000_000],
    ['maxConcurrentStreams', 1, 1 << 20],
    ['maxPacketSize', 1200, 65_507],
    ['reliablePacketSize', 1200, 1 << 20],
    ['streamReceiveWindow', 16_384, 1 << 30],
    ['sessionReceiveWindow', 16_384, 2 ** 40],
    ['streamSendBuffer', 16_384, 1 << 30],
    ['sessionMemoryLimit', 16_384, 2 ** 40],
    ['maxMessageSize', 1, 1 << 30],
    ['rekeyAfterPackets', 16, MAX_PACKETS_PER_KEY],
    ['rekeyAfterMs', 1_000, 2 ** 40],
    ['helloMaxSkew', 1_000, 86_400_000],
    ['retryThreshold', 0, 1 << 30],
    ['maxQueuedDatagrams', 1, 1 << 20],
    ['resumeTimeout', 1_000, MAX_RESUME_TIMEOUT],
  ]
  for (const [k, min, max] of ints) {
    if (o[k] !== undefined) (c as unknown as Record<string, number>)[k] = positiveInt(o[k], k, min, max)
  }
  if (o.maxPacketSize !== undefined) c.ipv6PacketSize = c.maxPacketSize
  if (c.keepAliveTimeout <= c.keepAliveInterval) throw new STTConfigError('keepAliveTimeout must be larger than keepAliveInterval')
  if (o.congestionControl !== undefined) c.congestionControl = congestionControlOption(o.congestionControl)
  if (o.stealth !== undefined) c.stealth = Boolean(o.stealth)
  if (o.resumable !== undefined) c.resumable = resumableOption(o.resumable)
  return c
}

/** Validates a resumable option (node or connect). */
export function resumableOption(v: unknown): boolean {
  if (typeof v !== 'boolean') throw new STTConfigError(`resumable must be true or false (got ${String(v)})`)
  return v
}

/** Validates connect()'s resume / requireResume (the token's contents are checked by the endpoint). */
export function resumeOptions(o: { resume?: unknown; requireResume?: unknown }): { resume?: Uint8Array; requireResume?: boolean } {
  if (o.resume !== undefined && !(o.resume instanceof Uint8Array)) throw new STTConfigError('resume must be the bytes of a session.resumptionToken')
  if (o.requireResume !== undefined && typeof o.requireResume !== 'boolean') throw new STTConfigError('requireResume must be true or false')
  if (o.requireResume && o.resume === undefined) throw new STTConfigError('requireResume needs a resume token')
  return { resume: o.resume as Uint8Array | undefined, requireResume: o.requireResume as boolean | undefined }
}

/** Validates a resumeTimeout option (node or connect): ms, 1 s to 24 h. */
export function resumeTimeoutOption(v: unknown): number {
  return positiveInt(v, 'resumeTimeout', 1_000, MAX_RESUME_TIMEOUT)
}
