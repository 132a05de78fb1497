import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { WireError } from '../../src/errors.js'
import { RangeSet } from '../../src/protocol/range-set.js'
import { FlowTuning } from '../../src/protocol/flow-autotune.js'
import { copyOut, RecvBuffer, setRecvMemory } from '../../src/protocol/recv-buffer.js'
import { MIN_CHUNK_SIZE, SendBuffer } from '../../src/protocol/send-buffer.js'

const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff)

describe('RangeSet', () => {
  it('property: matches a reference bitmap under random add/remove', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 30 })), { maxLength: 80 }),
        (ops) => {
          const rs = new RangeSet()
          const ref = new Array<boolean>(240).fill(false)
          for (const [add, s, len] of ops) {
            if (add) rs.add(s, s + len)
            else rs.remove(s, s + len)
            for (let i = s; i < s + len; i++) ref[i] = add
          }
          for (let i = 0; i < 240; i++) expect(rs.contains(i)).toBe(ref[i])
          for (const [s, e] of [[0, 240], [17, 93], [50, 51], [120, 119]] as const) {
            expect(rs.bytesIn(s, e)).toBe(ref.slice(s, Math.max(s, e)).filter(Boolean).length)
          }
          for (let i = 1; i < rs.count; i++) expect(rs.start(i)).toBeGreaterThan(rs.end(i - 1))
        },
      ),
      { seed: 99, numRuns: 300 },
    )
  })
})

describe('SendBuffer', () => {
  it('returns false at the high-water mark and frees memory as data is acked', () => {
    const sb = new SendBuffer(100_000)
    expect(sb.write(bytes(60_000))).toBe(true)
    expect(sb.write(bytes(60_000))).toBe(false)
    expect(sb.buffered).toBe(120_000)
    sb.onSent(0, 120_000)
    sb.onAcked(0, 60_000)
    expect(sb.buffered).toBe(60_000)
    expect(sb.belowHighWater).toBe(true)
    expect(sb.allocatedBytes).toBeLessThanOrEqual(60_000 + MIN_CHUNK_SIZE)
  })

  it('copies data in once (caller may reuse its buffer) and out across chunk boundaries', () => {
    const sb = new SendBuffer(1 << 20)
    const src = bytes(10)
    sb.write(src)
    src.fill(0)
    sb.write(bytes(20_000, 7))
    const out = new Uint8Array(20_010)
    sb.copyOut(0, 20_010, out, 0)
    expect(out.subarray(0, 10)).toEqual(bytes(10))
    expect(out.subarray(10)).toEqual(bytes(20_000, 7))
  })

  it('re-queues lost ranges minus what was acked meanwhile, lowest first, and never below acked base', () => {
    const sb = new SendBuffer(1 << 20)
    sb.write(bytes(1000))
    sb.onSent(0, 1000)
    sb.onAcked(200, 100)
    sb.onLost(0, 500)
    expect(sb.hasRetransmit).toBe(true)
    expect([sb.retransmitStart(), sb.retransmitLength()]).toEqual([0, 200])
    sb.onSent(0, 200)
    expect([sb.retransmitStart(), sb.retransmitLength()]).toEqual([300, 200])
    sb.onAcked(0, 1000)
    expect(sb.hasRetransmit).toBe(false)
    expect(sb.ackedBase).toBe(1000)
    sb.onLost(0, 1000)
    expect(sb.hasRetransmit).toBe(false)
  })

  // Random loss: the bytes acked behind a retransmission stay held (chunks free in order) but
  // need nothing more; counting them against the mark blocked the writer with nothing to send.
  it('bytes acked above a hole do not count against the high-water mark (memory stays held until the hole fills)', () => {
    const sb = new SendBuffer(100_000)
    sb.write(bytes(100_000))
    expect(sb.belowHighWater).toBe(false)
    sb.onSent(0, 100_000)
    sb.onAcked(1_000, 60_000)
    sb.onAcked(30_000, 40_000) // overlaps: counted once
    sb.onAcked(80_000, 10_000)
    expect(sb.buffered).toBe(100_000)
    expect(sb.unacked).toBe(100_000 - 79_000)
    expect(sb.belowHighWater).toBe(true)
    expect(sb.write(bytes(50_000))).toBe(true)
    sb.onAcked(0, 1_000) // the hole fills: [0, 70k) freed, [80k, 90k) still acked above the base
    expect(sb.ackedBase).toBe(70_000)
    expect(sb.unacked).toBe(150_000 - 70_000 - 10_000)
    sb.onAcked(0, 150_000)
    expect(sb.unacked).toBe(0)
    expect(sb.buffered).toBe(0)
  })

  it('limits new data by the flow-control offset and reports allAcked after FIN data', () => {
    const sb = new SendBuffer(1 << 20)
    sb.write(bytes(500))
    expect(sb.newBytesAvailable(300)).toBe(300)
    sb.onSent(0, 300)
    expect(sb.newBytesAvailable(300)).toBe(0)
    expect(sb.newBytesAvailable(1000)).toBe(200)
    sb.end()
    expect(sb.finalSize).toBe(500)
    sb.onSent(300, 200)
    sb.onAcked(0, 500)
    expect(sb.allAcked).toBe(true)
  })
})

describe('RecvBuffer', () => {
  it('reassembles out-of-order, overlapping and duplicate segments into the original bytes', () => {
    const data = bytes(1000, 3)
    const rb = new RecvBuffer(1 << 20)
    const seg = (s: number, e: number) => rb.insert(s, data.slice(s, e))
    expect(seg(500, 700)).toBe(0)
    expect(seg(100, 300)).toBe(0)
    expect(seg(250, 600)).toBe(0)
    expect(seg(650, 1000)).toBe(0)
    expect(seg(100, 300)).toBe(0)
    expect(rb.read()).toBeNull() // hole at 0..100
    expect(seg(0, 120)).toBe(0)
    const out: number[] = []
    for (let b = rb.read(); b !== null; b = rb.read()) out.push(...b)
    expect(Uint8Array.from(out)).toEqual(data)
    expect(rb.bufferedBytes).toBe(0)
  })

  it('merges adjacent tiny segments and rejects abusive fragmentation', () => {
    const rb = new RecvBuffer(64 * 1024)
    for (let off = 100; off < 10_000; off += 10) expect(rb.insert(off, bytes(10))).toBe(0)
    expect(rb.segmentCount).toBeLessThan(10)
    const evil = new RecvBuffer(64 * 1024)
    let code = 0
    for (let off = 1; off < 64 * 1024 && code === 0; off += 2) code = evil.insert(off, bytes(1))
    expect(code).toBe(WireError.RESOURCE_EXHAUSTED)
    expect(evil.segmentCount).toBeLessThanOrEqual(257)
  })

  it('copies out of the caller buffer (datagram reuse is safe)', () => {
    const rb = new RecvBuffer(1000)
    const d = bytes(10)
    rb.insert(0, d)
    d.fill(0)
    expect(rb.read()).toEqual(bytes(10))
  })

  it('emptied by every read (a ping-pong, segments array refilled in place), then out of order: every chunk reads back', () => {
    const rb = new RecvBuffer(1 << 20)
    const chunk = (i: number) => new Uint8Array(64).fill(i)
    for (let i = 0; i < 40; i++) {
      expect(rb.insert(i * 64, chunk(i))).toBe(0)
      expect(rb.read()).toEqual(chunk(i))
      expect(rb.read()).toBeNull()
    }
    expect(rb.insert(41 * 64, chunk(41))).toBe(0)
    expect(rb.read()).toBeNull()
    expect(rb.insert(40 * 64, chunk(40))).toBe(0)
    expect(rb.read()).toEqual(chunk(40))
    expect(rb.read()).toEqual(chunk(41))
    expect(rb.read()).toBeNull()
    expect(rb.segmentCount).toBe(0)
  })

  it('setRecvMemory: what read() hands out is of that kind, merged in-order runs and partial reads too', () => {
    setRecvMemory((n) => Buffer.alloc(n))
    try {
      const rb = new RecvBuffer(1 << 20)
      rb.insert(0, bytes(100))
      rb.insert(100, bytes(100))
      const whole = rb.read(150)!
      expect(Buffer.isBuffer(whole)).toBe(true)
      const rest = rb.read()!
      expect(Buffer.isBuffer(rest)).toBe(true)
      expect([...whole, ...rest]).toEqual([...bytes(100), ...bytes(100)])
    } finally {
      setRecvMemory((n) => new Uint8Array(n))
    }
  })

  it('copyOut (datagrams, application frames): a copy of the kind setRecvMemory makes for copies, in memory of its own, not a page', () => {
    setRecvMemory(
      (n) => Buffer.alloc(n),
      (n) => Buffer.allocUnsafeSlow(n),
    )
    try {
      const src = bytes(64)
      const copy = copyOut(src)
      expect(Buffer.isBuffer(copy)).toBe(true)
      expect([...copy]).toEqual([...src])
      src.fill(0)
      expect([...copy]).toEqual([...bytes(64)])
      // A kept datagram holds no receive page, and its .buffer shows nothing else (no shared pool).
      expect(copy.buffer.byteLength).toBe(64)
      expect(copyOut(new Uint8Array(0)).length).toBe(0)
    } finally {
      setRecvMemory(
        (n) => new Uint8Array(n),
        (n) => new Uint8Array(n),
      )
    }
    const plain = copyOut(bytes(10))
    expect(Buffer.isBuffer(plain)).toBe(false)
    expect([...plain]).toEqual([...bytes(10)])
  })

  it('honours max in read()', () => {
    const rb = new RecvBuffer(1000)
    rb.insert(0, bytes(100))
    expect(rb.read(30)!.length).toBe(30)
    expect(rb.read()!.length).toBe(70)
  })

  it('rejects data beyond the granted credit or beyond the final size', () => {
    const rb = new RecvBuffer(1000)
    expect(rb.insert(900, bytes(101))).toBe(WireError.FLOW_CONTROL_VIOLATION)
    expect(rb.insert(0, bytes(100))).toBe(0)
    expect(rb.setFinalSize(50)).toBe(WireError.FLOW_CONTROL_VIOLATION) // below received
    expect(rb.setFinalSize(200)).toBe(0)
    expect(rb.setFinalSize(201)).toBe(WireError.FLOW_CONTROL_VIOLATION)
    expect(rb.insert(150, bytes(51))).toBe(WireError.FLOW_CONTROL_VIOLATION)
    expect(rb.insert(150, bytes(50))).toBe(0)
  })

  it('grants more credit only once more than half the window was consumed', () => {
    const rb = new RecvBuffer(1000)
    rb.insert(0, bytes(1000))
    rb.read(400)
    expect(rb.takeCreditUpdate()).toBe(-1)
    rb.read(200)
    expect(rb.takeCreditUpdate()).toBe(1600)
    expect(rb.takeCreditUpdate()).toBe(-1)
  })

  // Random loss: the credit loop's round trip includes the time a hole holds the reader back,
  // and what waits behind a hole is not unread data of a slow reader.
  it('auto-tuning: a reader held back by holes gets its window grown; the same pace without holes does not', () => {
    const run = (holes: boolean): number => {
      const tuning = new FlowTuning(1 << 30)
      tuning.srtt = 20
      const rb = new RecvBuffer(1_000_000, tuning)
      let off = 0
      // Half a window consumed every 50 ms (2.5 srtt: slower than the 2-srtt rule).
      for (let round = 0; round < 6; round++) {
        tuning.now = round * 50
        if (holes) {
          // The first packet of the round is lost; everything behind it waits 30 ms for it.
          expect(rb.insert(off + 1000, bytes(499_000))).toBe(0)
          expect(rb.read()).toBeNull()
          tuning.now += 30
          expect(rb.insert(off, bytes(1000))).toBe(0)
        } else {
          expect(rb.insert(off, bytes(500_000))).toBe(0)
        }
        off += 500_000
        while (rb.read() !== null) rb.takeCreditUpdate()
        rb.takeCreditUpdate()
      }
      return rb.window
    }
    expect(run(false)).toBe(1_000_000)
    expect(run(true)).toBeGreaterThan(1_000_000)
  })

  // The peer used up its credit while a hole holds the reader: credit is granted at once (the
  // window grows), at most once per srtt, and never beyond the memory limit even when the hole
  // is never filled (a peer leaving it open on purpose).
  it('credit behind a hole: granted early when the peer runs out, once per srtt, bounded by the limit; not for a reader with data to read', () => {
    const tuning = new FlowTuning(8_000)
    tuning.srtt = 20
    const rb = new RecvBuffer(1_000, tuning)
    expect(rb.insert(100, bytes(500))).toBe(0)
    expect(rb.takeCreditBehindHole()).toBe(-1) // half the credit is left
    expect(rb.insert(600, bytes(400))).toBe(0)
    expect(rb.takeCreditBehindHole()).toBe(2_000)
    expect(rb.insert(1_000, bytes(1_000))).toBe(0)
    expect(rb.takeCreditBehindHole()).toBe(-1) // within the same srtt
    const grants: number[] = []
    for (let round = 1; round <= 5; round++) {
      tuning.now = round * 20
      expect(rb.insert(rb.highestReceived, bytes(rb.maxOffset - rb.highestReceived))).toBe(0)
      grants.push(rb.takeCreditBehindHole())
    }
    expect(grants).toEqual([4_000, 8_000, -1, -1, -1])
    expect(rb.window).toBe(8_000)
    expect(rb.insert(8_000, bytes(1))).toBe(WireError.FLOW_CONTROL_VIOLATION)
    // A reader with in-order data to read is not held by a hole: no early credit.
    const slow = new RecvBuffer(1_000, tuning)
    tuning.now = 1_000
    expect(slow.insert(0, bytes(1_000))).toBe(0)
    expect(slow.takeCreditBehindHole()).toBe(-1)
  })

  it('property: any segmentation with overlaps and duplicates reads back the original', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 400 })), { maxLength: 40 }),
        fc.nat(),
        (size, extra, seed) => {
          const data = bytes(size, seed)
          const rb = new RecvBuffer(size)
          // Random segments, then a covering pass in random-ish order so everything arrives.
          const segs: Array<[number, number]> = extra.map(([s, l]) => [s % size, Math.min(size, (s % size) + l)])
          for (let s = 0; s < size; s += 97) segs.push([s, Math.min(size, s + 97)])
          segs.sort((a, b) => ((a[0] * 7919 + seed) % 13) - ((b[0] * 7919 + seed) % 13))
          const out: number[] = []
          for (const [s, e] of segs) {
            expect(rb.insert(s, data.slice(s, e))).toBe(0)
            if ((s + seed) % 3 === 0) for (let b = rb.read(); b !== null; b = rb.read()) out.push(...b)
          }
          for (let b = rb.read(); b !== null; b = rb.read()) out.push(...b)
          expect(Uint8Array.from(out)).toEqual(data)
        },
      ),
      { seed: 7, numRuns: 200 },
    )
  })
})
