/**
 * Resumption under attack and misuse, through real Endpoints on a virtual clock (review of
 * issue 12 part 2, findings F1–F3, F5, F7; F4, F6, F8 are also in resume-handshake.test.ts and
 * resume-endpoint.test.ts):
 *
 * F1  a RESUME captured and raced from a spoofed address: the responder sends that address at
 *     most 3x the RESUME bytes, and no application data, however much the application writes;
 * F2  the cached RESUME_ACCEPT for a repeated RESUME goes only to the address the resumption
 *     is bound to;
 * F3  a leftover token of an older generation cannot replace the session its successor resumed;
 * F5  a pinned peerNodeId is enforced on a resumption;
 * F7  two connects with one token: the second fails at once, the first completes.
 */
import { describe, expect, it } from 'vitest'
import { fakeAddress } from '../helpers/endpoint-pair.js'
import { connectedOn, rnd, setup } from '../helpers/resume-net.js'
import type { Session } from '../../src/protocol/session.js'

const RESUME = 0x05
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('resumption security', () => {
  it('F1: a RESUME replayed from a spoofed address gets at most 3x its bytes there, and no application data', () => {
    const { net, sharedSeed, clientSeed, server, token } = setup()
    net.eps.delete('client')
    const victim = fakeAddress('victim')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    // The attacker copies the first RESUME off the wire and gets its copy there first, from the victim's address.
    let resumeBytes = 0
    net.tap = (d, from) => {
      if (d[1] === RESUME && from.key === net.addr('client2').key && resumeBytes === 0) {
        resumeBytes = d.length
        net.inject(net.addr('server'), d, victim)
      }
      return true
    }
    // The responder's application writes as soon as the session is accepted.
    const h = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true, timeout: 3000 })
    net.run(0)
    const accepted = net.events('server').filter((e) => e.kind === 'accepted').map((e) => (e as { session: Session }).session)
    const resumed = accepted.find((s) => s.address.key === victim.key)!
    expect(resumed).toBeDefined()
    const st = resumed.streams.openStream()
    resumed.streams.write(st, new Uint8Array(200_000))
    resumed.sendDatagram(new Uint8Array(1000))
    net.run(30_000)
    const toVictim = net.bytesTo.get(victim.key) ?? 0
    expect(resumeBytes).toBeGreaterThan(0)
    expect(toVictim).toBeGreaterThan(0) // RESUME_ACCEPT (and FINAL) did go: the address was not known to be spoofed
    expect(toVictim).toBeLessThanOrEqual(3 * resumeBytes)
    expect(resumed.resumption.dataAllowed).toBe(false)
    // The real client's copies are refused (replayed nonce, then the other address): no session for it.
    expect(server.counters.dropped['resume-other-address']).toBeGreaterThan(0)
    expect(connectedOn(net, 'client2', h)?.kind).toBe('connect-failed')
  })

  it('F1: once the peer is heard under the new keys from the RESUME address, data flows without the limit', () => {
    const { net, sharedSeed, clientSeed, token } = setup()
    net.eps.delete('client')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    const h = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(0)
    expect(connectedOn(net, 'client2', h)?.kind).toBe('connected')
    const accepted = net.events('server').filter((e) => e.kind === 'accepted').map((e) => (e as { session: Session }).session)
    const resumed = accepted[accepted.length - 1]!
    expect(resumed.resumption.dataAllowed).toBe(true)
    expect(resumed.resumption.allowance(resumed.address)).toBe(Infinity)
    const before = net.bytesTo.get(net.addr('client2').key) ?? 0
    resumed.streams.write(resumed.streams.openStream(), new Uint8Array(100_000))
    net.run(500)
    expect((net.bytesTo.get(net.addr('client2').key) ?? 0) - before).toBeGreaterThan(100_000)
  })

  it('F2: a repeated RESUME gets the cached RESUME_ACCEPT only at the bound address', () => {
    const { net, sharedSeed, clientSeed, server, token } = setup()
    net.eps.delete('client')
    const victim = fakeAddress('victim')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    let accepts = 0
    let resumes = 0
    net.tap = (d, from) => {
      // The first RESUME_ACCEPT is lost; the second RESUME (same e_i) is raced from the victim's address.
      if (d[1] === 0x06) return ++accepts > 1
      if (d[1] === RESUME && from.key === net.addr('client2').key && ++resumes === 2) net.inject(net.addr('server'), d, victim)
      return true
    }
    const h = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(5_000)
    expect(server.counters.dropped['resume-other-address']).toBe(1)
    expect(net.bytesTo.get(victim.key) ?? 0).toBe(0)
    // The client's own third RESUME gets the cached answer at the bound address.
    expect(connectedOn(net, 'client2', h)?.kind).toBe('connected')
  })

  it('F3: a leftover token of an older generation cannot replace the session its successor resumed', () => {
    const { net, sharedSeed, clientSeed } = setup({ resumeTimeout: 10_000 })
    // The session gets a second ticket before the first expires (re-issue at resumeTimeout / 2).
    net.run(5_100)
    const tokens = net
      .events('client')
      .filter((e) => e.kind === 'resumption-token')
      .map((e) => (e as { token: Uint8Array }).token)
    expect(tokens.length).toBeGreaterThanOrEqual(2)
    net.eps.delete('client')
    // The newest token resumes: the live session is now generation 1.
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    const h2 = c2.connect(net.now, net.addr('server'), { resume: tokens[tokens.length - 1]!, requireResume: true })
    net.run(10)
    const live = (connectedOn(net, 'client2', h2) as { session: Session }).session
    const serverSession = [...net.eps.get('server')!.ep.allSessions()].find((s) => hex(s.id) === hex(live.id) && s.state === 'active')!
    expect(serverSession.resumption.generation).toBe(1)
    // A copy of the older, never used, unexpired token (a stale backup, another device) is refused:
    // it does not replace the live session.
    const c3 = net.add('client3', { sharedSeed, nodeSeed: clientSeed })
    const h3 = c3.connect(net.now, net.addr('server'), { resume: tokens[0]!, requireResume: true })
    net.run(10)
    expect(connectedOn(net, 'client3', h3)).toMatchObject({ kind: 'connect-failed', error: { code: 'STT_RESUME_REJECTED' } })
    expect(net.eps.get('server')!.ep.counters.dropped['resume-old-generation']).toBe(1)
    expect(serverSession.state).toBe('active')
  })

  it('F5: a resumption honours a pinned peerNodeId', () => {
    const { net, sharedSeed, clientSeed, server, token } = setup()
    net.eps.delete('client')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    net.types.length = 0
    const bad = c2.connect(net.now, net.addr('server'), { resume: token, peerNodeId: rnd(32) })
    net.run(10)
    expect(connectedOn(net, 'client2', bad)).toMatchObject({ kind: 'connect-failed', error: { code: 'STT_PEER_MISMATCH' } })
    expect(net.types).not.toContain(RESUME)
    const good = c2.connect(net.now, net.addr('server'), { resume: token, peerNodeId: server.nodeId, requireResume: true })
    net.run(10)
    expect(connectedOn(net, 'client2', good)?.kind).toBe('connected')
  })

  it('F7: two concurrent connects with one token: the second fails at once, the first completes', () => {
    const { net, sharedSeed, clientSeed, session, token } = setup()
    net.eps.delete('client')
    const c2 = net.add('client2', { sharedSeed, nodeSeed: clientSeed })
    const h1 = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    const h2 = c2.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    expect(connectedOn(net, 'client2', h2)).toBeUndefined()
    net.run(0)
    expect(connectedOn(net, 'client2', h2)).toMatchObject({ kind: 'connect-failed', error: { code: 'STT_RESUME_REJECTED' } })
    const first = connectedOn(net, 'client2', h1) as { kind: string; session: Session }
    expect(first.kind).toBe('connected')
    expect(hex(first.session.id)).toBe(hex(session.id))
  })
})
