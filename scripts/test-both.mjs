#!/usr/bin/env node
// The README's test command: the whole suite with the native backend (when the addon
// built), then again with STT_NATIVE=0 so the pure-TypeScript fallback can't rot.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const extra = process.argv.slice(2)
const vitest = ['node_modules/vitest/vitest.mjs', 'run', ...extra]
const runs = []
// A source build, or a prebuild for this platform (`npm run prebuilds`; src/native/locate.ts).
const addon =
  existsSync('build/Release/stt_native.node') ||
  (existsSync(`prebuilds/${process.platform}-${process.arch}`) && readdirSync(`prebuilds/${process.platform}-${process.arch}`).some((f) => f.endsWith('.node')))
if (addon) runs.push({ label: 'native backend', env: { STT_NATIVE: '1' } })
else console.log('test: the native addon is not built; running the pure-TypeScript backend only')
runs.push({ label: 'pure-TypeScript backend (STT_NATIVE=0)', env: { STT_NATIVE: '0' } })

let failed = false
// Lint first (eslint.config.js: the layering rules of docs/ARCHITECTURE.md). A violation fails
// the run, but the tests still run so one report shows everything.
console.log('=== lint (eslint) ===')
const lint = spawnSync(process.execPath, ['node_modules/eslint/bin/eslint.js', '--max-warnings', '0', '.'], { stdio: 'inherit' })
if (lint.status !== 0) {
  failed = true
  console.log('lint: FAILED (see above)')
} else console.log('lint: clean')
const totals = { passed: 0, failed: 0, skipped: 0 }
const dir = mkdtempSync(join(tmpdir(), 'stt-test-'))
for (const [i, r] of runs.entries()) {
  console.log(`\n=== test run: ${r.label} ===`)
  const out = join(dir, `run${i}.json`)
  const args = [...vitest, '--reporter=default', '--reporter=json', `--outputFile.json=${out}`]
  const res = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, ...r.env } })
  if (res.status !== 0) failed = true
  try {
    const j = JSON.parse(readFileSync(out, 'utf8'))
    totals.passed += j.numPassedTests
    totals.failed += j.numFailedTests
    totals.skipped += j.numPendingTests + (j.numTodoTests ?? 0)
  } catch {
    failed = true // no report: the run itself broke
  }
}
rmSync(dir, { recursive: true, force: true })
// One plain closing line over both runs (native and pure TypeScript).
console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped${lint.status !== 0 ? '; lint FAILED' : ''}`)
process.exit(failed ? 1 : 0)
