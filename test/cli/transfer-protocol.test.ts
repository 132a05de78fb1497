import { describe, expect, it } from 'vitest'
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { Duplex } from 'node:stream'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeHeader, encodeHeader, publish, sanitizeName } from '../../src/cli/transfer.js'
import { partName, prunePartFiles, receiveResumable } from '../../src/cli/transfer-resume.js'
import { parseAge } from '../../src/cli/listen.js'
import { escapeControls, quoted } from '../../src/cli/format.js'

describe('file-transfer header and name sanitising', () => {
  it('round-trips the header', () => {
    const h = { name: 'a b.txt', size: 12, sha256: 'a'.repeat(64) }
    const line = encodeHeader(h).toString()
    expect(line.endsWith('\n')).toBe(true)
    expect(decodeHeader(line.trimEnd())).toEqual(h)
  })

  it('version 2 (resumable) round-trips; an unknown version is named as such', () => {
    const h = { name: 'b.bin', size: 7, sha256: 'b'.repeat(64), version: 2 as const }
    const line = encodeHeader(h).toString()
    expect(line.startsWith('STT-FILE 2 {"name"')).toBe(true)
    expect(decodeHeader(line.trimEnd())).toEqual(h)
    expect(() => decodeHeader('STT-FILE 3 {}')).toThrow(/unsupported STT-FILE version/)
  })

  it('rejects malformed headers', () => {
    expect(() => decodeHeader('STT-FILE 1 {')).toThrow(/malformed/)
    expect(() => decodeHeader('STT-FILE 1 {"name":"x","size":-1,"sha256":"' + 'a'.repeat(64) + '"}')).toThrow(/size/)
    expect(() => decodeHeader('STT-FILE 1 {"name":"x","size":1,"sha256":"zz"}')).toThrow(/sha256/)
    expect(() => decodeHeader('GET / HTTP/1.1')).toThrow()
  })

  it('keeps only a safe base name', () => {
    expect(sanitizeName('../../etc/passwd')).toBe('passwd')
    expect(sanitizeName('..\\..\\windows\\system.ini')).toBe('system.ini')
    expect(sanitizeName('/abs/path/x.bin')).toBe('x.bin')
    expect(sanitizeName('..')).toBe('received-file')
    expect(sanitizeName('.')).toBe('received-file')
    expect(sanitizeName('a/..')).toBe('received-file')
    expect(sanitizeName('evil\nname\x00.txt')).toBe('evilname.txt')
    expect(sanitizeName('')).toBe('received-file')
    expect(Buffer.byteLength(sanitizeName('x'.repeat(1000)))).toBeLessThanOrEqual(200)
  })

  it('never publishes under a part-file name (.stt- is the receiver\'s own prefix)', async () => {
    const part = partName({ name: 'x', size: 5, sha256: 'c'.repeat(64) })
    expect(sanitizeName(part)).toBe(`_${part}`)
    expect(sanitizeName(`dir/ ${part}`)).toBe(`_${part}`)
    expect(sanitizeName('.STT-x')).toBe('_.STT-x')
    expect(sanitizeName('.stt')).toBe('.stt')
    expect(sanitizeName('stt-x')).toBe('stt-x')
    const d = mkdtempSync(join(tmpdir(), 'stt-publish-'))
    try {
      writeFileSync(join(d, 'tmp'), 'hello')
      expect(await publish(join(d, 'tmp'), d, part)).toBe(`_${part}`)
      expect(readdirSync(d)).toEqual([`_${part}`])
    } finally {
      rmSync(d, { recursive: true, force: true })
    }
  })

  it('names from the network are logged quoted, control characters escaped (no terminal injection)', () => {
    expect(quoted('a b.txt')).toBe('"a b.txt"')
    const evil = 'x\x1b]0;pwned\x07\r\n\x9b2J\u202eexe.txt"'
    const q = quoted(evil)
    // eslint-disable-next-line no-control-regex
    expect(q).not.toMatch(/[\x00-\x1f\x7f-\x9f\u202e]/)
    expect(JSON.parse(q)).toBe(evil)
    expect(q).toBe('"x\\u001b]0;pwned\\u0007\\r\\n\\u009b2J\\u202eexe.txt\\""')
    expect(escapeControls('sha256 "a"\x1b[2J')).toBe('sha256 "a"\\u001b[2J')
  })

  it('a stream destroyed while the part file is truncated (FROM 0) ends the receive instead of hanging', async () => {
    const d = mkdtempSync(join(tmpdir(), 'stt-resume-unit-'))
    try {
      const data = Buffer.from('0123456789')
      const header = { name: 'f.bin', size: data.length, sha256: createHash('sha256').update(data).digest('hex'), version: 2 as const }
      writeFileSync(join(d, partName(header)), 'xyz') // foreign prefix: the sender answers FROM 0
      const stream = new Duplex({
        read() {},
        write(chunk: Buffer, _enc, cb) {
          if (chunk.toString().startsWith('AT ')) setImmediate(() => stream.push('FROM 0\n'))
          cb()
        },
      })
      stream.on('error', () => {})
      // the log line comes right before the truncate: a takeover destroying the stream then
      const log = (l: string) => void (l.startsWith('restarting') && stream.destroy())
      const r = await Promise.race([
        receiveResumable(stream, header, Buffer.alloc(0), d, { sessionGone: () => false, log }),
        new Promise<null>((res) => setTimeout(() => res(null), 3000)),
      ])
      expect(r).not.toBeNull()
      expect(r!.ok).toBe(false)
      expect(r!.reason).toMatch(/stream closed/)
    } finally {
      rmSync(d, { recursive: true, force: true })
    }
  })

  it('part files are bounded: old ones are deleted, a new one is refused past --part-max-bytes', async () => {
    const d = mkdtempSync(join(tmpdir(), 'stt-parts-unit-'))
    try {
      const h = (c: string, size: number) => ({ name: `${c}.bin`, size, sha256: c.repeat(64), version: 2 as const })
      const old = join(d, partName(h('a', 100)))
      const fresh = join(d, partName(h('b', 100)))
      writeFileSync(old, Buffer.alloc(40))
      writeFileSync(fresh, Buffer.alloc(30))
      writeFileSync(join(d, '.stt-notapart.part'), 'x') // not a part-file name: never touched
      writeFileSync(join(d, 'keep.bin'), 'x')
      const tenDaysAgo = (Date.now() - 10 * 86400e3) / 1000
      utimesSync(old, tenDaysAgo, tenDaysAgo)
      utimesSync(join(d, '.stt-notapart.part'), tenDaysAgo, tenDaysAgo)
      utimesSync(join(d, 'keep.bin'), tenDaysAgo, tenDaysAgo)
      expect(await prunePartFiles(d, 0)).toEqual({ removed: [], bytes: 70 }) // 0: never
      expect(await prunePartFiles(d, 7 * 86400e3, old)).toEqual({ removed: [], bytes: 30 }) // `keep` is spared
      expect(await prunePartFiles(d, 7 * 86400e3)).toEqual({ removed: [partName(h('a', 100))], bytes: 30 })
      expect(readdirSync(d).sort()).toEqual(['.stt-notapart.part', fresh.slice(d.length + 1), 'keep.bin'].sort())

      // a new part file (announced 80 bytes) while 30 bytes of parts are kept: refused over 100
      const answers: string[] = []
      const stream = new Duplex({
        read() {},
        write(chunk: Buffer, _enc, cb) {
          answers.push(chunk.toString())
          cb()
        },
      })
      stream.on('error', () => {})
      const r = await receiveResumable(stream, h('c', 80), Buffer.alloc(0), d, { sessionGone: () => false, partMaxBytes: 100 })
      expect(r.ok).toBe(false)
      expect(r.reason).toMatch(/exceed its --part-max-bytes/)
      expect(answers.join('')).toMatch(/^ERR the receiver keeps 30 B of unfinished transfers/)
      expect(existsSync(join(d, partName(h('c', 80))))).toBe(false)
      // a part file that exists may always continue (here: its sender leaves after AT)
      const s2 = new Duplex({ read() {}, write: (c: Buffer, _e, cb) => (answers.push(c.toString()), s2.push(null), cb()) })
      s2.on('error', () => {})
      const r2 = await receiveResumable(s2, h('b', 100), Buffer.alloc(0), d, { sessionGone: () => false, partMaxBytes: 100 })
      expect(r2.reason).toMatch(/kept 30 bytes/)
    } finally {
      rmSync(d, { recursive: true, force: true })
    }
  })

  it('--part-max-age takes 90s, 30m, 12h, 7d (a bare number is days)', () => {
    expect(parseAge('90s', 'x')).toBe(90e3)
    expect(parseAge('30m', 'x')).toBe(30 * 60e3)
    expect(parseAge('12h', 'x')).toBe(12 * 3600e3)
    expect(parseAge('7d', 'x')).toBe(7 * 86400e3)
    expect(parseAge('2', 'x')).toBe(2 * 86400e3)
    expect(parseAge('0', 'x')).toBe(0)
    expect(() => parseAge('7w', '--part-max-age')).toThrow(/--part-max-age must be an age/)
  })
})
