#!/usr/bin/env node
// Micro-benchmark: sealBatch/openBatch, native addon vs the node:crypto backend, per packet.
//
//   npm run build && npm run build:native
//   node bench/aead.bench.mjs [--smoke] [--runs N] [--time MS] [--json]
//
// Grid: both suites x packet sizes 1200 and 1472 B (19-byte header + payload + 16-byte tag) x
// batch sizes 1, 4, 16, 64, 128. Each task processes one batch; the table shows ns per packet
// and packets/s per backend (median over --runs full passes), native/js speed-up, and the
// smallest batch size from which native is faster (the routing threshold in src/crypto/index.ts).
// open tasks first restore the sealed batch with one memcpy (both backends pay it; the
// `copy only` rows show its cost) because opening plaintext would fail authentication, which
// costs node:crypto an exception.
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

const { jsAead } = await import('../dist/crypto/js-aead.js')
const { nativeAead } = await import('../dist/crypto/native-aead.js')
const { HEADER_SIZE } = await import('../dist/protocol/constants.js')
if (!nativeAead) {
  console.error('aead.bench: the native addon is not loaded (run npm run build:native); nothing to compare')
  process.exit(smoke ? 0 : 1)
}

const SUITES = ['aes-256-gcm', 'chacha20-poly1305']
const SIZES = [1200, 1472]
const BATCHES = [1, 4, 16, 64, 128]

function makeBatch(size, count) {
  const offsets = new Uint32Array(count)
  const lengths = new Uint32Array(count).fill(size)
  for (let i = 0; i < count; i++) offsets[i] = i * size
  const slab = new Uint8Array(randomBytes(size * count))
  for (let i = 0; i < count; i++) slab[offsets[i]] = 1
  return { slab, offsets, lengths }
}

const tasks = [] // { name, suite, size, batch, op, backend, fn }
for (const suite of SUITES) {
  const key = randomBytes(32)
  const iv = randomBytes(12)
  const keys = { native: nativeAead.createKey(suite, key, iv), js: jsAead.createKey(suite, key, iv) }
  for (const size of SIZES) {
    for (const batch of BATCHES) {
      const b = makeBatch(size, batch)
      const sealed = b.slab.slice()
      keys.native.sealBatch(sealed, b.offsets, b.lengths, batch, HEADER_SIZE)
      const work = sealed.slice()
      const status = new Uint8Array(batch)
      for (const backend of ['native', 'js']) {
        const k = keys[backend]
        const base = { suite, size, batch, backend }
        tasks.push({ ...base, op: 'seal', fn: () => k.sealBatch(b.slab, b.offsets, b.lengths, batch, HEADER_SIZE) })
        tasks.push({
          ...base,
          op: 'open',
          fn: () => {
            work.set(sealed)
            k.openBatch(work, b.offsets, b.lengths, batch, HEADER_SIZE, status)
            if (status[batch - 1] !== 1) throw new Error('open failed')
          },
        })
      }
      if (suite === SUITES[0]) tasks.push({ suite: '-', size, batch, backend: 'copy only', op: 'copy', fn: () => work.set(sealed) })
    }
  }
}
for (const t of tasks) t.name = `${t.op} ${t.suite} ${t.size} x${t.batch} ${t.backend}`

const samples = new Map(tasks.map((t) => [t.name, []]))
for (let r = 0; r < runs; r++) {
  const bench = new Bench({ time, warmupTime: smoke ? 5 : 50, iterations: smoke ? 2 : 10 })
  for (const t of tasks) bench.add(t.name, t.fn)
  await bench.run()
  for (const task of bench.tasks) {
    const res = task.result
    if (res?.state !== 'completed') throw new Error(`${task.name}: ${res?.error ?? res?.state}`)
    samples.get(task.name).push(res.latency.mean * 1e6) // ns per batch
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const nsPerPacket = (t) => median(samples.get(t.name)) / t.batch

const rows = []
const thresholds = []
for (const op of ['seal', 'open']) {
  for (const suite of SUITES) {
    for (const size of SIZES) {
      let crossover = null
      for (const batch of BATCHES) {
        const n = tasks.find((t) => t.op === op && t.suite === suite && t.size === size && t.batch === batch && t.backend === 'native')
        const j = tasks.find((t) => t.op === op && t.suite === suite && t.size === size && t.batch === batch && t.backend === 'js')
        const nn = nsPerPacket(n)
        const jj = nsPerPacket(j)
        if (crossover === null && nn < jj) crossover = batch
        rows.push({
          op,
          suite,
          size,
          batch,
          'native ns/pkt': Math.round(nn),
          'js ns/pkt': Math.round(jj),
          'native pkt/s': Math.round(1e9 / nn),
          'js pkt/s': Math.round(1e9 / jj),
          speedup: +(jj / nn).toFixed(2),
        })
      }
      thresholds.push({ op, suite, size, 'native faster from batch': crossover ?? 'never (in grid)' })
    }
  }
}
for (const t of tasks.filter((x) => x.op === 'copy')) {
  rows.push({ op: 'copy', suite: '-', size: t.size, batch: t.batch, 'native ns/pkt': Math.round(nsPerPacket(t)) })
}

if (flag('json')) {
  console.log(JSON.stringify({ runs, time, rows, thresholds }, null, 2))
} else {
  console.log(`aead.bench: median of ${runs} run(s), ${time} ms per task${smoke ? ' (smoke: numbers meaningless)' : ''}`)
  console.table(rows)
  console.table(thresholds)
}
