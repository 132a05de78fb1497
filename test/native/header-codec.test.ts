/**
 * Native header codec (native/frame.cc) vs the TypeScript reference, and replay of the fuzz
 * regression corpus (test/native/fuzz-regressions/) through the native decoder.
 */
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ErrorCode, STTError } from '../../src/errors.js'
import { HeaderStatus } from '../../src/native/binding.js'
import { allocHeaderColumns, type HeaderColumns, jsHeaderCodec } from '../../src/native/header-codec-js.js'
import {
  createNativeHeaderCodec,
  createRoutedHeaderCodec,
  DECODE_NATIVE_MIN_BATCH,
  ENCODE_NATIVE_MIN_BATCH,
  headerCodec,
} from '../../src/native/header-codec-native.js'
import { backend, binding } from '../../src/native/load.js'
import { HEADER_SIZE } from '../../src/protocol/constants.js'
import { readHeader } from '../../src/protocol/header.js'

const SKIP_REASON = 'native addon not loaded (STT_NATIVE=0 or not built): native codec tests skipped'

function columnsEqual(a: HeaderColumns, b: HeaderColumns, count: number): void {
  for (const k of ['version', 'type', 'flags', 'sessionId', 'pn', 'status'] as const) {
    expect(Array.from(a[k].subarray(0, count) as ArrayLike<number | bigint>), k).toEqual(
      Array.from(b[k].subarray(0, count) as ArrayLike<number | bigint>),
    )
  }
}

/** Random packets: mostly well-formed, some short, some with another version byte. */
function randomBatch(count: number) {
  const lengths = new Uint32Array(count)
  const offsets = new Uint32Array(count)
  let at = 1
  for (let i = 0; i < count; i++) {
    const r = Math.random()
    lengths[i] = r < 0.1 ? Math.floor(Math.random() * HEADER_SIZE) : HEADER_SIZE + Math.floor(Math.random() * 60)
    offsets[i] = at
    at += lengths[i]! + (i & 1)
  }
  const slab = new Uint8Array(randomBytes(at + 2))
  for (let i = 0; i < count; i++) if (lengths[i]! > 0 && Math.random() < 0.8) slab[offsets[i]!] = 1
  return { slab, offsets, lengths }
}

describe.skipIf(backend !== 'native')(`native header codec (${backend === 'native' ? 'addon loaded' : SKIP_REASON})`, () => {
  const native = createNativeHeaderCodec(binding!)

  it('is the codec header-codec-native.ts selects, routing small batches to TypeScript', () => {
    expect(headerCodec.name).toBe('native')
    const calls: string[] = []
    const spy = (c: typeof jsHeaderCodec, tag: string) => ({
      ...c,
      decodeHeaders: (...a: Parameters<typeof c.decodeHeaders>) => (calls.push(`${tag}:${a[3]}`), c.decodeHeaders(...a)),
      encodeHeaders: (...a: Parameters<typeof c.encodeHeaders>) => (calls.push(`${tag}:${a[3]}`), c.encodeHeaders(...a)),
    })
    const routed = createRoutedHeaderCodec(spy(native, 'native'), spy(jsHeaderCodec, 'js'), DECODE_NATIVE_MIN_BATCH, ENCODE_NATIVE_MIN_BATCH)
    const { slab, offsets, lengths } = randomBatch(16)
    const cols = allocHeaderColumns(16)
    routed.decodeHeaders(slab, offsets, lengths, DECODE_NATIVE_MIN_BATCH - 1, cols)
    routed.decodeHeaders(slab, offsets, lengths, DECODE_NATIVE_MIN_BATCH, cols)
    expect(calls).toEqual([`js:${DECODE_NATIVE_MIN_BATCH - 1}`, `native:${DECODE_NATIVE_MIN_BATCH}`])
    // The routed production codec gives the same columns as the reference at every size.
    for (const n of [1, 4, 7, 8, 9, 16]) {
      const a = allocHeaderColumns(n)
      const b = allocHeaderColumns(n)
      headerCodec.decodeHeaders(slab, offsets, lengths, n, a)
      jsHeaderCodec.decodeHeaders(slab, offsets, lengths, n, b)
      columnsEqual(a, b, n)
    }
  })

  it('decodes exactly like the TypeScript codec over random batches (short and bad-version packets included)', () => {
    for (const count of [0, 1, 2, 7, 64, 128, 1000]) {
      const { slab, offsets, lengths } = randomBatch(count)
      const a = allocHeaderColumns(count)
      const b = allocHeaderColumns(count)
      a.status.fill(7)
      native.decodeHeaders(slab, offsets, lengths, count, a)
      jsHeaderCodec.decodeHeaders(slab, offsets, lengths, count, b)
      columnsEqual(a, b, count)
      if (count >= 64) {
        const statuses = new Set(a.status)
        expect(statuses).toContain(HeaderStatus.OK)
        expect(statuses).toContain(HeaderStatus.SHORT)
        expect(statuses).toContain(HeaderStatus.BAD_VERSION)
      }
    }
  })

  it("agrees with the protocol's own per-packet reader (src/protocol/header.ts)", () => {
    const { slab, offsets, lengths } = randomBatch(256)
    const out = allocHeaderColumns(256)
    native.decodeHeaders(slab, offsets, lengths, 256, out)
    let compared = 0
    for (let i = 0; i < 256; i++) {
      const h = readHeader(slab, offsets[i]!, lengths[i]!)
      if (h === null) {
        expect(out.status[i]).toBe(HeaderStatus.SHORT)
        continue
      }
      expect([out.version[i], out.type[i], out.flags[i]]).toEqual([h.version, h.type, h.flags])
      expect(out.sessionId[i]).toBe(BigInt('0x' + Buffer.from(h.sessionId).toString('hex')))
      // readHeader gives packet numbers as safe integers (-1 above 2^53).
      if (h.packetNumber >= 0) expect(out.pn[i]).toBe(BigInt(h.packetNumber))
      else expect(out.pn[i]! > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true)
      compared++
    }
    expect(compared).toBeGreaterThan(200)
  })

  it('decodes known bytes to known fields (big-endian session id and packet number)', () => {
    const pkt = Uint8Array.from([
      1, 0x10, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x42,
    ])
    const out = allocHeaderColumns(1)
    native.decodeHeaders(pkt, new Uint32Array([0]), new Uint32Array([pkt.length]), 1, out)
    expect([out.version[0], out.type[0], out.flags[0], out.status[0]]).toEqual([1, 0x10, 1, HeaderStatus.OK])
    expect(out.sessionId[0]).toBe(0x0102030405060708n)
    expect(out.pn[0]).toBe(0xffeeddccbbaa9988n)
  })

  it('encodes byte-for-byte like the TypeScript codec, and decode(encode(x)) == x', () => {
    const count = 128
    const cols = allocHeaderColumns(count)
    for (let i = 0; i < count; i++) {
      cols.version[i] = 1
      cols.type[i] = i & 0xff
      cols.flags[i] = (i * 7) & 0xff
      cols.sessionId[i] = BigInt.asUintN(64, BigInt(i) * 0x9e3779b97f4a7c15n)
      cols.pn[i] = i === 0 ? 0xffffffffffffffffn : BigInt(i) << BigInt(i % 57)
    }
    const offsets = new Uint32Array(count)
    const lengths = new Uint32Array(count)
    for (let i = 0; i < count; i++) {
      offsets[i] = i * 25 + 2
      lengths[i] = HEADER_SIZE + (i % 6)
    }
    const slabN = new Uint8Array(count * 25 + 8).fill(0xaa)
    const slabJ = slabN.slice()
    native.encodeHeaders(slabN, offsets, lengths, count, cols)
    jsHeaderCodec.encodeHeaders(slabJ, offsets, lengths, count, cols)
    expect(Buffer.compare(slabN, slabJ)).toBe(0)
    const back = allocHeaderColumns(count)
    native.decodeHeaders(slabN, offsets, lengths, count, back)
    cols.status.fill(HeaderStatus.OK)
    columnsEqual(back, cols, count)
  })

  it('rejects bad arguments with typed errors', () => {
    const slab = new Uint8Array(40)
    const out = allocHeaderColumns(2)
    const bad: Array<() => void> = [
      () => native.decodeHeaders(slab, new Uint32Array([30]), new Uint32Array([19]), 1, out), // past the slab
      () => native.decodeHeaders(slab, new Uint32Array([0, 0]), new Uint32Array([19, 19]), 3, out), // count
      () => native.decodeHeaders(slab, new Uint32Array([0]), new Uint32Array([19]), 1, { ...out, pn: new BigUint64Array(0) }),
      () => native.decodeHeaders(slab, new Uint32Array([0]), new Uint32Array([19]), 1, { ...out, status: [] as unknown as Uint8Array }),
      () => native.encodeHeaders(slab, new Uint32Array([0]), new Uint32Array([18]), 1, out), // no room for a header
    ]
    for (const f of bad) {
      let err: unknown
      try {
        f()
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(STTError)
      expect((err as STTError).code).toBe(ErrorCode.CONFIG)
    }
  })

  it('replays every fuzz regression input through the native decoder without a crash, matching TS', () => {
    const dir = join(import.meta.dirname, 'fuzz-regressions')
    const files = readdirSync(dir).filter((f) => !f.startsWith('.') && f !== 'README.md' && statSync(join(dir, f)).isFile())
    expect(files.length).toBeGreaterThan(0)
    for (const f of files) {
      const bytes = new Uint8Array(readFileSync(join(dir, f)))
      // Same interpretation as native/fuzz/fuzz_decode_headers.cc: the input is the slab, cut
      // into packets whose lengths come from the input's own bytes.
      const offsets: number[] = []
      const lengths: number[] = []
      let at = 0
      let i = 0
      while (at < bytes.length && offsets.length < 256) {
        const len = Math.min(bytes[i % bytes.length]! % 48, bytes.length - at)
        offsets.push(at)
        lengths.push(len)
        at += Math.max(len, 1)
        i++
      }
      const count = offsets.length
      const o = Uint32Array.from(offsets)
      const l = Uint32Array.from(lengths)
      const a = allocHeaderColumns(count)
      const b = allocHeaderColumns(count)
      native.decodeHeaders(bytes, o, l, count, a)
      jsHeaderCodec.decodeHeaders(bytes, o, l, count, b)
      columnsEqual(a, b, count)
    }
  })
})
