/**
 * Regression tests for issue 10 (security review of protocol v1), handshake items:
 * 1 (replayed AUTH_PROOF), 3 (cookie keys), 5 (forged AUTH_FAILED), 6 (wall-clock HELLO
 * timestamps), 7 (HELLO cache), 10 (suite not offered). Each fails on the code before the fix.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { COOKIE_KEY_LIFETIME_MS, CookieKeys } from '../../src/protocol/cookie-keys.js'
import { HEADER_SIZE } from '../../src/protocol/constants.js'
import { consumeAuthProof, createChallenge, createHandshakeError, InitiatorHandshake, parseHello, type HandshakeKeys } from '../../src/protocol/handshake.js'
import { HELLO_CACHE_PER_SOURCE, HelloCache } from '../../src/protocol/hello-cache.js'
import { byteKey } from '../../src/protocol/handshake-replay.js'
import { sourceOf } from '../../src/protocol/responder-state.js'
import { deriveGroupKeys, deriveIdentity } from '../../src/protocol/identity.js'
import { readU64 } from '../../src/protocol/header.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'
import { seededRandom } from '../helpers/rng.js'
import { CorePair, PT, typeOf } from './core-harness.js'

const PARAMS = { maxStreams: 8, streamWindow: 65536, sessionWindow: 1 << 20, bareMode: false, maxPacketSize: 1472 }
const rnd = (n: number) => new Uint8Array(randomBytes(n))

function keysOf(sharedSeed: Uint8Array): HandshakeKeys {
  return { group: deriveGroupKeys(sharedSeed), identity: deriveIdentity(randomBytes(32)) }
}

function datagramsAt(p: CorePair, side: 'a' | 'b'): string[] {
  return p.sessionEvents(side, 'datagram').map((e) => Buffer.from(e.event.data as Uint8Array).toString())
}

describe('item 1: an AUTH_PROOF is accepted once', () => {
  it('a recorded AUTH_PROOF and data replayed after the session ended rebuild nothing (proof-replayed)', () => {
    const p = new CorePair({ seed: 'sec-replay-proof' })
    const { sa, sb } = p.handshake()
    expect(p.roundTrip(sa, sb, 'secret')).toBe(true)
    const proof = p.log.find((d) => typeOf(d.data) === PT.AUTH_PROOF)!.data
    const recordedData = p.log.filter((d) => d.from === 'a' && typeOf(d.data) === PT.DATA).map((d) => d.data)
    sa.close(0, 'done', p.now)
    p.advance(3000) // the responder forgets the session (closed, linger over)
    expect(p.b.sessionCount).toBe(0)
    const acceptedBefore = p.accepted().length
    p.deliver('b', proof) // from the initiator's (spoofed) address
    for (const d of recordedData) p.deliver('b', d)
    p.advance(1000)
    expect(p.accepted().length).toBe(acceptedBefore)
    expect(p.b.counters.dropped['proof-replayed']).toBe(1)
    expect(datagramsAt(p, 'b').filter((s) => s === 'secret:a->b')).toHaveLength(1)
  })

  it('FINAL lost and the responder application closes at once: the retransmitted AUTH_PROOF is not accepted again', () => {
    const p = new CorePair({ seed: 'sec-final-lost' })
    // Nothing the responder sends under the traffic keys arrives (FINAL and data lost).
    p.tap = (d) => (d.from === 'b' && (typeOf(d.data) === PT.FINAL || typeOf(d.data) === PT.DATA) ? [] : [d.data])
    p.a.connect(p.now, p.addrB)
    p.run(() => p.accepted().length === 1, 5000)
    const sb = p.accepted()[0]!
    sb.close(0, 'not wanted', p.now)
    p.advance(5000) // the initiator keeps retransmitting AUTH_PROOF
    expect(p.accepted()).toHaveLength(1)
    expect(p.b.counters.dropped['proof-replayed']).toBeGreaterThan(0)
  })

  it('the HELLO cache share is charged per host (IPv4) or /64 (IPv6), not per port', () => {
    expect(sourceOf({ key: 'udp:10.0.0.1:1', host: '10.0.0.1', family: 'IPv4' })).toBe(sourceOf({ key: 'udp:10.0.0.1:2', host: '10.0.0.1', family: 'IPv4' }))
    expect(sourceOf({ key: 'udp:[2001:db8:1:2::5]:1', host: '2001:db8:1:2::5', family: 'IPv6' })).toBe(sourceOf({ key: 'udp:[2001:db8:1:2:ff::9]:7', host: '2001:db8:1:2:ff::9', family: 'IPv6' }))
    expect(sourceOf({ key: 'x', host: '2001:db8:1:3::5', family: 'IPv6' })).not.toBe(sourceOf({ key: 'y', host: '2001:db8:1:2::5', family: 'IPv6' }))
    expect(sourceOf({ key: 'ws:17' })).toBe('ws:17')
  })

  it('no key update before the handshake is confirmed: FINAL held back past rekeyAfterMs still completes it', () => {
    // Review of issue 10: the responder could start a key update before hearing the initiator,
    // and every resent FINAL was then sealed under phase 1, which an initiator without keys
    // cannot open.
    const p = new CorePair({ seed: 'sec-final-late', b: { rekeyAfterMs: 1000 } })
    const heldUntil = p.now + 1500
    p.tap = (d) => (d.from === 'b' && typeOf(d.data) === PT.FINAL && p.now < heldUntil ? [] : [d.data])
    p.a.connect(p.now, p.addrB)
    p.run(() => p.connected().length === 1 || p.failures().length > 0, 20_000)
    expect(p.failures()).toHaveLength(0)
    expect(p.connected()).toHaveLength(1)
  })

  it('the traffic keys of one AUTH_PROOF are new at every acceptance (responder FINAL random)', () => {
    const shared = rnd(32)
    const initiator = new InitiatorHandshake(keysOf(shared), { name: 'i', params: PARAMS }, ['aes-256-gcm'], rnd)
    const responderKeys = keysOf(shared)
    const now = 1_700_000_000_000
    const hello = parseHello(initiator.createHello(now), responderKeys.group.helloMacKey)
    if (typeof hello === 'string') throw new Error(hello)
    const cookieKey = rnd(32)
    const challenge = createChallenge(responderKeys, hello, 'aes-256-gcm', { name: 'r', params: PARAMS }, cookieKey, 'sim:a', now, rnd)!
    const out = initiator.consumeChallenge(challenge, 0)
    if (out.kind !== 'proof') throw new Error(out.kind)
    const first = consumeAuthProof(out.packet, [cookieKey], 'sim:a', now, 10_000, rnd)
    const second = consumeAuthProof(out.packet, [cookieKey], 'sim:a', now, 10_000, rnd)
    if (first.kind !== 'ok' || second.kind !== 'ok') throw new Error('proof refused')
    expect(Buffer.from(first.result.r2i).equals(Buffer.from(second.result.r2i))).toBe(false)
    expect(Buffer.from(first.result.i2r).equals(Buffer.from(second.result.i2r))).toBe(false)
    // The initiator derives the same keys as the responder from that acceptance's FINAL random.
    const fin = initiator.finish(second.result.finalRandom)!
    expect(Buffer.from(fin.r2i).equals(Buffer.from(second.result.r2i))).toBe(true)
    expect(Buffer.from(fin.transcript).equals(Buffer.from(second.result.transcript))).toBe(true)
  })

  it('a FINAL whose random was altered in flight does not authenticate and builds no session', () => {
    const p = new CorePair({ seed: 'sec-final-edit' })
    let edited = 0
    p.tap = (d) => {
      if (typeOf(d.data) !== PT.FINAL || edited++ > 0) return [d.data]
      const x = d.data.slice()
      x[x.length - 1]! ^= 1
      return [x]
    }
    const { sa } = p.handshake()
    expect(p.a.counters.dropped['final-auth']).toBe(1)
    expect(sa.state).toBe('active') // a later, intact FINAL completed it
  })
})

describe('item 3: cookie keys', () => {
  it('rotate on time, are wiped once no cookie made with them can be accepted, and use one subkey per purpose', () => {
    const maxAge = 10_000
    const k = new CookieKeys(seededRandom('cookie-keys'), maxAge)
    const t0 = 1_000_000
    expect(k.held).toBe(0) // an idle node holds no cookie key at all
    const g = k.sealing(t0)
    expect(Buffer.from(g.cookie).equals(Buffer.from(g.token))).toBe(false)
    expect(k.deadline()).toBe(t0 + COOKIE_KEY_LIFETIME_MS)
    k.onTimeout(t0 + COOKIE_KEY_LIFETIME_MS)
    expect(k.held).toBe(1) // retired: opens what it sealed for maxAge more
    expect(k.opening(t0 + COOKIE_KEY_LIFETIME_MS)[0]).toBe(g)
    expect(k.deadline()).toBe(t0 + COOKIE_KEY_LIFETIME_MS + maxAge + 1000)
    k.onTimeout(k.deadline())
    expect(k.held).toBe(0)
    expect(g.cookie.every((b) => b === 0) && g.token.every((b) => b === 0)).toBe(true)
  })

  it('an idle responder schedules its key retirement and holds nothing afterwards', () => {
    const p = new CorePair({ seed: 'sec-idle-keys' })
    p.a.connect(p.now, p.addrB)
    p.run(() => p.log.some((d) => typeOf(d.data) === PT.CHALLENGE), 1000)
    const t = p.b.pollTimeout(p.now)
    expect(t).toBeLessThanOrEqual(p.now + COOKIE_KEY_LIFETIME_MS)
    p.a.cancel(1)
    p.advance(COOKIE_KEY_LIFETIME_MS + 15_000)
    expect(p.b.pollTimeout(p.now)).toBe(Infinity)
  })
})

describe('item 5: unauthenticated errors after a valid CHALLENGE', () => {
  it('a forged AUTH_FAILED echoing a HELLO nonce does not kill a connect that got a valid CHALLENGE', () => {
    const p = new CorePair({ seed: 'sec-forged-error' })
    let holdFinal = true
    p.tap = (d) => (holdFinal && typeOf(d.data) === PT.FINAL ? [] : [d.data])
    p.a.connect(p.now, p.addrB)
    p.run(() => p.log.some((d) => typeOf(d.data) === PT.AUTH_PROOF), 2000)
    const hello = p.log.find((d) => typeOf(d.data) === PT.HELLO)!.data
    const forged = createHandshakeError(hello.subarray(3, 11), hello.subarray(HEADER_SIZE + 32, HEADER_SIZE + 48), 0x0103, null)
    p.deliver('a', forged)
    p.deliver('a', forged)
    expect(p.failures()).toHaveLength(0)
    expect(p.a.counters.dropped['error-unauthenticated-error']).toBe(2)
    holdFinal = false
    p.run(() => p.connected().length === 1, 5000)
    expect(p.connected()).toHaveLength(1)
  })
})

describe('item 6: HELLO timestamps are wall-clock time', () => {
  it('monotonic clocks far from wall time (suspend, NTP step) do not make HELLOs stale', () => {
    const p = new CorePair({ seed: 'sec-wall' })
    // Both hosts agree on wall time, 5 minutes away from the monotonic clock the core runs on.
    p.a.syncWallClock(p.now, p.now + 300_000)
    p.b.syncWallClock(p.now, p.now + 300_000)
    p.handshake()
    const hello = p.log.find((d) => typeOf(d.data) === PT.HELLO)!.data
    expect(readU64(hello, HEADER_SIZE + 32 + 16)).toBe(p.log[0]!.at - p.latency + 300_000)
    // Wall clocks that really disagree beyond helloMaxSkew are refused.
    const q = new CorePair({ seed: 'sec-wall-skew' })
    q.b.syncWallClock(q.now, q.now + 61_000)
    q.a.connect(q.now, q.addrB)
    q.advance(500)
    expect(q.b.counters.dropped['stale-hello']).toBeGreaterThan(0)
  })
})

describe('item 7: the HELLO replay cache', () => {
  it('under load a HELLO gets a RETRY before it takes a place in the cache, so one flooder cannot block others', () => {
    const p = new CorePair({ seed: 'sec-hello-flood', b: { retryThreshold: 0 } })
    const keys = keysOf(p.sharedSeed)
    const flooder = fakeAddress('flooder')
    const hs = new InitiatorHandshake(keys, { name: 'f', params: PARAMS }, ['aes-256-gcm'], rnd)
    for (let i = 0; i < 66_000; i++) {
      const h = hs.createHello(p.now) // a fresh nonce each
      p.b.handleBatch(p.now, { slab: h, offsets: new Uint32Array([0]), lengths: new Uint32Array([h.length]), count: 1, from: [flooder] })
      for (let tx = p.b.pollTransmit(p.now); tx; tx = p.b.pollTransmit(p.now));
    }
    expect(p.b.counters.dropped['replayed-hello']).toBeUndefined()
    // Another member still gets through (RETRY, then CHALLENGE) at once.
    const { sa } = p.handshake({}, 5000)
    expect(sa.state).toBe('active')
  }, 180_000)

  it('one source holds at most its share; entries expire by time bucket; full fails closed for that HELLO only', () => {
    const c = new HelloCache(64, 8)
    const n = () => rnd(16)
    for (let i = 0; i < 8; i++) expect(c.remember(n(), 'x', 10_000, 0)).toBe('ok')
    expect(c.remember(n(), 'x', 10_000, 0)).toBe('source-limit')
    expect(c.remember(n(), 'y', 10_000, 0)).toBe('ok')
    const dup = n()
    expect(c.remember(dup, 'z', 5_000, 0)).toBe('ok')
    expect(c.remember(dup, 'w', 5_000, 100)).toBe('replayed')
    // After expiry the source's share is free again and the nonce forgotten.
    expect(c.remember(n(), 'x', 20_000, 11_000)).toBe('ok')
    expect(c.remember(dup, 'w', 20_000, 11_000)).toBe('ok')
    expect(c.size).toBe(2)
    for (let i = 0; c.size < 64; i++) c.remember(n(), `s${i}`, 30_000, 11_000)
    expect(c.remember(n(), 'new', 30_000, 11_000)).toBe('full')
    expect(c.underLoad).toBe(true)
    expect(HELLO_CACHE_PER_SOURCE).toBe(4096)
  })

  it('cache keys (byteKey): equal bytes give equal keys whatever the array, any difference in any byte a different key', () => {
    const a = rnd(16)
    const inBig = new Uint8Array(64)
    inBig.set(a, 7)
    expect(byteKey(inBig.subarray(7, 23))).toBe(byteKey(a))
    expect(byteKey(a.slice())).toBe(byteKey(a))
    const keys = new Set<string>([byteKey(a)])
    for (let i = 0; i < a.length; i++) {
      for (const v of [0, 1, 0x7f, 0x80, 0xff]) {
        if (a[i] === v) continue
        const b = a.slice()
        b[i] = v
        keys.add(byteKey(b))
      }
    }
    expect(keys.size).toBe(1 + a.length * 5 - a.filter((x) => [0, 1, 0x7f, 0x80, 0xff].includes(x)).length)
    expect(byteKey(a.subarray(0, 12))).not.toBe(byteKey(a))
    // The HELLO cache recognises a replayed nonce held in another array.
    const c = new HelloCache(64, 8)
    expect(c.remember(a, 'x', 10_000, 0)).toBe('ok')
    expect(c.seen(inBig.subarray(7, 23), 1)).toBe(true)
  })
})

describe('item 10: the initiator rejects a suite it did not offer', () => {
  it('a CHALLENGE choosing ChaCha20-Poly1305 for an AES-GCM-only initiator is dropped (challenge-bad-suite)', () => {
    const p = new CorePair({ seed: 'sec-suite', a: { cipher: 'aes-256-gcm' } })
    p.tap = (d) => (typeOf(d.data) === PT.HELLO ? [] : [d.data])
    p.a.connect(p.now, p.addrB)
    p.flush()
    const hello = p.log.find((d) => typeOf(d.data) === PT.HELLO)!.data
    const keys = keysOf(p.sharedSeed)
    const parsed = parseHello(hello, keys.group.helloMacKey)
    if (typeof parsed === 'string') throw new Error(parsed)
    const challenge = createChallenge(keys, parsed, 'chacha20-poly1305', { name: 'evil', params: PARAMS }, rnd(32), 'sim:a', p.now, rnd)!
    p.deliver('a', challenge)
    expect(p.a.counters.dropped['challenge-bad-suite']).toBe(1)
    expect(p.log.some((d) => typeOf(d.data) === PT.AUTH_PROOF)).toBe(false)
  })
})
