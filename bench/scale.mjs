#!/usr/bin/env node
/**
 * Scale benchmarks (issue 14), with the responder in ONE process and the clients in OTHER
 * processes (child_process.fork of this file), over loopback UDP:
 *
 *   handshakes  complete handshakes per second accepted by one responder process, for the
 *               native backend (addon: AEAD, UDP, handshake primitives) and the pure-TypeScript
 *               fallback (STT_NATIVE=0 in the responder only; clients always native). Reported
 *               as wall-clock rate and as handshakes per responder CPU-second (process.cpuUsage:
 *               the per-core capacity, which the shared machine's load does not hide).
 *   idle        memory per idle session with N concurrent sessions on one responder (--expose-gc,
 *               process.memoryUsage() after gc, before vs after), and the median 64-byte RTT of
 *               one active session with those N idle ones beside it vs with none.
 *
 * Medians of RUNS runs (default 3). Numbers depend on the machine and its load: bench/README.md
 * records the measured ones with the load at the time.
 *
 *   workers     handshakes/s and aggregate datagram throughput (SESSIONS per client process
 *               sending 1100-byte datagrams for MS ms, middle half measured) into an
 *               STTWorkerNode with 1 and 2 workers (WORKER_COUNTS=1,2).
 *
 *   flood       goodput of SESSIONS_TOTAL established sessions (1100-byte datagrams) with and
 *               without a flood of FLOOD_RATE valid HELLOs/s from another process, and how the
 *               flood was answered (RETRY vs CHALLENGE).
 *   hellocpu    the responder's CPU per flooded HELLO over sockets: a responder with the RETRY
 *               defence engaged (retryThreshold 0) and no session reads FLOOD_RATE valid HELLOs/s
 *               for MS/2 ms; responder CPU (process.cpuUsage) / HELLOs read (RETRYs sent + HELLOs
 *               shed unanswered while behind), and the share of the flood read. The sans-I/O
 *               part: bench/hello-flood-cpu.mjs.
 *
 *   npm run build && node bench/scale.mjs [handshakes|idle|workers|flood|hellocpu|all] [--smoke] [--out FILE]
 *   env: RUNS=3 CLIENTS=4 PER_CLIENT=1500 (handshakes; workers: 250) CONCURRENCY=16 IDLE=1000,10000 PINGS=200
 *        WARMUP=n (handshakes: the first n sessions of each run are reported apart; default half)
 *        CPU_PROF=dir (the handshake, flood and hellocpu responders write a --cpu-prof profile there)
 *        PERF_MAP=1 (the handshake responder writes a perf map for `perf record -p`)
 *        HEAP_SNAPSHOT=dir (the idle responder writes a heap snapshot holding its sessions)
 */
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readFileSync } from 'node:fs'
import os from 'node:os'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const self = fileURLToPath(import.meta.url)
const argv = process.argv.slice(2)
const SMOKE = argv.includes('--smoke')
// --out FILE: every figure of this run as JSON (bench/report/scale-charts.mjs draws the charts).
const OUT = argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : null
const results = { started: new Date().toISOString(), smoke: SMOKE, env: { cpus: os.cpus().length, node: process.version, loadStart: os.loadavg() } }
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const send = (m) => process.send(m)
const nextMessage = (child, type) =>
  new Promise((resolve, reject) => {
    const onMsg = (m) => {
      if (m.type === type) {
        child.off('message', onMsg)
        resolve(m)
      } else if (m.type === 'error') reject(new Error(m.message))
    }
    child.on('message', onMsg)
    child.once('exit', (code) => code && reject(new Error(`child exited ${code}`)))
  })

// ------------------------------------------------------------------ child roles
async function lib() {
  return import(join(root, 'dist/index.js'))
}

/** The node under test: accepts sessions, counts them, echoes datagrams, reports on request. */
async function responder() {
  const { STTNode, STTWorkerNode, backend } = await lib()
  const { handshakeCrypto } = await import(join(root, 'dist/crypto/handshake-crypto.js'))
  const seed = Buffer.from(process.env.SEED, 'hex')
  // WORKERS=n: an STTWorkerNode (n worker threads on one reuseport port) instead of an STTNode.
  const workers = process.env.WORKERS ? Number(process.env.WORKERS) : 0
  // RETRY_THRESHOLD: the handshake-rate runs measure full handshakes (no RETRY round); the flood
  // runs keep the default, whose RETRY defence is what they measure.
  const opts = { sharedSeed: seed, host: '127.0.0.1', port: 0, name: 'responder', maxSessions: 1_000_000, ...(process.env.RETRY_THRESHOLD ? { retryThreshold: Number(process.env.RETRY_THRESHOLD) } : {}) }
  const node = workers ? new STTWorkerNode({ ...opts, workers }) : new STTNode(opts)
  // SINK=1: count datagram bytes instead of echoing them (throughput mode).
  const sink = process.env.SINK === '1'
  let bytes = 0
  let accepted = 0
  let first = 0
  let last = 0
  let cpuAtFirst = null
  let cpuAtStart = null // the first accepted session's: the warm-up's cost is reported too
  // WARMUP=n: the clock and the CPU count start at the n-th accepted session, so a fresh
  // process's first handshakes (interpreted and compiled code, first allocations) are not
  // what a long-running responder pays per handshake.
  const warmup = Number(process.env.WARMUP ?? 0)
  node.on('session', (s) => {
    const t = performance.now()
    if (accepted === 0) cpuAtStart = process.cpuUsage()
    if (accepted === warmup) {
      first = t
      cpuAtFirst = process.cpuUsage()
    }
    accepted++
    last = t
    if (sink) s.on('datagram', (d) => (bytes += d.length))
    else s.on('datagram', (d) => s.sendDatagram(d))
    s.on('error', () => {})
  })
  node.on('error', () => {})
  const { port } = await node.start()
  const mem = () => {
    globalThis.gc?.()
    globalThis.gc?.()
    const m = process.memoryUsage()
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }
  }
  send({ type: 'ready', port, backend, handshake: handshakeCrypto.name, workers: node.workers ?? 1 })
  process.on('message', async (m) => {
    if (m.type === 'reset') {
      accepted = 0
      send({ type: 'reset-done' })
    } else if (m.type === 'idlecpu') {
      // CPU of the responder holding its sessions, over m.ms with no application traffic: at
      // least one keep-alive round over all of them (keepAliveInterval 10 s by default).
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      await new Promise((r) => setTimeout(r, m.ms))
      const c1 = process.cpuUsage()
      send({ type: 'idlecpu', cores: (c1.user - c0.user + c1.system - c0.system) / 1e3 / (performance.now() - t0) })
    } else if (m.type === 'bytes') {
      const st = node.getTransportStats?.()
      send({ type: 'bytes', bytes, t: performance.now(), cpu: process.cpuUsage(), handshakes: st?.handshakes, shed: st?.dropped?.['hello-shed'] ?? 0 })
    } else if (m.type === 'stats') {
      // CPU from the first accepted session to now: the clients have all finished, so the tail
      // after the last session is a few ms of idle timers (sampled here, not per session).
      const now = process.cpuUsage()
      const cpu = cpuAtFirst ? (now.user - cpuAtFirst.user + now.system - cpuAtFirst.system) / 1e6 : 0
      const warmupCpu = cpuAtFirst && warmup > 0 ? (cpuAtFirst.user - cpuAtStart.user + cpuAtFirst.system - cpuAtStart.system) / 1e6 : 0
      send({ type: 'stats', accepted, measured: Math.max(0, accepted - warmup - 1), seconds: (last - first) / 1000, cpuSeconds: cpu, warmupCpuSeconds: warmupCpu })
    } else if (m.type === 'mem') {
      const at = mem()
      // HEAP_SNAPSHOT=dir: a heap snapshot of the responder holding its sessions (what an idle
      // session is made of: bench/heap-breakdown.mjs summarises it by constructor).
      if (process.env.HEAP_SNAPSHOT && accepted > 0) (await import('node:v8')).writeHeapSnapshot(join(process.env.HEAP_SNAPSHOT, `responder-${accepted}.heapsnapshot`))
      send({ type: 'mem', mem: at, sessions: node.sessions?.size ?? accepted })
    } else if (m.type === 'stop') {
      await node.stop()
      process.exit(0)
    }
  })
}

/** Opens `count` sessions to the responder, `concurrency` handshakes in flight at a time. */
async function client() {
  const { STTNode } = await lib()
  const seed = Buffer.from(process.env.SEED, 'hex')
  // Each client process is its own host (127.0.0.x: all of 127/8 is loopback on Linux): the
  // responder's HELLO replay cache lets one source host hold 4,096 live entries (hello-cache.ts),
  // so 10,000 handshakes from one address within helloMaxSkew would be throttled as a flood.
  const node = new STTNode({ sharedSeed: seed, host: process.env.CLIENT_HOST ?? '127.0.0.1', port: 0, name: 'client', maxSessions: 1_000_000, keepAliveInterval: 25_000, keepAliveTimeout: 120_000 })
  node.on('error', () => {})
  await node.start()
  const sessions = []
  send({ type: 'ready' })
  process.on('message', async (m) => {
    if (m.type === 'open') {
      const target = `udp://127.0.0.1:${m.port}`
      let next = 0
      let failed = 0
      const worker = async () => {
        while (next < m.count) {
          next++
          try {
            const s = await node.connect(target, { timeout: 60_000 })
            s.on('error', () => {})
            sessions.push(s)
          } catch {
            failed++
          }
        }
      }
      await Promise.all(Array.from({ length: m.concurrency }, worker))
      send({ type: 'opened', opened: sessions.length, failed })
    } else if (m.type === 'ping') {
      // One active session: `pings` sequential 64-byte datagram round trips.
      const s = sessions[sessions.length - 1]
      const payload = Buffer.alloc(64, 7)
      const rtts = []
      for (let i = 0; i < m.pings; i++) {
        const t0 = performance.now()
        const got = once(s, 'datagram')
        s.sendDatagram(payload)
        await got
        rtts.push(performance.now() - t0)
      }
      send({ type: 'pinged', rttMs: median(rtts) })
    } else if (m.type === 'blast') {
      // Every session sends `size`-byte datagrams as fast as its congestion window takes them,
      // for `ms` milliseconds, yielding to the event loop between rounds.
      const payload = Buffer.alloc(m.size, 1)
      const end = performance.now() + m.ms
      let sent = 0
      while (performance.now() < end) {
        for (const s of sessions) for (let i = 0; i < 8; i++) if (s.sendDatagram(payload)) sent++
        await new Promise((r) => setImmediate(r))
      }
      send({ type: 'blasted', sent })
    } else if (m.type === 'stop') {
      await node.stop()
      process.exit(0)
    }
  })
}

/**
 * A group member flooding the responder with valid HELLOs (fresh ephemeral key, nonce and
 * session id each, made before the flood so the flooder's own CPU is spent outside the
 * measured window) from FLOOD_HOSTS loopback hosts, at a fixed rate. It never answers: each
 * HELLO costs the responder a CHALLENGE (X25519) or, with the RETRY defence on, one HMAC.
 */
async function flooder() {
  const dgram = await import('node:dgram')
  const { InitiatorHandshake } = await import(join(root, 'dist/protocol/handshake.js'))
  const { deriveGroupKeys, deriveIdentity } = await import(join(root, 'dist/protocol/identity.js'))
  const { PacketType, HeaderFlag } = await import(join(root, 'dist/protocol/constants.js'))
  const group = deriveGroupKeys(Buffer.from(process.env.SEED, 'hex'))
  const params = { maxStreams: 8, streamWindow: 65536, sessionWindow: 1 << 20, bareMode: false, maxPacketSize: 1472 }
  const rnd = (n) => new Uint8Array(randomBytes(n))
  const hosts = Number(process.env.FLOOD_HOSTS ?? 8)
  const sockets = []
  const replies = { retry: 0, challenge: 0, other: 0 }
  for (let i = 0; i < hosts; i++) {
    const s = dgram.createSocket('udp4')
    await new Promise((r) => s.bind(0, `127.0.1.${1 + i}`, r))
    s.on('message', (m) => {
      if (m[1] !== PacketType.CHALLENGE) replies.other++
      else if (m[2] & HeaderFlag.RETRY) replies.retry++
      else replies.challenge++
    })
    sockets.push(s)
  }
  let hellos = []
  send({ type: 'ready' })
  process.on('message', async (m) => {
    if (m.type === 'prepare') {
      const identity = deriveIdentity(randomBytes(32))
      hellos = Array.from({ length: m.count }, () => new InitiatorHandshake({ group, identity }, { name: 'flood', params }, ['aes-256-gcm'], rnd).createHello(Date.now()))
      send({ type: 'prepared' })
    } else if (m.type === 'flood') {
      // Every 10 ms, the HELLOs due by then (rate per second), spread over the hosts.
      const t0 = performance.now()
      const c0 = process.cpuUsage()
      let sent = 0
      while (sent < hellos.length && performance.now() - t0 < m.ms) {
        const due = Math.min(hellos.length, Math.floor(((performance.now() - t0) / 1000) * m.rate))
        for (; sent < due; sent++) sockets[sent % hosts].send(hellos[sent], m.port, '127.0.0.1')
        await new Promise((r) => setTimeout(r, 10))
      }
      const c = process.cpuUsage(c0)
      const cpuCores = (c.user + c.system) / 1e3 / (performance.now() - t0)
      await new Promise((r) => setTimeout(r, 200)) // the last replies
      send({ type: 'flooded', sent, replies, cpuCores })
    } else if (m.type === 'stop') {
      for (const s of sockets) s.close()
      process.exit(0)
    }
  })
}

// ------------------------------------------------------------------ orchestration
function spawn(role, env = {}, execArgv = []) {
  return fork(self, ['--role', role], { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
}

async function startResponder(seed, env, execArgv) {
  const r = spawn('responder', { SEED: seed, ...env }, execArgv)
  const ready = await nextMessage(r, 'ready')
  return { r, ready }
}

let clientHosts = 0
async function startClients(n, seed) {
  const cs = Array.from({ length: n }, () => spawn('client', { SEED: seed, CLIENT_HOST: `127.0.0.${2 + (clientHosts++ % 250)}` }))
  await Promise.all(cs.map((c) => nextMessage(c, 'ready')))
  return cs
}

async function stopAll(children) {
  await Promise.all(
    children.map(async (c) => {
      if (c.exitCode !== null) return
      const gone = once(c, 'exit')
      c.send({ type: 'stop' })
      await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))])
      if (c.exitCode === null) c.kill()
    }),
  )
}

async function handshakeRun(backendName, clients, perClient, concurrency, workers = 0, warmup = 0) {
  const seed = randomBytes(32).toString('hex')
  // CPU_PROF=dir: the responder writes a V8 CPU profile there (node --cpu-prof), for hot spots.
  // PERF_MAP=1: it writes /tmp/perf-<pid>.map instead, so that `perf record -p <pid>` names its
  // JavaScript frames (a CPU-time profile: the V8 one samples wall time, which a preempted send
  // system call inflates).
  const prof = process.env.CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.CPU_PROF] : process.env.PERF_MAP ? ['--perf-basic-prof'] : []
  const env = { RETRY_THRESHOLD: String(2 ** 30), WARMUP: String(warmup), ...(backendName === 'js' ? { STT_NATIVE: '0' } : {}), ...(workers ? { WORKERS: String(workers) } : {}) }
  const { r, ready } = await startResponder(seed, env, prof)
  const cs = await startClients(clients, seed)
  const t0 = performance.now()
  const results = await Promise.all(cs.map((c) => (c.send({ type: 'open', port: ready.port, count: perClient, concurrency }), nextMessage(c, 'opened'))))
  const wall = (performance.now() - t0) / 1000
  r.send({ type: 'stats' })
  const st = await nextMessage(r, 'stats')
  await stopAll([...cs, r])
  const failed = results.reduce((a, x) => a + x.failed, 0)
  const coldPerCpuSecond = warmup > 0 && st.warmupCpuSeconds > 0 ? warmup / st.warmupCpuSeconds : null
  return { backend: ready.backend, handshake: ready.handshake, accepted: st.accepted, failed, wall, rate: st.measured / st.seconds, perCpuSecond: st.measured / st.cpuSeconds, coldPerCpuSecond }
}

async function handshakes() {
  const runs = Number(process.env.RUNS ?? (SMOKE ? 1 : 3))
  const clients = Number(process.env.CLIENTS ?? (SMOKE ? 2 : 4))
  const perClient = Number(process.env.PER_CLIENT ?? (SMOKE ? 20 : 1500))
  const concurrency = Number(process.env.CONCURRENCY ?? 16)
  // The first half of each run's handshakes warms the fresh responder process up (WARMUP): its
  // CPU per handshake falls for ~3,000 handshakes (optimized code, the young generation grown to
  // its size), and a long-running responder pays what comes after. The warm-up's rate is printed too.
  const warmup = Number(process.env.WARMUP ?? Math.floor((clients * perClient) / 2))
  const out = {}
  for (const b of ['native', 'js']) {
    const rs = []
    for (let i = 0; i < runs; i++) {
      const x = await handshakeRun(b, clients, perClient, concurrency, 0, warmup)
      console.log(`  ${b} run ${i + 1}: ${x.accepted} accepted (${x.failed} failed) in ${x.wall.toFixed(2)} s; ${x.rate.toFixed(0)}/s wall, ${x.perCpuSecond.toFixed(0)}/responder-CPU-s (warm-up ${x.coldPerCpuSecond?.toFixed(0) ?? '-'}) [responder backend ${x.backend}, handshake ${x.handshake}]`)
      rs.push(x)
    }
    out[b] = { rate: median(rs.map((x) => x.rate)), perCpuSecond: median(rs.map((x) => x.perCpuSecond)), coldPerCpuSecond: median(rs.map((x) => x.coldPerCpuSecond ?? 0)), handshake: rs[0].handshake, backend: rs[0].backend, runs: rs }
  }
  console.log(`handshakes/s, one responder process, ${clients} client processes x ${perClient} sessions (${concurrency} in flight each; the first ${warmup} not counted), median of ${runs}:`)
  for (const [b, x] of Object.entries(out)) console.log(`  ${b.padEnd(6)} ${x.rate.toFixed(0).padStart(6)}/s wall   ${x.perCpuSecond.toFixed(0).padStart(6)}/responder-CPU-second   (warm-up: ${x.coldPerCpuSecond.toFixed(0)}/responder-CPU-second)`)
  console.log(`  native / js: ${(out.native.rate / out.js.rate).toFixed(2)}x wall, ${(out.native.perCpuSecond / out.js.perCpuSecond).toFixed(2)}x per CPU-second`)
  results.handshakes = { clients, perClient, concurrency, warmup, runs, ...out }
  return out
}

async function idleRun(n) {
  const seed = randomBytes(32).toString('hex')
  const { r, ready } = await startResponder(seed, {}, ['--expose-gc'])
  const clients = n === 0 ? 0 : Math.max(1, Math.min(4, Math.ceil(n / 2500)))
  const cs = await startClients(clients, seed)
  const [active] = await startClients(1, seed)
  r.send({ type: 'mem' })
  const before = (await nextMessage(r, 'mem')).mem
  const per = Math.ceil(n / Math.max(1, clients))
  const opened = await Promise.all(cs.map((c) => (c.send({ type: 'open', port: ready.port, count: per, concurrency: 16 }), nextMessage(c, 'opened'))))
  const idle = opened.reduce((a, x) => a + x.opened, 0)
  r.send({ type: 'mem' })
  const after = (await nextMessage(r, 'mem')).mem
  r.send({ type: 'idlecpu', ms: Number(process.env.IDLE_CPU_MS ?? (SMOKE ? 500 : 12_000)) })
  const { cores: idleCores } = await nextMessage(r, 'idlecpu')
  active.send({ type: 'open', port: ready.port, count: 1, concurrency: 1 })
  await nextMessage(active, 'opened')
  const pings = Number(process.env.PINGS ?? (SMOKE ? 20 : 200))
  active.send({ type: 'ping', pings })
  const { rttMs } = await nextMessage(active, 'pinged')
  await stopAll([...cs, active, r])
  const kib = (k) => (idle ? (after[k] - before[k]) / 1024 / idle : 0)
  return { idle, rttMs, idleCores, heapKiB: kib('heapUsed'), extKiB: kib('external'), rssKiB: kib('rss'), jsKiB: kib('heapUsed') + kib('external') }
}

async function idleSessions() {
  const runs = Number(process.env.RUNS ?? (SMOKE ? 1 : 3))
  const sizes = (process.env.IDLE ?? (SMOKE ? '50' : '1000,10000')).split(',').map(Number)
  results.idle = []
  for (const n of sizes) {
    const rows = []
    for (let i = 0; i < runs; i++) {
      const base = await idleRun(0)
      const x = await idleRun(n)
      console.log(`  run ${i + 1}: ${x.idle} idle sessions: heap ${x.heapKiB.toFixed(2)} + external ${x.extKiB.toFixed(2)} KiB/session (rss ${x.rssKiB.toFixed(2)}); RTT ${x.rttMs.toFixed(3)} ms vs ${base.rttMs.toFixed(3)} ms with none; idle CPU ${(100 * x.idleCores).toFixed(2)} % of a core vs ${(100 * base.idleCores).toFixed(2)} % with none`)
      rows.push({ ...x, baseRtt: base.rttMs, baseCores: base.idleCores })
    }
    results.idle.push({ sessions: n, kib: median(rows.map((x) => x.jsKiB)), rttRatio: median(rows.map((x) => x.rttMs / x.baseRtt)), runs: rows })
    console.log(
      `${n} idle sessions, median of ${runs}: ${median(rows.map((x) => x.jsKiB)).toFixed(2)} KiB/session (heap+external; rss ${median(rows.map((x) => x.rssKiB)).toFixed(2)}), ` +
        `64-byte RTT ${median(rows.map((x) => x.rttMs)).toFixed(3)} ms vs ${median(rows.map((x) => x.baseRtt)).toFixed(3)} ms with none (${median(rows.map((x) => x.rttMs / x.baseRtt)).toFixed(2)}x), ` +
        `idle CPU (a keep-alive round included) ${(100 * median(rows.map((x) => x.idleCores))).toFixed(2)} % of a core`,
    )
  }
}

/**
 * Busy CPU time of the whole machine so far, in seconds (Linux /proc/stat: all but idle and
 * iowait; null elsewhere). The clients run on the same machine as the responder, so this says
 * whether a run was limited by the machine's cores rather than by the responder.
 */
function machineBusySeconds() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    const hz = 100 // USER_HZ, 100 on every Linux architecture Node supports
    return (f.reduce((a, b) => a + b, 0) - f[3] - (f[4] ?? 0)) / hz
  } catch {
    return null
  }
}

/** Aggregate datagram throughput into a responder with `workers` worker threads (0: a plain STTNode). */
async function throughputRun(workers, clients, sessionsPerClient, ms, size, flood = null) {
  const seed = randomBytes(32).toString('hex')
  const prof = flood && process.env.CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.CPU_PROF] : []
  const { r, ready } = await startResponder(seed, { SINK: '1', ...(workers ? { WORKERS: String(workers) } : {}) }, prof)
  const cs = await startClients(clients, seed)
  await Promise.all(cs.map((c) => (c.send({ type: 'open', port: ready.port, count: sessionsPerClient, concurrency: 16 }), nextMessage(c, 'opened'))))
  // flood = { rate }: a flooder process sends valid HELLOs at `rate`/s during the measured half.
  const f = flood ? spawn('flooder', { SEED: seed }) : null
  if (f) {
    await nextMessage(f, 'ready')
    f.send({ type: 'prepare', count: Math.ceil((flood.rate * ms) / 2000) })
    await nextMessage(f, 'prepared')
  }
  const sample = async () => (r.send({ type: 'bytes' }), nextMessage(r, 'bytes'))
  const blasted = Promise.all(cs.map((c) => (c.send({ type: 'blast', ms, size }), nextMessage(c, 'blasted'))))
  // Skip the first quarter (slow start), measure the middle half.
  await new Promise((res) => setTimeout(res, ms / 4))
  const a = await sample()
  const busyA = machineBusySeconds()
  const flooded = f ? (f.send({ type: 'flood', port: ready.port, ms: ms / 2, rate: flood.rate }), nextMessage(f, 'flooded')) : null
  await new Promise((res) => setTimeout(res, ms / 2))
  const b = await sample()
  const busyB = machineBusySeconds()
  await blasted
  const fl = flooded ? await flooded : null
  // Every HELLO the responder shed, also those it read after the measured half.
  const shed = f ? (await sample()).shed ?? 0 : 0
  await stopAll([...cs, r, ...(f ? [f] : [])])
  const sec = (b.t - a.t) / 1000
  const cpu = (b.cpu.user - a.cpu.user + b.cpu.system - a.cpu.system) / 1e6
  const hs = b.handshakes
  return { workers: ready.workers, mbps: ((b.bytes - a.bytes) * 8) / sec / 1e6, cpuCores: cpu / sec, machineCores: busyA === null ? null : (busyB - busyA) / sec, flood: fl, retriesSent: hs?.retriesSent ?? 0, accepted: hs?.handshakesAccepted ?? 0, shed }
}

/**
 * Established sessions under a HELLO flood (issue 14): SESSIONS_TOTAL sessions (default 1,000,
 * from CLIENTS processes) send 1100-byte datagrams into one responder; the middle half is
 * measured without and with a flooder sending FLOOD_RATE valid HELLOs per second (default
 * 20,000, 100 times the default retryThreshold), interleaved. Reports the goodput kept and what
 * the flood got back (RETRY vs full CHALLENGE).
 */
async function floodBench() {
  const runs = Number(process.env.RUNS ?? (SMOKE ? 1 : 3))
  const clients = Number(process.env.CLIENTS ?? 2)
  const total = Number(process.env.SESSIONS_TOTAL ?? (SMOKE ? 40 : 1000))
  const rate = Number(process.env.FLOOD_RATE ?? (SMOKE ? 2000 : 20_000))
  const ms = Number(process.env.MS ?? (SMOKE ? 1000 : 4000))
  const rows = []
  for (let i = 0; i < runs; i++) {
    const quiet = await throughputRun(0, clients, Math.ceil(total / clients), ms, 1100)
    const loud = await throughputRun(0, clients, Math.ceil(total / clients), ms, 1100, { rate })
    const fl = loud.flood
    console.log(
      `  run ${i + 1}: ${quiet.mbps.toFixed(0)} Mbit/s without flood, ${loud.mbps.toFixed(0)} with (${((100 * loud.mbps) / quiet.mbps).toFixed(0)} %); ` +
        `flood ${fl.sent} HELLOs -> ${fl.replies.retry} RETRY, ${fl.replies.challenge} CHALLENGE, ${fl.replies.other} other; responder retriesSent ${loud.retriesSent} by the end of the measured half, HELLOs shed unanswered while behind ${loud.shed}, sessions accepted ${loud.accepted}; ` +
        `machine ${quiet.machineCores?.toFixed(2) ?? '?'} / ${loud.machineCores?.toFixed(2) ?? '?'} cores busy without / with, the flooder itself ${fl.cpuCores.toFixed(2)}; ` +
        `responder ${quiet.cpuCores.toFixed(2)} / ${loud.cpuCores.toFixed(2)} cores`,
    )
    const answered = fl.replies.retry + fl.replies.challenge
    rows.push({ kept: loud.mbps / quiet.mbps, quiet: quiet.mbps, loud: loud.mbps, retryShare: answered ? fl.replies.retry / answered : 0, unanswered: fl.sent ? 1 - answered / fl.sent : 0, unread: fl.sent ? Math.max(0, 1 - (answered + loud.shed) / fl.sent) : 0 })
  }
  results.flood = { rate, sessions: total, kept: median(rows.map((x) => x.kept)), retryShare: median(rows.map((x) => x.retryShare)), runs: rows }
  console.log(
    `HELLO flood (${rate}/s) beside ${total} sessions, median of ${runs}: ${median(rows.map((x) => x.quiet)).toFixed(0)} -> ${median(rows.map((x) => x.loud)).toFixed(0)} Mbit/s, ` +
      `goodput kept ${(100 * median(rows.map((x) => x.kept))).toFixed(0)} % (target >= 80 %); of the HELLOs answered, ${(100 * median(rows.map((x) => x.retryShare))).toFixed(0)} % got a RETRY; ` +
      `${(100 * median(rows.map((x) => x.unanswered))).toFixed(0)} % were never answered, ${(100 * median(rows.map((x) => x.unread))).toFixed(0)} % never read (dropped by the kernel at the socket; the rest shed unanswered by the responder while behind)`,
  )
}

/**
 * The responder's CPU per flooded HELLO over sockets (issue 14): recvmmsg, admission, the RETRY
 * and its send. A responder without sessions, RETRY engaged for every token-less HELLO
 * (RETRY_THRESHOLD 0), reads a flood of FLOOD_RATE valid HELLOs/s for MS/2 ms. CPU per HELLO is
 * process.cpuUsage of the responder over the flood / HELLOs it read (answered with a RETRY, or
 * shed unanswered while its socket held more: 'hello-shed'), which the machine's load does not
 * hide as wall-clock rates would; `read` is the share of the flood read (the rest overflowed its
 * socket buffer), `answered` the share that got a RETRY.
 */
async function helloCpuBench() {
  const runs = Number(process.env.RUNS ?? (SMOKE ? 1 : 3))
  const rate = Number(process.env.FLOOD_RATE ?? (SMOKE ? 2000 : 20_000))
  const ms = Number(process.env.MS ?? (SMOKE ? 1000 : 4000))
  const rows = []
  for (let i = 0; i < runs; i++) {
    const seed = randomBytes(32).toString('hex')
    const prof = process.env.CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.CPU_PROF] : []
    const { r, ready } = await startResponder(seed, { SINK: '1', RETRY_THRESHOLD: '0' }, prof)
    const f = spawn('flooder', { SEED: seed })
    await nextMessage(f, 'ready')
    f.send({ type: 'prepare', count: Math.ceil((rate * ms) / 2000) })
    await nextMessage(f, 'prepared')
    const sample = async () => (r.send({ type: 'bytes' }), nextMessage(r, 'bytes'))
    const a = await sample()
    f.send({ type: 'flood', port: ready.port, ms: ms / 2, rate })
    const fl = await nextMessage(f, 'flooded')
    const b = await sample()
    await stopAll([r, f])
    const cpu = b.cpu.user - a.cpu.user + b.cpu.system - a.cpu.system
    const answered = b.handshakes.retriesSent - a.handshakes.retriesSent
    const read = answered + (b.shed ?? 0) - (a.shed ?? 0)
    const row = { sent: fl.sent, answered, read: read / fl.sent, perHello: cpu / Math.max(1, read), cores: cpu / 1e3 / (b.t - a.t) }
    rows.push(row)
    console.log(`  run ${i + 1}: ${fl.sent} HELLOs sent, ${read} read (${(100 * row.read).toFixed(0)} %), ${answered} answered with RETRY; responder ${row.perHello.toFixed(1)} us CPU per HELLO read, ${row.cores.toFixed(2)} cores; load ${os.loadavg()[0].toFixed(1)}`)
  }
  const fmt = (xs, d) => `${median(xs).toFixed(d)} [${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)}]`
  results.hellocpu = { rate, perHello: median(rows.map((x) => x.perHello)), read: median(rows.map((x) => x.read)), runs: rows }
  console.log(`HELLO flood (${rate}/s) into a responder under RETRY, median of ${runs}: ${fmt(rows.map((x) => x.perHello), 1)} us responder CPU per HELLO read, ${fmt(rows.map((x) => 100 * x.read), 0)} % of the flood read`)
}

async function workersBench() {
  const runs = Number(process.env.RUNS ?? (SMOKE ? 1 : 3))
  const list = (process.env.WORKER_COUNTS ?? (SMOKE ? '1,2' : '1,2')).split(',').map(Number)
  const clients = Number(process.env.CLIENTS ?? 2)
  const perClient = Number(process.env.PER_CLIENT ?? (SMOKE ? 20 : 250))
  const sessions = Number(process.env.SESSIONS ?? (SMOKE ? 4 : 16))
  const ms = Number(process.env.MS ?? (SMOKE ? 1000 : 4000))
  const hs = {}
  const tp = {}
  // Throughput per core the responder used: on this 2-vCPU machine the client processes take
  // most of a core themselves, so the responder cannot get 2 cores; if this figure holds from
  // 1 to 2 workers, the workers scale and the clients are the limit.
  const perCore = {}
  for (const w of list) {
    const h = []
    const t = []
    for (let i = 0; i < runs; i++) {
      const x = await handshakeRun('native', clients, perClient, 16, w)
      h.push(x)
      const y = await throughputRun(w, clients, sessions, ms, 1100)
      t.push(y)
      console.log(`  workers=${w} run ${i + 1}: handshakes ${x.rate.toFixed(0)}/s wall, ${x.perCpuSecond.toFixed(0)}/responder-CPU-s; throughput ${y.mbps.toFixed(0)} Mbit/s (${y.workers} workers, responder ${y.cpuCores.toFixed(2)} cores, whole machine ${y.machineCores?.toFixed(2) ?? '?'} of ${os.availableParallelism()} cores busy)`)
    }
    hs[w] = median(h.map((x) => x.rate))
    tp[w] = median(t.map((x) => x.mbps))
    perCore[w] = median(t.map((x) => x.mbps / x.cpuCores))
    ;(results.workers ??= []).push({ workers: w, handshakes: hs[w], handshakesPerCpuSecond: median(h.map((x) => x.perCpuSecond)), mbps: tp[w], mbpsPerResponderCore: perCore[w], runs: { handshakes: h, throughput: t } })
  }
  console.log(`workers, median of ${runs} (${clients} client processes; throughput: ${clients * sessions} sessions of 1100-byte datagrams):`)
  for (const w of list) console.log(`  ${String(w).padStart(2)} worker(s): ${hs[w].toFixed(0).padStart(6)} handshakes/s   ${tp[w].toFixed(0).padStart(6)} Mbit/s   ${perCore[w].toFixed(0).padStart(6)} Mbit/s per responder core   (${(tp[w] / tp[list[0]]).toFixed(2)}x throughput, ${(perCore[w] / perCore[list[0]]).toFixed(2)}x per core, ${(hs[w] / hs[list[0]]).toFixed(2)}x handshakes vs ${list[0]})`)
}

const roleAt = argv.indexOf('--role')
if (roleAt >= 0) {
  const role = argv[roleAt + 1]
  process.on('disconnect', () => process.exit(0)) // the orchestrator is gone: never linger
  process.on('uncaughtException', (e) => {
    send({ type: 'error', message: String(e?.stack ?? e) })
    process.exit(1)
  })
  await (role === 'responder' ? responder() : role === 'flooder' ? flooder() : client())
} else {
  const what = argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--out') ?? 'all'
  console.log(`scale bench (${what}${SMOKE ? ', smoke' : ''}); ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, node ${process.version}`)
  if (what === 'handshakes' || what === 'all') await handshakes()
  if (what === 'idle' || what === 'all') await idleSessions()
  if (what === 'workers' || what === 'all') await workersBench()
  if (what === 'flood' || what === 'all') await floodBench()
  if (what === 'hellocpu' || what === 'all') await helloCpuBench()
  if (OUT) {
    const { writeFileSync } = await import('node:fs')
    results.env.loadEnd = os.loadavg()
    writeFileSync(OUT, JSON.stringify(results, null, 1))
    console.log(`results written to ${OUT} (charts: node bench/report/scale-charts.mjs ${OUT} docs/benchmarks/scale)`)
  }
}
