/**
 * Initiator side of FINAL (docs/PROTOCOL.md §3.6): `header || ciphertext || tag || rf`.
 * The trailing responder random `rf` completes the key schedule; the packet must authenticate
 * under the resulting r2i key before the endpoint builds a session, so a forged FINAL costs
 * an HKDF and one AEAD open and leaves nothing behind.
 */
import type { AeadBackend } from '../crypto/aead.js'
import { AEAD_TAG_SIZE, HEADER_SIZE } from './constants.js'
import { FINAL_RANDOM_SIZE, type HandshakeResult, type InitiatorHandshake } from './handshake.js'
import { makeKey } from './packet-keys.js'

/** The handshake result for FINAL `pkt` when it authenticates, else null. `pkt` is not changed. */
export function openFinal(aead: AeadBackend, hs: InitiatorHandshake, pkt: Uint8Array): HandshakeResult | null {
  if (pkt.length < HEADER_SIZE + 1 + AEAD_TAG_SIZE + FINAL_RANDOM_SIZE) return null
  const result = hs.finish(pkt.subarray(pkt.length - FINAL_RANDOM_SIZE))
  if (!result) return null
  const trial = pkt.slice(0, pkt.length - FINAL_RANDOM_SIZE)
  const k = makeKey(aead, result.suite, result.r2i, 0)
  const status = new Uint8Array(1)
  k.key.openBatch(trial, new Uint32Array([0]), new Uint32Array([trial.length]), 1, HEADER_SIZE, status)
  k.key.destroy()
  trial.fill(0)
  if (status[0]) return result
  // A forged or altered FINAL: the keys derived for it are never used; leave no copy of them.
  result.i2r.fill(0)
  result.r2i.fill(0)
  return null
}
