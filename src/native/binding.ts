/**
 * TypeScript view of the stt_native addon (native/*.cc). Only src/native, src/crypto/native-aead.ts
 * and src/transport/udp-native.ts touch it; everything else goes through their typed wrappers,
 * which validate arguments first (the addon only asserts).
 *
 * Constants below mirror native/common.h. ABI_VERSION changes whenever this surface or a layout
 * changes; src/native/load.ts refuses an addon with another one.
 */

export const ABI_VERSION = 1

/** UdpSocket debug flags: force slow paths so tests reach them on any kernel. */
export const DebugFlag = {
  /** Never attach UDP_SEGMENT (GSO). */
  NO_GSO: 1,
  /** Never enable UDP_GRO. */
  NO_GRO: 2,
  /** recvmsg/sendmsg one datagram per syscall instead of recvmmsg/sendmmsg. */
  NO_MMSG: 4,
  /** Every send stops after its first message as if the socket said EAGAIN. */
  SEND_EAGAIN: 8,
  /** The first GSO send fails with EINVAL (exercises the sticky downgrade). */
  GSO_EINVAL: 16,
} as const

/** UdpSocket.caps() bits. */
export const Capability = { GSO: 1, GRO: 2, MMSG: 4, PKTINFO: 8 } as const

/**
 * Address record: 12 u32 (48 bytes) per received datagram, and the shape of a send destination.
 * Byte offsets of the 16-byte address fields are index * 4.
 */
export const Addr = {
  FAMILY: 0,
  PORT: 1,
  /** 16 raw bytes (IPv4: the first 4). */
  REMOTE: 2,
  /** The local address the peer sent to (valid when FLAGS & FLAG_LOCAL). */
  LOCAL: 6,
  IFINDEX: 10,
  FLAGS: 11,
  STRIDE: 12,
  FLAG_LOCAL: 1,
} as const

/** Indexes of the per-socket Float64Array of counters (native/common.h Stat). */
export const Stat = {
  PACKETS_RECEIVED: 0,
  BYTES_RECEIVED: 1,
  RECV_SYSCALLS: 2,
  GRO_SUPER_DATAGRAMS: 3,
  PACKETS_SENT: 4,
  BYTES_SENT: 5,
  SEND_SYSCALLS: 6,
  SEND_ERRORS: 7,
  SEND_EAGAIN: 8,
  DROPPED_TRUNCATED: 9,
  DROPPED_META_FULL: 10,
  RECV_ERRORS: 11,
  GSO_DISABLED_ERRNO: 12,
  RECV_CALLBACKS: 13,
  COUNT: 14,
} as const

/** Indexes of the Int32Array a send() fills (native/common.h SendResultIndex). */
export const SendResult = {
  PROCESSED: 0,
  SENT: 1,
  ERRORS: 2,
  LAST_ERRNO: 3,
  EAGAIN: 4,
  GSO_DISABLED: 5,
  COUNT: 6,
} as const

/** Receive slots are this large with or without GRO: any UDP datagram (and any GRO super-datagram) fits. */
export const RECV_SLOT_SIZE = 65536
/** Metadata entries one slot may need when GRO is on (native UdpCore::kMaxGroSegments). */
export const MAX_GRO_SEGMENTS = 128

export interface NativePacketKey {
  sealBatch(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, headerSize: number): number
  openBatch(
    slab: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
    headerSize: number,
    status: Uint8Array,
  ): number
  destroy(): void
}

export interface UdpOpenResult {
  errno: number
  port: number
  recvBufferSize: number
  sendBufferSize: number
  caps: number
}

export interface NativeUdpSocket {
  open(
    family: 4 | 6,
    addr: Uint8Array,
    port: number,
    recvBufferSize: number,
    sendBufferSize: number,
    gso: boolean,
    gro: boolean,
    debugFlags: number,
  ): UdpOpenResult
  setReceiveBuffers(slab: Uint8Array, slotSize: number, offsets: Uint32Array, lengths: Uint32Array, addrs: Uint32Array): void
  start(): void
  send(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, dest: Uint32Array): number
  armWritable(): void
  caps(): number
  setRef(ref: boolean): void
  close(): boolean
}

/** Callbacks are invoked with `ctx` as `this` (prototype methods, no per-call closures). */
export interface NativeUdpSocketConstructor {
  new <C extends object>(
    ctx: C,
    onRecv: (this: C, count: number) => void,
    onWritable: (this: C) => void,
    onClose: (this: C) => void,
    stats: Float64Array,
    sendResult: Int32Array,
  ): NativeUdpSocket
  /** Process-wide number of open native poll handles (leak checks). */
  liveHandles(): number
}

export interface NativeBinding {
  ABI_VERSION: number
  PROTOCOL_VERSION: number
  HEADER_SIZE: number
  PN_OFFSET: number
  KEY_SIZE: number
  IV_SIZE: number
  TAG_SIZE: number
  ADDR_STRIDE: number
  STAT_COUNT: number
  SEND_RESULT_COUNT: number
  PacketKey: new (suiteId: number, key: Uint8Array, iv: Uint8Array) => NativePacketKey
  /** One packet, explicit 12-byte nonce (known-answer tests). Data is sealed in place. */
  aeadSealOne(suiteId: number, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tagOut: Uint8Array): boolean
  /** One packet, explicit nonce; data is decrypted in place when the tag verifies. */
  aeadOpenOne(suiteId: number, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tag: Uint8Array): boolean
  /** Linux only (absent elsewhere: the addon is built without the UDP socket). */
  UdpSocket?: NativeUdpSocketConstructor
  /** Parses an IP literal into 16 bytes; returns 4, 6 or 0 (not a literal). Linux only. */
  addrParse?(text: string, out: Uint8Array): number
  /** Canonical text of a 4- or 16-byte address. Linux only. */
  addrFormat?(family: number, bytes: Uint8Array): string
}
