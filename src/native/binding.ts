/**
 * TypeScript view of the stt_native addon (native/*.cc). Only src/native, src/crypto/native-aead.ts
 * and src/transport/udp-native.ts touch it; everything else goes through their typed wrappers,
 * which validate arguments first (the addon only asserts).
 *
 * The constants are generated (abi-constants.ts, native/wire_constants.h). ABI_VERSION changes
 * whenever this surface or a layout changes; src/native/load.ts refuses an addon with another one.
 */

// Layouts, indexes and flags shared with native/*.cc, from scripts/wire-constants.json.
export { ABI_VERSION, Addr, Capability, DebugFlag, MAX_GRO_SEGMENTS, RECV_SLOT_SIZE, SendResult, Stat } from './abi-constants.js'

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
  /** Handle for sealBatchById / openBatchById (-1 once destroyed). Optional: newer addons. */
  id?(): number
  destroy(): void
  /**
   * Test only (never called by src/: an explicit nonce is the caller's to keep unique): one
   * packet with an explicit 12-byte nonce through this key's per-packet path (native
   * AeadKey::SealOne / OpenOne), data in place; false on failure / a tag that does not verify.
   * Optional: newer addons.
   */
  testSealOne?(nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tagOut: Uint8Array): boolean
  testOpenOne?(nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tag: Uint8Array): boolean
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
    /** A bound socket to use a dup of (reuseport group member, src/workers/reuseport-group.ts); -1: bind a new one. */
    adoptFd?: number,
  ): UdpOpenResult
  setReceiveBuffers(slab: Uint8Array, slotSize: number, offsets: Uint32Array, lengths: Uint32Array, addrs: Uint32Array): void
  start(): void
  send(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, dest: Uint32Array): number
  /** send() of the one datagram at slab[offset, offset + length) (no arrays to look up). Optional: newer addons. */
  sendOne?(slab: Uint8Array, offset: number, length: number, dest: Uint32Array): number
  /** Handle for udpSendOne while open (-1 before open and once closing). Optional: newer addons. */
  id?(): number
  /** As send, datagram i to the address record at dests[i * Addr.STRIDE] (ABI 4). */
  sendMulti(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, dests: Uint32Array): number
  armWritable(): void
  caps(): number
  setRef(ref: boolean): void
  close(): boolean
}

/** Callbacks are invoked with `ctx` as `this` (prototype methods, no per-call closures). */
export interface NativeUdpSocketConstructor {
  new <C extends object>(
    ctx: C,
    /**
     * backlog: 1 when the round filled every receive slot (the socket may hold more); receivedAt:
     * uv_hrtime in ms when the batch was read (hrtimeMs' clock). Older addons pass only count.
     */
    onRecv: (this: C, count: number, backlog?: number, receivedAt?: number) => void,
    onWritable: (this: C) => void,
    onClose: (this: C) => void,
    stats: Float64Array,
    sendResult: Int32Array,
  ): NativeUdpSocket
  /** Process-wide number of open native poll handles (leak checks). */
  liveHandles(): number
}

/** An X25519 private key held in OpenSSL memory (native/handshake_crypto.h); opaque to JavaScript. */
export interface NativeX25519Key {
  /** Writes the 32-byte public key; false only if OpenSSL fails. */
  publicKey(out: Uint8Array): boolean
  /** X25519(this, peer) into `out`; false on failure or an all-zero (low-order) result, `out` then zeroed. */
  dh(peer: Uint8Array, out: Uint8Array): boolean
  /** Frees and cleanses the key now rather than at garbage collection. */
  destroy(): void
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
  /**
   * PacketKey.sealBatch / openBatch of the live key with this id (NativePacketKey.id()), found
   * without unwrapping an object; -1 when no live key has the id. Optional: newer addons.
   */
  sealBatchById?(id: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, headerSize: number): number
  openBatchById?(id: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, headerSize: number, status: Uint8Array): number
  /**
   * sealBatchById / openBatchById of the one packet at slab[offset, offset + length): 1 sealed
   * or authenticated, 0 not, -1 no live key with the id. Optional: newer addons.
   */
  sealOneById?(id: number, slab: Uint8Array, offset: number, length: number, headerSize: number): number
  openOneById?(id: number, slab: Uint8Array, offset: number, length: number, headerSize: number): number
  /** UdpSocket.sendOne of the open socket with this id (NativeUdpSocket.id()); -1 when none. Optional: newer addons. */
  udpSendOne?(id: number, slab: Uint8Array, offset: number, length: number, dest: Uint32Array): number
  /** One packet, explicit 12-byte nonce (known-answer tests). Data is sealed in place. */
  aeadSealOne(suiteId: number, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tagOut: Uint8Array): boolean
  /** One packet, explicit nonce; data is decrypted in place when the tag verifies. */
  aeadOpenOne(suiteId: number, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tag: Uint8Array): boolean
  /**
   * Which way this process's packet keys of the suite seal and open (native PacketKeyPath):
   * 'provider' (direct calls into OpenSSL's own provider, after a self-test), 'evp' (the
   * fallback; always with STT_NATIVE_AEAD_EVP=1 at load), '' for an unknown suite. Optional: newer.
   */
  aeadPacketPath?(suiteId: number): 'provider' | 'evp' | ''
  /**
   * Handshake primitives (native/handshake_crypto_napi.cc). Optional: an addon built before they
   * existed still loads, and src/crypto/handshake-crypto.ts then uses node:crypto for them.
   */
  X25519Key?: new (priv: Uint8Array) => NativeX25519Key
  /**
   * X25519(priv, peer) into `out` from 32 raw private bytes, without deriving their public key
   * (X25519Key does, a second scalar multiplication); false as for X25519Key.dh. Optional: newer.
   */
  x25519Once?(priv: Uint8Array, peer: Uint8Array, out: Uint8Array): boolean
  /**
   * A key pair from 32 raw private bytes: its public key into `pub` and X25519(priv, peer) into
   * `out`, no key object kept; false as for X25519Key.dh. Optional: newer.
   */
  x25519Ephemeral?(priv: Uint8Array, peer: Uint8Array, pub: Uint8Array, out: Uint8Array): boolean
  /** HKDF-SHA256 into `out` (its length is the output length, 1..8160); false on failure. */
  hkdfSha256?(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, out: Uint8Array): boolean
  hmacSha256?(key: Uint8Array, data: Uint8Array, out: Uint8Array): boolean
  sha256?(data: Uint8Array, out: Uint8Array): boolean
  /** SHA3-256 into `out` (32 bytes); false on failure. Optional: newer. */
  sha3_256?(data: Uint8Array, out: Uint8Array): boolean
  /** Linux only (absent elsewhere: the addon is built without the UDP socket). */
  UdpSocket?: NativeUdpSocketConstructor
  /** Parses an IP literal into 16 bytes; returns 4, 6 or 0 (not a literal). Linux only. */
  addrParse?(text: string, out: Uint8Array): number
  /** Canonical text of a 4- or 16-byte address. Linux only. */
  addrFormat?(family: number, bytes: Uint8Array): string
  /** uv_hrtime() in ms, the clock of onRecv's receivedAt (src/clock.ts offsetOf). Linux only; newer addons. */
  hrtimeMs?(): number
  /**
   * Binds `count` SO_REUSEPORT sockets in order and attaches the session-id steering program
   * (native/reuseport_cbpf.cc). Linux only; the addon may predate it.
   */
  reuseportGroupOpen?(family: 4 | 6, addr: Uint8Array, port: number, count: number, steerOffset: number): ReuseportGroupResult
  reuseportGroupClose?(fds: number[]): void
}

export interface ReuseportGroupResult {
  errno: number
  /** Which step failed: 'socket', 'bind', 'attach' ('' on success). */
  stage: string
  port: number
  /** fds[i] is index i of the kernel's reuseport group (empty on failure). */
  fds: number[]
}
