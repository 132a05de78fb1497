/**
 * The in-memory Transport pair: asynchronous ordered delivery, batching, filters, seeded loss,
 * errors by count and onError (never thrown), the poisoned receive slab, and close.
 */

import { describe, expect, it } from 'vitest'
import { createChannelPair, type ChannelTransport } from '../../src/transport/channel.js'
import { STTConfigError, STTTransportError } from '../../src/errors.js'
import type { RxBatch } from '../../src/transport/types.js'
import { txBatchOf } from '../helpers/netsim.js'
import { resourceGrowth, snapshotResources } from '../helpers/leak-check.js'

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

/** Attaches a receiver that copies out every datagram (views die with the callback). */
function collect(t: ChannelTransport): { got: Uint8Array[]; batches: number[]; errors: Error[] } {
  const out = { got: [] as Uint8Array[], batches: [] as number[], errors: [] as Error[] }
  t.attach({
    onReceive(batch: RxBatch) {
      out.batches.push(batch.count)
      for (let i = 0; i < batch.count; i++) out.got.push(batch.slab.slice(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!))
    },
    onError: (err) => out.errors.push(err),
  })
  return out
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

async function sendAll(from: ChannelTransport, datagrams: Uint8Array[]): Promise<void> {
  from.send(txBatchOf(await from.dial(''), datagrams))
  await tick()
  await tick()
}

describe('createChannelPair', () => {
  it('describes itself as an unreliable batch transport', async () => {
    const [a, b] = createChannelPair({ mtu: 1200 })
    expect([a.kind, a.reliable, a.batchSize, a.maxDatagramSize]).toEqual(['channel', false, 64, 1200])
    expect(createChannelPair()[0].maxDatagramSize).toBe(65507)
    expect(await a.listen()).toEqual({ host: 'channel:a', port: 0 })
    const addr = await a.dial('channel:b')
    expect(addr.key).toBe('channel:b')
    expect([addr.kind, addr.reliable]).toEqual(['channel', false])
    expect(await a.dial('channel://b')).toBe(addr)
    await expect(a.dial('channel:zz')).rejects.toBeInstanceOf(STTTransportError)
    expect(() => createChannelPair({ lossRate: 2 })).toThrow(STTConfigError)
    await Promise.all([a.close(), b.close()])
  })

  it('delivers asynchronously, in order, both ways, with the sender as from', async () => {
    const [a, b] = createChannelPair()
    const atA = collect(a)
    const atB = collect(b)
    a.send(txBatchOf(await a.dial(''), [u32(1), u32(2)]))
    expect(atB.got).toHaveLength(0) // not synchronous
    await tick()
    expect(atB.got.map((d) => new DataView(d.buffer).getUint32(0))).toEqual([1, 2])
    let fromKey = ''
    a.attach({ onReceive: (batch) => (fromKey = batch.from[0]!.key) })
    await sendAll(b, [u32(3)])
    expect(fromKey).toBe('channel:b')
    expect(atA.got).toHaveLength(0)
    expect(a.getStats()).toMatchObject({ kind: 'channel', packetsSent: 2, bytesSent: 8, packetsReceived: 1, bytesReceived: 4 })
    expect(b.getStats()).toMatchObject({ packetsSent: 1, packetsReceived: 2 })
  })

  it('splits large bursts into batches of at most 64', async () => {
    const [a, b] = createChannelPair()
    const atB = collect(b)
    await sendAll(a, Array.from({ length: 150 }, (_, i) => u32(i)))
    expect(atB.batches).toEqual([64, 64, 22])
    expect(atB.got.map((d) => new DataView(d.buffer).getUint32(0))).toEqual([...Array(150).keys()])
  })

  it('copies on send and poisons the receive slab after the callback', async () => {
    const [a, b] = createChannelPair()
    let kept: Uint8Array | null = null
    let copied: number[] = []
    b.attach({
      onReceive: (batch) => {
        kept = batch.slab.subarray(batch.offsets[0]!, batch.offsets[0]! + batch.lengths[0]!)
        copied = [...kept]
      },
    })
    const batch = txBatchOf(await a.dial(''), [Uint8Array.of(1, 2, 3)])
    a.send(batch)
    batch.slab.fill(9) // the sender reusing its slab must not affect what is delivered
    await tick()
    expect(copied).toEqual([1, 2, 3])
    expect([...kept!]).toEqual([0xee, 0xee, 0xee])
  })

  it('filters can inspect, drop and duplicate in each direction', async () => {
    const [a, b] = createChannelPair()
    const atB = collect(b)
    const seen: Array<[number, string]> = []
    a.filter = (bytes, dir) => {
      const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0)
      seen.push([n, dir])
      return n === 2 ? 'drop' : n === 3 ? 'dup' : 'pass'
    }
    b.filter = (bytes) => (new DataView(bytes.buffer, bytes.byteOffset).getUint32(0) === 4 ? 'drop' : 'pass')
    await sendAll(a, [u32(1), u32(2), u32(3), u32(4)])
    expect(seen).toEqual([
      [1, 'out'],
      [2, 'out'],
      [3, 'out'],
      [4, 'out'],
    ])
    expect(atB.got.map((d) => new DataView(d.buffer).getUint32(0))).toEqual([1, 3, 3])
    expect(a.getStats().dropped['filter']).toBe(1)
    expect(a.getStats()['duplicated']).toBe(1)
    expect(b.getStats().dropped['filter']).toBe(1)
    collect(a)
    await sendAll(b, [u32(7)])
    expect(seen.at(-1)).toEqual([7, 'in'])
  })

  it('seeded loss is near the rate and reproducible', async () => {
    const run = async (seed: number): Promise<number[]> => {
      const [a, b] = createChannelPair({ lossRate: 0.25, seed })
      const atB = collect(b)
      await sendAll(a, Array.from({ length: 4000 }, (_, i) => u32(i)))
      expect(a.getStats().dropped['loss']).toBe(4000 - atB.got.length)
      return atB.got.map((d) => new DataView(d.buffer).getUint32(0))
    }
    const first = await run(7)
    expect(first.length).toBeGreaterThan(2800)
    expect(first.length).toBeLessThan(3200)
    expect(await run(7)).toEqual(first)
    expect(await run(8)).not.toEqual(first)
  })

  it('counts oversize and post-close sends and reports them via onError without throwing', async () => {
    const [a, b] = createChannelPair({ mtu: 10 })
    const atA = collect(a)
    const atB = collect(b)
    await sendAll(a, [new Uint8Array(11), new Uint8Array(10)])
    expect(atB.got).toHaveLength(1)
    expect(a.getStats().dropped['oversize']).toBe(1)
    expect(atA.errors[0]).toBeInstanceOf(STTTransportError)
    await a.close()
    a.send(txBatchOf(await a.dial(''), [new Uint8Array(1)]))
    expect(a.getStats().sendErrors).toBe(2)
    expect(a.getStats().dropped['closed']).toBe(1)
  })

  it('close discards queued datagrams; a closed peer drops what it is sent', async () => {
    const [a, b] = createChannelPair()
    const atB = collect(b)
    const before = snapshotResources()
    a.send(txBatchOf(await a.dial(''), [u32(1)]))
    await b.close() // before the setImmediate flush
    expect(resourceGrowth(before, snapshotResources())).toEqual({}) // its pending Immediate is gone
    await tick()
    expect(atB.got).toHaveLength(0)
    a.send(txBatchOf(await a.dial(''), [u32(2)]))
    await tick()
    expect(atB.got).toHaveLength(0)
    expect(b.getStats().dropped['closed']).toBe(1)
    expect(a.getStats().sendErrors).toBe(0) // like UDP, the sender cannot tell
  })

  it('drops datagrams for an end with no receiver attached', async () => {
    const [a, b] = createChannelPair()
    await sendAll(a, [u32(1)])
    expect(b.getStats().dropped['no-receiver']).toBe(1)
  })
})
