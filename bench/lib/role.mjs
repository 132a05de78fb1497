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
let start = null
let stop = null
const ctx = {
  ...opts,
  role,
  kind,
  // receiver: announce where to connect (must include `port`); resolves the sender's `port`.
  ready: (info) => emit('READY', info),
  // either role: hand extra connection info to the other role (e.g. udx needs both ports).
  publish: (info) => emit('INFO', info),
  // the other role's READY/INFO data (sender: already known from the launcher).
  peer: () => (role === 'sender' ? Promise.resolve(opts.peer) : channel.waitFor('PEER')),
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

const t0 = cpuSnapshot()
let out
try {
  out = (await roles[role](ctx)) ?? {}
} catch (err) {
  process.stderr.write(`${mod.name} ${kind} ${role}: ${err?.stack || err}\n`)
  process.exit(1)
}
ctx.stopClock()
const window = cpuDelta(start ?? t0, stop)
if (out.samples) { // RTT samples (µs) are turned into percentiles here, not shipped as-is
  Object.assign(out, rttStats(out.samples))
  delete out.samples
}
// proc_cpu_s: whole-process CPU, for the launcher's estimate of other load on the machine
const all = process.cpuUsage()
emit('RESULT', { ...window, proc_cpu_s: (all.user + all.system) / 1e6, ...out, ...(ctx.cut ? { cut: true } : {}) })
// exit explicitly: transports often leave sockets/timers open; stdout is a pipe, so flush first
process.stdout.write('', () => process.exit(0))
