import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { ensureBuilt, listen, stt, tempDir, type Listener } from './cli-helpers.js'

let dir: string
let key: string
let node: Listener

beforeAll(async () => {
  await ensureBuilt()
  dir = tempDir()
  key = join(dir, 'group.key')
  await stt(['keygen', '--out', key, '-q'])
  node = await listen(['--seed-file', key])
}, 180_000)

afterAll(async () => {
  await node?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

async function closedPort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as { port: number }).port
  await new Promise((r) => srv.close(r))
  return port
}

describe('stt diagnose', () => {
  it('against a live node with the seed: every check OK, exit 0', async () => {
    const r = await stt(['diagnose', `127.0.0.1:${node.port}`, '--seed-file', key, '--count', '50'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^OK\s+UDP\s+STT node "stt-listen" answers/m)
    expect(r.stdout).toMatch(/^OK\s+WebSocket\s+upgrade on ws:\/\/127\.0\.0\.1:\d+\/stt answered 101/m)
    expect(r.stdout).toMatch(/^OK\s+RTT\s+p50 .* p99 .* over 50 ping-pongs/m)
    expect(r.stdout).toMatch(/^OK\s+MTU\s+datagrams up to the session limit of \d+ bytes pass/m)
    expect(r.stdout).toMatch(/^(OK|WARN)\s+Loss\s+\d+ of 50 probe datagrams lost/m)
    expect(r.stdout).toMatch(/^OK\s+Auto\s+auto:\/\/ picks udp/m)
    expect(r.stdout).toMatch(/^verdict: REACHABLE$/m)
  })

  it('without a seed: "an STT node answers here", exit 0; --json parses', async () => {
    const r = await stt(['diagnose', `127.0.0.1:${node.port}`, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const j = JSON.parse(r.stdout) as { reachable: boolean; checks: Array<{ check: string; level: string; message: string }> }
    expect(j.reachable).toBe(true)
    expect(j.checks.find((c) => c.check === 'UDP')).toMatchObject({ level: 'OK', message: expect.stringMatching(/an STT node answers/) })
  })

  it('against a closed port: FAIL lines with advice, exit 5', async () => {
    const port = await closedPort()
    const r = await stt(['diagnose', `127.0.0.1:${port}`, '--timeout', '1000'])
    expect(r.code).toBe(5)
    expect(r.stdout).toMatch(/^FAIL\s+UDP\s+no answer/m)
    expect(r.stdout).toMatch(/^FAIL\s+WebSocket\s+.*ECONNREFUSED/m)
    expect(r.stdout).toMatch(/-> /)
    expect(r.stdout).toMatch(/^verdict: NOT REACHABLE/m)
  })

  it('with a different seed: reachable but rejected, exit 4', async () => {
    const other = join(dir, 'other.key')
    await stt(['keygen', '--out', other, '-q'])
    const r = await stt(['diagnose', `127.0.0.1:${node.port}`, '--seed-file', other])
    expect(r.code).toBe(4)
    expect(r.stdout).toMatch(/rejects our seed/)
  })
})

describe('stt bench', () => {
  it('--json --smoke prints one JSON object with every field', async () => {
    const r = await stt(['bench', '--json', '--smoke'], { timeout: 90_000 })
    expect(r.code, r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j).toMatchObject({ tool: 'stt bench', options: { smoke: true, transports: ['udp', 'websocket'] } })
    for (const k of ['node', 'os', 'cpu', 'cpus', 'backend']) expect(j.environment).toHaveProperty(k)
    expect(j.results).toHaveLength(6)
    for (const x of j.results) {
      for (const k of ['id', 'transport', 'size', 'backend', 'bytes', 'secs', 'gbps', 'mib_per_s', 'msgs_per_s', 'tx_cpu_s_per_gb', 'rx_cpu_s_per_gb', 'retransmit_pct']) {
        expect(x, `${x.id}.${k}`).toHaveProperty(k)
      }
      expect(x.bytes).toBeGreaterThanOrEqual(2 << 20)
      expect(x.gbps).toBeGreaterThan(0)
    }
    expect(j.rtt).toHaveLength(2)
    for (const x of j.rtt) for (const k of ['p50_us', 'p90_us', 'p99_us', 'mean_us', 'n']) expect(x[k], `${x.id}.${k}`).toBeGreaterThan(0)
    expect(j.errors).toEqual([])
    expect(j).toHaveProperty('anchors')
    expect(j).toHaveProperty('ratios')
  }, 100_000)

  it('--backend js runs the children on the pure-JavaScript backend', async () => {
    const r = await stt(['bench', '--json', '--smoke', '--transport', 'udp', '--size', '1200', '--backend', 'js'], { timeout: 60_000 })
    expect(r.code, r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.results[0].backend).toBe('js')
  }, 70_000)

  it('--wan --smoke runs stt-node and udx + secret-stream through the C emulator and measures its ceiling', async () => {
    const r = await stt(['bench', '--wan', '--smoke', '--json'], { timeout: 150_000 })
    expect(r.code, r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.mode).toBe('smoke')
    expect(j.controllers).toContain('cubic')
    expect(j.ceiling.median).toBeGreaterThan(0)
    expect(j.cells.map((c: { scenario: { id: string } }) => c.scenario.id)).toEqual(['rtt2-loss0-jit0', 'rtt20-loss2-jit1'])
    // smoke: a 1 MiB warm-up over plain loopback before each measured 1 MiB
    expect(j.run.warm).toBe(1048576)
    for (const c of j.cells) {
      const ids = c.impls.map((i: { id: string }) => i.id)
      expect(ids).toContain('udx')
      expect(ids).toContain('stt-cubic')
      for (const i of c.impls) {
        expect(i.errors, `${c.scenario.id} ${i.id}`).toEqual([])
        expect(i.value.median, `${c.scenario.id} ${i.id}`).toBeGreaterThan(0)
        // every datagram of the run passed through the emulator
        expect(i.runs[0].emu_fwd_pkts).toBeGreaterThan(0)
        // ... and only the measured transfer did: the warm-up's ~750 packets went round it
        expect(i.runs[0].emu_fwd_pkts).toBeLessThan(j.run.bytes / 1000)
      }
    }
    expect(j.analysis.length).toBeGreaterThan(0)
  }, 160_000)
})
