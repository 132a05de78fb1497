/**
 * Automatic transport selection for `auto://host:port` (Happy Eyeballs, RFC 8305 style):
 * UDP starts first; if no session is up after `fallbackDelay` ms, WebSocket to the same host
 * and port number starts in parallel. The first session established wins, the other attempt
 * is cancelled (or its session closed), and the winner reports which transport won and why.
 */
import { ErrorCode, STTError, STTHandshakeError } from './errors.js'
import type { ConnectOptions, STTNode } from './node.js'
import type { STTSession } from './session.js'
import type { HostPort } from './transport/address.js'
import { resumeTargets } from './resume-dialer.js'

export const DEFAULT_FALLBACK_DELAY = 300

export async function connectAuto(node: STTNode, t: HostPort, opts: ConnectOptions): Promise<STTSession> {
  const delay = opts.fallbackDelay ?? DEFAULT_FALLBACK_DELAY
  const host = t.host.includes(':') ? `[${t.host}]` : t.host
  const path = t.path && t.path !== '/' ? t.path : '/stt'
  const wsScheme = opts.tls ? 'wss' : 'ws'
  const udpCtl = new AbortController()
  const wsCtl = new AbortController()
  const outer = opts.signal
  const onOuterAbort = () => {
    udpCtl.abort()
    wsCtl.abort()
  }
  outer?.addEventListener('abort', onOuterAbort, { once: true })
  const started = Date.now()
  let udpError: Error | null = null
  let wsStarted = false

  const udpUrl = `udp://${host}:${t.port}`
  const wsUrl = `${wsScheme}://${host}:${t.port}${path}`
  const udp = node.connect(udpUrl, { ...opts, transport: 'udp', signal: udpCtl.signal }).then(
    (s) => ({ s, via: 'udp' as const }),
    (e: Error) => {
      udpError = e
      throw e
    },
  )
  const ws = new Promise<{ s: STTSession; via: 'websocket' }>((resolve, reject) => {
    const go = () => {
      if (wsCtl.signal.aborted) return reject(new STTError(ErrorCode.ABORTED, 'cancelled'))
      wsStarted = true
      node.connect(wsUrl, { ...opts, transport: 'websocket', signal: wsCtl.signal }).then((s) => resolve({ s, via: 'websocket' }), reject)
    }
    const timer = setTimeout(go, delay)
    // UDP failing outright (e.g. an ICMP error, auth failure) starts WebSocket at once.
    udp.catch(() => {
      clearTimeout(timer)
      if (!wsStarted) go()
    })
    wsCtl.signal.addEventListener('abort', () => clearTimeout(timer), { once: true })
  })

  try {
    const winner = await Promise.any([udp, ws])
    if (winner.via === 'udp') {
      wsCtl.abort()
      ws.then(({ s }) => s.close('duplicate automatic-fallback session')).catch(() => {})
      winner.s.transportReason = `UDP handshake answered in ${Date.now() - started} ms`
    } else {
      udpCtl.abort()
      udp.then(({ s }) => s.close('duplicate automatic-fallback session')).catch(() => {})
      const why = udpError ? `UDP failed (${(udpError as Error).message})` : `no UDP handshake answer within ${delay} ms`
      winner.s.transportReason = `${why}; WebSocket connected in ${Date.now() - started} ms`
    }
    // A suspended session tries both again (issue 12): UDP first, then WebSocket.
    resumeTargets.set(winner.s, [udpUrl, wsUrl])
    return winner.s
  } catch (err) {
    const errors = (err as AggregateError).errors ?? [err]
    const auth = errors.find((e: unknown) => e instanceof STTError && (e.code === ErrorCode.AUTH_FAILED || e.code === ErrorCode.PEER_MISMATCH || e.code === ErrorCode.VERSION_MISMATCH))
    if (auth) throw auth
    if (outer?.aborted) throw new STTError(ErrorCode.ABORTED, 'connect aborted')
    throw new STTHandshakeError(ErrorCode.HANDSHAKE_TIMEOUT, `auto: neither UDP nor WebSocket reached ${t.host}:${t.port} (${errors.map((e: Error) => e.message).join('; ')})`, { cause: err })
  } finally {
    outer?.removeEventListener('abort', onOuterAbort)
  }
}
