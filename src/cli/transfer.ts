/**
 * The file-transfer convention of `stt send` / `stt listen --out` (one file per stream).
 *
 * Version 2 (resumable; what `stt send` sends):
 *
 *   sender -> receiver:  STT-FILE 2 {"name":"a.txt","size":123,"sha256":"<64 hex>"}\n
 *   receiver -> sender:  AT <offset> <sha256 of the first offset bytes>\n   (or ERR <reason>\n)
 *   sender -> receiver:  FROM <from>\n    from = offset when the prefix hash matches the
 *                                         sender's own file, else 0 (start again)
 *                        then exactly `size - from` bytes (the file from `from`), then end
 *   receiver -> sender:  OK <sha256> <saved name>\n  (whole file verified, renamed)
 *                   or:  ERR <reason>\n
 *
 *   The receiver writes to `.stt-<first 32 hex of sha256>-<size>.part` in its output directory
 *   (named from the announced hash and size, never from the untrusted name). It keeps that file
 *   when the stream or session breaks (either process killed, network loss), so the same
 *   transfer run again continues where the part file ends; `offset` is its length, never more
 *   than `size` (a longer part file is discarded). The receiver re-hashes the part file for
 *   each new header and continues the hash from there, so the SHA-256 it checks at the end is
 *   over the whole file. It deletes the part file only when the whole file's hash is wrong or
 *   the sender sent more than `size`. One transfer per part file at a time: a second one waits
 *   while the first is still receiving data, takes over once the first has stalled or its
 *   session is gone, and is refused (ERR busy) if the first keeps going (transfer-resume.ts).
 *
 * Version 1 (still accepted; no resumption):
 *
 *   sender -> receiver:  STT-FILE 1 {"name":"a.txt","size":123,"sha256":"<64 hex>"}\n
 *                        then exactly `size` bytes, then the sender ends its direction
 *   receiver -> sender:  OK <sha256> <saved name>\n     (written, hash verified, renamed)
 *                   or:  ERR <reason>\n                  (nothing kept)
 *
 * The receiver never trusts `name`: it keeps the last path component only, drops control
 * characters, and writes to a temporary name in the output directory, renaming (never
 * overwriting) once the size and SHA-256 match. Names starting with `.stt-` (the receiver's
 * part files) are saved with a `_` in front.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { link, rename, stat, unlink } from 'node:fs/promises'
import { extname, join } from 'node:path'
import type { Duplex } from 'node:stream'

export const FILE_MAGIC = 'STT-FILE 1 '
export const FILE_MAGIC_V2 = 'STT-FILE 2 '
/** Any version: what a listener recognises as a file transfer. */
export const FILE_PREFIX = 'STT-FILE '
export const MAX_HEADER = 4096

export interface FileHeader {
  name: string
  size: number
  sha256: string
  /** 1 (default) or 2 (resumable). */
  version?: 1 | 2
}

export function encodeHeader(h: FileHeader): Buffer {
  const { version, ...rest } = h
  return Buffer.from(`${version === 2 ? FILE_MAGIC_V2 : FILE_MAGIC}${JSON.stringify(rest)}\n`)
}

export function decodeHeader(line: string): FileHeader {
  const version = line.startsWith(FILE_MAGIC) ? 1 : line.startsWith(FILE_MAGIC_V2) ? 2 : 0
  if (version === 0) throw new Error(line.startsWith(FILE_PREFIX) ? 'unsupported STT-FILE version (this receiver speaks 1 and 2)' : 'not an STT-FILE header')
  let o: unknown
  try {
    o = JSON.parse(line.slice(FILE_MAGIC.length))
  } catch {
    throw new Error('malformed file header')
  }
  const h = o as Partial<FileHeader>
  if (typeof h?.name !== 'string' || h.name.length === 0) throw new Error('file header without a name')
  if (typeof h.size !== 'number' || !Number.isSafeInteger(h.size) || h.size < 0) throw new Error('file header with an invalid size')
  if (typeof h.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(h.sha256)) throw new Error('file header with an invalid sha256')
  const header: FileHeader = { name: h.name, size: h.size, sha256: h.sha256 }
  if (version === 2) header.version = 2
  return header
}

/**
 * The receiver's own names (part files `.stt-<hash>-<size>.part`) start with this: a received
 * file is never published under it, or a later transfer could append to, truncate or delete it.
 */
export const RESERVED_PREFIX = '.stt-'

/** Prefixes `_` to a name the receiver reserves for itself (any case: case-insensitive file systems). */
export function unreserve(name: string): string {
  return name.toLowerCase().startsWith(RESERVED_PREFIX) ? `_${name}` : name
}

/** Last path component, no control characters or separators, never '', '.', '..' or a `.stt-` name. */
export function sanitizeName(name: string): string {
  const base = name.replace(/\\/g, '/').split('/').filter((p) => p.length > 0).pop() ?? ''
  // eslint-disable-next-line no-control-regex
  let s = base.replace(/[\x00-\x1f\x7f]/g, '').trim()
  if (s === '' || s === '.' || s === '..') s = 'received-file'
  s = unreserve(s)
  while (Buffer.byteLength(s) > 200) s = s.slice(0, -1)
  return s
}

/**
 * Reads from `stream` until the first '\n' (or `max` bytes, or the end). The stream is left
 * paused with no 'data' listener; `rest` holds bytes after the line that were already read.
 */
export function readLine(stream: Duplex, max = MAX_HEADER): Promise<{ line: string | null; head: Buffer; rest: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let len = 0
    const done = (ended: boolean) => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('close', onEnd)
      stream.off('error', onError)
      stream.pause()
      const all = Buffer.concat(chunks)
      const nl = all.indexOf(0x0a)
      if (nl < 0) return resolve({ line: null, head: all, rest: Buffer.alloc(0), ended })
      resolve({ line: all.subarray(0, nl).toString('utf8'), head: all, rest: all.subarray(nl + 1), ended })
    }
    const onData = (d: Buffer) => {
      chunks.push(d)
      len += d.length
      if (d.includes(0x0a) || len >= max) done(false)
    }
    const onEnd = () => done(true)
    const onError = (e: Error) => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('close', onEnd)
      reject(e)
    }
    stream.on('data', onData)
    stream.once('end', onEnd)
    // destroyed without an error (its session went away): as an end, so nobody waits forever
    stream.once('close', onEnd)
    stream.once('error', onError)
    stream.resume() // a 'data' listener alone does not restart a stream an earlier readLine paused
  })
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p)
    return true
  } catch {
    return false
  }
}

/** Moves `tmp` to `dir/name`, or `name (1)`, `name (2)`... : never overwrites. */
export async function publish(tmp: string, dir: string, name: string): Promise<string> {
  name = unreserve(name)
  const ext = extname(name)
  const stem = ext && ext !== name ? name.slice(0, -ext.length) : name
  for (let i = 0; i < 1000; i++) {
    const candidate = i === 0 ? name : `${stem} (${i})${ext && ext !== name ? ext : ''}`
    const target = join(dir, candidate)
    try {
      await link(tmp, target) // atomic "create if absent"
      await unlink(tmp)
      return candidate
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST') continue
      // file systems without hard links: best effort
      if (await exists(target)) continue
      await rename(tmp, target)
      return candidate
    }
  }
  throw new Error(`too many files named ${name}`)
}

export interface ReceiveResult {
  ok: boolean
  name: string
  saved?: string
  size: number
  sha256?: string
  reason?: string
}

/**
 * Receives one file from `stream` (header already read): writes, verifies, renames, replies
 * OK/ERR on the stream and ends it. Never throws; the result says what happened.
 */
export async function receiveFile(stream: Duplex, header: FileHeader, rest: Buffer, outDir: string): Promise<ReceiveResult> {
  const name = sanitizeName(header.name)
  const tmp = join(outDir, `.${name}.${randomBytes(6).toString('hex')}.part`)
  const hash = createHash('sha256')
  let count = 0
  let failure: string | null = null
  const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644 })
  try {
    await new Promise<void>((resolve, reject) => {
      out.once('error', (e) => {
        failure = `cannot write ${name} on the receiver: ${(e as NodeJS.ErrnoException).code ?? e.message}`
        resolve()
      })
      const take = (d: Buffer) => {
        if (failure) return
        count += d.length
        if (count > header.size) {
          failure = `received more than the announced ${header.size} bytes`
          return resolve()
        }
        hash.update(d)
        if (!out.write(d)) {
          stream.pause()
          out.once('drain', () => stream.resume())
        }
        // Done at the announced size, without waiting for the sender's end of stream: a FIN
        // that arrives alone after the reader paused is reported late by the library
        // (see docs/CLI.md, "Known issues"); a longer stream is caught above meanwhile.
        if (count === header.size) resolve()
      }
      if (rest.length) take(rest)
      if (header.size === 0) resolve()
      stream.on('data', take)
      stream.once('end', () => resolve())
      stream.once('error', reject)
      stream.resume()
    })
  } catch (err) {
    out.destroy()
    await unlink(tmp).catch(() => {})
    return { ok: false, name, size: count, reason: `stream failed: ${(err as Error).message}` }
  }
  await new Promise<void>((r) => (out.destroyed ? r() : out.end(() => r())))
  const digest = hash.digest('hex')
  if (!failure && count !== header.size) failure = `stream ended after ${count} of ${header.size} bytes`
  if (!failure && digest !== header.sha256) failure = `sha256 mismatch (got ${digest.slice(0, 16)}..., expected ${header.sha256.slice(0, 16)}...)`
  let saved: string | undefined
  if (!failure) {
    try {
      saved = await publish(tmp, outDir, name)
    } catch (err) {
      failure = `cannot save ${name}: ${(err as Error).message}`
    }
  }
  if (failure) {
    await unlink(tmp).catch(() => {})
    reply(stream, `ERR ${failure}\n`)
    return { ok: false, name, size: count, reason: failure }
  }
  reply(stream, `OK ${digest} ${saved}\n`)
  return { ok: true, name, saved, size: count, sha256: digest }
}

export function reply(stream: Duplex, line: string): void {
  if (stream.destroyed || stream.writableEnded) return
  stream.end(line)
}
