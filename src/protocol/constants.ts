/**
 * Wire constants of STT protocol version 1 (docs/PROTOCOL.md). Spec values only: tunables
 * (timeouts, limits) live in src/config.ts.
 */

export const PROTOCOL_VERSION = 1
/** Versions this implementation speaks, in preference order. */
export const SUPPORTED_VERSIONS: readonly number[] = [1]

// Packet header (§2): version u8 | type u8 | flags u8 | session id 8B | packet number u64 BE
export const VERSION_OFFSET = 0
export const TYPE_OFFSET = 1
export const FLAGS_OFFSET = 2
export const SESSION_ID_OFFSET = 3
export const SESSION_ID_SIZE = 8
export const PN_OFFSET = 11
export const HEADER_SIZE = 19

/** Packet types (header byte 1). Frame types use the same numbering where they overlap. */
export const PacketType = {
  HELLO: 0x01,
  CHALLENGE: 0x02,
  AUTH_PROOF: 0x03,
  FINAL: 0x04,
  /** A protected packet carrying frames (STT's DATA). */
  DATA: 0x10,
  /** Handshake-phase error (cleartext, see §3.6). */
  ERROR: 0xff,
} as const

/** Header flag bits. */
export const HeaderFlag = {
  /** Protected packets: which of the two current keys sealed this packet (§4.3). */
  KEY_PHASE: 0x01,
  /** CHALLENGE: this is an address-validation retry, not a real challenge (§3.3). */
  RETRY: 0x02,
} as const

/** Frame types inside protected packets (§5). */
export const FrameType = {
  PADDING: 0x00,
  DATA: 0x10,
  ACK: 0x11,
  NACK: 0x12,
  KEEP_ALIVE: 0x13,
  KEEP_ALIVE_ACK: 0x14,
  STREAM_OPEN: 0x20,
  STREAM_CLOSE: 0x21,
  STREAM_FIN: 0x22,
  STREAM_CREDIT: 0x23,
  SESSION_CREDIT: 0x24,
  STREAMS_CREDIT: 0x25,
  SESSION_CLOSE: 0x30,
  ERROR: 0xff,
} as const

/** Application-defined frame types: 0x80..0xFE (§5.12). */
export const APP_FRAME_MIN = 0x80
export const APP_FRAME_MAX = 0xfe

/** DATA frame flags (§5.2). */
export const DataFlag = {
  /** Unreliable datagram: no stream id, no offset. (Message streams are marked by the stream key.) */
  DATAGRAM: 0x01,
} as const

export const AEAD_TAG_SIZE = 16
/** Smallest HELLO datagram (padded): bounds what a responder may send back (3x rule). */
export const HELLO_MIN_SIZE = 256
export const HELLO_MAC_SIZE = 16
/** Anti-amplification factor for unvalidated addresses (§3). */
export const AMPLIFICATION_FACTOR = 3
