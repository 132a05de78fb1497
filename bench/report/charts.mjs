// SVG charts for scripts/bench-report.mjs: vega-lite specs rendered headlessly by vega
// (renderer 'none' + toSVG(): no canvas, no native dependencies).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as vega from 'vega'
import { compile } from 'vega-lite'

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json'
// Ours in blues/greens (solid lines), anchors in warm colours / grey (dashed lines).
const COLORS = {
  'stt native (UDP)': '#1f5fbf', 'stt native stream': '#1f5fbf',
  'stt native datagram': '#6baed6',
  'stt js (UDP)': '#2ca02c', 'stt js stream': '#2ca02c',
  'stt WebSocket (bare)': '#17a2b8',
  'udx-native + secret-stream': '#d95f02',
  'raw ws': '#7f7f7f',
  'raw dgram': '#b8860b',
}
const isOurs = (s) => s.startsWith('stt ')
const finite = (x) => typeof x === 'number' && Number.isFinite(x)
const order = (rows) => [...new Set(rows.map((r) => r.series))]
const colorScale = (series) => ({ domain: series, range: series.map((s) => COLORS[s] ?? '#444') })

export const CONFIG = {
  background: 'white',
  padding: 12,
  font: 'DejaVu Sans, Helvetica, Arial, sans-serif',
  title: { fontSize: 16, subtitleFontSize: 11, subtitleColor: '#555', anchor: 'start', offset: 10 },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' },
  legend: { labelFontSize: 11, titleFontSize: 11, symbolStrokeWidth: 2, labelLimit: 260 },
  header: { labelFontSize: 13, labelFontWeight: 'bold' },
  view: { stroke: '#ddd' },
}

export const sizeLabel = (n) => (n >= 1048576 ? `${n / 1048576} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} B`)

function subtitle(meta, extra) {
  const e = meta.env
  const runs = `median of ${meta.repeat} interleaved run${meta.repeat === 1 ? '' : 's'}${meta.seconds ? ` (${meta.seconds} s each)` : ''}`
  const lines = [`${runs}${extra ? '; ' + extra : ''}`, `${e.cpu}, ${e.cpus} vCPU, ${e.os}, Node ${e.node}, ${meta.started.slice(0, 10)}`]
  if (meta.smoke) lines.unshift('SMOKE RUN: tiny runs, the numbers mean nothing')
  return lines
}

function throughputSpec(results, meta) {
  const rows = results.filter((r) => r.chart === 'throughput' && finite(r.value?.median))
    .map((r) => ({ series: r.series, ours: isOurs(r.series) ? 'ours' : 'anchor', size: r.opts.size, median: r.value.median, min: r.value.min, max: r.value.max }))
  const series = order(rows)
  const sizes = [...new Set(rows.map((r) => r.size))].sort((a, b) => a - b)
  const labels = sizes.map((s) => `datum.value == ${s} ? '${sizeLabel(s)}'`).join(' : ') + " : ''"
  return {
    $schema: SCHEMA,
    title: { text: 'Throughput vs write size (one stream, loopback)', subtitle: subtitle(meta, 'whiskers: min-max; solid lines: stt-node, dashed: anchors') },
    width: 640,
    height: 380,
    data: { values: rows },
    encoding: {
      x: {
        field: 'size', type: 'quantitative', title: 'write size (log scale)',
        scale: { type: 'log', domain: [sizes[0] * 0.8 || 1000, (sizes.at(-1) || 1e6) * 1.25], nice: false },
        axis: { values: sizes, labelExpr: sizes.length ? labels : "''", grid: true },
      },
      y: { field: 'median', type: 'quantitative', title: 'Gbit/s (application payload)', scale: { zero: true } },
      color: { field: 'series', type: 'nominal', title: null, sort: series, scale: colorScale(series), legend: { orient: 'bottom', columns: 3 } },
      strokeDash: { field: 'ours', type: 'nominal', scale: { domain: ['ours', 'anchor'], range: [[1, 0], [6, 3]] }, legend: null },
    },
    layer: [
      { mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 55 } } },
      { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { y: { field: 'min' }, y2: { field: 'max' }, strokeDash: { value: [1, 0] } } },
    ],
    config: CONFIG,
  }
}

const PIN = { false: 'unpinned (two vCPUs, scheduler decides)', true: 'pinned: both processes on vCPU 0' }
const PCTS = ['p50', 'p90', 'p99']
const PCT_COLORS = ['#1f5fbf', '#6baed6', '#c6dbef']

function rttSpec(results, meta) {
  const rows = []
  for (const r of results.filter((x) => x.chart === 'rtt')) {
    for (const p of PCTS) {
      const m = r.metrics?.[p]
      if (m && finite(m.median)) rows.push({ series: r.series, pin: PIN[String(!!r.pinned)], pct: p, median: m.median, min: m.min, max: m.max })
    }
  }
  const series = order(rows)
  return {
    $schema: SCHEMA,
    title: { text: 'Round-trip time, 64-byte ping-pong (lower is better)', subtitle: subtitle(meta, 'whiskers: min-max over runs, labels: median µs') },
    data: { values: rows },
    facet: { row: { field: 'pin', type: 'nominal', sort: [PIN.false, PIN.true], title: null, header: { labelAngle: 0, labelOrient: 'top', labelAnchor: 'start' } } },
    spacing: 18,
    spec: {
      width: 600,
      height: Math.max(1, series.length) * 42,
      encoding: {
        y: { field: 'series', type: 'nominal', sort: series, title: null, axis: { labelLimit: 0 } },
        yOffset: { field: 'pct', type: 'nominal', sort: PCTS },
      },
      layer: [
        {
          mark: { type: 'bar', stroke: '#335', strokeWidth: 0.4 },
          encoding: {
            x: { field: 'median', type: 'quantitative', title: 'µs' },
            color: { field: 'pct', type: 'nominal', sort: PCTS, title: 'percentile', scale: { domain: PCTS, range: PCT_COLORS }, legend: { orient: 'bottom', direction: 'horizontal' } },
          },
        },
        { mark: { type: 'rule', color: '#222' }, encoding: { x: { field: 'min', type: 'quantitative' }, x2: { field: 'max' } } },
        {
          mark: { type: 'text', align: 'left', baseline: 'middle', dx: 4, fontSize: 9, color: '#222' },
          encoding: { x: { field: 'max', type: 'quantitative' }, text: { field: 'median', type: 'quantitative', format: '.0f' } },
        },
      ],
    },
    config: CONFIG,
  }
}

function cpuSpec(results, meta, size) {
  const rows = []
  for (const r of results.filter((x) => x.chart === 'throughput' && x.opts.size === size)) {
    const tx = r.metrics?.tx_cpu_s_per_gb?.median
    const rx = r.metrics?.rx_cpu_s_per_gb?.median
    if (finite(tx) && finite(rx)) rows.push({ series: r.series, role: 'sender', value: tx }, { series: r.series, role: 'receiver', value: rx })
  }
  const series = order(rows)
  const totals = series.map((s) => rows.filter((r) => r.series === s).reduce((a, r) => a + r.value, 0))
  return {
    $schema: SCHEMA,
    title: {
      text: `CPU seconds per GB moved, ${sizeLabel(size)} writes (lower is better)`,
      subtitle: [...subtitle(meta, 'labels: sender + receiver = total'), 'user+sys CPU of each process; on loopback part of the kernel receive path runs on the sender: compare totals'],
    },
    width: 600,
    height: Math.max(1, series.length) * 34,
    data: { values: rows },
    encoding: { y: { field: 'series', type: 'nominal', sort: series, title: null, axis: { labelLimit: 0 } } },
    layer: [
      {
        mark: { type: 'bar', stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          x: { field: 'value', type: 'quantitative', stack: 'zero', title: 'CPU s per GB (10^9 bytes of payload)', scale: { domainMax: Math.max(0, ...totals) * 1.3 || 1 } },
          color: { field: 'role', type: 'nominal', title: null, sort: ['sender', 'receiver'], scale: { domain: ['sender', 'receiver'], range: ['#1f5fbf', '#fd8d3c'] }, legend: { orient: 'bottom', direction: 'horizontal' } },
          order: { field: 'role', sort: 'descending' },
        },
      },
      {
        transform: [
          { pivot: 'role', value: 'value', groupby: ['series'] },
          { calculate: 'datum.sender + datum.receiver', as: 'total' },
          { calculate: "format(datum.sender, '.2f') + ' + ' + format(datum.receiver, '.2f') + ' = ' + format(datum.total, '.2f')", as: 'label' },
        ],
        mark: { type: 'text', align: 'left', baseline: 'middle', dx: 4, fontSize: 10, color: '#222' },
        encoding: { x: { field: 'total', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
    config: CONFIG,
  }
}

export async function toSVG(vlSpec) {
  const view = new vega.View(vega.parse(compile(vlSpec).spec), { renderer: 'none' })
  try { return await view.toSVG() } finally { view.finalize() }
}

// Renders every chart into outDir; returns [{ file, title, spec }].
export async function renderCharts(results, outDir, meta) {
  const charts = [
    { file: 'throughput.svg', title: 'Throughput vs write size', spec: throughputSpec(results, meta) },
    { file: 'rtt.svg', title: 'RTT percentiles (64-byte ping-pong)', spec: rttSpec(results, meta) },
    { file: 'cpu-per-gb.svg', title: 'CPU seconds per GB at 64 KiB writes', spec: cpuSpec(results, meta, 65536) },
  ]
  for (const c of charts) writeFileSync(join(outDir, c.file), await toSVG(c.spec))
  return charts.map(({ file, title }) => ({ file, title }))
}
