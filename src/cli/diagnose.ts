/**
 * stt diagnose: the manual's "Common Issues and Solutions" (ch. 8) as one command. Each check
 * prints one line: OK / WARN / FAIL, what was seen, and what to do about it.
 */
import { DEFAULTS } from '../config.js'
import { randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import { connect as tlsConnect, type PeerCertificate } from 'node:tls'
import { readFileSync } from 'node:fs'
import { STTError, STTNode, generateSeed, type STTSession } from '../index.js'
import { parse, parseIntArg, str } from './args.js'
import { CliError, EXIT, describeError } from './exit.js'
import { ms, percentile } from './format.js'
import type { Io } from './io.js'
import { makeProbe, probeSeq } from './probe.js'
import { readSeedFile } from './seed.js'
import { natMappingCheck } from './nat-check.js'

export const HELP = `usage: stt diagnose HOST[:PORT] | udp://HOST:PORT | ws[s]://HOST:PORT[/stt] | auto://HOST:PORT
                    [--seed-file FILE] [--ws-port N] [--tls] [--ca ca.pem] [--insecure]
                    [--timeout MS] [--count N] [--json] [--relay URL [--relay URL2]]
       stt diagnose --relay URL [--relay URL2] --seed-file FILE [--timeout MS] [--json]

Checks, one verdict line each (OK / WARN / FAIL, with advice):
  UDP        does an STT node answer on UDP? With --seed-file: a full handshake. Without: a
             handshake with a random seed; a node that answers "authentication failed" is an
             STT node (with a different seed). No answer at all: firewall, nothing listening,
             or a node in stealth mode.
  WebSocket  is the WebSocket upgrade on HOST:PORT/stt answered? (HTTP status reported)
  TLS        for wss:// or --tls: protocol, cipher, certificate subject / issuer / expiry
  RTT        with --seed-file: p50/p99 of ping-pong datagrams (the peer must be stt listen)
  MTU        the largest datagram that passes (binary search up to the session's limit)
  Loss       N probe datagrams echoed, how many came back
  Auto       which transport auto:// would pick, and why
  NAT        with --relay (and --seed-file): how this host's NAT maps UDP, from the reflexive
             addresses relays of the group see. Two --relay addresses (two relays, or two
             addresses of one): endpoint-independent (hole punching works) or endpoint-
             dependent ("symmetric": sessions stay relayed). One: whether the NAT keeps
             source ports, which suggests but cannot prove either.

PORT defaults to 8080; the WebSocket check uses the same port unless --ws-port is given.

  --seed-file FILE  the group's shared seed: full checks (RTT, MTU, loss, auto)
  --ws-port N       WebSocket port if different from PORT
  --tls             check wss:// instead of ws:// (implied by a wss:// target)
  --ca FILE         CA certificate (PEM) for wss://
  --insecure        don't verify the wss:// certificate (still reported)
  --timeout MS      per-check timeout                                          [3000]
  --count N         probe datagrams for RTT and loss                           [200]
  --json            one JSON object instead of the lines
  --relay URL       a relay of the group (udp://HOST:PORT) for the NAT check; twice for a verdict

Exit codes: 0 an STT node is reachable (UDP or WebSocket); 4 reachable, but it rejected the
seed given with --seed-file; 5 not reachable; 2 usage; 3 unreadable seed file. With --relay
only (no target): 0 registered with the relay (whatever the NAT verdict), 4 seed rejected,
5 relay not reachable.`

type Level = 'OK' | 'WARN' | 'FAIL' | 'INFO'
interface Check {
  check: string
  level: Level
  message: string
  advice?: string
  data?: Record<string, unknown>
}

interface Target {
  host: string
  port: number
  wsPort: number
  wsPath: string
  tls: boolean
  scheme: string
}

function parseTargetArg(arg: string, wsPortOpt: number | undefined, tlsOpt: boolean): Target {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(arg)
  let u: URL
  try {
    u = new URL(hasScheme ? arg : `udp://${arg}`)
  } catch {
    throw new CliError(`not a valid target: ${arg} (expected HOST[:PORT] or udp://, ws://, wss://, auto://HOST:PORT)`, EXIT.USAGE)
  }
  const scheme = u.protocol.slice(0, -1).toLowerCase()
  if (!['udp', 'ws', 'wss', 'auto'].includes(scheme)) throw new CliError(`unsupported scheme ${scheme}:// (use udp://, ws://, wss:// or auto://)`, EXIT.USAGE)
  const host = u.hostname.replace(/^\[|\]$/g, '')
  if (!host) throw new CliError(`target has no host: ${arg}`, EXIT.USAGE)
  const port = u.port ? Number(u.port) : 8080
  const path = u.pathname && u.pathname !== '/' ? u.pathname : '/stt'
  return { host, port, wsPort: wsPortOpt ?? port, wsPath: path, tls: tlsOpt || scheme === 'wss', scheme }
}

const fmtHost = (h: string) => (h.includes(':') ? `[${h}]` : h)

export async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      'seed-file': { type: 'string', short: 's' },
      'ws-port': { type: 'string' },
      tls: { type: 'boolean' },
      ca: { type: 'string' },
      insecure: { type: 'boolean' },
      timeout: { type: 'string' },
      count: { type: 'string' },
      json: { type: 'boolean' },
      relay: { type: 'string', multiple: true },
    },
    true,
  )
  if (values.help) return io.out(HELP), EXIT.OK
  const relays = relayArgs(values.relay)
  if (relays.length > 2) throw new CliError('give --relay at most twice', EXIT.USAGE)
  if (relays.length && !str(values['seed-file'])) throw new CliError('--relay needs --seed-file: only members of the group can register with its relay', EXIT.USAGE)
  if (positionals.length > 1 || (positionals.length === 0 && relays.length === 0)) throw new CliError('give exactly one target: stt diagnose HOST[:PORT] (or only --relay URL)', EXIT.USAGE)
  const timeout = parseIntArg(str(values.timeout), '--timeout', 100, 120_000) ?? 3000
  const count = parseIntArg(str(values.count), '--count', 1, 100_000) ?? 200
  const seedPath = str(values['seed-file'])
  const seed = seedPath ? readSeedFile(seedPath, (w) => io.err(w)) : null
  if (positionals.length === 0) return natOnly(seed!, relays, timeout, values.json === true, io)
  const t = parseTargetArg(positionals[0]!, parseIntArg(str(values['ws-port']), '--ws-port', 1, 65535), values.tls === true)
  let ca: Buffer | undefined
  if (str(values.ca)) {
    try {
      ca = readFileSync(str(values.ca)!)
    } catch (err) {
      throw new CliError(`cannot read --ca ${str(values.ca)}: ${(err as NodeJS.ErrnoException).code}`, EXIT.CONFIG)
    }
  }
  const insecure = values.insecure === true
  const json = values.json === true
  const checks: Check[] = []
  const report = (c: Check) => {
    checks.push(c)
    if (!json) io.out(`${c.level.padEnd(5)} ${c.check.padEnd(10)} ${c.message}${c.advice ? `\n${' '.repeat(17)}-> ${c.advice}` : ''}`)
  }
  if (!json) io.out(`stt diagnose ${fmtHost(t.host)}:${t.port}${seed ? ' (with seed)' : ' (no seed: reachability only)'}`)

  const node = new STTNode({ sharedSeed: seed ?? generateSeed(), name: 'stt-diagnose', host: '0.0.0.0', port: 0, transport: 'udp', acceptConnections: false })
  await node.start()
  // Probe sessions may die with an error (a timeout mid-check): each check reports its own result.
  node.on('session', (s: STTSession) => s.on('error', () => {}))
  let udp: 'ok' | 'auth' | 'none' = 'none'
  let ws: 'stt' | 'http' | 'none' = 'none'
  let session: STTSession | null = null
  let authRejected = false
  try {
    // 1. UDP reachability
    const udpUrl = `udp://${fmtHost(t.host)}:${t.port}`
    const t0 = performance.now()
    try {
      session = await node.connect(udpUrl, { timeout })
      udp = 'ok'
      report({ check: 'UDP', level: 'OK', message: `STT node "${session.peerName}" answers on ${udpUrl}; handshake in ${ms(performance.now() - t0)} (node id ${session.peerNodeId.toString('hex').slice(0, 16)}...)` })
    } catch (err) {
      const code = err instanceof STTError ? err.code : ''
      if (code === 'STT_AUTH_FAILED') {
        udp = 'auth'
        if (seed) {
          authRejected = true
          report({ check: 'UDP', level: 'FAIL', message: `an STT node answers on ${udpUrl} (in ${ms(performance.now() - t0)}) but rejects our seed`, advice: `the seed in ${seedPath} differs from the node's: copy the group's seed file (stt keygen output) to this machine` })
        } else {
          report({ check: 'UDP', level: 'OK', message: `an STT node answers on ${udpUrl} (handshake answer in ${ms(performance.now() - t0)}); without --seed-file we can't go further` })
        }
      } else if (code === 'STT_HANDSHAKE_TIMEOUT') {
        report({
          check: 'UDP',
          level: 'FAIL',
          message: `no answer on ${udpUrl} within ${timeout} ms`,
          advice: `nothing listening there, a firewall dropping UDP ${t.port} (allow it: ufw allow ${t.port}/udp; forward it on a NAT router), or a node in stealth mode with another seed. Try WebSocket (below) or auto://`,
        })
      } else {
        report({ check: 'UDP', level: 'FAIL', message: `cannot reach ${udpUrl}: ${describeError(err)}`, advice: 'check the host name and the network route' })
      }
    }

    // 2. WebSocket upgrade (+ 3. TLS)
    const wsr = await checkWebSocket(t, timeout, ca, insecure)
    ws = wsr.kind
    report(wsr.check)
    if (t.tls) report(await checkTls(t, timeout, ca, insecure))

    // With the seed but no UDP: measure over WebSocket instead.
    if (seed && !session && ws === 'stt' && udp !== 'auth') {
      try {
        session = await node.connect(`${t.tls ? 'wss' : 'ws'}://${fmtHost(t.host)}:${t.wsPort}${t.wsPath}`, { timeout, tls: t.tls ? { ca, rejectUnauthorized: !insecure } : undefined })
        report({ check: 'Session', level: 'OK', message: `handshake over WebSocket OK: "${session.peerName}"; measuring over WebSocket` })
      } catch (err) {
        if (err instanceof STTError && err.code === 'STT_AUTH_FAILED') authRejected = true
        report({ check: 'Session', level: 'FAIL', message: `handshake over WebSocket failed: ${describeError(err)}` })
      }
    }

    // 4-6. RTT, MTU, loss (need a session and a peer that answers probes)
    if (session) {
      await probeChecks(session, count, timeout, report)
    } else {
      report({
        check: 'RTT',
        level: 'INFO',
        message: seed ? 'no session: RTT, MTU and loss not measured' : 'give --seed-file for RTT p50/p99, the largest datagram that passes, and loss',
        data: { maxPacketSize: DEFAULTS.maxPacketSize },
      })
      report({ check: 'MTU', level: 'INFO', message: `configured limit: packets of at most ${DEFAULTS.maxPacketSize} bytes (1500-byte Ethernet MTU - 28 bytes IPv4/UDP); sessions start at 1200 and path MTU discovery probes up to it` })
    }

    // 7. What auto:// would choose
    if (seed && t.wsPort === t.port) {
      const a0 = performance.now()
      try {
        const s = await node.connect(`auto://${fmtHost(t.host)}:${t.port}`, { timeout, tls: t.tls ? { ca, rejectUnauthorized: !insecure } : undefined })
        report({ check: 'Auto', level: 'OK', message: `auto:// picks ${s.transport} (${s.transportReason ?? `connected in ${ms(performance.now() - a0)}`})`, data: { transport: s.transport } })
        await s.close('diagnose done').catch(() => {})
      } catch (err) {
        report({ check: 'Auto', level: 'FAIL', message: `auto:// fails: ${describeError(err)}` })
      }
    } else {
      const pick = udp !== 'none' ? 'udp' : ws === 'stt' ? 'websocket' : null
      report({
        check: 'Auto',
        level: pick ? 'OK' : 'FAIL',
        message: pick
          ? `auto:// would pick ${pick} (${pick === 'udp' ? 'UDP answers' : 'UDP does not answer, the WebSocket upgrade does'})${t.wsPort !== t.port ? `; note auto:// tries WebSocket on port ${t.port}, not ${t.wsPort}` : ''}`
          : 'auto:// would find neither transport',
        data: { transport: pick },
      })
    }

    // 8. The NAT's mapping behaviour, through the group's relays
    if (relays.length) report((await natMappingCheck(seed!, relays, timeout)).check)
  } finally {
    if (session && !session.closed) await Promise.race([session.close('diagnose done'), new Promise((r) => setTimeout(r, 500))])
    await node.stop('diagnose done')
  }
  const reachable = udp !== 'none' || ws === 'stt'
  const code = !reachable ? EXIT.UNREACHABLE : authRejected ? EXIT.AUTH : EXIT.OK
  const verdict = !reachable
    ? `NOT REACHABLE: no STT node answers at ${t.host}:${t.port} over UDP or WebSocket`
    : authRejected
      ? 'REACHABLE, but the node rejects this seed'
      : `REACHABLE${udp === 'none' ? ' over WebSocket only (UDP blocked?)' : ''}`
  if (json) io.out(JSON.stringify({ target: t, reachable, verdict, exitCode: code, checks }))
  else io.out(`verdict: ${verdict}`)
  return code
}

/** --relay values, each checked and given a scheme (udp:// by default). */
function relayArgs(v: unknown): string[] {
  const list = Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : []
  return list.map((r) => {
    const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(r) ? r : `udp://${r}`
    if (!/^(udp|ws|wss|auto):\/\/[^/]+:\d+(\/.*)?$/i.test(url)) throw new CliError(`--relay must be udp://HOST:PORT (or ws://, wss://, auto://), got ${JSON.stringify(r)}`, EXIT.USAGE)
    return url
  })
}

/** `stt diagnose --relay URL [--relay URL2] --seed-file F`: the NAT check alone. */
async function natOnly(seed: Uint8Array, relays: string[], timeout: number, json: boolean, io: Io): Promise<number> {
  if (!json) io.out(`stt diagnose NAT through ${relays.join(' and ')}`)
  const r = await natMappingCheck(seed, relays, timeout)
  const c = r.check
  const code = r.registered ? EXIT.OK : r.authRejected ? EXIT.AUTH : EXIT.UNREACHABLE
  const verdict = r.registered ? `NAT mapping: ${r.mapping}` : r.authRejected ? 'the relay rejects this seed' : 'relay not reachable'
  if (json) io.out(JSON.stringify({ relays, mapping: r.mapping, verdict, exitCode: code, checks: [c] }))
  else {
    io.out(`${c.level.padEnd(5)} ${c.check.padEnd(10)} ${c.message}${c.advice ? `\n${' '.repeat(17)}-> ${c.advice}` : ''}`)
    io.out(`verdict: ${verdict}`)
  }
  return code
}

async function checkWebSocket(t: Target, timeout: number, ca: Buffer | undefined, insecure: boolean): Promise<{ kind: 'stt' | 'http' | 'none'; check: Check }> {
  const url = `${t.tls ? 'wss' : 'ws'}://${fmtHost(t.host)}:${t.wsPort}${t.wsPath}`
  return new Promise((resolve) => {
    const req = (t.tls ? httpsRequest : httpRequest)({
      host: t.host,
      port: t.wsPort,
      path: t.wsPath,
      method: 'GET',
      timeout,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': randomBytes(16).toString('base64') },
      ...(t.tls ? { ca, rejectUnauthorized: !insecure, servername: isIP(t.host) ? undefined : t.host } : {}),
    })
    const t0 = performance.now()
    let settled = false
    const done = (kind: 'stt' | 'http' | 'none', check: Check) => {
      if (settled) return
      settled = true
      req.destroy()
      resolve({ kind, check })
    }
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      done('stt', { check: 'WebSocket', level: 'OK', message: `upgrade on ${url} answered ${res.statusCode} ${res.statusMessage} in ${ms(performance.now() - t0)}`, data: { status: res.statusCode } })
    })
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c.length < 400 ? c : ''))
      res.on('end', () => {
        const stt = /STT/.test(body)
        done('http', {
          check: 'WebSocket',
          level: 'WARN',
          message: `${url} answered HTTP ${res.statusCode} ${res.statusMessage} instead of 101${body ? `: "${body.trim().slice(0, 120)}"` : ''}`,
          advice: stt ? 'an STT WebSocket endpoint is there but refused this upgrade (wrong path? full?)' : 'something else (a web server or proxy) answers on this port: check --ws-port and the path',
          data: { status: res.statusCode },
        })
      })
    })
    req.on('timeout', () => done('none', { check: 'WebSocket', level: 'FAIL', message: `no answer to the upgrade on ${url} within ${timeout} ms`, advice: 'a firewall drops TCP to this port, or the server is stuck' }))
    req.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? ''
      const advice =
        code === 'ECONNREFUSED'
          ? `nothing listens on TCP ${t.wsPort} (start the node with --transport udp,websocket, or give --ws-port)`
          : /CERT|SSL|TLS|SELF_SIGNED/.test(code)
            ? 'TLS failed: see the TLS line; pass --ca with the CA that signed the certificate'
            : 'check the host name, the port, and the firewall'
      done('none', { check: 'WebSocket', level: 'FAIL', message: `${url}: ${err.message}`, advice })
    })
    req.end()
  })
}

function name(x: PeerCertificate['subject'] | undefined): string {
  if (!x) return '?'
  return x.CN ? `CN=${x.CN}` : Object.entries(x).map(([k, v]) => `${k}=${v}`).join(', ')
}

async function checkTls(t: Target, timeout: number, ca: Buffer | undefined, insecure: boolean): Promise<Check> {
  return new Promise((resolve) => {
    const sock = tlsConnect({ host: t.host, port: t.wsPort, servername: isIP(t.host) ? undefined : t.host, ca, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
    const timer = setTimeout(() => {
      sock.destroy()
      resolve({ check: 'TLS', level: 'FAIL', message: `no TLS handshake within ${timeout} ms`, advice: 'is it wss://? the port may speak plain ws://' })
    }, timeout)
    sock.once('secureConnect', () => {
      clearTimeout(timer)
      const cert = sock.getPeerCertificate()
      const cipher = sock.getCipher()
      const proto = sock.getProtocol()
      const expires = cert.valid_to ? new Date(cert.valid_to) : null
      const days = expires ? Math.floor((expires.getTime() - Date.now()) / 86_400_000) : NaN
      const authorized = sock.authorized
      const why = sock.authorizationError ? String(sock.authorizationError) : ''
      sock.destroy()
      const msg = `${proto} ${cipher?.name}, subject ${name(cert.subject)}, issuer ${name(cert.issuer)}, expires ${expires?.toISOString().slice(0, 10) ?? '?'} (${days} days)`
      const data = { protocol: proto, cipher: cipher?.name, subject: cert.subject, issuer: cert.issuer, validTo: cert.valid_to, authorized }
      if (days < 0) return resolve({ check: 'TLS', level: 'FAIL', message: `certificate EXPIRED: ${msg}`, advice: 'renew the certificate on the server', data })
      if (!authorized)
        return resolve({
          check: 'TLS',
          level: insecure ? 'WARN' : 'FAIL',
          message: `certificate not trusted (${why}): ${msg}`,
          advice: 'pass --ca with the CA that signed it (stt send --ca too), or use a certificate from a public CA',
          data,
        })
      if (days < 14) return resolve({ check: 'TLS', level: 'WARN', message: `certificate expires soon: ${msg}`, advice: 'renew it', data })
      resolve({ check: 'TLS', level: 'OK', message: msg, data })
    })
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      resolve({ check: 'TLS', level: 'FAIL', message: `TLS handshake failed: ${err.message}`, advice: err.code === 'ERR_SSL_WRONG_VERSION_NUMBER' ? 'the server speaks plain ws:// here, not wss://' : 'check the port and the server TLS setup' })
    })
  })
}

/** Ping-pong (RTT), binary search (largest datagram), burst (loss), all with probe datagrams. */
async function probeChecks(session: STTSession, count: number, timeout: number, report: (c: Check) => void): Promise<void> {
  const waiters = new Map<number, (size: number) => void>()
  const onDatagram = (d: Buffer) => {
    const p = probeSeq(d)
    if (!p) return
    const w = waiters.get(p.seq)
    if (w && p.size === d.length) {
      waiters.delete(p.seq)
      w(d.length)
    }
  }
  session.on('datagram', onDatagram)
  let seq = 1
  const ping = (size: number, wait: number): Promise<number | null> => {
    const s = seq++
    return new Promise((resolve) => {
      const t0 = performance.now()
      const timer = setTimeout(() => {
        waiters.delete(s)
        resolve(null)
      }, wait)
      waiters.set(s, () => {
        clearTimeout(timer)
        resolve(performance.now() - t0)
      })
      try {
        session.sendDatagram(makeProbe(s, size))
      } catch {
        clearTimeout(timer)
        waiters.delete(s)
        resolve(null)
      }
    })
  }
  try {
    // Does the peer answer probes at all?
    let first: number | null = null
    for (let i = 0; i < 3 && first === null; i++) first = await ping(64, Math.min(1000, timeout))
    if (first === null) {
      const st = session.getStats()
      report({
        check: 'RTT',
        level: 'WARN',
        message: `the peer does not answer probe datagrams (not stt listen?); protocol estimate: smoothed RTT ${ms(st.rtt)}`,
        advice: 'run stt listen on the peer for RTT percentiles, MTU and loss',
      })
      report({ check: 'MTU', level: 'INFO', message: `session limit: datagrams up to ${session.maxDatagramSize} bytes (not probed)` })
      return
    }
    // RTT: sequential ping-pong.
    const n = Math.max(1, count)
    const samples: number[] = []
    let lostSeq = 0
    for (let i = 0; i < n; i++) {
      const r = await ping(64, Math.min(1000, timeout))
      if (r === null) lostSeq++
      else samples.push(r)
    }
    samples.sort((a, b) => a - b)
    const p50 = percentile(samples, 50)
    const p99 = percentile(samples, 99)
    report({
      check: 'RTT',
      level: p99 > 250 ? 'WARN' : 'OK',
      message: `p50 ${ms(p50)}, p99 ${ms(p99)}, min ${ms(samples[0])} over ${samples.length} ping-pongs${lostSeq ? ` (${lostSeq} unanswered)` : ''}`,
      advice: p99 > 250 ? 'high latency: a long path or congestion; expect slow handshakes and transfers' : undefined,
      data: { p50, p99, min: samples[0], n: samples.length },
    })
    // MTU: the largest datagram that comes back, binary search up to the session's limit.
    const max = session.maxDatagramSize
    const passes = async (size: number) => {
      for (let i = 0; i < 3; i++) if ((await ping(size, Math.min(500, timeout))) !== null) return true
      return false
    }
    let best = 0
    if (await passes(max)) best = max
    else {
      let lo = 64
      let hi = max - 1
      if (!(await passes(lo))) lo = 0
      while (lo > 0 && lo < hi) {
        const mid = Math.ceil((lo + hi) / 2)
        if (await passes(mid)) lo = mid
        else hi = mid - 1
      }
      best = lo
    }
    report({
      check: 'MTU',
      level: best === max ? 'OK' : 'WARN',
      message: best === max ? `datagrams up to the session limit of ${max} bytes pass (full-size packets are not fragmented or dropped on this path)` : `only datagrams up to ${best} bytes pass (session limit ${max})`,
      advice: best === max ? undefined : 'a path MTU below 1500 (VPN, PPPoE, tunnel): use smaller datagrams, stream frames (openStream({ maxFrameSize: 1200 })), or WebSocket',
      // The session's own search (DPLPMTUD) ran meanwhile: what it settled on, and its state.
      data: { largest: best, limit: max, pmtu: session.getStats().pmtu },
    })
    // Loss: a paced burst of probes, count the echoes.
    const got = new Set<number>()
    const base = seq
    seq += n
    for (let i = 0; i < n; i++) waiters.set(base + i, () => got.add(i))
    for (let i = 0; i < n; i++) {
      try {
        session.sendDatagram(makeProbe(base + i, 256))
      } catch {
        // counted as lost
      }
      if (i % 16 === 15) await new Promise((r) => setTimeout(r, 2))
    }
    const deadline = performance.now() + Math.min(2000, timeout)
    while (got.size < n && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    for (let i = 0; i < n; i++) waiters.delete(base + i)
    const lossPct = (100 * (n - got.size)) / n
    report({
      check: 'Loss',
      level: lossPct > 5 ? 'FAIL' : lossPct > 1 ? 'WARN' : 'OK',
      message: `${n - got.size} of ${n} probe datagrams lost (${lossPct.toFixed(1)}%)`,
      advice: lossPct > 1 ? 'check the network (Wi-Fi, cables), raise socket buffers (sysctl net.core.rmem_max), send slower, or switch to WebSocket' : undefined,
      data: { sent: n, received: got.size, lossPct },
    })
  } finally {
    session.off('datagram', onDatagram)
  }
}
