/**
 * The handshake answers of one receive batch leave as ONE MultiTxBatch (issue 14: a RETRY per
 * transport call was a quarter of a flooded responder's CPU): Endpoint.pollHandshakeTransmit
 * hands them over with a destination per datagram, byte for byte what pollTransmit hands over
 * one at a time, each to the address its HELLO came from; batches hold one transport kind and
 * at most 64 datagrams, in queue order. The anti-amplification rule holds per address: what a
 * not yet validated address gets back is at most 3x what it sent. Virtual clock, seeded randomness.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { HeaderFlag } from '../../src/protocol/constants.js'
import { InitiatorHandshake } from '../../src/protocol/handshake.js'
import { deriveGroupKeys, deriveIdentity } from '../../src/protocol/identity.js'
import { HANDSHAKE_TX_BATCH } from '../../src/protocol/outbox.js'
import type { MultiTxBatch, PeerAddress, RxBatch } from '../../src/transport/types.js'
import { CorePair, PT, typeOf } from './core-harness.js'

const PARAMS = { maxStreams: 8, streamWindow: 65536, sessionWindow: 1 << 20, bareMode: false, maxPacketSize: 1472 }

function hello(sharedSeed: Uint8Array, now: number): Uint8Array {
  const hs = new InitiatorHandshake({ group: deriveGroupKeys(sharedSeed), identity: deriveIdentity(randomBytes(32)) }, { name: 'flood', params: PARAMS }, ['aes-256-gcm'], (n) => new Uint8Array(randomBytes(n)))
  return hs.createHello(now)
}

function addr(kind: string, name: string): PeerAddress {
  return { key: `${kind}:${name}`, kind, reliable: false, toString: () => `${kind}://${name}` }
}

function rxOf(packets: Array<{ data: Uint8Array; from: PeerAddress }>): RxBatch {
  const slab = Buffer.concat(packets.map((p) => p.data))
  const offsets = new Uint32Array(packets.length)
  let at = 0
  packets.forEach((p, i) => {
    offsets[i] = at
    at += p.data.length
  })
  return { slab: new Uint8Array(slab), offsets, lengths: Uint32Array.from(packets, (p) => p.data.length), count: packets.length, from: packets.map((p) => p.from) }
}

interface Out {
  to: string
  data: Buffer
}

function drainMulti(p: CorePair): { out: Out[]; batches: MultiTxBatch[] } {
  const out: Out[] = []
  const batches: MultiTxBatch[] = []
  for (let b = p.b.pollHandshakeTransmit(); b; b = p.b.pollHandshakeTransmit()) {
    batches.push({ ...b, dests: [...b.dests] })
    for (let i = 0; i < b.count; i++) out.push({ to: b.dests[i]!.key, data: Buffer.from(b.slab.subarray(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!)) })
  }
  expect(p.b.pollTransmit(p.now)).toBeNull() // nothing left behind for the one-by-one path
  return { out, batches }
}

function drainOneByOne(p: CorePair): Out[] {
  const out: Out[] = []
  for (let tx = p.b.pollTransmit(p.now); tx; tx = p.b.pollTransmit(p.now)) {
    for (let i = 0; i < tx.count; i++) out.push({ to: tx.to.key, data: Buffer.from(tx.slab.subarray(tx.offsets[i]!, tx.offsets[i]! + tx.lengths[i]!)) })
  }
  return out
}

/** Per address: bytes sent to it never above 3x the bytes received from it. */
function expectWithinAmplification(packets: Array<{ data: Uint8Array; from: PeerAddress }>, out: Out[]): void {
  const received = new Map<string, number>()
  for (const p of packets) received.set(p.from.key, (received.get(p.from.key) ?? 0) + p.data.length)
  const sent = new Map<string, number>()
  for (const o of out) sent.set(o.to, (sent.get(o.to) ?? 0) + o.data.length)
  for (const [key, n] of sent) expect(n, key).toBeLessThanOrEqual(3 * received.get(key)!)
}

describe('handshake answers of a receive batch as one multi-destination batch (issue 14)', () => {
  for (const mode of ['retry', 'challenge'] as const) {
    it(`${mode}: the same datagrams to the same addresses as one by one, in one batch, within 3x per address`, () => {
      const seed = `hs-batch-${mode}`
      const one = new CorePair({ seed })
      const many = new CorePair({ seed })
      for (const p of [one, many]) p.b.requireRetry = mode === 'retry'
      // 40 HELLOs from 37 addresses (three send two): as a flood from a few hosts reads.
      const packets = Array.from({ length: 40 }, (_, i) => ({ data: hello(one.sharedSeed, one.now), from: addr('sim', `h${i % 37}`) }))
      one.b.handleBatch(one.now, rxOf(packets))
      many.b.handleBatch(many.now, rxOf(packets))
      const expected = drainOneByOne(one)
      const { out, batches } = drainMulti(many)
      expect(batches.map((b) => b.count)).toEqual([40])
      expect(out).toEqual(expected)
      expect(out.map((o) => o.to)).toEqual(packets.map((p) => p.from.key))
      for (const o of out) {
        expect(typeOf(o.data)).toBe(PT.CHALLENGE)
        expect((o.data[2]! & HeaderFlag.RETRY) !== 0).toBe(mode === 'retry')
      }
      expectWithinAmplification(packets, out)
      expect(many.b.counters.retriesSent).toBe(mode === 'retry' ? 40 : 0)
    })
  }

  it('a batch holds one transport kind and at most 64 datagrams, in queue order', () => {
    const p = new CorePair({ seed: 'hs-batch-kinds' })
    p.b.requireRetry = true
    const kinds = [...new Array(30).fill('sim'), ...new Array(10).fill('ws'), ...new Array(100).fill('sim')]
    const packets = kinds.map((k, i) => ({ data: hello(p.sharedSeed, p.now), from: addr(k, `h${i}`) }))
    p.b.handleBatch(p.now, rxOf(packets))
    const { out, batches } = drainMulti(p)
    expect(HANDSHAKE_TX_BATCH).toBe(64)
    expect(batches.map((b) => [b.dests[0]!.kind, b.count])).toEqual([
      ['sim', 30],
      ['ws', 10],
      ['sim', 64],
      ['sim', 36],
    ])
    for (const b of batches) expect(new Set(b.dests.map((d) => d.kind)).size).toBe(1)
    expect(out.map((o) => o.to)).toEqual(packets.map((x) => x.from.key))
    expectWithinAmplification(packets, out)
  })

  it('pollTransmit after a partial pollHandshakeTransmit hands over the rest, nothing twice', () => {
    const p = new CorePair({ seed: 'hs-batch-mixed-poll' })
    p.b.requireRetry = true
    const packets = Array.from({ length: 70 }, (_, i) => ({ data: hello(p.sharedSeed, p.now), from: addr('sim', `h${i}`) }))
    p.b.handleBatch(p.now, rxOf(packets))
    const first = p.b.pollHandshakeTransmit()!
    expect(first.count).toBe(64)
    const keys = first.dests.map((d) => d.key)
    const rest = drainOneByOne(p)
    expect([...keys, ...rest.map((o) => o.to)]).toEqual(packets.map((x) => x.from.key))
    expect(p.b.pollHandshakeTransmit()).toBeNull()
  })
})
