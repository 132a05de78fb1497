// Repeat a set of measurements and summarise them. Runs are interleaved (repeat 1 of every
// entry, then repeat 2, ...) so that slow drift of this shared VM hits all entries alike, which
// is what makes same-run ratios meaningful.
import os from 'node:os'
import { createRequire } from 'node:module'
import { runWorkload } from './workloads.mjs'
import { measureOptions } from './args.mjs'
import { summarize, summarizeRuns } from './stats.mjs'
import { sleep, waitIdle } from './proc.mjs'

// entries: [{ id, workload, kind, opts }]; cli: parsed command line (smoke, seconds, ... win).
// Returns [{ id, workload, kind, opts, unit, value: {median,min,max,n}, metrics, runs, errors }].
export async function runSet(entries, { repeat = 3, cli = {}, progress = (s) => process.stderr.write(s + '\n') } = {}) {
  const out = entries.map((e) => ({
    id: e.id, workload: e.workload, kind: e.kind, opts: measureOptions(e.opts, cli), unit: null, runs: [], errors: []
  }))
  for (let r = 0; r < repeat; r++) {
    for (const o of out) {
      // --wait-idle S: give other people's builds/tests up to S seconds to calm down first
      if (cli['wait-idle'] > 0) await waitIdle(cli['wait-idle'])
      const t0 = performance.now()
      try {
        const res = await runWorkload(o.workload, o.kind, o.opts)
        o.unit = res.unit
        o.runs.push({ value: res.value, ...res.metric })
        const other = res.metric.other_cpu_pct === undefined ? '' : `, others' CPU ${res.metric.other_cpu_pct.toFixed(0)}%`
        progress(`[${r + 1}/${repeat}] ${o.id}: ${fmtv(res.value)} ${res.unit} (${((performance.now() - t0) / 1000).toFixed(1)} s${other})`)
      } catch (err) {
        o.errors.push(String(err.message || err))
        progress(`[${r + 1}/${repeat}] ${o.id}: FAILED ${err.message}`)
      }
      await sleep(o.opts.smoke ? 0 : 200) // let sockets in TIME_WAIT / softirq backlog settle
    }
  }
  for (const o of out) {
    o.value = summarize(o.runs.map((x) => x.value))
    o.metrics = summarizeRuns(o.runs)
  }
  return out
}

const fmtv = (x) => (typeof x === 'number' ? Number(x.toPrecision(4)) : x)

// What the numbers were measured on: needed to compare across days (which you should not do).
export function environment() {
  const require = createRequire(new URL('../../package.json', import.meta.url))
  const version = (p) => { try { return require(`${p}/package.json`).version } catch { return null } }
  return {
    date: new Date().toISOString(),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: os.cpus()[0]?.model,
    cpus: os.cpus().length,
    packages: Object.fromEntries(['udx-native', '@hyperswarm/secret-stream', 'ws', 'bufferutil'].map((p) => [p, version(p)]))
  }
}
