/**
 * Pluggable transports (the manual's "custom transports", not implemented in the original):
 * any object implementing the Transport interface carries STT. Here the in-memory channel
 * pair (src/transport/channel.ts) joins two real STTNodes, with loss, and
 * a stream goes through it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { STTNode, generateSeed, type STTSession, type STTStream } from '../../src/index.js'
import { createChannelPair } from '../../src/transport/channel.js'

const nodes: STTNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})

describe('a node over a pluggable transport (transportImpl)', () => {
  it('handshake and a 2 MiB stream over an in-memory channel with 5 % loss', async () => {
    const [ta, tb] = createChannelPair({ lossRate: 0.05, seed: 7 })
    const seed = generateSeed()
    const a = new STTNode({ sharedSeed: seed, transportImpl: ta, name: 'a' })
    const b = new STTNode({ sharedSeed: seed, transportImpl: tb, name: 'b' })
    nodes.push(a, b)
    await a.start()
    await b.start()
    const accepted = new Promise<STTSession>((r) => b.once('session', r))
    const sa = await a.connect('channel://b')
    const sb = await accepted
    expect(sa.transport).toBe('channel')
    expect(sb.peerName).toBe('a')
    const data = randomBytes(2 << 20)
    const got = new Promise<Buffer>((resolve) =>
      sb.once('stream', (s: STTStream) => {
        const c: Buffer[] = []
        s.on('data', (d: Buffer) => c.push(d))
        s.on('end', () => resolve(Buffer.concat(c)))
      }),
    )
    sa.openStream().end(data)
    const h = (x: Buffer) => createHash('sha256').update(x).digest('hex')
    expect(h(await got)).toBe(h(data))
    // Lost packets were retransmitted by STT itself (the channel is unreliable).
    expect(sa.getStats().lostPackets).toBeGreaterThan(0)
    expect(a.getTransportStats().transports['channel']!.packetsSent).toBeGreaterThan(1000)
  })

  it('an unknown scheme without such a transport is a clear error', async () => {
    const a = new STTNode({ sharedSeed: generateSeed(), host: '127.0.0.1', port: 0 })
    nodes.push(a)
    await a.start()
    await expect(a.connect('bluetooth://peer')).rejects.toMatchObject({ code: 'STT_CONFIG' })
  })
})
