/**
 * A malicious *member*: packets that authenticate (sealed with the real i2r key, captured from
 * the initiator's AEAD backend) but carry arbitrary frames. The responder must never throw; it
 * either keeps the session (and it still works) or closes it with a wire error code and a
 * SESSION_CLOSE. Also: the replay window against a model, and closing-state replies to forged
 * packets staying bounded.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { AeadBackend } from '../../src/crypto/aead.js'
import { jsAead } from '../../src/crypto/js-aead.js'
import { WireError } from '../../src/errors.js'
import { FrameType, HEADER_SIZE, PacketType } from '../../src/protocol/constants.js'
import { encodeFrames, type Frame } from '../../src/protocol/frames.js'
import { writeHeader } from '../../src/protocol/header.js'
import { REPLAY_WINDOW_SIZE, ReplayWindow } from '../../src/protocol/replay.js'
import { CorePair, PT, typeOf } from '../unit/core-harness.js'
import { frameArb } from './core-arbitraries.js'

const SEED = Number(process.env['STT_TEST_SEED'] ?? 777)
const WIRE_CODES = new Set<number>(Object.values(WireError))

const small = fc.nat(40)
/** Frames aimed at live state: small stream keys and offsets, ACKs of packets that exist. */
const nearFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ streamKey: small, offset: fc.nat(70_000), data: fc.uint8Array({ maxLength: 300 }) }).map((f) => ({ type: FrameType.DATA, datagram: false, ...f }) as Frame),
  fc.record({ streamKey: small, priority: fc.nat(255) }).map((f) => ({ type: FrameType.STREAM_OPEN, ...f }) as Frame),
  fc.record({ streamKey: small, errorCode: fc.nat(0x700), finalSize: fc.nat(100_000) }).map((f) => ({ type: FrameType.STREAM_CLOSE, ...f }) as Frame),
  fc.record({ streamKey: small, finalSize: fc.nat(100_000) }).map((f) => ({ type: FrameType.STREAM_FIN, ...f }) as Frame),
  fc.record({ streamKey: small, maxOffset: fc.nat(1 << 24) }).map((f) => ({ type: FrameType.STREAM_CREDIT, ...f }) as Frame),
  fc.record({ hi: fc.nat(30), len: fc.nat(30), delay: fc.nat(1 << 20) }).map(({ hi, len, delay }) => ({ type: FrameType.ACK, ackDelayMicros: delay, ranges: [[Math.max(0, hi - len), hi]] }) as Frame),
  fc.array(fc.nat(30), { maxLength: 10 }).map((packetNumbers) => ({ type: FrameType.NACK, packetNumbers }) as Frame),
  fc.nat(1 << 26).map((maxData) => ({ type: FrameType.SESSION_CREDIT, maxData }) as Frame),
  fc.nat(1000).map((maxStreams) => ({ type: FrameType.STREAMS_CREDIT, maxStreams }) as Frame),
)
const payloadArb = fc.array(fc.oneof({ arbitrary: nearFrame, weight: 3 }, { arbitrary: frameArb, weight: 1 }), { minLength: 1, maxLength: 6 })

function recording(log: Array<{ key: Uint8Array; iv: Uint8Array }>): AeadBackend {
  return { name: 'js', createKey: (suite, key, iv) => (log.push({ key: key.slice(), iv: iv.slice() }), jsAead.createKey(suite, key, iv)) }
}

describe('authenticated packets with arbitrary frames (malicious member)', () => {
  it('never throw; the session survives and works, or closes with a wire error code', () => {
    let run = 0
    let closedByViolation = 0
    fc.assert(
      fc.property(fc.array(payloadArb, { minLength: 1, maxLength: 4 }), (packets) => {
        const keys: Array<{ key: Uint8Array; iv: Uint8Array }> = []
        const p = new CorePair({ seed: `auth-frames-${run++}`, aead: recording(keys) })
        const { sa, sb } = p.handshake()
        expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
        // keys[0] is the r2i key a tries FINAL with before building its session; keys[1] is a's i2r send key.
        const sendKey = jsAead.createKey('aes-256-gcm', keys[1]!.key, keys[1]!.iv)
        packets.forEach((frames, i) => {
          const body = encodeFrames(frames)
          const pkt = new Uint8Array(HEADER_SIZE + body.length + 16)
          writeHeader(pkt, 0, 1, PacketType.DATA, 0, sa.id, 500 + i)
          pkt.set(body, HEADER_SIZE)
          sendKey.sealBatch(pkt, new Uint32Array([0]), new Uint32Array([pkt.length]), 1, HEADER_SIZE)
          p.deliver('b', pkt)
        })
        p.advance(2000)
        expect(['active', 'closing', 'closed']).toContain(sb.state)
        if (sb.state === 'active') {
          expect(p.roundTrip(sa, sb, 'after', 5000)).toBe(true)
        } else {
          closedByViolation++
          // Either the peer closed it (a SESSION_CLOSE frame, any code) or we did, with a wire code.
          const peerClosed = packets.flat().some((f) => f.type === FrameType.SESSION_CLOSE && !('app' in f) && (f as { errorCode: number }).errorCode === sb.closeCode)
          expect(peerClosed || WIRE_CODES.has(sb.closeCode), `close code 0x${sb.closeCode.toString(16)}`).toBe(true)
          if (peerClosed) return
          expect(p.log.some((d) => d.from === 'b' && typeOf(d.data) === PT.DATA)).toBe(true)
        }
      }),
      { seed: SEED, numRuns: 150 },
    )
    expect(closedByViolation).toBeGreaterThan(0) // the generator does reach the violation paths
  })
})

describe('replay window', () => {
  it('accept() matches a model (seen set + window) for arbitrary packet-number sequences', () => {
    const pnArb = fc.oneof(fc.nat(200), fc.nat(20_000), fc.integer({ min: 0, max: 2 ** 40 }))
    fc.assert(
      fc.property(fc.array(pnArb, { maxLength: 400 }), (pns) => {
        const w = new ReplayWindow()
        const seen = new Set<number>()
        let highest = -1
        // The model of the growing ring (replay.ts): 224 packets of window until packet 256 or
        // the first too-old one, then REPLAY_WINDOW_SIZE, refusing what the small ring forgot.
        let window = 224
        let floor = 0
        for (const pn of pns) {
          const grows = window < REPLAY_WINDOW_SIZE && (pn >= 256 || highest - pn >= window)
          const wouldBefore = !seen.has(pn) && pn >= floor && (pn > highest || highest - pn < window)
          expect(w.wouldAccept(pn), `wouldAccept ${pn} after ${highest}`).toBe(wouldBefore)
          if (grows) {
            floor = Math.max(0, highest - window + 1)
            window = REPLAY_WINDOW_SIZE
          }
          const expected = !seen.has(pn) && pn >= floor && (pn > highest || highest - pn < window)
          expect(w.accept(pn), `accept ${pn} after ${highest}`).toBe(expected)
          if (expected) seen.add(pn)
          highest = Math.max(highest, expected ? pn : highest)
        }
      }),
      { seed: SEED, numRuns: 500 },
    )
  })
})

describe('closing state', () => {
  it('forged packets for a closing session do not make it send an unbounded number of SESSION_CLOSEs', () => {
    const p = new CorePair({ seed: 'closing-forged' })
    const { sa, sb } = p.handshake()
    p.tap = (d) => (d.from === 'a' ? [] : [d.data]) // a hears nothing more; b keeps its closing state
    p.roundTrip(sa, sb, 'x', 100)
    sb.close(WireError.NO_ERROR, 'x'.repeat(200), p.now)
    p.flush()
    expect(sb.state).toBe('closing')
    const before = p.log.filter((d) => d.from === 'b').length
    // 200 forged 19-byte datagrams naming the session (no valid tag, from anywhere).
    const forged = new Uint8Array(HEADER_SIZE)
    writeHeader(forged, 0, 1, PacketType.DATA, 0, sb.id, 99)
    for (let i = 0; i < 200; i++) p.deliver('b', forged)
    const closes = p.log.filter((d) => d.from === 'b').slice(before)
    const bytes = closes.reduce((n, d) => n + d.data.length, 0)
    // Each reply is ~240 bytes against 19 sent: unbounded replies would amplify 12x toward the peer.
    expect(closes.length, `${closes.length} replies, ${bytes} bytes for 200 x 19 bytes`).toBeLessThanOrEqual(10)
  })
})
