/**
 * Session continuity across transports: a session moves from UDP to WebSocket (and back) in
 * the middle of a transfer, keeping its keys and streams; the peer follows after validating
 * the new path, and nothing is lost.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { STTNode, generateSeed, type STTSession, type STTStream } from '../../src/index.js'
import { readAll } from './node-ws-helpers.js'

const nodes: STTNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function hybridPair() {
  const seed = generateSeed()
  const server = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, transport: ['udp', 'websocket'], name: 'server' })
  const client = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, name: 'client' })
  nodes.push(server, client)
  const addr = await server.start()
  await client.start()
  const accepted = new Promise<STTSession>((r) => server.once('session', r))
  const sc = await client.connect(`udp://127.0.0.1:${addr.port}`)
  return { addr, sc, ss: await accepted }
}

/** Writes `data` in 64 KiB pieces with backpressure; calls `midway` once, after `at` bytes. */
async function writeWith(st: STTStream, data: Buffer, at: number, midway: () => Promise<void>): Promise<void> {
  let fired = false
  for (let o = 0; o < data.length; o += 65536) {
    if (!fired && o >= at) {
      fired = true
      await midway()
    }
    if (!st.write(data.subarray(o, o + 65536))) await new Promise((r) => st.once('drain', r))
  }
  st.end()
}

describe('session migration across transports', () => {
  it('UDP -> WebSocket mid-transfer: the stream completes byte-exact and the peer follows', async () => {
    const { addr, sc, ss } = await hybridPair()
    expect(sc.transport).toBe('udp')
    const data = randomBytes(8 << 20)
    const got = new Promise<Buffer>((r) => ss.once('stream', (s: STTStream) => readAll(s).then(r)))
    const serverMoved = new Promise<{ from: string; to: string }>((r) => ss.once('migrated', r))
    await writeWith(sc.openStream(), data, 2 << 20, () => sc.migrate(`ws://127.0.0.1:${addr.websocketPort}/stt`))
    expect(sha(await got)).toBe(sha(data))
    const moved = await serverMoved
    expect(moved.from).toMatch(/^udp:/)
    expect(moved.to).toMatch(/^ws:/)
    expect(sc.transport).toBe('websocket')
    expect(ss.transport).toBe('websocket')
    expect(ss.id).toBe(sc.id)
    // The session keeps working both ways on the new transport.
    const dg = new Promise<Buffer>((r) => sc.once('datagram', r))
    ss.sendDatagram(Buffer.from('after migration'))
    expect((await dg).toString()).toBe('after migration')
    expect(ss.getStats().migrations).toBe(1)
  })

  it('WebSocket -> UDP: a session started over WebSocket moves to UDP', async () => {
    const seed = generateSeed()
    const server = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, transport: ['udp', 'websocket'] })
    const client = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0 })
    nodes.push(server, client)
    const addr = await server.start()
    await client.start()
    const accepted = new Promise<STTSession>((r) => server.once('session', r))
    // Full reliability: after moving to UDP the session must retransmit and control congestion itself.
    const sc = await client.connect(`ws://127.0.0.1:${addr.websocketPort}/stt`, { fullReliability: true })
    const ss = await accepted
    expect(ss.transport).toBe('websocket')
    const data = randomBytes(4 << 20)
    const got = new Promise<Buffer>((r) => ss.once('stream', (s: STTStream) => readAll(s).then(r)))
    await writeWith(sc.openStream(), data, 1 << 20, () => sc.migrate(`udp://127.0.0.1:${addr.port}`))
    expect(sha(await got)).toBe(sha(data))
    expect(sc.transport).toBe('udp')
    await expect.poll(() => ss.transport, { timeout: 10_000 }).toBe('udp')
  })

  it('a bare-mode WebSocket session refuses to move to UDP (nothing would retransmit)', async () => {
    const seed = generateSeed()
    const server = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, transport: ['udp', 'websocket'] })
    const client = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0 })
    nodes.push(server, client)
    const addr = await server.start()
    await client.start()
    const sc = await client.connect(`ws://127.0.0.1:${addr.websocketPort}/stt`)
    expect(sc.getStats().bare).toBe(true)
    await expect(sc.migrate(`udp://127.0.0.1:${addr.port}`)).rejects.toMatchObject({ code: 'STT_CONFIG' })
    expect(sc.transport).toBe('websocket')
  })

  it('bad migration targets fail clearly', async () => {
    const { sc } = await hybridPair()
    await expect(sc.migrate('ftp://127.0.0.1:1')).rejects.toMatchObject({ code: 'STT_CONFIG' })
    await sc.close()
    await expect(sc.migrate('udp://127.0.0.1:1')).rejects.toMatchObject({ code: 'STT_SESSION_CLOSED' })
  })
})
