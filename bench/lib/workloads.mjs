// The workload plug-in point.
//
// A workload is one .mjs file in bench/anchors/ (peers we compare against) or bench/workloads/
// (our own library, e.g. a future bench/workloads/stt.mjs) whose default export is:
//
//   export default {
//     name: 'ws',                       // registry name = file name without .mjs
//     describe: 'raw ws over loopback TCP',
//     throughput: { receiver, sender }, // bulk: sender writes `size`-byte buffers until `bytes`
//                                       //   (0 = no limit) or `seconds`, honouring backpressure
//     msgrate:    { receiver, sender }, // optional; small messages (default: the throughput roles)
//     rtt:        { receiver, sender }, // receiver echoes, sender pings `count` times (+`warmup`)
//   }
//
// Each role is `async (ctx) => metrics`, run in its own process (bench/lib/role.mjs), with
//   ctx = { host, port, size, bytes, seconds, count, warmup, ...any extra CLI option (e.g. mode),
//           ready(info), publish(info), peer(), peerDone(), startClock(), stopClock(), log() }
// The receiver listens (bind to `port`, normally 0) and calls ctx.ready({ port }); the sender
// is started after that with ctx.port / ctx.peer() = that info. Metrics a role returns:
//   throughput/msgrate receiver: { bytes, msgs?, secs?, extra? }  (msgs default: bytes / size;
//                                 secs default: the startClock..stopClock window)
//   throughput/msgrate sender:   { bytes, msgs?, extra? }
//   rtt sender:                  { samples: [µs...], extra? }    (role.mjs turns into p50/p90/p99)
//   rtt receiver:                { msgs: echoed count, extra? }
// `extra` is an object of numbers copied into the combined metric (e.g. { loss_pct }).
// Every role process also reports CPU seconds (user + sys, all threads) over its clock window.
// With opts.warm (bytes; bulk kinds only) each role is first run once more, untimed, over a direct
// loopback connection of its own with ctx.warming = true and ctx.bytes = warm (role.mjs warmUp);
// a role may return close() (not a metric) to shut that pass's connection afterwards.
import { readdirSync, existsSync } from 'node:fs'
import { resolve, basename } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cpus } from 'node:os'
import { spawnRole, machineBusySeconds } from './proc.mjs'

const BENCH = fileURLToPath(new URL('..', import.meta.url))
const ROLE = fileURLToPath(new URL('./role.mjs', import.meta.url))
const DIRS = ['anchors', 'workloads'].map((d) => resolve(BENCH, d))
export const KINDS = ['throughput', 'msgrate', 'rtt']

// name -> absolute file path, for every workload file present.
export function listWorkloads() {
  const out = {}
  for (const dir of DIRS) {
    if (!existsSync(dir)) continue
    for (const f of readdirSync(dir)) if (f.endsWith('.mjs')) out[basename(f, '.mjs')] = resolve(dir, f)
  }
  return out
}

export function resolveWorkload(nameOrPath) {
  if (nameOrPath.endsWith('.mjs') && existsSync(nameOrPath)) return resolve(nameOrPath)
  const file = listWorkloads()[nameOrPath]
  if (!file) throw new Error(`unknown workload ${nameOrPath} (have: ${Object.keys(listWorkloads()).join(', ')})`)
  return file
}

// Run one measurement: receiver process, then sender process, wired together; returns
// { value, unit, metric: {...}, tx, rx } where tx/rx are the raw role results.
// route (optional): async (receiverInfo) => ({ port, peer? }) puts something between the two,
// e.g. the WAN benchmark's network emulator: the sender is pointed at `port`, and `peer(info)`
// rewrites what the sender publishes before the receiver sees it (udx: the emulator's port).
// onProgress (optional): called with the receiver's { t: Date.now(), bytes } samples when
// opts.progressMs is set (flows sharing a bottleneck are compared over a common window).
export async function runWorkload(name, kind, opts, { route, onProgress } = {}) {
  if (!KINDS.includes(kind)) throw new Error(`kind must be one of ${KINDS.join(', ')}`)
  const file = resolveWorkload(name)
  const budget = opts.budget ?? Math.ceil(opts.seconds + (opts.smoke ? 10 : 20))
  const o = { ...opts, budget }
  // pin: 'N' puts both processes on vCPU N; 'R,S' puts the receiver on R and the sender on S
  const pins = opts.pin === undefined ? [] : String(opts.pin).split(',')
  const pinOf = (role) => (pins.length ? pins[role === 'receiver' ? 0 : pins.length - 1] : undefined)
  // netns: { receiver: 'ns', sender: 'ns' } runs each role in that network namespace
  const wrapOf = (role) => (opts.netns?.[role] ? ['ip', 'netns', 'exec', opts.netns[role]] : [])
  const spawnOne = (role, extra) =>
    spawnRole(ROLE, [file, kind, role, JSON.stringify({ ...o, ...extra })], {
      budget, pin: pinOf(role), label: `${name} ${kind} ${role}`, env: opts.env, wrap: wrapOf(role)
    })
  const busy0 = machineBusySeconds()
  const own0 = process.cpuUsage()
  const t0 = performance.now()
  const rx = spawnOne('receiver', { port: opts.port ?? 0 })
  if (onProgress) rx.on('PROGRESS', onProgress)
  let tx = null
  let info = null
  try {
    // opts.warm: both processes first move that many bytes over a direct loopback connection of
    // their own (role.mjs warmUp); the sender then waits for GO with the measured destination
    if (o.warm > 0) {
      if (kind === 'rtt') throw new Error('warm-up is for the bulk kinds (throughput, msgrate)')
      const w = await rx.next('WARM_READY')
      tx = spawnOne('sender', { warmPeer: w })
      tx.on('WARM_INFO', (d) => rx.send('WARM_PEER', d))
      tx.on('WARM_DONE', (d) => rx.send('WARM_PEER_DONE', d))
      rx.on('WARM_RECEIVED', (d) => tx.send('WARM_RECEIVED', d))
      tx.result.catch(() => { if (!info) rx.kill() }) // the sender died in its warm-up
    }
    info = await rx.next('READY')
    const via = route ? await route(info) : null
    const dest = { port: via?.port ?? info.port, host: info.host ?? opts.host, peer: info }
    if (tx) tx.send('GO', dest)
    else tx = spawnOne('sender', dest)
    tx.on('INFO', (d) => rx.send('PEER', via?.peer ? via.peer(d) : d))
    // a receiver that stopped early (ctx.receiveSeconds: a slow path would take minutes to drain
    // the sender's buffer) ends the run: the sender is stopped and reports nothing
    let cut = false
    const rxRes = rx.result.then((r) => { if (r.cut) { cut = true; tx.kill() } return r })
    const txRes = tx.result.then((r) => { rx.send('PEER_DONE', r); return r })
      .catch((err) => { if (cut) return { cut: true, cpu_s: NaN, wall_s: NaN, proc_cpu_s: 0, bytes: NaN }; throw err })
    const [t, r] = await Promise.all([txRes, rxRes])
    const res = combine(kind, o, t, r)
    // CPU used by anything but our three processes during the run, in % of all vCPUs
    const own = process.cpuUsage(own0)
    const busy = machineBusySeconds() - busy0 - t.proc_cpu_s - r.proc_cpu_s - (own.user + own.system) / 1e6
    if (busy0 !== null) res.metric.other_cpu_pct = Math.max(0, (100 * busy) / (((performance.now() - t0) / 1000) * cpus().length))
    return { ...res, tx: t, rx: r }
  } catch (err) {
    rx.kill()
    tx?.kill()
    throw err
  }
}

// Both roles' results -> the figures we report.
export function combine(kind, opts, tx, rx) {
  const m = {}
  if (kind === 'rtt') {
    for (const k of ['p50', 'p90', 'p99', 'mean', 'min', 'max', 'n']) m[k] = tx[k]
    m.tx_cpu_us_per_rt = (tx.cpu_s * 1e6) / tx.n
    if (rx.msgs) m.rx_cpu_us_per_rt = (rx.cpu_s * 1e6) / rx.msgs
  } else {
    const secs = rx.secs ?? rx.wall_s
    const msgs = rx.msgs ?? rx.bytes / opts.size
    const gb = rx.bytes / 1e9
    Object.assign(m, {
      gbps: (rx.bytes * 8) / secs / 1e9,
      msgs_per_s: msgs / secs,
      mib: rx.bytes / 2 ** 20,
      secs,
      tx_cpu_s_per_gb: tx.cpu_s / gb,
      rx_cpu_s_per_gb: rx.cpu_s / gb,
      tx_cpu_pct: (100 * tx.cpu_s) / tx.wall_s,
      rx_cpu_pct: (100 * rx.cpu_s) / secs // secs, not wall_s: a receiver's window may end in idle grace time
    })
    if (kind === 'msgrate') {
      m.tx_cpu_us_per_msg = (tx.cpu_s * 1e6) / msgs
      m.rx_cpu_us_per_msg = (rx.cpu_s * 1e6) / msgs
    }
  }
  Object.assign(m, tx.extra, rx.extra)
  const [key, unit] = { throughput: ['gbps', 'Gbit/s'], msgrate: ['msgs_per_s', 'msg/s'], rtt: ['p50', 'µs'] }[kind]
  return { value: m[key], unit, metric: m }
}

// ---- helpers for workloads over node:stream-like Duplexes (node streams and streamx) ---------

// Sender: write ctx.size-byte buffers until ctx.bytes (if > 0) or ctx.seconds, waiting for
// 'drain' whenever write() returns false, then end() and wait for 'finish'.
export function pumpWritable(ctx, stream) {
  const buf = Buffer.alloc(ctx.size, 0x78)
  const maxBytes = ctx.bytes > 0 ? ctx.bytes : Infinity
  let bytes = 0
  let msgs = 0
  ctx.startClock()
  const end = performance.now() + ctx.seconds * 1000
  return new Promise((resolve, reject) => {
    stream.once('error', reject)
    stream.once('finish', () => { ctx.stopClock(); resolve({ bytes, msgs }) })
    const pump = () => {
      // checking the clock every 16 writes keeps the timing cost negligible for 64-byte writes
      while (bytes < maxBytes && (msgs & 15 || performance.now() < end)) {
        bytes += buf.length
        msgs++
        if (!stream.write(buf)) return stream.once('drain', pump)
      }
      stream.end()
    }
    pump()
  })
}

// Receiver: count bytes and 'data' events to 'end', timed from the moment the receiver holds the
// first ctx.size bytes (one write); those first bytes are not counted. Timing from the first byte
// instead favoured framed transports: secret-stream decrypts and emits whole messages, so udx's
// first 'data' event is the first 64 KiB write complete, two to three Startup round trips after its
// first packet arrived (IW 10 packets: 12, 24, 48 KB), while a byte stream's first event is its
// first packet; at 100 ms RTT that hid ~200 ms of udx's ramp (16 MiB in ~1 s). Now every
// transport is timed from the same point of the transfer. (Without ctx.size: from the first byte.)
// With ctx.receiveSeconds, stops counting that long after the first byte (ctx.cut = true: the
// launcher then stops the sender). With ctx.progressMs, also reports { t: Date.now(), bytes } every progressMs from the first byte
// (wall clock, comparable across processes; bytes since the first byte), and once more at the end.
export function countReadable(ctx, stream) {
  const head = ctx.size > 0 ? ctx.size : 1
  let total = 0
  let bytes = 0
  let events = 0
  let timing = false
  let timer = null
  const sample = () => ctx.progress?.({ t: Date.now(), bytes: total })
  return new Promise((resolve, reject) => {
    stream.once('error', reject)
    let cutTimer = null
    const finish = () => {
      ctx.stopClock()
      if (timer) { clearInterval(timer); sample() }
      clearTimeout(cutTimer)
      resolve({ bytes, events })
    }
    stream.on('data', (d) => {
      if (total === 0) {
        if (ctx.progressMs > 0) { sample(); timer = setInterval(sample, ctx.progressMs) }
        if (ctx.receiveSeconds > 0) cutTimer = setTimeout(() => { ctx.cut = true; finish() }, ctx.receiveSeconds * 1000)
      }
      total += d.byteLength
      if (timing) {
        bytes += d.byteLength
        events++
      } else if (total >= head) {
        timing = true
        ctx.startClock()
        bytes = total - head
      }
    })
    stream.once('end', finish)
  })
}

// Ping-pong driver: call send() now; call reply() when the whole echo is back. Stops after
// ctx.warmup + ctx.count round trips or ctx.seconds, whichever first. With timeoutMs, a missing
// reply counts as lost and the ping is re-sent (for unreliable transports like raw UDP).
export function pingPong(ctx, send, { timeoutMs = 0 } = {}) {
  const samples = []
  const end = performance.now() + ctx.seconds * 1000
  let i = 0
  let lost = 0
  let t0 = 0
  let timer = null
  let finish
  const done = new Promise((resolve) => { finish = resolve })
  const ping = () => {
    if (i === ctx.warmup) ctx.startClock()
    t0 = performance.now()
    send()
    if (timeoutMs) timer = setTimeout(() => { lost++; ping() }, timeoutMs)
  }
  const reply = () => {
    const rtt = (performance.now() - t0) * 1000
    if (timer) clearTimeout(timer)
    if (i++ >= ctx.warmup) samples.push(rtt)
    if (samples.length < ctx.count && performance.now() < end) return ping()
    ctx.stopClock()
    finish({ samples, extra: timeoutMs ? { lost } : undefined })
  }
  ping()
  return { reply, done }
}
