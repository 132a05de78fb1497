/**
 * AEAD usage limits per cipher suite (RFC 9001 §6.6 and Appendix B; issue 10, item 8).
 *
 * Confidentiality: AES-GCM's bound grows with the total number of 16-byte blocks sealed under
 * one key; RFC 9001 gets 2^23 packets from q * l <= 2^35 with packets of up to 2^16 bytes
 * (l = 2^12 blocks). STT uses the same product, so a node configured for larger packets
 * (reliablePacketSize up to 1 MiB) updates its keys proportionally sooner. ChaCha20-Poly1305
 * has no practical confidentiality limit; the configured value (at most 2^23) applies.
 *
 * Integrity: packets that fail authentication, counted across every key of a session, before
 * it must close: 2^52 for AES-GCM, 2^36 for ChaCha20-Poly1305 (RFC 9001 §6.6).
 */
import type { CipherSuite } from '../crypto/aead.js'

/** Largest accepted rekeyAfterPackets (and its default): AES-GCM's limit for 64 KiB packets. */
export const MAX_PACKETS_PER_KEY = 2 ** 23
const AES_GCM_BLOCKS_PER_KEY = 2 ** 35

export const INTEGRITY_LIMIT: Record<CipherSuite, number> = {
  'aes-256-gcm': 2 ** 52,
  'chacha20-poly1305': 2 ** 36,
}

/** Packets one key may seal: the configured value, capped by the suite's limit for this packet size. */
export function packetsPerKey(suite: CipherSuite, configured: number, maxPacketBytes: number): number {
  if (suite !== 'aes-256-gcm') return Math.min(configured, MAX_PACKETS_PER_KEY)
  const blocks = Math.ceil(maxPacketBytes / 16)
  return Math.max(1, Math.min(configured, Math.floor(AES_GCM_BLOCKS_PER_KEY / blocks)))
}
