import { describe, expect, it } from 'vitest'
import { StreamPipe } from '../helpers/stream-pipe.js'
import { startTransfer } from '../helpers/transfer.js'

function expectHashesMatch(t: ReturnType<typeof startTransfer>, keysOf: (i: number) => number): void {
  for (let i = 0; i < t.sentHashes.length; i++) expect(t.receivedHashes.get(keysOf(i))).toBe(t.sentHashes[i])
}

describe('two StreamManagers over a lossy pipe', () => {
  it('moves 8 MiB across 16 streams with 10% loss, reordering and duplication (NewReno)', () => {
    const pipe = new StreamPipe({ seed: 42, link: { latency: 20, rate: 2500, loss: 0.1, reorder: 0.05, duplicate: 0.02 } })
    const t = startTransfer(pipe, { streams: 16, bytesPerStream: 512 * 1024 })
    expect(pipe.run(t.done, 3_600_000)).toBe(true)
    expectHashesMatch(t, (i) => (2 * i + 1) * 2)
    const stats = pipe.a.loss.stats()
    expect(stats.lostPackets).toBeGreaterThan(0)
    expect(stats.congestionEvents).toBeGreaterThan(0)
  })
})

describe('pipe scenarios', () => {
  it('recovers a lost tail packet through a PTO probe (no later packet to reveal the loss)', () => {
    // a: [OPEN+DATA]#0 [DATA]#1 [DATA+FIN]#2 (dropped) ... PTO fires, probe resends the tail.
    const pipe = new StreamPipe({ seed: 1, link: { latency: 10 } })
    pipe.dropIf = (from, n) => from === pipe.a && n === 2
    const t = startTransfer(pipe, { streams: 1, bytesPerStream: 3000 })
    expect(pipe.run(t.done, 60_000)).toBe(true)
    expectHashesMatch(t, () => 2)
    expect(pipe.a.loss.stats().ptoTotal).toBeGreaterThan(0)
    expect(pipe.dropped).toBe(1)
  })

  it('a mid-flight loss is reported by NACK and retransmitted without waiting for a PTO', () => {
    const pipe = new StreamPipe({ seed: 1, link: { latency: 10 } })
    pipe.dropIf = (from, n) => from === pipe.a && n === 5
    const t = startTransfer(pipe, { streams: 2, bytesPerStream: 64 * 1024 })
    expect(pipe.run(t.done, 60_000)).toBe(true)
    expectHashesMatch(t, (i) => (2 * i + 1) * 2)
    expect(pipe.a.loss.stats().lostPackets).toBe(1)
    expect(pipe.a.loss.stats().ptoTotal).toBe(0)
    expect(pipe.b.nacksSent).toBeGreaterThan(0)
  })

  it('CUBIC moves 4 MiB across 8 streams with 5% loss', () => {
    const pipe = new StreamPipe({ seed: 7, link: { latency: 15, rate: 2500, loss: 0.05, reorder: 0.05 }, a: { cc: 'cubic' }, b: { cc: 'cubic' } })
    const t = startTransfer(pipe, { streams: 8, bytesPerStream: 512 * 1024 })
    expect(pipe.run(t.done, 3_600_000)).toBe(true)
    expectHashesMatch(t, (i) => (2 * i + 1) * 2)
    expect(pipe.a.cc.name).toBe('cubic')
    expect(pipe.a.loss.stats().congestionEvents).toBeGreaterThan(0)
  })

  it('keeps the bottleneck queue short with pacing and fills it without loss (lossless link)', () => {
    const pipe = new StreamPipe({ seed: 3, link: { latency: 25, rate: 1250, queueMs: 200 } })
    const t = startTransfer(pipe, { streams: 2, bytesPerStream: 2 * 1024 * 1024 })
    expect(pipe.run(t.done, 600_000)).toBe(true)
    expectHashesMatch(t, (i) => (2 * i + 1) * 2)
    // 4 MiB at 1250 B/ms is ~3.4 s at line rate; slow start and overhead allow a margin.
    expect(pipe.now).toBeLessThan(8000)
  })

  it('bare mode (no ACKs, no retransmission, no CC) over a lossless link', () => {
    const pipe = new StreamPipe({ seed: 5, link: { latency: 5 }, a: { bare: true }, b: { bare: true } })
    const t = startTransfer(pipe, { streams: 4, bytesPerStream: 256 * 1024 })
    expect(pipe.run(t.done, 600_000)).toBe(true)
    expectHashesMatch(t, (i) => (2 * i + 1) * 2)
    expect(pipe.a.loss.stats().lostPackets).toBe(0)
  })

  it('1,000 streams opened and closed over a lossy link with a 256 limit leak nothing', () => {
    const pipe = new StreamPipe({ seed: 11, link: { latency: 10, loss: 0.05 } })
    const a = pipe.a
    const b = pipe.b
    let opened = 0
    let closedA = 0
    let received = 0
    let maxOpen = 0
    pipe.onStep = () => {
      while (opened < 1000) {
        let k: number
        try {
          k = a.streams.openStream()
        } catch {
          break
        }
        a.streams.write(k, Uint8Array.of(opened & 0xff, 1, 2, 3))
        a.streams.end(k)
        opened++
      }
      maxOpen = Math.max(maxOpen, a.streams.streamCount)
      for (const e of b.events.splice(0)) {
        if (e.kind === 'stream-opened') b.streams.end(e.stream)
        if (e.kind === 'readable') for (let d = b.streams.read(e.stream); d !== null; d = b.streams.read(e.stream)) received += d.length
      }
      for (const e of a.events.splice(0)) if (e.kind === 'stream-closed') closedA++
    }
    expect(pipe.run(() => closedA === 1000 && b.streams.streamCount === 0, 600_000)).toBe(true)
    expect(received).toBe(4000)
    expect(maxOpen).toBeLessThanOrEqual(256)
    expect(maxOpen).toBeGreaterThan(100)
    expect(a.streams.streamCount).toBe(0)
  })

  it('messages of many sizes arrive whole and in order over a lossy, reordering link', () => {
    const pipe = new StreamPipe({ seed: 21, link: { latency: 10, loss: 0.08, reorder: 0.1, duplicate: 0.03 } })
    const sizes = [0, 1, 63, 64, 16383, 16384, 100_000, 3 * 1024 * 1024, 5, 70_000]
    const sent = sizes.map((n, i) => Uint8Array.from({ length: n }, (_, k) => (k * 13 + i) & 0xff))
    const got: Uint8Array[] = []
    let next = 0
    pipe.onStep = () => {
      while (next < sent.length) {
        const ok = pipe.a.streams.sendMessage(0, sent[next]!)
        next++
        if (!ok) break
      }
      for (const e of pipe.a.events.splice(0)) void e
      for (const e of pipe.b.events.splice(0)) if (e.kind === 'message') got.push(e.data!)
    }
    expect(pipe.run(() => got.length === sent.length, 600_000)).toBe(true)
    for (let i = 0; i < sent.length; i++) expect(Buffer.compare(got[i]!, sent[i]!)).toBe(0)
  })

  it('a reader that stops reading stops the writer: memory on both sides stays within the windows', () => {
    const window = 64 * 1024
    const highWater = 128 * 1024
    const lim = { streamReceiveWindow: window, streamSendBuffer: highWater }
    const pipe = new StreamPipe({ seed: 2, link: { latency: 10, loss: 0.02 }, a: { stream: lim }, b: { stream: lim } })
    const k = pipe.a.streams.openStream()
    let written = 0
    let blocked = false
    let maxSendBuffered = 0
    let maxRecvBuffered = 0
    let reading = false
    let readBytes = 0
    pipe.onStep = () => {
      for (const e of pipe.a.events.splice(0)) if (e.kind === 'writable') blocked = false
      while (!blocked && written < 4 * 1024 * 1024) {
        blocked = !pipe.a.streams.write(k, new Uint8Array(16 * 1024))
        written += 16 * 1024
      }
      const ss = pipe.a.streams.getStreamStats(k)!
      maxSendBuffered = Math.max(maxSendBuffered, ss.sendBuffered)
      const rs = pipe.b.streams.getStreamStats(k)
      if (rs) maxRecvBuffered = Math.max(maxRecvBuffered, rs.receiveBuffered)
      if (reading) for (let d = pipe.b.streams.read(k); d !== null; d = pipe.b.streams.read(k)) readBytes += d.length
      pipe.b.events.length = 0
    }
    pipe.run(() => pipe.now > 5000, 10_000)
    // Not reading: the writer is blocked, nothing beyond one window was sent.
    expect(blocked).toBe(true)
    expect(written).toBeLessThan(window + highWater + 32 * 1024)
    expect(maxRecvBuffered).toBeLessThanOrEqual(window)
    expect(maxSendBuffered).toBeLessThanOrEqual(highWater + 16 * 1024)
    reading = true
    expect(pipe.run(() => readBytes >= 4 * 1024 * 1024, 600_000)).toBe(true)
    expect(maxRecvBuffered).toBeLessThanOrEqual(window)
  })
})
