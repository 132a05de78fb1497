#!/usr/bin/env node
// A transfer's first megabytes (issue 9): one stt stream between two fresh processes, the sender
// writing N chunks of 16 MiB; per chunk, as the receiver got it: goodput, CPU seconds per GB of
// each process, and how much of it was the main thread (JavaScript, the addon, the system calls)
// and how much the other threads (V8's TurboFan compiler and GC helpers; /proc/self/task).
// The first chunk of a fresh process pays V8's warm-up: the WAN benchmark's 16 MiB runs measure
// mostly that (bench/README.md, "A transfer's first megabytes").
//
//   npm run build && node bench/warmup.mjs [--rtt MS] [--chunks N] [--repeat R] [--dist DIR]
//   --rtt 0 (default): plain loopback; else through the C emulator (bench/netem), clean link
//   --dist: another build's dist/ (A/B of two builds, interleaved by the caller)
//   --flags '--no-opt': V8 flags for both processes (e.g. without TurboFan, to see its share)
import { fork } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from './lib/args.mjs'
import { hardLimit } from './lib/proc.mjs'

const MiB = 1 << 20
const CHUNK = 16 * MiB
const SELF = fileURLToPath(import.meta.url)
const sharedSeed = Buffer.alloc(32, 7) // benchmark-only fixed seed

// CPU seconds of this process's main thread and of all its other threads (USER_HZ ticks: 10 ms).
function threadCpu() {
  let main = 0
  let other = 0
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const s = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
      const cpu = (Number(f[11]) + Number(f[12])) / 100
      if (Number(tid) === process.pid) main += cpu
      else other += cpu
    } catch {}
  }
  return { main, other }
}

const snapshot = (bytes) => ({ t: performance.timeOrigin + performance.now(), bytes, ...threadCpu() })

async function role(name, o) {
  const { STTNode } = await import(pathToFileURL(resolve(o.dist, 'index.js')).href)
  const node = new STTNode({ sharedSeed, host: '127.0.0.1', port: 0 })
  if (name === 'receiver') {
    const { port } = await node.start()
    const marks = []
    let bytes = 0
    node.on('session', (s) => s.on('stream', (st) => st.on('data', (d) => {
      if (bytes === 0) marks.push(snapshot(0))
      const before = bytes
      bytes += d.byteLength
      if (Math.floor(bytes / CHUNK) > Math.floor(before / CHUNK)) marks.push(snapshot(Math.floor(bytes / CHUNK) * CHUNK))
    })))
    process.send({ port })
    process.once('message', () => process.send({ marks }, () => process.exit(0)))
    return
  }
  await node.start()
  const samples = []
  const timer = setInterval(() => samples.push(snapshot(0)), 5)
  const session = await node.connect(`udp://127.0.0.1:${o.port}`)
  const stream = session.openStream()
  const buf = Buffer.alloc(65536, 0x78)
  for (let i = 0; i < (o.chunks * CHUNK) / buf.length; i++) if (!stream.write(buf)) await new Promise((r) => stream.once('drain', r))
  stream.end()
  await session.close('done')
  clearInterval(timer)
  samples.push(snapshot(0))
  process.send({ samples }, () => process.exit(0))
}

function spawn(name, o) {
  const child = fork(SELF, [], { env: { ...process.env, WARMUP_ROLE: name, WARMUP_OPTS: JSON.stringify(o) }, execArgv: o.flags ? o.flags.split(' ') : [] })
  const next = () => new Promise((r) => child.once('message', r))
  return { child, next }
}

async function runOnce(o) {
  const rx = spawn('receiver', o)
  const { port } = await rx.next()
  let emu = null
  if (o.rtt > 0) {
    const { startEmu } = await import('./netem/emu.mjs')
    emu = await startEmu({ targets: [port], link: { delay: `${o.rtt / 2}ms` } })
  }
  const tx = spawn('sender', { ...o, port: emu ? emu.pairs[0].listen : port })
  const { samples } = await tx.next()
  rx.child.send('done')
  const { marks } = await rx.next()
  await emu?.stop()
  // the sender's CPU at a receiver mark: its latest sample at or before that moment
  const txAt = (t) => samples.reduce((best, s) => (s.t <= t ? s : best), samples[0])
  const out = []
  for (let i = 1; i < marks.length; i++) {
    const a = marks[i - 1]
    const b = marks[i]
    const gb = (b.bytes - a.bytes) / 1e9
    const ta = txAt(a.t)
    const tb = txAt(b.t)
    out.push({
      chunk: i, mbps: ((b.bytes - a.bytes) * 8) / (b.t - a.t) / 1e3,
      tx_s_per_gb: (tb.main + tb.other - ta.main - ta.other) / gb, tx_other_s_per_gb: (tb.other - ta.other) / gb,
      rx_s_per_gb: (b.main + b.other - a.main - a.other) / gb, rx_other_s_per_gb: (b.other - a.other) / gb,
    })
  }
  return out
}

if (process.env.WARMUP_ROLE) {
  await role(process.env.WARMUP_ROLE, JSON.parse(process.env.WARMUP_OPTS))
} else {
  const cli = parseArgs(process.argv.slice(2))
  const o = { rtt: Number(cli.rtt ?? 0), chunks: Number(cli.chunks ?? 3), dist: resolve(cli.dist ?? fileURLToPath(new URL('../dist', import.meta.url))), flags: cli.flags ?? '' }
  const repeat = Number(cli.repeat ?? 1)
  hardLimit(repeat * (30 + 10 * o.chunks), 'bench/warmup.mjs')
  const f = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a')
  console.log(`# ${o.rtt ? `${o.rtt} ms RTT through bench/netem` : 'loopback'}, ${o.chunks} x 16 MiB, dist ${o.dist}${o.flags ? `, flags ${o.flags}` : ''}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
  console.log('run chunk Mbit/s tx_cpu_s/GB (other threads) rx_cpu_s/GB (other threads)')
  for (let r = 0; r < repeat; r++) {
    for (const c of await runOnce(o)) console.log(`${r + 1} ${c.chunk} ${c.mbps.toFixed(0)} ${f(c.tx_s_per_gb)} (${f(c.tx_other_s_per_gb)}) ${f(c.rx_s_per_gb)} (${f(c.rx_other_s_per_gb)})`)
  }
  process.exit(0)
}
