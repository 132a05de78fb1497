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

export const aead: AeadBackend = nativeAead ?? jsAead
