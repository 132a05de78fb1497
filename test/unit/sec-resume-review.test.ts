/**
 * Second security review of session resumption (review 12, 2026-12-06), through real
 * Endpoints on a virtual clock (test/helpers/resume-net.ts). Each test failed before its fix:
 *
 * R1  a RESUME whose session id shares the map slot of a live session with another id is
 *     refused (it overwrote the slot: the live session was orphaned);
 * R2  a RESUME's nonce enters the HELLO nonce cache: byte-exact replays are dropped unanswered;
 * R3  toward an unvalidated RESUME address the 3x limit holds for PMTU probes and for the
 *     challenges to the path a resumed session left;
 * R4  the fallback after a refused RESUME is an ordinary full handshake: unpinned, it accepts
 *     whichever member answers (as every connect without peerNodeId); pinned, it refuses
 *     another node (not changed: documented, PROTOCOL.md §9.4; this test guards it);
 * R5  the single-use store runs on monotonic time: a wall-clock step forward and back does not
 *     make a used ticket acceptable again;
 * R7  a keyed RESUME_REJECTED after RESUME_ACCEPT does not orphan the resumed session;
 * R8  a RESUME refused for lack of room does not burn its ticket, and says TOO_MANY_SESSIONS;
 * R9  a ticket or token of a suite the node no longer allows is refused;
 * R6  one initiator node id holds at most 1/16 of the single-use store; expiry works through
 *     a min-heap of buckets (pruning no longer walks every live bucket);
 * R10 a RESUME without an answer falls back to a full handshake within the connect's timeout
 *     (requireResume: STT_HANDSHAKE_TIMEOUT).
 *
 * Second review of the fixes (fix12b):
 * R11 RESUME nonces have a cache of their own: a RESUME flood from 17 forged sources (a group
 *     member, valid MACs, no RETRY round) filled the shared HELLO cache and blocked every full
 *     handshake (`hello-full`); now it only blocks resumptions, which fall back;
 * R12 a responder session never heard from under its new keys (RESUME_ACCEPT lost, the
 *     initiator fell back) closes at keepAliveTimeout instead of suspending for resumeTimeout;
 * R13 the full handshake after RESUME_REJECTED gets the rest of the connect's timeout, not all
 *     of it again.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { resolveProtocolConfig } from '../../src/config.js'
import { jsAead } from '../../src/crypto/js-aead.js'
import { Endpoint, type CoreEvent } from '../../src/protocol/endpoint.js'
import { AcceptedHandshakes, MAX_PER_OWNER } from '../../src/protocol/handshake-replay.js'
import { createHandshakeError, mac16 } from '../../src/protocol/handshake.js'
import { HEADER_SIZE } from '../../src/protocol/constants.js'
import { deriveGroupKeys } from '../../src/protocol/identity.js'
import type { Session } from '../../src/protocol/session.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'
import { connectedOn, rnd, setup } from '../helpers/resume-net.js'

const RESUME = 0x05
const RESUME_ACCEPT = 0x06
const FINAL = 0x04
const HELLO = 0x01
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

function tokenOf(events: CoreEvent[]): Uint8Array | undefined {
  for (const e of events) if (e.kind === 'resumption-token') return e.token
  return undefined
}

/**
 * The client restarts as 'client2' (same node seed) and resumes with the token, requiring
 * resumption; the first RESUME on the wire is kept for replay tests.
 */
function resumeCapturing(ctx: ReturnType<typeof setup>) {
  const { net, sharedSeed, clientSeed, token } = ctx
  net.eps.delete('client')
  const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
  let first: Uint8Array | null = null
  net.tap = (d) => {
    if (d[1] === RESUME && !first) first = d.slice()
    return true
  }
  const h = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
  const captured = (): Uint8Array => {
    if (!first) throw new Error('no RESUME was sent')
    return first
  }
  return { c2, h, captured }
}

describe('resumption review 12', () => {
  it("R1: a RESUME for another session id in a live session's map slot is refused; the live session keeps working", () => {
    const { net, sharedSeed, clientSeed, server, session: v, token } = setup()
    v.close(0, 'bye', net.now)
    net.run(3000)
    // Mallory (a group member) draws S = V's id with the last byte flipped: the same 53-bit map key.
    let forced: Uint8Array | null = v.id.slice()
    forced[7] ^= 1
    const mrand = (n: number) => {
      if (n === 8 && forced) {
        const f = forced
        forced = null
        return f
      }
      return new Uint8Array(randomBytes(n))
    }
    const m = new Endpoint(resolveProtocolConfig({ name: 'mallory', sharedSeed }, rnd), jsAead, mrand, net.now)
    m.syncWallClock(net.now, 1_700_000_000_000 + net.now)
    net.eps.set('mallory', { ep: m, addr: fakeAddress('mallory'), events: [] })
    m.connect(net.now, net.addr('server'))
    net.run(50)
    const mt = tokenOf(net.events('mallory'))!
    expect(mt).toBeDefined()
    const ms = (net.events('mallory').find((e) => e.kind === 'connected') as { session: Session }).session
    expect(hex(ms.id)).not.toBe(hex(v.id))
    // The victim resumes V (no session with that id is open): its slot is S's, so it is refused
    // (it used to overwrite S; mallory, resuming S in turn, then orphaned V the same way).
    net.eps.delete('client')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    const h = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(50)
    expect(server.counters.dropped['session-id-collision']).toBe(1)
    const r = connectedOn(net, 'client2', h) as { kind: string; error: { code: string } }
    expect(r?.kind).toBe('connect-failed')
    expect(r.error.code).toBe('STT_RESUME_REJECTED')
    // S is untouched and still works.
    const before = server.counters.dropped['unknown-session'] ?? 0
    ms.sendDatagram(new Uint8Array(10))
    net.run(100)
    expect((server.counters.dropped['unknown-session'] ?? 0) - before).toBe(0)
    expect([...server.allSessions()].some((x) => hex(x.id) === hex(ms.id) && x.state === 'active')).toBe(true)
    // Without requireResume the victim falls back to a full handshake under a new id.
    const h2 = c2.connect(net.now, net.addr('server'), { resume: token })
    net.run(50)
    const r2 = connectedOn(net, 'client2', h2) as { kind: string; session: Session }
    expect(r2?.kind).toBe('connected')
    expect(hex(r2.session.id)).not.toBe(hex(v.id))
  })

  it("R1: an initiator does not resume into a slot its own other session holds", () => {
    const { net, sharedSeed, clientSeed, server, session: v, token } = setup()
    v.close(0, 'bye', net.now)
    net.run(3000)
    net.eps.delete('client')
    // The restarted client's first full handshake (to another node) draws an id in V's slot.
    let forced: Uint8Array | null = v.id.slice()
    forced[7] ^= 1
    const crand = (n: number) => {
      if (n === 8 && forced) {
        const f = forced
        forced = null
        return f
      }
      return new Uint8Array(randomBytes(n))
    }
    const c2 = new Endpoint(resolveProtocolConfig({ name: 'client2', sharedSeed, nodeSeed: clientSeed }, rnd), jsAead, crand, net.now)
    c2.syncWallClock(net.now, 1_700_000_000_000 + net.now)
    net.eps.set('client2', { ep: c2, addr: fakeAddress('client2'), events: [] })
    net.add('other', { sharedSeed })
    c2.connect(net.now, net.addr('other'))
    net.run(50)
    const os = (net.events('client2').find((e) => e.kind === 'connected') as { session: Session }).session
    expect(hex(os.id)).not.toBe(hex(v.id))
    const h = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(50)
    const r = connectedOn(net, 'client2', h) as { kind: string; error: { code: string; message: string } }
    expect(r?.kind).toBe('connect-failed')
    expect(r.error.message).toMatch(/collides/)
    expect(server.counters.handshakesAccepted).toBe(1)
    expect([...c2.allSessions()].includes(os)).toBe(true)
    expect(os.state).toBe('active')
  })

  it('R2: byte-exact replays of a RESUME are dropped by the nonce cache and get no answer', () => {
    const ctx = setup()
    const { net, server } = ctx
    const { h, captured } = resumeCapturing(ctx)
    net.run(10)
    const s = (connectedOn(net, 'client2', h) as { session: Session }).session
    expect(s).toBeDefined()
    for (const x of server.allSessions()) if (hex(x.id) === hex(s.id)) x.close(0, 'bye', net.now)
    net.run(2000)
    const victim = fakeAddress('victim')
    for (let i = 0; i < 5; i++) net.inject(net.addr('server'), captured(), victim)
    net.run(0)
    expect(server.counters.dropped['replayed-resume']).toBe(5)
    expect(server.counters.dropped['resume-replayed'] ?? 0).toBe(0)
    expect(net.bytesTo.get(victim.key) ?? 0).toBe(0)
  })

  it('R3: an on-path relay of the answers does not lift the 3x limit toward the spoofed RESUME address', () => {
    const { net, sharedSeed, clientSeed, token } = setup()
    net.eps.delete('client')
    const victim = fakeAddress('victim')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    let resumeBytes = 0
    net.tap = (d, from, to) => {
      if (d[1] === RESUME && from.key === net.addr('client2').key && resumeBytes === 0) {
        resumeBytes = d.length
        net.inject(net.addr('server'), d, victim)
      }
      // The attacker relays what the server sends the victim to the real client.
      if (to.key === victim.key) net.inject(net.addr('client2'), d, net.addr('server'))
      return true
    }
    c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true, timeout: 3000 })
    net.run(5000)
    expect(resumeBytes).toBeGreaterThan(0)
    expect(net.bytesTo.get(victim.key) ?? 0).toBeLessThanOrEqual(3 * resumeBytes)
  })

  it('R4: the fallback after a refused RESUME is pinned only by peerNodeId, as any connect', () => {
    const { net, sharedSeed, clientSeed, server, token } = setup()
    const other = net.add('other', { sharedSeed })
    net.eps.delete('client')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    const h = c2.connect(net.now, net.addr('other'), { resume: token, peerNodeId: server.nodeId })
    net.run(50)
    const r = connectedOn(net, 'client2', h) as { kind: string; error: { code: string } }
    expect(r?.kind).toBe('connect-failed')
    expect(r.error.code).toBe('STT_PEER_MISMATCH')
    const h2 = c2.connect(net.now, net.addr('other'), { resume: token })
    net.run(50)
    const r2 = connectedOn(net, 'client2', h2) as { kind: string; session: Session }
    expect(r2?.kind).toBe('connected')
    expect(hex(r2.session.peerNodeId)).toBe(hex(other.nodeId))
  })

  it('R5: a wall-clock step forward and back does not make a used ticket acceptable again', () => {
    const { net, sharedSeed, clientSeed, server, token } = setup()
    const W0 = 1_700_000_000_000
    net.eps.delete('client')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    let captured: Uint8Array | null = null
    let capturedAt = 0
    net.tap = (d) => {
      if (d[1] === RESUME && !captured) {
        captured = d.slice()
        capturedAt = net.now
      }
      return true
    }
    const h = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(10)
    const s = (connectedOn(net, 'client2', h) as { session: Session }).session
    for (const x of server.allSessions()) if (hex(x.id) === hex(s.id)) x.close(0, 'bye', net.now)
    net.run(2000)
    // The server's wall clock steps +2 h; a resumption with a fresh ticket prunes the store.
    server.syncWallClock(net.now, W0 + net.now + 7_200_000)
    const c3 = net.add('client3', { sharedSeed })
    c3.syncWallClock(net.now, W0 + net.now + 7_200_000)
    c3.connect(net.now, net.addr('server'))
    net.run(50)
    const t3 = tokenOf(net.events('client3'))!
    for (const x of c3.allSessions()) x.close(0, 'x', net.now)
    net.run(2000)
    const h3 = c3.connect(net.now, net.addr('server'), { resume: t3, requireResume: true })
    net.run(50)
    expect(connectedOn(net, 'client3', h3)?.kind).toBe('connected')
    // Past the nonce cache's memory (2x skew): only the single-use store can refuse it now.
    net.run(2 * server.config.helloMaxSkew + 1000)
    // The clock steps back to just after the capture: the captured RESUME's timestamp is inside the skew.
    server.syncWallClock(net.now, W0 + capturedAt + 1000)
    const accepted = server.counters.handshakesAccepted
    net.inject(net.addr('server'), captured!, fakeAddress('victim'))
    net.run(0)
    expect(server.counters.handshakesAccepted).toBe(accepted)
    expect(server.counters.dropped['resume-replayed']).toBe(1)
  })

  it('R7: a keyed RESUME_REJECTED after RESUME_ACCEPT neither orphans the resumed session nor starts a full handshake', () => {
    const { net, sharedSeed, clientSeed, token } = setup()
    net.eps.delete('client')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    let resume: Uint8Array | null = null
    let accepted = false
    net.tap = (d, _from, to) => {
      if (d[1] === RESUME && !resume) resume = d.slice()
      if (d[1] === RESUME_ACCEPT) accepted = true
      if (d[1] === FINAL && to.key === net.addr('client2').key) {
        // FINAL held back; an insider sends a keyed RESUME_REJECTED echoing the RESUME nonce.
        const err = createHandshakeError(resume!.subarray(3, 11), resume!.subarray(51, 67), 0x0106, deriveGroupKeys(sharedSeed).helloMacKey)
        net.inject(net.addr('client2'), err, net.addr('server'))
        return false
      }
      return true
    }
    const h = c2.connect(net.now, net.addr('server'), { resume: token })
    net.run(0)
    net.tap = () => true
    net.run(3000)
    expect(accepted).toBe(true)
    const evs = net.events('client2').filter((e) => (e.kind === 'connected' || e.kind === 'connect-failed') && e.handle === h)
    expect(evs.map((e) => e.kind)).toEqual(['connected'])
    const live = [...c2.allSessions()].filter((x) => x.state !== 'closed')
    expect(live.map((x) => hex(x.id))).toEqual([hex(token.subarray(10, 18))])
    expect(c2.counters.handshakesInitiated).toBe(1)
  })

  it('R8: a RESUME refused for lack of room gets TOO_MANY_SESSIONS and does not burn its ticket', () => {
    const { net, sharedSeed, clientSeed, server, session, token } = setup({ maxSessions: 2 })
    session.close(0, 'bye', net.now)
    net.run(3000)
    net.add('other', { sharedSeed }).connect(net.now, net.addr('server'))
    net.add('third', { sharedSeed }).connect(net.now, net.addr('server'))
    net.run(50)
    expect(server.sessionCount).toBe(2)
    net.eps.delete('client')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    const h = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(50)
    const r = connectedOn(net, 'client2', h) as { kind: string; error: { code: string } }
    expect(r?.kind).toBe('connect-failed')
    expect(r.error.code).toBe('STT_TOO_MANY_SESSIONS')
    for (const x of server.allSessions()) x.close(0, 'room', net.now)
    net.run(3000)
    const h2 = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(50)
    expect(connectedOn(net, 'client2', h2)?.kind).toBe('connected')
  })

  it('R9: a token whose suite the node no longer allows is refused at once', () => {
    const { net, sharedSeed, clientSeed, token } = setup()
    // Tokens from setup() are for AES-256-GCM; the node now allows only ChaCha20-Poly1305.
    net.eps.delete('client')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed, ciphers: ['chacha20-poly1305'] })
    const h = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(50)
    const r = connectedOn(net, 'client2', h) as { kind: string; error: { code: string } }
    expect(r?.kind).toBe('connect-failed')
    expect(r.error.code).toBe('STT_RESUME_REJECTED')
    expect(net.types.filter((t) => t === RESUME).length).toBe(0)
  })

  it("R9: a responder that no longer allows a ticket's suite refuses the ticket", () => {
    const { net, sharedSeed, clientSeed, server, token } = setup()
    // The responder's policy changed since it issued the ticket (same ticket keys).
    ;(server.config as { ciphers: string[] }).ciphers = ['chacha20-poly1305']
    net.eps.delete('client')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    const h = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(50)
    const r = connectedOn(net, 'client2', h) as { kind: string; error: { code: string } }
    expect(r?.kind).toBe('connect-failed')
    expect(r.error.code).toBe('STT_RESUME_REJECTED')
    expect(server.counters.dropped['resume-bad-suite']).toBe(1)
  })

  it('R10: a RESUME with no answer falls back to a full handshake within the timeout; with requireResume it times out', () => {
    const { net, sharedSeed, clientSeed, token } = setup()
    net.eps.delete('client')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    // A peer that drops every RESUME unanswered (e.g. an older version that does not know it).
    net.tap = (d) => d[1] !== RESUME
    const h = c2.connect(net.now, net.addr('server'), { resume: token, timeout: 4000 })
    net.run(3900)
    const r = connectedOn(net, 'client2', h) as { kind: string; session: Session }
    expect(r?.kind).toBe('connected')
    expect(hex(r.session.id)).not.toBe(hex(token.subarray(10, 18)))
    net.run(1000)
    const t2 = tokenOf(net.events('client2'))!
    r.session.close(0, 'bye', net.now)
    net.run(3000)
    const h2 = c2.connect(net.now, net.addr('server'), { resume: t2, requireResume: true, timeout: 4000 })
    net.run(5000)
    const r2 = connectedOn(net, 'client2', h2) as { kind: string; error: { code: string } }
    expect(r2?.kind).toBe('connect-failed')
    expect(r2.error.code).toBe('STT_HANDSHAKE_TIMEOUT')
  })

  it('R6: one initiator node id holds at most its share of the single-use store; entries expire in order of their time, whatever the order of insertion', () => {
    expect(MAX_PER_OWNER).toBe(4096)
    const store = new AcceptedHandshakes(100, 4)
    const id = (n: number) => new Uint8Array(16).fill(n)
    for (let i = 0; i < 4; i++) expect(store.add(id(i), 10_000, 0, 'a')).toBe(true)
    expect(store.full(0, 'a')).toBe(true)
    expect(store.add(id(4), 10_000, 0, 'a')).toBe(false)
    expect(store.add(id(5), 3_000, 0, 'b')).toBe(true)
    expect(store.add(id(6), 1_000, 0)).toBe(true)
    expect(store.add(id(7), 5_000, 0, 'b')).toBe(true)
    expect(store.size).toBe(7)
    // At 2.5 s only the entry of 1 s is gone; at 4 s the one of 3 s too; the rest stay.
    expect(store.full(2_500)).toBe(false)
    expect(store.size).toBe(6)
    expect(store.has(id(6), 2_500)).toBe(false)
    expect(store.has(id(5), 2_500)).toBe(true)
    store.full(4_000)
    expect(store.size).toBe(5)
    expect(store.has(id(7), 4_000)).toBe(true)
    // Once a's entries expire (whole buckets: up to 1 s late), a may be recorded again.
    expect(store.add(id(8), 20_000, 11_000, 'a')).toBe(true)
    expect(store.size).toBe(1)
    expect(store.has(id(0), 11_000)).toBe(false)
  })

  it('R11: a RESUME flood from forged sources fills only the RESUME nonce cache: full handshakes still work, resumptions fall back', () => {
    const ctx = setup()
    const { net, sharedSeed, clientSeed, server, token } = ctx
    const { h, captured } = resumeCapturing(ctx)
    net.run(10)
    expect(connectedOn(net, 'client2', h)?.kind).toBe('connected')
    const t2 = tokenOf(net.events('client2'))!
    expect(t2).toBeDefined()
    // A group member re-MACs the captured RESUME with fresh nonces, 4,096 (one source's share)
    // from each of 17 forged hosts: more than the cache holds.
    const key = deriveGroupKeys(sharedSeed).helloMacKey
    for (let src = 0; src < 17; src++) {
      const from = fakeAddress(`spoof${src}`)
      for (let i = 0; i < 4096; i++) {
        const p = captured().slice()
        p.set(rnd(16), HEADER_SIZE + 32)
        p.set(mac16(key, p.subarray(0, p.length - 16)), p.length - 16)
        net.inject(net.addr('server'), p, from)
      }
    }
    net.run(0)
    expect(server.counters.dropped['hello-full'] ?? 0).toBe(0)
    expect(server.counters.dropped['resume-full']).toBeGreaterThan(0)
    // A new full handshake is served (before: dropped as hello-full until the flood's nonces expired).
    const c3 = net.add('client3', { sharedSeed })
    const h3 = c3.connect(net.now, net.addr('server'), {})
    net.run(3000)
    expect(connectedOn(net, 'client3', h3)?.kind).toBe('connected')
    expect(server.counters.dropped['hello-full'] ?? 0).toBe(0)
    // A resumption meets the full RESUME cache (no answer) and falls back to a full handshake.
    net.eps.delete('client2')
    const c4 = net.add('client4', { sharedSeed, nodeSeed: clientSeed })
    const h4 = c4.connect(net.now, net.addr('server'), { resume: t2 })
    net.run(10_000)
    const r4 = connectedOn(net, 'client4', h4) as { kind: string; session: Session }
    expect(r4?.kind).toBe('connected')
    expect(hex(r4.session.id)).not.toBe(hex(token.subarray(10, 18)))
  }, 60_000)

  it('R12: a resumed session whose RESUME_ACCEPT never arrived closes at keepAliveTimeout, it does not suspend', () => {
    const { net, sharedSeed, clientSeed, server, token, session } = setup()
    const oldId = hex(session.id)
    net.eps.delete('client')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    // Every RESUME_ACCEPT is lost until the initiator falls back (half its 10 s timeout).
    net.tap = (d) => d[1] !== RESUME_ACCEPT
    const h = c2.connect(net.now, net.addr('server'), { resume: token })
    for (let i = 0; i < 60; i++) net.run(100)
    net.tap = () => true
    net.run(100)
    const r = connectedOn(net, 'client2', h) as { kind: string; session: Session }
    expect(r?.kind).toBe('connected')
    expect(hex(r.session.id)).not.toBe(oldId)
    const orphan = () => [...server.allSessions()].find((s) => hex(s.id) === oldId)
    // The responder spent the ticket and made the resumed session: it never hears from it.
    expect(orphan()?.state).toBe('active')
    const suspended: string[] = []
    for (let i = 0; i < 40; i++) {
      net.run(1000)
      const o = orphan()
      if (o?.state === 'suspended') suspended.push(o.state)
    }
    expect(suspended).toEqual([])
    expect(orphan() === undefined || orphan()!.state === 'closed').toBe(true)
    // The fallback session, heard from, is untouched.
    expect(r.session.state).toBe('active')
  })

  it('R13: after RESUME_REJECTED the full handshake gets only the rest of the connect timeout', () => {
    const { net, sharedSeed, clientSeed, token } = setup()
    net.eps.delete('client')
    // The server restarted: new ticket keys, the token is refused (unknown-ticket).
    net.eps.delete('server')
    const server2 = net.add('server', { sharedSeed })
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    const t0 = net.now
    // RESUMEs are lost for 1.5 s (the one at ~1.75 s gets through and is refused); HELLOs always.
    net.tap = (d) => d[1] !== HELLO && !(d[1] === RESUME && net.now < t0 + 1500)
    const h = c2.connect(net.now, net.addr('server'), { resume: token, timeout: 4000 })
    let failedAt = -1
    for (let i = 0; i < 80 && failedAt < 0; i++) {
      net.run(100)
      if (connectedOn(net, 'client2', h)) failedAt = net.now - t0
    }
    expect(server2.counters.dropped['resume-unknown-ticket']).toBe(1)
    const r = connectedOn(net, 'client2', h) as { kind: string; error: { code: string } }
    expect(r?.kind).toBe('connect-failed')
    expect(r.error.code).toBe('STT_HANDSHAKE_TIMEOUT')
    expect(failedAt).toBeLessThanOrEqual(4100)
  })
})
