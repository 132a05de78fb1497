#!/usr/bin/env node
// A real kernel bottleneck: two network namespaces joined by a veth pair, the sender's side shaped
// by `tc qdisc tbf` (this kernel has tbf and htb, not netem). Measures stt-node alone, one kernel
// TCP CUBIC flow alone (plain node:net) and both at once: utilization of the bottleneck, each
// flow's share, and the RTT under load of a small UDP probe crossing the same queue (its rise over
// the idle RTT is the queueing delay the flows cause). Needs root, iproute2 and Node on PATH.
//
//   npm run build && node bench/tbf.mjs [--rate 200mbit] [--latency 10ms] [--seconds 5] [--repeat 3] [--cases a,b] [--json] [--smoke]
//
// Goodput of each case is taken over the flows' common steady window: from the last flow's first
// byte + 1 s warm-up (slow start left out) to the first flow's last byte, from the receivers'
// progress samples every 100 ms. The probe sends a 64-byte UDP datagram every 10 ms through the
// same queue and gets the echo back over the unshaped reverse direction; its RTT p50 in that
// window minus the idle p50 is the queueing delay.
//
// Namespaces are named stt-tbf-<pid>-{tx,rx}; addresses 10.199.0.1 (tx) and 10.199.0.2 (rx)
// exist only inside them. They are removed on every exit path (exit, SIGINT, SIGTERM, an
// exception), and stale ones left by a killed run (its pid gone) are removed at start.
import { execFileSync, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { resolve } from 'node:path'
import { writeFileSync, mkdirSync } from 'node:fs'
import { parseArgs } from './lib/args.mjs'
import { runWorkload } from './lib/workloads.mjs'
import { summarize, fmt, percentile } from './lib/stats.mjs'
import { environment } from './lib/runset.mjs'
import { hardLimit, sleep } from './lib/proc.mjs'
import { availableControllers } from './wan.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const PROBE = fileURLToPath(new URL('./lib/rtt-probe.mjs', import.meta.url))
const PREFIX = 'stt-tbf-'
const NS = { tx: `${PREFIX}${process.pid}-tx`, rx: `${PREFIX}${process.pid}-rx` }
const ADDR = { tx: '10.199.0.1', rx: '10.199.0.2' }

const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts })
const ip = (...a) => sh('ip', a)

function parseRate(s) {
  const m = /^(\d+(?:\.\d+)?)(k|m|g)?bit$/i.exec(String(s))
  if (!m) throw new Error(`--rate like 200mbit (got ${s})`)
  return Number(m[1]) * { k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase()] || Number(m[1])
}

// ---- namespaces ----------------------------------------------------------------------------------

let created = false
function teardown() {
  if (!created) return
  for (const ns of Object.values(NS)) { try { ip('netns', 'del', ns) } catch {} }
  created = false
}

function removeStale() {
  let list = ''
  try { list = ip('netns', 'list') } catch { return }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0]
    const m = new RegExp(`^${PREFIX}(\\d+)-(tx|rx)$`).exec(name)
    if (!m) continue
    let alive = true
    try { process.kill(Number(m[1]), 0) } catch { alive = false }
    if (!alive) { try { ip('netns', 'del', name) } catch {} }
  }
}

function setup(rate, burst, latency) {
  removeStale()
  created = true
  ip('netns', 'add', NS.tx)
  ip('netns', 'add', NS.rx)
  ip('link', 'add', 'stt-tbf-a', 'netns', NS.tx, 'type', 'veth', 'peer', 'name', 'stt-tbf-b', 'netns', NS.rx)
  ip('-n', NS.tx, 'addr', 'add', `${ADDR.tx}/24`, 'dev', 'stt-tbf-a')
  ip('-n', NS.rx, 'addr', 'add', `${ADDR.rx}/24`, 'dev', 'stt-tbf-b')
  for (const [ns, dev] of [[NS.tx, 'stt-tbf-a'], [NS.rx, 'stt-tbf-b']]) {
    ip('-n', ns, 'link', 'set', 'lo', 'up')
    ip('-n', ns, 'link', 'set', dev, 'up')
  }
  // the bottleneck: tx -> rx only (data and probes); ACKs and echoes come back unshaped
  sh('tc', ['-n', NS.tx, 'qdisc', 'add', 'dev', 'stt-tbf-a', 'root', 'tbf', 'rate', rate, 'burst', burst, 'latency', latency])
}

function qdiscStats() {
  try {
    const out = sh('tc', ['-n', NS.tx, '-s', 'qdisc', 'show', 'dev', 'stt-tbf-a'])
    const m = /Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)/.exec(out)
    return m ? { bytes: Number(m[1]), pkts: Number(m[2]), dropped: Number(m[3]) } : null
  } catch { return null }
}

// ---- flows and probe -------------------------------------------------------------------------------

function nsNode(ns, args) {
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const msgs = []
  const waiters = []
  createInterface({ input: p.stdout }).on('line', (l) => {
    const m = /^([A-Z]+) (.*)$/.exec(l)
    if (!m) return
    msgs.push({ tag: m[1], data: JSON.parse(m[2]) })
    waiters.splice(0).forEach((w) => w())
  })
  const next = async (tag) => {
    for (;;) {
      const x = msgs.find((m) => m.tag === tag)
      if (x) return x.data
      if (p.exitCode !== null) throw new Error(`${args.join(' ')} exited before ${tag}`)
      await new Promise((r) => { waiters.push(r); p.once('close', r) })
    }
  }
  return { proc: p, next }
}

async function startEcho() {
  const echo = nsNode(NS.rx, [PROBE, 'echo', '--host', ADDR.rx])
  const { port } = await echo.next('READY')
  return { port, stop: () => echo.proc.kill('SIGKILL') }
}

// The probe pings across the bottleneck every 10 ms for the whole benchmark; samples carry their
// send time (Date.now()), so each case takes the ones inside its measured window.
async function startProbe(echoPort) {
  const p = spawn('ip', ['netns', 'exec', NS.tx, process.execPath, PROBE, 'ping', '--host', ADDR.rx, '--port', String(echoPort), '--interval-ms', '10'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const samples = []
  const lost = []
  let ready
  const readyP = new Promise((resolve, reject) => { ready = resolve; p.once('close', () => reject(new Error('rtt probe exited'))) })
  createInterface({ input: p.stdout }).on('line', (l) => {
    const m = /^([A-Z]+) (.*)$/.exec(l)
    if (m?.[1] === 'S') samples.push(JSON.parse(m[2]))
    else if (m?.[1] === 'L') lost.push(JSON.parse(m[2]).t)
    else if (m?.[1] === 'READY') ready()
  })
  await readyP
  return {
    window(t0, t1) {
      const xs = Float64Array.from(samples.filter((s) => s.t >= t0 && s.t <= t1).map((s) => s.rtt)).sort()
      return { n: xs.length, lost: lost.filter((t) => t >= t0 && t <= t1).length, p50: percentile(xs, 50), p90: percentile(xs, 90), p99: percentile(xs, 99) }
    },
    stop: () => p.kill('SIGKILL'),
  }
}

const flowOpts = (o) => ({
  host: ADDR.rx, bindHost: ADDR.tx, port: 0, size: 65536, bytes: 0, seconds: o.seconds, budget: o.seconds + 40,
  netns: { receiver: NS.rx, sender: NS.tx }, count: 0, warmup: 0, progressMs: 100,
})

// Bytes a receiver had at wall time t, interpolated between its progress samples.
function bytesAt(series, t) {
  if (!series.length || t <= series[0].t) return series[0]?.bytes ?? 0
  for (let i = 1; i < series.length; i++) {
    const a = series[i - 1], b = series[i]
    if (t <= b.t) return a.bytes + ((b.bytes - a.bytes) * (t - a.t)) / Math.max(1, b.t - a.t)
  }
  return series.at(-1).bytes
}

async function flow(f, o, onFirstByte) {
  const series = []
  const onProgress = (s) => { if (series.push(s) === 1) onFirstByte?.() }
  const r = await runWorkload(f.workload, 'throughput', { ...flowOpts(o), ...f.opts }, { onProgress })
  // CPU % of each process over its window: a flow whose sender is near 100 % is CPU-bound on
  // this shared VM, not limited by the bottleneck
  return { mbps_whole: r.value * 1000, secs: r.metric.secs, cc: r.tx.extra?.cc, backend: r.tx.extra?.backend, tx_cpu_pct: r.metric.tx_cpu_pct, rx_cpu_pct: r.metric.rx_cpu_pct, series }
}

// One load case: the flows at once. They are compared over their common steady window: from the
// last flow's first byte + warm-up (slow start left out) to the first flow's last byte.
// The first flow starts alone and writes 2 s longer; the others start when its first byte arrives
// (process start-up and handshakes take a while on a busy VM), so the window covers all of theirs.
async function loadCase(flows, o, probe) {
  const q0 = qdiscStats()
  const fail = (e) => ({ error: String(e.message).split('\n')[0] })
  let rest
  const started = new Promise((resolve) => { rest = resolve })
  const first = flow(flows[0], { ...o, seconds: o.seconds + (flows.length > 1 ? 2 : 0) }, rest).catch((e) => { rest(); return fail(e) })
  const others = started.then(() => Promise.all(flows.slice(1).map((f) => flow(f, o).catch(fail))))
  const res = [await first, ...(await others)]
  const q1 = qdiscStats()
  const ok = res.filter((r) => !r.error && r.series.length > 1)
  const out = { flows: {}, qdisc_drops: q0 && q1 ? q1.dropped - q0.dropped : null }
  if (ok.length === res.length) {
    let t0 = Math.max(...ok.map((r) => r.series[0].t)) + o.warmupMs
    const t1 = Math.min(...ok.map((r) => r.series.at(-1).t))
    if (t1 - t0 < 300) t0 = Math.max(...ok.map((r) => r.series[0].t)) // too short for a warm-up
    out.window_s = (t1 - t0) / 1000
    if (t1 - t0 < 100) { // the flows hardly overlapped (slow process start on a busy machine)
      flows.forEach((f) => { out.flows[f.id] = { error: `flows overlapped only ${t1 - t0} ms` } })
      return out
    }
    out.rtt = probe.window(t0, t1)
    flows.forEach((f, i) => {
      const { series, ...rest } = res[i]
      out.flows[f.id] = { mbps: ((bytesAt(series, t1) - bytesAt(series, t0)) * 8) / (t1 - t0) / 1000, ...rest }
    })
  } else {
    flows.forEach((f, i) => { out.flows[f.id] = res[i].error ? { error: res[i].error } : { error: 'no progress samples' } })
  }
  return out
}

// ---- main -------------------------------------------------------------------------------------------

async function main() {
  const cli = parseArgs(process.argv.slice(2))
  if (cli.help) return console.log('usage: node bench/tbf.mjs [--rate 200mbit] [--latency 10ms] [--seconds 5] [--repeat 3] [--cases a,b] [--json] [--smoke]')
  if (process.getuid?.() !== 0) {
    console.log('bench/tbf.mjs: SKIPPED: needs root (network namespaces, veth, tc)')
    return
  }
  try { sh('tc', ['-V']); sh('ip', ['-V']) } catch {
    console.log('bench/tbf.mjs: SKIPPED: needs iproute2 (ip, tc): apt-get install iproute2')
    return
  }
  const smoke = !!cli.smoke
  const rate = cli.rate ?? (smoke ? '100mbit' : '200mbit')
  const rateBps = parseRate(rate)
  // tbf's queue, as the time its backlog may wait (10 ms at 200 Mbit/s = 250 kB); '2ms' for a shallow one
  const latency = String(cli.latency ?? '10ms')
  const o = { seconds: cli.seconds ?? (smoke ? 2 : 5), warmupMs: smoke ? 300 : 1000 }
  const repeat = smoke ? 1 : (cli.repeat ?? 3)
  const ccs = (await availableControllers()).filter((c) => c === 'bbr' || c === 'cubic')
  const stts = (smoke ? ccs.slice(0, 1) : ccs).map((cc) => ({ id: `stt-${cc}`, workload: 'stt', opts: { cc } }))
  const tcp = { id: 'tcp', workload: 'tcp', opts: {} }
  // --cases a,b: only the cases whose id contains one of these (e.g. 'stt-bbr alone,tcp alone')
  const only = cli.cases ? String(cli.cases).split(',') : null
  const cases = [
    ...stts.map((s) => ({ id: `${s.id} alone`, flows: [s] })),
    ...(smoke ? [] : [{ id: 'tcp alone', flows: [tcp] }]),
    ...stts.map((s) => ({ id: `${s.id} + tcp`, flows: [s, tcp] })),
  ].filter((c) => !only || only.some((x) => c.id.includes(x)))
  hardLimit(repeat * (cases.length * (o.seconds + 50) + 10) + 60, 'bench/tbf.mjs')
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { teardown(); process.exit(130) })
  process.on('exit', teardown)
  setup(rate, '32kb', latency)
  process.stderr.write(`tbf: ${NS.tx} -> ${NS.rx}, tbf rate ${rate} burst 32kb latency ${latency}; stt controllers: ${ccs.join(', ')}\n`)
  const echo = await startEcho()
  const probe = await startProbe(echo.port)
  const data = Object.fromEntries(cases.map((c) => [c.id, []]))
  const idle = []
  try {
    for (let r = 0; r < repeat; r++) {
      const t = Date.now()
      await sleep(smoke ? 400 : 1000)
      const i = probe.window(t + 100, Date.now())
      idle.push(i.p50)
      process.stderr.write(`[${r + 1}/${repeat}] idle RTT p50 ${fmt(i.p50)} ms (${i.n} probes)\n`)
      for (const c of cases) {
        const res = await loadCase(c.flows, o, probe)
        data[c.id].push(res)
        const fl = Object.entries(res.flows).map(([k, v]) => `${k} ${v.error ? 'FAILED ' + v.error : `${fmt(v.mbps)} Mbit/s (CPU tx ${fmt(v.tx_cpu_pct)} %, rx ${fmt(v.rx_cpu_pct)} %)`}`).join(', ')
        process.stderr.write(`[${r + 1}/${repeat}] ${c.id}: ${fl} over ${fmt(res.window_s)} s; probe RTT p50 ${fmt(res.rtt?.p50)} ms p90 ${fmt(res.rtt?.p90)} ms (${res.rtt?.lost ?? '?'} lost); qdisc drops ${res.qdisc_drops}\n`)
        await sleep(300)
      }
    }
  } finally {
    probe.stop()
    echo.stop()
    teardown()
  }
  const idleP50 = summarize(idle).median
  const rows = cases.map((c) => {
    const runs = data[c.id]
    const per = Object.fromEntries(c.flows.map((f) => [f.id, summarize(runs.map((x) => x.flows[f.id]?.mbps))]))
    const total = summarize(runs.map((x) => c.flows.reduce((a, f) => a + (x.flows[f.id]?.mbps ?? NaN), 0)))
    const shares = c.flows.length === 2 ? summarize(runs.map((x) => x.flows[c.flows[0].id]?.mbps / x.flows[c.flows[1].id]?.mbps)) : null
    return {
      id: c.id, flows: per, total, utilization: total.median / (rateBps / 1e6), share: shares,
      rtt_p50: summarize(runs.map((x) => x.rtt?.p50)), rtt_p90: summarize(runs.map((x) => x.rtt?.p90)),
      queueing_delay_ms: summarize(runs.map((x) => x.rtt?.p50 - idleP50)),
      probe_lost: summarize(runs.map((x) => x.rtt?.lost)), qdisc_drops: summarize(runs.map((x) => x.qdisc_drops)),
      errors: runs.flatMap((x) => Object.values(x.flows).filter((v) => v.error).map((v) => v.error)),
    }
  })
  const result = { env: environment(), command: `node bench/tbf.mjs ${process.argv.slice(2).join(' ')}`.trim(), rate, repeat, seconds: o.seconds, controllers: ccs, idle_rtt_ms: summarize(idle), rows }
  const out = resolve(ROOT, `bench/results/tbf-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true })
  writeFileSync(out, JSON.stringify(result, null, 1))
  if (cli.json) return console.log(JSON.stringify(result, null, 1))
  const f = (s) => (s && Number.isFinite(s.median) ? `${fmt(s.median)} [${fmt(s.min)}-${fmt(s.max)}]` : 'n/a')
  console.log(`\n${result.command}: tbf ${rate}, latency ${latency}, ${o.seconds} s per case, median [min-max] of ${repeat}; idle RTT p50 ${fmt(idleP50)} ms\n`)
  console.log('| case | Mbit/s per flow | utilization | stt / tcp | probe RTT p50 / p90 ms | queueing delay ms | qdisc drops |')
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |')
  for (const r of rows) {
    const fl = Object.entries(r.flows).map(([k, v]) => `${k} ${f(v)}`).join('; ')
    console.log(`| ${r.id} | ${fl} | ${Math.round(100 * r.utilization)} % | ${r.share ? f(r.share) + 'x' : ''} | ${fmt(r.rtt_p50.median)} / ${fmt(r.rtt_p90.median)} | ${fmt(r.queueing_delay_ms.median)} | ${fmt(r.qdisc_drops.median)} |${r.errors.length ? ` errors: ${r.errors[0]}` : ''}`)
  }
  // the issue's targets, as far as this run measured them
  const tcpAlone = rows.find((r) => r.id === 'tcp alone')
  console.log('')
  for (const s of stts) {
    const alone = rows.find((r) => r.id === `${s.id} alone`)
    const both = rows.find((r) => r.id === `${s.id} + tcp`)
    if (!alone || !both) continue
    const share = both?.share?.median
    console.log(`- ${s.id}: alone ${Math.round(100 * alone.utilization)} % of ${rate} (target >= 90 %: ${alone.utilization >= 0.9 ? 'met' : 'missed'}); ` +
      `next to TCP ${fmt(share)}x of TCP's goodput (target 0.5-2x: ${share >= 0.5 && share <= 2 ? 'met' : 'missed'})` +
      (tcpAlone ? `; queueing delay alone ${fmt(alone.queueing_delay_ms.median)} ms vs TCP CUBIC alone ${fmt(tcpAlone.queueing_delay_ms.median)} ms (target: no worse: ${alone.queueing_delay_ms.median <= tcpAlone.queueing_delay_ms.median * 1.1 ? 'met' : 'missed'})` : ''))
  }
  process.exitCode = rows.some((r) => r.errors.length) ? 1 : 0
}

await main()
