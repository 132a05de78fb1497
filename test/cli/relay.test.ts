/** `stt relay`: a real relay process; two in-process members connect by node id through it. */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { beforeAll, describe, expect, it } from 'vitest'
import { STTNode, generateSeed } from '../../src/index.js'
import { ensureBuilt, ROOT, stt, tempDir } from './cli-helpers.js'

beforeAll(async () => {
  await ensureBuilt()
}, 600_000)

describe('stt relay', () => {
  it('--help documents the limits', async () => {
    const r = await stt(['relay', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/--max-sessions-per-member/)
    expect(r.stdout).toMatch(/--channel-pending-timeout/)
    expect(r.stdout).toMatch(/--websocket/)
  })

  it('relays members of the group: connect by node id, byte-exact message', async () => {
    const seed = generateSeed()
    const file = join(tempDir(), 'group.key')
    writeFileSync(file, Buffer.from(seed).toString('hex'), { mode: 0o600 })
    const proc = spawn(process.execPath, [join(ROOT, 'bin', 'stt.js'), 'relay', '--port', '0', '--host', '127.0.0.1', '--seed-file', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    const nodes: STTNode[] = []
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: proc.stdout! }).on('line', (l) => l.startsWith('relaying ') && resolve(l))
        proc.on('exit', (c) => reject(new Error(`stt relay exited ${c}`)))
      })
      const url = line.slice('relaying '.length)
      expect(url).toMatch(/^udp:\/\/127\.0\.0\.1:\d+$/)
      for (const name of ['a', 'b']) {
        const n = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, rendezvous: url, name })
        nodes.push(n)
        await n.start()
        await n.register(url)
      }
      const [a, b] = nodes as [STTNode, STTNode]
      const got = new Promise<Buffer>((r) => b.once('session', (s) => s.once('message', (m: { data: Buffer }) => r(m.data))))
      const s = await a.connect(`stt://${b.nodeId.toString('hex')}`)
      await s.send(Buffer.from('through the relay'))
      expect((await got).toString()).toBe('through the relay')
    } finally {
      await Promise.all(nodes.map((n) => n.stop()))
      proc.kill('SIGTERM')
    }
  }, 60_000)

  it('--channel-pending-timeout: an introduction the peer never answers is dropped, the dialler gets STT_RELAY_REFUSED', async () => {
    const seed = generateSeed()
    const file = join(tempDir(), 'group.key')
    writeFileSync(file, Buffer.from(seed).toString('hex'), { mode: 0o600 })
    const proc = spawn(process.execPath, [join(ROOT, 'bin', 'stt.js'), 'relay', '--port', '0', '--host', '127.0.0.1', '--channel-pending-timeout', '400', '--seed-file', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    const nodes: STTNode[] = []
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: proc.stdout! }).on('line', (l) => l.startsWith('relaying ') && resolve(l.slice('relaying '.length)))
        proc.on('exit', (c) => reject(new Error(`stt relay exited ${c}`)))
      })
      for (const name of ['a', 'b']) {
        const n = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, name })
        nodes.push(n)
        await n.start()
        await n.register(url)
      }
      const [a, b] = nodes as [STTNode, STTNode]
      // B is registered but takes no call: the relay drops the channel after 400 ms, long
      // before the 20 s handshake timeout of the dial.
      b.disableAcceptConnections()
      const err = await a.connect(`stt://${b.nodeId.toString('hex')}@${url}`, { timeout: 20_000 }).then(
        () => null,
        (e: Error & { code?: string }) => e,
      )
      expect(err).toMatchObject({ code: 'STT_RELAY_REFUSED', message: /closed the channel/ })
    } finally {
      await Promise.all(nodes.map((n) => n.stop()))
      proc.kill('SIGTERM')
    }
  }, 60_000)

  it('rejects a --channel-pending-timeout out of range (exit 2)', async () => {
    const r = await stt(['relay', '--channel-pending-timeout', '5', '--seed-file', '/nonexistent'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--channel-pending-timeout/)
  })

  it('--websocket: a member registered over ws:// is relayed to one on UDP', async () => {
    const seed = generateSeed()
    const file = join(tempDir(), 'group.key')
    writeFileSync(file, Buffer.from(seed).toString('hex'), { mode: 0o600 })
    const proc = spawn(process.execPath, [join(ROOT, 'bin', 'stt.js'), 'relay', '--port', '0', '--host', '127.0.0.1', '--websocket', '--seed-file', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    const nodes: STTNode[] = []
    try {
      const lines = await new Promise<string[]>((resolve, reject) => {
        const got: string[] = []
        createInterface({ input: proc.stdout! }).on('line', (l) => {
          if (l.startsWith('relaying ')) got.push(l.slice('relaying '.length))
          if (got.length === 2) resolve(got)
        })
        proc.on('exit', (c) => reject(new Error(`stt relay exited ${c}`)))
      })
      const [udpUrl, wsUrl] = lines as [string, string]
      expect(udpUrl).toMatch(/^udp:\/\/127\.0\.0\.1:\d+$/)
      expect(wsUrl).toBe(`ws://127.0.0.1:${udpUrl.split(':').pop()}/stt`)
      const a = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, transport: 'websocket', name: 'a' })
      const b = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, name: 'b' })
      nodes.push(a, b)
      await a.start()
      await b.start()
      await a.register(wsUrl)
      await b.register(udpUrl)
      const got = new Promise<Buffer>((r) => a.once('session', (s) => s.once('message', (m: { data: Buffer }) => r(m.data))))
      const s = await b.connect(`stt://${a.nodeId.toString('hex')}@${udpUrl}`)
      expect(s.path).toBe('relayed')
      await s.send(Buffer.from('udp to websocket through the relay'))
      expect((await got).toString()).toBe('udp to websocket through the relay')
    } finally {
      await Promise.all(nodes.map((n) => n.stop()))
      proc.kill('SIGTERM')
    }
  }, 60_000)
})
