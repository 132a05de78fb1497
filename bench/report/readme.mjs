// README.md for scripts/bench-report.mjs: charts, key ratios (ours vs anchors, same run),
// the full figures, the machine, the commands.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fmt, ratio } from '../lib/stats.mjs'
import { sizeLabel } from './charts.mjs'

// [what, ours id, anchor id, metric, better, target] — targets as in bench/compare.mjs.
const RATIOS = [
  ['Bulk throughput, 64 KiB writes: stt native (UDP) / udx + secret-stream', 'stt-native/throughput/65536', 'udx-secret/throughput/65536', 'value', 'higher', '>= 3x (issue 4)'],
  ['Bulk throughput, 64 KiB writes: stt js (UDP) / udx + secret-stream', 'stt-js/throughput/65536', 'udx-secret/throughput/65536', 'value', 'higher', '>= 0.7x (issue 3)'],
  ['Throughput, 1200 B writes: stt native (UDP) / udx + secret-stream', 'stt-native/throughput/1200', 'udx-secret/throughput/1200', 'value', 'higher', ''],
  ['Throughput, 1 MiB writes: stt native (UDP) / udx + secret-stream', 'stt-native/throughput/1048576', 'udx-secret/throughput/1048576', 'value', 'higher', ''],
  ['Throughput, 1 MiB writes: stt WebSocket (bare) / raw ws', 'stt-ws/throughput/1048576', 'ws/throughput/1048576', 'value', 'higher', '>= 0.6x (issue 5)'],
  ['Throughput: stt WebSocket 1 MiB / udx + secret-stream 64 KiB', 'stt-ws/throughput/1048576', 'udx-secret/throughput/65536', 'value', 'higher', '>= 3x (issue 5)'],
  ['RTT p50, pinned: stt native stream / raw dgram', 'stt-native/rtt/64/pinned', 'dgram/rtt/64/pinned', 'value', 'lower', '<= 1.1x (issue 4)'],
  ['RTT p50, unpinned: stt native stream / raw dgram', 'stt-native/rtt/64', 'dgram/rtt/64', 'value', 'lower', '<= 1.1x (issue 4)'],
  ['RTT p50, pinned: stt native datagram / raw dgram', 'stt-native-datagram/rtt/64/pinned', 'dgram/rtt/64/pinned', 'value', 'lower', ''],
  ['RTT p50, pinned: stt native stream / udx + secret-stream', 'stt-native/rtt/64/pinned', 'udx-secret/rtt/64/pinned', 'value', 'lower', ''],
  ['RTT p50, pinned: stt js stream / udx + secret-stream', 'stt-js/rtt/64/pinned', 'udx-secret/rtt/64/pinned', 'value', 'lower', ''],
  ['RTT p99, pinned: stt native stream / udx + secret-stream', 'stt-native/rtt/64/pinned', 'udx-secret/rtt/64/pinned', 'p99', 'lower', ''],
  ['CPU s/GB (sender + receiver), 64 KiB: stt native / udx + secret-stream', 'stt-native/throughput/65536', 'udx-secret/throughput/65536', 'cpu', 'lower', ''],
  ['CPU s/GB (sender + receiver), 64 KiB: stt js / udx + secret-stream', 'stt-js/throughput/65536', 'udx-secret/throughput/65536', 'cpu', 'lower', ''],
  ['CPU s/GB (sender + receiver), 64 KiB: stt WebSocket / raw ws', 'stt-ws/throughput/65536', 'ws/throughput/65536', 'cpu', 'lower', ''],
]

const med = (r, k) => r?.metrics?.[k]?.median
function metricOf(r, metric) {
  if (!r) return NaN
  if (metric === 'value') return r.value?.median
  if (metric === 'cpu') return med(r, 'tx_cpu_s_per_gb') + med(r, 'rx_cpu_s_per_gb')
  return med(r, metric)
}
const unitOf = (r, metric) => (metric === 'cpu' ? 's/GB' : r?.unit ?? (r?.kind === 'rtt' ? 'µs' : 'Gbit/s'))
function meets(target, x) {
  const m = /^([<>]=)\s*([\d.]+)x/.exec(target)
  if (!m || !Number.isFinite(x)) return ''
  return (m[1] === '>=' ? x >= Number(m[2]) : x <= Number(m[2])) ? 'yes' : '**no**'
}
const range = (s) => (s && Number.isFinite(s.median) ? `${fmt(s.median)} [${fmt(s.min)}-${fmt(s.max)}]` : 'failed')

function ratioTable(byId) {
  const out = ['| comparison | ours | anchor | ratio | better | target | met |', '| --- | ---: | ---: | ---: | --- | --- | --- |']
  for (const [what, o, a, metric, better, target] of RATIOS) {
    const ov = metricOf(byId[o], metric)
    const av = metricOf(byId[a], metric)
    const x = ratio(ov, av)
    const u = unitOf(byId[o], metric)
    out.push(`| ${what} | ${fmt(ov)} ${u} | ${fmt(av)} ${u} | **${fmt(x)}x** | ${better} | ${target || '-'} | ${meets(target, x) || '-'} |`)
  }
  return out.join('\n')
}

function throughputTable(results) {
  const rows = results.filter((r) => r.chart === 'throughput')
  const sizes = [...new Set(rows.map((r) => r.opts.size))]
  const series = [...new Set(rows.map((r) => r.series))]
  const out = [`| write size | ${series.join(' | ')} |`, `| --- |${series.map(() => ' ---: |').join('')}`]
  for (const s of sizes) {
    out.push(`| ${sizeLabel(s)} | ${series.map((n) => range(rows.find((r) => r.series === n && r.opts.size === s)?.value)).join(' | ')} |`)
  }
  return out.join('\n')
}

function rttTable(results) {
  const rows = results.filter((r) => r.chart === 'rtt')
  const series = [...new Set(rows.map((r) => r.series))]
  const out = ['| | unpinned p50 [min-max] | p90 | p99 | pinned p50 [min-max] | p90 | p99 |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |']
  for (const n of series) {
    const cells = [false, true].flatMap((p) => {
      const r = rows.find((x) => x.series === n && !!x.pinned === p)
      return ['p50', 'p90', 'p99'].map((k) => (k === 'p50' ? range(r?.metrics?.[k]) : fmt(med(r, k))))
    })
    out.push(`| ${n} | ${cells.join(' | ')} |`)
  }
  return out.join('\n')
}

function cpuTable(results, size) {
  const rows = results.filter((r) => r.chart === 'throughput' && r.opts.size === size)
  const out = ['| | sender s/GB | receiver s/GB | total s/GB | sender CPU % | receiver CPU % | Gbit/s |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |']
  for (const r of rows) {
    const tx = med(r, 'tx_cpu_s_per_gb')
    const rx = med(r, 'rx_cpu_s_per_gb')
    out.push(`| ${r.series} | ${fmt(tx)} | ${fmt(rx)} | ${fmt(tx + rx)} | ${fmt(med(r, 'tx_cpu_pct'))} | ${fmt(med(r, 'rx_cpu_pct'))} | ${fmt(r.value?.median)} |`)
  }
  return out.join('\n')
}

function machine(meta, results) {
  const e = meta.env
  const others = results.flatMap((r) => r.runs.map((x) => x.other_cpu_pct)).filter(Number.isFinite).sort((a, b) => a - b)
  const nativeIds = results.filter((r) => r.backend && r.id.startsWith('stt-native')).map((r) => r.backend)
  const lines = [
    ['date', `${meta.started} (finished ${meta.finished}; the run took ${(meta.duration_s / 60).toFixed(1)} min)`],
    ['CPU', `${e.cpu}, ${e.cpus} vCPUs`],
    ['OS / kernel', e.os],
    ['Node', e.node],
    ['packages', Object.entries(e.packages).map(([k, v]) => `${k} ${v ?? '-'}`).join(', ')],
    ['stt-node', `commit ${meta.git.commit ?? '?'}${meta.git.dirty ? ' (with uncommitted changes in src/, native/ or bench/)' : ''}`],
    ['stt backends', `STT_NATIVE=1 -> ${meta.backend.native}, STT_NATIVE=0 -> ${meta.backend.js}; reported by the native throughput runs: ${[...new Set(nativeIds)].join(', ') || '-'}`],
    ['runs', `${meta.repeat} per entry, interleaved${meta.seconds ? `, ${meta.seconds} s each` : ''}${meta.waitIdle ? `, waiting up to ${meta.waitIdle} s for an idle machine before each` : ''}`],
    ['others\' CPU', others.length ? `median ${fmt(others[others.length >> 1])} %, max ${fmt(others.at(-1))} % of all vCPUs during the runs (load not ours)` : '-'],
  ]
  return ['| | |', '| --- | --- |', ...lines.map(([k, v]) => `| ${k} | ${v} |`)].join('\n')
}

export function writeReadme(outDir, results, meta, charts) {
  const byId = Object.fromEntries(results.map((r) => [r.id, r]))
  const img = (file) => { const c = charts.find((x) => x.file === file); return c ? `![${c.title}](${c.file})` : '' }
  const failed = results.filter((r) => r.errors.length)
  const md = `<!-- generated by scripts/bench-report.mjs: edit that, not this file -->
# stt-node benchmarks

${meta.smoke ? '> **Smoke run**: every measurement is cut to a fraction of a second. It only checks that the\n> report renders. The numbers mean nothing.\n\n' : ''}Generated by \`npm run bench:report\` (scripts/bench-report.mjs) on ${meta.started.slice(0, 10)}. Sender and
receiver are two separate processes on 127.0.0.1. Every figure is the median of ${meta.repeat} runs, [min-max]
in the tables. The runs of all entries are interleaved: repeat 1 of every entry, then repeat 2, and so on.
Drift on this shared VM therefore hits ours and the anchors alike. The anchors are
udx-native + @hyperswarm/secret-stream, raw \`ws\` and raw \`node:dgram\`. They are measured in the same run.
Absolute figures drift 20-30 % between sessions on these machines, so compare ratios, not
another day's numbers. Methods: [bench/README-anchors.md](../../bench/README-anchors.md). Raw data: [results.json](results.json).
Lossy, jittered and delayed paths (goodput vs loss and vs RTT, next to udx + secret-stream): [wan/README.md](wan/README.md).

## Key ratios (ours / anchor, same run)

${ratioTable(byId)}

For throughput, a ratio above 1 means we are faster. For RTT and CPU, a ratio below 1 means we are better.
CPU is the sum of the sender and receiver medians.

## Throughput vs write size

${img('throughput.svg')}

Gbit/s of application payload, one stream. Each side writes buffers of the given size and honours backpressure.

${throughputTable(results)}

## Round-trip time (64-byte ping-pong)

${img('rtt.svg')}

Figures in µs. When unpinned, the scheduler sometimes keeps both processes on one vCPU and sometimes
splits them (a cross-vCPU wake-up costs ~30 µs each way), so those figures are bimodal. With \`pin: '0'\`
both processes share vCPU 0, which measures the software path alone. Compare pinned with pinned.

${rttTable(results)}

## CPU per GB (bulk, 64 KiB writes)

${img('cpu-per-gb.svg')}

Figures are user + sys CPU seconds per 10^9 payload bytes, whole process, over the measured window only.
On loopback, part of the kernel's receive path runs on the sender's CPU, so compare the totals.

${cpuTable(results, 65536)}

## Machine

${machine(meta, results)}

## Commands

\`\`\`sh
npm ci                         # vega + vega-lite render the SVGs (dev dependencies, no native code)
npm run bench:report           # = npm run build && node scripts/bench-report.mjs  (~${Math.max(1, Math.round(meta.duration_s / 60))} min here)
${meta.command.padEnd(30)} # the exact invocation behind this report
node scripts/bench-report.mjs --smoke             # seconds-long check, writes to a temp dir (CI)
node scripts/bench-report.mjs --repeat 5 --seconds 5 --wait-idle 20 --out /tmp/report
node scripts/bench-report.mjs --from docs/benchmarks/results.json  # re-render charts + README, no runs
\`\`\`

Check \`uptime\` first: other people's builds and tests on a 2-vCPU machine move these figures a lot.
${failed.length ? `\n## Errors\n\n${failed.map((r) => `- ${r.id}: ${r.errors.length} failed run(s): ${r.errors[0]}`).join('\n')}\n` : ''}`
  writeFileSync(join(outDir, 'README.md'), md)
}
