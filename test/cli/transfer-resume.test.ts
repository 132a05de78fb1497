/**
 * Resumable `stt send` (issue 12), with real processes and sockets: a sender killed with
 * SIGKILL half-way continues where the receiver's part file ends when the same command runs
 * again (and resumes the session with its stored token); a foreign part file restarts from 0;
 * a part file longer than the file is discarded. Run once as is and once with STT_NATIVE=0
 * (the child processes inherit the environment): 200 MiB takes about 20 s per run with the
 * pure-TS backend on the 2-vCPU test machine, so both backends use the full size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, ensureBuilt, listen, makeRandomFile, sha256File, stt, tempDir, type Listener } from './cli-helpers.js'

const MiB = 1 << 20
const BIG = 200 * MiB
let dir: string
let key: string
let out: string
let state: string
let rx: Listener
let url: string

const partOf = (hash: string, size: number) => join(out, `.stt-${hash.slice(0, 32)}-${size}.part`)
const sizeOf = (p: string) => (existsSync(p) ? statSync(p).size : 0)
const wireBytes = (stderr: string) => Number(/: (\d+) bytes sent on the wire/.exec(stderr)?.[1] ?? NaN)

/** Starts `stt ...args`, and once `part` reaches `fraction` of `size` calls kill(proc) (default: SIGKILL it). */
async function runUntil(args: string[], part: string, size: number, fraction = 0.5, kill?: () => void | Promise<unknown>) {
  const t0 = performance.now()
  const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  p.stdout.resume()
  const exited = new Promise<void>((r) => p.once('close', () => r()))
  let killedAt = -1
  for (let i = 0; i < 2400 && p.exitCode === null; i++) {
    const n = sizeOf(part)
    if (n >= size * fraction) {
      killedAt = n
      await kill?.()
      p.kill('SIGKILL')
      break
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  await exited
  return { killedAt, stderr, ms: performance.now() - t0, signal: p.signalCode }
}

beforeAll(async () => {
  await ensureBuilt()
  dir = tempDir('stt-resume-')
  key = join(dir, 'group.key')
  out = join(dir, 'received')
  state = join(dir, 'state')
  await stt(['keygen', '--out', key, '-q'])
  rx = await listen(['--seed-file', key, '--out', out, '--transport', 'udp', '--name', 'receiver'])
  url = `udp://127.0.0.1:${rx.port}`
}, 60_000)

afterAll(async () => {
  await rx?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('stt send resumes an interrupted transfer', () => {
  it(
    `${BIG / MiB} MiB, sender SIGKILLed at ~50 %: the same command completes byte-exact, resumes the session, and sends < 60 % the second time`,
    { timeout: 240_000 },
    async () => {
      const file = join(dir, 'big.bin')
      await makeRandomFile(file, BIG)
      const want = await sha256File(file)
      const part = partOf(want, BIG)
      const args = ['send', file, '--to', url, '--seed-file', key, '--state-dir', state]

      // Run 1: killed once the receiver's part file passes half the size.
      const { killedAt, stderr: err1, ms: run1, signal } = await runUntil(args, part, BIG)
      expect(killedAt, `the first run never reached 50 %: ${err1}`).toBeGreaterThan(0)
      expect(signal).toBe('SIGKILL')
      expect(err1).toMatch(/session [0-9a-f]{16} new \(full handshake, no stored token\)/)
      const sessionId = /session ([0-9a-f]{16}) new/.exec(err1)![1]!
      // The state file holds the token, private to the user.
      expect(statSync(join(state, 'send.json')).mode & 0o777).toBe(0o600)
      expect(readFileSync(join(state, 'send.json'), 'utf8')).toMatch(/"tokens":\{"[0-9a-f]{16} udp:/)
      // The receiver notices the dead sender at the latest when the session is replaced; it keeps the part.
      expect(sizeOf(part)).toBeGreaterThanOrEqual(killedAt)

      // Run 2: the same command.
      const r = await stt(args, { timeout: 180_000 })
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toMatch(new RegExp(`session ${sessionId} resumed \\(stored token, 1-RTT\\)`))
      const m = new RegExp(`^sent big\\.bin ${BIG} sha256 ${want} confirmed \\(resumed at (\\d+), (\\d+) bytes sent\\)`).exec(r.stdout)
      expect(m, r.stdout + r.stderr).not.toBeNull()
      const from = Number(m![1])
      const sent = Number(m![2])
      expect(from).toBeGreaterThanOrEqual(killedAt)
      expect(from + sent).toBe(BIG)
      expect(sent).toBeLessThan(0.6 * BIG)
      // What the session put on the wire (headers, acks, retransmissions included).
      const wire = wireBytes(r.stderr)
      expect(wire).toBeLessThan(0.6 * BIG)
      expect(await sha256File(join(out, 'big.bin'))).toBe(want)
      expect(existsSync(part)).toBe(false)
      await rx.waitFor(new RegExp(`received "big\\.bin" .* verified .*\\(resumed at ${from}\\)`))
      const backend = /backend (\w+)/.exec(rx.stderr())?.[1]
      expect(backend).toBe(process.env.STT_NATIVE === '0' ? 'js' : 'native')
      console.log(
        `[${backend}] ${BIG / MiB} MiB: run 1 killed after ${(run1 / 1000).toFixed(1)} s with ${(killedAt / MiB).toFixed(1)} MiB at the receiver; ` +
          `run 2 resumed at ${(from / MiB).toFixed(1)} MiB, sent ${(sent / MiB).toFixed(1)} MiB of file (${((100 * sent) / BIG).toFixed(1)} %), ${(wire / MiB).toFixed(1)} MiB on the wire, in ${(r.ms / 1000).toFixed(1)} s`,
      )
      rmSync(file)
      rmSync(join(out, 'big.bin'))
    },
  )

  it('a foreign part file (prefix hash mismatch) restarts from 0 and still ends byte-exact', { timeout: 60_000 }, async () => {
    const file = join(dir, 'foreign.bin')
    await makeRandomFile(file, 8 * MiB)
    const want = await sha256File(file)
    writeFileSync(partOf(want, 8 * MiB), randomBytes(3 * MiB)) // same name, other bytes
    const r = await stt(['send', file, '--to', url, '--seed-file', key, '--state-dir', state], { timeout: 50_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/foreign\.bin: the receiver's 3\.0 MiB do not match this file; starting again from 0/)
    expect(r.stdout).toMatch(new RegExp(`^sent foreign\\.bin ${8 * MiB} sha256 ${want} confirmed\\n`))
    expect(wireBytes(r.stderr)).toBeGreaterThan(8 * MiB)
    expect(await sha256File(join(out, 'foreign.bin'))).toBe(want)
    expect(existsSync(partOf(want, 8 * MiB))).toBe(false)
  })

  it('a part file longer than the file is discarded; the file is sent whole, byte-exact', { timeout: 60_000 }, async () => {
    const file = join(dir, 'long.bin')
    await makeRandomFile(file, 4 * MiB)
    const want = await sha256File(file)
    // the whole file and more: a receiver that trusted it would report 4 MiB + 1 KiB
    writeFileSync(partOf(want, 4 * MiB), Buffer.concat([readFileSync(file), randomBytes(1024)]))
    const r = await stt(['send', file, '--to', url, '--seed-file', key, '--no-state'], { timeout: 50_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/new \(full handshake, --no-state\)/)
    expect(r.stdout).toMatch(new RegExp(`^sent long\\.bin ${4 * MiB} sha256 ${want} confirmed\\n`))
    await rx.waitFor(/file "long\.bin" from "stt-send": discarded \.stt-[0-9a-f]{32}-4194304\.part: 4195328 bytes, longer than the announced 4194304/)
    expect(await sha256File(join(out, 'long.bin'))).toBe(want)
  })

  it('a complete part file (receiver killed before the rename) is published without sending the data again', { timeout: 60_000 }, async () => {
    const file = join(dir, 'whole.bin')
    await makeRandomFile(file, 2 * MiB)
    const want = await sha256File(file)
    writeFileSync(partOf(want, 2 * MiB), readFileSync(file))
    const r = await stt(['send', file, '--to', url, '--seed-file', key, '--state-dir', state], { timeout: 50_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`^sent whole\\.bin ${2 * MiB} sha256 ${want} confirmed \\(resumed at ${2 * MiB}, 0 bytes sent\\)`))
    expect(await sha256File(join(out, 'whole.bin'))).toBe(want)
  })

  it('stale transfer of the same file (its sender killed, the new run not resumed): taken over once it stalls', { timeout: 120_000 }, async () => {
    const size = 64 * MiB
    const file = join(dir, 'stale.bin')
    await makeRandomFile(file, size)
    const want = await sha256File(file)
    const part = partOf(want, size)
    const one = await runUntil(['send', file, '--to', url, '--seed-file', key, '--no-state'], part, size)
    expect(one.killedAt).toBeGreaterThan(0)
    // A full handshake: the receiver's old session (and its transfer) lives on until it stalls.
    const r = await stt(['send', file, '--to', url, '--seed-file', key, '--no-state'], { timeout: 100_000 })
    expect(r.code, r.stderr).toBe(0)
    const m = /confirmed \(resumed at (\d+), (\d+) bytes sent\)/.exec(r.stdout)
    expect(m, r.stdout + r.stderr).not.toBeNull()
    expect(Number(m![1])).toBeGreaterThanOrEqual(one.killedAt)
    await rx.waitFor(/failed file "stale\.bin" from "stt-send": taken over by a newer transfer of the same file \(kept \d+ of 67108864 bytes to resume\)/)
    expect(await sha256File(join(out, 'stale.bin'))).toBe(want)
  })

  it('receiver SIGKILLed at ~50 % and restarted on the same port: the same command continues (the stored token is refused, full handshake)', { timeout: 180_000 }, async () => {
    const size = 64 * MiB
    const file = join(dir, 'rxkill.bin')
    await makeRandomFile(file, size)
    const want = await sha256File(file)
    const out2 = join(dir, 'received-2')
    const l1 = await listen(['--seed-file', key, '--out', out2, '--transport', 'udp'])
    const part = join(out2, `.stt-${want.slice(0, 32)}-${size}.part`)
    const args = ['send', file, '--to', `udp://127.0.0.1:${l1.port}`, '--seed-file', key, '--state-dir', state]
    // The sender would wait for the dead receiver (its session suspended): it is killed as well.
    const one = await runUntil(args, part, size, 0.5, () => l1.stop('SIGKILL'))
    expect(one.killedAt).toBeGreaterThan(0)
    expect(sizeOf(part)).toBeGreaterThanOrEqual(one.killedAt)
    const l2 = await listen(['--seed-file', key, '--out', out2, '--transport', 'udp', '--port', String(l1.port)])
    try {
      const r = await stt(args, { timeout: 100_000 })
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toMatch(/new \(full handshake: the stored token was refused\)/)
      const m = /confirmed \(resumed at (\d+), (\d+) bytes sent\)/.exec(r.stdout)
      expect(m, r.stdout + r.stderr).not.toBeNull()
      expect(Number(m![1])).toBeGreaterThanOrEqual(one.killedAt)
      expect(Number(m![2])).toBeLessThan(0.6 * size)
      expect(await sha256File(join(out2, 'rxkill.bin'))).toBe(want)
    } finally {
      await l2.stop()
    }
  })

  it('listen deletes part files older than --part-max-age when it starts, and refuses a new part past --part-max-bytes', { timeout: 60_000 }, async () => {
    const out3 = join(dir, 'received-3')
    mkdirSync(out3, { recursive: true })
    const oldPart = join(out3, `.stt-${'a'.repeat(32)}-100.part`)
    const newPart = join(out3, `.stt-${'b'.repeat(32)}-100.part`)
    writeFileSync(oldPart, Buffer.alloc(50))
    writeFileSync(newPart, Buffer.alloc(50))
    const twoHoursAgo = (Date.now() - 2 * 3600e3) / 1000
    utimesSync(oldPart, twoHoursAgo, twoHoursAgo)
    const l = await listen(['--seed-file', key, '--out', out3, '--transport', 'udp', '--part-max-age', '1h', '--part-max-bytes', '1000'])
    try {
      expect(existsSync(oldPart)).toBe(false)
      expect(existsSync(newPart)).toBe(true)
      expect(l.stderr()).toMatch(/deleted 1 part file in .* not written for longer than --part-max-age/)
      const file = join(dir, 'bound.bin')
      writeFileSync(file, randomBytes(2000))
      const r = await stt(['send', file, '--to', `udp://127.0.0.1:${l.port}`, '--seed-file', key, '--no-state'], { timeout: 30_000 })
      expect(r.code).toBe(6)
      expect(r.stderr).toMatch(/the receiver keeps 50 B of unfinished transfers; with this file that would exceed its --part-max-bytes/)
    } finally {
      await l.stop()
    }
  })
})
