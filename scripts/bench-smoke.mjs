#!/usr/bin/env node
// Every benchmark once, in a seconds-long smoke mode, so none of them rots (CI runs this).
// Numbers printed here mean nothing; bench/README.md has the real runs.
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const node = process.execPath
const tmp = mkdtempSync(join(tmpdir(), 'stt-bench-smoke-'))
const runs = [
  ['bench/aead.bench.mjs', '--smoke'],
  ['bench/udp-loopback.mjs', '--smoke'],
  ['bench/run-anchors.mjs', '--smoke'],
  ['bench/workloads/stt.mjs', 'throughput', '--smoke'],
  ['bench/workloads/stt.mjs', 'throughput', '--mode', 'ws', '--smoke'],
  ['bench/workloads/stt.mjs', 'msgrate', '--mode', 'msg', '--smoke'],
  ['bench/workloads/stt.mjs', 'rtt', '--smoke'],
  ['bench/handshake-rate.mjs', '0.5'],
  { args: ['bench/handshake-responder.mjs'], env: { N: '50' } },
  { args: ['bench/hello-flood-cpu.mjs'], env: { N: '256', BACKLOG: '1' } },
  ['bench/scale.mjs', 'all', '--smoke', '--out', join(tmp, 'scale.json')],
  ['bench/report/scale-charts.mjs', join(tmp, 'scale.json'), join(tmp, 'scale-charts')],
  ['bench/ws-modes.mjs'],
  ['bin/stt.js', 'bench', '--smoke', '--json'],
  ['bench/wan.mjs', '--smoke'],
  ['bench/tbf.mjs', '--smoke'],
  ['bench/nat.mjs', '--smoke'],
  ['bench/netem/cost.mjs', '--smoke'],
  ['bench/rpc-think.mjs', '--smoke'],
]
let failed = 0
for (const run of runs) {
  // An entry is its arguments, or { args, env } when it needs a smaller size of its own.
  const { args, env } = Array.isArray(run) ? { args: run, env: {} } : run
  const t0 = Date.now()
  const r = spawnSync(node, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000, env: { ...process.env, MIB: '8', RUNS: '1', CONNECTS: '2', ...env } })
  const ok = r.status === 0
  if (!ok) failed++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${args.join(' ')} (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
  if (!ok) console.log(String(r.stdout).slice(-2000), String(r.stderr).slice(-2000))
}
console.log(`bench smoke: ${runs.length - failed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
