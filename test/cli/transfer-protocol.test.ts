import { describe, expect, it } from 'vitest'
import { decodeHeader, encodeHeader, sanitizeName } from '../../src/cli/transfer.js'

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
})
