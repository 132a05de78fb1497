// Child-process entry point: runs one role of one workload and prints exactly one
// `RESULT {json}` line, then exits.
//   node bench/lib/role.mjs <workload-module-path> <kind> <sender|receiver> '<json options>'
// The role function gets a context object (see workloads.mjs for the full shape) and returns a
// metric object; this file adds the CPU/wall accounting of the measured window.
import { pathToFileURL } from 'node:url'
import { hardLimit, emit, launcherChannel, cpuSnapshot, cpuDelta } from './proc.mjs'
import { rttStats } from './stats.mjs'

const [file, kind, role, json] = process.argv.slice(2)
const opts = JSON.parse(json)
hardLimit(opts.budget ?? 60, `${file} ${kind} ${role}`)

const mod = (await import(pathToFileURL(file).href)).default
const roles = mod[kind] ?? (kind === 'msgrate' ? mod.throughput : undefined)
if (!roles?.[role]) {
  process.stderr.write(`${mod.name}: no ${kind}.${role} role\n`)
  process.exit(2)
}

const channel = launcherChannel()

// opts.warm > 0 (bulk kinds; bench/wan.mjs --warm): before the measured transfer, the same role
// moves opts.warm bytes over a connection of its own, straight over loopback (never through the
// launcher's route, e.g. the WAN emulator), with the same write size; untimed, not counted, and
// closed before the measured one opens (which starts from a fresh session and congestion state).
// Services that use a transport are long-running: without it a run of a few MiB measures V8
// compiling the JavaScript packet path as much as the path (bench/README.md, WAN section).
// Messages: receiver WARM_READY, sender WARM_INFO (launcher -> receiver WARM_PEER), sender
// WARM_DONE (-> receiver WARM_PEER_DONE), receiver WARM_RECEIVED (-> sender); then the sender
// waits for GO { port, host, peer }: where the measured transfer goes.
async function warmUp() {
  const w = {
    ...opts,
    role,
    kind,
    warming: true,
    bytes: opts.warm,
    seconds: 1e9, // by bytes only
    receiveSeconds: 0,
    progressMs: 0,
    port: role === 'receiver' ? 0 : opts.warmPeer.port,
    host: role === 'receiver' ? opts.host : (opts.warmPeer.host ?? opts.host),
    ready: (info) => emit('WARM_READY', info),
    publish: (info) => emit('WARM_INFO', info),
    peer: () => (role === 'sender' ? Promise.resolve(opts.warmPeer) : channel.waitFor('WARM_PEER')),
    peerDone: () => channel.waitFor('WARM_PEER_DONE'),
    progress: () => {},
    startClock: () => {},
    stopClock: () => {},
    log: (...a) => process.stderr.write(`[${mod.name} ${kind} ${role} warm-up] ${a.join(' ')}\n`)
  }
  const out = (await roles[role](w)) ?? {}
  // both ends done before either closes (a closed peer must not cut the other's last ACKs)
  if (role === 'sender') {
    emit('WARM_DONE', { bytes: out.bytes })
    await channel.waitFor('WARM_RECEIVED')
  } else {
    emit('WARM_RECEIVED', { bytes: out.bytes })
    await channel.waitFor('WARM_PEER_DONE')
  }
  await out.close?.()
}

let start = null
let stop = null
let peerInfo = opts.peer
const ctx = {
  ...opts,
  role,
  kind,
  // receiver: announce where to connect (must include `port`); resolves the sender's `port`.
  ready: (info) => emit('READY', info),
  // either role: hand extra connection info to the other role (e.g. udx needs both ports).
  publish: (info) => emit('INFO', info),
  // the other role's READY/INFO data (sender: already known from the launcher).
  peer: () => (role === 'sender' ? Promise.resolve(peerInfo) : channel.waitFor('PEER')),
  // the sender's RESULT, delivered to the receiver when the sender has finished.
  peerDone: () => channel.waitFor('PEER_DONE'),
  // receiver: a progress sample for the launcher (runWorkload's onProgress)
  progress: (info) => emit('PROGRESS', info),
  // measured window: call startClock() when the timed part begins (after handshakes; receiver:
  // at the first byte) and stopClock() when it ends. Defaults: role start and role return.
  startClock: () => { start = cpuSnapshot(); stop = null },
  stopClock: () => { if (!stop) stop = cpuSnapshot() },
  log: (...a) => process.stderr.write(`[${mod.name} ${kind} ${role}] ${a.join(' ')}\n`)
}

let t0 = cpuSnapshot()
let out
try {
  if (opts.warm > 0) {
    // stdin is unref'd: between the passes nothing else may hold the event loop open
    const keepAlive = setInterval(() => {}, 60_000)
    await warmUp()
    if (role === 'sender') {
      const go = await channel.waitFor('GO')
      Object.assign(ctx, { port: go.port, host: go.host ?? opts.host })
      peerInfo = go.peer
    }
    clearInterval(keepAlive)
    t0 = cpuSnapshot()
  }
  out = (await roles[role](ctx)) ?? {}
} catch (err) {
  process.stderr.write(`${mod.name} ${kind} ${role}: ${err?.stack || err}\n`)
  process.exit(1)
}
ctx.stopClock()
delete out.close // a role's clean-up (used after a warm-up pass), not a metric
const window = cpuDelta(start ?? t0, stop)
if (out.samples) { // RTT samples (µs) are turned into percentiles here, not shipped as-is
  Object.assign(out, rttStats(out.samples))
  delete out.samples
}
// proc_cpu_s: whole-process CPU, for the launcher's estimate of other load on the machine
const all = process.cpuUsage()
emit('RESULT', { ...window, proc_cpu_s: (all.user + all.system) / 1e6, ...out, ...(ctx.cut ? { cut: true } : {}) })
// The receiver stays until the sender has exited (PEER_DONE; at most 10 s, and not when it cut
// the run, since the sender is then killed): exiting at once could leave the sender's last
// packets unacknowledged, and its graceful close then waited for its timeout (stt runs of ~6 s
// instead of ~1 s, outside the measured window).
if (role === 'receiver' && !ctx.cut) await Promise.race([channel.waitFor('PEER_DONE'), new Promise((r) => setTimeout(r, 10_000))])
// exit explicitly: transports often leave sockets/timers open; stdout is a pipe, so flush first
process.stdout.write('', () => process.exit(0))
