// Charts of the WAN benchmark (bench/wan.mjs --charts DIR): goodput vs loss rate and vs RTT, one
// line per implementation (stt bbr, stt cubic, udx-native + secret-stream), whiskers min-max,
// log-scale goodput, the emulator's ceiling of the same run as a grey rule. vega-lite rendered to
// SVG by bench/report/charts.mjs's toSVG (no canvas, no native dependencies).
import { writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { toSVG, CONFIG } from './charts.mjs'

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json'
const COLORS = { 'stt bbr': '#1f5fbf', 'stt cubic': '#2ca02c', 'stt newreno': '#17a2b8', 'udx-native + secret-stream': '#d95f02' }
const finite = (x) => typeof x === 'number' && Number.isFinite(x) && x > 0

function rowsOf(result, keep) {
  const rows = []
  for (const cell of result.cells) {
    const s = cell.scenario
    if (s.rate || s.burst || !keep(s)) continue
    for (const o of cell.impls) {
      if (!finite(o.value?.median)) continue
      rows.push({ series: o.label, ours: o.id === 'udx' ? 'anchor' : 'ours', rtt: s.rtt, loss: s.loss, jitter: s.jitter, median: o.value.median, min: o.value.min, max: o.value.max })
    }
  }
  return rows
}

function subtitle(result, extra) {
  const e = result.env ?? {}
  const lines = [
    `one stream, ${result.run?.bytes ? `${result.run.bytes / 1048576} MiB or ` : ''}${result.run?.seconds ?? '?'} s of 64 KiB writes; ${extra}`,
    // run.warm: bytes the same two processes moved over plain loopback first (bench/wan.mjs --warm)
    result.run?.warm > 0 ? `processes warmed up first: ${Math.round(result.run.warm / 1048576)} MiB over plain loopback, untimed` : 'fresh processes (no warm-up)',
    `median of ${result.repeat} interleaved runs, whiskers min-max`,
    'C loopback emulator, loss and delay on both directions',
    `grey rule: the emulator's own ceiling (raw UDP), ${Math.round(result.ceiling?.median ?? NaN)} Mbit/s`,
    `${e.cpus ?? '?'} vCPU (shared), Node ${e.node ?? '?'}, ${String(result.started ?? '').slice(0, 10)}`,
  ]
  if (result.mode === 'smoke') lines.unshift('SMOKE RUN: tiny runs, the numbers mean nothing')
  return lines
}

function spec({ title, sub, rows, x, xTitle, facet, ceiling }) {
  const series = [...new Set(rows.map((r) => r.series))]
  const xs = [...new Set(rows.map((r) => r[x]))].sort((a, b) => a - b)
  const inner = {
    width: 300,
    height: 300,
    layer: [
      {
        encoding: {
          x: { field: x, type: 'ordinal', sort: xs, title: xTitle, axis: { labelAngle: 0 } },
          y: { field: 'median', type: 'quantitative', title: 'goodput, Mbit/s (log scale)', scale: { type: 'log' } },
          color: { field: 'series', type: 'nominal', title: null, sort: series, scale: { domain: series, range: series.map((s) => COLORS[s] ?? '#444') }, legend: { orient: 'bottom', columns: 3 } },
          strokeDash: { field: 'ours', type: 'nominal', scale: { domain: ['ours', 'anchor'], range: [[1, 0], [6, 3]] }, legend: null },
        },
        layer: [
          { mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 55 } } },
          { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { y: { field: 'min' }, y2: { field: 'max' }, strokeDash: { value: [1, 0] } } },
        ],
      },
      ...(finite(ceiling) ? [{ data: { values: [{ c: ceiling }] }, mark: { type: 'rule', color: '#999', strokeDash: [2, 2] }, encoding: { y: { field: 'c', type: 'quantitative' } } }] : []),
    ],
  }
  const base = { $schema: SCHEMA, title: { text: title, subtitle: sub }, data: { values: rows }, config: CONFIG }
  if (!facet) return { ...base, ...inner }
  return { ...base, facet: { column: { field: facet.field, type: 'ordinal', title: null, header: { labelExpr: facet.label } } }, spec: inner, resolve: { scale: { x: 'independent' } } }
}

// Returns the file names written into outDir.
export async function renderWanCharts(result, outDir) {
  mkdirSync(outDir, { recursive: true })
  const written = []
  // vs loss: jitter 0, one panel per RTT that has at least two loss rates
  const lossRows = rowsOf(result, (s) => !s.jitter)
  const rttsWithLoss = [...new Set(lossRows.map((r) => r.rtt))].filter((rtt) => new Set(lossRows.filter((r) => r.rtt === rtt).map((r) => r.loss)).size > 1)
  const lr = lossRows.filter((r) => rttsWithLoss.includes(r.rtt))
  if (lr.length) {
    const s = spec({ title: 'Goodput vs random loss rate', sub: subtitle(result, 'no jitter'), rows: lr, x: 'loss', xTitle: 'random loss per packet, each way (%)', facet: rttsWithLoss.length > 1 ? { field: 'rtt', label: "datum.value + ' ms RTT'" } : null, ceiling: result.ceiling?.median })
    if (rttsWithLoss.length === 1) s.title.text += ` (${rttsWithLoss[0]} ms RTT)`
    writeFileSync(join(outDir, 'wan-loss.svg'), await toSVG(s))
    written.push('wan-loss.svg')
  }
  // vs RTT: jitter 0, one panel per loss rate that has at least two RTTs
  const rttRows = rowsOf(result, (s) => !s.jitter)
  const lossesWithRtt = [...new Set(rttRows.map((r) => r.loss))].filter((l) => new Set(rttRows.filter((r) => r.loss === l).map((r) => r.rtt)).size > 1)
  const rr = rttRows.filter((r) => lossesWithRtt.includes(r.loss))
  if (rr.length) {
    const s = spec({ title: 'Goodput vs round-trip time', sub: subtitle(result, 'no jitter'), rows: rr, x: 'rtt', xTitle: 'RTT (ms)', facet: lossesWithRtt.length > 1 ? { field: 'loss', label: "datum.value + ' % loss'" } : null, ceiling: result.ceiling?.median })
    if (lossesWithRtt.length === 1) s.title.text += lossesWithRtt[0] ? ` (${lossesWithRtt[0]} % loss)` : ' (no loss)'
    writeFileSync(join(outDir, 'wan-rtt.svg'), await toSVG(s))
    written.push('wan-rtt.svg')
  }
  return written
}
