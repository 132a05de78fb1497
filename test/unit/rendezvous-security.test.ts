/**
 * Regression tests for the NAT traversal security review (issue 11 follow-up): unpadded
 * REGISTER/CONNECT rejected, candidates a punch would reflect at a victim filtered, the
 * CHANNEL_CLOSE control message, member channels keyed by (relay, channel id), and the relay's
 * two token buckets both checked before either is debited.
 */
import { describe, expect, it } from 'vitest'
import { admit, Bucket } from '../../src/nat/relay-server.js'
import { RelayedAddress, RelayPathTransport } from '../../src/nat/relay-path.js'
import {
  addressScope,
  CandidateKind,
  ControlType,
  decodeControl,
  encodeControl,
  isUnpaddedRequest,
  PADDED_REQUEST_SIZE,
  punchableCandidates,
  RELAY_HEADER_SIZE,
  writeRelayHeader,
} from '../../src/protocol/rendezvous.js'
import type { PeerAddress } from '../../src/net-types.js'

const nodeId = new Uint8Array(32).fill(0xaa)
const channel = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])

describe('item 2: REGISTER and CONNECT must carry their 1200-byte padding', () => {
  it('a short REGISTER or CONNECT decodes to null (the relay drops and counts it); padded ones decode', () => {
    const reg = encodeControl({ type: ControlType.REGISTER, candidates: [] })
    const con = encodeControl({ type: ControlType.CONNECT, requestId: 3, target: nodeId })
    expect(reg.length).toBe(PADDED_REQUEST_SIZE)
    for (const full of [reg, con]) {
      expect(decodeControl(full)).not.toBeNull()
      expect(isUnpaddedRequest(full)).toBe(false)
      for (const n of [full.length - 1, 600, 37, 2]) {
        expect(decodeControl(full.subarray(0, n)), `${full[0]} cut to ${n}`).toBeNull()
        expect(isUnpaddedRequest(full.subarray(0, n))).toBe(true)
      }
    }
    // Other messages are not padded and stay valid.
    expect(isUnpaddedRequest(encodeControl({ type: ControlType.PING, seq: 1 }))).toBe(false)
  })
})

describe('item 2: candidates a punch would reflect at a victim are dropped', () => {
  it('classifies addresses by where they can be meant', () => {
    const cases: Array<[string, string]> = [
      ['0.0.0.0', 'unusable'],
      ['0.1.2.3', 'unusable'],
      ['224.0.0.1', 'unusable'],
      ['239.255.255.250', 'unusable'],
      ['255.255.255.255', 'unusable'],
      ['240.0.0.1', 'unusable'],
      ['::', 'unusable'],
      ['ff02::1', 'unusable'],
      ['127.0.0.1', 'loopback'],
      ['127.9.9.9', 'loopback'],
      ['::1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['169.254.1.1', 'link-local'],
      ['fe80::1', 'link-local'],
      ['10.0.0.2', 'global'],
      ['198.51.100.7', 'global'],
      ['2001:db8::1', 'global'],
      ['not an address', 'unusable'],
    ]
    for (const [host, scope] of cases) expect(addressScope(host), host).toBe(scope)
  })

  it('keeps loopback only between loopback peers, never unusable, IPv6 link-local or port 0', () => {
    const c = (host: string, port = 9) => ({ kind: CandidateKind.HOST, host, port })
    const all = [c('198.51.100.7'), c('127.0.0.1'), c('0.0.0.0'), c('224.0.0.1'), c('255.255.255.255'), c('fe80::1'), c('169.254.3.4'), c('10.1.2.3', 0), c('::')]
    expect(punchableCandidates(all, '203.0.113.5').map((x) => x.host)).toEqual(['198.51.100.7'])
    expect(punchableCandidates(all, '127.0.0.1').map((x) => x.host)).toEqual(['198.51.100.7', '127.0.0.1'])
    expect(punchableCandidates(all, '::ffff:127.0.0.1').map((x) => x.host)).toEqual(['198.51.100.7', '127.0.0.1'])
    expect(punchableCandidates(all, '169.254.9.9').map((x) => x.host)).toEqual(['198.51.100.7', '169.254.3.4'])
    expect(punchableCandidates(all, '')).toEqual([c('198.51.100.7')])
  })
})

describe('item 3: CHANNEL_CLOSE', () => {
  it('is type 10 with the channel id (vector of docs/PROTOCOL.md §8.6)', () => {
    const wire = encodeControl({ type: ControlType.CHANNEL_CLOSE, channel })
    expect(Buffer.from(wire).toString('hex')).toBe('0a0102030405060708')
    expect(decodeControl(wire)).toEqual({ type: ControlType.CHANNEL_CLOSE, channel })
    expect(decodeControl(wire.subarray(0, 8))).toBeNull()
  })
})

const udp = (k: string): PeerAddress => ({ key: k, kind: 'udp', reliable: false, host: '127.0.0.1', port: Number(k.split(':')[1]), toString: () => k })

describe('item 4: a member keys its relay channels by (relay, channel id)', () => {
  it('two relays that chose the same channel id each reach their own channel', () => {
    const r1 = udp('udp:1')
    const r2 = udp('udp:2')
    const path = new RelayPathTransport(() => undefined)
    const a1 = new RelayedAddress(r1, channel)
    const a2 = new RelayedAddress(r2, channel)
    path.channels.set(a1.key, a1)
    path.channels.set(a2.key, a2)
    const slab = new Uint8Array(2 * (RELAY_HEADER_SIZE + 4))
    writeRelayHeader(slab, 0, channel)
    writeRelayHeader(slab, RELAY_HEADER_SIZE + 4, channel)
    const out = path.unwrap({ slab, offsets: Uint32Array.from([0, RELAY_HEADER_SIZE + 4]), lengths: Uint32Array.from([RELAY_HEADER_SIZE + 4, RELAY_HEADER_SIZE + 4]), count: 2, from: [r1, r2] })
    expect(out?.count).toBe(2)
    expect(out?.from[0]).toBe(a1)
    expect(out?.from[1]).toBe(a2)
    expect(a1.bytesReceived).toBe(4)
    expect(a2.bytesReceived).toBe(4)
    // An envelope from a relay that does not hold the channel is left for the endpoint to drop.
    const stray = path.unwrap({ slab, offsets: Uint32Array.from([0]), lengths: Uint32Array.from([RELAY_HEADER_SIZE + 4]), count: 1, from: [udp('udp:3')] })
    expect(stray?.from[0]?.key).toBe('udp:3')
  })
})

describe('item 4: the relay checks the channel and the total bucket before debiting either', () => {
  it('a packet the total bucket refuses costs its channel nothing', () => {
    const channelBucket = new Bucket(10_000, 0)
    const total = new Bucket(1_000, 0)
    expect(admit(channelBucket, total, 800, 0)).toBeNull()
    expect(channelBucket.available).toBe(9_200)
    for (let i = 0; i < 5; i++) expect(admit(channelBucket, total, 800, 0)).toBe('relay-total-limit')
    expect(channelBucket.available).toBe(9_200) // was debited 5 x 800 more before the fix
    expect(admit(new Bucket(100, 0), total, 800, 0)).toBe('relay-rate-limit')
    expect(total.available).toBe(200)
  })
})
