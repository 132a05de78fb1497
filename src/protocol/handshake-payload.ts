/**
 * The encrypted payloads of CHALLENGE (responder: suite, parameters, name) and AUTH_PROOF
 * (initiator: parameters, name), docs/PROTOCOL.md §3.5; split from handshake.ts.
 */
import { SUITE_BY_ID, SUITE_ID, type CipherSuite } from '../crypto/aead.js'
import { encodeParams, readParams, type SessionParams } from './params.js'
import { Reader } from './varint.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
export const MAX_NAME_BYTES = 64

/** What each side tells the other inside the encrypted handshake payloads. */
export interface HandshakePayload {
  name: string
  params: SessionParams
}

export function encodePayload(p: HandshakePayload, suite?: CipherSuite): Uint8Array {
  const name = enc.encode(p.name)
  const params = encodeParams(p.params)
  const out = new Uint8Array((suite ? 1 : 0) + params.length + 1 + name.length)
  let pos = 0
  if (suite) out[pos++] = SUITE_ID[suite]
  out.set(params, pos)
  pos += params.length
  out[pos++] = name.length
  out.set(name, pos)
  return out
}

/**
 * encodePayload(p, suite) for createChallenge, remembered per payload object when that object and
 * its params are frozen (the endpoint reuses one per distinct value): a responder answers every
 * HELLO with the same few payloads, and encoding one (name, parameter list) cost ~3 us. The bytes
 * are only read (sealed into the CHALLENGE), never handed out.
 */
const encodedPayloads = new WeakMap<HandshakePayload, Map<CipherSuite, Uint8Array>>()
export function challengePayloadBytes(p: HandshakePayload, suite: CipherSuite): Uint8Array {
  if (!Object.isFrozen(p) || !Object.isFrozen(p.params)) return encodePayload(p, suite)
  let bySuite = encodedPayloads.get(p)
  if (bySuite === undefined) encodedPayloads.set(p, (bySuite = new Map()))
  let bytes = bySuite.get(suite)
  if (bytes === undefined) bySuite.set(suite, (bytes = encodePayload(p, suite)))
  return bytes
}

export function decodePayload(b: Uint8Array, withSuite: boolean): { payload: HandshakePayload; suite?: CipherSuite } | null {
  const r = new Reader(b, 0, b.length)
  let suite: CipherSuite | undefined
  if (withSuite) {
    suite = SUITE_BY_ID[r.u8()]
    if (!suite) return null
  }
  const params = readParams(r)
  if (!params) return null
  const nameLen = r.u8()
  if (!r.ok || r.pos + nameLen !== r.end || nameLen > MAX_NAME_BYTES) return null
  // A copy, not a view: `b` is a small decrypted payload on V8's heap, and a view of it would
  // first move its bytes to a new off-heap store.
  return { payload: { name: dec.decode(b.slice(r.pos, r.end)), params }, suite }
}
