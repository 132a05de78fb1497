/** stt listen: a long-running node that logs sessions, receives files (--out) and echoes (--echo). */
import { mkdirSync, accessSync, constants as fsc } from 'node:fs'
import { resolve } from 'node:path'
import type { Duplex } from 'node:stream'
import { STTNode, backend, type STTSession, type STTStream } from '../index.js'
import { parse, parseIntArg, parseSize, str } from './args.js'
import { CliError, EXIT, EXIT_HELP, describeError } from './exit.js'
import { bytes, escapeControls, quoted, shortHex } from './format.js'
import type { Io } from './io.js'
import { parseTransports } from './node-options.js'
import { isProbe } from './probe.js'
import { seedFromArgs } from './common.js'
import { FILE_PREFIX, decodeHeader, readLine, receiveFile, reply } from './transfer.js'
import { PART_MAX_AGE_MS, PART_MAX_BYTES, prunePartFiles, receiveResumable } from './transfer-resume.js'

export const HELP = `usage: stt listen --seed-file FILE [--port 8080] [--host 0.0.0.0] [--transport udp,websocket]
                  [--websocket-port N] [--tls-cert cert.pem --tls-key key.pem]
                  [--out DIR [--part-max-age 7d] [--part-max-bytes 16Gi]] [--echo] [--name NAME]

Runs a node until Ctrl-C / SIGTERM, then closes every session with a reason and exits 0.
On start it prints its addresses, then one machine-readable line:
  listening udp://0.0.0.0:8080 ws://0.0.0.0:8080/stt
and one line per session opening and closing (peer name, address, transport).

  --seed-file FILE     the group's shared seed (stt keygen)                        [required]
  --port N             UDP port, and the WebSocket port unless --websocket-port    [8080]
                       (0 = any free port; the "listening" line says which)
  --host ADDR          listen address                                              [0.0.0.0]
  --transport LIST     udp, websocket, or udp,websocket                            [udp,websocket]
  --websocket-port N   WebSocket (TCP) port if not the same number as --port
  --tls-cert/--tls-key PEM files: serve wss:// instead of ws://
  --out DIR            accept files from stt send into DIR (SHA-256 verified; written to a
                       .stt-<hash>-<size>.part file, renamed when verified; never overwrites).
                       A broken transfer keeps its .part file, and the same stt send run again
                       continues from its verified end (delete stale .stt-*.part files at will)
  --part-max-age AGE   delete .part files not written for AGE (at start and whenever a transfer
                       opens one): 30m, 12h, 7d; 0 = never                          [7d]
  --part-max-bytes N   refuse a new .part file while the other .part files plus its size would
                       exceed N (one .part file alone is always allowed); 0 = no bound  [16Gi]
  --echo               echo every stream and datagram back (latency tests)
  --name NAME          name sent to peers in the handshake                          [hostname-less: stt-listen]

Any listener answers the probe datagrams of stt diagnose.

${EXIT_HELP}`

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    'seed-file': { type: 'string', short: 's' },
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    transport: { type: 'string', short: 't' },
    'websocket-port': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    out: { type: 'string', short: 'o' },
    'part-max-age': { type: 'string' },
    'part-max-bytes': { type: 'string' },
    echo: { type: 'boolean' },
    name: { type: 'string', short: 'n' },
  })
  if (values.help) return io.out(HELP), EXIT.OK
  const port = parseIntArg(str(values.port) ?? '8080', '--port', 0, 65535)!
  const wsPort = parseIntArg(str(values['websocket-port']), '--websocket-port', 0, 65535)
  const transports = parseTransports(str(values.transport), ['udp', 'websocket'])
  const cert = str(values['tls-cert'])
  const key = str(values['tls-key'])
  if ((cert === undefined) !== (key === undefined)) throw new CliError('--tls-cert and --tls-key go together', EXIT.USAGE)
  const outDir = str(values.out) ? resolve(str(values.out)!) : undefined
  if (outDir) {
    try {
      mkdirSync(outDir, { recursive: true })
      accessSync(outDir, fsc.W_OK)
    } catch (err) {
      throw new CliError(`cannot use --out ${outDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.FILE)
    }
  }
  const partMaxAgeMs = str(values['part-max-age']) === undefined ? PART_MAX_AGE_MS : parseAge(str(values['part-max-age'])!, '--part-max-age')
  const partMaxBytes = str(values['part-max-bytes']) === undefined ? PART_MAX_BYTES : parseSize(str(values['part-max-bytes'])!, '--part-max-bytes')
  const sharedSeed = seedFromArgs(values, io)
  const node = new STTNode({
    sharedSeed,
    name: str(values.name) ?? 'stt-listen',
    host: str(values.host) ?? '0.0.0.0',
    port,
    transport: transports,
    websocketPort: wsPort,
    tls: cert ? { cert, key } : undefined,
  })
  let info
  try {
    info = await node.start()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' || /EADDRINUSE/.test(String((err as Error).message)))
      throw new CliError(`port ${port} is already in use (stop the other program or choose another --port)`, EXIT.CONFIG)
    throw err
  }
  if (outDir) {
    const { removed } = await prunePartFiles(outDir, partMaxAgeMs)
    if (removed.length) io.err(`stt listen: deleted ${removed.length} part file${removed.length === 1 ? '' : 's'} in ${outDir} not written for longer than --part-max-age`)
  }
  const echo = values.echo === true
  const urls: string[] = []
  for (const [t, a] of Object.entries(info.addresses)) {
    const h = a.host.includes(':') ? `[${a.host}]` : a.host
    urls.push(t === 'udp' ? `udp://${h}:${a.port}` : `${cert ? 'wss' : 'ws'}://${h}:${a.port}/stt`)
  }
  io.err(`stt listen: node ${shortHex(node.nodeId)} ("${node.name}"), backend ${backend}, ${outDir ? `saving files to ${outDir}` : 'not accepting files (no --out)'}${echo ? ', echo on' : ''}`)
  io.out(`listening ${urls.join(' ')}`)

  const log = (s: string) => io.out(s)
  node.on('session', (s: STTSession) => {
    log(`session open ${s.id} peer=${quoted(s.peerName)} from ${s.remoteAddress} via ${s.transport}`)
    // An error close (timeout, the peer's error code) is logged by the 'close' line below.
    s.on('error', () => {})
    s.on('close', (c: { code: number; reason: string; remote: boolean }) => {
      log(`session closed ${s.id} peer=${quoted(s.peerName)} reason=${quoted(c.reason)}${c.remote ? ' (by peer)' : ''}${c.code ? ` code=0x${c.code.toString(16)}` : ''}`)
    })
    s.on('datagram', (d: Buffer) => {
      if (!echo && !isProbe(d)) return
      try {
        s.sendDatagram(d)
      } catch {
        // session closing, or over this path's limit: a probe is allowed to get lost
      }
    })
    s.on('stream', (st: STTStream) => {
      handleStream(st, s, { outDir, echo, log, io, partMaxAgeMs, partMaxBytes }).catch((err) => log(`stream ${st.id} of ${s.id} failed: ${escapeControls(describeError(err))}`))
    })
  })

  await new Promise<void>((resolveStop) => {
    let stopping = false
    const stop = (sig: string) => {
      if (stopping) {
        io.err(`stt listen: ${sig} again, exiting now`)
        process.exit(130)
      }
      stopping = true
      const n = node.getActiveSessions().length
      io.err(`stt listen: ${sig}: closing ${n} session${n === 1 ? '' : 's'} and stopping`)
      node.stop(`listener shutting down (${sig})`).then(resolveStop, (err) => {
        io.err(`stt listen: stop failed: ${describeError(err)}`)
        resolveStop()
      })
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
  io.err('stt listen: stopped')
  return EXIT.OK
}

async function handleStream(st: Duplex & { id: number }, s: STTSession, o: { outDir?: string; echo: boolean; log: (s: string) => void; io: Io; partMaxAgeMs: number; partMaxBytes: number }): Promise<void> {
  st.on('error', () => {}) // reported through the paths below; never crash the listener
  const { line, head, rest, ended } = await readLine(st)
  if (line !== null && line.startsWith(FILE_PREFIX) && (o.outDir || !o.echo)) {
    let header
    try {
      header = decodeHeader(line)
    } catch (err) {
      st.resume()
      return reply(st, `ERR ${(err as Error).message}\n`)
    }
    if (!o.outDir) {
      st.resume() // drain, so the sender is not stalled by flow control while it reads our answer
      o.log(`refused file ${quoted(header.name)} from ${quoted(s.peerName)}: this listener has no --out`)
      return reply(st, 'ERR this node does not accept files (start stt listen with --out DIR)\n')
    }
    const t0 = performance.now()
    const r =
      header.version === 2
        ? await receiveResumable(st, header, rest, o.outDir, { sessionGone: () => s.closed || s.state === 'suspended', partMaxAgeMs: o.partMaxAgeMs, partMaxBytes: o.partMaxBytes, log: (l) => o.log(`file ${quoted(header.name)} from ${quoted(s.peerName)}: ${l}`) })
        : await receiveFile(st, header, rest, o.outDir)
    const secs = (performance.now() - t0) / 1000
    const from = 'from' in r && r.from ? ` (resumed at ${r.from})` : ''
    if (r.ok) o.log(`received ${quoted(r.saved ?? r.name)} ${bytes(r.size)} from ${quoted(s.peerName)} sha256 ${r.sha256} verified (${secs.toFixed(2)} s)${from}`)
    else o.log(`failed file ${quoted(r.name)} from ${quoted(s.peerName)}: ${escapeControls(r.reason ?? '')}`)
    return
  }
  if (o.echo) {
    if (head.length) st.write(head)
    if (ended) return void st.end()
    st.pipe(st)
    st.resume()
    return
  }
  st.resume()
  reply(st, 'ERR unknown request (this listener takes files from stt send with --out, or echoes with --echo)\n')
}

/** "30m", "12h", "7d", "90s", "0" (a bare number is days) -> ms. */
export function parseAge(s: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhd]?)$/i.exec(s.trim())
  if (!m) throw new CliError(`${what} must be an age like 30m, 12h or 7d (got ${JSON.stringify(s)})`, EXIT.USAGE)
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, '': 86400e3 }[m[2]!.toLowerCase() as 's' | 'm' | 'h' | 'd' | '']
  const n = Math.round(Number(m[1]) * unit)
  if (!Number.isSafeInteger(n)) throw new CliError(`${what} is too large`, EXIT.USAGE)
  return n
}
