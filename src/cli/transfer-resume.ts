/**
 * The receiving side of a version-2 (resumable) file transfer: see the convention in
 * transfer.ts. The part file is `.stt-<first 32 hex of sha256>-<size>.part` in the output
 * directory; it survives a broken stream, and the next transfer of the same file continues
 * from its verified end.
 *
 * Part files are bounded (a group member could otherwise fill the receiver's disk with
 * abandoned ones): those not written for `partMaxAgeMs` are deleted (when the listener starts
 * and whenever a transfer opens a part file), and a new part file is refused while the other
 * part files plus the announced size would exceed `partMaxBytes` (one part file alone is always
 * allowed, so any single file can still be received).
 */
import { createHash, type Hash } from 'node:crypto'
import { constants as fsc, createWriteStream } from 'node:fs'
import { lstat, open, readdir, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { bytes } from './format.js'
import { exists, publish, readLine, reply, sanitizeName, type FileHeader, type ReceiveResult } from './transfer.js'

/** A transfer that has received nothing for this long may be taken over by a newer one, ms. */
export const STALL_MS = 3000
/** How long a newer transfer waits for a live one of the same file before it is refused, ms. */
export const BUSY_WAIT_MS = 10_000

export function partName(header: FileHeader): string {
  return `.stt-${header.sha256.slice(0, 32)}-${header.size}.part`
}

/** What partName() makes: only such files are ever pruned. */
export const PART_RE = /^\.stt-[0-9a-f]{32}-\d+\.part$/
/** Default of `stt listen --part-max-age`: a part file not written for this long is deleted, ms. */
export const PART_MAX_AGE_MS = 7 * 24 * 3600 * 1000
/** Default of `stt listen --part-max-bytes`: bound on all part files (see the file comment). */
export const PART_MAX_BYTES = 16 * 1024 ** 3

/**
 * Deletes the part files in `outDir` not written for `maxAgeMs` (0: none), except `keep` and
 * those a transfer holds. Returns the names deleted and the bytes of the part files left
 * (`keep` not counted). Never throws (an unreadable directory counts as empty).
 */
export async function prunePartFiles(outDir: string, maxAgeMs: number, keep?: string, now = Date.now()): Promise<{ removed: string[]; bytes: number }> {
  const removed: string[] = []
  let total = 0
  let names: string[]
  try {
    names = await readdir(outDir)
  } catch {
    return { removed, bytes: 0 }
  }
  for (const n of names) {
    if (!PART_RE.test(n)) continue
    const p = join(outDir, n)
    if (p === keep) continue
    try {
      const st = await lstat(p)
      if (!st.isFile()) continue
      if (maxAgeMs > 0 && now - st.mtimeMs > maxAgeMs && !holders.has(p)) {
        await unlink(p)
        removed.push(n)
      } else total += st.size
    } catch {
      // gone meanwhile
    }
  }
  return { removed, bytes: total }
}

interface Holder {
  lastData: number
  /** The holder's session is gone or suspended: no point in waiting for it. */
  gone(): boolean
  /** Ends the holder's transfer (its part file is kept); `done` resolves when its file is closed. */
  abort(): void
  done: Promise<void>
}

/** Transfers in progress, by part file path (one listener process owns its output directory). */
const holders = new Map<string, Holder>()

export interface ResumeContext {
  /** Whether the stream's session is gone or suspended (so a newer transfer may take over). */
  sessionGone(): boolean
  log?(line: string): void
  /** Part files not written for this long are deleted, ms (0: never) [PART_MAX_AGE_MS]. */
  partMaxAgeMs?: number
  /** Bound on the part files' bytes for a new part file (0: none) [PART_MAX_BYTES]. */
  partMaxBytes?: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Waits until no other transfer holds `path`: false when a live one keeps it past BUSY_WAIT_MS. */
async function acquire(path: string, me: Holder, isClosed: () => boolean): Promise<boolean> {
  const t0 = Date.now()
  for (;;) {
    const h = holders.get(path)
    if (!h) {
      holders.set(path, me) // no await between the check and the claim
      return true
    }
    if (isClosed()) return false
    if (h.gone() || Date.now() - h.lastData >= STALL_MS) {
      h.abort()
      await h.done
      continue
    }
    if (Date.now() - t0 >= BUSY_WAIT_MS) return false
    await sleep(200)
  }
}

/** SHA-256 of the first `n` bytes of `fh`. */
async function hashPrefix(fh: FileHandle, n: number): Promise<Hash> {
  const hash = createHash('sha256')
  const buf = Buffer.allocUnsafe(1 << 20)
  for (let pos = 0; pos < n; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, n - pos), pos)
    if (bytesRead === 0) break
    hash.update(buf.subarray(0, bytesRead))
    pos += bytesRead
  }
  return hash
}

/**
 * Receives one version-2 file from `stream` (header already read; the sender waits for our AT
 * line, so nothing may follow the header yet). Replies OK/ERR and ends the stream. Never throws.
 */
export async function receiveResumable(stream: Duplex, header: FileHeader, rest: Buffer, outDir: string, ctx: ResumeContext): Promise<ReceiveResult & { from?: number }> {
  const name = sanitizeName(header.name)
  const fail = (reason: string, size = 0): ReceiveResult => {
    stream.resume() // drain, so the sender is not stalled while it reads our answer
    reply(stream, `ERR ${reason}\n`)
    return { ok: false, name, size, reason }
  }
  if (rest.length) return fail('protocol error: data before the AT answer')
  const path = join(outDir, partName(header))
  // Until the data phase, a takeover ends our stream (the readLine below then fails).
  let abort: (why: string) => void = (why) => void stream.destroy(new Error(why))
  let release!: () => void
  let streamClosed = false
  stream.once('close', () => (streamClosed = true))
  const me: Holder = { lastData: Date.now(), gone: ctx.sessionGone, abort: () => abort('taken over by a newer transfer of the same file'), done: new Promise<void>((r) => (release = r)) }
  if (!(await acquire(path, me, () => streamClosed || stream.destroyed))) {
    release()
    return fail('busy: another transfer of this file is in progress on the receiver')
  }
  let fh: FileHandle | null = null
  try {
    const isNew = !(await exists(path))
    const maxBytes = ctx.partMaxBytes ?? PART_MAX_BYTES
    const others = await prunePartFiles(outDir, ctx.partMaxAgeMs ?? PART_MAX_AGE_MS, path)
    if (others.removed.length) ctx.log?.(`deleted ${others.removed.length} part file${others.removed.length === 1 ? '' : 's'} not written for longer than --part-max-age`)
    if (isNew && maxBytes > 0 && others.bytes > 0 && others.bytes + header.size > maxBytes)
      return fail(`the receiver keeps ${bytes(others.bytes)} of unfinished transfers; with this file that would exceed its --part-max-bytes ${bytes(maxBytes)} (try again later, or ask its operator to delete .stt-*.part files)`)
    try {
      fh = await open(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_APPEND | (fsc.O_NOFOLLOW ?? 0), 0o644)
    } catch (err) {
      return fail(`cannot write ${name} on the receiver: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    const st = await fh.stat()
    if (!st.isFile()) return fail(`cannot write ${name} on the receiver: the part file is not a regular file`)
    let offset = st.size
    if (offset > header.size) {
      ctx.log?.(`discarded ${partName(header)}: ${offset} bytes, longer than the announced ${header.size}`)
      await fh.truncate(0)
      offset = 0
    }
    let hash = await hashPrefix(fh, offset)
    me.lastData = Date.now()
    const left = { ok: false, name, size: offset, reason: `the sender left before choosing where to start (kept ${offset} bytes)` }
    if (stream.destroyed) return left
    reply2(stream, `AT ${offset} ${hash.copy().digest('hex')}\n`)
    let ans
    try {
      ans = await readLine(stream, 128)
    } catch {
      return left
    }
    const m = ans.line === null ? null : /^FROM (\d+)$/.exec(ans.line)
    if (!m) {
      if (ans.line === null) return left
      return fail(`protocol error: expected FROM, got ${JSON.stringify(ans.line.slice(0, 40))}`, offset)
    }
    const from = Number(m[1])
    if (from !== 0 && from !== offset) return fail(`protocol error: FROM ${from}, but the receiver has ${offset} bytes`, offset)
    if (from === 0 && offset > 0) {
      ctx.log?.(`restarting ${partName(header)} from 0 (the sender's file differs from the ${offset} bytes kept)`)
      await fh.truncate(0)
      hash = createHash('sha256')
    }
    return await receiveRest(stream, header, ans.rest, fh, hash, from, name, path, outDir, me, (f) => (abort = f))
  } finally {
    await fh?.close().catch(() => {})
    if (holders.get(path) === me) holders.delete(path)
    release()
  }
}

/** Writes without ending the stream (reply() ends it; AT is not the last line). */
function reply2(stream: Duplex, line: string): void {
  if (!stream.destroyed && !stream.writableEnded) stream.write(line)
}

async function receiveRest(
  stream: Duplex,
  header: FileHeader,
  rest: Buffer,
  fh: FileHandle,
  hash: Hash,
  from: number,
  name: string,
  path: string,
  outDir: string,
  me: Holder,
  onAbort: (f: (why: string) => void) => void,
): Promise<ReceiveResult & { from: number }> {
  let count = from
  let failure: string | null = null
  let discard = false
  let broken: string | null = null
  const out = createWriteStream('', { fd: fh.fd, flags: 'a', autoClose: false })
  await new Promise<void>((resolve) => {
    const finish = () => {
      stream.off('data', take)
      resolve()
    }
    onAbort((why) => {
      broken = why
      stream.destroy()
      finish()
    })
    out.once('error', (e) => {
      failure = `cannot write ${name} on the receiver: ${(e as NodeJS.ErrnoException).code ?? e.message}`
      finish()
    })
    const take = (d: Buffer) => {
      if (failure || broken) return
      me.lastData = Date.now()
      count += d.length
      if (count > header.size) {
        failure = `received more than the announced ${header.size} bytes`
        discard = true
        return finish()
      }
      hash.update(d)
      if (!out.write(d)) {
        stream.pause()
        out.once('drain', () => stream.resume())
      }
      // Done at the announced size, without waiting for the sender's end (see receiveFile).
      if (count === header.size) finish()
    }
    // A takeover (or the session going) while we truncated: its 'close' may have fired already,
    // so the listeners below would wait for nothing, and the taker for our `done` forever.
    if (stream.destroyed) {
      broken = 'stream closed'
      return finish()
    }
    if (rest.length) take(rest)
    if (count === header.size) return finish()
    stream.on('data', take)
    stream.once('end', () => {
      if (count < header.size) broken = `stream ended after ${count} of ${header.size} bytes`
      finish()
    })
    stream.once('error', (e: Error) => {
      broken = `stream failed: ${e.message}`
      finish()
    })
    stream.once('close', () => {
      broken ??= count < header.size ? 'stream closed' : null
      finish()
    })
    stream.resume()
  })
  await new Promise<void>((r) => (out.destroyed || out.writableFinished ? r() : out.end(() => r())))
  if (broken && !failure) {
    stream.destroy()
    return { ok: false, name, size: count, from, reason: `${broken} (kept ${count} of ${header.size} bytes to resume)` }
  }
  let saved: string | undefined
  if (!failure) {
    const digest = hash.digest('hex')
    if (digest !== header.sha256) {
      failure = `sha256 mismatch (got ${digest.slice(0, 16)}..., expected ${header.sha256.slice(0, 16)}...)`
      discard = true
    }
  }
  if (!failure) {
    try {
      saved = await publish(path, outDir, name)
    } catch (err) {
      failure = `cannot save ${name}: ${(err as Error).message}`
    }
  }
  if (failure) {
    if (discard) await unlink(path).catch(() => {})
    stream.resume()
    reply(stream, `ERR ${failure}\n`)
    return { ok: false, name, size: count, from, reason: failure }
  }
  reply(stream, `OK ${header.sha256} ${saved}\n`)
  return { ok: true, name, saved, size: count, from, sha256: header.sha256 }
}
