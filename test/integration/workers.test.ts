/**
 * STTWorkerNode on real sockets (127.0.0.1, port 0): sessions spread over the workers by
 * session id, a client that roams to a new source port keeps its worker and its session (the
 * BPF program, not the 4-tuple, picks the socket), a worker crash closes only its sessions with
 * STT_WORKER_EXITED while the node keeps serving, maxSessions holds across workers, stop()
 * leaves no handle, and without steering (STT_NATIVE=0) one worker runs with one warning.
 * Workers run the built library (dist/workers/worker-entry.js): ensureDistBuilt first.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { backend, binding } from '../../src/native/load.js'
import { STTNode } from '../../src/node.js'
import type { STTSession } from '../../src/session.js'
import { reuseportUnavailableReason } from '../../src/workers/reuseport-group.js'
import { STTWorkerNode, WORKER_TEST_HOOKS, type WorkerSession } from '../../src/workers/worker-node.js'
import { ensureDistBuilt } from '../helpers/netns.js'

const steering = backend === 'native' && reuseportUnavailableReason() === null
const seed = new Uint8Array(32).fill(0x5a)
const cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

beforeAll(async () => {
  await ensureDistBuilt()
}, 300_000)

async function server(workers: number, extra: Record<string, unknown> = {}): Promise<{ srv: STTWorkerNode; port: number; sessions: WorkerSession[] }> {
  const srv = new STTWorkerNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, workers, ...extra, [WORKER_TEST_HOOKS]: true } as never)
  const sessions: WorkerSession[] = []
  srv.on('session', (s: WorkerSession) => {
    sessions.push(s)
    s.on('error', () => {})
    s.on('datagram', (d: Buffer) => s.sendDatagram(d)) // echo
  })
  const { port } = await srv.start()
  cleanup.push(() => srv.stop())
  return { srv, port, sessions }
}

async function client(): Promise<STTNode> {
  const c = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, keepAliveInterval: 1000 })
  c.on('error', () => {})
  await c.start()
  cleanup.push(() => c.stop())
  return c
}

async function echo(s: STTSession, text: string): Promise<string> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const got = once(s, 'datagram', { signal: AbortSignal.timeout(500) }).catch(() => null)
    s.sendDatagram(Buffer.from(text))
    const r = await got
    if (r) return String(r[0])
  }
  throw new Error('no echo')
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** A UDP relay whose upstream socket (the source port the server sees) can be swapped: NAT rebinding. */
class Relay {
  readonly front: Socket = createSocket('udp4')
  up!: Socket
  peer: RemoteInfo | null = null
  constructor(readonly target: number) {}
  async start(): Promise<number> {
    await new Promise<void>((r) => this.front.bind(0, '127.0.0.1', r))
    this.front.on('message', (m, rinfo) => {
      this.peer = rinfo
      this.up.send(m, this.target, '127.0.0.1')
    })
    await this.rebind()
    return this.front.address().port
  }
  async rebind(): Promise<void> {
    const old = this.up
    const up = createSocket('udp4')
    await new Promise<void>((r) => up.bind(0, '127.0.0.1', r))
    up.on('message', (m) => this.peer && this.front.send(m, this.peer.port, this.peer.address))
    this.up = up
    old?.close()
  }
  close(): void {
    this.front.close()
    this.up.close()
  }
}

describe.skipIf(!steering)('STTWorkerNode with reuseport steering', () => {
  it('spreads sessions over the workers; each echoes through its worker', async () => {
    const { srv, port, sessions } = await server(2)
    expect(srv.workers).toBe(2)
    const c = await client()
    const mine: STTSession[] = []
    for (let i = 0; i < 16; i++) mine.push(await c.connect(`udp://127.0.0.1:${port}`))
    await until(() => sessions.length === 16)
    const per = [0, 1].map((w) => sessions.filter((s) => s.worker === w).length)
    expect(per[0]).toBeGreaterThan(0) // 16 random ids all on one worker: p = 2^-15
    expect(per[1]).toBeGreaterThan(0)
    expect(srv.sessionCount).toBe(16)
    for (const s of mine) expect(await echo(s, `hello ${s.id}`)).toBe(`hello ${s.id}`)
    const st = await srv.stats()
    expect(st.map((x) => x.sessions)).toEqual(per)
  })

  it('a client that roams to a new source port keeps its worker and its session', async () => {
    const { srv, port, sessions } = await server(2)
    const relay = new Relay(port)
    const front = await relay.start()
    cleanup.push(() => relay.close())
    const c = await client()
    const s = await c.connect(`udp://127.0.0.1:${front}`)
    await until(() => sessions.length === 1)
    const held = sessions[0]!
    expect(await echo(s, 'before')).toBe('before')
    const before = (await srv.stats())[held.worker]!.datagramsIn
    // The server now sees other source ports for the same session id. With the kernel's default
    // 4-tuple hash each new port would pick a socket at random (all 4 on the right one: 1/16).
    for (let i = 0; i < 4; i++) {
      await relay.rebind()
      expect(await echo(s, `after ${i}`)).toBe(`after ${i}`)
    }
    const after = await srv.stats()
    expect(after[held.worker]!.datagramsIn).toBeGreaterThan(before)
    expect(after.reduce((a, x) => a + x.sessions, 0)).toBe(1) // no second session anywhere
    expect(sessions.length).toBe(1)
    expect(held.closed).toBe(false)
    expect(s.closed).toBe(false)
  })

  it('a worker crash closes only its sessions with STT_WORKER_EXITED; the node keeps serving', async () => {
    const { srv, port, sessions } = await server(2)
    const c = await client()
    const mine: STTSession[] = []
    while (!(sessions.some((s) => s.worker === 0) && sessions.some((s) => s.worker === 1))) {
      mine.push(await c.connect(`udp://127.0.0.1:${port}`))
      await until(() => sessions.length === mine.length)
    }
    const errors = new Map<WorkerSession, Error>()
    for (const s of sessions) s.on('error', (e: Error) => errors.set(s, e))
    const exited = once(srv, 'worker-exit')
    srv._crashForTest(0)
    const [ev] = (await exited) as [{ worker: number; code: number }]
    expect(ev.worker).toBe(0)
    await until(() => sessions.filter((s) => s.worker === 0).every((s) => s.closed))
    await new Promise((r) => setImmediate(r))
    for (const s of sessions) {
      if (s.worker === 0) expect((errors.get(s) as { code?: string } | undefined)?.code).toBe('STT_WORKER_EXITED')
      else expect(s.closed).toBe(false)
    }
    // Worker 1's sessions still work; new sessions land on both workers again (0 was replaced).
    for (const [i, s] of sessions.entries()) if (s.worker === 1) expect(await echo(mine[i]!, 'alive')).toBe('alive')
    const before = sessions.length
    await until(() => srv.sessionCount === sessions.filter((s) => !s.closed).length)
    while (!sessions.slice(before).some((s) => s.worker === 0)) {
      const s = await c.connect(`udp://127.0.0.1:${port}`)
      await until(() => sessions.some((x) => x.id === s.id))
      expect(await echo(s, 'new')).toBe('new')
    }
  })

  it('maxSessions holds across workers', async () => {
    const { srv, port, sessions } = await server(2, { maxSessions: 3 })
    const c = await client()
    const mine: STTSession[] = []
    for (let i = 0; i < 6; i++) {
      const s = await c.connect(`udp://127.0.0.1:${port}`).catch(() => null)
      if (s) {
        s.on('error', () => {})
        mine.push(s)
      }
    }
    await until(() => srv.sessionCount <= 3 && sessions.length === 3)
    const st = await srv.stats()
    expect(st.reduce((a, x) => a + x.sessions, 0)).toBe(3)
    expect(st.reduce((a, x) => a + x.refused, 0) + 3).toBeGreaterThanOrEqual(mine.length)
  })

  it('stop() ends every worker and leaves no native handle behind', async () => {
    const live = binding!.UdpSocket!.liveHandles
    const c = await client()
    const base = live()
    const srv = new STTWorkerNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, workers: 2 })
    const { port } = await srv.start()
    expect(live()).toBe(base + 2)
    const s = await c.connect(`udp://127.0.0.1:${port}`)
    s.on('error', () => {})
    await srv.stop()
    expect(live()).toBe(base)
    // The port is free again: the group's own sockets are closed too.
    const again = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port })
    await again.start()
    await again.stop()
  })
})

describe.skipIf(steering)('STTWorkerNode without steering', () => {
  it('runs one worker with one warning (pure-TypeScript backend or not Linux) and serves', async () => {
    const warnings: Error[] = []
    const onWarn = (w: Error): void => void warnings.push(w)
    process.on('warning', onWarn)
    cleanup.push(() => process.off('warning', onWarn))
    const { srv, port, sessions } = await server(2)
    const second = new STTWorkerNode({ sharedSeed: seed, workers: 2 })
    expect(srv.workers).toBe(1)
    expect(second.workers).toBe(1)
    const c = await client()
    const s = await c.connect(`udp://127.0.0.1:${port}`)
    expect(await echo(s, 'one')).toBe('one')
    expect(sessions.length).toBe(1)
    await new Promise((r) => setImmediate(r))
    expect(warnings.filter((w) => (w as { code?: string }).code === 'STT_WORKERS_FALLBACK').length).toBe(1)
  })
})

describe('workers option', () => {
  it('STTNode takes workers: 1 and points to STTWorkerNode for more; STTWorkerNode checks its count and transports', () => {
    expect(() => new STTNode({ sharedSeed: seed, workers: 1 } as never)).not.toThrow()
    expect(() => new STTNode({ sharedSeed: seed, workers: 2 } as never)).toThrow(/STTWorkerNode/)
    for (const workers of [0, 1.5, 65, 'many']) expect(() => new STTWorkerNode({ sharedSeed: seed, workers } as never)).toThrow(expect.objectContaining({ code: 'STT_CONFIG' }))
    expect(() => new STTWorkerNode({ sharedSeed: seed, transport: 'websocket' })).toThrow(expect.objectContaining({ code: 'STT_CONFIG' }))
    expect(new STTWorkerNode({ sharedSeed: seed }).workers).toBe(1)
  })
})

describe('WorkerSession messages (both backends; one worker without steering)', () => {
  it('messages cross threads both ways whole and in order, small and large; send() resolves once the worker took them', async () => {
    const srv = new STTWorkerNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, workers: 2 })
    srv.on('session', (s: WorkerSession) => {
      s.on('error', () => {})
      s.on('message', (p: { streamId: number; data: Buffer }) => void s.send(Buffer.concat([Buffer.from('re:'), p.data]), { streamId: p.streamId }))
    })
    const { port } = await srv.start()
    cleanup.push(() => srv.stop())
    const c = await client()
    const s = await c.connect(`udp://127.0.0.1:${port}`)
    const got: Array<{ streamId: number; data: Buffer }> = []
    s.on('message', (p: { streamId: number; data: Buffer }) => got.push(p))
    const big = Buffer.alloc(300_000)
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff
    await s.send(Buffer.from('one'), { streamId: 3 })
    await s.send(big, { streamId: 3 })
    await s.send(Buffer.from('two'), { streamId: 3 })
    await until(() => got.length === 3, 30_000)
    expect(got.map((p) => p.streamId)).toEqual([3, 3, 3])
    expect(String(got[0]!.data)).toBe('re:one')
    expect(got[1]!.data.equals(Buffer.concat([Buffer.from('re:'), big]))).toBe(true)
    expect(String(got[2]!.data)).toBe('re:two')
    const st = await srv.stats()
    expect(st.reduce((a, x) => a + x.messagesIn, 0)).toBe(3)
    expect(st.reduce((a, x) => a + x.messagesOut, 0)).toBe(3)
  })
})
