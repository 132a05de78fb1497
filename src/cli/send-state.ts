/**
 * The state `stt send` keeps between runs (issue 12): a node seed (so this sender keeps one
 * node identity, which resumption tokens are bound to) and the newest resumption token per
 * group and destination URL. One JSON file, `send.json`, in the state directory:
 *
 *   --state-dir DIR, else $STT_STATE_DIR, else $XDG_STATE_HOME/stt, else ~/.local/state/stt
 *
 * Both the node seed and the tokens are secrets (a token lets this identity resume a session
 * with the group while its ticket lives): the directory is created 0700, the file is written
 * 0600 to a temporary name and renamed over the old one. A state file that is a symbolic link,
 * not a regular file, not ours, or open to other users (any 077 mode bit) is refused, checked
 * on the open handle (no race between the check and the read); so is a state directory that
 * is not ours or that others may write to. Nothing here is ever printed.
 */
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, closeSync, constants as fsc, fstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { CliError, EXIT } from './exit.js'

export const STATE_FILE = 'send.json'

interface TokenEntry {
  token: string
  /** The ticket's expiry (the responder's wall clock, ms), from the token's header. */
  expires: number
  savedAt: number
  /** The stt send process that saved it: its session may still be live (see token()). */
  pid?: number
}

interface StateData {
  version: 1
  nodeSeed: string
  tokens: Record<string, TokenEntry>
}

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STT_STATE_DIR) return resolve(env.STT_STATE_DIR)
  if (env.XDG_STATE_HOME) return join(resolve(env.XDG_STATE_HOME), 'stt')
  return join(homedir(), '.local', 'state', 'stt')
}

/** The session id inside a token (PROTOCOL.md §9.3: version, suite, expires u64, session id). */
export function tokenSessionId(token: Uint8Array): string | null {
  return token.length >= 18 ? Buffer.from(token.subarray(10, 18)).toString('hex') : null
}

function tokenExpires(token: Uint8Array): number {
  return token.length >= 10 ? Number(Buffer.from(token).readBigUInt64BE(2)) : 0
}

/** Tokens are keyed by the group (a one-way fingerprint of the shared seed) and the URL. */
function keyOf(sharedSeed: Uint8Array, url: string): string {
  const group = createHash('sha256').update('stt send state group\0').update(sharedSeed).digest('hex').slice(0, 16)
  return `${group} ${url}`
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export class SendState {
  readonly path: string
  #data: StateData

  private constructor(
    readonly dir: string,
    data: StateData,
  ) {
    this.path = join(dir, STATE_FILE)
    this.#data = data
  }

  /** Opens (or creates) the state in `dir`; a problem with it is a configuration error (exit 3). */
  static open(dir: string): SendState {
    const fail = (what: string, err?: unknown): never => {
      const code = (err as NodeJS.ErrnoException | undefined)?.code
      throw new CliError(`state directory ${dir}: ${what}${code ? ` (${code})` : ''} (choose another with --state-dir, or --no-state)`, EXIT.CONFIG, { cause: err })
    }
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
    } catch (err) {
      fail('cannot create it', err)
    }
    const posix = process.platform !== 'win32'
    const uid = process.getuid?.()
    if (posix) {
      let dst
      try {
        dst = statSync(dir)
      } catch (err) {
        return fail('cannot read it', err)
      }
      if (!dst.isDirectory()) fail('not a directory')
      if (uid !== undefined && dst.uid !== uid) fail(`owned by another user (uid ${dst.uid}); use a directory of your own`)
      if ((dst.mode & 0o022) !== 0) fail(`writable by other users (mode ${(dst.mode & 0o777).toString(8)}); chmod 700 it`)
    }
    const path = join(dir, STATE_FILE)
    let raw: string | null = null
    let fd: number | null = null
    try {
      // no symlink; no blocking on a FIFO; the checks are on what was opened
      fd = openSync(path, fsc.O_RDONLY | (fsc.O_NOFOLLOW ?? 0) | (fsc.O_NONBLOCK ?? 0))
      const st = fstatSync(fd)
      if (!st.isFile()) fail(`${STATE_FILE} is not a regular file`)
      if (posix && uid !== undefined && st.uid !== uid) fail(`${STATE_FILE} belongs to another user (uid ${st.uid})`)
      if (posix && (st.mode & 0o077) !== 0) fail(`${STATE_FILE} is open to other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`)
      raw = readFileSync(fd, 'utf8')
    } catch (err) {
      if (err instanceof CliError) throw err
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ELOOP' || code === 'EMLINK') fail(`${STATE_FILE} is a symbolic link`)
      if (code !== 'ENOENT') fail(`cannot read ${STATE_FILE}`, err)
    } finally {
      if (fd !== null) closeSync(fd)
    }
    let data: StateData | null = null
    if (raw !== null) {
      try {
        const o = JSON.parse(raw) as Partial<StateData>
        if (o.version === 1 && typeof o.nodeSeed === 'string' && /^[0-9a-f]{64}$/.test(o.nodeSeed) && o.tokens && typeof o.tokens === 'object')
          data = { version: 1, nodeSeed: o.nodeSeed, tokens: o.tokens }
      } catch {
        // unreadable: start again below (a token is only an optimisation)
      }
    }
    const s = new SendState(dir, data ?? { version: 1, nodeSeed: randomBytes(32).toString('hex'), tokens: {} })
    if (!data) s.#save()
    return s
  }

  /** This sender's node identity (secret; see the file comment). */
  get nodeSeed(): Buffer {
    return Buffer.from(this.#data.nodeSeed, 'hex')
  }

  /**
   * The stored token for this group and URL, unless it has expired or the process that saved
   * it still runs: resuming that session would take it over from a live `stt send` (the
   * receiver replaces a session that is resumed), so `busy` names that process instead.
   */
  token(sharedSeed: Uint8Array, url: string, now = Date.now()): { token: Buffer | null; busy?: number } {
    const e = this.#data.tokens[keyOf(sharedSeed, url)]
    if (!e || typeof e.token !== 'string' || !(e.expires > now)) return { token: null }
    if (typeof e.pid === 'number' && e.pid !== process.pid && alive(e.pid)) return { token: null, busy: e.pid }
    return { token: Buffer.from(e.token, 'hex') }
  }

  /** Stores the newest token (replacing the one it came from: a token is single-use). */
  saveToken(sharedSeed: Uint8Array, url: string, token: Uint8Array, now = Date.now()): void {
    this.#data.tokens[keyOf(sharedSeed, url)] = { token: Buffer.from(token).toString('hex'), expires: tokenExpires(token), savedAt: now, pid: process.pid }
    this.#save(now)
  }

  /** Forgets the token for this group and URL (it was used or refused). */
  dropToken(sharedSeed: Uint8Array, url: string): void {
    if (delete this.#data.tokens[keyOf(sharedSeed, url)]) this.#save()
  }

  #save(now = Date.now()): void {
    for (const [k, e] of Object.entries(this.#data.tokens)) if (!(e.expires > now)) delete this.#data.tokens[k]
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
    try {
      writeFileSync(tmp, JSON.stringify(this.#data) + '\n', { mode: 0o600, flag: 'wx' })
      chmodSync(tmp, 0o600) // against a umask that would have widened nothing, but be explicit
      renameSync(tmp, this.path)
    } catch (err) {
      try {
        unlinkSync(tmp)
      } catch {
        // not created
      }
      throw new CliError(`cannot write ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (choose another --state-dir, or --no-state)`, EXIT.CONFIG, { cause: err })
    }
  }
}
