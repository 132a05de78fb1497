/** fast-check arbitraries shared by the core-* property tests (not a test file). */
import fc from 'fast-check'
import { FrameType } from '../../src/protocol/constants.js'
import type { Frame } from '../../src/protocol/frames.js'

export const v = fc.oneof(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 16383 }), fc.integer({ min: 0, max: 2 ** 30 - 1 }), fc.maxSafeNat())
export const bytes = (max = 64) => fc.uint8Array({ maxLength: max })
const reason = fc.string({ unit: 'grapheme', maxLength: 60 })

const ackArb = fc
  .record({ top: fc.maxSafeNat(), first: fc.nat(1000), rest: fc.array(fc.tuple(fc.nat(1000), fc.nat(1000)), { maxLength: 63 }), delay: v })
  .map(({ top, first, rest, delay }) => {
    const ranges: Array<[number, number]> = [[Math.max(0, top - first), top]]
    let lo = ranges[0]![0]
    for (const [gap, len] of rest) {
      const hi = lo - gap - 2
      if (hi - len < 0) break
      ranges.push([hi - len, hi])
      lo = hi - len
    }
    return { type: FrameType.ACK, ackDelayMicros: delay, ranges } as Frame
  })

export const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.integer({ min: 1, max: 40 }).map((length) => ({ type: FrameType.PADDING, length }) as Frame),
  fc.record({ streamKey: v, offset: v, data: bytes(200) }).map((f) => ({ type: FrameType.DATA, datagram: false, ...f }) as Frame),
  bytes(200).map((data) => ({ type: FrameType.DATA, datagram: true, streamKey: 0, offset: 0, data }) as Frame),
  ackArb,
  fc.array(v, { maxLength: 64 }).map((packetNumbers) => ({ type: FrameType.NACK, packetNumbers }) as Frame),
  fc.tuple(fc.constantFrom(FrameType.KEEP_ALIVE, FrameType.KEEP_ALIVE_ACK), fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([type, data]) => ({ type, data }) as Frame),
  fc.record({ streamKey: v, priority: fc.nat(255) }).map((f) => ({ type: FrameType.STREAM_OPEN, ...f }) as Frame),
  fc.record({ streamKey: v, errorCode: v, finalSize: v }).map((f) => ({ type: FrameType.STREAM_CLOSE, ...f }) as Frame),
  fc.record({ streamKey: v, finalSize: v }).map((f) => ({ type: FrameType.STREAM_FIN, ...f }) as Frame),
  fc.record({ streamKey: v, maxOffset: v }).map((f) => ({ type: FrameType.STREAM_CREDIT, ...f }) as Frame),
  v.map((maxData) => ({ type: FrameType.SESSION_CREDIT, maxData }) as Frame),
  v.map((maxStreams) => ({ type: FrameType.STREAMS_CREDIT, maxStreams }) as Frame),
  fc.record({ errorCode: v, reason }).map((f) => ({ type: FrameType.SESSION_CLOSE, ...f }) as Frame),
  fc.record({ errorCode: v, frameType: fc.nat(255), reason }).map((f) => ({ type: FrameType.ERROR, ...f }) as Frame),
  fc.record({ type: fc.integer({ min: 0x80, max: 0xfe }), data: bytes(100) }).map((f) => ({ ...f, app: true }) as Frame),
)

