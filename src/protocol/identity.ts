/**
 * Long-term keys (docs/PROTOCOL.md §3.1):
 * - group keys from the shared seed (the PSK mixed into every handshake key, and the key of
 *   the HELLO MAC that lets a responder drop outsiders after one HMAC);
 * - the node's static X25519 key from its node seed, and its public node id
 *   SHA3-256("STT node id v1" || static public key).
 */
import { hkdf, sha3_256, x25519FromPrivate, type X25519KeyPair } from '../crypto/handshake-crypto.js'

export const MIN_SEED_BYTES = 32
const enc = new TextEncoder()
const NODE_ID_LABEL = enc.encode('STT node id v1')

export interface GroupKeys {
  /** Pre-shared key mixed into the handshake's chaining key before anything else. */
  psk: Uint8Array
  /** Key of HELLO's MAC (and of the MACs of RETRY challenges and handshake ERRORs). */
  helloMacKey: Uint8Array
}

export function deriveGroupKeys(sharedSeed: Uint8Array): GroupKeys {
  return {
    psk: hkdf(sharedSeed, 'STT v1', 'psk', 32),
    helloMacKey: hkdf(sharedSeed, 'STT v1', 'hello mac', 32),
  }
}

export interface NodeIdentity {
  staticKey: X25519KeyPair
  nodeId: Uint8Array
}

export function nodeIdOf(staticPublicKey: Uint8Array): Uint8Array {
  return sha3_256(NODE_ID_LABEL, staticPublicKey)
}

export function deriveIdentity(nodeSeed: Uint8Array): NodeIdentity {
  const staticKey = x25519FromPrivate(hkdf(nodeSeed, 'STT v1', 'static x25519', 32))
  return { staticKey, nodeId: nodeIdOf(staticKey.publicKey) }
}
