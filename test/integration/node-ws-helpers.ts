/**
 * Shared pieces of the node-level WebSocket / hybrid tests (node-ws-*.test.ts,
 * node-hybrid-*.test.ts): node bookkeeping, pairs over a chosen transport, stream helpers.
 * Real sockets on 127.0.0.1, port 0 only.
 */
import { createHash } from 'node:crypto'
import { STTNode, generateSeed, type STTSession, type STTStream } from '../../src/index.js'
import { sleep, waitFor as harnessWaitFor } from './websocket-harness.js'

export type Mode = 'udp' | 'websocket' | 'websocket-full'

/** Every transport mode with its label, for describe.each. */
export const MODES: Array<[string, Mode]> = [
  ['udp', 'udp'],
  ['websocket (bare)', 'websocket'],
  ['websocket (fullReliability)', 'websocket-full'],
]

export class NodeBag {
  private readonly nodes: STTNode[] = []
  mk(opts: Record<string, unknown>): STTNode {
    const n = new STTNode({ host: '127.0.0.1', port: 0, ...opts } as never)
    this.nodes.push(n)
    return n
  }
  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.splice(0).map((n) => n.stop()))
  }
}

export interface Pair {
  a: STTNode
  b: STTNode
  sa: STTSession
  sb: STTSession
  url: string
}

/**
 * Two nodes, a connected to b over `mode`. b listens on the transport under test; a only
 * dials (every node can dial every transport).
 */
export async function pairOver(bag: NodeBag, mode: Mode, extraA: Record<string, unknown> = {}, extraB: Record<string, unknown> = {}): Promise<Pair> {
  const seed = generateSeed()
  const transport = mode === 'udp' ? 'udp' : 'websocket'
  const a = bag.mk({ sharedSeed: seed, name: 'alice', transport: 'udp', ...extraA })
  const b = bag.mk({ sharedSeed: seed, name: 'bob', transport, ...extraB })
  await a.start()
  const bound = await b.start()
  const url = mode === 'udp' ? `udp://127.0.0.1:${bound.port}` : `ws://127.0.0.1:${bound.port}/stt`
  const accepted = new Promise<STTSession>((r) => b.once('session', r))
  const sa = await a.connect(url, mode === 'websocket-full' ? { fullReliability: true } : {})
  const sb = await accepted
  return { a, b, sa, sb, url }
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex')
}

/** Reads a stream to its end; resolves with everything it carried. */
export function readAll(s: STTStream): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    s.on('data', (c: Buffer) => chunks.push(c))
    s.once('end', () => resolve(Buffer.concat(chunks)))
    s.once('error', reject)
  })
}

/** Writes `data` in `chunk`-byte pieces honouring backpressure, then ends the stream. */
export async function writeAll(s: STTStream, data: Buffer, chunk = 64 * 1024): Promise<void> {
  for (let off = 0; off < data.length; off += chunk) {
    if (!s.write(data.subarray(off, Math.min(off + chunk, data.length)))) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          s.off('error', onErr)
          resolve()
        }
        const onErr = (e: Error): void => {
          s.off('drain', onDrain)
          reject(e)
        }
        s.once('drain', onDrain)
        s.once('error', onErr)
      })
    }
  }
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject)
    s.end(() => resolve())
  })
}

/** The transport tests' polling helpers, with a longer default for whole-node scenarios. */
export const waitFor = (cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> => harnessWaitFor(cond, what, timeoutMs)
export { sleep }

/** Resolves with the error a promise rejects with (throws if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p
  } catch (err) {
    return err as Error & { code?: string }
  }
  throw new Error('expected a rejection, but the promise resolved')
}

/** A datagram/message round trip proving a session carries data both ways. */
export async function pingPong(sa: STTSession, sb: STTSession, tag: string): Promise<void> {
  const gotB = new Promise<Buffer>((r) => sb.once('datagram', r))
  sa.sendDatagram(Buffer.from(`ping ${tag}`))
  const b = await withTimeout(gotB, `datagram to peer (${tag})`)
  if (b.toString() !== `ping ${tag}`) throw new Error(`bad datagram ${b.toString()}`)
  const gotA = new Promise<Buffer>((r) => sa.once('datagram', r))
  sb.sendDatagram(Buffer.from(`pong ${tag}`))
  const a = await withTimeout(gotA, `datagram back (${tag})`)
  if (a.toString() !== `pong ${tag}`) throw new Error(`bad datagram ${a.toString()}`)
}

export function withTimeout<T>(p: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let t: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)
    }),
  ])
}
