/**
 * The responder under attack: address validation (RETRY tokens), anti-amplification, no state
 * before AUTH_PROOF, cookie expiry and cookie-to-address binding.
 */
import { COOKIE_KEY_LIFETIME_MS } from '../../src/protocol/cookie-keys.js'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { deriveGroupKeys, deriveIdentity } from '../../src/protocol/identity.js'
import { InitiatorHandshake } from '../../src/protocol/handshake.js'
import { HeaderFlag } from '../../src/protocol/constants.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'
import { CorePair, PT, typeOf } from './core-harness.js'

const PARAMS = { maxStreams: 8, streamWindow: 65536, sessionWindow: 1 << 20, bareMode: false, maxPacketSize: 1472 }

/** A valid HELLO made outside any Endpoint (a group member's or a flooder's). */
function helloFrom(sharedSeed: Uint8Array, now: number, name = 'x'): Uint8Array {
  const hs = new InitiatorHandshake({ group: deriveGroupKeys(sharedSeed), identity: deriveIdentity(randomBytes(32)) }, { name, params: PARAMS }, ['aes-256-gcm'], (n) => new Uint8Array(randomBytes(n)))
  return hs.createHello(now)
}

describe('address validation (RETRY)', () => {
  it('requireRetry: RETRY then success', () => {
    const p = new CorePair({ seed: 'retry-flag' })
    p.b.requireRetry = true
    p.handshake()
    expect(p.b.counters.retriesSent).toBe(1)
    const types = p.log.slice(0, 5).map((d) => [typeOf(d.data), d.data[2]! & HeaderFlag.RETRY])
    expect(types).toEqual([[PT.HELLO, 0], [PT.CHALLENGE, HeaderFlag.RETRY], [PT.HELLO, 0], [PT.CHALLENGE, 0], [PT.AUTH_PROOF, 0]])
    expect(p.b.sessionCount).toBe(1)
  })

  it('retryThreshold: 0 puts every HELLO under address validation, and still connects', () => {
    const p = new CorePair({ seed: 'retry-threshold', b: { retryThreshold: 0 } })
    p.handshake()
    p.handshake()
    expect(p.b.counters.retriesSent).toBe(2)
    expect(p.b.sessionCount).toBe(2)
  })

  it('a HELLO carrying a token issued to another address is rejected as bad-token, with no reply', () => {
    const p = new CorePair({ seed: 'retry-token-addr' })
    p.b.requireRetry = true
    p.handshake()
    const withToken = p.log.filter((d) => typeOf(d.data) === PT.HELLO)[1]!.data
    expect(withToken[19 + 32 + 16 + 8 + 3]).toBe(32) // token length byte after suites (count 2)
    const sent = p.log.length
    // p's responder already saw this HELLO's nonce (replay cache), so present it to a responder
    // that did not but holds the same cookie keys: same seed, same seeded randomness.
    // Cookie keys are made on first use (cookie-keys.ts): the first, token-less HELLO makes them.
    const first = p.log.filter((d) => typeOf(d.data) === PT.HELLO)[0]!.data
    const q = new CorePair({ seed: 'retry-token-addr', sharedSeed: p.sharedSeed })
    q.b.requireRetry = true
    q.deliver('b', first)
    q.log.length = 0
    q.deliver('b', withToken, fakeAddress('elsewhere'))
    expect(q.b.counters.dropped['bad-token']).toBe(1)
    expect(q.log).toHaveLength(0)
    expect(p.log.length).toBe(sent)
    // Control: the same bytes from the address the token was issued to are accepted there.
    const r = new CorePair({ seed: 'retry-token-addr', sharedSeed: p.sharedSeed })
    r.b.requireRetry = true
    r.deliver('b', first)
    r.log.length = 0
    r.deliver('b', withToken)
    expect(r.b.counters.dropped['bad-token']).toBeUndefined()
    expect(r.log.map((d) => typeOf(d.data))).toEqual([PT.CHALLENGE])
  })

  it('a token is bound to its address: the same token from the right address is accepted', () => {
    const p = new CorePair({ seed: 'retry-token-ok' })
    p.b.requireRetry = true
    p.tap = (d) => (typeOf(d.data) === PT.HELLO && d.data[19 + 32 + 16 + 8 + 3] === 32 ? [] : [d.data])
    p.a.connect(p.now, p.addrB)
    p.run(() => p.log.some((d) => typeOf(d.data) === PT.HELLO && d.data[19 + 32 + 16 + 8 + 3] === 32), 5000)
    const withToken = p.log.find((d) => typeOf(d.data) === PT.HELLO && d.data[19 + 32 + 16 + 8 + 3] === 32)!.data
    p.tap = (d) => [d.data]
    p.deliver('b', withToken) // from addrA, where the token was issued
    expect(p.b.counters.dropped['bad-token']).toBeUndefined()
    expect(p.log.at(-1) && typeOf(p.log.at(-1)!.data)).toBe(PT.CHALLENGE)
  })
})

describe('anti-amplification', () => {
  it('every reply to an unvalidated address is <= 3x the HELLO it answers (many handshakes, all reply kinds)', () => {
    let checked = 0
    const longName = 'n'.repeat(64) // the largest CHALLENGE payload
    const scenarios: Array<{ a?: Record<string, unknown>; b?: Record<string, unknown>; retry?: boolean; version?: number }> = [
      { b: { name: longName } },
      { b: { name: longName }, retry: true },
      { a: { sharedSeed: randomBytes(32) } }, // AUTH_FAILED
      { version: 2 }, // version mismatch error
      { a: { ciphers: ['chacha20-poly1305'] }, b: { ciphers: ['aes-256-gcm'] } }, // no common suite
      { b: { maxSessions: 1 } },
    ]
    for (let round = 0; round < 10; round++) {
      for (const [i, sc] of scenarios.entries()) {
        const p = new CorePair({ seed: `amp-${round}-${i}`, a: sc.a, b: sc.b })
        if (sc.retry) p.b.requireRetry = true
        p.a.connect(p.now, p.addrB, sc.version ? { versionOverride: sc.version } : {})
        p.a.connect(p.now, p.addrB)
        p.run(() => p.connected().length + p.failures().length >= 2, 20_000)
        const hellos = new Map<string, number>()
        for (const d of p.log) {
          const sid = Buffer.from(d.data.subarray(3, 11)).toString('hex')
          const t = typeOf(d.data)
          if (d.from === 'a' && t === PT.HELLO) hellos.set(sid, Math.min(hellos.get(sid) ?? Infinity, d.data.length))
          if (d.from === 'b' && (t === PT.CHALLENGE || t === PT.ERROR)) {
            const helloLen = hellos.get(sid)
            if (t === PT.ERROR && helloLen === undefined) continue // errors after AUTH_PROOF (validated)
            expect(helloLen, `reply without a HELLO (${sid})`).toBeDefined()
            expect(d.data.length, `type ${t} answering a ${helloLen}-byte HELLO`).toBeLessThanOrEqual(3 * helloLen!)
            checked++
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(100)
  })

  it('a HELLO below the minimum size gets no reply at all', () => {
    const p = new CorePair({ seed: 'amp-short' })
    const hello = helloFrom(p.sharedSeed, p.now)
    p.deliver('b', hello.subarray(0, 255))
    expect(p.b.counters.dropped['short-hello']).toBe(1)
    expect(p.log).toHaveLength(0)
  })

  it('unauthenticated AUTH_FAILED replies are rate limited (reflection)', () => {
    const p = new CorePair({ seed: 'amp-ratelimit' })
    for (let i = 0; i < 200; i++) p.deliver('b', helloFrom(randomBytes(32), p.now))
    expect(p.b.counters.dropped['auth-failed']).toBe(200)
    expect(p.log.length).toBeLessThanOrEqual(20)
  })
})

describe('no responder state before AUTH_PROOF', () => {
  it('HELLOs from outsiders (wrong seed, garbage, bad MAC) leave no state and no timers', () => {
    const p = new CorePair({ seed: 'state-outsiders', b: { stealth: true } })
    for (let i = 0; i < 300; i++) {
      const h = i % 3 === 0 ? helloFrom(randomBytes(32), p.now) : i % 3 === 1 ? randomBytes(256 + (i % 50)) : helloFrom(p.sharedSeed, p.now)
      if (i % 3 === 1) h[1] = PT.HELLO
      if (i % 3 === 2) h[100]! ^= 1 // breaks the MAC
      p.deliver('b', h, fakeAddress(`outsider-${i}`))
    }
    expect(p.b.sessionCount).toBe(0)
    expect(p.b.pollTimeout(p.now)).toBe(Infinity)
    expect(p.log).toHaveLength(0) // stealth: not a byte back
    expect(p.b.counters.dropped['auth-failed']).toBe(300)
  })

  it('a flood of valid HELLOs without AUTH_PROOF: a CHALLENGE each, zero sessions, nothing scheduled', () => {
    const p = new CorePair({ seed: 'state-flood' })
    const N = 400
    for (let i = 0; i < N; i++) p.deliver('b', helloFrom(p.sharedSeed, p.now), fakeAddress(`flooder-${i}`))
    expect(p.b.sessionCount).toBe(0)
    // The only deadline is the cookie key's retirement (cookie-keys.ts), not per-HELLO state.
    expect(p.b.pollTimeout(p.now)).toBe(p.now + COOKIE_KEY_LIFETIME_MS)
    expect(p.log.filter((d) => typeOf(d.data) === PT.CHALLENGE)).toHaveLength(N)
    p.advance(60_000)
    expect(p.b.sessionCount).toBe(0)
    // The responder still serves a real initiator afterwards.
    p.handshake()
    expect(p.b.sessionCount).toBe(1)
  })

  it('an expired cookie is refused (proof-expired-cookie)', () => {
    const p = new CorePair({ seed: 'cookie-expired', b: { handshakeTimeout: 2000 } })
    p.tap = (d) => (typeOf(d.data) === PT.AUTH_PROOF ? [] : [d.data])
    p.a.connect(p.now, p.addrB)
    p.run(() => p.log.some((d) => typeOf(d.data) === PT.AUTH_PROOF), 5000)
    const proof = p.log.find((d) => typeOf(d.data) === PT.AUTH_PROOF)!.data
    p.now += 2001
    p.deliver('b', proof)
    expect(p.b.counters.dropped['proof-expired-cookie']).toBe(1)
    expect(p.b.sessionCount).toBe(0)
  })

  it('the same AUTH_PROOF within the cookie lifetime is accepted (control for the test above)', () => {
    const p = new CorePair({ seed: 'cookie-fresh', b: { handshakeTimeout: 2000 } })
    p.tap = (d) => (typeOf(d.data) === PT.AUTH_PROOF ? [] : [d.data])
    p.a.connect(p.now, p.addrB)
    p.run(() => p.log.some((d) => typeOf(d.data) === PT.AUTH_PROOF), 5000)
    const proof = p.log.find((d) => typeOf(d.data) === PT.AUTH_PROOF)!.data
    p.now += 1900
    p.deliver('b', proof)
    expect(p.b.sessionCount).toBe(1)
  })

  it('an AUTH_PROOF carrying a cookie issued to another address is refused (proof-bad-cookie)', () => {
    const p = new CorePair({ seed: 'cookie-addr' })
    p.tap = (d) => (typeOf(d.data) === PT.AUTH_PROOF ? [] : [d.data])
    p.a.connect(p.now, p.addrB)
    p.run(() => p.log.some((d) => typeOf(d.data) === PT.AUTH_PROOF), 5000)
    const proof = p.log.find((d) => typeOf(d.data) === PT.AUTH_PROOF)!.data
    p.deliver('b', proof, fakeAddress('attacker'))
    expect(p.b.counters.dropped['proof-bad-cookie']).toBe(1)
    expect(p.b.sessionCount).toBe(0)
    // A cookie edit is refused the same way.
    const edited = proof.slice()
    edited[19 + 1 + 20]! ^= 0x40
    p.deliver('b', edited)
    expect(p.b.counters.dropped['proof-bad-cookie']).toBe(2)
    expect(p.b.sessionCount).toBe(0)
  })
})
