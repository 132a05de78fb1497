/**
 * The resumption ticket, token and abbreviated handshake (issue 12, part 2), sans-I/O: both
 * roles end with the same fresh traffic secrets, the same session id and peer; replayed,
 * expired, other-group, other-node and forged resumptions are each refused. Tickets and
 * tokens are sealed under per-message keys; an older generation's ticket is refused while a
 * newer session lives; ephemeral secrets are wiped once used.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AcceptedHandshakes } from '../../src/protocol/handshake-replay.js'
import { deriveGroupKeys, deriveIdentity } from '../../src/protocol/identity.js'
import { consumeResume, InitiatorResume, parseResume, type ParsedResume } from '../../src/protocol/resume-handshake.js'
import { TicketKeys } from '../../src/protocol/ticket-keys.js'
import { decodeToken, encodeToken, resumptionMaster, sealTicket, ticketIdOf, ticketSecret, tokenWrapKey, type ResumptionToken } from '../../src/protocol/tickets.js'

const rnd = (n: number) => new Uint8Array(randomBytes(n))
const params = { maxStreams: 16, streamWindow: 1 << 20, sessionWindow: 4 << 20, bareMode: false, maxPacketSize: 1472 }
const LIFETIME = 600_000

function world(seed = rnd(32)) {
  const group = deriveGroupKeys(seed)
  const seedI = rnd(32)
  const idI = deriveIdentity(seedI)
  const idR = deriveIdentity(rnd(32))
  const now = 1_000_000
  const wall = 1_700_000_000_000
  const keys = new TicketKeys(rnd, LIFETIME)
  const used = new AcceptedHandshakes()
  // The original session's handshake outcome (both sides hold the same values).
  const orig = { i2r: rnd(32), r2i: rnd(32), transcript: rnd(32) }
  const sessionId = rnd(8)
  const master = resumptionMaster(orig.i2r, orig.r2i, orig.transcript)
  const issue = (at = wall, generation = 0, random = rnd): Uint8Array => {
    const ticket = sealTicket(keys.sealing(now), (id) => ticketSecret(master, id), { suite: 'aes-256-gcm', sessionId, initiatorNodeId: idI.nodeId, issued: at, expires: at + LIFETIME, generation }, random)
    const secret = ticketSecret(master, ticketIdOf(ticket))
    return encodeToken(tokenWrapKey(seedI, group.psk), { suite: 'aes-256-gcm', expires: at + LIFETIME, sessionId, peerNodeId: idR.nodeId, secret, ticket }, random)
  }
  const token = (bytes: Uint8Array, seed = seedI) => decodeToken(tokenWrapKey(seed, group.psk), bytes) as ResumptionToken
  const respond = (pkt: Uint8Array, at = wall, g = group, k = keys, live = -1, random = rnd) => {
    const parsed = parseResume(pkt, g.helloMacKey)
    if (typeof parsed === 'string') return { kind: 'reject' as const, reason: parsed }
    return consumeResume(g, k, used, parsed as ParsedResume, { name: 'R', params }, now, at, random, live)
  }
  return { group, seedI, idI, idR, now, wall, keys, used, orig, sessionId, issue, token, respond }
}

describe('abbreviated handshake with a resumption ticket', () => {
  it('both sides derive the same fresh keys, keep the session id and the peer node id; every resumption has new keys', () => {
    const w = world()
    const results = []
    for (let i = 0; i < 2; i++) {
      const init = new InitiatorResume(w.group, w.idI.nodeId, w.token(w.issue()), { name: 'I', params }, rnd)
      const out = w.respond(init.createResume(w.wall))
      expect(out.kind).toBe('ok')
      if (out.kind !== 'ok') return
      const acc = init.consumeAccept(out.accept)
      expect(acc.kind).toBe('ok')
      if (acc.kind !== 'ok') return
      expect(Buffer.from(acc.result.i2r)).toEqual(Buffer.from(out.result.i2r))
      expect(Buffer.from(acc.result.r2i)).toEqual(Buffer.from(out.result.r2i))
      expect(Buffer.from(acc.result.sessionId)).toEqual(Buffer.from(w.sessionId))
      expect(Buffer.from(out.result.peerNodeId)).toEqual(Buffer.from(w.idI.nodeId))
      expect(Buffer.from(acc.result.peerNodeId)).toEqual(Buffer.from(w.idR.nodeId))
      expect(out.result.peer.name).toBe('I')
      expect(acc.result.peer.name).toBe('R')
      results.push(acc.result)
    }
    // Fresh: neither the original session's secrets nor the other resumption's.
    const all = [w.orig.i2r, w.orig.r2i, ...results.flatMap((r) => [r.i2r, r.r2i])].map((b) => Buffer.from(b).toString('hex'))
    expect(new Set(all).size).toBe(all.length)
  })

  it('a replayed RESUME is refused (single-use ticket), and so is a second use of the same token', () => {
    const w = world()
    const bytes = w.issue()
    const init = new InitiatorResume(w.group, w.idI.nodeId, w.token(bytes), { name: 'I', params }, rnd)
    const pkt = init.createResume(w.wall)
    expect(w.respond(pkt).kind).toBe('ok')
    expect(w.respond(pkt)).toMatchObject({ kind: 'reject', reason: 'replayed' })
    const again = new InitiatorResume(w.group, w.idI.nodeId, w.token(bytes), { name: 'I', params }, rnd)
    expect(w.respond(again.createResume(w.wall))).toMatchObject({ kind: 'reject', reason: 'replayed' })
  })

  it('an expired token is refused', () => {
    const w = world()
    const init = new InitiatorResume(w.group, w.idI.nodeId, w.token(w.issue()), { name: 'I', params }, rnd)
    expect(w.respond(init.createResume(w.wall + LIFETIME), w.wall + LIFETIME)).toMatchObject({ kind: 'reject', reason: 'expired' })
  })

  it('a token from another group is refused: its RESUME fails the group MAC, its ticket opens under no key here', () => {
    const a = world()
    const b = world()
    const init = new InitiatorResume(a.group, a.idI.nodeId, a.token(a.issue()), { name: 'I', params }, rnd)
    const pkt = init.createResume(a.wall)
    expect(b.respond(pkt, b.wall, b.group, b.keys)).toMatchObject({ kind: 'reject', reason: 'bad-mac' })
    // Even MAC'd with the right group key, another node's ticket keys do not open it.
    const sameGroupOtherServer = new TicketKeys(rnd, LIFETIME)
    expect(a.respond(pkt, a.wall, a.group, sameGroupOtherServer)).toMatchObject({ kind: 'reject', reason: 'unknown-ticket' })
  })

  it('a token presented by another node identity is refused', () => {
    const w = world()
    const bytes = w.issue()
    // Another nodeSeed cannot unwrap the token's secret...
    expect(decodeToken(tokenWrapKey(rnd(32), w.group.psk), bytes)).toBe('foreign')
    // ...and a node that got the secret anyway but is not the ticket's initiator is refused by the responder.
    const thief = deriveIdentity(rnd(32))
    const init = new InitiatorResume(w.group, thief.nodeId, w.token(bytes), { name: 'X', params }, rnd)
    expect(w.respond(init.createResume(w.wall))).toMatchObject({ kind: 'reject', reason: 'other-node' })
  })

  it('a RESUME without the ticket secret is refused and does not burn the ticket', () => {
    const w = world()
    const bytes = w.issue()
    const real = w.token(bytes)
    const forged = new InitiatorResume(w.group, w.idI.nodeId, { ...real, secret: rnd(32) }, { name: 'I', params }, rnd)
    expect(w.respond(forged.createResume(w.wall))).toMatchObject({ kind: 'reject', reason: 'auth' })
    const init = new InitiatorResume(w.group, w.idI.nodeId, w.token(bytes), { name: 'I', params }, rnd)
    expect(w.respond(init.createResume(w.wall)).kind).toBe('ok')
  })

  it('a token with a changed byte is refused before anything is sent', () => {
    const w = world()
    const bytes = w.issue()
    for (const i of [1, 5, 12, 30, 60, bytes.length - 1]) {
      const bad = bytes.slice()
      bad[i]! ^= 1
      expect(decodeToken(tokenWrapKey(w.seedI, w.group.psk), bad)).not.toHaveProperty('secret')
    }
  })

  it('ticket keys rotate: a generation seals for the lifetime, opens for one more, then is wiped', () => {
    const w = world()
    const init = new InitiatorResume(w.group, w.idI.nodeId, w.token(w.issue()), { name: 'I', params }, rnd)
    const pkt = init.createResume(w.wall)
    w.keys.onTimeout(w.now + LIFETIME)
    expect(w.keys.held).toBe(1) // retired: opens, no longer seals
    w.keys.onTimeout(w.now + 2 * LIFETIME + 1001)
    expect(w.keys.held).toBe(0)
    expect(w.respond(pkt)).toMatchObject({ kind: 'reject', reason: 'unknown-ticket' })
  })

  it('F8: a token carried into another group does not unwrap there (fails before any RESUME is sent)', () => {
    const w = world()
    const bytes = w.issue()
    expect(decodeToken(tokenWrapKey(w.seedI, w.group.psk), bytes)).toHaveProperty('secret')
    expect(decodeToken(tokenWrapKey(w.seedI, deriveGroupKeys(rnd(32)).psk), bytes)).toBe('foreign')
  })

  it('F3: a ticket of an older generation is refused while a newer session with that id lives', () => {
    const w = world()
    const old = new InitiatorResume(w.group, w.idI.nodeId, w.token(w.issue(w.wall, 0)), { name: 'I', params }, rnd)
    // The live session is generation 1 (resumed once): generation-0 tickets no longer open it.
    expect(w.respond(old.createResume(w.wall), w.wall, w.group, w.keys, 1)).toMatchObject({ kind: 'reject', reason: 'old-generation' })
    const cur = new InitiatorResume(w.group, w.idI.nodeId, w.token(w.issue(w.wall, 1)), { name: 'I', params }, rnd)
    const out = w.respond(cur.createResume(w.wall), w.wall, w.group, w.keys, 1)
    expect(out.kind).toBe('ok')
    if (out.kind === 'ok') expect(out.ticket.generation).toBe(1)
  })

  it('F4: tickets and tokens are sealed under per-message keys: the same random nonce never meets the same key', () => {
    const w = world()
    // A random source that repeats itself: every draw returns the same bytes. Two tokens then
    // share ticket id and wrap nonce, yet under a per-token key that mixes both, equal inputs
    // give an equal ciphertext (the same message), and a different ticket gives another key.
    const stuck = (n: number) => new Uint8Array(n).fill(7)
    const a = w.issue(w.wall, 0, stuck)
    const b = w.issue(w.wall, 0, stuck)
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true)
    const c = w.issue(w.wall, 0, rnd)
    // Ticket id (bytes 4..20 of the ticket, which ends the token) and wrap nonce differ: so do the keys.
    const wrapped = (t: Uint8Array) => Buffer.from(t.subarray(50 + 12, 50 + 12 + 48)).toString('hex')
    expect(wrapped(c)).not.toBe(wrapped(a))
    expect(w.token(c).secret).toHaveLength(32)
    // The ticket id is 16 bytes; tickets open only under their own per-ticket key.
    expect(ticketIdOf(w.token(c).ticket)).toHaveLength(16)
  })

  it('F6: the ephemeral private keys and DH outputs are wiped once used', () => {
    const w = world()
    // Record the first 32-byte draw of each side: that is its ephemeral private key.
    const firstDraw = () => {
      const seen: Uint8Array[] = []
      const f = (n: number) => {
        const b = rnd(n)
        if (n === 32) seen.push(b)
        return b
      }
      return { f, seen }
    }
    const i = firstDraw()
    const r = firstDraw()
    const init = new InitiatorResume(w.group, w.idI.nodeId, w.token(w.issue()), { name: 'I', params }, i.f)
    expect(init.holdsSecrets).toBe(true)
    const out = w.respond(init.createResume(w.wall), w.wall, w.group, w.keys, -1, r.f)
    expect(out.kind).toBe('ok')
    if (out.kind !== 'ok') return
    expect(init.consumeAccept(out.accept).kind).toBe('ok')
    expect(init.holdsSecrets).toBe(false)
    expect(i.seen[0]!.every((x) => x === 0)).toBe(true)
    expect(r.seen[0]!.every((x) => x === 0)).toBe(true)
    // A second RESUME_ACCEPT (a repeat) finds nothing left to use.
    expect(init.consumeAccept(out.accept)).toMatchObject({ kind: 'drop' })
  })

  it('review 12 (findings 8, 9): a RESUME refused for bare mode over a datagram path or for a suite no longer allowed does not spend its ticket', () => {
    const w = world()
    const init = new InitiatorResume(w.group, w.idI.nodeId, w.token(w.issue()), { name: 'I', params: { ...params, bareMode: true } }, rnd)
    const parsed = parseResume(init.createResume(w.wall), w.group.helloMacKey) as ParsedResume
    const run = (policy: { reliable?: boolean; ciphers?: Array<'aes-256-gcm' | 'chacha20-poly1305'> }) => consumeResume(w.group, w.keys, w.used, parsed, { name: 'R', params }, w.now, w.wall, rnd, -1, policy)
    expect(run({ reliable: false })).toMatchObject({ kind: 'reject', reason: 'bad-params' })
    expect(run({ reliable: true, ciphers: ['chacha20-poly1305'] })).toMatchObject({ kind: 'reject', reason: 'bad-suite' })
    expect(w.used.size).toBe(0)
    expect(run({ reliable: true, ciphers: ['aes-256-gcm'] }).kind).toBe('ok')
    expect(w.used.size).toBe(1)
    expect(run({ reliable: true })).toMatchObject({ kind: 'reject', reason: 'replayed' })
  })
})
