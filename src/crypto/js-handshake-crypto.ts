/**
 * HandshakeCrypto 'js': node:crypto through src/crypto/primitives.ts. The fallback when the
 * addon is not loaded (STT_NATIVE=0, no compiler and no prebuild) and the reference the native
 * backend is tested against.
 */
import { KeyObject } from 'node:crypto'
import type { HandshakeCrypto, X25519PrivateKey } from './handshake-crypto.js'
import { aeadOpen, aeadOpenInPlace, aeadSeal, aeadSealInPlace, hkdf, hmacSha256, sha256, sha3_256, x25519, x25519Ephemeral, x25519FromPrivate, x25519Once } from './primitives.js'

function keyObjectOf(priv: X25519PrivateKey): KeyObject {
  // A native key handed to the JS backend is a programming error (mixed backends), not input.
  if (!(priv instanceof KeyObject)) throw new TypeError('x25519: the private key is not a node:crypto key (mixed handshake backends)')
  return priv
}

export const jsHandshakeCrypto: HandshakeCrypto = {
  name: 'js',
  x25519FromPrivate,
  x25519: (priv, pubRaw) => x25519(keyObjectOf(priv), pubRaw),
  x25519Once,
  x25519Ephemeral,
  // node:crypto gives no way to free or wipe a KeyObject early: the garbage collector does it.
  x25519Destroy: (priv) => void keyObjectOf(priv),
  hkdf,
  hmacSha256,
  sha256,
  sha3_256,
  aeadSeal,
  aeadSealInPlace,
  aeadOpen,
  aeadOpenInPlace,
}
