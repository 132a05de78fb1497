/**
 * The packet-protection backend this process uses: native (C++ addon, one call per batch) when
 * the addon loaded, else the pure-TypeScript jsAead on node:crypto.
 */
import type { AeadBackend, CipherSuite, PacketKey } from './aead.js'
import { jsAead } from './js-aead.js'
import { nativeAead } from './native-aead.js'
export { backend } from '../native/load.js'
export type { AeadBackend, CipherSuite, PacketKey } from './aead.js'
export { jsAead } from './js-aead.js'
export { nativeAead } from './native-aead.js'

/**
 * Batches smaller than this go to the JS backend even when the addon is loaded.
 *
 * Set from bench/aead.bench.mjs (2026-11-27, this 2-vCPU machine, median of 3 runs): native is
 * faster at every batch size measured, including a batch of ONE packet (per packet at 1200 B:
 * seal aes-256-gcm 1.9 µs native vs 6.1 µs js, chacha20-poly1305 1.5 vs 7.6 µs; open 1.3 vs
 * 5.4 µs and 2.1 vs 7.9 µs; 5-14x at batches of 16-128). One N-API call costs less than one
 * node:crypto cipher object, so there is no crossover and 1 disables the routing.
 */
export const NATIVE_MIN_BATCH = 1

/** A backend that sends batches below `minBatch` to `small` and the rest to `large`. */
export function createRoutedAead(large: AeadBackend, small: AeadBackend, minBatch: number): AeadBackend {
  return {
    name: large.name,
    createKey(suite: CipherSuite, key: Uint8Array, iv: Uint8Array): PacketKey {
      const big = large.createKey(suite, key, iv)
      const little = small.createKey(suite, key, iv)
      return {
        suite,
        sealBatch: (slab, offsets, lengths, count, headerSize) =>
          (count < minBatch ? little : big).sealBatch(slab, offsets, lengths, count, headerSize),
        openBatch: (slab, offsets, lengths, count, headerSize, status) =>
          (count < minBatch ? little : big).openBatch(slab, offsets, lengths, count, headerSize, status),
        destroy: () => {
          big.destroy()
          little.destroy()
        },
      }
    },
  }
}

export const aead: AeadBackend =
  nativeAead === null ? jsAead : NATIVE_MIN_BATCH <= 1 ? nativeAead : createRoutedAead(nativeAead, jsAead, NATIVE_MIN_BATCH)
