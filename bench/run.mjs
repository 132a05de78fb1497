// Run any registered workload by name (bench/anchors/*.mjs, bench/workloads/*.mjs), e.g. the
// future `stt` one, without it needing its own launcher code:
//   node bench/run.mjs <workload> throughput|msgrate|rtt [--size N] [--repeat N] [--json] ...
//   node bench/run.mjs --list
import { pathToFileURL } from 'node:url'
import { parseArgs } from './lib/args.mjs'
import { listWorkloads, resolveWorkload } from './lib/workloads.mjs'
import { runCli, DEFAULT_SIZES } from './lib/cli.mjs'

const args = parseArgs()
if (args.list || !args._.length) {
  for (const [name, file] of Object.entries(listWorkloads())) console.log(`${name}\t${file}`)
  if (!args._.length && !args.list) console.error('usage: node bench/run.mjs <workload> <kind> [options]')
} else {
  const [name, ...rest] = args._
  // a workload may give `defaults` per kind (its natural write size); DEFAULT_SIZES otherwise
  let file
  try { file = resolveWorkload(name) } catch (err) { console.error(err.message); process.exit(2) }
  const mod = (await import(pathToFileURL(file).href)).default
  await runCli(file, mod.defaults ?? DEFAULT_SIZES, { ...args, _: rest })
}
