/**
 * A node that is behind under a HELLO flood serves its sessions first (issue 14): in a receive
 * batch the transport marks backlogged (RxBatch.backlog: the socket held more than was read),
 * while RETRY is engaged, only HELLOS_ANSWERED_PER_BACKLOGGED_BATCH token-less HELLOs get the
 * full path (MAC, RETRY); the rest are shed before their MAC ('hello-shed'). Session packets of
 * the same batch are all delivered, HELLOs with a token are never shed, and nothing is shed
 * without a backlog or while RETRY is not engaged. Virtual clock, seeded randomness.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { HeaderFlag } from '../../src/protocol/constants.js'
import { InitiatorHandshake } from '../../src/protocol/handshake.js'
import { deriveGroupKeys, deriveIdentity } from '../../src/protocol/identity.js'
import { HELLOS_ANSWERED_PER_BACKLOGGED_BATCH, ResponderState } from '../../src/protocol/responder-state.js'
import type { PeerAddress } from '../../src/transport/types.js'
import { fakeAddress } from '../helpers/endpoint-pair.js'
import { CorePair, PT, typeOf } from './core-harness.js'

const PARAMS = { maxStreams: 8, streamWindow: 65536, sessionWindow: 1 << 20, bareMode: false, maxPacketSize: 1472 }
const ALLOWANCE = HELLOS_ANSWERED_PER_BACKLOGGED_BATCH

/** A valid token-less HELLO made outside any Endpoint (a flooding member's). */
function floodHello(sharedSeed: Uint8Array, now: number): Uint8Array {
  const hs = new InitiatorHandshake({ group: deriveGroupKeys(sharedSeed), identity: deriveIdentity(randomBytes(32)) }, { name: 'flood', params: PARAMS }, ['aes-256-gcm'], (n) => new Uint8Array(randomBytes(n)))
  return hs.createHello(now)
}

/** An established pair, and `n` DATA packets of A's session (each one datagram) not yet delivered. */
function sessionWithPending(seed: string, n: number) {
  const p = new CorePair({ seed })
  const { sa } = p.handshake()
  for (let i = 0; i < n; i++) sa.sendDatagram(new TextEncoder().encode(`d${i}`))
  const data: Uint8Array[] = []
  for (let tx = p.a.pollTransmit(p.now); tx; tx = p.a.pollTransmit(p.now)) {
    for (let i = 0; i < tx.count; i++) data.push(tx.slab.slice(tx.offsets[i]!, tx.offsets[i]! + tx.lengths[i]!))
  }
  expect(data.length).toBeGreaterThan(0)
  expect(data.every((d) => typeOf(d) === PT.DATA)).toBe(true)
  return { p, data }
}

const datagramsAtB = (p: CorePair) => p.sessionEvents('b', 'datagram').map((e) => Buffer.from(e.event.data as Uint8Array).toString())
const retriesOut = (p: CorePair) => p.log.filter((d) => d.from === 'b' && typeOf(d.data) === PT.CHALLENGE && (d.data[2]! & HeaderFlag.RETRY) !== 0).length

/** 48 flood HELLOs from 8 addresses with the session's packets spread among them. */
function mixedBatch(p: CorePair, data: Uint8Array[]) {
  const packets: Array<{ data: Uint8Array; from: PeerAddress }> = []
  const hellos = 48
  let d = 0
  for (let i = 0; i < hellos; i++) {
    packets.push({ data: floodHello(p.sharedSeed, p.now), from: fakeAddress(`flood-${i % 8}`) })
    if (i % 4 === 3 && d < data.length) packets.push({ data: data[d++]!, from: p.addrA })
  }
  while (d < data.length) packets.push({ data: data[d++]!, from: p.addrA })
  return { packets, hellos }
}

describe('HELLO shedding when the node is behind (issue 14)', () => {
  it('a backlogged batch under RETRY: every session packet is delivered, only the allowance of HELLOs is answered', () => {
    const { p, data } = sessionWithPending('shed-mixed', 6)
    p.b.requireRetry = true
    p.log.length = 0
    const { packets, hellos } = mixedBatch(p, data)
    p.batchToB(packets, true)
    expect(datagramsAtB(p).sort()).toEqual(['d0', 'd1', 'd2', 'd3', 'd4', 'd5'])
    expect(retriesOut(p)).toBe(ALLOWANCE)
    expect(p.b.counters.dropped['hello-shed']).toBe(hellos - ALLOWANCE)
    // The next backlogged batch has an allowance of its own.
    p.batchToB([{ data: floodHello(p.sharedSeed, p.now), from: fakeAddress('flood-x') }], true)
    expect(retriesOut(p)).toBe(ALLOWANCE + 1)
  })

  it('the same batch without a backlog: every HELLO is answered', () => {
    const { p, data } = sessionWithPending('shed-no-backlog', 6)
    p.b.requireRetry = true
    p.log.length = 0
    const { packets, hellos } = mixedBatch(p, data)
    p.batchToB(packets, false)
    expect(datagramsAtB(p).sort()).toEqual(['d0', 'd1', 'd2', 'd3', 'd4', 'd5'])
    expect(retriesOut(p)).toBe(hellos)
    expect(p.b.counters.dropped['hello-shed']).toBeUndefined()
  })

  it('nothing is shed while RETRY is not engaged, backlog or not', () => {
    const p = new CorePair({ seed: 'shed-no-retry' })
    const n = ALLOWANCE + 4
    p.batchToB(Array.from({ length: n }, (_, i) => ({ data: floodHello(p.sharedSeed, p.now), from: fakeAddress(`h-${i}`) })), true)
    expect(p.b.counters.dropped['hello-shed']).toBeUndefined()
    // Below retryThreshold (200/s): full CHALLENGEs, no RETRY.
    expect(p.log.filter((d) => d.from === 'b' && typeOf(d.data) === PT.CHALLENGE && (d.data[2]! & HeaderFlag.RETRY) === 0)).toHaveLength(n)
  })

  it('a HELLO carrying a token is never shed: it gets its CHALLENGE after the allowance is used up', () => {
    const p = new CorePair({ seed: 'shed-token' })
    p.b.requireRetry = true
    // A's second HELLO (with the RETRY token) is held back by the tap, to be delivered in the flood.
    const hasToken = (d: Uint8Array) => typeOf(d) === PT.HELLO && d[19 + 32 + 16 + 8 + 3] === 32
    p.tap = (d) => (hasToken(d.data) ? [] : [d.data])
    p.a.connect(p.now, p.addrB)
    p.run(() => p.log.some((d) => hasToken(d.data)), 5000)
    const withToken = p.log.find((d) => hasToken(d.data))!.data
    p.tap = (d) => [d.data]
    p.log.length = 0
    const flood = Array.from({ length: ALLOWANCE + 8 }, (_, i) => ({ data: floodHello(p.sharedSeed, p.now), from: fakeAddress(`flood-${i % 8}`) }))
    p.batchToB([...flood, { data: withToken, from: p.addrA }], true)
    expect(p.b.counters.dropped['hello-shed']).toBe(8)
    expect(p.b.counters.dropped['bad-token']).toBeUndefined()
    const toA = p.log.filter((d) => d.from === 'b' && d.toKey === p.addrA.key)
    expect(toA.map((d) => [typeOf(d.data), d.data[2]! & HeaderFlag.RETRY])).toEqual([[PT.CHALLENGE, 0]])
    // And the handshake completes.
    p.run(() => p.accepted().length === 1, 5000)
    expect(p.b.sessionCount).toBe(1)
  })

  it('retryEngaged peeks at the meter without counting', () => {
    const r = new ResponderState((n) => new Uint8Array(randomBytes(n)), 10_000)
    for (let i = 0; i < 201; i++) r.meter(1000 + i)
    for (let i = 0; i < 1000; i++) expect(r.retryEngaged(1300, false, 200)).toBe(true)
    expect(r.meter(1300)).toBe(202)
    expect(r.retryEngaged(1300, false, 202)).toBe(false)
    expect(r.retryEngaged(1300, true, 1 << 30)).toBe(true)
  })
})
