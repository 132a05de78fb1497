/**
 * A node on the native backend (addon AEAD, mmsg/GSO/GRO UDP) and a node on the pure-TypeScript
 * backend (node:crypto, node:dgram) talk to each other in both directions: handshake either
 * way, streams byte-exact both ways, datagrams and messages. Skipped (with the reason in the
 * title) when the addon is not loaded, e.g. under STT_NATIVE=0.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { STTNode, generateSeed, backend, type STTSession, type STTStream } from '../../src/index.js'

const nodes: STTNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

function readAll(s: STTStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('end', () => resolve(Buffer.concat(chunks)))
    s.on('error', reject)
  })
}

async function pairOf(dialer: 'native' | 'js', listener: 'native' | 'js') {
  const seed = generateSeed()
  const a = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, backend: dialer, name: dialer })
  const b = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, backend: listener, name: listener })
  nodes.push(a, b)
  await a.start()
  const { port } = await b.start()
  const accepted = new Promise<STTSession>((r) => b.once('session', r))
  const sa = await a.connect(`udp://127.0.0.1:${port}`)
  return { a, b, sa, sb: await accepted }
}

describe.skipIf(backend !== 'native')(`native <-> pure-TypeScript interop (${backend === 'native' ? 'addon loaded' : 'skipped: the native addon is not loaded'})`, () => {
  for (const [dialer, listener] of [['native', 'js'], ['js', 'native']] as const) {
    it(`${dialer} dials ${listener}: streams both ways byte-exact, datagrams, messages`, async () => {
      const { a, b, sa, sb } = await pairOf(dialer, listener)
      expect(sa.getStats().transport).toBe('udp')
      // a -> b stream
      const up = randomBytes(3 << 20)
      const gotUp = new Promise<Buffer>((r) => sb.once('stream', (s: STTStream) => readAll(s).then(r)))
      sa.openStream().end(up)
      expect(sha(await gotUp)).toBe(sha(up))
      // b -> a stream
      const down = randomBytes(3 << 20)
      const gotDown = new Promise<Buffer>((r) => sa.once('stream', (s: STTStream) => readAll(s).then(r)))
      sb.openStream().end(down)
      expect(sha(await gotDown)).toBe(sha(down))
      // datagrams both ways
      const dgB = new Promise<Buffer>((r) => sb.once('datagram', r))
      sa.sendDatagram(Buffer.from('from ' + dialer))
      expect((await dgB).toString()).toBe('from ' + dialer)
      const dgA = new Promise<Buffer>((r) => sa.once('datagram', r))
      sb.sendDatagram(Buffer.from('from ' + listener))
      const kept = await dgA
      expect(Buffer.isBuffer(kept)).toBe(true)
      expect(kept.toString()).toBe('from ' + listener)
      // A datagram kept by the application is its own copy: the next ones do not change it.
      const dgA2 = new Promise<Buffer>((r) => sa.once('datagram', r))
      sb.sendDatagram(Buffer.from('next one'))
      expect((await dgA2).toString()).toBe('next one')
      expect(kept.toString()).toBe('from ' + listener)
      // ... and its memory is its own: .buffer reaches no other bytes (no shared pool, no page).
      expect(kept.buffer.byteLength).toBe(kept.length)
      // a message each way
      await sa.send(Buffer.from('m1'), { streamId: 7 })
      const m = await b.receive().next()
      expect(m.value!.data.toString()).toBe('m1')
      await sb.send(Buffer.from('m2'))
      const m2 = await a.receive().next()
      expect(m2.value!.data.toString()).toBe('m2')
    })
  }

  it("backend: 'native' on a node fails clearly when forced without the addon only; here it works", () => {
    expect(() => new STTNode({ sharedSeed: generateSeed(), backend: 'native' })).not.toThrow()
    expect(() => new STTNode({ sharedSeed: generateSeed(), backend: 'other' as never })).toThrow(/backend/)
  })
})
