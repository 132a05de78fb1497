// Node side of the C network emulator: start it, learn its ports, read its counters, stop it.
//   const emu = await startEmu({ targets: [port], link: { delay: '10ms', loss: '1%' } })
//   ... client sends to emu.pairs[0].listen, the target replies to emu.pairs[0].upstream ...
//   const stats = await emu.stop()            // { fwd: {...}, rev: {...} } counters (emu.c)
// and measureCeiling(link): raw UDP through an emulator with the same link settings (blaster ->
// emu -> sink, all C), i.e. the most this emulator relays on this machine right now.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { ensureBuilt } from './build.mjs'

// link: { delay, jitter, loss, ge, dup, corrupt, rate, queue } for both directions, and
// fwd / rev: the same keys for one direction (client -> target / back), e.g. { rev: { loss: 0 } }.
export function linkArgs(link = {}) {
  const out = []
  const add = (prefix, o) => {
    for (const [k, v] of Object.entries(o ?? {})) {
      if (k === 'fwd' || k === 'rev' || v === undefined || v === null || v === 0 || v === '0') continue
      out.push(`--${prefix}${k}`, String(v))
    }
  }
  add('', link)
  add('fwd-', link.fwd)
  add('rev-', link.rev)
  return out
}

export async function startEmu({ targets, link = {}, seed = 1, listen = 0, extra = [] } = {}) {
  const { emu } = ensureBuilt({ quiet: true })
  const args = [...targets.flatMap((t) => ['--target', String(t)]), '--seed', String(seed), ...linkArgs(link), ...extra]
  if (listen) args.push('--listen', String(listen))
  const proc = spawn(emu, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  proc.stderr.on('data', (d) => (stderr += d))
  const statsWaiters = []
  let ready
  const readyP = new Promise((resolve, reject) => {
    ready = resolve
    proc.on('close', (code) => reject(new Error(`emu exited (${code}) before ready: ${stderr.trim()} [${args.join(' ')}]`)))
  })
  readyP.catch(() => {})
  createInterface({ input: proc.stdout }).on('line', (line) => {
    let m
    try { m = JSON.parse(line) } catch { return }
    if (m.event === 'ready') ready(m)
    else if (m.event === 'stats') statsWaiters.splice(0).forEach((w) => w(m))
  })
  const exited = new Promise((resolve) => proc.on('close', resolve))
  const info = await readyP
  const nextStats = () => new Promise((resolve) => statsWaiters.push(resolve))
  return {
    args,
    pairs: info.pairs,
    proc,
    // counters so far, without stopping
    async stats() { const p = nextStats(); proc.kill('SIGUSR1'); return p },
    // stop and return the final counters (null if it had already died)
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return null
      const p = nextStats()
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 2000)
      const [s] = await Promise.all([Promise.race([p, exited.then(() => null)]), exited])
      clearTimeout(t)
      return s
    },
  }
}

// Runs a netem program; resolves with its {"event":"result"} line (onReady gets its "ready" line).
export function runJson(bin, args, onReady) {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let result = null
    createInterface({ input: p.stdout }).on('line', (line) => {
      let m
      try { m = JSON.parse(line) } catch { return }
      if (m.event === 'ready') onReady?.(m)
      if (m.event === 'result') result = m
    })
    p.on('close', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`${bin} ${args.join(' ')} exited ${code}`))))
  })
}

// Raw UDP (1472-byte datagrams, as fast as the C blaster can send, or `rate` bit/s) through an
// emulator with `link`, for `seconds`. Returns { mbps, sentMbps, emu: counters }.
export async function measureCeiling({ link = {}, seconds = 1.5, size = 1472, rate = 0, seed = 1 } = {}) {
  const bins = ensureBuilt({ quiet: true })
  let sinkPort
  const portP = new Promise((resolve) => (sinkPort = resolve))
  const sink = runJson(bins['udp-blast'], ['recv', '--seconds', String(seconds + 10), '--idle-ms', '400'], (m) => sinkPort(m.port))
  const port = await portP
  const emu = await startEmu({ targets: [port], link, seed })
  try {
    const sent = await runJson(bins['udp-blast'], ['send', '--to', String(emu.pairs[0].listen), '--size', String(size), '--seconds', String(seconds), '--rate', String(rate)])
    const got = await sink
    return { mbps: got.mbps, sentMbps: sent.mbps, pkts: got.pkts, emu: await emu.stop() }
  } finally {
    await emu.stop()
  }
}
