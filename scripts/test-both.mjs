#!/usr/bin/env node
// The README's test command: the whole suite with the native backend (when the addon
// built), then again with STT_NATIVE=0 so the pure-TypeScript fallback can't rot.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const extra = process.argv.slice(2)
const vitest = ['node_modules/vitest/vitest.mjs', 'run', ...extra]
const runs = []
const addon = existsSync('build/Release/stt_native.node')
if (addon) runs.push({ label: 'native backend', env: { STT_NATIVE: '1' } })
else console.log('test: the native addon is not built; running the pure-TypeScript backend only')
runs.push({ label: 'pure-TypeScript backend (STT_NATIVE=0)', env: { STT_NATIVE: '0' } })

let failed = false
for (const r of runs) {
  console.log(`\n=== test run: ${r.label} ===`)
  const res = spawnSync(process.execPath, vitest, { stdio: 'inherit', env: { ...process.env, ...r.env } })
  if (res.status !== 0) failed = true
}
process.exit(failed ? 1 : 0)
