/**
 * One side of `stt bench` in its own process (so sender and receiver never share an event loop
 * or CPU accounting). Talks to the parent with single lines on stdout:
 *   READY {"port":N}       receiver, once listening
 *   RESULT {...}           each side, once done; then the process exits
 *   node dist/cli/bench-child.js receiver|sender '<json options>'
 */
import { STTNode, backend, type STTSession, type STTStream } from '../index.js'
import type { RunOpts } from './bench.js'

/** The parent's run options, plus the receiver's port for the sender. */
type Opts = RunOpts & { port?: number }

const SEED = Buffer.alloc(32, 0x5a) // benchmark-only fixed seed, loopback only
const emit = (tag: string, o: unknown) => process.stdout.write(`${tag} ${JSON.stringify(o)}\n`)

function cpu() {
  const r = process.resourceUsage()
  return { t: performance.now(), cpu: (r.userCPUTime + r.systemCPUTime) / 1e6 }
}

function sessionExtra(s: STTSession) {
  const st = s.getStats() as { packetsSent: number; lostPackets: number; rtt: number | null }
  return { packets_sent: st.packetsSent, lost_packets: st.lostPackets, retransmit_pct: st.packetsSent ? (100 * st.lostPackets) / st.packetsSent : 0 }
}

async function receiver(o: Opts): Promise<void> {
  const node = new STTNode({ sharedSeed: SEED, name: 'bench-rx', host: '127.0.0.1', port: 0, transport: o.transport })
  const { port } = await node.start()
  const session = new Promise<STTSession>((r) => node.once('session', r))
  emit('READY', { port })
  const s = await session
  s.on('error', () => {}) // the run ends on 'close' either way
  const st = await new Promise<STTStream>((r) => s.once('stream', r))
  if (o.kind === 'rtt') {
    let n = 0
    st.on('data', (d: Buffer) => {
      n += d.length
      st.write(d)
    })
    await new Promise<void>((r) => {
      s.once('close', () => r())
      st.once('end', () => r())
      st.once('error', () => r())
    })
    emit('RESULT', { backend, echoed_bytes: n })
  } else {
    let bytes = 0
    let a: ReturnType<typeof cpu> | null = null
    let b: ReturnType<typeof cpu> | null = null
    await new Promise<void>((resolve, reject) => {
      st.on('data', (d: Buffer) => {
        if (a === null) a = cpu()
        bytes += d.length
      })
      st.once('end', () => {
        b = cpu()
        resolve()
      })
      st.once('error', reject)
    })
    st.end('done\n')
    const w0 = a ?? cpu()
    const w1 = b ?? cpu()
    emit('RESULT', { backend, bytes, secs: (w1.t - w0.t) / 1000, cpu_s: w1.cpu - w0.cpu, ...sessionExtra(s) })
    await new Promise((r) => setTimeout(r, 50))
  }
  await Promise.race([node.stop('bench done'), new Promise((r) => setTimeout(r, 1000))])
}

async function sender(o: Opts): Promise<void> {
  const node = new STTNode({ sharedSeed: SEED, name: 'bench-tx', host: '127.0.0.1', port: 0, transport: 'udp' })
  await node.start()
  const url = o.transport === 'udp' ? `udp://127.0.0.1:${o.port}` : `ws://127.0.0.1:${o.port}/stt`
  const s = await node.connect(url, { timeout: 10_000 })
  s.on('error', () => {}) // the run ends on 'close' either way
  const st = s.openStream({ noDelay: o.kind === 'rtt' })
  st.on('error', () => {})
  if (o.kind === 'rtt') {
    const buf = Buffer.alloc(o.size, 0x61)
    const samples: number[] = []
    const end = performance.now() + o.seconds * 1000
    let got = 0
    let t0 = 0
    let i = 0
    let c0 = cpu()
    await new Promise<void>((resolve) => {
      const ping = () => {
        if (i === o.warmup) c0 = cpu()
        got = 0
        t0 = performance.now()
        st.write(buf)
      }
      st.on('data', (d: Buffer) => {
        got += d.length
        if (got < o.size) return
        const us = (performance.now() - t0) * 1000
        if (i++ >= o.warmup) samples.push(us)
        if (samples.length < o.count && performance.now() < end) ping()
        else resolve()
      })
      ping()
    })
    const c1 = cpu()
    samples.sort((a, b) => a - b)
    const pct = (p: number) => samples[Math.min(samples.length - 1, Math.max(0, Math.ceil((p / 100) * samples.length) - 1))] ?? null
    emit('RESULT', {
      backend,
      n: samples.length,
      p50_us: pct(50),
      p90_us: pct(90),
      p99_us: pct(99),
      mean_us: samples.reduce((a, b) => a + b, 0) / (samples.length || 1),
      min_us: samples[0] ?? null,
      max_us: samples[samples.length - 1] ?? null,
      cpu_us_per_rt: samples.length ? ((c1.cpu - c0.cpu) * 1e6) / samples.length : null,
      ...sessionExtra(s),
    })
  } else {
    const buf = Buffer.alloc(o.size, 0x78)
    const maxBytes = o.bytes > 0 ? o.bytes : Infinity
    const end = performance.now() + o.seconds * 1000
    let bytes = 0
    let msgs = 0
    const a = cpu()
    const done = new Promise<void>((resolve, reject) => {
      st.once('data', () => resolve()) // the receiver's "done": everything arrived
      st.once('error', reject)
      s.once('close', () => reject(new Error('session closed')))
    })
    await new Promise<void>((resolve) => {
      const pump = () => {
        while (bytes < maxBytes && (msgs & 15 || performance.now() < end)) {
          bytes += buf.length
          msgs++
          if (!st.write(buf)) return void st.once('drain', pump)
        }
        st.end()
        resolve()
      }
      pump()
    })
    await done
    const b = cpu()
    emit('RESULT', { backend, bytes, msgs, secs: (b.t - a.t) / 1000, cpu_s: b.cpu - a.cpu, ...sessionExtra(s) })
  }
  await Promise.race([s.close('bench done'), new Promise((r) => setTimeout(r, 500))])
  await Promise.race([node.stop('bench done'), new Promise((r) => setTimeout(r, 1000))])
}

const [role, json] = process.argv.slice(2)
const opts = JSON.parse(json ?? '{}') as Opts
setTimeout(() => {
  process.stderr.write(`stt bench ${role}: time limit of ${opts.budget} s hit\n`)
  process.exit(3)
}, (opts.budget ?? 60) * 1000).unref()
try {
  await (role === 'receiver' ? receiver(opts) : sender(opts))
  process.stdout.write('', () => process.exit(0))
} catch (err) {
  process.stderr.write(`stt bench ${role}: ${(err as Error).message}\n`)
  process.exit(1)
}
