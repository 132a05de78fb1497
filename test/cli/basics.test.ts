import { beforeAll, describe, expect, it } from 'vitest'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ensureBuilt, stt, tempDir } from './cli-helpers.js'

beforeAll(ensureBuilt, 180_000)

describe('stt: help, usage errors, keygen, demo', () => {
  it('--help on the top level and on every command, with exit codes', async () => {
    const top = await stt(['--help'])
    expect(top.code).toBe(0)
    expect(top.stdout).toMatch(/Exit codes:/)
    for (const c of ['keygen', 'listen', 'send', 'diagnose', 'bench', 'demo']) {
      expect(top.stdout).toContain(c)
      const r = await stt([c, '--help'])
      expect(r.code, c).toBe(0)
      expect(r.stdout, c).toMatch(/^usage: stt /)
      expect(r.stdout, c).toMatch(/[Ee]xit codes/)
    }
  })

  it('unknown commands and options are usage errors (2), one line, no stack trace', async () => {
    const a = await stt(['frobnicate'])
    expect(a.code).toBe(2)
    expect(a.stderr).toMatch(/unknown command 'frobnicate'/)
    const b = await stt(['send', 'x', '--bogus'])
    expect(b.code).toBe(2)
    expect(b.stderr).toMatch(/Unknown option '--bogus'/)
    expect(b.stderr).not.toMatch(/\n\s+at /)
    const c = await stt(['send', 'x', '--to', 'http://h:1', '--seed-file', 'k'])
    expect(c.code).toBe(2)
    expect(c.stderr).toMatch(/unsupported scheme http/)
  })

  it('keygen writes a 32-byte hex seed with mode 0600, prints a QR code, refuses to overwrite', async () => {
    const dir = tempDir()
    const key = join(dir, 'group.key')
    const r = await stt(['keygen', '--out', key])
    expect(r.code).toBe(0)
    const hex = readFileSync(key, 'utf8').trim()
    expect(hex).toMatch(/^[0-9a-f]{64}$/)
    expect(statSync(key).mode & 0o777).toBe(0o600)
    expect(r.stdout).toContain(hex)
    expect(r.stdout).toMatch(/[▄▀█]/) // the terminal QR code
    const again = await stt(['keygen', '--out', key])
    expect(again.code).toBe(7)
    expect(again.stderr).toMatch(/already exists/)
    expect(readFileSync(key, 'utf8').trim()).toBe(hex)
    const forced = await stt(['keygen', '--out', key, '--force', '--no-qr'])
    expect(forced.code).toBe(0)
    expect(readFileSync(key, 'utf8').trim()).not.toBe(hex)
    expect(statSync(key).mode & 0o777).toBe(0o600)
  })

  it('a missing or malformed seed file is a config error (3)', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'f'), 'x')
    const missing = await stt(['send', join(dir, 'f'), '--to', 'udp://127.0.0.1:9', '--seed-file', join(dir, 'nope.key')])
    expect(missing.code).toBe(3)
    expect(missing.stderr).toMatch(/cannot read seed file .*no such file/)
    writeFileSync(join(dir, 'bad.key'), 'not a seed\n')
    const bad = await stt(['listen', '--port', '0', '--seed-file', join(dir, 'bad.key')])
    expect(bad.code).toBe(3)
    expect(bad.stderr).toMatch(/does not hold a hex seed/)
    writeFileSync(join(dir, 'short.key'), 'abcd\n')
    expect((await stt(['listen', '--port', '0', '--seed-file', join(dir, 'short.key')])).code).toBe(3)
  })

  it('send of a file that does not exist exits 7 before connecting', async () => {
    const dir = tempDir()
    await stt(['keygen', '--out', join(dir, 'k'), '-q'])
    const r = await stt(['send', join(dir, 'missing.bin'), '--to', 'udp://127.0.0.1:9', '--seed-file', join(dir, 'k')])
    expect(r.code).toBe(7)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/missing\.bin: no such file/)
    expect(existsSync(join(dir, 'missing.bin'))).toBe(false)
  })

  it('demo runs two nodes, prints every step and both sides\' stats, exits 0 within seconds', async () => {
    const r = await stt(['demo'], { timeout: 60_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/handshake done in .* session [0-9a-f]{16}/)
    expect(r.stdout).toMatch(/alice sees peer "bob"/)
    expect(r.stdout).toMatch(/cipher suite (aes-256-gcm|chacha20-poly1305)/)
    expect(r.stdout).toMatch(/crypto backend: (native|js)/)
    expect(r.stdout).toMatch(/5 datagrams alice -> bob, 5 answers/)
    expect(r.stdout).toMatch(/sha256 matches on both sides/)
    expect(r.stdout).toMatch(/alice rtt .* packets sent \d+ received \d+, bytes sent .* retransmitted \(lost\) packets \d+/)
    expect(r.stdout).toMatch(/bob\s+rtt /)
    expect(r.stdout).toMatch(/both nodes stopped/)
  })
})
