/** stt send: files to a listening node over one session, one stream per file, SHA-256 confirmed. */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import { STTNode, type STTSession, type STTStream } from '../index.js'
import { parse, parseIntArg, str } from './args.js'
import { CliError, EXIT, EXIT_HELP, describeError } from './exit.js'
import { bytes, rate } from './format.js'
import type { Io } from './io.js'
import { checkTarget } from './node-options.js'
import { seedFromArgs } from './common.js'
import { makeProgress } from './progress.js'
import { encodeHeader, readLine } from './transfer.js'
import { SendState, defaultStateDir, tokenSessionId } from './send-state.js'

export const HELP = `usage: stt send FILE... --to URL --seed-file FILE [--proxy http://host:port] [--ca ca.pem]
                [--insecure] [--timeout MS] [--name NAME] [--state-dir DIR | --no-state] [--quiet]

Sends each FILE on its own stream of one session. Each stream starts with a one-line header
(name, size, SHA-256); the receiver (stt listen --out DIR) answers how much of that file it
already holds from an earlier, interrupted run (a verified prefix), and only the rest is sent.
The receiver verifies the SHA-256 of the whole file and answers OK or ERR on the same stream.
Exits 0 only when every file was confirmed.

Resuming: if a run is interrupted (network loss, either process killed), run the same command
again: each file continues where the receiver's part file ends. Within one run, a network
outage shorter than the session's resume timeout (10 min) is bridged by the session itself.
The session is resumed with the resumption token stored by the previous run (1-RTT, same
session id) when there is one; a refused or expired token falls back to a full handshake.
send does not reconnect by itself: after a receiver restart, stop it (Ctrl-C) and run it again.

  --to URL            udp://host:8080 | ws://host:8080/stt | wss://host:8443/stt | auto://host:8080
                      (auto: UDP first, WebSocket on the same port if UDP gets no answer)  [required]
  --seed-file FILE    the group's shared seed                                            [required]
  --proxy URL         HTTP CONNECT proxy for ws:// and wss:// (http://user:pass@host:port)
  --ca FILE           CA certificate (PEM) to trust for wss://
  --insecure          wss:// without verifying the server certificate (STT still authenticates the peer)
  --timeout MS        handshake timeout                                                  [10000]
  --name NAME         name sent to the peer                                              [stt-send]
  --state-dir DIR     where this sender's node identity and resumption tokens are kept, in
                      DIR/send.json (mode 0600: both are secrets)
                      [$STT_STATE_DIR, else $XDG_STATE_HOME/stt, else ~/.local/state/stt]
  --no-state          read and write no state: a new identity and a full handshake every run
                      (the file transfer itself still resumes from the receiver's part file)
  -q, --quiet         no progress output (results and errors only)

Progress: a bar with rate and ETA on a terminal, plain "progress ..." lines on stderr otherwise.
Result lines on stdout: "sent NAME SIZE sha256 HASH confirmed", with "(resumed at OFFSET,
N bytes sent)" when the receiver already had part of it. On stderr: whether the session was
resumed, and the bytes the session sent on the wire.

${EXIT_HELP}`

interface Item {
  path: string
  name: string
  size: number
  sha256?: string
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer)
  return h.digest('hex')
}

export async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      to: { type: 'string' },
      'seed-file': { type: 'string', short: 's' },
      proxy: { type: 'string' },
      ca: { type: 'string' },
      insecure: { type: 'boolean' },
      timeout: { type: 'string' },
      name: { type: 'string', short: 'n' },
      'state-dir': { type: 'string' },
      'no-state': { type: 'boolean' },
    },
    true,
  )
  if (values.help) return io.out(HELP), EXIT.OK
  if (positionals.length === 0) throw new CliError('no FILE given (stt send FILE... --to URL --seed-file FILE)', EXIT.USAGE)
  const to = str(values.to)
  if (!to) throw new CliError('--to URL is required (e.g. --to udp://host:8080)', EXIT.USAGE)
  const target = checkTarget(to)
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(to) ? to : `udp://${to}`
  const timeout = parseIntArg(str(values.timeout), '--timeout', 100, 600_000) ?? 10_000
  const proxy = str(values.proxy)
  if (proxy && !/^http:\/\//i.test(proxy)) throw new CliError(`--proxy must be an http:// URL (got ${proxy})`, EXIT.USAGE)
  if (proxy && target.scheme === 'udp') throw new CliError('--proxy works with ws://, wss:// and auto:// targets only (UDP cannot go through an HTTP proxy)', EXIT.USAGE)

  // Every file must exist before anything goes on the wire.
  const items: Item[] = []
  for (const p of positionals) {
    let st
    try {
      st = await stat(p)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      throw new CliError(`cannot read ${p}: ${code === 'ENOENT' ? 'no such file' : code}`, EXIT.FILE)
    }
    if (!st.isFile()) throw new CliError(`${p} is not a regular file`, EXIT.FILE)
    items.push({ path: p, name: basename(p), size: st.size })
  }
  const sharedSeed = seedFromArgs(values, io)
  if (values['no-state'] && str(values['state-dir'])) throw new CliError('--state-dir and --no-state exclude each other', EXIT.USAGE)
  const state = values['no-state'] ? null : SendState.open(str(values['state-dir']) ? resolve(str(values['state-dir'])!) : defaultStateDir())

  const mode = values.quiet ? 'none' : process.stderr.isTTY ? 'tty' : 'plain'
  const info = (s: string) => {
    if (mode !== 'none') io.err(s)
  }
  for (const it of items) {
    if (it.size > 64 << 20) info(`hashing ${it.name} (${bytes(it.size)})...`)
    try {
      it.sha256 = await sha256File(it.path)
    } catch (err) {
      throw new CliError(`cannot read ${it.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.FILE)
    }
  }

  const node = new STTNode({ sharedSeed, nodeSeed: state?.nodeSeed, name: str(values.name) ?? 'stt-send', host: '0.0.0.0', port: 0, transport: 'udp', acceptConnections: false, proxy })
  await node.start()
  let session: STTSession | null = null
  try {
    const tls = str(values.ca) || values.insecure ? { ca: str(values.ca), rejectUnauthorized: values.insecure !== true } : undefined
    const t0 = performance.now()
    const stored = state?.token(sharedSeed, url) ?? { token: null }
    const token = stored.token
    session = await node.connect(url, { timeout, tls, proxy, connectTimeout: timeout, resume: token ?? undefined })
    // A token is single-use (used now, or refused): the session brings a new one.
    if (token) state!.dropToken(sharedSeed, url)
    const resumed = token !== null && tokenSessionId(token) === session.id
    info(
      `connected to "${session.peerName}" at ${session.remoteAddress} via ${session.transport} in ${(performance.now() - t0).toFixed(0)} ms` +
        (session.transportReason ? ` (${session.transportReason})` : '') +
        `, session ${session.id} ` +
        (resumed
          ? 'resumed (stored token, 1-RTT)'
          : `new (full handshake${token ? ': the stored token was refused' : stored.busy ? `: the stored token belongs to a running stt send, pid ${stored.busy}` : state ? ', no stored token' : ', --no-state'})`),
    )
    if (state) {
      const s = session
      const keep = (t: Buffer) => {
        try {
          state.saveToken(sharedSeed, url, t)
        } catch (err) {
          io.err(`stt send: warning: ${describeError(err)}`)
        }
      }
      if (s.resumptionToken) keep(s.resumptionToken)
      s.on('resumption-token', keep)
    }
    let closedWhy: string | null = null
    session.on('error', () => {}) // reported through closedWhy below
    session.on('suspended', () =>
      info(`session ${session!.id} suspended: the receiver went silent; waiting for it to come back (Ctrl-C and run the same command again later to continue from where the receiver is)`),
    )
    session.on('resumed', (e: { pausedMs: number }) => info(`session ${session!.id} resumed after ${(e.pausedMs / 1000).toFixed(1)} s`))
    session.once('close', (c: { reason: string; remote: boolean }) => {
      closedWhy = `session closed${c.remote ? ' by the peer' : ''}: ${c.reason}`
    })
    let failed = 0
    for (const it of items) {
      if (closedWhy) throw new CliError(`${it.name}: not sent, ${closedWhy}`, EXIT.TRANSFER)
      const r = await sendOne(session, it, mode, io)
      const resumedAt = r.from ? ` (resumed at ${r.from}, ${r.sent} bytes sent)` : ''
      if (r.ok) io.out(`sent ${it.name} ${it.size} sha256 ${it.sha256} confirmed${resumedAt}${r.saved && r.saved !== it.name ? ` (saved as ${r.saved})` : ''}`)
      else {
        failed++
        io.err(`stt send: ${it.name}: transfer failed: ${r.reason}`)
      }
    }
    info(`session ${session.id}: ${session.getStats().bytesSent} bytes sent on the wire`)
    if (failed) {
      if (items.length > 1) io.err(`stt send: ${failed} of ${items.length} files failed`)
      return EXIT.TRANSFER
    }
    return EXIT.OK
  } finally {
    if (session && !session.closed) await Promise.race([session.close('transfer finished'), new Promise((r) => setTimeout(r, 1000))])
    await node.stop('sender done')
  }
}

type Mode = 'tty' | 'plain' | 'none'
interface SendResult {
  ok: boolean
  reason?: string
  saved?: string
  /** Where the file started (the receiver's verified prefix), and the file bytes sent. */
  from?: number
  sent?: number
}

/** SHA-256 of the first `n` bytes of `path`. */
async function sha256Prefix(path: string, n: number): Promise<string> {
  const h = createHash('sha256')
  if (n > 0) for await (const chunk of createReadStream(path, { start: 0, end: n - 1, highWaterMark: 1 << 20 })) h.update(chunk as Buffer)
  return h.digest('hex')
}

/** One file, resumable (STT-FILE 2); falls back to STT-FILE 1 for a receiver that does not know 2. */
async function sendOne(session: STTSession, it: Item, mode: Mode, io: Io): Promise<SendResult> {
  const r = await sendFile(session, it, mode, io, 2)
  if (!r.ok && /^receiver answered: (unknown request|not an STT-FILE header|unsupported STT-FILE version)/.test(r.reason ?? '')) {
    if (mode !== 'none') io.err(`${it.name}: the receiver does not support resumable transfers (an older stt); sending the whole file`)
    return sendFile(session, it, mode, io, 1)
  }
  return r
}

async function sendFile(session: STTSession, it: Item, mode: Mode, io: Io, version: 1 | 2): Promise<SendResult> {
  let st: STTStream
  try {
    st = session.openStream()
  } catch (err) {
    return { ok: false, reason: describeError(err) }
  }
  let streamErr: Error | null = null
  st.on('error', (e) => {
    streamErr = e
  })
  st.write(encodeHeader({ name: it.name, size: it.size, sha256: it.sha256!, version }))
  let from = 0
  if (version === 2) {
    // The receiver says how much it holds (AT <offset> <sha256 of those bytes>); we decide.
    const at = await readLine(st, 256).catch((e: Error) => ({ line: null, error: e }))
    const line = at.line
    const m = line === null ? null : /^AT (\d+) ([0-9a-f]{64})$/.exec(line)
    if (!m) {
      st.destroy()
      if (line?.startsWith('ERR ')) return { ok: false, reason: `receiver answered: ${line.slice(4)}` }
      if (line !== null) return { ok: false, reason: `unexpected answer from the receiver: ${JSON.stringify(line.slice(0, 80))} (is it stt listen --out?)` }
      const e = (at as { error?: Error }).error ?? streamErr
      return { ok: false, reason: e ? `stream failed: ${describeError(e)}` : 'the receiver closed the stream without answering' }
    }
    const offset = Number(m[1])
    if (!Number.isSafeInteger(offset) || offset > it.size) {
      st.destroy()
      return { ok: false, reason: `the receiver claims ${m[1]} bytes of a ${it.size}-byte file (protocol error)` }
    }
    if (offset > 0) {
      let mine: string
      try {
        mine = offset === it.size ? it.sha256! : await sha256Prefix(it.path, offset)
      } catch (err) {
        st.destroy()
        return { ok: false, reason: `cannot read ${it.path}: ${(err as Error).message}` }
      }
      if (mine === m[2]) {
        from = offset
        if (mode !== 'none') io.err(`${it.name}: the receiver holds the first ${bytes(offset)} (hash verified); sending the remaining ${bytes(it.size - offset)}`)
      } else if (mode !== 'none') io.err(`${it.name}: the receiver's ${bytes(offset)} do not match this file; starting again from 0`)
    }
    st.write(`FROM ${from}\n`)
  }
  return streamBody(session, st, it, from, mode, io, () => streamErr)
}

async function streamBody(session: STTSession, st: STTStream, it: Item, from: number, mode: Mode, io: Io, streamError: () => Error | null): Promise<SendResult> {
  const progress = makeProgress(it.name, it.size, mode, (s) => io.err(s), from)
  const t0 = performance.now()
  let done = from
  const answer = readLine(st).then(
    (r) => r,
    (e: Error) => ({ line: null, head: Buffer.alloc(0), rest: Buffer.alloc(0), ended: true, error: e }),
  )
  const src = createReadStream(it.path, { highWaterMark: 256 * 1024, start: from })
  // Stop writing at once if the receiver answers (ERR) or the stream breaks before we finish.
  let earlyAnswer = false
  void answer.then(() => {
    earlyAnswer = true
    src.destroy()
  })
  const wrote = new Promise<void>((resolve, reject) => {
    src.on('data', (chunk) => {
      done += chunk.length
      progress.update(done)
      if (!st.write(chunk)) {
        src.pause()
        st.once('drain', () => src.resume())
      }
    })
    src.once('end', () => {
      st.end()
      resolve()
    })
    src.once('error', reject)
    src.once('close', () => {
      if (earlyAnswer) resolve()
    })
  })
  try {
    await wrote
  } catch (err) {
    st.destroy()
    progress.stop(`${it.name}: read error`)
    return { ok: false, reason: `cannot read ${it.path}: ${(err as Error).message}` }
  }
  if (!earlyAnswer) progress.update(done)
  const a = await answer
  const secs = (performance.now() - t0) / 1000
  const line = a.line
  if (line?.startsWith('OK ')) {
    const [, hash, ...saved] = line.split(' ')
    if (hash !== it.sha256) {
      progress.stop(`${it.name}: receiver reported a different hash`)
      return { ok: false, reason: `receiver confirmed hash ${hash}, expected ${it.sha256}` }
    }
    const sent = it.size - from
    const what = from ? `${bytes(sent)} of ${bytes(it.size)} (resumed at ${bytes(from)})` : bytes(it.size)
    progress.stop(`${it.name}: ${what} in ${secs.toFixed(2)} s (${rate(sent / Math.max(secs, 1e-6))}), confirmed by the receiver`)
    return { ok: true, saved: saved.join(' '), from, sent }
  }
  progress.stop(`${it.name}: failed`)
  if (line?.startsWith('ERR ')) return { ok: false, reason: `receiver answered: ${line.slice(4)}` }
  const e = (a as { error?: Error }).error ?? streamError()
  if (e) return { ok: false, reason: `stream failed after ${bytes(done)}: ${describeError(e)}` }
  if (line !== null) return { ok: false, reason: `unexpected answer from the receiver: ${JSON.stringify(line.slice(0, 80))} (is it stt listen --out?)` }
  return { ok: false, reason: `the receiver closed the stream after ${bytes(done)} without confirming (session ${session.closed ? 'closed' : 'open'})` }
}
