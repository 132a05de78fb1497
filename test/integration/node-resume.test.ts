/**
 * Resumption across a process restart (issue 12, part 2), real sockets and a real process:
 * the client process is killed with SIGKILL after it got its resumption token; a new process
 * with the same nodeSeed resumes with the token and gets the same session id and peer; the
 * server's stale session gives way to it. The token is refused for another node identity.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { STTNode, generateSeed, type STTSession } from '../../src/index.js'
import { ensureDistBuilt, ROOT } from '../helpers/netns.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})
beforeAll(async () => {
  await ensureDistBuilt()
}, 300_000)

describe('resumption after the client process is killed', () => {
  it('SIGKILL, restart with the same nodeSeed and the token: same session id, same peer, 1-RTT', { timeout: 60_000 }, async () => {
    const seed = generateSeed()
    const nodeSeed = randomBytes(32).toString('hex')
    const server = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, name: 'server' })
    cleanup.push(() => server.stop())
    const { port } = await server.start()
    const sessions: STTSession[] = []
    server.on('session', (s: STTSession) => sessions.push(s))
    const child = spawn(process.execPath, [join(ROOT, 'test', 'helpers', 'resume-child.mjs')], {
      env: { ...process.env, STT_SEED: Buffer.from(seed).toString('hex'), STT_NODE_SEED: nodeSeed, STT_TARGET: `udp://127.0.0.1:${port}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    cleanup.push(() => void child.kill('SIGKILL'))
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve)
      child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing its token`)))
    })
    const { id, token } = JSON.parse(line) as { id: string; token: string }
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    expect(sessions).toHaveLength(1)
    const stale = sessions[0]!
    expect(stale.id).toBe(id)

    const client = new STTNode({ sharedSeed: seed, nodeSeed, host: '127.0.0.1', port: 0, name: 'client-again' })
    cleanup.push(() => client.stop())
    await client.start()
    const accepted = new Promise<STTSession>((r) => server.once('session', r))
    const resumed = await client.connect(`udp://127.0.0.1:${port}`, { resume: Buffer.from(token, 'hex'), requireResume: true })
    expect(resumed.id).toBe(id)
    expect(resumed.resumed).toBe(true)
    expect(stale.resumed).toBe(false)
    expect(resumed.peerNodeId.equals(server.nodeId)).toBe(true)
    const ss = await accepted
    expect(ss.id).toBe(id)
    expect(ss.resumed).toBe(true)
    expect(ss.peerNodeId.equals(client.nodeId)).toBe(true)
    // The stale session (the killed process's) was replaced, not kept alongside.
    await expect.poll(() => stale.closed, { timeout: 5000 }).toBe(true)
    const msg = new Promise<Buffer>((r) => ss.once('message', (m: { data: Buffer }) => r(m.data)))
    await resumed.send(Buffer.from('after restart'))
    expect((await msg).toString()).toBe('after restart')
    expect(client.getTransportStats().handshakes.handshakesCompleted).toBe(1)
    // A new token comes for the next restart; the used one is refused now.
    await new Promise<void>((r) => (resumed.resumptionToken ? r() : resumed.once('resumption-token', () => r())))
    expect(resumed.resumptionToken!.toString('hex')).not.toBe(token)
    await resumed.close()
    await expect(client.connect(`udp://127.0.0.1:${port}`, { resume: Buffer.from(token, 'hex'), requireResume: true })).rejects.toMatchObject({ code: 'STT_RESUME_REJECTED' })
  })

  it('a token used by a node with another nodeSeed is refused (STT_RESUME_REJECTED), and falls back to a full handshake without requireResume', { timeout: 30_000 }, async () => {
    const seed = generateSeed()
    const server = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0 })
    const a = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0 })
    const b = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0 })
    cleanup.push(() => server.stop(), () => a.stop(), () => b.stop())
    const { port } = await server.start()
    await a.start()
    await b.start()
    const sa = await a.connect(`udp://127.0.0.1:${port}`)
    const token = await new Promise<Buffer>((r) => (sa.resumptionToken ? r(sa.resumptionToken) : sa.once('resumption-token', r)))
    await expect(b.connect(`udp://127.0.0.1:${port}`, { resume: token, requireResume: true })).rejects.toMatchObject({ code: 'STT_RESUME_REJECTED' })
    const sb = await b.connect(`udp://127.0.0.1:${port}`, { resume: token })
    expect(sb.id).not.toBe(sa.id)
    expect([sa.resumed, sb.resumed]).toEqual([false, false]) // sb: the fallback full handshake
    await expect(b.connect(`udp://127.0.0.1:${port}`, { resume: 'x' as never })).rejects.toMatchObject({ code: 'STT_CONFIG' })
  })
})
