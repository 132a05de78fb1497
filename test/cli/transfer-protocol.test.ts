import { describe, expect, it } from 'vitest'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { Duplex } from 'node:stream'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeHeader, encodeHeader, publish, sanitizeName } from '../../src/cli/transfer.js'
import { partName, receiveResumable } from '../../src/cli/transfer-resume.js'
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
})
