/**
 * Security review of flood14b (issue 14: a node that is behind sheds token-less HELLOs before
 * their MAC), through real Endpoints on a virtual clock with seeded randomness.
 *
 * Findings F1 and F2 were open on flood14b (the allowance was taken before the MAC); fixed by
 * counting only MAC-valid token-less HELLOs against it, and each test fails on flood14b:
 * F1  HELLO-shaped garbage from a NON-member (its own seed: every MAC wrong), sent in bursts
 *     that fill receive batches, keeps RETRY engaged indefinitely once anything engaged it:
 *     shed HELLOs are metered before their MAC. On main garbage never reached the meter.
 * F2  the same garbage uses up a backlogged batch's allowance of 8 (decremented before the MAC),
 *     so an honest first HELLO behind 8 of them in the batch is shed.
 * Properties that hold (regression guards):
 * G1  shedding changes no state read after the MAC: a shed member HELLO is not remembered
 *     (replay cache), so the same HELLO is answered when it comes again;
 * G2  a forged token-length byte only moves a HELLO to the full path (auth-failed), a member
 *     HELLO with a token is never shed; helloTokenLength agrees with parseHello;
 * G3  every answer to a backlogged flood stays <= 3x its HELLO; shed HELLOs get none;
 * G4  the RETRY token MAC built in the scratch buffer equals main's (label|ts|sid|address,
 *     joined) for every address shape, including ones that do not fit the scratch, in any
 *     order (nothing of an earlier, longer address leaks into a later token), and returned
 *     tokens do not alias the scratch.
 */
import { describe, expect, it } from 'vitest'
import { hmacSha256 } from '../../src/crypto/primitives.js'
import { HeaderFlag } from '../../src/protocol/constants.js'
import { checkRetryToken, createRetryToken, helloTokenLength, InitiatorHandshake, parseHello } from '../../src/protocol/handshake.js'
import { deriveGroupKeys, deriveIdentity } from '../../src/protocol/identity.js'
import { HELLOS_ANSWERED_PER_BACKLOGGED_BATCH } from '../../src/protocol/responder-state.js'
import type { PeerAddress } from '../../src/transport/types.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'
import { Rng, seededRandom } from '../helpers/rng.js'
import { CorePair, PT, typeOf } from './core-harness.js'

const PARAMS = { maxStreams: 8, streamWindow: 65536, sessionWindow: 1 << 20, bareMode: false, maxPacketSize: 1472 }
const ALLOWANCE = HELLOS_ANSWERED_PER_BACKLOGGED_BATCH
/** Where a HELLO's token-length byte is: after the suite count byte and its suites. */
const tokenLenAt = (h: Uint8Array) => 19 + 32 + 16 + 8 + 1 + h[19 + 32 + 16 + 8]!

/** A token-less HELLO made under `seed` (the group's: a member's; another: a non-member's). */
function helloUnder(seed: Uint8Array, rng: Rng, now: number): Uint8Array {
  const random = seededRandom(rng)
  const hs = new InitiatorHandshake({ group: deriveGroupKeys(seed), identity: deriveIdentity(random(32)) }, { name: 'x', params: PARAMS }, ['aes-256-gcm'], random)
  return hs.createHello(now)
}

const isRetry = (d: Uint8Array) => typeOf(d) === PT.CHALLENGE && (d[2]! & HeaderFlag.RETRY) !== 0
const isFullChallenge = (d: Uint8Array) => typeOf(d) === PT.CHALLENGE && (d[2]! & HeaderFlag.RETRY) === 0
/** B's first answer to A. */
const firstAnswerToA = (p: CorePair) => p.log.find((d) => d.from === 'b' && d.toKey === p.addrA.key)?.data

/** RETRY engaged the honest way: 250 member HELLOs within a second (retryThreshold 200). */
function engageRetry(p: CorePair, rng: Rng): void {
  p.batchToB(Array.from({ length: 250 }, (_, i) => ({ data: helloUnder(p.sharedSeed, rng, p.now), from: fakeAddress(`member-${i}`) })), false)
  expect(p.log.filter((d) => d.from === 'b' && isRetry(d.data)).length).toBeGreaterThan(0)
}

/** A non-member's bursts: every 200 ms a batch of 64 of its own HELLOs (wrong MAC here), backlogged or not. */
function garbageBursts(p: CorePair, rng: Rng, seconds: number, backlog: boolean): void {
  const outsider = rng.fork('outsider-seed').bytes(32)
  for (let t = 0; t < seconds * 5; t++) {
    p.now += 200
    p.batchToB(Array.from({ length: 64 }, (_, i) => ({ data: helloUnder(outsider, rng, p.now), from: fakeAddress(`forged-${t}-${i}`) })), backlog)
  }
}

describe('review of flood14b: HELLO shedding while behind', () => {
  it('F1 control: without backlogged batches the same garbage bursts do not keep RETRY engaged (as on main)', () => {
    const p = new CorePair({ seed: 'rev14-f1-control' })
    const rng = new Rng('rev14-f1-control-flood')
    engageRetry(p, rng)
    garbageBursts(p, rng, 10, false)
    expect(p.b.counters.dropped['hello-shed']).toBeUndefined()
    p.log.length = 0
    p.a.connect(p.now, p.addrB)
    p.run(() => firstAnswerToA(p) !== undefined, 1000)
    expect(isFullChallenge(firstAnswerToA(p)!)).toBe(true)
  })

  it('F1 (MEDIUM, fixed): a non-member bursting 64-datagram batches of garbage HELLOs (320/s) does not keep RETRY engaged', () => {
    const p = new CorePair({ seed: 'rev14-f1' })
    const rng = new Rng('rev14-f1-flood')
    engageRetry(p, rng)
    garbageBursts(p, rng, 10, true)
    // Not one of the garbage HELLOs was MAC-valid. On flood14b 56 of each batch are shed and
    // metered before their MAC (hello-shed 2800, auth-failed 400), which holds RETRY on.
    p.log.length = 0
    p.a.connect(p.now, p.addrB)
    p.run(() => firstAnswerToA(p) !== undefined, 1000)
    // Wanted: 10 s after the last member HELLO, RETRY is off again. Branch: still a RETRY.
    expect(isFullChallenge(firstAnswerToA(p)!)).toBe(true)
  })

  it('F2 (LOW, fixed): 8 garbage HELLOs from a non-member ahead in a backlogged batch do not get an honest first HELLO shed', () => {
    const p = new CorePair({ seed: 'rev14-f2' })
    const rng = new Rng('rev14-f2-flood')
    p.b.requireRetry = true
    const outsider = rng.fork('outsider-seed').bytes(32)
    const honest = helloUnder(p.sharedSeed, rng, p.now)
    const garbage = Array.from({ length: ALLOWANCE }, (_, i) => ({ data: helloUnder(outsider, rng, p.now), from: fakeAddress(`forged-${i}`) }))
    p.batchToB([...garbage, { data: honest, from: p.addrA }], true)
    expect(p.b.counters.dropped['auth-failed']).toBe(ALLOWANCE)
    // Wanted: the only MAC-valid HELLO of the batch gets its RETRY. Branch: shed.
    expect(p.b.counters.dropped['hello-shed']).toBeUndefined()
    expect(p.log.some((d) => d.from === 'b' && d.toKey === p.addrA.key && isRetry(d.data))).toBe(true)
  })

  it('G1: a shed member HELLO leaves no trace after the meter: the same HELLO is answered later', () => {
    const p = new CorePair({ seed: 'rev14-g1' })
    const rng = new Rng('rev14-g1-flood')
    p.b.requireRetry = true
    const filler = Array.from({ length: ALLOWANCE }, (_, i) => ({ data: helloUnder(p.sharedSeed, rng, p.now), from: fakeAddress(`m-${i}`) }))
    const victim = helloUnder(p.sharedSeed, rng, p.now)
    p.batchToB([...filler, { data: victim, from: fakeAddress('victim') }], true)
    expect(p.b.counters.dropped['hello-shed']).toBe(1)
    // RETRY off again: the victim's HELLO (same bytes) takes the full path and is remembered now.
    p.b.requireRetry = false
    p.now += 3000
    p.log.length = 0
    p.batchToB([{ data: victim, from: fakeAddress('victim') }], false)
    expect(p.b.counters.dropped['replayed-hello']).toBeUndefined()
    expect(p.log.filter((d) => d.from === 'b' && isFullChallenge(d.data))).toHaveLength(1)
    // And only now is it a replay.
    p.batchToB([{ data: victim, from: fakeAddress('victim') }], false)
    expect(p.b.counters.dropped['replayed-hello']).toBe(1)
  })

  it('G2: a forged token-length byte is not shed but fails its MAC; a member HELLO with a real token is never shed', () => {
    const p = new CorePair({ seed: 'rev14-g2' })
    const rng = new Rng('rev14-g2-flood')
    p.b.requireRetry = true
    const flood = Array.from({ length: ALLOWANCE }, (_, i) => ({ data: helloUnder(p.sharedSeed, rng, p.now), from: fakeAddress(`m-${i}`) }))
    const forged = helloUnder(p.sharedSeed, rng, p.now)
    expect(helloTokenLength(forged)).toBe(0)
    forged[tokenLenAt(forged)] = 32
    expect(helloTokenLength(forged)).toBe(32)
    p.batchToB([...flood, { data: forged, from: fakeAddress('forger') }], true)
    expect(p.b.counters.dropped['hello-shed']).toBeUndefined()
    expect(p.b.counters.dropped['auth-failed']).toBe(1)
  })

  it('G2: helloTokenLength agrees with parseHello on MAC-valid HELLOs and stays in bounds on any bytes', () => {
    const rng = new Rng('rev14-g2-parse')
    const seed = rng.bytes(32)
    const macKey = deriveGroupKeys(seed).helloMacKey
    for (let i = 0; i < 20; i++) {
      const h = helloUnder(seed, rng, 1_700_000_000_000)
      const parsed = parseHello(h, macKey)
      if (typeof parsed === 'string') throw new Error(parsed)
      expect(helloTokenLength(h)).toBe(parsed.token?.length ?? 0)
    }
    for (let len = 0; len < 300; len++) {
      const junk = rng.bytes(len)
      const n = helloTokenLength(junk)
      expect(n >= -1 && n <= 255).toBe(true)
      if (len > 0) {
        junk[19 + 32 + 16 + 8] = 255 // count byte pointing past the end
        expect(helloTokenLength(junk)).toBe(len > 19 + 32 + 16 + 8 ? -1 : n)
      }
    }
  })

  it('G3: answers to a backlogged mixed flood (members, non-members, short) are each <= 3x their HELLO; shed ones get none', () => {
    const p = new CorePair({ seed: 'rev14-g3' })
    const rng = new Rng('rev14-g3-flood')
    p.b.requireRetry = true
    const outsider = rng.fork('outsider').bytes(32)
    const packets: Array<{ data: Uint8Array; from: PeerAddress }> = []
    for (let i = 0; i < 64; i++) {
      const data = i % 3 === 0 ? helloUnder(outsider, rng, p.now) : helloUnder(p.sharedSeed, rng, p.now)
      packets.push({ data, from: fakeAddress(`src-${i}`) })
    }
    const sent = new Map(packets.map((x) => [x.from.key, x.data.length]))
    p.log.length = 0
    p.batchToB(packets, true)
    const answers = p.log.filter((d) => d.from === 'b')
    const shed = p.b.counters.dropped['hello-shed'] ?? 0
    expect(answers.length).toBeGreaterThan(0)
    expect(shed).toBeGreaterThan(0)
    // One answer at most per HELLO not shed (RETRY, or a rate-limited AUTH_FAILED), none per shed one.
    expect(new Set(answers.map((d) => d.toKey)).size).toBe(answers.length)
    expect(answers.length).toBeLessThanOrEqual(64 - shed)
    for (const d of answers) expect(d.data.length).toBeLessThanOrEqual(3 * sent.get(d.toKey)!)
  })
})

describe('review of flood14b: the RETRY token MAC in a scratch buffer', () => {
  const enc = new TextEncoder()
  /** main's formula: HMAC(key, "retry" | ts | session id | address)[:24], parts joined. */
  const reference = (key: Uint8Array, now: number, sid: Uint8Array, addr: string) => {
    const ts = new Uint8Array(8)
    new DataView(ts.buffer).setBigUint64(0, BigInt(Math.floor(now)))
    return hmacSha256(key, enc.encode('retry'), ts, sid, enc.encode(addr)).subarray(0, 24)
  }
  const rng = new Rng('rev14-g4')
  const addrs = [
    '',
    '127.0.0.1:4433',
    '[2001:db8::1]:443',
    'ws:conn-17',
    'x'.repeat(490),
    'x'.repeat(491),
    'x'.repeat(492),
    'y'.repeat(4000),
    'é'.repeat(245),
    'é'.repeat(246),
    '\u{1F600}'.repeat(123),
    `${'a'.repeat(489)}\u{1F600}`,
    'lone \ud800 surrogate',
    `${'z'.repeat(490)}\udc00`,
  ]

  it('G4: equals main for every address shape, in any order, and a long address leaves nothing behind', () => {
    const key = rng.bytes(32)
    const sid = rng.bytes(8)
    const now = 1_700_000_123_456
    const order = [...addrs, ...addrs.slice().reverse(), ...addrs]
    for (const a of order) {
      const t = createRetryToken(key, now, sid, a)
      expect(Buffer.from(t.subarray(8)).equals(Buffer.from(reference(key, now, sid, a))), JSON.stringify(a.slice(0, 20))).toBe(true)
      expect(checkRetryToken([rng.bytes(32), key], t, now + 10, 10_000, sid, a)).toBe(true)
      // Another address, session id, key or a flipped bit: refused.
      expect(checkRetryToken([key], t, now + 10, 10_000, sid, `${a}!`)).toBe(false)
      expect(checkRetryToken([key], t, now + 10, 10_000, rng.bytes(8), a)).toBe(false)
      const bad = t.slice()
      bad[20]! ^= 1
      expect(checkRetryToken([key], bad, now + 10, 10_000, sid, a)).toBe(false)
    }
  })

  it('G4: a token made under main is accepted (rolling upgrade, workers of one group) and session ids of other lengths still work', () => {
    const key = rng.bytes(32)
    const now = 1_700_000_000_000
    for (const len of [0, 7, 8, 9, 32]) {
      const sid = rng.bytes(len)
      const old = new Uint8Array(32)
      new DataView(old.buffer).setBigUint64(0, BigInt(now))
      old.set(reference(key, now, sid, '10.0.0.1:9'), 8)
      expect(checkRetryToken([key], old, now, 10_000, sid, '10.0.0.1:9')).toBe(true)
      expect(Buffer.from(createRetryToken(key, now, sid, '10.0.0.1:9')).equals(Buffer.from(old))).toBe(true)
    }
  })

  it('G4: returned tokens do not alias the scratch or each other', () => {
    const key = rng.bytes(32)
    const sid = rng.bytes(8)
    const a = createRetryToken(key, 1_700_000_000_000, sid, '1.1.1.1:1')
    const copy = a.slice()
    const b = createRetryToken(key, 1_700_000_000_000, rng.bytes(8), 'y'.repeat(400))
    checkRetryToken([key, rng.bytes(32)], b, 1_700_000_000_000, 10_000, sid, 'z'.repeat(300))
    expect(Buffer.from(a).equals(Buffer.from(copy))).toBe(true)
    expect(a.buffer).not.toBe(b.buffer)
    expect(a.byteLength).toBe(32)
    expect(a.buffer.byteLength).toBe(32)
  })
})
