/**
 * Resumption through two real Endpoints (issue 12, part 2), virtual time: the responder sends
 * a ticket, the initiator turns it into a token; a new initiator endpoint with the same
 * nodeSeed (a restarted process) resumes with it in one round trip: same session id, same peer
 * node id, the responder's stale session replaced. Replayed, expired, other-group and
 * other-node tokens fall back to a full handshake, or fail with requireResume.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { resolveProtocolConfig } from '../../src/config.js'
import { jsAead } from '../../src/crypto/js-aead.js'
import type { PeerAddress } from '../../src/net-types.js'
import { Endpoint, type EndpointEvent } from '../../src/protocol/endpoint.js'
import type { Session } from '../../src/protocol/session.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'

const rnd = (n: number) => new Uint8Array(randomBytes(n))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

class Net {
  now = 1_000_000
  readonly eps = new Map<string, { ep: Endpoint; addr: PeerAddress; events: EndpointEvent[] }>()
  /** Datagrams (and round trips) seen, per packet type byte. */
  readonly types: number[] = []
  add(name: string, opts: Record<string, unknown>): Endpoint {
    const ep = new Endpoint(resolveProtocolConfig({ name, ...opts }, rnd), jsAead, rnd, this.now)
    ep.syncWallClock(this.now, 1_700_000_000_000 + this.now)
    this.eps.set(name, { ep, addr: fakeAddress(name), events: [] })
    return ep
  }
  addr(name: string): PeerAddress {
    return this.eps.get(name)!.addr
  }
  events(name: string): EndpointEvent[] {
    return this.eps.get(name)!.events
  }
  /** Delivers everything at once (zero latency) until quiet, then advances `ms` of timers. */
  run(ms = 0): void {
    const end = this.now + ms
    for (;;) {
      for (let moved = true; moved; ) {
        moved = false
        for (const from of this.eps.values()) {
          for (let tx = from.ep.pollTransmit(this.now); tx; tx = from.ep.pollTransmit(this.now)) {
            const to = [...this.eps.values()].find((e) => e.addr.key === tx.to.key)
            for (let i = 0; i < tx.count; i++) {
              const d = tx.slab.slice(tx.offsets[i]!, tx.offsets[i]! + tx.lengths[i]!)
              this.types.push(d[1]!)
              moved = true
              to?.ep.handleBatch(this.now, { slab: d, offsets: new Uint32Array([0]), lengths: new Uint32Array([d.length]), count: 1, from: [from.addr] })
            }
          }
          for (let e = from.ep.pollEvent(); e; e = from.ep.pollEvent()) from.events.push(e)
        }
      }
      const next = Math.min(...[...this.eps.values()].map((e) => e.ep.pollTimeout(this.now)))
      if (next > end) break
      this.now = Math.max(this.now, next)
      for (const e of this.eps.values()) e.ep.handleTimeout(this.now)
    }
    this.now = end
  }
}

function setup(serverOpts: Record<string, unknown> = {}) {
  const net = new Net()
  const sharedSeed = rnd(32)
  const clientSeed = rnd(32)
  const server = net.add('server', { sharedSeed, ...serverOpts })
  const client = net.add('client', { sharedSeed, nodeSeed: clientSeed })
  client.connect(net.now, net.addr('server'))
  net.run(10)
  const connected = net.events('client').find((e) => e.type === 'connected') as { session: Session }
  const token = (net.events('client').find((e) => e.type === 'session' && e.event.type === 'resumption-token') as { event: { token: Uint8Array } } | undefined)?.event.token
  return { net, sharedSeed, clientSeed, server, client, session: connected.session, token: token! }
}

function connectedOn(net: Net, name: string, handle: number) {
  return net.events(name).find((e) => (e.type === 'connected' || e.type === 'connect-failed') && e.handle === handle) as
    | { type: 'connected'; session: Session }
    | { type: 'connect-failed'; error: { code: string } }
    | undefined
}

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
    expect(c?.type).toBe('connected')
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
    expect(net.events('server').some((e) => e.type === 'session' && e.event.type === 'datagram')).toBe(true)
    expect(net.events('client2').some((e) => e.type === 'session' && e.event.type === 'resumption-token')).toBe(true)
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
    expect(connectedOn(net, 'client3', h2)).toMatchObject({ type: 'connect-failed', error: { code: 'STT_RESUME_REJECTED' } })
    expect(c3.counters.dropped).toBeDefined()
    const h3 = c3.connect(net.now, net.addr('server'), { resume: token })
    net.run(10)
    const fb = connectedOn(net, 'client3', h3) as { type: string; session: Session }
    expect(fb.type).toBe('connected')
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
    expect(connectedOn(net, 'client2', h)).toMatchObject({ type: 'connect-failed', error: { code: 'STT_RESUME_REJECTED' } })
  })

  it('a token presented by another node identity is refused', () => {
    const { net, sharedSeed, token } = setup()
    const other = net.add('other', { sharedSeed, nodeSeed: rnd(32) })
    const h = other.connect(net.now, net.addr('server'), { resume: token, requireResume: true })
    net.run(10)
    expect(connectedOn(net, 'other', h)).toMatchObject({ type: 'connect-failed', error: { code: 'STT_RESUME_REJECTED' } })
  })

  it('a token from another group is refused (its RESUME fails the group MAC; the connect times out or falls back)', () => {
    const { net, clientSeed, token } = setup()
    const otherServer = net.add('server-b', { sharedSeed: rnd(32) })
    const c2 = net.add('client2', { sharedSeed: rnd(32), nodeSeed: clientSeed })
    void otherServer
    const h = c2.connect(net.now, net.addr('server-b'), { resume: token, requireResume: true, timeout: 2000 })
    net.run(3000)
    expect(connectedOn(net, 'client2', h)).toMatchObject({ type: 'connect-failed' })
    expect(otherServer.counters.dropped['resume-bad-mac']).toBeGreaterThan(0)
  })
})
