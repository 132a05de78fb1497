// Process plumbing. A measurement is always two OS processes (sender and receiver, or client and
// echo server) so that neither side steals the other's event loop or CPU accounting. They talk to
// the launcher with one-line JSON messages:
//   child -> launcher (stdout): READY {json}  INFO {json}  RESULT {json}   (other lines: ignored)
//   launcher -> child (stdin):  PEER {json}   PEER_DONE {json}
// Every process has a hard time limit and exits by itself; the launcher also SIGKILLs its
// children after their budget, so a wedged transport can never hang CI.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { readFileSync } from 'node:fs'

// Exit no matter what after `seconds` (unref'd: it never keeps a finished process alive).
export function hardLimit(seconds, what = process.argv.slice(1).join(' ')) {
  setTimeout(() => {
    process.stderr.write(`${what}: hard time limit ${seconds}s hit\n`)
    process.exit(3)
  }, Math.ceil(seconds * 1000)).unref()
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function parseLine(line) {
  const sp = line.indexOf(' ')
  if (sp < 0) return null
  const tag = line.slice(0, sp)
  if (!/^[A-Z_]+$/.test(tag)) return null
  try { return { tag, data: JSON.parse(line.slice(sp + 1)) } } catch { return null }
}

// ---- launcher side --------------------------------------------------------------------------

// Start `node script ...args` (optionally under `taskset -c CPU`). Returns
//   next(tag)    -> Promise of the data of the next message with that tag (rejects if it exits)
//   on(tag, fn)  -> call fn(data) for every message with that tag
//   send(tag, o) -> write a message to its stdin
//   result       -> Promise of its RESULT data, once it has exited with status 0
//   kill()       -> SIGKILL (used only on failure or after the watchdog fires)
// wrap: a command prefix, e.g. ['ip', 'netns', 'exec', 'ns1'] to run the role in a network
// namespace (bench/tbf.mjs).
// STT_BENCH_NODE_ARGS: extra node flags for every role, e.g. '--cpu-prof --cpu-prof-dir=/tmp/p'
// (NODE_OPTIONS does not take --cpu-prof).
const NODE_ARGS = (process.env.STT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)

export function spawnRole(script, args, { budget = 60, pin, env, label = script, wrap = [] } = {}) {
  const node = [process.execPath, ...NODE_ARGS, script, ...args]
  const inner = pin !== undefined ? ['taskset', '-c', String(pin), ...node] : node
  const [cmd, ...argv] = [...wrap, ...inner]
  const proc = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } })
  proc.stdin.on('error', () => {}) // the child may exit before reading what we send it
  const handlers = new Map()
  const queued = new Map()
  let result = null
  const stdout = []
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const m = parseLine(line)
    if (!m) { stdout.push(line); return }
    if (m.tag === 'RESULT') result = m.data
    const hs = handlers.get(m.tag)
    if (hs && hs.length) hs.forEach((h) => h(m.data))
    else queued.set(m.tag, [...(queued.get(m.tag) || []), m.data])
  })
  const watchdog = setTimeout(() => proc.kill('SIGKILL'), (budget + 5) * 1000)
  const exited = new Promise((resolve) => proc.on('close', (code, signal) => { clearTimeout(watchdog); resolve({ code, signal }) }))
  const resultP = exited.then(({ code, signal }) => {
    if (code === 0 && result) return result
    const tail = stdout.slice(-5).join('\n')
    throw new Error(`${label} failed (exit ${code}${signal ? ' ' + signal : ''}${result ? '' : ', no RESULT'})${tail ? ':\n' + tail : ''}`)
  })
  resultP.catch(() => {})
  const on = (tag, fn) => {
    handlers.set(tag, [...(handlers.get(tag) || []), fn])
    for (const d of queued.get(tag) || []) fn(d)
    queued.delete(tag)
  }
  return {
    proc,
    result: resultP,
    on,
    next: (tag) => new Promise((resolve, reject) => {
      const q = queued.get(tag)
      if (q && q.length) return resolve(q.shift())
      handlers.set(tag, [...(handlers.get(tag) || []), function once(d) {
        handlers.set(tag, handlers.get(tag).filter((h) => h !== once))
        resolve(d)
      }])
      resultP.then(() => reject(new Error(`${label} exited before ${tag}`)), reject)
    }),
    send: (tag, data) => { if (proc.exitCode === null) proc.stdin.write(`${tag} ${JSON.stringify(data)}\n`) },
    kill: () => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') }
  }
}

// ---- child side -----------------------------------------------------------------------------

// Print one protocol message on stdout.
export const emit = (tag, data) => process.stdout.write(`${tag} ${JSON.stringify(data)}\n`)

// Messages from the launcher: waitFor(tag) -> Promise of the first message with that tag
// (also if it arrived earlier). stdin is unref'd so it never keeps a child alive.
export function launcherChannel() {
  const seen = new Map()
  const waiters = new Map()
  const rl = createInterface({ input: process.stdin })
  rl.on('line', (line) => {
    const m = parseLine(line)
    if (!m) return
    seen.set(m.tag, m.data)
    for (const w of waiters.get(m.tag) || []) w(m.data)
    waiters.delete(m.tag)
  })
  process.stdin.unref?.()
  return {
    waitFor: (tag) => seen.has(tag)
      ? Promise.resolve(seen.get(tag))
      : new Promise((resolve) => waiters.set(tag, [...(waiters.get(tag) || []), resolve]))
  }
}

// CPU time of this whole process (all threads: JS, libuv pool, GC) and the wall clock, so that
// a window [start, stop] gives CPU seconds spent on the workload.
export function cpuSnapshot() {
  const r = process.resourceUsage()
  return {
    t: performance.now(),
    user: r.userCPUTime / 1e6,
    sys: r.systemCPUTime / 1e6,
    vcs: r.voluntaryContextSwitches,
    ivcs: r.involuntaryContextSwitches
  }
}

export function cpuDelta(a, b) {
  return {
    wall_s: (b.t - a.t) / 1000,
    cpu_s: b.user - a.user + b.sys - a.sys,
    cpu_user_s: b.user - a.user,
    cpu_sys_s: b.sys - a.sys,
    vcs: b.vcs - a.vcs,
    ivcs: b.ivcs - a.ivcs
  }
}

// Busy CPU seconds of the whole machine so far (user + nice + system, all vCPUs; irq/softirq
// left out because loopback packet processing lands there and is our own work), or null when
// /proc/stat is missing. Used to tell how much *other* load shared a run: other engineers'
// builds on this 2-vCPU VM move our figures far more than any code change would.
export function machineBusySeconds() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).map(Number)
    return (f[1] + f[2] + f[3]) / 100 // USER_HZ is 100 on Linux
  } catch {
    return null
  }
}

// Wait (at most maxSeconds) until the machine's busy share over a 0.5 s sample is below
// thresholdPct of all vCPUs, so a run does not start in the middle of someone else's build.
// Returns the last sampled busy % (null without /proc/stat).
export async function waitIdle(maxSeconds, thresholdPct = 15) {
  const n = (await import('node:os')).cpus().length
  const end = performance.now() + maxSeconds * 1000
  let pct = null
  do {
    const b0 = machineBusySeconds()
    if (b0 === null) return null
    await sleep(500)
    pct = (100 * (machineBusySeconds() - b0)) / (0.5 * n)
  } while (pct >= thresholdPct && performance.now() < end)
  return pct
}

// CPU seconds (user + system) a process has used so far, from /proc (NaN where there is none).
export function cpuSecondsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100 // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN
  }
}
