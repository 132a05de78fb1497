/**
 * Session suspension over real sockets (issue 12, part 1): a blackout longer than
 * keepAliveTimeout in the middle of a transfer suspends both sessions instead of closing
 * them; they resume when the path is back, or over WebSocket while UDP stays blocked, and the
 * stream arrives byte-exact. A session nobody resumes expires with STT_SESSION_EXPIRED.
 */
import { createHash, randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { STTNode, generateSeed, type STTError, type STTSession, type STTStream } from '../../src/index.js'
import { startFaultProxy } from '../helpers/fault-proxy.js'

const MiB = 1 << 20
const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

// 64 MiB takes a few seconds on loopback; STT_SUSPEND_MIB lowers it on a slow machine.
const TRANSFER = Number(process.env.STT_SUSPEND_MIB ?? 64) * MiB
const timers = { keepAliveInterval: 200, keepAliveTimeout: 1500 }

async function setup(serverOpts: Record<string, unknown> = {}) {
  const seed = generateSeed()
  const server = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, transport: ['udp', 'websocket'], websocketPort: 0, name: 'server', ...timers, ...serverOpts })
  const client = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, name: 'client', ...timers, ...serverOpts })
  cleanup.push(() => client.stop(), () => server.stop())
  const addr = await server.start()
  await client.start()
  // The UDP proxy listens on the WebSocket listener's port number, so auto://127.0.0.1:<it> finds both.
  const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: addr.port }, port: addr.websocketPort })
  cleanup.push(() => proxy.close())
  return { server, client, addr, proxy }
}

/**
 * Waits until the server has heard the client under the session keys: a responder session never
 * heard from closes at keepAliveTimeout instead of suspending (PROTOCOL.md §9.7), so a test that
 * cuts the path right after connect() must not race the client's first packets.
 */
async function heard(sc: STTSession, ss: STTSession): Promise<void> {
  const m = new Promise((r) => ss.once('message', r))
  await sc.send(Buffer.from('heard'))
  await m
}

/** Hashes everything the stream delivers. */
function hashAll(s: STTStream): Promise<{ digest: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    let bytes = 0
    s.on('data', (d: Buffer) => {
      h.update(d)
      bytes += d.length
      received.n += d.length
    })
    s.on('end', () => resolve({ digest: h.digest('hex'), bytes }))
    s.on('error', reject)
  })
}
const received = { n: 0 }

async function write(st: STTStream, data: Buffer): Promise<void> {
  for (let o = 0; o < data.length; o += 256 * 1024) {
    if (!st.write(data.subarray(o, o + 256 * 1024))) await new Promise((r) => st.once('drain', r))
  }
  st.end()
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('suspension over real sockets', () => {
  it(`a blackout longer than keepAliveTimeout mid-transfer of ${TRANSFER / MiB} MiB: both sides suspend, resume, byte-exact`, { timeout: 120_000 }, async () => {
    const { server, client, proxy } = await setup()
    const accepted = new Promise<STTSession>((r) => server.once('session', r))
    const sc = await client.connect(`udp://127.0.0.1:${proxy.port}`)
    const ss = await accepted
    const events: string[] = []
    for (const [name, s] of [['client', sc], ['server', ss]] as const) {
      s.on('suspended', () => events.push(`${name}:suspended`))
      s.on('resumed', () => events.push(`${name}:resumed`))
      s.on('close', () => events.push(`${name}:close`))
    }
    received.n = 0
    const data = randomBytes(TRANSFER)
    const got = new Promise<{ digest: string; bytes: number }>((r) => ss.once('stream', (s: STTStream) => hashAll(s).then(r)))
    const writing = write(sc.openStream(), data)
    await until(() => received.n >= TRANSFER / 4, 60_000, 'a quarter of the transfer')
    const t0 = Date.now()
    proxy.set({ blockAll: true }, 'both')
    await until(() => sc.state === 'suspended' && ss.state === 'suspended', 10_000, 'both sides suspended')
    const suspendedAfter = Date.now() - t0
    const readDuring = received.n
    // Longer than keepAliveTimeout in total; nothing arrives meanwhile and nothing closes.
    await new Promise((r) => setTimeout(r, 1000))
    expect(received.n).toBe(readDuring)
    proxy.set({ blockAll: false }, 'both')
    const t1 = Date.now()
    await until(() => sc.state === 'active' && ss.state === 'active', 15_000, 'both sides resumed')
    const resumedAfter = Date.now() - t1
    await writing
    const r = await got
    expect(r.bytes).toBe(TRANSFER)
    expect(r.digest).toBe(sha(data))
    expect(events.sort()).toEqual(['client:resumed', 'client:suspended', 'server:resumed', 'server:suspended'])
    expect(sc.getStats().suspensions).toBe(1)
    expect(ss.id).toBe(sc.id)
    console.log(`[suspend] ${TRANSFER / MiB} MiB: suspended ${suspendedAfter} ms into the blackout, resumed ${resumedAfter} ms after it ended`)
  })

  it('auto://: with UDP blocked for good, a suspended session resumes over WebSocket and finishes byte-exact', { timeout: 60_000 }, async () => {
    const { server, client, proxy, addr } = await setup()
    const accepted = new Promise<STTSession>((r) => server.once('session', r))
    const sc = await client.connect(`auto://127.0.0.1:${addr.websocketPort}`)
    const ss = await accepted
    expect(sc.transport).toBe('udp')
    received.n = 0
    const data = randomBytes(8 * MiB)
    const got = new Promise<{ digest: string; bytes: number }>((r) => ss.once('stream', (s: STTStream) => hashAll(s).then(r)))
    const writing = write(sc.openStream(), data)
    await until(() => received.n >= 2 * MiB, 30_000, '2 MiB')
    proxy.set({ blockAll: true }, 'both')
    const resumed = new Promise<void>((r) => ss.once('resumed', () => r()))
    await until(() => sc.state === 'suspended', 10_000, 'client suspended')
    await resumed
    await writing
    const r = await got
    expect(r.digest).toBe(sha(data))
    expect(sc.transport).toBe('websocket')
    expect(ss.transport).toBe('websocket')
    expect(proxy.stats.toTarget.dropped.blocked).toBeGreaterThan(0)
  })

  it('session.resume(url): the application moves a suspended session to WebSocket itself', { timeout: 60_000 }, async () => {
    const { server, client, proxy, addr } = await setup()
    const accepted = new Promise<STTSession>((r) => server.once('session', r))
    const sc = await client.connect(`udp://127.0.0.1:${proxy.port}`)
    const ss = await accepted
    await heard(sc, ss)
    proxy.set({ blockAll: true }, 'both')
    await new Promise<void>((r) => sc.once('suspended', () => r()))
    const resumed = new Promise<{ pausedMs: number }>((r) => sc.once('resumed', r))
    await sc.resume(`ws://127.0.0.1:${addr.websocketPort}/stt`)
    expect((await resumed).pausedMs).toBeGreaterThanOrEqual(0)
    const msg = new Promise<Buffer>((r) => ss.once('message', (m: { data: Buffer }) => r(m.data)))
    await sc.send(Buffer.from('after resume'))
    expect((await msg).toString()).toBe('after resume')
    expect(ss.transport).toBe('websocket')
  })

  it('a suspended session nobody resumes closes with STT_SESSION_EXPIRED after resumeTimeout', { timeout: 30_000 }, async () => {
    const { server, client, proxy } = await setup({ keepAliveTimeout: 600, resumeTimeout: 1000 })
    const accepted = new Promise<STTSession>((r) => server.once('session', r))
    const sc = await client.connect(`udp://127.0.0.1:${proxy.port}`)
    const ss = await accepted
    await heard(sc, ss)
    const errors: STTError[] = []
    sc.on('error', (e) => errors.push(e))
    ss.on('error', (e) => errors.push(e))
    const closed = Promise.all([sc, ss].map((s) => new Promise((r) => s.once('close', r))))
    proxy.set({ blockAll: true }, 'both')
    const t0 = Date.now()
    await closed
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500)
    expect(errors.map((e) => e.code)).toEqual(['STT_SESSION_EXPIRED', 'STT_SESSION_EXPIRED'])
    expect(sc.state).toBe('closed')
  })

  it('resumable and resumeTimeout are validated (STT_CONFIG)', async () => {
    const seed = generateSeed()
    expect(() => new STTNode({ sharedSeed: seed, resumeTimeout: 25 * 3_600_000 })).toThrow(expect.objectContaining({ code: 'STT_CONFIG' }))
    expect(() => new STTNode({ sharedSeed: seed, resumeTimeout: 10 })).toThrow(expect.objectContaining({ code: 'STT_CONFIG' }))
    expect(() => new STTNode({ sharedSeed: seed, resumable: 'yes' as never })).toThrow(expect.objectContaining({ code: 'STT_CONFIG' }))
    const n = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0 })
    cleanup.push(() => n.stop())
    await n.start()
    await expect(n.connect('udp://127.0.0.1:9', { resumeTimeout: -1 })).rejects.toMatchObject({ code: 'STT_CONFIG' })
    await expect(n.connect('udp://127.0.0.1:9', { resumable: 1 as never })).rejects.toMatchObject({ code: 'STT_CONFIG' })
  })
})
