/**
 * sendMulti of the native UDP transport (UdpCore::SendMulti): one call, a destination per
 * datagram, real sockets on loopback. Byte-exact delivery to several receivers in one sendmmsg,
 * no GSO groups, a destination the socket cannot use or
 * cannot reach in the middle of the batch skipped and counted (never fatal), the EAGAIN tail
 * keeping each datagram's destination, and both address families behind the dual-stack transport.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Addr, DebugFlag } from '../../src/native/binding.js'
import { backend, binding } from '../../src/native/load.js'
import type { MultiTxBatch, PeerAddress, RxBatch, TransportEvents } from '../../src/transport/types.js'
import { DualStackNativeUdp } from '../../src/transport/udp-native-dual.js'
import { NativeUdpTransport, type NativeUdpOptions } from '../../src/transport/udp-native.js'

const haveUdp = backend === 'native' && binding?.UdpSocket !== undefined
const SKIP_REASON = 'native addon not loaded (STT_NATIVE=0, not built, or not Linux): native UDP tests skipped'

class Sink implements TransportEvents {
  readonly got: Buffer[] = []
  readonly errors: Error[] = []
  readonly writable: PeerAddress[] = []
  onReceive(batch: RxBatch): void {
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i]!
      this.got.push(Buffer.from(batch.slab.subarray(off, off + batch.lengths[i]!)))
    }
  }
  onError(err: Error): void {
    this.errors.push(err)
  }
  onWritable(addr: PeerAddress): void {
    this.writable.push(addr)
  }
}

const open: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()))
})

function transport(options: NativeUdpOptions): { t: NativeUdpTransport; sink: Sink } {
  const t = new NativeUdpTransport(options)
  const sink = new Sink()
  t.attach(sink)
  open.push(t)
  return { t, sink }
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for a condition')
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** Datagram i: sizes[i] bytes, byte j = (i * 7 + j) & 0xff, laid out with gaps, to dests[i]. */
function multiOf(sizes: number[], dests: PeerAddress[]): MultiTxBatch {
  const offsets = new Uint32Array(sizes.length)
  let at = 3
  for (let i = 0; i < sizes.length; i++) {
    offsets[i] = at
    at += sizes[i]! + 5
  }
  const slab = new Uint8Array(at)
  for (let i = 0; i < sizes.length; i++) for (let j = 0; j < sizes[i]!; j++) slab[offsets[i]! + j] = (i * 7 + j) & 0xff
  return { slab, offsets, lengths: Uint32Array.from(sizes), count: sizes.length, dests }
}

/** What receiver `r` must have got: the datagrams of `b` addressed to `to`, in order. */
function expected(b: MultiTxBatch, to: PeerAddress): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < b.count; i++) if (b.dests[i] === to) out.push(Buffer.from(b.slab.subarray(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!)))
  return out
}

/** A sender and `n` receivers on 127.0.0.1; tos[k] is receiver k's address at the sender. */
async function star(n: number, senderOpts: NativeUdpOptions = {}, receiverOpts: NativeUdpOptions = {}) {
  const tx = transport({ host: '127.0.0.1', ...senderOpts })
  await tx.t.listen()
  const rxs = []
  const tos: PeerAddress[] = []
  for (let k = 0; k < n; k++) {
    const rx = transport({ host: '127.0.0.1', ...receiverOpts })
    const { port } = await rx.t.listen()
    rxs.push(rx)
    tos.push(await tx.t.dial(`127.0.0.1:${port}`))
  }
  return { tx, rxs, tos }
}

describe.skipIf(!haveUdp)(`native UDP sendMulti: a destination per datagram (${haveUdp ? 'addon loaded' : SKIP_REASON})`, () => {
  it('one sendmmsg reaches 4 receivers byte-exact, datagrams interleaved (no GSO-eligible run)', async () => {
    const { tx, rxs, tos } = await star(4)
    // A, B, C, D, A, B, ...: no two neighbours share a destination, sizes vary.
    const sizes = Array.from({ length: 40 }, (_, i) => 20 + ((i * 131) % 1400))
    const b = multiOf(sizes, sizes.map((_, i) => tos[i % 4]!))
    tx.t.sendMulti(b)
    await waitFor(() => rxs.every((r, k) => r.sink.got.length === expected(b, tos[k]!).length))
    rxs.forEach((r, k) => expect(r.sink.got).toEqual(expected(b, tos[k]!)))
    const s = tx.t.getStats()
    expect(s.sendSyscalls).toBe(1)
    expect(s.packetsSent).toBe(40)
    expect(s.bytesSent).toBe(sizes.reduce((x, y) => x + y, 0))
    expect(s.sendErrors).toBe(0)
  })

  it('never groups into GSO super-datagrams, even same-destination equal-size runs (one EINVAL must not switch GSO off for every peer)', async () => {
    const { tx, rxs, tos } = await star(3)
    const [a, bb, c] = tos as [PeerAddress, PeerAddress, PeerAddress]
    // 12 x 1200 to A and 20 x 1000 + a 300 tail to C would be GSO groups in a one-destination
    // send; here each stays its own message, still in one sendmmsg.
    const dests = [...new Array(12).fill(a), bb, bb, ...new Array(21).fill(c), a, bb, c, a]
    const sizes = [...new Array(12).fill(1200), 500, 600, ...new Array(20).fill(1000), 300, 90, 91, 92, 93]
    const b = multiOf(sizes, dests)
    tx.t.sendMulti(b)
    await waitFor(() => rxs.every((r, k) => r.sink.got.length === expected(b, tos[k]!).length))
    rxs.forEach((r, k) => expect(r.sink.got).toEqual(expected(b, tos[k]!)))
    expect(tx.t.getStats()).toMatchObject({ gso: true, sendSyscalls: 1, packetsSent: sizes.length, sendErrors: 0 })
    for (const r of rxs) expect(r.t.getStats().groSuperDatagrams).toBe(0)
  })

  it('GSO off and without mmsg: same bytes to the same receivers', async () => {
    for (const opts of [{ debugFlags: DebugFlag.NO_GSO }, { debugFlags: DebugFlag.NO_MMSG | DebugFlag.NO_GSO }]) {
      const { tx, rxs, tos } = await star(3, opts)
      const dests = [...new Array(8).fill(tos[0]), tos[1]!, tos[2]!, tos[1]!]
      const sizes = [...new Array(8).fill(700), 10, 20, 30]
      const b = multiOf(sizes, dests)
      tx.t.sendMulti(b)
      await waitFor(() => rxs.every((r, k) => r.sink.got.length === expected(b, tos[k]!).length))
      rxs.forEach((r, k) => expect(r.sink.got).toEqual(expected(b, tos[k]!)))
      expect(rxs[0]!.t.getStats().groSuperDatagrams).toBe(0)
      expect(tx.t.getStats().sendSyscalls).toBe(opts.debugFlags & DebugFlag.NO_MMSG ? 11 : 1)
    }
  })

  it('a destination the socket cannot use or reach, in the middle, is skipped and counted; the rest arrive', async () => {
    const { tx, rxs, tos } = await star(3)
    // Records the socket cannot use: port 0 (the kernel says EINVAL, which on a GSO message would
    // switch GSO off for every peer) and another family; and an address it cannot reach (the
    // broadcast address without SO_BROADCAST: EACCES from the kernel).
    const portZero = await tx.t.dial('127.0.0.1:9')
    ;(portZero as unknown as { dest: Uint32Array }).dest[Addr.PORT] = 0
    const otherFamily = await tx.t.dial('127.0.0.1:10')
    ;(otherFamily as unknown as { dest: Uint32Array }).dest[Addr.FAMILY] = 6
    const unreachable = await tx.t.dial('255.255.255.255:9')
    const [a, bb, c] = tos as [PeerAddress, PeerAddress, PeerAddress]
    const dests = [a, a, portZero, portZero, bb, otherFamily, c, unreachable, a, c]
    const sizes = [1000, 1000, 1000, 1000, 50, 60, 70, 80, 90, 100]
    const b = multiOf(sizes, dests)
    tx.t.sendMulti(b)
    await waitFor(() => rxs.every((r, k) => r.sink.got.length === expected(b, tos[k]!).length))
    rxs.forEach((r, k) => expect(r.sink.got).toEqual(expected(b, tos[k]!)))
    const s = tx.t.getStats()
    expect(s).toMatchObject({ packetsSent: 6, sendErrors: 4, sendErrorsBadDest: 3, gso: true })
    expect(tx.sink.errors).toHaveLength(1) // one error event per call, naming the count
    expect(tx.sink.errors[0]!.message).toMatch(/4 of 10 datagrams \(a destination each\) failed/)
    // The socket still works for everyone.
    tx.t.send({ ...multiOf([5], [a]), to: a })
    await waitFor(() => rxs[0]!.sink.got.length === 4)
  })

  it('EAGAIN: the unsent tail keeps each datagram\'s destination; every refused address hears onWritable', async () => {
    const { tx, rxs, tos } = await star(3, { debugFlags: DebugFlag.SEND_EAGAIN | DebugFlag.NO_GSO })
    const b = multiOf([10, 11, 12], [tos[0]!, tos[1]!, tos[2]!])
    tx.t.sendMulti(b) // A's sent, then "EAGAIN": B's and C's wait as the one pending batch
    expect(tx.t.writable(tos[2]!)).toBe(false)
    await waitFor(() => tx.t.writable())
    // The retry at the drain sent B's (then "EAGAIN" again: C's dropped, counted).
    await waitFor(() => rxs[1]!.sink.got.length === 1)
    expect(rxs[0]!.sink.got).toEqual(expected(b, tos[0]!))
    expect(rxs[1]!.sink.got).toEqual(expected(b, tos[1]!))
    expect(rxs[2]!.sink.got).toHaveLength(0)
    expect(tx.t.getStats().dropped['queue-full']).toBe(1)
    // C was told "not writable" while the batch waited: the drain tells it, so nothing the
    // driver held back for it stays held.
    expect(tx.sink.writable).toEqual([tos[2]])
  })

  it('the dual-stack transport splits a mixed-family batch between its sockets', async () => {
    const both = new DualStackNativeUdp({ host: '127.0.0.1' })
    both.attach(new Sink())
    open.push(both)
    const v6 = transport({ host: '::1' })
    const v4 = transport({ host: '127.0.0.1' })
    await both.listen()
    const to6 = await both.dial(`udp://[::1]:${(await v6.t.listen()).port}`)
    const to4 = await both.dial(`127.0.0.1:${(await v4.t.listen()).port}`)
    const b = multiOf([10, 20, 30, 40], [to6, to4, to6, to4])
    both.sendMulti(b)
    await waitFor(() => v6.sink.got.length === 2 && v4.sink.got.length === 2)
    expect(v6.sink.got).toEqual(expected(b, to6))
    expect(v4.sink.got).toEqual(expected(b, to4))
    const one = multiOf([7, 8], [to4, to4])
    both.sendMulti(one)
    await waitFor(() => v4.sink.got.length === 4)
    expect(v4.sink.got.slice(2)).toEqual(expected(one, to4))
  })
})
