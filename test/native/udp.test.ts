/**
 * Native UDP transport on loopback (127.0.0.1 and ::1, port 0 only): batches, GSO/GRO on and
 * forced off, the mmsg-less slow path, the sticky GSO downgrade, EAGAIN handling, bad input,
 * PKTINFO replies, and handle cleanup.
 */
import { readdirSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { now } from '../../src/clock.js'
import { ErrorCode, STTError } from '../../src/errors.js'
import { DebugFlag } from '../../src/native/binding.js'
import { backend, binding } from '../../src/native/load.js'
import { NativeUdpTransport, type NativeUdpOptions } from '../../src/transport/udp-native.js'
import { DualStackNativeUdp } from '../../src/transport/udp-native-dual.js'
import type { PeerAddress, RxBatch, TransportEvents, TxBatch } from '../../src/transport/types.js'

const haveUdp = backend === 'native' && binding?.UdpSocket !== undefined
const SKIP_REASON = 'native addon not loaded (STT_NATIVE=0, not built, or not Linux): native UDP tests skipped'

interface Got {
  data: Buffer
  from: PeerAddress
}

class Sink implements TransportEvents {
  readonly got: Got[] = []
  readonly errors: Error[] = []
  batches = 0
  onReceive(batch: RxBatch): void {
    this.batches++
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i]!
      this.got.push({ data: Buffer.from(batch.slab.subarray(off, off + batch.lengths[i]!)), from: batch.from[i]! })
    }
  }
  onError(err: Error): void {
    this.errors.push(err)
  }
}

const open: NativeUdpTransport[] = []
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

/** count datagrams; datagram i has lengths[i] bytes, each byte (i * 7 + j) & 0xff, laid out with gaps. */
function batchOf(sizes: number[], to: PeerAddress): TxBatch {
  const offsets = new Uint32Array(sizes.length)
  const lengths = Uint32Array.from(sizes)
  let at = 5
  for (let i = 0; i < sizes.length; i++) {
    offsets[i] = at
    at += sizes[i]! + 3
  }
  const slab = new Uint8Array(at)
  for (let i = 0; i < sizes.length; i++) for (let j = 0; j < sizes[i]!; j++) slab[offsets[i]! + j] = (i * 7 + j) & 0xff
  return { slab, offsets, lengths, count: sizes.length, to }
}

function expectPayloads(got: Got[], sizes: number[]): void {
  expect(got.map((g) => g.data.length)).toEqual(sizes)
  got.forEach((g, i) => {
    for (let j = 0; j < g.data.length; j++) if (g.data[j] !== ((i * 7 + j) & 0xff)) throw new Error(`datagram ${i} byte ${j} differs`)
  })
}

async function pair(host: string, a: NativeUdpOptions = {}, b: NativeUdpOptions = {}) {
  const rx = transport({ host, ...a })
  const tx = transport({ host, ...b })
  const rxAddr = await rx.t.listen()
  const txAddr = await tx.t.listen()
  const target = host.includes(':') ? `udp://[${host}]:${rxAddr.port}` : `udp://${host}:${rxAddr.port}`
  const to = await tx.t.dial(target)
  return { rx, tx, to, rxAddr, txAddr }
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()))
})

describe.skipIf(!haveUdp)(`native UDP transport (${haveUdp ? 'addon loaded' : SKIP_REASON})`, () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`${host}: a batch of 64 mixed-size datagrams arrives intact, with reused PeerAddress objects`, async () => {
      const { rx, tx, to, txAddr } = await pair(host)
      const sizes = Array.from({ length: 64 }, (_, i) => 1 + ((i * 97) % 1472))
      tx.t.send(batchOf(sizes, to))
      await waitFor(() => rx.sink.got.length === 64)
      expectPayloads(rx.sink.got, sizes)
      const key = host.includes(':') ? `udp:[${host}]:${txAddr.port}` : `udp:${host}:${txAddr.port}`
      expect(rx.sink.got[0]!.from.key).toBe(key)
      expect(new Set(rx.sink.got.map((g) => g.from)).size).toBe(1)
      expect(to.key).toBe(host.includes(':') ? `udp:[${host}]:${(await rx.t.listen()).port}` : `udp:${host}:${(await rx.t.listen()).port}`)
      // dial() of the same remote returns the same object; so does the address a reply comes from.
      expect(await tx.t.dial(to.toString())).toBe(to)
      rx.t.send(batchOf([10], rx.sink.got[0]!.from))
      await waitFor(() => tx.sink.got.length === 1)
      expect(tx.sink.got[0]!.from).toBe(to)
      const s = tx.t.getStats()
      expect(s.packetsSent).toBe(64)
      expect(s.bytesSent).toBe(sizes.reduce((a, b) => a + b, 0))
      expect(s.sendErrors).toBe(0)
      expect(rx.t.getStats().packetsReceived).toBe(64)
      expect(s.recvBufferSize).toBeGreaterThanOrEqual(4 << 20) // root: SO_RCVBUFFORCE; Linux reports 2x
      expect(s.sendBufferSize).toBeGreaterThanOrEqual(4 << 20)
    })

    it(`${host}: GSO + GRO carry equal-size runs as super-datagrams, split back exactly`, async () => {
      const { rx, tx, to } = await pair(host)
      const sizes = [...new Array(63).fill(1200), 700]
      tx.t.send(batchOf(sizes, to))
      await waitFor(() => rx.sink.got.length === 64)
      expectPayloads(rx.sink.got, sizes)
      const ts = tx.t.getStats()
      const rs = rx.t.getStats()
      expect(ts.gso).toBe(true)
      expect(ts.sendSyscalls).toBe(1) // one sendmmsg carrying one GSO message
      expect(rs.gro).toBe(true)
      expect(rs.groSuperDatagrams).toBeGreaterThan(0)
      expect(rs.packetsReceived).toBe(64)
    })
  }

  it('a one-datagram batch goes by the socket id (udpSendOne: no offsets / lengths arrays, no unwrap): it arrives intact from its offset; a closing socket\'s id sends nothing', async () => {
    const { rx, tx, to } = await pair('127.0.0.1')
    const b = binding!
    const sock = (tx.t as unknown as { sock: { id: () => number; send: (...a: unknown[]) => number; sendOne: (...a: unknown[]) => number } }).sock
    const id = sock.id()
    expect(id).toBeGreaterThan(0)
    const calls = { send: 0, sendOne: 0 }
    // The addon's methods are read-only on the prototype: shadow them on the instance.
    for (const name of ['send', 'sendOne'] as const) {
      const f = sock[name]
      Object.defineProperty(sock, name, {
        value: (...a: unknown[]) => {
          calls[name]++
          return f.apply(sock, a)
        },
      })
    }
    // Datagram 1 of three laid out with gaps: only it goes, from its offset.
    const batch = batchOf([30, 77, 12], to)
    tx.t.send({ ...batch, offsets: batch.offsets.subarray(1), lengths: batch.lengths.subarray(1), count: 1 })
    await waitFor(() => rx.sink.got.length === 1)
    expect(rx.sink.got[0]!.data.equals(Buffer.from(batch.slab.subarray(batch.offsets[1]!, batch.offsets[1]! + 77)))).toBe(true)
    expect(calls).toEqual({ send: 0, sendOne: 0 })
    tx.t.send(batchOf([5, 6], to))
    await waitFor(() => rx.sink.got.length === 3)
    expect(calls).toEqual({ send: 1, sendOne: 0 })
    expect(tx.t.getStats().packetsSent).toBe(3)
    // Straight to the addon: the method and the by-id call send alike; bad ids are refused.
    const one = batchOf([9], to)
    const dest = (to as unknown as { dest: Uint32Array }).dest
    expect(b.udpSendOne!(id, one.slab, one.offsets[0]!, one.lengths[0]!, dest)).toBe(1)
    expect(sock.sendOne(one.slab, one.offsets[0]!, one.lengths[0]!, dest)).toBe(1)
    await waitFor(() => rx.sink.got.length === 5)
    for (const bad of [id + 1000, 0, -1, Number.NaN]) expect(b.udpSendOne!(bad, one.slab, one.offsets[0]!, one.lengths[0]!, dest)).toBe(-1)
    for (const bad of ['x', undefined, {}] as unknown[]) expect(() => b.udpSendOne!(bad as number, one.slab, 0, 1, dest)).toThrow(TypeError)
    // Closing unlists the socket at once: its id names nothing, however long the close takes.
    const closing = tx.t.close()
    await new Promise((r) => setImmediate(r))
    expect(sock.id()).toBe(-1)
    expect(b.udpSendOne!(id, one.slab, one.offsets[0]!, one.lengths[0]!, dest)).toBe(-1)
    await closing
    expect(b.udpSendOne!(id, one.slab, one.offsets[0]!, one.lengths[0]!, dest)).toBe(-1)
    expect(tx.t.getStats().packetsSent).toBe(5)
  })

  it('receive headers are kept between rounds and reset after use: a lone datagram, then a GRO burst, then lone ones again', async () => {
    // The kernel shrinks a filled header's control length to what it wrote (nothing for a lone
    // datagram on a socket bound to one address): a header not reset afterwards would truncate
    // the next round's UDP_GRO message and deliver the burst as one datagram.
    const { rx, tx, to } = await pair('127.0.0.1')
    tx.t.send(batchOf([100], to))
    await waitFor(() => rx.sink.got.length === 1)
    const burst = [...new Array(20).fill(1000), 300]
    tx.t.send(batchOf(burst, to))
    await waitFor(() => rx.sink.got.length === 22)
    expectPayloads(rx.sink.got.slice(1), burst)
    expect(rx.t.getStats().groSuperDatagrams).toBeGreaterThan(0)
    for (let k = 0; k < 3; k++) {
      tx.t.send(batchOf([50 + k], to))
      await waitFor(() => rx.sink.got.length === 23 + k)
    }
    expectPayloads(rx.sink.got.slice(22, 23), [50])
    expect(rx.sink.got.slice(22).map((g) => g.data.length)).toEqual([50, 51, 52])
    expect(rx.t.getStats().dropped.truncated).toBe(0)
  })

  it('GSO forced off (debug flag) and gso:false: one sendmmsg of 64 messages, no GSO reported', async () => {
    for (const opts of [{ debugFlags: DebugFlag.NO_GSO }, { gso: false }]) {
      const { rx, tx, to } = await pair('127.0.0.1', {}, opts)
      const sizes = new Array(64).fill(1472)
      tx.t.send(batchOf(sizes, to))
      await waitFor(() => rx.sink.got.length === 64)
      expectPayloads(rx.sink.got, sizes)
      expect(tx.t.getStats().gso).toBe(false)
      expect(tx.t.getStats().sendSyscalls).toBe(1)
      expect(rx.t.getStats().groSuperDatagrams).toBe(0)
    }
  })

  it('GRO off: a GSO burst arrives as 64 separate datagrams (kernel-split)', async () => {
    for (const opts of [{ gro: false }, { debugFlags: DebugFlag.NO_GRO }]) {
      const { rx, tx, to } = await pair('127.0.0.1', opts)
      const sizes = new Array(64).fill(1472)
      tx.t.send(batchOf(sizes, to))
      await waitFor(() => rx.sink.got.length === 64)
      expectPayloads(rx.sink.got, sizes)
      const rs = rx.t.getStats()
      expect(rs.gro).toBe(false)
      expect(rs.groSuperDatagrams).toBe(0)
    }
  })

  it('a receive batch says whether its round filled every slot (RxBatch.backlog: the socket may hold more)', async () => {
    const { rx, tx, to } = await pair('127.0.0.1', { gro: false, recvSlots: 16 }, { gso: false })
    const flags: boolean[] = []
    const record = rx.sink.onReceive.bind(rx.sink)
    rx.sink.onReceive = (batch: RxBatch) => {
      flags.push(batch.backlog === true)
      record(batch)
    }
    // One sendmmsg of 40 datagrams, all queued at the receiver before its poll callback runs:
    // rounds of 16, 16 (both full: backlog) and 8 (not full).
    const sizes = new Array(40).fill(200)
    tx.t.send(batchOf(sizes, to))
    await waitFor(() => rx.sink.got.length === 40)
    expectPayloads(rx.sink.got, sizes)
    expect(flags).toEqual([true, true, false])
  })

  it('a receive batch carries when it was read (RxBatch.receivedAt), on the node clock, never ahead of it', async () => {
    const { rx, tx, to } = await pair('127.0.0.1', { gro: false }, { gso: false })
    const stamps: Array<[number, number, number]> = []
    const record = rx.sink.onReceive.bind(rx.sink)
    rx.sink.onReceive = (batch: RxBatch) => {
      stamps.push([batch.receivedAt!, now(), sentAt])
      record(batch)
    }
    let sentAt = now()
    tx.t.send(batchOf([100], to))
    await waitFor(() => rx.sink.got.length === 1)
    sentAt = now()
    tx.t.send(batchOf([100], to))
    await waitFor(() => rx.sink.got.length === 2)
    expect(stamps.length).toBe(2)
    for (const [at, handled, sent] of stamps) {
      // Read after the send and before the callback ran (1 ms: the calibration's bracket on a busy host).
      expect(at).toBeGreaterThanOrEqual(sent - 1)
      expect(at).toBeLessThanOrEqual(handled)
    }
  })

  it('without mmsg (debug flag): one syscall per datagram, same result', async () => {
    const { rx, tx, to } = await pair('127.0.0.1', { debugFlags: DebugFlag.NO_MMSG }, { debugFlags: DebugFlag.NO_MMSG | DebugFlag.NO_GSO })
    const sizes = Array.from({ length: 20 }, (_, i) => 100 + i)
    tx.t.send(batchOf(sizes, to))
    await waitFor(() => rx.sink.got.length === 20)
    expectPayloads(rx.sink.got, sizes)
    expect(tx.t.getStats().sendSyscalls).toBe(20)
    expect(tx.t.getStats().mmsg).toBe(false)
  })

  it('a GSO send failing with EINVAL switches GSO off for good, reports it, and loses nothing', async () => {
    const warnings: string[] = []
    const onWarning = (w: Error & { code?: string }) => {
      if (w.code === 'STT_GSO_DISABLED') warnings.push(w.message)
    }
    process.on('warning', onWarning)
    try {
      const { rx, tx, to } = await pair('127.0.0.1', {}, { debugFlags: DebugFlag.GSO_EINVAL })
      expect(tx.t.getStats().gso).toBe(true)
      const sizes = new Array(30).fill(1000)
      tx.t.send(batchOf(sizes, to))
      tx.t.send(batchOf(sizes, to))
      await waitFor(() => rx.sink.got.length === 60)
      const s = tx.t.getStats()
      expect(s.gso).toBe(false)
      expect(s.gsoDisabledErrno).toBe('EINVAL')
      expect(s.sendErrors).toBe(0)
      await new Promise((r) => setImmediate(r))
      expect(warnings).toHaveLength(1)
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('EAGAIN: the unsent tail waits as ONE pending batch, retried once when writable, the rest dropped', async () => {
    const { rx, tx, to } = await pair('127.0.0.1', {}, { debugFlags: DebugFlag.SEND_EAGAIN | DebugFlag.NO_GSO })
    tx.t.send(batchOf(new Array(10).fill(50), to)) // 1 sent, 9 pending
    expect(tx.t.writable()).toBe(false)
    tx.t.send(batchOf(new Array(5).fill(50), to)) // dropped: a batch is already pending
    await waitFor(() => tx.t.writable())
    await waitFor(() => rx.sink.got.length === 2) // the retry sent one more, then "EAGAIN" again
    await new Promise((r) => setTimeout(r, 50))
    expect(rx.sink.got).toHaveLength(2)
    const s = tx.t.getStats()
    expect(s.dropped['queue-full']).toBe(5 + 8)
    expect(s.sendEagain).toBe(2)
    expect(s.packetsSent).toBe(2)
  })

  it('empty and 65507-byte datagrams pass; oversize ones are dropped and counted; garbage is just bytes', async () => {
    const { rx, tx, to } = await pair('127.0.0.1')
    const sizes = [0, 65507, 65508, 3]
    tx.t.send(batchOf(sizes, to))
    await waitFor(() => rx.sink.got.length === 3)
    expect(rx.sink.got.map((g) => g.data.length)).toEqual([0, 65507, 3])
    expect(tx.t.getStats().dropped.oversize).toBe(1)
    expect(rx.t.getStats().dropped.truncated).toBe(0)
  })

  it('rejects misuse with typed errors and never throws for the network', async () => {
    const { tx, to } = await pair('127.0.0.1')
    const other = transport({ host: '127.0.0.1' })
    const foreign = await other.t.dial(to.toString())
    const b = batchOf([10, 10], to)
    const code = async (f: () => unknown) => {
      try {
        await f()
      } catch (e) {
        expect(e).toBeInstanceOf(STTError)
        return (e as STTError).code
      }
      return 'no error'
    }
    expect(await code(() => tx.t.send({ ...b, to: foreign }))).toBe(ErrorCode.CONFIG)
    expect(await code(() => tx.t.send({ ...b, count: 3 }))).toBe(ErrorCode.CONFIG)
    expect(await code(() => tx.t.send({ ...b, offsets: new Uint32Array([0, b.slab.length]) }))).toBe(ErrorCode.CONFIG)
    expect(await code(() => tx.t.dial('udp://127.0.0.1'))).toBe(ErrorCode.CONFIG)
    expect(await code(() => tx.t.dial('udp://127.0.0.1:70000'))).toBe(ErrorCode.CONFIG)
    expect(await code(() => tx.t.dial('::1:9000'))).toBe(ErrorCode.CONFIG)
    expect(await code(() => tx.t.dial('udp://[::1]:9000'))).toBe(ErrorCode.CONFIG) // IPv6 from an IPv4 socket
    expect(await code(() => new NativeUdpTransport({ port: -1 }))).toBe(ErrorCode.CONFIG)
    expect(await code(() => new NativeUdpTransport({ recvSlots: 65 }))).toBe(ErrorCode.CONFIG)
    const taken = (await tx.t.listen()).port
    expect(await code(() => transport({ host: '127.0.0.1', port: taken }).t.listen())).toBe(ErrorCode.CONFIG) // port in use: a configuration problem, as with node:dgram
    const idle = new NativeUdpTransport({ host: '127.0.0.1' })
    expect(await code(() => idle.send({ ...b, to: foreign }))).toBe(ErrorCode.CONFIG)
    // Sending to a port nobody listens on is not an error for an unconnected UDP socket.
    const nobody = await tx.t.dial('127.0.0.1:9')
    expect(await code(() => tx.t.send(batchOf([5], nobody)))).toBe('no error')
  })

  it('replies leave from the local address the peer contacted (IP_PKTINFO on a wildcard socket)', async () => {
    const server = transport({ host: '0.0.0.0' })
    const client = transport({ host: '127.0.0.1' })
    const { port } = await server.t.listen()
    expect(server.t.getStats().pktinfo).toBe(true)
    // 127.0.0.2 is local too (all of 127/8 is); without PKTINFO the reply would come from 127.0.0.1.
    const to = await client.t.dial(`127.0.0.2:${port}`)
    client.t.send(batchOf([8], to))
    await waitFor(() => server.sink.got.length === 1)
    server.t.send(batchOf([9], server.sink.got[0]!.from))
    await waitFor(() => client.sink.got.length === 1)
    expect(client.sink.got[0]!.from.key).toBe(`udp:127.0.0.2:${port}`)
    expect(client.sink.got[0]!.from).toBe(to)
  })

  it('close() releases the poll handle and the fd; sends after close are counted, not thrown', async () => {
    const fds = () => readdirSync('/proc/self/fd').length
    const live = binding!.UdpSocket!.liveHandles
    const before = { fds: fds(), live: live() }
    const { rx, tx, to } = await pair('127.0.0.1')
    expect(live()).toBe(before.live + 2)
    tx.t.send(batchOf([4], to))
    await waitFor(() => rx.sink.got.length === 1)
    await Promise.all([rx.t.close(), tx.t.close(), tx.t.close()])
    expect(live()).toBe(before.live)
    expect(fds()).toBe(before.fds)
    tx.t.send(batchOf([4, 4], to))
    expect(tx.t.getStats().dropped.closed).toBe(2)
    await expect(tx.t.listen()).rejects.toBeInstanceOf(STTError)
  })

  it('closing from inside the receive callback stops delivery at once', async () => {
    const { rx, tx, to } = await pair('127.0.0.1', { debugFlags: DebugFlag.NO_GRO })
    let calls = 0
    let closing: Promise<void> | undefined
    rx.t.attach({
      onReceive: () => {
        calls++
        closing ??= rx.t.close()
      },
    })
    for (let i = 0; i < 8; i++) tx.t.send(batchOf(new Array(64).fill(100), to))
    await waitFor(() => closing !== undefined)
    await closing
    expect(calls).toBe(1)
  })
})

describe.skipIf(!haveUdp)(`native UDP, both families in one transport (${haveUdp ? 'addon loaded' : SKIP_REASON})`, () => {
  it('a transport bound to 127.0.0.1 reaches an IPv6 peer on ::1 and an IPv4 one, and hears both back', async () => {
    const both = new DualStackNativeUdp({ host: '127.0.0.1' })
    const sink = new Sink()
    both.attach(sink)
    const v6 = transport({ host: '::1' })
    const v4 = transport({ host: '127.0.0.1' })
    try {
      expect((await both.listen()).family).toBe('IPv4')
      const p6 = (await v6.t.listen()).port
      const p4 = (await v4.t.listen()).port
      const to6 = await both.dial(`udp://[::1]:${p6}`)
      const to4 = await both.dial(`127.0.0.1:${p4}`)
      expect(to6).toMatchObject({ kind: 'udp', family: 'IPv6' })
      expect(to4).toMatchObject({ kind: 'udp', family: 'IPv4' })
      expect(both.writable(to6)).toBe(true)
      both.send(batchOf([10, 20], to6))
      both.send(batchOf([30], to4))
      await waitFor(() => v6.sink.got.length === 2 && v4.sink.got.length === 1)
      expectPayloads(v6.sink.got, [10, 20])
      // Replies to where the datagrams came from arrive through the same transport.
      v6.t.send(batchOf([5], v6.sink.got[0]!.from))
      v4.t.send(batchOf([6], v4.sink.got[0]!.from))
      await waitFor(() => sink.got.length === 2)
      expect(sink.got.map((g) => g.from.family).sort()).toEqual(['IPv4', 'IPv6'])
      // Counters cover both sockets.
      expect(both.getStats()).toMatchObject({ packetsSent: 3, packetsReceived: 2, families: 2 })
    } finally {
      await both.close()
    }
  })
})
