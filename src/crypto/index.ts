/**
 * The packet-protection backend this process uses: native (C++ addon, one call per batch) when
 * the addon loaded, else the pure-TypeScript jsAead on node:crypto.
 */
import type { AeadBackend } from './aead.js'
import { jsAead } from './js-aead.js'
import { nativeAead } from './native-aead.js'
export { backend } from '../native/load.js'
export type { AeadBackend, CipherSuite, PacketKey } from './aead.js'
export { jsAead } from './js-aead.js'
export { nativeAead } from './native-aead.js'

/**
 * Native whenever the addon loaded, for every batch size. Measured with bench/aead.bench.mjs
 * (2026-11-27, this 2-vCPU machine, median of 3 runs): native is faster at every batch size,
 * including a batch of ONE packet (per packet at 1200 B: seal aes-256-gcm 1.9 µs native vs
 * 6.1 µs js, chacha20-poly1305 1.5 vs 7.6 µs; open 1.3 vs 5.4 µs and 2.1 vs 7.9 µs; 5-14x at
 * batches of 16-128). One N-API call costs less than one node:crypto cipher object, so there
 * is no crossover, and routing small batches to node:crypto (once createRoutedAead) was removed.
 */
export const aead: AeadBackend = nativeAead ?? jsAead
