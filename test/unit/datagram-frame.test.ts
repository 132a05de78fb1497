/**
 * writeDatagramFrame / datagramFrameSize (a datagram's DATA frame written without a frame
 * object): the same bytes and size as writeFrame / frameSize of that frame, at every varint
 * length boundary, and readFrame reads it back as a datagram.
 */
import { describe, expect, it } from 'vitest'
import { FrameType } from '../../src/protocol/constants.js'
import { type DataFrame, datagramFrameSize, type Frame, frameSize, readFrame, writeDatagramFrame, writeFrame } from '../../src/protocol/frames.js'
import { Reader } from '../../src/protocol/varint.js'

describe('datagram DATA frame', () => {
  for (const n of [0, 1, 63, 64, 1200, 16383, 16384]) {
    it(`${n} bytes: same size and bytes as the generic writer, read back as a datagram`, () => {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff)
      const f: Frame = { type: FrameType.DATA, datagram: true, streamKey: 0, offset: 0, data }
      expect(datagramFrameSize(n)).toBe(frameSize(f))
      const a = new Uint8Array(n + 16).fill(0xee)
      const b = new Uint8Array(n + 16).fill(0xee)
      const endA = writeFrame(a, 3, f)
      const endB = writeDatagramFrame(b, 3, data)
      expect(endB).toBe(endA)
      expect(endB - 3).toBe(datagramFrameSize(n))
      expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true)
      const back = readFrame(new Reader(b, 3, endB))
      expect(typeof back).toBe('object')
      const d = back as DataFrame
      expect(d.type).toBe(FrameType.DATA)
      expect(d.datagram).toBe(true)
      expect(Buffer.from(d.data).equals(Buffer.from(data))).toBe(true)
    })
  }
})
