/**
 * `stt diagnose --relay` behind real kernel NATs (test/helpers/nat-topology.ts): the CLI runs
 * inside a member's private network, behind a cone (`masquerade`) or a symmetric
 * (`masquerade random,fully-random`) NAT, against two relays of the group at two public
 * addresses (10.240.0.1 and 10.240.0.2, port 7000), and reports the NAT's mapping behaviour.
 * Runs the built CLI and library (dist/); under CI (STT_REQUIRE_NETNS=1) a missing
 * prerequisite fails instead of skipping.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ensureDistBuilt, netnsSkipReason, nftSkipReason, ROOT } from '../helpers/netns.js'
import { conntrackSkipReason, NatTopology, RELAY_ADDR, type NatKind } from '../helpers/nat-topology.js'

const CHILD = join(ROOT, 'test', 'helpers', 'nat-child.mjs')
const STT = join(ROOT, 'bin', 'stt.js')
const RELAY2_ADDR = '10.240.0.2'
const skip = netnsSkipReason() ?? nftSkipReason() ?? conntrackSkipReason()
const required = process.env.STT_REQUIRE_NETNS === '1'

const topologies: NatTopology[] = []
afterEach(() => {
  for (const t of topologies.splice(0)) t.destroy()
})
const dir = mkdtempSync(join(tmpdir(), 'stt-nat-diag-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Report {
  mapping: string
  exitCode: number
  checks: Array<{ check: string; level: string; message: string; data: { portPreserving: boolean; reflexive: Array<{ host: string; port: number; localPort: number }> } }>
}

/** One member network of each kind, two relays in the public namespace; the seed file. */
async function setup(kinds: NatKind[]) {
  const topo = new NatTopology(kinds)
  topologies.push(topo)
  const seed = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')
  const file = join(dir, `group-${topologies.length}-${Date.now()}.key`)
  writeFileSync(file, seed, { mode: 0o600 })
  // A second public address for the second relay.
  const r = spawnSync('ip', ['-n', topo.pub, 'addr', 'add', `${RELAY2_ADDR}/32`, 'dev', 'lo'], { encoding: 'utf8' })
  expect(r.status, r.stderr).toBe(0)
  for (const addr of [RELAY_ADDR, RELAY2_ADDR]) {
    const relay = topo.spawnNode(topo.pub, CHILD, ['relay', addr, 'true'], { STT_SEED: seed })
    await relay.next((m) => m.event === 'ready', 30_000, `relay ${addr} ready`)
  }
  return { topo, file }
}

/** Runs `stt diagnose --relay ... --json` in member i's private network. */
async function diagnose(topo: NatTopology, i: number, file: string, relays: string[]): Promise<Report> {
  const args = ['diagnose', ...relays.flatMap((r) => ['--relay', r]), '--seed-file', file, '--json', '--timeout', '5000']
  const child = topo.spawnNode(topo.hosts[i]!, STT, args)
  const out = await child.next((m) => 'mapping' in m, 60_000, 'the diagnose report')
  expect(await child.exited).toBe(0)
  return out as unknown as Report
}

const both = [`udp://${RELAY_ADDR}:7000`, `udp://${RELAY2_ADDR}:7000`]

describe.skipIf(skip !== null && !required)(`stt diagnose --relay behind kernel NATs${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    if (skip) throw new Error(`NAT tests required (STT_REQUIRE_NETNS=1) but cannot run: ${skip}`)
    await ensureDistBuilt()
  }, 600_000)

  it('cone NAT: endpoint-independent with two relay addresses; port-preserving with one', async () => {
    const { topo, file } = await setup(['cone'])
    const two = await diagnose(topo, 0, file, both)
    console.log(`[nat diagnose] cone, two relays: ${two.checks[0]!.message}`)
    expect(two.exitCode).toBe(0)
    expect(two.mapping).toBe('endpoint-independent')
    expect(two.checks[0]!.level).toBe('OK')
    const seen = two.checks[0]!.data.reflexive
    expect(seen.map((s) => s.host)).toEqual(['10.240.1.2', '10.240.1.2'])
    expect(seen[0]!.port).toBe(seen[1]!.port)
    const one = await diagnose(topo, 0, file, both.slice(0, 1))
    console.log(`[nat diagnose] cone, one relay: ${one.checks[0]!.message}`)
    expect(one.mapping).toBe('unknown')
    expect(one.checks[0]!.data.portPreserving).toBe(true)
    expect(one.checks[0]!.message).toMatch(/keeps source ports/)
  }, 120_000)

  it('symmetric NAT: endpoint-dependent with two relay addresses; ports rewritten with one', async () => {
    const { topo, file } = await setup(['symmetric'])
    const two = await diagnose(topo, 0, file, both)
    console.log(`[nat diagnose] symmetric, two relays: ${two.checks[0]!.message}`)
    expect(two.exitCode).toBe(0)
    expect(two.mapping).toBe('endpoint-dependent')
    expect(two.checks[0]!.level).toBe('WARN')
    const seen = two.checks[0]!.data.reflexive
    expect(seen[0]!.port).not.toBe(seen[1]!.port)
    const one = await diagnose(topo, 0, file, both.slice(0, 1))
    console.log(`[nat diagnose] symmetric, one relay: ${one.checks[0]!.message}`)
    expect(one.mapping).toBe('unknown')
    // fully-random: a random port, kept only by a 1-in-~28,000 chance (twice over: both local ports).
    expect(one.checks[0]!.data.portPreserving).toBe(false)
    expect(one.checks[0]!.message).toMatch(/rewrites source ports/)
  }, 120_000)
})
