/** `stt diagnose --relay`: the NAT check through a real relay on the loopback (no NAT there), and its usage errors. */
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { STTNode } from '../../src/index.js'
import { ensureBuilt, stt, tempDir } from './cli-helpers.js'

let dir: string
let key: string
let relay: STTNode
let url: string

beforeAll(async () => {
  await ensureBuilt()
  dir = tempDir()
  key = join(dir, 'group.key')
  await stt(['keygen', '--out', key, '-q'])
  relay = new STTNode({ sharedSeed: Buffer.from(readFileSync(key, 'utf8').trim(), 'hex'), host: '127.0.0.1', port: 0, relay: true })
  url = `udp://127.0.0.1:${(await relay.start()).port}`
}, 180_000)

afterAll(async () => {
  await relay?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('stt diagnose --relay', () => {
  it('alone: one NAT line and a verdict, exit 0 (loopback: no NAT)', async () => {
    const r = await stt(['diagnose', '--relay', url, '--seed-file', key])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^OK\s+NAT\s+no NAT between here and the relay/m)
    expect(r.stdout).toMatch(/^verdict: NAT mapping: none$/m)
  })

  it('--json: the mapping and every reflexive address', async () => {
    const r = await stt(['diagnose', '--relay', url, '--relay', url.replace('udp://', ''), '--seed-file', key, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const j = JSON.parse(r.stdout) as { mapping: string; checks: Array<{ check: string; data: { reflexive: unknown[] } }> }
    expect(j.mapping).toBe('none')
    expect(j.checks[0]!.check).toBe('NAT')
    expect(j.checks[0]!.data.reflexive).toHaveLength(2)
  })

  it('usage: --relay needs --seed-file; at most two; a URL', async () => {
    expect((await stt(['diagnose', '--relay', url])).code).toBe(2)
    expect((await stt(['diagnose', '--relay', url, '--relay', url, '--relay', url, '--seed-file', key])).code).toBe(2)
    expect((await stt(['diagnose', '--relay', 'nohost', '--seed-file', key])).code).toBe(2)
    expect((await stt(['diagnose'])).code).toBe(2)
  })

  it('a relay of another group: exit 4', async () => {
    const other = join(dir, 'other.key')
    await stt(['keygen', '--out', other, '-q'])
    const r = await stt(['diagnose', '--relay', url, '--seed-file', other, '--timeout', '2000'])
    expect(r.code, r.stdout + r.stderr).toBe(4)
    expect(r.stdout).toMatch(/^FAIL\s+NAT\s+cannot register/m)
  })
})
