/**
 * Rendezvous wire formats (docs/PROTOCOL.md §8): control message vectors in both directions,
 * malformed input rejected, the relay envelope, and the punch schedule's pacing and 3x budget.
 */
import { describe, expect, it } from 'vitest'
import { AmplificationBudget } from '../../src/protocol/amplification.js'
import { OFF_PATH_PACKET_SIZE } from '../../src/protocol/off-path.js'
import { PunchSchedule } from '../../src/protocol/punch.js'
import {
  CandidateKind,
  ControlType,
  decodeControl,
  encodeControl,
  isRelayEnvelope,
  PADDED_REQUEST_SIZE,
  RELAY_HEADER_SIZE,
  relayChannelKey,
  writeRelayHeader,
  type ControlMessage,
} from '../../src/protocol/rendezvous.js'
import type { PeerAddress } from '../../src/net-types.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const channel = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])
const nodeId = new Uint8Array(32).fill(0xaa)

// The vectors of docs/PROTOCOL.md §8.6.
const VECTORS: Array<[string, ControlMessage, string]> = [
  ['REGISTERED', { type: ControlType.REGISTERED, reflexive: { kind: CandidateKind.REFLEXIVE, host: '203.0.113.7', port: 40000 } }, '020204cb0071079c40'],
  [
    'CONNECT_OK',
    { type: ControlType.CONNECT_OK, requestId: 7, channel, candidates: [{ kind: CandidateKind.REFLEXIVE, host: '198.51.100.2', port: 4242 }, { kind: CandidateKind.HOST, host: 'fd00::1', port: 9 }] },
    '04' + '00000007' + '0102030405060708' + '02' + '0204c63364021092' + '0106' + 'fd00' + '00'.repeat(12) + '0001' + '0009',
  ],
  ['REFUSED', { type: ControlType.REFUSED, requestId: 9, reason: 2 }, '050000000902'],
  ['CHANNEL_CLOSED', { type: ControlType.CHANNEL_CLOSED, channel }, '070102030405060708'],
  ['PING', { type: ControlType.PING, seq: 258 }, '0800000102'],
]

describe('rendezvous control messages', () => {
  for (const [name, msg, wire] of VECTORS) {
    it(`${name}: encodes to the vector and decodes back`, () => {
      expect(hex(encodeControl(msg))).toBe(wire)
      const back = decodeControl(Buffer.from(wire, 'hex'))
      expect(back).toEqual(msg)
    })
  }

  it('REGISTER and CONNECT are padded to 1200 bytes (the 3x budget of punching rests on it)', () => {
    const reg = encodeControl({ type: ControlType.REGISTER, candidates: [{ kind: CandidateKind.HOST, host: '10.0.0.2', port: 5000 }] })
    expect(reg.length).toBe(PADDED_REQUEST_SIZE)
    expect(hex(reg.subarray(0, 10))).toBe('0101' + '01040a0000021388')
    const con = encodeControl({ type: ControlType.CONNECT, requestId: 1, target: nodeId })
    expect(con.length).toBe(PADDED_REQUEST_SIZE)
    expect(decodeControl(con)).toEqual({ type: ControlType.CONNECT, requestId: 1, target: nodeId })
    expect(decodeControl(encodeControl({ type: ControlType.INTRODUCE, channel, peer: nodeId, candidates: [] }))).toEqual({ type: ControlType.INTRODUCE, channel, peer: nodeId, candidates: [] })
  })

  it('malformed messages decode to null, never throw', () => {
    for (const bad of ['', '00', '63', '02', '0203', '020204cb0071', '0400000007010203', '01' + '09', '0101030400000000000000', '0501']) {
      expect(decodeControl(Buffer.from(bad, 'hex')), bad).toBeNull()
    }
    // Random garbage of every length up to 64 bytes.
    let x = 12345
    for (let n = 0; n < 2000; n++) {
      const b = new Uint8Array(n % 64)
      for (let i = 0; i < b.length; i++) b[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24
      expect(() => decodeControl(b)).not.toThrow()
    }
  })
})

describe('relay envelope', () => {
  it('is version, type 0x20, flags 0, channel id; the relayed packet follows untouched', () => {
    const buf = new Uint8Array(RELAY_HEADER_SIZE + 3)
    writeRelayHeader(buf, 0, channel)
    buf.set([9, 9, 9], RELAY_HEADER_SIZE)
    expect(hex(buf)).toBe('012000' + '0102030405060708' + '090909')
    expect(isRelayEnvelope(buf, 0, buf.length)).toBe(true)
    expect(isRelayEnvelope(buf, 0, RELAY_HEADER_SIZE)).toBe(false)
    expect(relayChannelKey(buf, 0)).toBe('0102030405060708')
  })
})

const addr = (k: string): PeerAddress => ({ key: k, kind: 'udp', reliable: false, toString: () => k })

describe('punch schedule', () => {
  it('paces tries at 0, 20, 60, 140, 300, 620 ms per candidate and stops after 6', () => {
    const budget = new AmplificationBudget()
    budget.onReceived(PADDED_REQUEST_SIZE)
    const p = new PunchSchedule([addr('a')], 0, (n) => new Uint8Array(n), budget)
    const times: number[] = []
    for (let t = 0; t < 2000; t++) {
      const target = p.next(t, OFF_PATH_PACKET_SIZE)
      if (target) {
        times.push(t)
        p.sent(target, OFF_PATH_PACKET_SIZE, t)
      }
    }
    expect(times).toEqual([0, 20, 60, 140, 300, 620])
    expect(p.finished).toBe(true)
  })

  it('never sends more than 3x the padded request that caused it, over all candidates', () => {
    const budget = new AmplificationBudget()
    budget.onReceived(PADDED_REQUEST_SIZE)
    const many = Array.from({ length: 40 }, (_, i) => addr(`c${i}`))
    const p = new PunchSchedule(many, 0, (n) => new Uint8Array(n), budget)
    let bytes = 0
    for (let t = 0; t < 2000; t++) {
      for (let target = p.next(t, OFF_PATH_PACKET_SIZE); target; target = p.next(t, OFF_PATH_PACKET_SIZE)) {
        p.sent(target, OFF_PATH_PACKET_SIZE, t)
        bytes += OFF_PATH_PACKET_SIZE
      }
    }
    expect(bytes).toBeLessThanOrEqual(3 * PADDED_REQUEST_SIZE)
    expect(bytes).toBeGreaterThan(3 * PADDED_REQUEST_SIZE - OFF_PATH_PACKET_SIZE)
  })

  it('an echo validates only the punched address, with the right challenge', () => {
    const budget = new AmplificationBudget()
    budget.onReceived(PADDED_REQUEST_SIZE)
    let seq = 1
    const p = new PunchSchedule([addr('a'), addr('b')], 0, (n) => new Uint8Array(n).fill(seq++), budget)
    expect(p.answered(new Uint8Array(8).fill(1), addr('b'))).toBeNull()
    expect(p.answered(new Uint8Array(8).fill(2), addr('a'))).toBeNull()
    expect(p.answered(new Uint8Array(8).fill(2), addr('b'))?.key).toBe('b')
    expect(p.finished).toBe(true)
    expect(p.next(10_000, OFF_PATH_PACKET_SIZE)).toBeNull()
  })

  it('reached(): true once, for a target only; false once the punch is done (by an echo or by an earlier reached)', () => {
    const budget = new AmplificationBudget()
    budget.onReceived(PADDED_REQUEST_SIZE)
    let seq = 1
    const p = new PunchSchedule([addr('a'), addr('b')], 0, (n) => new Uint8Array(n).fill(seq++), budget)
    expect(p.reached(addr('x'))).toBe(false) // no target: not done either
    expect(p.finished).toBe(false)
    expect(p.reached(addr('b'))).toBe(true)
    expect(p.stats().succeeded).toBe('b')
    // Done: neither the same nor the other target counts again, and no echo is a punch any more.
    expect(p.reached(addr('b'))).toBe(false)
    expect(p.reached(addr('a'))).toBe(false)
    expect(p.answered(new Uint8Array(8).fill(1), addr('a'))).toBeNull()
    expect(p.stats().succeeded).toBe('b')

    const q = new PunchSchedule([addr('a'), addr('b')], 0, (n) => new Uint8Array(n).fill(seq++), budget)
    expect(q.answered(new Uint8Array(8).fill(3), addr('a'))?.key).toBe('a')
    expect(q.reached(addr('a'))).toBe(false) // done by the echo
    expect(q.reached(addr('b'))).toBe(false)
  })
})
