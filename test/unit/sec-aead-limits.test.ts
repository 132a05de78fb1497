/**
 * Regression tests for issue 10, items 8 (AEAD usage limits: packets per key capped per
 * suite, integrity limit closes the session) and 9 (the previous receive key is dropped 3 PTO
 * after a key update; destroy() wipes key material in the JS backend).
 */
import { describe, expect, it } from 'vitest'
import { DEFAULTS, resolveProtocolConfig } from '../../src/config.js'
import { jsAead } from '../../src/crypto/js-aead.js'
import { WireError } from '../../src/errors.js'
import { MAX_PACKETS_PER_KEY, packetsPerKey } from '../../src/protocol/aead-limits.js'
import { HEADER_SIZE, PacketType } from '../../src/protocol/constants.js'
import { writeHeader } from '../../src/protocol/header.js'
import type { ProtocolConfig } from '../../src/config.js'
import { CorePair, PT, typeOf } from './core-harness.js'

const seed = new Uint8Array(32).fill(7)

describe('item 8: AEAD usage limits', () => {
  it('packets per key: default and maximum 2^23 (RFC 9001 §6.6), fewer for AES-GCM with packets over 64 KiB', () => {
    expect(DEFAULTS.rekeyAfterPackets).toBe(2 ** 23)
    expect(() => resolveProtocolConfig({ sharedSeed: seed, rekeyAfterPackets: 2 ** 40 }, () => new Uint8Array(32))).toThrow(/rekeyAfterPackets/)
    expect(() => resolveProtocolConfig({ sharedSeed: seed, rekeyAfterPackets: 2 ** 24 }, () => new Uint8Array(32))).toThrow(/rekeyAfterPackets/)
    expect(MAX_PACKETS_PER_KEY).toBe(2 ** 23)
    expect(packetsPerKey('aes-256-gcm', 2 ** 23, 65_536)).toBe(2 ** 23)
    expect(packetsPerKey('aes-256-gcm', 2 ** 23, 1 << 20)).toBe(2 ** 19)
    expect(packetsPerKey('chacha20-poly1305', 2 ** 23, 1 << 20)).toBe(2 ** 23)
  })

  it('too many packets failing authentication under a session close it with ENCRYPTION_ERROR', () => {
    const p = new CorePair({ seed: 'sec-integrity' })
    ;(p.b.config as ProtocolConfig).integrityLimitOverride = 5
    const { sb } = p.handshake()
    for (let i = 0; i < 5; i++) {
      const forged = new Uint8Array(HEADER_SIZE + 40)
      writeHeader(forged, 0, 1, PacketType.DATA, 0, sb.id, 1000 + i)
      p.deliver('b', forged)
    }
    expect(sb.counters.snapshot().dropped['auth']).toBe(5)
    expect(sb.state === 'closing' || sb.state === 'closed').toBe(true)
    expect(sb.closeCode).toBe(WireError.ENCRYPTION_ERROR)
  })
})

describe('item 9: old key material', () => {
  it('the previous receive key is dropped 3 PTO after a key update: a late old-phase packet no longer opens', () => {
    const p = new CorePair({ seed: 'sec-old-key', a: { rekeyAfterPackets: 16 } })
    const { sa, sb } = p.handshake()
    let held: Uint8Array | null = null
    p.tap = (d) => {
      // Hold back one of A's phase-0 data packets carrying a datagram.
      if (!held && d.from === 'a' && typeOf(d.data) === PT.DATA && (d.data[2]! & 1) === 0 && p.sessionEvents('b', 'datagram').length >= 5) {
        held = d.data
        return []
      }
      return [d.data]
    }
    // Send until A's first key update reaches B, and no further: the held packet is then
    // exactly one phase old, which B's previous key opens as long as it is kept.
    const phase1FromA = () => p.log.some((d) => d.from === 'a' && typeOf(d.data) === PT.DATA && (d.data[2]! & 1) === 1)
    for (let i = 0; i < 60 && !phase1FromA(); i++) {
      sa.sendDatagram(new TextEncoder().encode(`d${i}`))
      p.advance(20)
    }
    p.advance(20)
    expect(held).not.toBeNull()
    expect(sb.counters.keyUpdates).toBeGreaterThan(0) // B follows A's update
    p.advance(5000) // well past 3 PTO
    const got = p.sessionEvents('b', 'datagram').length
    const authBefore = sb.counters.snapshot().dropped['auth'] ?? 0
    p.deliver('b', held!)
    expect(p.sessionEvents('b', 'datagram').length).toBe(got)
    expect(sb.counters.snapshot().dropped['auth'] ?? 0).toBe(authBefore + 1)
  })

  it("the JS backend's destroy() zeroes its key and IV and refuses further use", () => {
    const key = new Uint8Array(32).fill(1)
    const k = jsAead.createKey('aes-256-gcm', key, new Uint8Array(12).fill(2))
    const inner = k as unknown as { key: Buffer; iv: Buffer }
    k.destroy()
    expect(inner.key.every((b) => b === 0) && inner.iv.every((b) => b === 0)).toBe(true)
    const pkt = new Uint8Array(HEADER_SIZE + 20)
    expect(() => k.sealBatch(pkt, new Uint32Array([0]), new Uint32Array([pkt.length]), 1, HEADER_SIZE)).toThrow(/destroyed/)
  })
})
