/**
 * SO_REUSEPORT groups steered by session id (native/reuseport_cbpf.cc): real sockets on
 * 127.0.0.1, port 0. Datagrams carrying a session id reach the socket `steeredIndex` names,
 * whatever source port they come from (a roaming client keeps its socket), and the spread over
 * random ids uses every socket.
 */
import { createSocket, type Socket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { backend, binding } from '../../src/native/load.js'
import { NativeUdpTransport } from '../../src/transport/udp-native.js'
import type { RxBatch, TransportEvents } from '../../src/transport/types.js'
import { HEADER_SIZE, PacketType, SESSION_ID_OFFSET, SESSION_ID_SIZE } from '../../src/protocol/wire-constants.js'
import { ReuseportGroup, reuseportUnavailableReason, steeredIndex } from '../../src/workers/reuseport-group.js'

const have = backend === 'native' && reuseportUnavailableReason() === null
const SKIP = 'native addon not loaded or not Linux (STT_NATIVE=0): reuseport steering tests need the native UDP socket'

class Sink implements TransportEvents {
  readonly ids: string[] = []
  readonly ports: number[] = []
  onReceive(b: RxBatch): void {
    for (let i = 0; i < b.count; i++) {
      const off = b.offsets[i]!
      this.ids.push(Buffer.from(b.slab.subarray(off + SESSION_ID_OFFSET, off + SESSION_ID_OFFSET + SESSION_ID_SIZE)).toString('hex'))
      this.ports.push(Number(b.from[i]!.key.split(':').pop()))
    }
  }
}

function packet(id: Uint8Array): Buffer {
  const p = Buffer.alloc(HEADER_SIZE + 32)
  p[0] = 1
  p[1] = PacketType.DATA
  p.set(id, SESSION_ID_OFFSET)
  return p
}

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

async function group(n: number): Promise<{ g: ReuseportGroup; sinks: Sink[] }> {
  const g = await ReuseportGroup.open('127.0.0.1', 0, n)
  cleanup.push(() => g.close())
  const sinks: Sink[] = []
  for (let i = 0; i < n; i++) {
    const t = new NativeUdpTransport({ host: '127.0.0.1', adoptFd: g.fd(i) })
    const s = new Sink()
    t.attach(s)
    const bound = await t.listen()
    expect(bound.port).toBe(g.port)
    cleanup.push(() => t.close())
    sinks.push(s)
  }
  return { g, sinks }
}

async function client(): Promise<Socket> {
  const s = createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
  cleanup.push(() => new Promise<void>((r) => s.close(() => r())))
  return s
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
}

describe.skipIf(!have)('reuseport group steered by session id', () => {
  it('a datagram reaches the socket its session id names, and keeps reaching it from a new source port (roaming)', async () => {
    const { g, sinks } = await group(2)
    // One id per socket, chosen so the expected socket differs.
    const ids: Buffer[] = []
    for (let want = 0; want < 2; want++) {
      let id: Buffer
      do id = randomBytes(8)
      while (steeredIndex(id, 2) !== want)
      ids.push(id)
    }
    const a = await client()
    const b = await client() // the same clients after a NAT rebinding: another source port
    for (const id of ids) {
      a.send(packet(id), g.port, '127.0.0.1')
      b.send(packet(id), g.port, '127.0.0.1')
    }
    await until(() => sinks[0]!.ids.length + sinks[1]!.ids.length >= 4)
    for (let w = 0; w < 2; w++) {
      expect(sinks[w]!.ids).toEqual([ids[w]!.toString('hex'), ids[w]!.toString('hex')])
      expect(new Set(sinks[w]!.ports)).toEqual(new Set([a.address().port, b.address().port]))
    }
  })

  it('random session ids from one source address spread over every socket as steeredIndex predicts', async () => {
    const n = 3
    const { g, sinks } = await group(n)
    const a = await client()
    const want: string[][] = Array.from({ length: n }, () => [])
    for (let i = 0; i < 60; i++) {
      const id = randomBytes(8)
      want[steeredIndex(id, n)]!.push(id.toString('hex'))
      a.send(packet(id), g.port, '127.0.0.1')
    }
    await until(() => sinks.reduce((x, s) => x + s.ids.length, 0) >= 60)
    for (let w = 0; w < n; w++) {
      expect(sinks[w]!.ids.length).toBeGreaterThan(0) // a 4-tuple hash would put all 60 on one socket
      expect([...sinks[w]!.ids].sort()).toEqual([...want[w]!].sort())
    }
  })

  it('a datagram too short to hold a session id goes to socket 0; a busy port is a config error', async () => {
    const { g, sinks } = await group(2)
    const a = await client()
    a.send(Buffer.from([1, 2]), g.port, '127.0.0.1')
    await until(() => sinks[0]!.ids.length > 0)
    expect(sinks[0]!.ids.length).toBe(1)
    expect(sinks[1]!.ids.length).toBe(0)
    const plain = createSocket('udp4')
    await new Promise<void>((r) => plain.bind(0, '127.0.0.1', r))
    cleanup.push(() => new Promise<void>((r) => plain.close(() => r())))
    await expect(ReuseportGroup.open('127.0.0.1', plain.address().port, 2)).rejects.toMatchObject({ code: 'STT_CONFIG' })
    expect(binding).not.toBeNull()
  })
})

describe.skipIf(have)('reuseport steering unavailable', () => {
  it(`says why (${SKIP})`, async () => {
    expect(reuseportUnavailableReason()).toMatch(/native addon|Linux/)
    await expect(ReuseportGroup.open('127.0.0.1', 0, 2)).rejects.toMatchObject({ code: 'STT_NATIVE_UNAVAILABLE' })
  })
})
