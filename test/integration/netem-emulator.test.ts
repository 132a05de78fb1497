/**
 * The C network emulator of the WAN benchmark (bench/netem/emu.c), over real loopback sockets:
 * the seeded PRNG makes the set of dropped datagrams reproducible, the counters add up, the
 * delay is applied in both directions and the rate-limited queue never exceeds its bound.
 * Only lower bounds on time are asserted (a delayed packet can be late, never early).
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import dgram from 'node:dgram'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
let EMU = ''

interface DirStats { rx_pkts: number; tx_pkts: number; drop_loss: number; drop_queue: number; max_queue_bytes: number; kernel_drops: number }
interface Emu { proc: ChildProcessWithoutNullStreams; listen: number; upstream: number; stop(): Promise<{ fwd: DirStats; rev: DirStats }> }

const running: Emu[] = []
const sockets: dgram.Socket[] = []

beforeAll(() => {
  const out = execFileSync(process.execPath, ['bench/netem/build.mjs'], { cwd: ROOT, encoding: 'utf8' })
  EMU = (JSON.parse(out.trim().split('\n').pop()!) as { emu: string }).emu
})

afterEach(async () => {
  for (const e of running.splice(0)) await e.stop().catch(() => {})
  for (const s of sockets.splice(0)) s.close()
})

async function startEmu(target: number, args: string[]): Promise<Emu> {
  const proc = spawn(EMU, ['--target', String(target), ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  // A spawn failure emits 'error' and may never emit 'close': without this a wait would hang.
  let spawnError: Error | undefined
  proc.on('error', (err) => (spawnError = err))
  const lines = createInterface({ input: proc.stdout })
  const events: Array<Record<string, unknown>> = []
  const waiters: Array<() => void> = []
  lines.on('line', (l) => {
    events.push(JSON.parse(l) as Record<string, unknown>)
    waiters.splice(0).forEach((w) => w())
  })
  const next = async (event: string) => {
    for (;;) {
      const e = events.find((x) => x.event === event)
      if (e) return e
      if (proc.exitCode !== null || proc.signalCode !== null || spawnError) throw new Error(`emu exited before ${event}: ${spawnError?.message ?? proc.exitCode ?? proc.signalCode}`)
      await new Promise<void>((resolve, reject) => {
        waiters.push(resolve)
        proc.once('close', () => reject(new Error(`emu exited before ${event}`)))
        proc.once('error', (err) => reject(new Error(`emu could not run before ${event}: ${err.message}`)))
      })
    }
  }
  const ready = (await next('ready')) as { pairs: Array<{ listen: number; upstream: number }> }
  const emu: Emu = {
    proc,
    listen: ready.pairs[0]!.listen,
    upstream: ready.pairs[0]!.upstream,
    async stop() {
      proc.kill('SIGTERM')
      // Bounded: an emulator that ignores SIGTERM must fail the test with this, not hang it.
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          proc.kill('SIGKILL')
          reject(new Error('emulator did not exit within 10 s of SIGTERM'))
        }, 10_000)
      })
      try {
        return (await Promise.race([next('stats'), late])) as unknown as { fwd: DirStats; rev: DirStats }
      } finally {
        clearTimeout(timer)
      }
    },
  }
  running.push(emu)
  return emu
}

async function udp(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4')
  sockets.push(s)
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
  return s
}

/**
 * The emulator's client port, fixed up front: learned from the first datagram instead, a stray
 * datagram from another suite to a just-reused loopback port would become "the client" and every
 * real datagram would be dropped as a second client (seen under the full parallel run).
 */
const fixedClient = (s: dgram.Socket): string[] => ['--client', String(s.address().port)]

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Sends `n` numbered datagrams through a fresh emulator; returns the indices that arrived. */
async function throughEmu(n: number, args: string[]) {
  const sink = await udp()
  const got = new Set<number>()
  sink.on('message', (m) => got.add(m.readUInt32BE(0)))
  const src = await udp()
  const emu = await startEmu(sink.address().port, [...args, ...fixedClient(src)])
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(200)
    b.writeUInt32BE(i, 0)
    src.send(b, emu.listen, '127.0.0.1')
    if (i % 50 === 49) await sleep(5) // gentle: no kernel socket drops, so only the emulator drops
  }
  await sleep(300)
  const stats = await emu.stop()
  return { got, stats }
}

describe('bench/netem/emu.c', () => {
  it('drops the same seeded datagrams on every run, and its counters add up', async () => {
    const args = ['--loss', '30%', '--seed', '7']
    const a = await throughEmu(400, args)
    const b = await throughEmu(400, args)
    const c = await throughEmu(400, ['--loss', '30%', '--seed', '8'])
    expect(a.stats.fwd.kernel_drops).toBe(0)
    expect(a.stats.fwd.rx_pkts).toBe(400)
    expect(a.stats.fwd.tx_pkts + a.stats.fwd.drop_loss).toBe(400)
    expect(a.got.size).toBe(a.stats.fwd.tx_pkts)
    expect(a.stats.fwd.drop_loss).toBeGreaterThan(60) // 30 % of 400 = 120 expected
    expect(a.stats.fwd.drop_loss).toBeLessThan(200)
    expect([...b.got].sort((x, y) => x - y)).toEqual([...a.got].sort((x, y) => x - y))
    expect([...c.got].sort((x, y) => x - y)).not.toEqual([...a.got].sort((x, y) => x - y))
  })

  it('delays both directions: a ping through a 20 ms each-way path is back no sooner than 40 ms', { timeout: 120_000 }, async () => {
    const echo = await udp()
    echo.on('message', (m, r) => echo.send(m, r.port, r.address))
    const client = await udp()
    // Under a loaded full-suite run this test has twice seen no answer at all for a whole minute
    // (cause not found: the emulator's counters were not kept). So each attempt gets 15 pings,
    // a silent emulator is stopped with its counters printed (where did the pings go?) and a
    // fresh one started, up to 3 times; a delay shorter than 40 ms still fails at once.
    const silent: string[] = []
    for (let attempt = 0; attempt < 3; attempt++) {
      const emu = await startEmu(echo.address().port, ['--delay', '20ms', ...fixedClient(client)])
      const rtts: number[] = []
      let sent = 0
      // A datagram lost on the shared loopback must not stop the test: each ping is resent after
      // 1 s with a new tag, and only the answer to the tag just sent counts.
      for (let i = 0; rtts.length < 5 && i < 15; i++) {
        const tag = `ping${attempt}.${i}`
        const t0 = performance.now()
        const back = new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => {
            client.off('message', onMessage)
            resolve(false)
          }, 1000)
          const onMessage = (m: Buffer): void => {
            if (String(m) !== tag) return
            clearTimeout(timer)
            client.off('message', onMessage)
            resolve(true)
          }
          client.on('message', onMessage)
        })
        client.send(Buffer.from(tag), emu.listen, '127.0.0.1')
        sent++
        if (await back) rtts.push(performance.now() - t0)
      }
      const s = await emu.stop()
      if (rtts.length < 5) {
        silent.push(`attempt ${attempt}: ${rtts.length} answers to ${sent} pings; emulator counters ${JSON.stringify(s)}`)
        console.log(`[netem] ${silent[silent.length - 1]}`)
        continue
      }
      expect(Math.min(...rtts)).toBeGreaterThanOrEqual(39.5)
      expect(s.fwd.tx_pkts).toBeLessThanOrEqual(sent)
      expect(s.rev.tx_pkts).toBeGreaterThanOrEqual(5)
      return
    }
    expect.fail(`no emulator instance answered 5 pings:\n${silent.join('\n')}`)
  })

  it('exits with its stats on a SIGTERM sent as soon as a forwarded datagram arrives', { timeout: 120_000 }, async () => {
    // The emulator forwards, then goes back to an untimed ppoll(). A SIGTERM landing between its
    // exit check and that ppoll() used to be lost and it slept forever (63-75 of 300 such stops
    // hung, before the signals were unblocked only inside ppoll).
    const echo = await udp()
    echo.on('message', (m, r) => echo.send(m, r.port, r.address))
    const client = await udp()
    for (let i = 0; i < 60; i++) {
      const emu = await startEmu(echo.address().port, fixedClient(client))
      const tag = `stop${i}`
      await new Promise<void>((resolve) => {
        const resend = setInterval(() => client.send(tag, emu.listen, '127.0.0.1'), 500)
        const onMessage = (m: Buffer): void => {
          if (String(m) !== tag) return
          clearInterval(resend)
          client.off('message', onMessage)
          resolve()
        }
        client.on('message', onMessage)
        client.send(tag, emu.listen, '127.0.0.1')
      })
      const s = await emu.stop()
      expect(s.rev.tx_pkts).toBeGreaterThanOrEqual(1)
    }
  })

  it('a rate-limited link drops at the tail of a bounded queue', async () => {
    const sink = await udp()
    let got = 0
    sink.on('message', () => got++)
    const src = await udp()
    const emu = await startEmu(sink.address().port, ['--rate', '8mbit', '--queue', '20000', ...fixedClient(src)])
    for (let i = 0; i < 200; i++) src.send(Buffer.alloc(1000), emu.listen, '127.0.0.1')
    await sleep(600) // 8 Mbit/s drains the 20 kB queue in 20 ms
    const s = await emu.stop()
    expect(s.fwd.kernel_drops).toBe(0)
    expect(s.fwd.drop_queue).toBeGreaterThan(0)
    expect(s.fwd.tx_pkts + s.fwd.drop_queue).toBe(200)
    expect(s.fwd.max_queue_bytes).toBeLessThanOrEqual(20000)
    expect(got).toBe(s.fwd.tx_pkts)
  })
})
