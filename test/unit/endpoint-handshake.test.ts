import { describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { EndpointPair } from '../helpers/endpoint-pair.js'
import type { Session } from '../../src/protocol/session.js'

function connected(p: EndpointPair) {
  return p.eventsA.find((e) => e.kind === 'connected') as { session: Session } | undefined
}

describe('handshake over the in-memory wire', () => {
  it('completes and both sides agree on keys, ids and names', () => {
    const p = new EndpointPair()
    p.a.connect(p.now, p.addrB)
    expect(p.run(() => !!connected(p) && p.eventsB.some((e) => e.kind === 'accepted'))).toBe(true)
    const sa = connected(p)!.session
    const sb = (p.eventsB.find((e) => e.kind === 'accepted') as { session: Session }).session
    expect(Buffer.from(sa.id)).toEqual(Buffer.from(sb.id))
    expect(Buffer.from(sa.transcript)).toEqual(Buffer.from(sb.transcript))
    expect(Buffer.from(sa.peerNodeId)).toEqual(Buffer.from(p.b.nodeId))
    expect(Buffer.from(sb.peerNodeId)).toEqual(Buffer.from(p.a.nodeId))
    expect(sa.peerName).toBe('B')
    expect(sb.peerName).toBe('A')
  })

  it('exchanges datagrams both ways after the handshake', () => {
    const p = new EndpointPair()
    p.a.connect(p.now, p.addrB)
    p.run(() => !!connected(p))
    const sa = connected(p)!.session
    const sb = (p.eventsB.find((e) => e.kind === 'accepted') as { session: Session }).session
    sa.sendDatagram(new Uint8Array([1, 2, 3]))
    sb.sendDatagram(new Uint8Array([4, 5]))
    const got = (evs: typeof p.eventsA) => evs.filter((e) => e.kind === 'datagram')
    expect(p.run(() => got(p.eventsA).length === 1 && got(p.eventsB).length === 1)).toBe(true)
  })

  it('a wrong shared seed fails fast with STT_AUTH_FAILED and the responder keeps nothing', () => {
    const p = new EndpointPair({ sharedSeed: randomBytes(32) })
    p.a.connect(p.now, p.addrB)
    p.run(() => p.eventsA.some((e) => e.kind === 'connect-failed'))
    const f = p.eventsA.find((e) => e.kind === 'connect-failed') as { error: { code: string } }
    expect(f.error.code).toBe('STT_AUTH_FAILED')
    expect(p.b.sessionCount).toBe(0)
    expect(p.b.counters.dropped['auth-failed']).toBeGreaterThan(0)
  })

  it('stealth responder stays silent: the initiator times out', () => {
    const p = new EndpointPair({ sharedSeed: randomBytes(32), handshakeTimeout: 2000 }, { stealth: true })
    p.a.connect(p.now, p.addrB)
    p.run(() => p.eventsA.some((e) => e.kind === 'connect-failed'))
    const f = p.eventsA.find((e) => e.kind === 'connect-failed') as { error: { code: string } }
    expect(f.error.code).toBe('STT_HANDSHAKE_TIMEOUT')
  })
})
