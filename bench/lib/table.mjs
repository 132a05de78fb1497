// Markdown table and JSON summary of runSet() results.
import { fmt } from './stats.mjs'

const mmm = (s) => (s && s.n ? `${fmt(s.median)} [${fmt(s.min)}-${fmt(s.max)}]` : '-')
const med = (m, k) => fmt(m[k]?.median)

// The secondary figures worth a glance, per kind (all are medians over the runs).
function details(r) {
  const m = r.metrics
  const parts = []
  const add = (label, k) => { if (m[k]?.n) parts.push(`${label} ${med(m, k)}`) }
  if (r.kind === 'rtt') {
    add('p90', 'p90'); add('p99', 'p99'); add('mean', 'mean')
    add('CPU µs/RT tx', 'tx_cpu_us_per_rt'); add('rx', 'rx_cpu_us_per_rt'); add('lost', 'lost')
  } else {
    if (r.kind === 'throughput') add('msg/s', 'msgs_per_s')
    else add('Gbit/s', 'gbps')
    add('MiB', 'mib')
    if (r.kind === 'throughput') { add('CPU s/GB tx', 'tx_cpu_s_per_gb'); add('rx', 'rx_cpu_s_per_gb') }
    else { add('CPU µs/msg tx', 'tx_cpu_us_per_msg'); add('rx', 'rx_cpu_us_per_msg') }
    add('CPU% tx', 'tx_cpu_pct'); add('rx', 'rx_cpu_pct')
    add('loss %', 'loss_pct'); add('retx %', 'retransmit_pct')
  }
  add("others' CPU%", 'other_cpu_pct') // load from other processes during the run: noise flag
  return parts.join(', ')
}

export function markdownTable(results) {
  const rows = [
    '| workload | median [min-max] | unit | n | also (medians) |',
    '| --- | ---: | --- | ---: | --- |'
  ]
  for (const r of results) {
    const err = r.errors.length ? ` **${r.errors.length} failed**` : ''
    rows.push(`| ${r.id} | ${mmm(r.value)} | ${r.unit ?? '-'} | ${r.value.n}${err} | ${details(r)} |`)
  }
  return rows.join('\n')
}

// One object per result; `runs` keeps every run's combined metrics for later analysis.
export function jsonSummary(results, env, extra = {}) {
  return {
    ...extra,
    environment: env,
    results: results.map((r) => ({
      id: r.id, workload: r.workload, kind: r.kind, unit: r.unit, opts: r.opts,
      median: r.value.median, min: r.value.min, max: r.value.max, n: r.value.n,
      metrics: r.metrics, runs: r.runs, errors: r.errors
    }))
  }
}
