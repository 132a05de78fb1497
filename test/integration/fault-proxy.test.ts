/**
 * The fault-injecting UDP proxy, exercised with two plain node:dgram sockets on loopback.
 *
 * Which datagrams get dropped/duplicated/corrupted is decided by the seed, so the proxy's own
 * stats are exact per seed; what the kernel then delivers is real I/O, so the checks on
 * received counts wait generously and never assert on wall-clock speed. Sends are paced (a
 * setImmediate every few datagrams) so loopback socket buffers never overflow and blame the
 * proxy for a kernel drop. Every test ends with a leak check.
 */

import dgram from 'node:dgram'
import { describe, expect, it } from 'vitest'
import { startFaultProxy, type FaultProxy, type FaultProxyOptions } from '../helpers/fault-proxy.js'
import { leakChecked } from '../helpers/leak-check.js'

interface Peer {
  socket: dgram.Socket
  port: number
  got: Buffer[]
  from: dgram.RemoteInfo[]
  close(): Promise<void>
}

async function openPeer(family: 4 | 6 = 4, echo = false): Promise<Peer> {
  const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4')
  const peer: Peer = {
    socket,
    port: 0,
    got: [],
    from: [],
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  }
  socket.on('message', (msg, rinfo) => {
    peer.got.push(msg)
    peer.from.push(rinfo)
    if (echo) socket.send(msg, rinfo.port, rinfo.address)
  })
  await new Promise<void>((resolve) => socket.bind(0, family === 6 ? '::1' : '127.0.0.1', () => resolve()))
  peer.port = socket.address().port
  return peer
}

/** Sends `n` datagrams [seq u32 | filler], yielding to the event loop every 16 so receivers keep up. */
async function sendSeq(from: Peer, proxy: FaultProxy, n: number, size = 32): Promise<Buffer[]> {
  const sent: Buffer[] = []
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(size, i & 0xff)
    b.writeUInt32BE(i, 0)
    sent.push(b)
    from.socket.send(b, proxy.port, proxy.host)
    if (i % 16 === 15) await new Promise((resolve) => setTimeout(resolve, 1))
  }
  return sent
}

/** Waits until `cond` holds or `ms` pass (generous: two shared vCPUs). Returns whether it held. */
async function waitFor(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return true
}

/** Proxy, target and client wired up; everything closed by `done`. */
async function rig(faults: Omit<FaultProxyOptions, 'target'> = {}, opts: { family?: 4 | 6; echo?: boolean } = {}) {
  const family = opts.family ?? 4
  const target = await openPeer(family, opts.echo ?? false)
  const client = await openPeer(family)
  const proxy = await startFaultProxy({ seed: 'fp', family, ...faults, target: { host: family === 6 ? '::1' : '127.0.0.1', port: target.port } })
  const done = async (): Promise<void> => {
    await proxy.close()
    await Promise.all([target.close(), client.close()])
  }
  return { target, client, proxy, done }
}

const seqs = (bufs: Buffer[]): number[] => bufs.map((b) => b.readUInt32BE(0))

describe('fault proxy', () => {
  it(
    'forwards both ways and routes replies back through the client mapping',
    leakChecked(async () => {
      const { target, client, proxy, done } = await rig({}, { echo: true })
      const sent = await sendSeq(client, proxy, 20)
      expect(await waitFor(() => client.got.length === 20)).toBe(true)
      expect(client.got).toEqual(sent)
      // The client only ever talks to the proxy; the target sees the proxy's upstream socket.
      expect(client.from.every((r) => r.port === proxy.port)).toBe(true)
      expect(target.from.every((r) => r.port !== client.port && r.port !== proxy.port)).toBe(true)
      expect(proxy.clientCount).toBe(1)
      expect(proxy.stats.toTarget).toMatchObject({ received: 20, forwarded: 20, bytesForwarded: 640 })
      expect(proxy.stats.toClient).toMatchObject({ received: 20, forwarded: 20 })
      await done()
    }),
  )

  it(
    'keeps a separate mapping per client',
    leakChecked(async () => {
      const { target, client, proxy, done } = await rig({}, { echo: true })
      const other = await openPeer()
      other.socket.send(Buffer.from('other'), proxy.port, proxy.host)
      client.socket.send(Buffer.from('client'), proxy.port, proxy.host)
      expect(await waitFor(() => client.got.length === 1 && other.got.length === 1)).toBe(true)
      expect(client.got[0]!.toString()).toBe('client')
      expect(other.got[0]!.toString()).toBe('other')
      expect(new Set(target.from.map((r) => r.port)).size).toBe(2)
      expect(proxy.clientCount).toBe(2)
      await other.close()
      await done()
    }),
  )

  it(
    'drops about the configured fraction, reproducibly per seed',
    leakChecked(async () => {
      const { target, client, proxy, done } = await rig({ toTarget: { loss: 0.2 } })
      target.socket.setRecvBufferSize(4 * 1024 * 1024)
      await sendSeq(client, proxy, 3000)
      expect(await waitFor(() => proxy.stats.toTarget.received === 3000)).toBe(true)
      const { dropped, forwarded } = proxy.stats.toTarget
      expect(dropped.loss + forwarded).toBe(3000)
      expect(dropped.loss / 3000).toBeGreaterThan(0.15)
      expect(dropped.loss / 3000).toBeLessThan(0.25)
      await waitFor(() => target.got.length >= forwarded, 5000)
      // Loopback should deliver everything forwarded; allow a sliver for a starved CI box.
      expect(target.got.length).toBeGreaterThanOrEqual(Math.floor(forwarded * 0.97))
      expect(target.got.length).toBeLessThanOrEqual(forwarded)
      const deliveredSeqs = new Set(seqs(target.got))
      await done()

      // Same seed, same decisions.
      const again = await rig({ toTarget: { loss: 0.2 } })
      again.target.socket.setRecvBufferSize(4 * 1024 * 1024)
      await sendSeq(again.client, again.proxy, 3000)
      expect(await waitFor(() => again.proxy.stats.toTarget.received === 3000)).toBe(true)
      expect(again.proxy.stats.toTarget.dropped.loss).toBe(dropped.loss)
      await waitFor(() => again.target.got.length >= forwarded, 5000)
      const overlap = seqs(again.target.got).filter((s) => deliveredSeqs.has(s)).length
      expect(overlap).toBeGreaterThanOrEqual(Math.floor(forwarded * 0.97))
      await again.done()
    }),
  )

  it(
    'burst loss drops in runs',
    leakChecked(async () => {
      const { client, proxy, done } = await rig({ burstLoss: { pGoodToBad: 0.02, pBadToGood: 0.25 } })
      await sendSeq(client, proxy, 2000)
      expect(await waitFor(() => proxy.stats.toTarget.received === 2000)).toBe(true)
      const burst = proxy.stats.toTarget.dropped.burst
      expect(burst).toBeGreaterThan(50)
      expect(burst).toBeLessThan(300)
      expect(proxy.stats.toTarget.dropped.loss).toBe(0)
      await done()
    }),
  )

  it(
    'blockAll drops everything until lifted, at run time',
    leakChecked(async () => {
      const { target, client, proxy, done } = await rig()
      await sendSeq(client, proxy, 5)
      expect(await waitFor(() => target.got.length === 5)).toBe(true)
      proxy.set({ blockAll: true })
      await sendSeq(client, proxy, 50)
      expect(await waitFor(() => proxy.stats.toTarget.received === 55)).toBe(true)
      expect(proxy.stats.toTarget.dropped.blocked).toBe(50)
      proxy.set({ blockAll: false })
      await sendSeq(client, proxy, 5)
      expect(await waitFor(() => target.got.length === 10)).toBe(true)
      expect(seqs(target.got)).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
      await done()
    }),
  )

  it(
    'applies faults per direction',
    leakChecked(async () => {
      const { target, client, proxy, done } = await rig({ toClient: { blockAll: true } }, { echo: true })
      await sendSeq(client, proxy, 10)
      expect(await waitFor(() => proxy.stats.toClient.received === 10)).toBe(true)
      expect(target.got).toHaveLength(10)
      expect(client.got).toHaveLength(0)
      expect(proxy.faults('toTarget').blockAll).toBeUndefined()
      await done()
    }),
  )

  it(
    'duplicates arrive twice',
    leakChecked(async () => {
      const { target, client, proxy, done } = await rig({ duplicate: 1 })
      await sendSeq(client, proxy, 10)
      expect(await waitFor(() => target.got.length === 20)).toBe(true)
      expect(seqs(target.got).sort((a, b) => a - b)).toEqual([...Array(10).keys()].flatMap((i) => [i, i]))
      expect(proxy.stats.toTarget.duplicated).toBe(10)
      await done()
    }),
  )

  it(
    'corrupted datagrams differ from what was sent by one bit',
    leakChecked(async () => {
      const { target, client, proxy, done } = await rig({ corrupt: 1 })
      const sent = await sendSeq(client, proxy, 20, 64)
      expect(await waitFor(() => target.got.length === 20)).toBe(true)
      for (const [i, got] of target.got.entries()) {
        let bits = 0
        for (let j = 0; j < 64; j++) for (let x = got[j]! ^ sent[i]![j]!; x !== 0; x &= x - 1) bits++
        expect(bits).toBe(1)
      }
      expect(proxy.stats.toTarget.corrupted).toBe(20)
      await done()
    }),
  )

  it(
    'delays, and reorders held-back datagrams',
    leakChecked(async () => {
      const { target, client, proxy, done } = await rig({ delay: { ms: 20 }, reorder: { rate: 0.3, delayMs: 40 } })
      const t0 = Date.now()
      await sendSeq(client, proxy, 100)
      expect(await waitFor(() => target.got.length === 100)).toBe(true)
      // A lower bound only: the proxy held everything at least `ms` (timers never fire much early).
      expect(Date.now() - t0).toBeGreaterThanOrEqual(15)
      expect(proxy.stats.toTarget.reordered).toBeGreaterThan(10)
      const order = seqs(target.got)
      expect(order).not.toEqual([...Array(100).keys()])
      expect([...order].sort((a, b) => a - b)).toEqual([...Array(100).keys()])
      await done()
    }),
  )

  it(
    'drop hook sees each datagram with its index',
    leakChecked(async () => {
      const { target, client, proxy, done } = await rig({ toTarget: { drop: (_bytes, index) => index >= 2 && index <= 4 } })
      await sendSeq(client, proxy, 8)
      expect(await waitFor(() => target.got.length === 5)).toBe(true)
      expect(seqs(target.got)).toEqual([0, 1, 5, 6, 7])
      expect(proxy.stats.toTarget.dropped.filter).toBe(3)
      await done()
    }),
  )

  it(
    'works over IPv6 loopback',
    leakChecked(async () => {
      const { target, client, proxy, done } = await rig({ toTarget: { loss: 0.5 } }, { family: 6, echo: true })
      expect(proxy.host).toBe('::1')
      expect(proxy.family).toBe(6)
      await sendSeq(client, proxy, 200)
      expect(await waitFor(() => proxy.stats.toClient.received === proxy.stats.toTarget.forwarded)).toBe(true)
      expect(proxy.stats.toTarget.dropped.loss).toBeGreaterThan(60)
      expect(proxy.stats.toTarget.dropped.loss).toBeLessThan(140)
      expect(target.from.every((r) => r.family === 'IPv6' && r.address === '::1')).toBe(true)
      expect(await waitFor(() => client.got.length === proxy.stats.toTarget.forwarded)).toBe(true)
      await done()
    }),
  )

  it(
    'close cancels delayed datagrams and leaves no handles',
    leakChecked(async () => {
      const { target, client, proxy, done } = await rig({ delay: { ms: 60_000 } })
      await sendSeq(client, proxy, 5)
      expect(await waitFor(() => proxy.stats.toTarget.received === 5)).toBe(true)
      await done() // leakChecked fails this test if the 60 s timers or any socket survive
      expect(target.got).toHaveLength(0)
      await proxy.close() // idempotent
    }),
  )
})
