/**
 * Review of flood14b (issue 14), the addon's backlog flag (RxBatch.backlog) on loopback: a
 * receive round that fills every slot says backlog (also when the socket then turns out empty:
 * exactly a batch's worth queued), a shorter round does not, and a round split by kMaxMsgs
 * reports each part. Loopback sends queue synchronously, so every datagram of a send() waits in
 * the socket before the receiver's next read: deterministic.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { backend, binding } from '../../src/native/load.js'
import { NativeUdpTransport, type NativeUdpOptions } from '../../src/transport/udp-native.js'
import type { PeerAddress, RxBatch, TransportEvents, TxBatch } from '../../src/transport/types.js'

const haveUdp = backend === 'native' && binding?.UdpSocket !== undefined

class BatchLog implements TransportEvents {
  readonly batches: Array<{ count: number; backlog: boolean | undefined }> = []
  onReceive(batch: RxBatch): void {
    this.batches.push({ count: batch.count, backlog: batch.backlog })
  }
  onError(): void {}
}

const open: NativeUdpTransport[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()))
})

async function pair(rxOptions: NativeUdpOptions) {
  const rx = new NativeUdpTransport({ host: '127.0.0.1', ...rxOptions })
  const tx = new NativeUdpTransport({ host: '127.0.0.1' })
  const log = new BatchLog()
  rx.attach(log)
  tx.attach(new BatchLog())
  open.push(rx, tx)
  const { port } = await rx.listen()
  await tx.listen()
  return { log, tx, to: await tx.dial(`udp://127.0.0.1:${port}`) }
}

/** n datagrams of 300 bytes (distinct sizes would not matter: GRO is off). */
function datagrams(n: number, to: PeerAddress): TxBatch {
  const slab = new Uint8Array(n * 300)
  return { slab, offsets: Uint32Array.from({ length: n }, (_, i) => i * 300), lengths: new Uint32Array(n).fill(300), count: n, to }
}

async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 5000
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

const total = (log: BatchLog) => log.batches.reduce((n, b) => n + b.count, 0)

describe.skipIf(!haveUdp)('review of flood14b: the native backlog flag', () => {
  it('a round of exactly 64 says backlog, 63 does not, 130 reads as 64 + 64 (backlog) + 2', async () => {
    const { log, tx, to } = await pair({ gro: false })
    for (const [n, expected] of [
      [64, [{ count: 64, backlog: true }]],
      [63, [{ count: 63, backlog: false }]],
      [130, [{ count: 64, backlog: true }, { count: 64, backlog: true }, { count: 2, backlog: false }]],
      [1, [{ count: 1, backlog: false }]],
    ] as const) {
      log.batches.length = 0
      tx.send(datagrams(n, to))
      await until(() => total(log) === n)
      expect(log.batches).toEqual(expected)
    }
  })

  it('recvSlots 8: a full round of 8 says backlog (the allowance of 8 then sheds nothing)', async () => {
    const { log, tx, to } = await pair({ gro: false, recvSlots: 8 })
    tx.send(datagrams(8, to))
    await until(() => total(log) === 8)
    expect(log.batches).toEqual([{ count: 8, backlog: true }])
  })
})
