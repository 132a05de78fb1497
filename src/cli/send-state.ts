/**
 * The state `stt send` keeps between runs (issue 12): a node seed (so this sender keeps one
 * node identity, which resumption tokens are bound to) and the newest resumption token per
 * group and destination URL. One JSON file, `send.json`, in the state directory:
 *
 *   --state-dir DIR, else $STT_STATE_DIR, else $XDG_STATE_HOME/stt, else ~/.local/state/stt
 *
 * Both the node seed and the tokens are secrets (a token lets this identity resume a session
 * with the group while its ticket lives): the directory is created 0700, the file is written
 * 0600 to a temporary name and renamed over the old one, and a file that other users can read
 * is refused. Nothing here is ever printed.
 */
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
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
    const path = join(dir, STATE_FILE)
    let raw: string | null = null
    try {
      const st = statSync(path)
      if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) fail(`${STATE_FILE} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`)
      raw = readFileSync(path, 'utf8')
    } catch (err) {
      if (err instanceof CliError) throw err
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') fail(`cannot read ${STATE_FILE}`, err)
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
