import { afterEach, describe, expect, it } from 'vitest'
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SendState, defaultStateDir, tokenSessionId } from '../../src/cli/send-state.js'
import { CliError } from '../../src/cli/exit.js'
import { tempDir } from './cli-helpers.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A token-shaped buffer: version, suite, expires u64, session id (PROTOCOL.md §9.3), then filler. */
function fakeToken(expires: number, sessionId = '0123456789abcdef'): Buffer {
  const b = Buffer.alloc(64)
  b[0] = 1
  b.writeBigUInt64BE(BigInt(expires), 2)
  Buffer.from(sessionId, 'hex').copy(b, 10)
  return b
}

describe('stt send state file', () => {
  it('keeps one node seed and the newest token per group and URL, mode 0600; expired tokens are not used', () => {
    const d = tempDir('stt-state-')
    dirs.push(d)
    const dir = join(d, 'state')
    const seedA = Buffer.alloc(32, 1)
    const seedB = Buffer.alloc(32, 2)
    const s = SendState.open(dir)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(join(dir, 'send.json')).mode & 0o777).toBe(0o600)
    const t = fakeToken(Date.now() + 60_000)
    s.saveToken(seedA, 'udp://h:1', t)
    expect(statSync(join(dir, 'send.json')).mode & 0o777).toBe(0o600)
    const again = SendState.open(dir)
    expect(again.nodeSeed.equals(s.nodeSeed)).toBe(true)
    expect(again.token(seedA, 'udp://h:1').token?.equals(t)).toBe(true)
    expect(again.token(seedB, 'udp://h:1').token).toBeNull()
    expect(again.token(seedA, 'udp://h:2').token).toBeNull()
    expect(tokenSessionId(t)).toBe('0123456789abcdef')
    // the shared seed itself is not in the file
    expect(readFileSync(join(dir, 'send.json'), 'utf8')).not.toContain(seedA.toString('hex'))
    again.saveToken(seedA, 'udp://h:3', fakeToken(Date.now() - 1))
    expect(again.token(seedA, 'udp://h:3').token).toBeNull()
    again.dropToken(seedA, 'udp://h:1')
    expect(SendState.open(dir).token(seedA, 'udp://h:1').token).toBeNull()
  })

  it('a token saved by a process that still runs is not used (its session may be live)', () => {
    const d = tempDir('stt-state-')
    dirs.push(d)
    const seed = Buffer.alloc(32, 3)
    SendState.open(d).saveToken(seed, 'udp://h:1', fakeToken(Date.now() + 60_000))
    const path = join(d, 'send.json')
    const o = JSON.parse(readFileSync(path, 'utf8')) as { tokens: Record<string, { pid: number }> }
    const e = Object.values(o.tokens)[0]!
    expect(e.pid).toBe(process.pid)
    e.pid = process.ppid // alive, and not us
    writeFileSync(path, JSON.stringify(o), { mode: 0o600 })
    expect(SendState.open(d).token(seed, 'udp://h:1')).toEqual({ token: null, busy: process.ppid })
    e.pid = 2 ** 22 + 12345 // above pid_max: no such process
    writeFileSync(path, JSON.stringify(o), { mode: 0o600 })
    expect(SendState.open(d).token(seed, 'udp://h:1').token).not.toBeNull()
  })

  it('refuses a state file other users can read (exit 3)', () => {
    const d = tempDir('stt-state-')
    dirs.push(d)
    SendState.open(d)
    chmodSync(join(d, 'send.json'), 0o644)
    expect(() => SendState.open(d)).toThrow(CliError)
    expect(() => SendState.open(d)).toThrow(/open to other users \(mode 644\)/)
    chmodSync(join(d, 'send.json'), 0o620) // writable, not readable, by the group: refused too
    expect(() => SendState.open(d)).toThrow(/open to other users/)
  })

  it('refuses a state file that is a symlink or not a regular file, and a directory others may write to', () => {
    const d = tempDir('stt-state-')
    dirs.push(d)
    const real = join(d, 'real')
    SendState.open(real)
    const link = join(d, 'link')
    mkdirSync(link, { mode: 0o700 })
    symlinkSync(join(real, 'send.json'), join(link, 'send.json'))
    expect(() => SendState.open(link)).toThrow(/send\.json is a symbolic link/)
    const fifoLike = join(d, 'dir')
    mkdirSync(join(fifoLike, 'send.json'), { recursive: true, mode: 0o700 })
    chmodSync(fifoLike, 0o700)
    expect(() => SendState.open(fifoLike)).toThrow(/not a regular file/)
    chmodSync(real, 0o770)
    expect(() => SendState.open(real)).toThrow(CliError)
    expect(() => SendState.open(real)).toThrow(/writable by other users \(mode 770\)/)
    chmodSync(real, 0o755) // readable by others is fine for the directory (the file is 0600)
    expect(SendState.open(real).nodeSeed).toHaveLength(32)
    // the message never carries the file's content
    chmodSync(join(real, 'send.json'), 0o644)
    const seed = JSON.parse(readFileSync(join(real, 'send.json'), 'utf8')).nodeSeed as string
    expect(() => SendState.open(real)).toThrow(expect.objectContaining({ message: expect.not.stringContaining(seed) }) as Error)
  })

  it.skipIf(process.getuid?.() !== 0)('refuses a state file or directory owned by another user', () => {
    const d = tempDir('stt-state-')
    dirs.push(d)
    SendState.open(d)
    chownSync(join(d, 'send.json'), 12345, 12345)
    expect(() => SendState.open(d)).toThrow(/send\.json belongs to another user \(uid 12345\)/)
    chownSync(join(d, 'send.json'), 0, 0)
    chownSync(d, 12345, 12345)
    expect(() => SendState.open(d)).toThrow(/owned by another user/)
  })

  it('default directory: $STT_STATE_DIR, $XDG_STATE_HOME/stt, ~/.local/state/stt', () => {
    expect(defaultStateDir({ STT_STATE_DIR: '/x/y' })).toBe('/x/y')
    expect(defaultStateDir({ XDG_STATE_HOME: '/s' })).toBe('/s/stt')
    expect(defaultStateDir({})).toMatch(/\.local\/state\/stt$/)
  })
})
