// Command line for a single workload file: every file in bench/anchors/ (and bench/workloads/)
// ends with `await runIfMain(import.meta.url, workload)`, so it is its own launcher:
//   node bench/anchors/ws.mjs rtt --count 5000 --repeat 3 [--json] [--smoke]
import { fileURLToPath } from 'node:url'
import { resolve, basename } from 'node:path'
import { parseArgs } from './args.mjs'
import { runSet, environment } from './runset.mjs'
import { markdownTable, jsonSummary } from './table.mjs'
import { hardLimit } from './proc.mjs'

// write sizes when a workload does not say: bulk 64 KiB writes, 64-byte messages and pings
export const DEFAULT_SIZES = { throughput: { size: 65536 }, msgrate: { size: 64 }, rtt: { size: 64 } }

export async function runIfMain(url, workload) {
  const file = fileURLToPath(url)
  if (!process.argv[1] || resolve(process.argv[1]) !== file) return // imported, e.g. by role.mjs
  await runCli(file, workload.defaults ?? DEFAULT_SIZES, parseArgs())
}

// Run one workload kind, repeat times, and print a table (or JSON with --json).
export async function runCli(file, kindDefaults, args) {
  const kind = args._[0] ?? 'throughput'
  if (args.help) {
    console.log(`usage: node ${basename(file)} throughput|msgrate|rtt [--size N] [--bytes N] [--seconds S]
       [--count N] [--warmup N] [--repeat N] [--mode M] [--pin CPU] [--smoke] [--json]`)
    return
  }
  const repeat = args.repeat ?? 1
  const opts = kindDefaults[kind] ?? {}
  // generous bound for the launcher itself; each run has its own, tighter one
  hardLimit(repeat * ((args.seconds ?? 5) + 30 + (args['wait-idle'] ?? 0)) + 10, `${basename(file)} launcher`)
  const size = args.size ?? opts.size
  const mode = args.mode ?? opts.mode
  const id = `${basename(file, '.mjs')}${mode ? '-' + mode : ''}/${kind}/${size}${args.pin === undefined ? '' : String(args.pin).includes(',') ? '/split' : '/pinned'}`
  const results = await runSet([{ id, workload: file, kind, opts }], { repeat, cli: args })
  if (args.json) console.log(JSON.stringify(jsonSummary(results, environment(), { repeat, smoke: !!args.smoke }), null, 2))
  else console.log(markdownTable(results))
  process.exitCode = results.some((r) => r.errors.length) ? 1 : 0
}
