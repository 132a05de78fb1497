import { afterEach, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { STTNode, STTError, generateSeed, type STTSession } from '../../src/index.js'

const nodes: STTNode[] = []
function mk(opts: Record<string, unknown> = {}) {
  const n = new STTNode({ host: '127.0.0.1', port: 0, ...opts } as never)
  nodes.push(n)
  return n
}
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})

async function pair(seed = generateSeed(), optsA: Record<string, unknown> = {}, optsB: Record<string, unknown> = {}) {
  const a = mk({ sharedSeed: seed, name: 'alice', ...optsA })
  const b = mk({ sharedSeed: seed, name: 'bob', ...optsB })
  await a.start()
  const { port } = await b.start()
  const accepted = new Promise<STTSession>((r) => b.once('session', r))
  const sa = await a.connect(`udp://127.0.0.1:${port}`)
  const sb = await accepted
  return { a, b, sa, sb }
}

describe('two nodes over loopback UDP', () => {
  it('handshake, names, ids and datagrams both ways', async () => {
    const { a, b, sa, sb } = await pair()
    expect(sa.id).toBe(sb.id)
    expect(sa.peerName).toBe('bob')
    expect(sb.peerName).toBe('alice')
    expect(sa.peerNodeId.equals(b.nodeId)).toBe(true)
    expect(sb.peerNodeId.equals(a.nodeId)).toBe(true)
    const gotB = new Promise<Buffer>((r) => sb.once('datagram', r))
    sa.sendDatagram(Buffer.from('ping'))
    expect((await gotB).toString()).toBe('ping')
    const gotA = new Promise<Buffer>((r) => sa.once('datagram', r))
    sb.sendDatagram(Buffer.from('pong'))
    expect((await gotA).toString()).toBe('pong')
  })

  it('a stream moves 4 MiB byte-exact', async () => {
    const { sa, sb } = await pair()
    const data = randomBytes(4 << 20)
    const received = new Promise<Buffer>((resolve, reject) => {
      sb.once('stream', (s) => {
        const chunks: Buffer[] = []
        s.on('data', (c: Buffer) => chunks.push(c))
        s.on('end', () => resolve(Buffer.concat(chunks)))
        s.on('error', reject)
      })
    })
    const st = sa.openStream()
    st.end(data)
    const got = await received
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'))
  })

  it('messages through session.send arrive via node.receive()', async () => {
    const { b, sa } = await pair()
    await sa.send(Buffer.from('hello'), { streamId: 3 })
    await sa.send(Buffer.from('world'), { streamId: 3 })
    const it = b.receive()
    const m1 = (await it.next()).value!
    const m2 = (await it.next()).value!
    expect(m1.data.toString()).toBe('hello')
    expect(m2.data.toString()).toBe('world')
    expect(m1.streamId).toBe(3)
    expect(m1.sessionId).toBe(sa.id)
  })

  it('wrong shared seed rejects with STT_AUTH_FAILED', async () => {
    const a = mk({ sharedSeed: generateSeed() })
    const b = mk({ sharedSeed: generateSeed() })
    await a.start()
    const { port } = await b.start()
    await expect(a.connect(`udp://127.0.0.1:${port}`)).rejects.toMatchObject({ code: 'STT_AUTH_FAILED' })
  })

  it('session.close closes both sides with the reason', async () => {
    const { sa, sb } = await pair()
    const closed = new Promise((r) => sb.once('close', r))
    await sa.close('bye')
    expect(await closed).toMatchObject({ remote: true, reason: 'bye' })
  })

  it('bad options fail at the call with STT_CONFIG', () => {
    expect(() => new STTNode({ sharedSeed: Buffer.alloc(16) })).toThrow(STTError)
    expect(() => new STTNode({ sharedSeed: generateSeed(), port: 70000 })).toThrow(/port/)
  })
})
