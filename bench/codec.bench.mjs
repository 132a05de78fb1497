#!/usr/bin/env node
// Micro-benchmark: batch header decode/encode, native addon vs the TypeScript codec.
//
//   npm run build && npm run build:native
//   node bench/codec.bench.mjs [--smoke] [--runs N] [--time MS] [--json]
//
// Batches of 1200-byte packets, sizes 1, 2, 4, 8, 16, 64, 128; ns per packet per backend (median over
// --runs passes) and the smallest batch from which native is faster. The native rows include
// the TypeScript argument validation, as callers pay it.
import { randomBytes } from 'node:crypto'
import { Bench } from 'tinybench'

const argv = process.argv.slice(2)
const flag = (name) => argv.includes(`--${name}`)
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? Number(argv[i + 1]) : dflt
}
const smoke = flag('smoke')
const runs = opt('runs', smoke ? 1 : 3)
const time = opt('time', smoke ? 15 : 300)

const { jsHeaderCodec, allocHeaderColumns } = await import('../dist/native/header-codec-js.js')
const { binding } = await import('../dist/native/load.js')
const { createNativeHeaderCodec } = await import('../dist/native/header-codec-native.js')
if (!binding) {
  console.error('codec.bench: the native addon is not loaded (run npm run build:native); nothing to compare')
  process.exit(smoke ? 0 : 1)
}
const codecs = { native: createNativeHeaderCodec(binding), js: jsHeaderCodec }
const BATCHES = [1, 2, 4, 8, 16, 64, 128]
const SIZE = 1200

const tasks = []
for (const batch of BATCHES) {
  const offsets = new Uint32Array(batch)
  const lengths = new Uint32Array(batch).fill(SIZE)
  for (let i = 0; i < batch; i++) offsets[i] = i * SIZE
  const slab = new Uint8Array(randomBytes(SIZE * batch))
  for (let i = 0; i < batch; i++) slab[offsets[i]] = 1
  const cols = allocHeaderColumns(batch)
  for (const [backend, c] of Object.entries(codecs)) {
    let _sink = 0n
    tasks.push({
      op: 'decode',
      batch,
      backend,
      // Reading one field keeps the JS side honest (BigInt columns are what callers consume).
      fn: () => {
        c.decodeHeaders(slab, offsets, lengths, batch, cols)
        _sink ^= cols.pn[batch - 1]
      },
    })
    tasks.push({ op: 'encode', batch, backend, fn: () => c.encodeHeaders(slab, offsets, lengths, batch, cols) })
  }
}
for (const t of tasks) t.name = `${t.op} x${t.batch} ${t.backend}`

const samples = new Map(tasks.map((t) => [t.name, []]))
for (let r = 0; r < runs; r++) {
  const bench = new Bench({ time, warmupTime: smoke ? 5 : 50, iterations: smoke ? 2 : 10 })
  for (const t of tasks) bench.add(t.name, t.fn)
  await bench.run()
  for (const task of bench.tasks) {
    if (task.result?.state !== 'completed') throw new Error(`${task.name}: ${task.result?.state}`)
    samples.get(task.name).push(task.result.latency.mean * 1e6)
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const rows = []
const thresholds = []
for (const op of ['decode', 'encode']) {
  let crossover = null
  for (const batch of BATCHES) {
    const ns = (backend) => median(samples.get(`${op} x${batch} ${backend}`)) / batch
    const n = ns('native')
    const j = ns('js')
    if (crossover === null && n < j) crossover = batch
    rows.push({ op, batch, 'native ns/pkt': +n.toFixed(1), 'js ns/pkt': +j.toFixed(1), speedup: +(j / n).toFixed(2) })
  }
  thresholds.push({ op, 'native faster from batch': crossover ?? 'never (in grid)' })
}
if (flag('json')) console.log(JSON.stringify({ runs, time, rows, thresholds }, null, 2))
else {
  console.log(`codec.bench: median of ${runs} run(s), ${time} ms per task${smoke ? ' (smoke: numbers meaningless)' : ''}`)
  console.table(rows)
  console.table(thresholds)
}
