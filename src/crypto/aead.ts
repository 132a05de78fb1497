/**
 * Packet protection: the AEAD interface shared by the pure-TypeScript backend
 * (node:crypto, one call per packet) and the native backend (one call per batch).
 *
 * A protected packet is laid out as
 *   header (HEADER_SIZE bytes, authenticated as associated data)
 *   || payload (encrypted in place)
 *   || tag (TAG_SIZE bytes)
 * and its nonce is `iv XOR (0x00000000 || packet number)`, where the packet number is the
 * big-endian u64 at header bytes [PN_OFFSET, PN_OFFSET + 8). See docs/PROTOCOL.md §4.
 */

import { SuiteId } from '../protocol/wire-constants.js'

export type CipherSuite = 'aes-256-gcm' | 'chacha20-poly1305'

/** Wire identifiers of the cipher suites (HELLO / CHALLENGE); values from scripts/wire-constants.json. */
export const SUITE_ID: Record<CipherSuite, number> = { 'aes-256-gcm': SuiteId.AES_256_GCM, 'chacha20-poly1305': SuiteId.CHACHA20_POLY1305 }
export const SUITE_BY_ID: Record<number, CipherSuite | undefined> = { [SuiteId.AES_256_GCM]: 'aes-256-gcm', [SuiteId.CHACHA20_POLY1305]: 'chacha20-poly1305' }

export { IV_SIZE, KEY_SIZE, TAG_SIZE } from '../native/abi-constants.js'

/** One direction's key and IV under one cipher suite. */
export interface PacketKey {
  readonly suite: CipherSuite
  /**
   * Seals `count` packets in place. Packet i is `slab[offsets[i], offsets[i] + lengths[i])`,
   * whose first `headerSize` bytes are the header and whose last TAG_SIZE bytes receive the tag.
   */
  sealBatch(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, headerSize: number): void
  /**
   * Opens `count` packets in place (same layout). status[i] = 1 when packet i authenticated
   * (its payload is now plaintext), 0 when it did not (contents then unspecified). Never throws
   * for a forged packet.
   */
  openBatch(
    slab: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
    headerSize: number,
    status: Uint8Array,
  ): void
  /** Releases native resources (no-op for the JS backend). */
  destroy(): void
}

export interface AeadBackend {
  readonly name: 'native' | 'js'
  /** A packet key from a copy of `key` and `iv`: the caller may wipe or reuse both once it returns. */
  createKey(suite: CipherSuite, key: Uint8Array, iv: Uint8Array): PacketKey
}
