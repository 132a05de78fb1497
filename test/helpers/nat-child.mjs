// One STT node inside a network namespace, for test/integration/nat-netns.test.ts. Runs the
// built library (dist/). JSON lines on stdout, JSON commands on stdin.
//
//   node nat-child.mjs relay <bindHost> <limitsJSON>   -> {"event":"ready","port":N}
//   node nat-child.mjs member <bindHost> <relayUrl>    -> {"event":"registered","nodeId":..,"reflexive":..}
//     a member accepts sessions: each stream it receives is hashed:
//       {"event":"received","bytes":N,"sha256":"..","path":".."}; session errors: {"event":"session-error","code":..}
//   commands (stdin, JSON):
//     {"cmd":"connect","target":hex}          -> {"event":"connected","path":..,"ms":..} or {"event":"connect-failed","code":..}
//     {"cmd":"send","bytes":N,"pauseAt":M}    -> writes N marked bytes on a new stream; with pauseAt, writes M,
//                                                says {"event":"paused"} and waits for {"cmd":"go"}; then {"event":"written","sha256":..}
//     {"cmd":"stats"} -> {"event":"stats",...};  {"cmd":"exit"}
//   every path change: {"event":"path","path":..,"ms":..} (ms since connect)
// STT_SEED (hex) is the shared seed; STT_NATIVE picks the backend as everywhere else.
import { createHash } from 'node:crypto'
import { createInterface } from 'node:readline'
import { STTNode } from '../../dist/index.js'

const [role, bindHost, arg] = process.argv.slice(2)
const out = (m) => process.stdout.write(`${JSON.stringify(m)}\n`)
const seed = Buffer.from(process.env.STT_SEED, 'hex')
// Short keep-alives so a dead relay is noticed within seconds in the test (the test waits 30 s);
// not so short that a CI machine at load 12 on 2 vCPUs starves a session past it.
const timing = { keepAliveInterval: 1000, keepAliveTimeout: 10_000 }
const node =
  role === 'relay'
    ? new STTNode({ host: bindHost, port: 7000, sharedSeed: seed, name: 'relay', relay: JSON.parse(arg || 'true'), ...timing })
    : new STTNode({ host: bindHost, port: 0, sharedSeed: seed, name: role, rendezvous: arg, ...timing })
let session = null
let connectedAt = 0
let waitGo = null

process.on('uncaughtException', (e) => {
  out({ event: 'error', message: String(e?.stack ?? e) })
  process.exit(1)
})

/**
 * Application bytes that are easy to find if they ever crossed the relay in clear: every 64-byte
 * block starts with a marker, the rest is a counter pattern.
 */
export function marked(n) {
  const b = Buffer.alloc(n)
  for (let o = 0; o < n; o += 64) {
    const block = Buffer.alloc(64, (o / 64) & 0xff)
    block.write('STT-PLAINTEXT-MARKER', 0)
    block.writeUInt32BE((o / 64) >>> 0, 20)
    block.copy(b, o, 0, Math.min(64, n - o))
  }
  return b
}

function watch(s) {
  session = s
  s.on('path', (p) => out({ event: 'path', path: p, ms: Date.now() - connectedAt }))
  s.on('error', (e) => out({ event: 'session-error', code: e.code, message: e.message }))
  s.on('stream', (st) => {
    const h = createHash('sha256')
    let bytes = 0
    st.on('data', (d) => {
      h.update(d)
      bytes += d.length
    })
    st.on('end', () => out({ event: 'received', bytes, sha256: h.digest('hex'), path: s.path }))
    st.on('error', (e) => out({ event: 'stream-error', code: e.code }))
  })
}

node.on('session', (s) => {
  if (s.initiator) return
  connectedAt = Date.now()
  out({ event: 'session', path: s.path })
  watch(s)
})

async function send(bytes, pauseAt) {
  const data = marked(bytes)
  const st = session.openStream()
  // Without a listener a stream failed by its session's error close would crash this process
  // (exit 1, and the test would only see 'child exited'): report it instead.
  st.on('error', (e) => out({ event: 'stream-error', code: e.code, message: e.message }))
  for (let o = 0; o < data.length; o += 65536) {
    if (pauseAt !== undefined && o === pauseAt) {
      out({ event: 'paused', path: session.path })
      await new Promise((r) => (waitGo = r))
    }
    if (!st.write(data.subarray(o, o + 65536))) await new Promise((r) => st.once('drain', r))
  }
  st.end()
  out({ event: 'written', sha256: createHash('sha256').update(data).digest('hex'), path: session.path })
}

createInterface({ input: process.stdin }).on('line', async (line) => {
  const m = JSON.parse(line)
  try {
    if (m.cmd === 'connect') {
      const t0 = Date.now()
      connectedAt = t0
      try {
        const s = await node.connect(`stt://${m.target}`)
        if (session !== s) watch(s)
        out({ event: 'connected', target: m.target, path: s.path, ms: Date.now() - t0 })
      } catch (e) {
        out({ event: 'connect-failed', target: m.target, code: e.code, message: e.message })
      }
    } else if (m.cmd === 'send') {
      await send(m.bytes, m.pauseAt)
    } else if (m.cmd === 'go') {
      waitGo?.()
    } else if (m.cmd === 'stats') {
      out({ event: 'stats', nat: node.getNatStats(), session: session?.getStats() ?? null })
    } else if (m.cmd === 'exit') {
      await node.stop().catch(() => {})
      process.exit(0)
    }
  } catch (e) {
    out({ event: 'command-failed', cmd: m.cmd, code: e.code, message: String(e?.message ?? e) })
  }
})

const bound = await node.start()
if (role === 'relay') out({ event: 'ready', port: bound.port })
else {
  for (let i = 0; ; i++) {
    try {
      const reflexive = await node.register(arg)
      out({ event: 'registered', nodeId: node.nodeId.toString('hex'), reflexive })
      break
    } catch (e) {
      if (i >= 20) {
        out({ event: 'register-failed', code: e.code, message: e.message })
        break
      }
      await new Promise((r) => setTimeout(r, 250))
    }
  }
}
