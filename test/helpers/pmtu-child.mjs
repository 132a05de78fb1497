// One STT node inside a network namespace, for test/integration/pmtu-netns.test.ts. Runs the
// built library (dist/). Talks JSON lines on stdout and takes commands on stdin.
//
//   node pmtu-child.mjs server <bindHost>                 -> {"event":"ready","port":N}
//       receives one stream, then {"event":"received","bytes":N,"sha256":"..", "session":{..}}
//   node pmtu-child.mjs client <bindHost> <target> <bytes>
//       {"event":"connected"}, writes the first half, {"event":"half"}, waits for "go",
//       writes the rest and ends the stream: {"event":"written","sha256":".."}
//   stdin "stats" -> {"event":"stats","session":{..},"transport":{..}};  "exit" -> stop and exit
// STT_SEED (hex) is the shared seed; STT_NATIVE picks the backend as everywhere else.
import { createCipheriv, createHash } from 'node:crypto'
import { createInterface } from 'node:readline'
import { STTNode } from '../../dist/index.js'

const [role, bindHost, target, bytesText] = process.argv.slice(2)
const out = (m) => process.stdout.write(`${JSON.stringify(m)}\n`)
const node = new STTNode({ host: bindHost, port: 0, sharedSeed: Buffer.from(process.env.STT_SEED, 'hex'), name: role })
let session = null
const waiters = new Map()
const stdinCommand = (cmd) => new Promise((r) => waiters.set(cmd, r))

createInterface({ input: process.stdin }).on('line', async (line) => {
  const cmd = line.trim()
  waiters.get(cmd)?.()
  waiters.delete(cmd)
  if (cmd === 'stats') out({ event: 'stats', session: session?.getStats() ?? null, transport: node.getTransportStats() })
  if (cmd === 'exit') {
    await node.stop().catch(() => {})
    process.exit(0)
  }
})
process.on('uncaughtException', (e) => {
  out({ event: 'error', message: String(e?.stack ?? e) })
  process.exit(1)
})

/** Deterministic bytes (AES-CTR keystream): both sides could regenerate them. */
function content(n) {
  const c = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0))
  return c.update(Buffer.alloc(n))
}

async function writeAll(stream, data) {
  const CHUNK = 256 * 1024
  for (let at = 0; at < data.length; at += CHUNK) {
    if (!stream.write(data.subarray(at, Math.min(at + CHUNK, data.length)))) await new Promise((r) => stream.once('drain', r))
  }
}

const { port } = await node.start()
if (role === 'server') {
  node.on('session', (s) => {
    session = s
    s.on('stream', (st) => {
      const h = createHash('sha256')
      let bytes = 0
      st.on('data', (c) => {
        h.update(c)
        bytes += c.length
      })
      st.on('end', () => out({ event: 'received', bytes, sha256: h.digest('hex'), session: s.getStats() }))
    })
  })
  out({ event: 'ready', port })
} else {
  session = await node.connect(target)
  out({ event: 'connected', session: session.getStats() })
  const data = content(Number(bytesText))
  const half = data.length >> 1
  const stream = session.openStream()
  await writeAll(stream, data.subarray(0, half))
  out({ event: 'half', session: session.getStats() })
  await stdinCommand('go')
  await writeAll(stream, data.subarray(half))
  stream.end()
  out({ event: 'written', bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') })
}
