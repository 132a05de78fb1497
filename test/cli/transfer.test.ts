import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { ensureBuilt, listen, makeRandomFile, sha256File, stt, tempDir, type Listener } from './cli-helpers.js'

const MiB = 1 << 20
let dir: string
let key: string
let otherKey: string
let rx: Listener
let out: string

beforeAll(async () => {
  await ensureBuilt()
  dir = tempDir()
  key = join(dir, 'group.key')
  otherKey = join(dir, 'other.key')
  await stt(['keygen', '--out', key, '-q'])
  await stt(['keygen', '--out', otherKey, '-q'])
  out = join(dir, 'received')
  writeFileSync(join(dir, 'empty.bin'), Buffer.alloc(0))
  writeFileSync(join(dir, 'one.bin'), Buffer.from([0x42]))
  await makeRandomFile(join(dir, 'ten.bin'), 10 * MiB)
  rx = await listen(['--seed-file', key, '--out', out, '--transport', 'udp,websocket', '--name', 'receiver'])
}, 180_000)

afterAll(async () => {
  await rx?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

function received(name: string): string {
  return join(out, name)
}

describe('stt send -> stt listen --out', () => {
  it.each([
    ['udp', () => `udp://127.0.0.1:${rx.port}`],
    ['websocket', () => `ws://127.0.0.1:${rx.port}/stt`],
  ])('0 B, 1 B and 10 MiB over %s, hashes equal, exit 0', async (transport, url) => {
    const sub = join(dir, transport)
    rmSync(sub, { recursive: true, force: true })
    const files = ['empty.bin', 'one.bin', 'ten.bin']
    const before = new Set(readdirSync(out, { withFileTypes: false }).map(String))
    const r = await stt(['send', ...files.map((f) => join(dir, f)), '--to', url(), '--seed-file', key], { timeout: 90_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(new RegExp(`connected to "receiver" .* via ${transport}`))
    const lines = r.stdout.trim().split('\n')
    expect(lines).toHaveLength(3)
    for (const [i, f] of files.entries()) {
      const want = await sha256File(join(dir, f))
      expect(lines[i]).toMatch(new RegExp(`^sent ${f} ${statSync(join(dir, f)).size} sha256 ${want} confirmed`))
      // the receiver's copy (possibly "name (n).bin" when an earlier test saved one)
      const saved = / \(saved as (.*)\)$/.exec(lines[i]!)?.[1] ?? f
      expect(before.has(saved)).toBe(false)
      expect(await sha256File(received(saved))).toBe(want)
    }
    await rx.waitFor(new RegExp(`received "${files[2]!.replace('.', '\\.')}.*verified`))
    // no temporary files left behind
    expect(readdirSync(out).filter((f) => f.endsWith('.part'))).toEqual([])
  }, 120_000)

  it('200 MiB over UDP, hash verified by the receiver', async () => {
    const big = join(dir, 'big.bin')
    await makeRandomFile(big, 200 * MiB)
    const want = await sha256File(big)
    const r = await stt(['send', big, '--to', `udp://127.0.0.1:${rx.port}`, '--seed-file', key], { timeout: 110_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`^sent big.bin ${200 * MiB} sha256 ${want} confirmed`))
    expect(await sha256File(received('big.bin'))).toBe(want)
    console.log(`200 MiB over UDP: stt send took ${(r.ms / 1000).toFixed(1)} s (incl. hashing and process start); ${/big.bin: .*/.exec(r.stderr)?.[0]}`)
    rmSync(big)
    rmSync(received('big.bin'))
  }, 120_000)

  it('the receiver sanitises names: a "../" name is saved inside --out only', async () => {
    const { STTNode } = await import('../../src/index.js')
    const { encodeHeader } = await import('../../src/cli/transfer.js')
    const node = new STTNode({ sharedSeed: readFileSync(key, 'utf8').trim(), host: '127.0.0.1', port: 0 })
    await node.start()
    try {
      const s = await node.connect(`udp://127.0.0.1:${rx.port}`)
      const st = s.openStream()
      const body = Buffer.from('gotcha')
      const answer = new Promise<string>((resolve) => {
        let got = ''
        st.on('data', (d: Buffer) => (got += d.toString()))
        st.on('end', () => resolve(got))
      })
      st.write(encodeHeader({ name: '../../escape-attempt.txt', size: body.length, sha256: createHash('sha256').update(body).digest('hex') }))
      st.end(body)
      expect(await answer).toMatch(/^OK [0-9a-f]{64} escape-attempt\.txt\n$/)
      expect(readFileSync(received('escape-attempt.txt'), 'utf8')).toBe('gotcha')
      expect(readdirSync(dir)).not.toContain('escape-attempt.txt')
    } finally {
      await node.stop()
    }
  })

  it('wrong seed: exit 4 with a clear message', async () => {
    const r = await stt(['send', join(dir, 'one.bin'), '--to', `udp://127.0.0.1:${rx.port}`, '--seed-file', otherKey])
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/authentication failed: the peer uses a different shared seed/)
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it('unreachable host: exit 5 with a clear message', async () => {
    // a UDP port with nothing behind it (a TCP port we hold is free on UDP as well, very likely)
    const srv = createServer()
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    const port = (srv.address() as { port: number }).port
    srv.close()
    const r = await stt(['send', join(dir, 'one.bin'), '--to', `udp://127.0.0.1:${port}`, '--seed-file', key, '--timeout', '1000'])
    expect(r.code).toBe(5)
    expect(r.stderr).toMatch(/no answer from the peer/)
    const ws = await stt(['send', join(dir, 'one.bin'), '--to', `ws://127.0.0.1:${port}/stt`, '--seed-file', key, '--timeout', '2000'])
    expect(ws.code).toBe(5)
    expect(ws.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('a listener without --out refuses files: exit 6, says why', async () => {
    const plain = await listen(['--seed-file', key, '--transport', 'udp'])
    try {
      const r = await stt(['send', join(dir, 'ten.bin'), '--to', `udp://127.0.0.1:${plain.port}`, '--seed-file', key])
      expect(r.code).toBe(6)
      expect(r.stderr).toMatch(/does not accept files/)
    } finally {
      expect(await plain.stop()).toBe(0)
    }
  })

  it('port in use: exit 3', async () => {
    const r = await stt(['listen', '--port', String(rx.port), '--host', '127.0.0.1', '--transport', 'udp', '--seed-file', key])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/in use/)
  })

  it('listen logs sessions and stops on SIGTERM with exit 0, closing sessions with a reason', async () => {
    const l = await listen(['--seed-file', key, '--echo', '--transport', 'udp'])
    expect(l.urls[0]).toMatch(/^udp:\/\/127\.0\.0\.1:\d+$/)
    // a diagnose session stays open long enough to see it logged
    const r = await stt(['diagnose', `127.0.0.1:${l.port}`, '--seed-file', key, '--count', '20'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    await l.waitFor(/^session open [0-9a-f]{16} peer="stt-diagnose" from udp:\/\/127\.0\.0\.1:\d+ via udp$/)
    await l.waitFor(/^session closed [0-9a-f]{16} peer="stt-diagnose" reason="diagnose done" \(by peer\)/)
    expect(await l.stop('SIGTERM')).toBe(0)
    expect(l.stderr()).toMatch(/SIGTERM: closing \d+ sessions? and stopping/)
  })
})
