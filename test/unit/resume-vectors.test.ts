/**
 * The resumption vectors (test/vectors/resume-vectors.json, made by scripts/gen-resume-vectors.mjs
 * from dist/) checked both ways against src/: the same seeded randomness reproduces ticket,
 * token, RESUME, RESUME_ACCEPT and the traffic secrets byte for byte; the vector bytes parse
 * back to their fields, and each side accepts the other's vector message. A failure here means
 * the resumption wire format or key schedule changed: regenerate deliberately (and say so).
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { AcceptedHandshakes } from '../../src/protocol/handshake-replay.js'
import { deriveGroupKeys, deriveIdentity } from '../../src/protocol/identity.js'
import { consumeResume, InitiatorResume, parseResume, type ParsedResume } from '../../src/protocol/resume-handshake.js'
import { TicketKeys } from '../../src/protocol/ticket-keys.js'
import { decodeToken, encodeToken, openTicket, resumptionMaster, sealTicket, ticketIdOf, ticketSecret, tokenWrapKey, type ResumptionToken } from '../../src/protocol/tickets.js'

const V = JSON.parse(readFileSync(new URL('../vectors/resume-vectors.json', import.meta.url), 'utf8')) as any
const h = (s: string) => new Uint8Array(Buffer.from(s, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** Same DRBG as scripts/gen-resume-vectors.mjs. */
function drbg(label: string): (n: number) => Uint8Array {
  let counter = 0
  let buf = Buffer.alloc(0)
  return (n) => {
    while (buf.length < n) {
      const c = Buffer.alloc(4)
      c.writeUInt32BE(counter++)
      buf = Buffer.concat([buf, createHash('sha256').update('STT vectors drbg').update(label).update(c).digest()])
    }
    const out = new Uint8Array(buf.subarray(0, n))
    buf = buf.subarray(n)
    return out
  }
}

const I = V.inputs
const group = deriveGroupKeys(h(I.sharedSeed))
const idI = deriveIdentity(h(I.nodeSeedInitiator))
const idR = deriveIdentity(h(I.nodeSeedResponder))
const payloadI = { name: I.names.initiator, params: I.params }
const payloadR = { name: I.names.responder, params: I.params }

/** The generator's steps, from src/. */
function regenerate() {
  const rI = drbg('resume initiator')
  const rR = drbg('resume responder')
  const keys = new TicketKeys(drbg('resume ticket keys'), I.lifetimeMs)
  const master = resumptionMaster(h(I.original.i2r), h(I.original.r2i), h(I.original.transcript))
  const ticket = sealTicket(keys.sealing(I.monotonicMs.ticket), (id) => ticketSecret(master, id), { suite: 'aes-256-gcm', sessionId: h(I.sessionId), initiatorNodeId: idI.nodeId, issued: I.wallMs.issued, expires: I.wallMs.expires, generation: 0 }, rR)
  const secret = ticketSecret(master, ticketIdOf(ticket))
  const wrapKey = tokenWrapKey(h(I.nodeSeedInitiator), group.psk)
  const token = encodeToken(wrapKey, { suite: 'aes-256-gcm', expires: I.wallMs.expires, sessionId: h(I.sessionId), peerNodeId: idR.nodeId, secret: secret.slice(), ticket }, rI)
  const init = new InitiatorResume(group, idI.nodeId, decodeToken(wrapKey, token) as ResumptionToken, payloadI, rI)
  const resume = init.createResume(I.wallMs.resume)
  const out = consumeResume(group, keys, new AcceptedHandshakes(), parseResume(resume, group.helloMacKey) as ParsedResume, payloadR, I.monotonicMs.resume, I.wallMs.resume, rR, -1)
  return { master, secret, ticket, token, resume, out, init, keys }
}

describe('resumption vectors', () => {
  it('src reproduces every vector byte for byte', () => {
    const g = regenerate()
    expect(hex(g.master)).toBe(V.resumptionMaster)
    expect(hex(g.secret)).toBe(V.ticketSecret)
    expect(hex(g.ticket)).toBe(V.ticket)
    expect(hex(g.token)).toBe(V.token)
    expect(hex(g.resume)).toBe(V.resume)
    expect(g.out.kind).toBe('ok')
    if (g.out.kind !== 'ok') return
    expect(hex(g.out.accept)).toBe(V.resumeAccept)
    expect(hex(g.out.result.i2r)).toBe(V.i2r)
    expect(hex(g.out.result.r2i)).toBe(V.r2i)
    expect(hex(g.out.result.transcript)).toBe(V.transcriptHash)
  })

  it('the vector bytes decode to their fields, and each side accepts the other side\'s vector message', () => {
    // Token: unwraps under the initiator's seed and group to the vector's secret and ticket.
    const tok = decodeToken(tokenWrapKey(h(I.nodeSeedInitiator), group.psk), h(V.token)) as ResumptionToken
    expect(hex(tok.secret)).toBe(V.ticketSecret)
    expect(hex(tok.ticket)).toBe(V.ticket)
    expect(hex(tok.sessionId)).toBe(I.sessionId)
    expect(hex(tok.peerNodeId)).toBe(hex(idR.nodeId))
    expect(tok.expires).toBe(I.wallMs.expires)
    // RESUME parses to its fields (MAC checked with the group key).
    const p = parseResume(h(V.resume), group.helloMacKey) as ParsedResume
    expect(hex(p.sessionId)).toBe(I.sessionId)
    expect(hex(p.ticket)).toBe(V.ticket)
    expect(p.timestamp).toBe(I.wallMs.resume)
    // Ticket: opens under the regenerated generation key to the vector's contents.
    const g = regenerate()
    const t = openTicket(g.keys, h(V.ticket), I.monotonicMs.resume, I.wallMs.resume)
    expect(t).toMatchObject({ generation: 0, issued: I.wallMs.issued, expires: I.wallMs.expires })
    if (typeof t === 'object') expect(hex(t.secret)).toBe(V.ticketSecret)
    // Initiator side of the exchange: the vector RESUME_ACCEPT completes it with the vector keys.
    const acc = g.init.consumeAccept(h(V.resumeAccept))
    expect(acc.kind).toBe('ok')
    if (acc.kind === 'ok') {
      expect(hex(acc.result.i2r)).toBe(V.i2r)
      expect(hex(acc.result.r2i)).toBe(V.r2i)
    }
  })
})
