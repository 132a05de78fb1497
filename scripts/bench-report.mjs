#!/usr/bin/env node
// Benchmark report: runs stt-node next to its anchors (interleaved, same run) and renders SVG
// charts + results.json + README.md.
//
//   npm run bench:report                       # = npm run build && node scripts/bench-report.mjs
//   node scripts/bench-report.mjs [--repeat 3] [--seconds 3] [--wait-idle 5] [--out DIR]
//   node scripts/bench-report.mjs --smoke      # seconds-long; writes to a temp dir (CI)
//   node scripts/bench-report.mjs --from docs/benchmarks/results.json   # re-render only, no runs
//
// Full runs write to docs/benchmarks/ (committed); --smoke writes to a fresh temp directory
// unless --out is given, so it never overwrites the committed report. A full run exits with 1 if
// any entry produced no data at all; --smoke only warns. The charts are rendered either way.
// Needs `npm run build` first: the stt workload imports ../dist.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve, relative } from 'node:path'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { runSet, environment } from '../bench/lib/runset.mjs'
import { parseArgs } from '../bench/lib/args.mjs'
import { renderCharts } from '../bench/report/charts.mjs'
import { writeReadme } from '../bench/report/readme.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const KiB = 1024
const NATIVE = { STT_NATIVE: '1' }
const JS = { STT_NATIVE: '0' }
const SIZES = [1200, 16 * KiB, 64 * KiB, 1024 * KiB]

// Throughput series: [series label, id prefix, workload, opts]
const TPUT = [
  ['stt native (UDP)', 'stt-native', 'stt', { mode: 'udp', env: NATIVE }],
  ['stt js (UDP)', 'stt-js', 'stt', { mode: 'udp', env: JS }],
  ['stt WebSocket (bare)', 'stt-ws', 'stt', { mode: 'ws', env: NATIVE }],
  ['udx-native + secret-stream', 'udx-secret', 'udx', { mode: 'secret' }],
  ['raw ws', 'ws', 'ws', {}],
]
// RTT series (64-byte pings), each unpinned and pinned to vCPU 0.
const RTT = [
  ['stt native stream', 'stt-native', 'stt', { mode: 'udp', env: NATIVE }],
  ['stt native datagram', 'stt-native-datagram', 'stt', { mode: 'datagram', env: NATIVE }],
  ['stt js stream', 'stt-js', 'stt', { mode: 'udp', env: JS }],
  ['udx-native + secret-stream', 'udx-secret', 'udx', { mode: 'secret' }],
  ['raw ws', 'ws', 'ws', {}],
  ['raw dgram', 'dgram', 'dgram', {}],
]

function buildEntries() {
  const entries = []
  for (const size of SIZES) {
    for (const [series, prefix, workload, opts] of TPUT) {
      entries.push({ id: `${prefix}/throughput/${size}`, series, chart: 'throughput', workload, kind: 'throughput', opts: { ...opts, size } })
    }
  }
  for (const pinned of [false, true]) {
    for (const [series, prefix, workload, opts] of RTT) {
      entries.push({
        id: `${prefix}/rtt/64${pinned ? '/pinned' : ''}`, series, chart: 'rtt', pinned, workload, kind: 'rtt',
        opts: { ...opts, size: 64, ...(pinned ? { pin: '0' } : {}) }
      })
    }
  }
  return entries
}

const USAGE = `usage: node scripts/bench-report.mjs [--smoke] [--repeat N] [--seconds S] [--wait-idle S] [--out DIR]
       node scripts/bench-report.mjs --from results.json [--out DIR]   (re-render charts + README only)
  defaults: --repeat 3 --seconds 3 --wait-idle 5 --out docs/benchmarks (smoke: --repeat 1, a temp dir)`

function git(...args) {
  try { return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() } catch { return null }
}

// Which backend a process started with STT_NATIVE=1 really gets (the addon may be missing).
function probeBackend(env) {
  try {
    return execFileSync(process.execPath, ['--input-type=module', '-e', "import('./dist/index.js').then((m) => console.log(m.backend))"],
      { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch { return 'unavailable' }
}

async function main() {
  const argv = process.argv.slice(2)
  const args = parseArgs(argv)
  if (args.help) return console.log(USAGE)
  if (args.from) return rerender(resolve(args.from), args.out)
  const smoke = !!args.smoke
  const repeat = args.repeat ?? (smoke ? 1 : 3)
  const cli = { smoke, 'wait-idle': args['wait-idle'] ?? (smoke ? 0 : 5) }
  if (!smoke || args.seconds !== undefined) cli.seconds = args.seconds ?? 3
  const outDir = args.out ? resolve(args.out) : smoke ? mkdtempSync(join(tmpdir(), 'stt-bench-report-')) : join(ROOT, 'docs', 'benchmarks')
  mkdirSync(outDir, { recursive: true })

  const env = environment()
  const meta = {
    env,
    smoke,
    repeat,
    seconds: cli.seconds ?? null,
    waitIdle: cli['wait-idle'],
    command: `node scripts/bench-report.mjs${argv.length ? ' ' + argv.join(' ') : ''}`,
    git: { commit: git('rev-parse', '--short', 'HEAD'), dirty: !!git('status', '--porcelain', '--untracked-files=no', '--', 'src', 'native', 'bench') },
    backend: { native: probeBackend(NATIVE), js: probeBackend(JS) },
    started: env.date,
  }
  const entries = buildEntries()
  process.stderr.write(`bench-report: ${entries.length} entries x ${repeat} runs${smoke ? ' (smoke)' : ''} -> ${outDir}\n`)
  const t0 = performance.now()
  const results = await runSet(entries, { repeat, cli })
  meta.duration_s = (performance.now() - t0) / 1000
  meta.finished = new Date().toISOString()

  // runSet keeps the order of `entries`; put our labels back on.
  const data = results.map((r, i) => {
    const { series, chart, pinned } = entries[i]
    const backends = [...new Set(r.runs.map((x) => x.backend).filter(Boolean))]
    return { ...r, series, chart, pinned, ...(backends.length ? { backend: backends.join(',') } : {}) }
  })
  writeFileSync(join(outDir, 'results.json'), JSON.stringify({ meta, results: data }, null, 1) + '\n')
  const charts = await renderCharts(data, outDir, meta)
  writeReadme(outDir, data, meta, charts)

  const empty = data.filter((r) => !r.runs.length)
  const where = relative(process.cwd(), outDir) || '.'
  console.log(`bench-report: ${charts.length} charts, results.json, README.md in ${where.startsWith('..') ? outDir : where} (${meta.duration_s.toFixed(0)} s)`)
  for (const r of empty) console.log(`  no data: ${r.id} (${r.errors[0] ?? 'no runs'})`)
  // smoke checks the report pipeline (bench:smoke checks the workloads): a failed entry only warns
  process.exitCode = empty.length && !smoke ? 1 : 0
}

// --from results.json: re-render the charts and README from saved data, without measuring.
async function rerender(file, out) {
  const { meta, results } = JSON.parse(readFileSync(file, 'utf8'))
  const outDir = out ? resolve(out) : dirname(file)
  mkdirSync(outDir, { recursive: true })
  if (outDir !== dirname(file)) writeFileSync(join(outDir, 'results.json'), JSON.stringify({ meta, results }, null, 1) + '\n')
  const charts = await renderCharts(results, outDir, meta)
  writeReadme(outDir, results, meta, charts)
  console.log(`bench-report: re-rendered ${charts.length} charts and README.md in ${outDir} from ${file}`)
}

await main()
