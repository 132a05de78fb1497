/**
 * stt bench: sender and receiver in two processes on loopback; throughput, msg/s, RTT
 * percentiles and CPU per GB, per transport and write size. --compare runs the repository's
 * anchor workloads (bench/lib, bench/anchors: udx-native + secret-stream, raw ws, raw dgram)
 * in the same run and prints ratios.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import os from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { backend } from '../index.js'
import { parse, parseIntArg, parseSize, str } from './args.js'
import { CliError, EXIT } from './exit.js'
import type { Io } from './io.js'

export const HELP = `usage: stt bench [--transport udp|websocket|both] [--backend native|js] [--bytes 1G]
                 [--size 64,1200,65536] [--seconds S] [--count N] [--json] [--smoke]
                 [--compare udx,ws,dgram]
       stt bench --wan [--full | --smoke] [--repeat 3] [--seconds 4] [--bytes 16Mi] [--warm 32Mi] [--json]

Sender and receiver run as two separate processes on 127.0.0.1. For each transport and write
size: throughput (Gbit/s and MiB/s of payload), writes per second (msg/s), CPU seconds per GB
(10^9 bytes) of each process, retransmitted packets; then a 64-byte ping-pong RTT (p50/p90/p99).

  --transport T     udp, websocket or both                                       [both]
  --backend B       native or js (js sets STT_NATIVE=0 for the child processes)  [what loads]
  --bytes N         bytes per throughput run (suffixes k M G Ki Mi Gi)           [1G]
  --seconds S       ... or stop a run after S seconds, whichever first           [10]
  --size LIST       write sizes, comma separated                                 [64,1200,65536]
  --count N         RTT round trips                                              [5000]
  --json            print one JSON object (progress goes to stderr)
  --smoke           tiny runs that only prove it works (2 MiB, 100 pings); numbers meaningless
  --compare LIST    also run these anchors in the same run and print ratios: udx, ws, dgram
                    (needs the repository checkout: bench/lib and bench/anchors)

  --wan             the WAN benchmark instead (repository checkout only: bench/wan.mjs):
                    stt-node vs udx-native + secret-stream through a loopback network
                    emulator (delay, jitter, loss, burst loss, a 100 Mbit/s bottleneck),
                    a representative set of paths (--full: the whole matrix, ~45 min);
                    --warm N: bytes each run's processes first move over plain loopback,
                    untimed (0: fresh processes)                                 [32Mi]

Numbers on a shared or small machine drift 20-30 % between runs: compare only within a run.

Exit codes: 0 done, 1 a run failed, 2 usage, 3 --backend native but the addon is missing.`

/** What one bench run gets (the child process reads the same shape). */
export interface RunOpts {
  kind: 'throughput' | 'rtt'
  transport: 'udp' | 'websocket'
  size: number
  bytes: number
  seconds: number
  count: number
  warmup: number
  budget: number
}

const CHILD = fileURLToPath(new URL('./bench-child.js', import.meta.url))

function spawnChild(role: string, o: object, env: NodeJS.ProcessEnv, budget: number) {
  const p = spawn(process.execPath, [CHILD, role, JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'pipe'], env })
  const msgs = new Map<string, (d: Record<string, unknown>) => void>()
  const got = new Map<string, Record<string, unknown>>()
  let stderr = ''
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  createInterface({ input: p.stdout }).on('line', (line) => {
    const m = /^([A-Z]+) (.*)$/.exec(line)
    if (!m) return
    const data = JSON.parse(m[2]!) as Record<string, unknown>
    got.set(m[1]!, data)
    msgs.get(m[1]!)?.(data)
  })
  const killer = setTimeout(() => p.kill('SIGKILL'), (budget + 5) * 1000)
  const exited = new Promise<number | null>((r) => p.on('close', (code) => (clearTimeout(killer), r(code))))
  const wait = (tag: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      if (got.has(tag)) return resolve(got.get(tag)!)
      msgs.set(tag, resolve)
      exited.then((code) => {
        if (got.has(tag)) resolve(got.get(tag)!)
        else reject(new Error(`bench ${role} exited (${code}) before ${tag}${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`))
      })
    })
  return { wait, exited, kill: () => p.kill('SIGKILL') }
}

async function runOne(o: RunOpts, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const rx = spawnChild('receiver', o, env, o.budget)
  try {
    const ready = await rx.wait('READY')
    const tx = spawnChild('sender', { ...o, port: ready.port }, env, o.budget)
    const [t, r] = await Promise.all([tx.wait('RESULT'), rx.wait('RESULT')])
    await Promise.all([tx.exited, rx.exited])
    const id = `stt-${o.transport === 'udp' ? 'udp' : 'ws'}/${o.kind}/${o.size}`
    if (o.kind === 'rtt') {
      const { backend: b, ...rest } = t
      return { id, transport: o.transport, kind: 'rtt', size: o.size, backend: b, ...rest }
    }
    const bytes = Number(r.bytes)
    const secs = Number(r.secs)
    const gb = bytes / 1e9
    return {
      id,
      transport: o.transport,
      kind: 'throughput',
      size: o.size,
      backend: r.backend,
      bytes,
      secs,
      gbps: (bytes * 8) / secs / 1e9,
      mib_per_s: bytes / 2 ** 20 / secs,
      msgs_per_s: Number(t.msgs) / secs,
      tx_cpu_s_per_gb: Number(t.cpu_s) / gb,
      rx_cpu_s_per_gb: Number(r.cpu_s) / gb,
      tx_cpu_pct: (100 * Number(t.cpu_s)) / Number(t.secs),
      rx_cpu_pct: (100 * Number(r.cpu_s)) / secs,
      packets_sent: t.packets_sent,
      lost_packets: t.lost_packets,
      retransmit_pct: t.retransmit_pct,
    }
  } finally {
    rx.kill()
  }
}

const n3 = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? Number(x.toPrecision(3)) : '-')

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    transport: { type: 'string', short: 't' },
    backend: { type: 'string' },
    bytes: { type: 'string' },
    seconds: { type: 'string' },
    size: { type: 'string' },
    count: { type: 'string' },
    json: { type: 'boolean' },
    smoke: { type: 'boolean' },
    compare: { type: 'string' },
    wan: { type: 'boolean' },
    full: { type: 'boolean' },
    repeat: { type: 'string' },
    warm: { type: 'string' },
  })
  if (values.help) return io.out(HELP), EXIT.OK
  if (values.wan === true) return runWan(values, io)
  const tArg = (str(values.transport) ?? 'both').toLowerCase()
  const transports: Array<'udp' | 'websocket'> = tArg === 'both' ? ['udp', 'websocket'] : tArg === 'udp' ? ['udp'] : tArg === 'websocket' || tArg === 'ws' ? ['websocket'] : []
  if (!transports.length) throw new CliError(`--transport must be udp, websocket or both (got ${tArg})`, EXIT.USAGE)
  const smoke = values.smoke === true
  const sizes = (str(values.size) ?? '64,1200,65536').split(',').map((s) => parseSize(s, '--size'))
  for (const s of sizes) if (s < 1 || s > 16 << 20) throw new CliError('--size values must be 1 byte to 16 MiB', EXIT.USAGE)
  const bytes = str(values.bytes) ? parseSize(str(values.bytes)!, '--bytes') : smoke ? 2 << 20 : 1e9
  const seconds = str(values.seconds) ? Number(str(values.seconds)) : smoke ? 2 : 10
  if (!Number.isFinite(seconds) || seconds <= 0) throw new CliError('--seconds must be a positive number', EXIT.USAGE)
  const count = parseIntArg(str(values.count), '--count', 1, 1e7) ?? (smoke ? 100 : 5000)
  const warmup = smoke ? 10 : Math.min(500, Math.ceil(count / 10))
  const env = { ...process.env }
  const be = str(values.backend)
  if (be !== undefined && be !== 'native' && be !== 'js') throw new CliError('--backend must be native or js', EXIT.USAGE)
  if (be === 'js') env.STT_NATIVE = '0'
  if (be === 'native') {
    if (backend !== 'native' && process.env.STT_NATIVE !== '0') throw new CliError('--backend native: the native addon is not available here (build it: npm run build:native)', EXIT.CONFIG)
    env.STT_NATIVE = '1'
  }
  const compare = str(values.compare)?.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) ?? []
  for (const c of compare) if (!['udx', 'ws', 'dgram'].includes(c)) throw new CliError(`--compare takes udx, ws, dgram (got ${c})`, EXIT.USAGE)
  const benchLib = fileURLToPath(new URL('../../bench/lib/', import.meta.url))
  if (compare.length && !existsSync(benchLib + 'runset.mjs')) throw new CliError(`--compare needs the repository's bench/ directory (not found at ${benchLib}); run from a git checkout`, EXIT.CONFIG)

  const json = values.json === true
  const progress = (s: string) => io.err(s)
  const results: Record<string, unknown>[] = []
  const errors: string[] = []
  const t0 = performance.now()
  for (const transport of transports) {
    for (const size of sizes) {
      const o: RunOpts = { kind: 'throughput', transport, size, bytes, seconds, count, warmup, budget: Math.ceil(seconds + 30) }
      try {
        const r = await runOne(o, env)
        results.push(r)
        progress(`${r.id}: ${n3(r.gbps)} Gbit/s, ${n3(r.msgs_per_s)} msg/s, CPU ${n3(r.tx_cpu_s_per_gb)} + ${n3(r.rx_cpu_s_per_gb)} s/GB (${n3(r.secs)} s)`)
      } catch (err) {
        errors.push(`${transport}/throughput/${size}: ${(err as Error).message}`)
        progress(`${transport}/throughput/${size}: FAILED ${(err as Error).message}`)
      }
    }
    const o: RunOpts = { kind: 'rtt', transport, size: 64, bytes: 0, seconds, count, warmup, budget: Math.ceil(seconds + 30) }
    try {
      const r = await runOne(o, env)
      results.push(r)
      progress(`${r.id}: p50 ${n3(r.p50_us)} µs, p99 ${n3(r.p99_us)} µs (n=${r.n})`)
    } catch (err) {
      errors.push(`${transport}/rtt/64: ${(err as Error).message}`)
      progress(`${transport}/rtt/64: FAILED ${(err as Error).message}`)
    }
  }

  // Anchors, measured now, next to our figures.
  const anchors: Record<string, unknown>[] = []
  const ratios: Record<string, unknown>[] = []
  if (compare.length) {
    const { ANCHORS } = (await import(pathToFileURL(benchLib + 'anchors.mjs').href)) as { ANCHORS: Array<{ id: string; optional?: boolean }> }
    const { runSet } = (await import(pathToFileURL(benchLib + 'runset.mjs').href)) as {
      runSet: (e: unknown[], o: object) => Promise<Array<{ id: string; kind: string; unit: string; value: { median: number }; metrics: Record<string, { median: number }>; errors: string[] }>>
    }
    const prefix: Record<string, string> = { udx: 'udx-secret/', ws: 'ws/', dgram: 'dgram/' }
    const entries = ANCHORS.filter((a) => !a.optional && !a.id.includes('/pinned') && compare.some((c) => a.id.startsWith(prefix[c]!)))
    progress(`anchors: ${entries.map((e) => e.id).join(', ')}`)
    const set = await runSet(entries, { repeat: 1, cli: smoke ? { smoke: true } : { seconds: Math.min(seconds, 5) }, progress })
    for (const a of set) {
      const m = Object.fromEntries(Object.entries(a.metrics).map(([k, v]) => [k, v.median]))
      anchors.push({ id: a.id, kind: a.kind, unit: a.unit, value: a.value.median, ...m, errors: a.errors })
      if (a.errors.length) errors.push(`${a.id}: ${a.errors[0]}`)
    }
    for (const r of results) {
      const family = r.transport === 'udp' ? ['udx-secret/', 'dgram/'] : ['ws/']
      const peers = anchors.filter((a) => family.some((f) => String(a.id).startsWith(f)) && (r.kind === 'rtt' ? a.kind === 'rtt' : a.kind === 'throughput' || a.kind === 'msgrate'))
      for (const a of peers) {
        const aSize = Number(String(a.id).split('/')[2])
        if (r.kind === 'throughput' && aSize !== r.size && !(a.kind === 'msgrate' && Number(r.size) <= 64)) continue
        const metric = r.kind === 'rtt' ? 'p50' : a.kind === 'msgrate' ? 'msgs_per_s' : 'gbps'
        const ours = Number(r.kind === 'rtt' ? r.p50_us : metric === 'msgs_per_s' ? r.msgs_per_s : r.gbps)
        const theirs = Number(a[metric])
        ratios.push({ ours: r.id, anchor: a.id, metric, ours_value: ours, anchor_value: theirs, ratio: theirs ? ours / theirs : null, better: r.kind === 'rtt' ? 'lower' : 'higher' })
      }
    }
  }

  const environment = { node: process.version, os: `${os.type()} ${os.release()} ${os.arch()}`, cpu: os.cpus()[0]?.model ?? 'unknown', cpus: os.cpus().length, backend: results[0]?.backend ?? (be ?? backend) }
  const summary = {
    tool: 'stt bench',
    date: new Date().toISOString(),
    environment,
    options: { transports, backend: be ?? 'auto', bytes, seconds, sizes, count, smoke, compare },
    results: results.filter((r) => r.kind === 'throughput'),
    rtt: results.filter((r) => r.kind === 'rtt'),
    anchors,
    ratios,
    errors,
    total_s: (performance.now() - t0) / 1000,
  }
  if (json) io.out(JSON.stringify(summary))
  else {
    io.out(`stt bench${smoke ? ' (smoke: numbers are meaningless)' : ''}: node ${environment.node}, ${environment.cpus} x ${environment.cpu}, backend ${environment.backend}`)
    io.out('')
    io.out('| run | Gbit/s | MiB/s | msg/s | tx CPU s/GB | rx CPU s/GB | retransmit % |')
    io.out('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
    for (const r of summary.results) io.out(`| ${r.id} | ${n3(r.gbps)} | ${n3(r.mib_per_s)} | ${n3(r.msgs_per_s)} | ${n3(r.tx_cpu_s_per_gb)} | ${n3(r.rx_cpu_s_per_gb)} | ${n3(r.retransmit_pct)} |`)
    io.out('')
    io.out('| rtt | p50 µs | p90 µs | p99 µs | mean µs | n |')
    io.out('| --- | ---: | ---: | ---: | ---: | ---: |')
    for (const r of summary.rtt) io.out(`| ${r.id} | ${n3(r.p50_us)} | ${n3(r.p90_us)} | ${n3(r.p99_us)} | ${n3(r.mean_us)} | ${r.n} |`)
    if (ratios.length) {
      io.out('')
      io.out('| ours | anchor | metric | ours | anchor | ratio |')
      io.out('| --- | --- | --- | ---: | ---: | ---: |')
      for (const x of ratios) io.out(`| ${x.ours} | ${x.anchor} | ${x.metric} (${x.better} is better) | ${n3(x.ours_value)} | ${n3(x.anchor_value)} | ${n3(x.ratio)}x |`)
    }
    if (errors.length) io.out(`\n${errors.length} run(s) failed:\n  ${errors.join('\n  ')}`)
  }
  return errors.length ? EXIT.INTERNAL : EXIT.OK
}

/**
 * stt bench --wan: delegates to the repository's bench/wan.mjs (the C network emulator and the
 * udx anchor live in bench/, which the npm package does not ship), forwarding its output.
 */
async function runWan(values: Record<string, unknown>, io: Io): Promise<number> {
  const script = fileURLToPath(new URL('../../bench/wan.mjs', import.meta.url))
  if (!existsSync(script)) throw new CliError(`--wan needs the repository's bench/ directory (not found at ${script}); run from a git checkout`, EXIT.CONFIG)
  const args = [script, values.smoke === true ? '--smoke' : values.full === true ? '--full' : '--quick']
  for (const k of ['repeat', 'seconds', 'bytes', 'warm'] as const) {
    const v = str(values[k] as string | undefined)
    if (v !== undefined) args.push(`--${k}`, v)
  }
  if (values.json === true) args.push('--json')
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  createInterface({ input: child.stdout }).on('line', (l) => io.out(l))
  createInterface({ input: child.stderr }).on('line', (l) => io.err(l))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return code === 0 ? EXIT.OK : 1
}
