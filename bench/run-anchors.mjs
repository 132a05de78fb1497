// Measure the anchor set (udx-native + secret-stream, raw ws, raw node:dgram) N times and print
// a markdown table of medians [min-max] (or, with --json, a JSON summary on stdout).
//   node bench/run-anchors.mjs [--repeat 3] [--which udx,ws/rtt|all] [--smoke] [--json]
//                              [--seconds S] [--bytes B] [--count N] [--size N] [--out FILE]
//                              [--wait-idle S]  (before each run, wait up to S s for other load to stop)
// Progress goes to stderr. The JSON summary is also written to bench/results/ (git-ignored)
// unless --out - is given. Exit status 1 if any run failed.
import { mkdirSync, writeFileSync } from 'node:fs'
import { parseArgs } from './lib/args.mjs'
import { runAnchors, selectAnchors } from './lib/anchors.mjs'
import { markdownTable, jsonSummary } from './lib/table.mjs'
import { hardLimit } from './lib/proc.mjs'

const args = parseArgs()
if (args.help) {
  console.log('usage: node bench/run-anchors.mjs [--repeat N] [--which ids|all] [--smoke] [--json] [--seconds S] [--bytes B] [--count N] [--out FILE|-] [--wait-idle S]')
  console.log('anchors:', selectAnchors('all').map((a) => a.id + (a.optional ? ' (optional)' : '')).join('\n         '))
  process.exit(0)
}
const { _, json, out, repeat = args.smoke ? 1 : 3, which, ...overrides } = args
const entries = selectAnchors(which)
// the whole launcher is bounded too: per run its time budget plus setup, times the number of runs
hardLimit(entries.length * repeat * ((args.seconds ?? (args.smoke ? 0.25 : 5)) + 25 + (args['wait-idle'] ?? 0)) + 30, 'run-anchors')

const t0 = performance.now()
const res = await runAnchors({ which, repeat, ...overrides })
const summary = jsonSummary(res.results, res.environment, {
  repeat, smoke: !!args.smoke, total_s: (performance.now() - t0) / 1000, command: process.argv.slice(2).join(' ')
})
if (out !== '-') {
  const file = out ?? new URL(`./results/anchors-${res.environment.date.replace(/[:.]/g, '-')}.json`, import.meta.url)
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
  writeFileSync(file, JSON.stringify(summary, null, 2) + '\n')
  process.stderr.write(`summary written to ${file instanceof URL ? file.pathname : file}\n`)
}
if (json) console.log(JSON.stringify(summary, null, 2))
else {
  console.log(`Anchors, ${repeat} run(s) each${args.smoke ? ' (smoke)' : ''}, ${res.environment.date}, node ${res.environment.node}, ${res.environment.cpus} x ${res.environment.cpu}\n`)
  console.log(markdownTable(res.results))
  console.log(`\ntotal ${summary.total_s.toFixed(1)} s`)
}
process.exitCode = res.results.some((r) => r.errors.length) ? 1 : 0
