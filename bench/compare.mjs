#!/usr/bin/env node
// stt-node next to its anchors, measured in the same run (interleaved repeats), with ratios.
//   npm run build && node bench/compare.mjs [--repeat 3] [--seconds 5] [--json] [--smoke] [--wait-idle 20]
// Ours: the native backend (addon: batched AEAD, mmsg + GSO/GRO) and the pure-TypeScript one
// (STT_NATIVE=0), over UDP and WebSocket. Anchors: udx-native + @hyperswarm/secret-stream,
// raw ws, raw node:dgram (bench/anchors/). RTTs are also taken pinned to one vCPU (stable).
import { runSet, environment } from './lib/runset.mjs'
import { ANCHORS } from './lib/anchors.mjs'
import { parseArgs } from './lib/args.mjs'
import { ratio } from './lib/stats.mjs'

const KiB = 1024
const NATIVE = { STT_NATIVE: '1' }
const JS = { STT_NATIVE: '0' }
const ours = [
  { id: 'stt-native/throughput/65536', workload: 'stt', kind: 'throughput', opts: { size: 64 * KiB, env: NATIVE } },
  { id: 'stt-native-nogso/throughput/65536', workload: 'stt', kind: 'throughput', opts: { mode: 'udp-nogso', size: 64 * KiB, env: NATIVE } },
  { id: 'stt-js/throughput/65536', workload: 'stt', kind: 'throughput', opts: { size: 64 * KiB, env: JS } },
  { id: 'stt-ws/throughput/1048576', workload: 'stt', kind: 'throughput', opts: { mode: 'ws', size: 1024 * KiB, env: NATIVE } },
  { id: 'stt-ws-full/throughput/1048576', workload: 'stt', kind: 'throughput', opts: { mode: 'ws-full', size: 1024 * KiB, env: NATIVE } },
  { id: 'stt-native/msgrate/64', workload: 'stt', kind: 'msgrate', opts: { size: 64, env: NATIVE } },
  { id: 'stt-native-msg/msgrate/64', workload: 'stt', kind: 'msgrate', opts: { mode: 'msg', size: 64, env: NATIVE } },
  { id: 'stt-js/msgrate/64', workload: 'stt', kind: 'msgrate', opts: { size: 64, env: JS } },
  { id: 'stt-native/rtt/64', workload: 'stt', kind: 'rtt', opts: { size: 64, env: NATIVE } },
  { id: 'stt-native/rtt/64/pinned', workload: 'stt', kind: 'rtt', opts: { size: 64, pin: '0', env: NATIVE } },
  { id: 'stt-js/rtt/64/pinned', workload: 'stt', kind: 'rtt', opts: { size: 64, pin: '0', env: JS } },
  { id: 'stt-native-datagram/rtt/64', workload: 'stt', kind: 'rtt', opts: { mode: 'datagram', size: 64, env: NATIVE } },
  { id: 'stt-native-datagram/rtt/64/pinned', workload: 'stt', kind: 'rtt', opts: { mode: 'datagram', size: 64, pin: '0', env: NATIVE } },
  { id: 'stt-js-datagram/rtt/64/pinned', workload: 'stt', kind: 'rtt', opts: { mode: 'datagram', size: 64, pin: '0', env: JS } },
]
const anchorIds = ['udx-secret/throughput/65536', 'udx-secret/msgrate/64', 'udx-secret/rtt/64', 'udx-secret/rtt/64/pinned', 'ws/throughput/1048576', 'dgram/throughput/1472', 'dgram/rtt/64', 'dgram/rtt/64/pinned']
const anchors = ANCHORS.filter((a) => anchorIds.includes(a.id))

// [ours, anchor, how, target] — higher is better except for RTT.
const comparisons = [
  ['stt-native/throughput/65536', 'udx-secret/throughput/65536', 'x', '>= 3x (issue 4)'],
  ['stt-native-nogso/throughput/65536', 'udx-secret/throughput/65536', 'x', '>= 1.5x (issue 4)'],
  ['stt-js/throughput/65536', 'udx-secret/throughput/65536', 'x', '>= 0.7x (issue 3)'],
  ['stt-ws/throughput/1048576', 'ws/throughput/1048576', 'x', '>= 0.6x (issue 5)'],
  ['stt-ws/throughput/1048576', 'udx-secret/throughput/65536', 'x', '>= 3x (issue 5)'],
  ['stt-ws-full/throughput/1048576', 'ws/throughput/1048576', 'x', '(measured)'],
  ['stt-native/msgrate/64', 'udx-secret/msgrate/64', 'x', '>= 2x (issue 4)'],
  ['stt-native-msg/msgrate/64', 'udx-secret/msgrate/64', 'x', '(message boundaries kept)'],
  ['stt-js/msgrate/64', 'udx-secret/msgrate/64', 'x', '(measured)'],
  ['stt-native/rtt/64', 'dgram/rtt/64', 'rtt', '<= 1.1x (issue 4)'],
  ['stt-native/rtt/64/pinned', 'dgram/rtt/64/pinned', 'rtt', '<= 1.1x (issue 4)'],
  ['stt-js/rtt/64/pinned', 'udx-secret/rtt/64/pinned', 'rtt', '(measured)'],
  ['stt-native-datagram/rtt/64', 'dgram/rtt/64', 'rtt', '(datagrams; issue 2)'],
  ['stt-native-datagram/rtt/64/pinned', 'dgram/rtt/64/pinned', 'rtt', '(datagrams; issue 2)'],
  ['stt-js-datagram/rtt/64/pinned', 'dgram/rtt/64/pinned', 'rtt', '(datagrams, pure TypeScript; issue 2)'],
]

const cli = parseArgs(process.argv.slice(2))
if (cli.help) {
  console.log(`usage: npm run build && node bench/compare.mjs [options]
  --only a,b     only the comparison rows whose ours or anchor id contains one of these
                 (e.g. --only rtt/64 runs the RTT rows and just the entries they need)
  --repeat N     interleaved runs per entry (default 3; the median is reported)
  --seconds S    seconds per run (default 5)
  --smoke        every entry once, tiny (does it still work? no figures to quote)
  --wait-idle S  wait up to S seconds for the machine to be idle before starting
  --json         machine-readable output
rows:
${comparisons.map(([o, a, , t]) => `  ${o} vs ${a}  ${t}`).join('\n')}`)
  process.exit(0)
}
const only = typeof cli.only === 'string' ? cli.only.split(',').filter(Boolean) : null
if (only) {
  const keep = comparisons.filter(([o, a]) => only.some((k) => o.includes(k) || a.includes(k)))
  comparisons.splice(0, comparisons.length, ...keep)
}
const needed = new Set(comparisons.flatMap(([o, a]) => [o, a]))
const entries = [...ours, ...anchors].filter((e) => !only || needed.has(e.id))
delete cli.only
const repeat = cli.smoke ? 1 : (cli.repeat ?? 3)
const results = await runSet(entries, { repeat, cli })
const byId = Object.fromEntries(results.map((r) => [r.id, r]))
const f = (x) => (x === undefined || Number.isNaN(x) ? 'n/a' : Number(x.toPrecision(3)).toLocaleString('en-US'))
const rows = comparisons.map(([o, a, how, target]) => {
  const ov = byId[o]?.value
  const av = byId[a]?.value
  const r = ratio(ov?.median, av?.median)
  return { ours: o, anchor: a, oursValue: ov, anchorValue: av, unit: byId[o]?.unit, ratio: r, target, how }
})
if (cli.json) {
  console.log(JSON.stringify({ env: environment(), repeat, rows, results }, null, 1))
} else {
  console.log(`\n${environment().date} — median [min-max] of ${repeat} interleaved runs\n`)
  console.log('| ours | value | anchor | value | ratio | target |')
  console.log('| --- | ---: | --- | ---: | ---: | --- |')
  for (const r of rows) {
    const v = (x) => (x ? `${f(x.median)} [${f(x.min)}-${f(x.max)}] ${r.unit ?? ''}` : 'failed')
    console.log(`| ${r.ours} | ${v(r.oursValue)} | ${r.anchor} | ${v(r.anchorValue)} | ${f(r.ratio)}x | ${r.target} |`)
  }
  console.log('\nAll figures:')
  for (const r of results) console.log(`- ${r.id}: ${r.value ? `${f(r.value.median)} [${f(r.value.min)}-${f(r.value.max)}] ${r.unit}` : 'failed'}${r.errors.length ? ` (errors: ${r.errors[0]})` : ''}`)
}
