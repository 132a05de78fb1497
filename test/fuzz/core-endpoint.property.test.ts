/**
 * Hostile input to an Endpoint that holds an established session: random garbage, datagrams
 * that look like ours (right version, type, session id), and mutated real packets (bit flips,
 * truncation, extension, header edits, body swaps). Each must be dropped without a throw and
 * counted exactly once (endpoint or session counters), must not deliver anything, must not move
 * the replay window (the untouched original is still accepted afterwards), and the session
 * keeps working both ways.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { nativeAead } from '../../src/crypto/native-aead.js'
import { jsAead } from '../../src/crypto/js-aead.js'
import { HEADER_SIZE } from '../../src/protocol/constants.js'
import type { Endpoint } from '../../src/protocol/endpoint.js'
import type { Session } from '../../src/protocol/session.js'
import { CorePair, PT, totalDropped, typeOf } from '../unit/core-harness.js'
import { txBatchOf } from '../helpers/netsim.js'

const SEED = Number(process.env['STT_TEST_SEED'] ?? 4242)

type Mutation =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'truncate'; keep: number }
  | { kind: 'extend'; extra: Uint8Array }
  | { kind: 'header'; at: number; xor: number }
  | { kind: 'body'; seed: number }

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('header' as const), at: fc.nat(HEADER_SIZE - 1), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('body' as const), seed: fc.integer({ min: 1 }) }),
)

function mutate(pkt: Uint8Array, muts: Mutation[]): Uint8Array {
  let b = pkt.slice()
  for (const m of muts) {
    if (m.kind === 'flip') b[m.pos % b.length]! ^= 1 << m.bit
    else if (m.kind === 'truncate') b = b.slice(0, m.keep % b.length)
    else if (m.kind === 'extend') b = Buffer.concat([b, m.extra])
    else if (m.kind === 'header' && b.length > m.at) b[m.at]! ^= m.xor
    else if (m.kind === 'body') for (let i = HEADER_SIZE, x = m.seed; i < b.length; i++) b[i] = x = (x * 1103515245 + 12345) >>> 8
    if (b.length === 0) break
  }
  return b
}

function inject(ep: Endpoint, from: CorePair['addrA'], now: number, datagrams: Uint8Array[]): void {
  const { slab, offsets, lengths, count } = txBatchOf(from, datagrams)
  ep.handleBatch(now, { slab, offsets, lengths, count, from: datagrams.map(() => from) })
}

function setup(seed: string, aeadName: 'js' | 'native') {
  const p = new CorePair({ seed, aead: aeadName === 'native' && nativeAead ? nativeAead : jsAead })
  const { sa, sb } = p.handshake()
  p.advance(100)
  let holding = false
  const held: Uint8Array[] = []
  p.tap = (d) => (holding && d.from === 'a' && typeOf(d.data) === PT.DATA ? (held.push(d.data), []) : [d.data])
  /** A fresh real packet from a carrying `payload`, captured before b sees it. */
  const capture = (payload: string): Uint8Array => {
    holding = true
    held.length = 0
    sa.sendDatagram(new TextEncoder().encode(payload))
    p.flush()
    holding = false
    expect(held.length).toBe(1)
    return held[0]!
  }
  const datagramsAt = (s: 'a' | 'b') => p.sessionEvents(s, 'datagram').length
  return { p, sa, sb, capture, datagramsAt }
}

function expectHealthy(p: CorePair, sa: Session, sb: Session, tag: string): void {
  expect(sa.state).toBe('active')
  expect(sb.state).toBe('active')
  expect(p.a.sessionCount).toBe(1)
  expect(p.b.sessionCount).toBe(1)
  expect(p.roundTrip(sa, sb, tag)).toBe(true)
}

for (const backend of nativeAead ? (['js', 'native'] as const) : (['js'] as const)) {
  describe(`endpoint under hostile datagrams (${backend} AEAD)`, () => {
    it('mutated real packets: dropped, counted once, nothing delivered, and the original still arrives', () => {
      const { p, sa, sb, capture, datagramsAt } = setup(`mut-${backend}`, backend)
      let i = 0
      fc.assert(
        fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (muts) => {
          const payload = `orig-${i++}`
          const pkt = capture(payload)
          const bad = mutate(pkt, muts)
          fc.pre(Buffer.compare(Buffer.from(bad), Buffer.from(pkt)) !== 0)
          const dropped = totalDropped(p.b)
          const got = datagramsAt('b')
          inject(p.b, p.addrA, p.now, [bad])
          p.flush()
          expect(totalDropped(p.b) - dropped).toBe(1)
          expect(datagramsAt('b')).toBe(got)
          // The forgery did not advance the replay window or kill the key: the original is accepted.
          inject(p.b, p.addrA, p.now, [pkt])
          p.flush()
          const last = p.sessionEvents('b', 'datagram').at(-1)!
          expect(Buffer.from(last.event.data as Uint8Array).toString()).toBe(payload)
          // And a replay of the original is dropped and counted.
          const d2 = totalDropped(p.b)
          inject(p.b, p.addrA, p.now, [pkt])
          expect(totalDropped(p.b) - d2).toBe(1)
          p.advance(20)
        }),
        { seed: SEED, numRuns: 300 },
      )
      expectHealthy(p, sa, sb, 'after-mutations')
    })

    it('random garbage and look-alike datagrams, one by one and in mixed batches with real packets', () => {
      const { p, sa, sb, capture, datagramsAt } = setup(`garbage-${backend}`, backend)
      const sid = sa.id
      const lookAlike = fc.record({ type: fc.constantFrom(PT.DATA, PT.FINAL), flags: fc.nat(255), pn: fc.oneof(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.nat(5000).map((n) => new Uint8Array(Buffer.from(n.toString(16).padStart(16, '0'), 'hex')))), body: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 17, maxLength: 1400, size: 'max' })) }).map((x) => {
        const b = new Uint8Array(HEADER_SIZE + x.body.length)
        b[0] = 1
        b[1] = x.type
        b[2] = x.flags
        b.set(sid, 3)
        b.set(x.pn, 11)
        b.set(x.body, HEADER_SIZE)
        return b
      })
      const garbage = fc.oneof(fc.uint8Array({ maxLength: 1500, size: 'max' }), lookAlike, fc.uint8Array({ minLength: 256, maxLength: 600 }).map((b) => ((b[1] = PT.HELLO), b)))
      let n = 0
      fc.assert(
        fc.property(fc.array(garbage, { minLength: 1, maxLength: 8 }), fc.boolean(), (junk, withReal) => {
          for (const ep of [p.b, p.a]) {
            const dropped = totalDropped(ep)
            inject(ep, ep === p.b ? p.addrA : p.addrB, p.now, junk)
            p.flush()
            expect(totalDropped(ep) - dropped).toBe(junk.length)
          }
          if (withReal) {
            // Real packets in the middle of the junk, in one batch: they still get through.
            const payload = `real-${n++}`
            const pkt = capture(payload)
            const got = datagramsAt('b')
            const batch = [...junk.slice(0, 2), pkt, ...junk.slice(2)]
            const dropped = totalDropped(p.b)
            inject(p.b, p.addrA, p.now, batch)
            p.flush()
            expect(totalDropped(p.b) - dropped).toBe(junk.length)
            expect(datagramsAt('b')).toBe(got + 1)
          }
          p.advance(10)
        }),
        { seed: SEED, numRuns: 250 },
      )
      expect(p.b.counters.dropped['unknown-type'] ?? 0).toBeGreaterThan(0)
      expect(sb.counters.dropped['auth'] ?? 0).toBeGreaterThan(0)
      expectHealthy(p, sa, sb, 'after-garbage')
    })
  })
}
