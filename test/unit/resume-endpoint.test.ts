/**
 * Resumption through two real Endpoints (issue 12, part 2), virtual time: the responder sends
 * a ticket, the initiator turns it into a token; a new initiator endpoint with the same
 * nodeSeed (a restarted process) resumes with it in one round trip: same session id, same peer
 * node id, the responder's stale session replaced. Replayed, expired, other-group and
 * other-node tokens fall back to a full handshake, or fail with requireResume.
 */
import { describe, expect, it } from 'vitest'
import type { Session } from '../../src/protocol/session.js'
import { connectedOn, rnd, setup } from '../helpers/resume-net.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('resumption through endpoints', () => {
  it('a restarted client (same nodeSeed) resumes with its token in one round trip: same session id and peer', () => {
    const { net, sharedSeed, clientSeed, server, session, token } = setup()
    expect(token).toBeInstanceOf(Uint8Array)
    const oldServerSession = [...server.allSessions()][0]!
    // The client process dies (no SESSION_CLOSE) and starts again with the same nodeSeed.
    net.eps.delete('client')
    const again = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    net.types.length = 0
    const h = again.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(10)
    const c = connectedOn(net, 'client2', h)
    expect(c?.kind).toBe('connected')
    const s2 = (c as { session: Session }).session
    expect(hex(s2.id)).toBe(hex(session.id))
    expect(hex(s2.peerNodeId)).toBe(hex(session.peerNodeId))
    // One round trip: RESUME out, RESUME_ACCEPT + FINAL back; no HELLO, CHALLENGE or AUTH_PROOF.
    expect(net.types.slice(0, 3)).toEqual([0x05, 0x06, 0x04])
    expect(net.types).not.toContain(0x01)
    // The responder replaced its stale session with the resumed one, under the same id.
    expect(oldServerSession.state).toBe('closed')
    const ns = [...server.allSessions()].filter((x) => x.state === 'active')
    expect(ns).toHaveLength(1)
    expect(hex(ns[0]!.id)).toBe(hex(session.id))
    expect(hex(ns[0]!.peerNodeId)).toBe(hex(again.nodeId))
    // Data flows under the new keys, and a fresh token arrives for the next time.
    expect(s2.sendDatagram(new Uint8Array([1, 2, 3]))).toBe(true)
    net.run(10)
    expect(net.events('server').some((e) => e.kind === 'datagram')).toBe(true)
    expect(net.events('client2').some((e) => e.kind === 'resumption-token')).toBe(true)
  })

  it('a replayed token is refused: requireResume fails with STT_RESUME_REJECTED, otherwise a full handshake runs', () => {
    const { net, sharedSeed, clientSeed, token } = setup()
    net.eps.delete('client')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    const h1 = c2.connect(net.now, net.addr('server'), { resume: token })
    net.run(10)
    const first = connectedOn(net, 'client2', h1) as { session: Session }
    expect(first.session.state).toBe('active')
    net.eps.delete('client2')
    const c3 = net.add('client3', { sharedSeed, nodeSeed: clientSeed })
    const h2 = c3.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(10)
    expect(connectedOn(net, 'client3', h2)).toMatchObject({ kind: 'connect-failed', error: { code: 'STT_RESUME_REJECTED' } })
    expect(c3.counters.dropped).toBeDefined()
    const h3 = c3.connect(net.now, net.addr('server'), { resume: token })
    net.run(10)
    const fb = connectedOn(net, 'client3', h3) as { kind: string; session: Session }
    expect(fb.kind).toBe('connected')
    // The fallback is a new session (full handshake), not the resumed one.
    expect(hex(fb.session.id)).not.toBe(hex(first.session.id))
  })

  it('an expired token is refused', () => {
    const { net, sharedSeed, clientSeed, token } = setup({ resumeTimeout: 5_000 })
    net.eps.delete('client')
    net.run(6_000)
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    const h = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(10)
    expect(connectedOn(net, 'client2', h)).toMatchObject({ kind: 'connect-failed', error: { code: 'STT_RESUME_REJECTED' } })
  })

  it('a token presented by another node identity is refused', () => {
    const { net, sharedSeed, token } = setup()
    const other = net.add('other', { sharedSeed, nodeSeed: rnd(32) })
    const h = other.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(10)
    expect(connectedOn(net, 'other', h)).toMatchObject({ kind: 'connect-failed', error: { code: 'STT_RESUME_REJECTED' } })
  })

  it('a token from another group is refused at once: STT_RESUME_REJECTED with requireResume, else a full handshake (no RESUME is sent)', () => {
    const { net, clientSeed, token } = setup()
    const groupB = rnd(32)
    net.add('server-b', { sharedSeed: groupB })
    const c2 = net.add('client2', { sharedSeed: groupB, nodeSeed: clientSeed })
    net.types.length = 0
    const h = c2.connect(net.now, net.addr('server-b'), { resume: token, requireResume: true, timeout: 2000 })
    net.run(0)
    expect(connectedOn(net, 'client2', h)).toMatchObject({ kind: 'connect-failed', error: { code: 'STT_RESUME_REJECTED' } })
    expect(net.types).not.toContain(0x05)
    const h2 = c2.connect(net.now, net.addr('server-b'), { resume: token, timeout: 2000 })
    net.run(10)
    expect(connectedOn(net, 'client2', h2)?.kind).toBe('connected')
    expect(net.types).not.toContain(0x05)
  })
})
