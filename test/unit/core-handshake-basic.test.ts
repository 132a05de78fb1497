/**
 * Handshake state machine over the in-memory harness: outcomes and error codes.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { CorePair, PT, typeOf } from './core-harness.js'

describe('handshake outcomes', () => {
  it('succeeds with exactly one session per side, agreeing on id, transcript, suite and identities', () => {
    const p = new CorePair({ seed: 'basic-success' })
    const { sa, sb } = p.handshake()
    p.advance(100)
    expect(p.a.sessionCount).toBe(1)
    expect(p.b.sessionCount).toBe(1)
    expect(sa.state).toBe('active')
    expect(sb.state).toBe('active')
    expect(Buffer.from(sa.transcript).equals(Buffer.from(sb.transcript))).toBe(true)
    expect(Buffer.from(sa.peerNodeId).equals(Buffer.from(p.b.nodeId))).toBe(true)
    expect(Buffer.from(sb.peerNodeId).equals(Buffer.from(p.a.nodeId))).toBe(true)
    expect(sa.suite).toBe('aes-256-gcm')
    expect(p.a.counters.handshakesCompleted).toBe(1)
    expect(p.b.counters.handshakesAccepted).toBe(1)
    // Exactly the four messages, once each.
    expect(p.log.slice(0, 4).map((d) => typeOf(d.data))).toEqual([PT.HELLO, PT.CHALLENGE, PT.AUTH_PROOF, PT.FINAL])
    expect(p.roundTrip(sa, sb, 'x')).toBe(true)
  })

  it('a wrong shared seed fails quickly with STT_AUTH_FAILED; the responder keeps nothing', () => {
    const p = new CorePair({ seed: 'basic-wrong-seed', a: { sharedSeed: randomBytes(32) } })
    const t0 = p.now
    p.a.connect(p.now, p.addrB)
    p.run(() => p.failures().length > 0)
    expect(p.failures()[0]!.code).toBe('STT_AUTH_FAILED')
    expect(p.now - t0).toBeLessThan(100) // two round trips, not a timeout
    expect(p.b.sessionCount).toBe(0)
    // Two HELLOs rejected: one AUTH_FAILED could be a corrupted HELLO, two are believed.
    expect(p.b.counters.dropped['auth-failed']).toBe(2)
    expect(p.b.pollTimeout(p.now)).toBe(Infinity)
  })

  it('with a stealth responder a wrong seed gets no answer: STT_HANDSHAKE_TIMEOUT', () => {
    const p = new CorePair({ seed: 'basic-stealth', a: { sharedSeed: randomBytes(32), handshakeTimeout: 3000 }, b: { stealth: true } })
    const t0 = p.now
    p.a.connect(p.now, p.addrB)
    p.run(() => p.failures().length > 0)
    expect(p.failures()[0]!.code).toBe('STT_HANDSHAKE_TIMEOUT')
    expect(p.now - t0).toBeGreaterThanOrEqual(3000)
    expect(p.log.filter((d) => d.from === 'b')).toHaveLength(0)
    expect(p.b.counters.dropped['auth-failed']).toBeGreaterThan(1) // every retransmitted HELLO counted
  })

  it('an unreachable peer: STT_HANDSHAKE_TIMEOUT at the configured timeout, HELLO retransmitted with backoff', () => {
    const p = new CorePair({ seed: 'basic-timeout', a: { handshakeTimeout: 5000 } })
    p.tap = () => []
    const t0 = p.now
    p.a.connect(p.now, p.addrB)
    p.run(() => p.failures().length > 0)
    expect(p.failures()[0]!.code).toBe('STT_HANDSHAKE_TIMEOUT')
    expect(p.now - t0).toBe(5000)
    const hellos = p.log.filter((d) => typeOf(d.data) === PT.HELLO)
    expect(hellos.length).toBeGreaterThan(3)
    expect(hellos.length).toBeLessThan(12) // backoff, not a flood
    // Every retransmission is a fresh HELLO (new nonce) for the same session id.
    expect(new Set(hellos.map((d) => Buffer.from(d.data.subarray(51, 67)).toString('hex'))).size).toBe(hellos.length)
    expect(new Set(hellos.map((d) => Buffer.from(d.data.subarray(3, 11)).toString('hex'))).size).toBe(1)
    expect(p.a.sessionCount).toBe(0)
    expect(p.a.pollTimeout(p.now)).toBe(Infinity)
  })

  it('a replayed HELLO is dropped as replayed-hello, counted, and answered with nothing', () => {
    const p = new CorePair({ seed: 'basic-replay' })
    p.handshake()
    p.advance(50)
    const hello = p.log.find((d) => typeOf(d.data) === PT.HELLO)!.data
    const sent = p.log.length
    for (let i = 0; i < 3; i++) p.deliver('b', hello)
    expect(p.b.counters.dropped['replayed-hello']).toBe(3)
    expect(p.log.length).toBe(sent)
    expect(p.b.sessionCount).toBe(1)
  })

  it('a HELLO replayed after the replay-cache window is refused as stale', () => {
    const p = new CorePair({ seed: 'basic-stale', b: { helloMaxSkew: 2000 } })
    p.handshake()
    const hello = p.log.find((d) => typeOf(d.data) === PT.HELLO)!.data
    p.advance(5000)
    p.deliver('b', hello)
    expect(p.b.counters.dropped['stale-hello']).toBe(1)
  })

  it('version mismatch: STT_VERSION_MISMATCH naming the versions the responder speaks', () => {
    const p = new CorePair({ seed: 'basic-version' })
    p.a.connect(p.now, p.addrB, { versionOverride: 2 })
    p.run(() => p.failures().length > 0)
    const f = p.failures()[0]!
    expect(f.code).toBe('STT_VERSION_MISMATCH')
    expect(f.message).toMatch(/version\(s\) 1/)
    expect(p.b.counters.dropped['version-mismatch']).toBe(1)
    expect(p.b.sessionCount).toBe(0)
  })

  it('peerNodeId pinning: another node id fails with STT_PEER_MISMATCH, the right one succeeds', () => {
    const p = new CorePair({ seed: 'basic-pin' })
    p.a.connect(p.now, p.addrB, { peerNodeId: randomBytes(32) })
    p.run(() => p.failures().length > 0)
    expect(p.failures()[0]!.code).toBe('STT_PEER_MISMATCH')
    p.advance(1000)
    expect(p.a.sessionCount).toBe(0)
    expect(p.b.sessionCount).toBe(0) // no AUTH_PROOF was ever sent
    expect(p.log.some((d) => typeOf(d.data) === PT.AUTH_PROOF)).toBe(false)
    const { sa } = p.handshake({ peerNodeId: p.b.nodeId })
    expect(Buffer.from(sa.peerNodeId).equals(Buffer.from(p.b.nodeId))).toBe(true)
  })

  it('maxSessions: the responder refuses one more with STT_TOO_MANY_SESSIONS', () => {
    const p = new CorePair({ seed: 'basic-max', b: { maxSessions: 2 } })
    p.handshake()
    p.handshake()
    p.a.connect(p.now, p.addrB)
    p.run(() => p.failures().length > 0)
    expect(p.failures()[0]!.code).toBe('STT_TOO_MANY_SESSIONS')
    expect(p.b.sessionCount).toBe(2)
    expect(p.b.counters.dropped['too-many-sessions']).toBe(1)
  })

  it('suite negotiation: the initiator prefers chacha20-poly1305 and both sides use it', () => {
    const p = new CorePair({ seed: 'basic-chacha', a: { ciphers: ['chacha20-poly1305', 'aes-256-gcm'] } })
    const { sa, sb } = p.handshake()
    expect(sa.suite).toBe('chacha20-poly1305')
    expect(sb.suite).toBe('chacha20-poly1305')
    expect(p.roundTrip(sa, sb, 'c')).toBe(true)
  })

  it('suite negotiation: the responder allows only one and the initiator offers it second', () => {
    const p = new CorePair({ seed: 'basic-chacha2', a: { ciphers: ['aes-256-gcm', 'chacha20-poly1305'] }, b: { ciphers: ['chacha20-poly1305'] } })
    const { sa, sb } = p.handshake()
    expect(sa.suite).toBe('chacha20-poly1305')
    expect(sb.suite).toBe('chacha20-poly1305')
  })

  it('suite negotiation: no common suite fails the connect (wire code HANDSHAKE_FAILURE) and keeps no state', () => {
    const p = new CorePair({ seed: 'basic-nosuite', a: { ciphers: ['chacha20-poly1305'] }, b: { ciphers: ['aes-256-gcm'] } })
    p.a.connect(p.now, p.addrB)
    p.run(() => p.failures().length > 0)
    const f = p.failures()[0]! as unknown as { code: string; wireCode?: number; details?: { wireCode?: number } }
    // A configuration problem, not a wrong seed: the error says so and carries the wire code.
    expect(f.code).toBe('STT_CONFIG')
    expect(f.wireCode).toBe(0x0405)
    expect((f as unknown as Error).message).toMatch(/cipher suites/)
    expect(p.b.counters.dropped['no-common-cipher']).toBe(1)
    expect(p.b.sessionCount).toBe(0)
    expect(p.a.sessionCount).toBe(0)
  })
})
