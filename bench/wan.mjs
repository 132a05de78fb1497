#!/usr/bin/env node
// The WAN benchmark: one stream of stt-node vs udx-native + @hyperswarm/secret-stream through the
// same emulated path (the C emulator, bench/netem), interleaved, medians of N runs, as ratios.
//
//   npm run build && node bench/wan.mjs --quick            # representative subset (~8 min)
//   node bench/wan.mjs                                     # the full matrix (32 paths, ~45 min)
//   node bench/wan.mjs --smoke                             # CI: two tiny paths, numbers meaningless
//   options: --repeat N (3) --seconds S (4) --bytes B (16Mi) --warm B (32Mi; 0 = fresh processes)
//            --only ID,ID --impl stt-bbr,stt-cubic,udx
//            --backend js (stt-node's pure-TypeScript backend)
//            --json --out FILE --charts DIR (render the goodput charts) --from FILE (re-render only)
//
// Per path and implementation: goodput (Mbit/s of application payload after the first 64 KiB
// write, from the moment the receiver holds it to the end; countReadable in lib/workloads.mjs). The emulator's own ceiling (raw UDP through it, C blaster -> emu -> C sink) is measured in
// every round too; a figure within 80 % of it is marked, since it measures the emulator, not the
// transport. Emulator counters of each run (kernel drops at its sockets, tail drops, the deepest
// queue) are kept, so a path the emulator could not carry shows up as such, and its CPU per GB
// (emu_cpu_s_per_gb: every datagram, data or ACK, is a receive and a send for it).
//
// Warm-up (--warm, default WARM): before each measured transfer, the run's two processes move that
// many bytes (same 64 KiB writes) over a direct loopback connection of their own, not through the
// emulator, untimed and closed again; the measured transfer then opens a fresh session/stream (fresh
// congestion state) through the emulator. Every implementation gets the same warm-up. Why: in a
// fresh process stt-node's first 16 MiB is mostly V8 compiling its packet path (udx's is C), which
// is not path behaviour, and services that use a transport are long-running. --warm 0: cold
// processes, as before 2026-12-07.
//
// Congestion control: stt-node is run once per controller its STTNode accepts
// (congestionControl 'bbr' and 'cubic'; detected by constructing an STTNode with each).
import { writeFileSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from './lib/args.mjs'
import { runWorkload } from './lib/workloads.mjs'
import { measureOptions } from './lib/args.mjs'
import { summarize, summarizeRuns, fmt } from './lib/stats.mjs'
import { environment } from './lib/runset.mjs'
import { cpuSecondsOf, hardLimit, sleep } from './lib/proc.mjs'
import { startEmu, measureCeiling } from './netem/emu.mjs'
import { ensureBuilt } from './netem/build.mjs'
import { fullMatrix, quickMatrix, smokeMatrix, cleanOf, targetsOf } from './lib/wan-scenarios.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const MiB = 1024 * 1024
const AT_CEILING = 0.8
// bytes each run's processes move over loopback before the measured transfer (--warm); smoke: 1 MiB
// (exercises the path, costs nothing). 32 MiB: the sender's CPU per byte is still falling in the
// second 16 MiB of a fresh process (bench/README.md, WAN section)
const WARM = 32 * MiB
const SMOKE_WARM = 1 * MiB

// Which congestion controllers this build of stt-node accepts (the option is validated when the
// node is constructed; nothing is bound).
export async function availableControllers() {
  const { STTNode } = await import('../dist/index.js')
  const ok = []
  for (const cc of ['bbr', 'cubic', 'newreno']) {
    try {
      new STTNode({ sharedSeed: Buffer.alloc(32, 7), congestionControl: cc })
      ok.push(cc)
    } catch {}
  }
  return ok
}

export async function implementations(wanted, backend) {
  const ccs = await availableControllers()
  const all = [
    ...['bbr', 'cubic'].filter((c) => ccs.includes(c)).map((cc) => ({ id: `stt-${cc}`, label: `stt ${cc}`, workload: 'stt', opts: { cc, size: 65536 } })),
    { id: 'udx', label: 'udx-native + secret-stream', workload: 'udx', opts: { mode: 'secret', size: 65536 } },
  ]
  const sel = wanted ? all.filter((i) => wanted.split(',').includes(i.id)) : all
  // --backend js: stt-node's pure-TypeScript backend (node:dgram, node:crypto) instead of the addon
  if (backend === 'js') for (const i of sel) if (i.workload === 'stt') i.opts.env = { STT_NATIVE: '0' }
  return { ccs, impls: sel }
}

// One run of one implementation through a fresh emulator with the scenario's link.
async function runOne(impl, sc, opts, seed) {
  let emu = null
  const route = async (info) => {
    emu = await startEmu({ targets: [info.port], link: sc.link, seed })
    return { port: emu.pairs[0].listen, peer: (d) => ({ ...d, port: emu.pairs[0].upstream }) }
  }
  try {
    const res = await runWorkload(impl.workload, 'throughput', { ...opts, ...impl.opts }, { route })
    const emuCpu = emu ? cpuSecondsOf(emu.proc.pid) : NaN
    const st = emu ? await emu.stop() : null
    return {
      value: res.value * 1000, // Mbit/s
      ...res.metric,
      cc: res.tx.extra?.cc,
      cut: res.rx.cut ? 1 : 0, // the receiver stopped at receiveSeconds (a slow path)
      emu_kernel_drops: st ? st.fwd.kernel_drops + st.rev.kernel_drops : undefined,
      emu_drop_queue: st ? st.fwd.drop_queue : undefined,
      emu_max_queue_bytes: st ? st.fwd.max_queue_bytes : undefined,
      emu_fwd_pkts: st?.fwd.rx_pkts,
      emu_late_mean_us: st?.fwd.late_mean_us,
      emu_fwd_reordered: st?.fwd.reordered,
      emu_rev_pkts: st?.rev.rx_pkts,
      emu_rev_reordered: st?.rev.reordered,
      // the emulator's CPU over its whole life (this run) per GB the sender wrote (all of which
      // it carried): every datagram, data or ACK, costs it a receive and a send
      emu_cpu_s_per_gb: emuCpu / (res.tx.bytes / 1e9),
    }
  } finally {
    await emu?.stop()
  }
}

export async function runMatrix(scenarios, impls, { repeat, cli, progress = (s) => process.stderr.write(s + '\n') }) {
  const opts = measureOptions({ bytes: 16 * MiB, seconds: 4, warm: cli.smoke ? SMOKE_WARM : WARM }, cli)
  // a WAN run can drain a few MiB of send buffer at a few Mbit/s after the writer stops
  // a slow path would take minutes to drain the sender's buffer after the writer stops: the
  // receiver counts for at most 2 x seconds from its first byte (goodput over that window)
  opts.receiveSeconds = opts.receiveSeconds ?? opts.seconds * 2
  // the warm-up over loopback comes out of the same process budget: allow 2 MiB/s and 10 s more
  opts.budget = opts.budget ?? Math.ceil(opts.receiveSeconds + (cli.smoke ? 20 : 30) + (opts.warm > 0 ? 10 + opts.warm / (2 * MiB) : 0))
  const cells = scenarios.map((sc) => ({ scenario: sc, impls: impls.map((i) => ({ id: i.id, label: i.label, runs: [], errors: [] })) }))
  const ceilings = []
  for (let r = 0; r < repeat; r++) {
    // the emulator's own ceiling this round: raw UDP through a clean link
    try {
      const c = await measureCeiling({ seconds: cli.smoke ? 0.3 : 1.5, seed: r + 1 })
      ceilings.push(c.mbps)
      progress(`[${r + 1}/${repeat}] emulator ceiling (raw UDP, clean link): ${fmt(c.mbps)} Mbit/s`)
    } catch (err) {
      progress(`[${r + 1}/${repeat}] emulator ceiling: FAILED ${err.message}`)
    }
    for (const cell of cells) {
      for (const [k, impl] of impls.entries()) {
        const o = cell.impls[k]
        const t0 = performance.now()
        try {
          // same seed for every implementation within a round: the same packets are lost
          const run = await runOne(impl, cell.scenario, opts, r + 1)
          o.runs.push(run)
          const drops = run.emu_kernel_drops ? `, emulator socket drops ${run.emu_kernel_drops}` : ''
          progress(`[${r + 1}/${repeat}] ${cell.scenario.id} ${impl.id}: ${fmt(run.value)} Mbit/s (${((performance.now() - t0) / 1000).toFixed(1)} s${drops})`)
        } catch (err) {
          o.errors.push(String(err.message || err).split('\n')[0])
          progress(`[${r + 1}/${repeat}] ${cell.scenario.id} ${impl.id}: FAILED ${o.errors.at(-1)}`)
        }
        await sleep(cli.smoke ? 0 : 200)
      }
    }
  }
  for (const cell of cells) {
    for (const o of cell.impls) {
      o.value = summarize(o.runs.map((x) => x.value))
      o.metrics = summarizeRuns(o.runs)
      o.cc = o.runs.find((x) => x.cc)?.cc
    }
  }
  return { ceiling: summarize(ceilings), cells, opts }
}

// ---- report ----------------------------------------------------------------------------------------

const f = (x) => (typeof x === 'number' && Number.isFinite(x) ? fmt(x) : 'n/a')
const fx = (x) => (typeof x === 'number' && Number.isFinite(x) ? `${Number(x.toPrecision(3))}x` : 'n/a')
const pct = (x) => (typeof x === 'number' && Number.isFinite(x) ? `${Math.round(100 * x)} %` : 'n/a')

// Derived figures of one result set: per scenario and stt implementation, ratio vs udx and vs the
// clean path, with the targets that apply.
export function analyse(result) {
  const byId = Object.fromEntries(result.cells.map((c) => [c.scenario.id, c]))
  const med = (cell, id) => cell?.impls.find((i) => i.id === id)?.value?.median
  const rows = []
  for (const cell of result.cells) {
    const sc = cell.scenario
    const clean = byId[cleanOf(sc)]
    const udx = med(cell, 'udx')
    for (const o of cell.impls.filter((i) => i.id !== 'udx')) {
      const v = o.value?.median
      const vsUdx = udx ? v / udx : NaN
      const vsClean = clean ? v / med(clean, o.id) : NaN
      const checks = targetsOf(sc).map((t) => {
        const got = t.what === 'vs udx' ? vsUdx : vsClean
        return { ...t, got, met: Number.isFinite(got) ? got >= t.min : null }
      })
      rows.push({ scenario: sc.id, impl: o.id, value: v, vsUdx, vsClean, checks })
    }
  }
  return rows
}

export function markdown(result) {
  const impls = result.cells[0]?.impls.map((i) => i.id) ?? []
  const stts = impls.filter((i) => i !== 'udx')
  const ceil = result.ceiling?.median
  const rows = analyse(result)
  const lines = []
  lines.push(`Emulator ceiling (raw UDP through a clean link, same run): ${f(ceil)} Mbit/s [${f(result.ceiling?.min)}-${f(result.ceiling?.max)}]. Goodput in Mbit/s, median [min-max] of ${result.repeat} interleaved runs; * = within ${AT_CEILING * 100} % of the ceiling (measures the emulator). ${warmNote(result)}`)
  lines.push('')
  const head = ['path', ...impls.map((i) => `${i} Mbit/s`), ...stts.map((s) => `${s} / udx`), ...stts.map((s) => `${s} vs clean`), 'emulator']
  lines.push(`| ${head.join(' | ')} |`)
  lines.push(`| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`)
  for (const cell of result.cells) {
    const vals = cell.impls.map((o) => {
      if (!o.value?.n) return `failed${o.errors.length ? ` (${o.errors.length})` : ''}`
      const star = ceil && o.value.median >= AT_CEILING * ceil ? '*' : ''
      return `${f(o.value.median)}${star} [${f(o.value.min)}-${f(o.value.max)}]`
    })
    const mark = (r, what, x, show) => {
      const c = r?.checks.find((k) => k.what === what)
      return c ? `**${show(x)}** (${c.met === null ? '?' : c.met ? 'met' : 'missed'} >= ${c.what === 'vs udx' ? fx(c.min) : pct(c.min)})` : show(x)
    }
    const ratios = stts.map((s) => { const r = rows.find((x) => x.scenario === cell.scenario.id && x.impl === s); return mark(r, 'vs udx', r?.vsUdx, fx) })
    const clean = stts.map((s) => { const r = rows.find((x) => x.scenario === cell.scenario.id && x.impl === s); return Number.isFinite(r?.vsClean) ? mark(r, 'vs clean', r.vsClean, pct) : '' })
    const kd = Math.max(0, ...cell.impls.map((o) => o.metrics?.emu_kernel_drops?.max ?? 0))
    const q = cell.scenario.rate ? `queue max ${cell.impls.map((o) => `${o.id} ${f((o.metrics?.emu_max_queue_bytes?.median ?? NaN) / 1000)} kB`).join(', ')}` : ''
    const emuNote = [kd ? `socket drops up to ${kd}` : '', q].filter(Boolean).join('; ')
    lines.push(`| ${cell.scenario.label} | ${vals.join(' | ')} | ${ratios.join(' | ')} | ${clean.join(' | ')} | ${emuNote} |`)
  }
  return lines.join('\n')
}

// What the processes of each run did before the measured transfer (results before --warm: none)
export function warmNote(result) {
  const w = result.run?.warm ?? 0
  const size = result.run?.bytes ? `${fmtBytes(result.run.bytes)} (or ${result.run.seconds} s of writing)` : `${result.run?.seconds} s of writing`
  return w > 0
    ? `Measured transfer: ${size} per run, after a warm-up of ${fmtBytes(w)} over a direct loopback connection between the same two processes (untimed, same 64 KiB writes, every implementation alike; \`--warm 0\`: fresh processes).`
    : `Measured transfer: ${size} per run between fresh processes (no warm-up: includes V8's warm-up of stt-node's JavaScript).`
}

const fmtBytes = (b) => (b % MiB === 0 ? `${b / MiB} MiB` : `${b} bytes`)

function chartsReadme(result, files) {
  return [
    '<!-- generated by bench/wan.mjs --charts: edit that, not this file -->',
    '# stt-node on emulated WAN paths',
    '',
    `Generated by \`${result.command}\` (then \`--charts\`) on ${String(result.started).slice(0, 16).replace('T', ' ')} UTC, ${Math.round(result.minutes ?? 0)} minutes.`,
    `One stream per run through the C loopback emulator (bench/netem), stt-node next to udx-native + @hyperswarm/secret-stream in the same run. stt congestion controllers available in this build: ${(result.controllers ?? []).join(', ')}.`,
    warmNote(result),
    'Method: [bench/README.md](../../../bench/README.md#wan-paths-with-loss-jitter-and-delay). Raw data: [wan-results.json](wan-results.json).',
    '',
    ...files.map((f) => `![${f}](${f})\n`),
    markdown(result),
    '',
  ].join('\n')
}

// ---- main ----------------------------------------------------------------------------------------

async function main() {
  const argv = process.argv.slice(2)
  const flag = (f) => argv.includes(f)
  const cli = parseArgs(argv.filter((a) => a !== '--quick' && a !== '--full'))
  cli.quick = flag('--quick')
  if (cli.help) {
    console.log('usage: node bench/wan.mjs [--quick | --smoke] [--repeat 3] [--seconds 4] [--bytes 16Mi] [--warm 32Mi] [--only ID,..] [--impl stt-bbr,stt-cubic,udx] [--backend js] [--json] [--out FILE] [--charts DIR] [--from FILE]')
    return
  }
  let result
  if (cli.from) {
    result = JSON.parse(readFileSync(cli.from, 'utf8'))
  } else {
    ensureBuilt()
    const quick = cli.quick
    let scenarios = cli.smoke ? smokeMatrix() : quick ? quickMatrix() : fullMatrix()
    if (cli.only) scenarios = scenarios.filter((s) => String(cli.only).split(',').includes(s.id))
    const { ccs, impls } = await implementations(cli.impl, cli.backend)
    const repeat = cli.smoke ? 1 : (cli.repeat ?? 3)
    if (cli.smoke) Object.assign(cli, { seconds: cli.seconds ?? 0.5, bytes: cli.bytes ?? 1 * MiB })
    const warmS = (cli.warm ?? (cli.smoke ? SMOKE_WARM : WARM)) > 0 ? 10 + (cli.warm ?? WARM) / (2 * MiB) : 0
    hardLimit(repeat * scenarios.length * impls.length * ((cli.seconds ?? 4) + 70 + warmS) + 120, 'bench/wan.mjs')
    process.stderr.write(`wan: ${scenarios.length} paths x ${impls.length} implementations x ${repeat} runs; stt congestion controllers available: ${ccs.join(', ')}\n`)
    const t0 = Date.now()
    const r = await runMatrix(scenarios, impls, { repeat, cli })
    result = {
      env: environment(),
      started: new Date(t0).toISOString(),
      minutes: (Date.now() - t0) / 60000,
      mode: cli.smoke ? 'smoke' : quick ? 'quick' : 'full',
      command: `node bench/wan.mjs ${process.argv.slice(2).join(' ')}`.trim(),
      repeat,
      controllers: ccs,
      backend: cli.backend === 'js' ? 'js' : 'native (if the addon loads)',
      // warm: bytes each run's two processes moved over loopback before the measured transfer
      run: { seconds: r.opts.seconds, bytes: r.opts.bytes, size: 65536, warm: r.opts.warm },
      ceiling: r.ceiling,
      cells: r.cells,
    }
    const out = cli.out ?? resolve(ROOT, `bench/results/wan-${result.mode}-${result.started.replace(/[:.]/g, '-')}.json`)
    mkdirSync(dirname(out), { recursive: true })
    writeFileSync(out, JSON.stringify(result, null, 1))
    process.stderr.write(`wan: results in ${out}\n`)
  }
  if (cli.charts) {
    const { renderWanCharts } = await import('./report/wan-charts.mjs')
    const files = await renderWanCharts(result, cli.charts)
    writeFileSync(resolve(cli.charts, 'wan-results.json'), JSON.stringify(result, null, 1))
    writeFileSync(resolve(cli.charts, 'README.md'), chartsReadme(result, files))
    process.stderr.write(`wan: charts ${files.join(', ')}, README.md and wan-results.json in ${cli.charts}\n`)
  }
  if (cli.json) console.log(JSON.stringify({ ...result, analysis: analyse(result) }, null, 1))
  else console.log(`\n${result.started ?? ''} ${result.command ?? ''}\n\n${markdown(result)}`)
  const failed = result.cells.some((c) => c.impls.some((o) => !o.value?.n))
  process.exitCode = failed ? 1 : 0
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main()
