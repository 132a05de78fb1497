#!/usr/bin/env node
// STT over WebSocket, bare mode vs full reliability, next to raw `ws` moving the same bytes in
// 1 MiB messages, in the same run; plus connection set-up time UDP vs WebSocket vs WSS.
// Sender (this process) and receiver (a forked child) are separate processes on loopback.
//
//   npm run build
//   node bench/ws-modes.mjs                  # 256 MiB per run, 3 runs per mode, 20 connects
//   MIB=512 RUNS=5 CONNECTS=50 node bench/ws-modes.mjs
//
// Throughput = bytes / (first write .. the receiver's acknowledgement that it read the last
// byte); median of RUNS. Set-up = `await node.connect(url)` (TCP + TLS + upgrade + STT
// handshake), median of CONNECTS, each session closed before the next connect.
import { execFileSync, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocket, WebSocketServer } from 'ws'
import { STTNode, backend } from '../dist/index.js'

const MIB = Number(process.env.MIB ?? 256)
const RUNS = Number(process.env.RUNS ?? 3)
const CONNECTS = Number(process.env.CONNECTS ?? 20)
const SEED = 'ab'.repeat(32)
const CHUNK = 1 << 20

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const gbps = (bytes, ms) => (bytes * 8) / (ms / 1000) / 1e9

function makeCerts() {
  const dir = mkdtempSync(join(tmpdir(), 'stt-bench-'))
  try {
    const o = (args) => execFileSync('openssl', args, { stdio: 'ignore' })
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    o(['req', '-x509', ...ec, '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', '1', '-subj', '/CN=bench CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'])
    o(['req', '-new', ...ec, '-keyout', join(dir, 's.key'), '-out', join(dir, 's.csr'), '-subj', '/CN=localhost'])
    writeFileSync(join(dir, 'ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
    o(['x509', '-req', '-in', join(dir, 's.csr'), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial',
      '-out', join(dir, 's.crt'), '-days', '1', '-extfile', join(dir, 'ext')])
    const r = (f) => readFileSync(join(dir, f), 'utf8')
    return { ca: r('ca.crt'), cert: r('s.crt'), key: r('s.key') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------
// Receiver (child process)
// ---------------------------------------------------------------------------------------
async function receiver() {
  const certs = JSON.parse(process.env.BENCH_CERTS)
  // STT: a hybrid node (UDP + WebSocket on the same port number) and a WSS node.
  const hub = new STTNode({ sharedSeed: SEED, host: '127.0.0.1', port: 0, transport: ['udp', 'websocket'], name: 'receiver' })
  const secure = new STTNode({ sharedSeed: SEED, host: '127.0.0.1', port: 0, transport: 'websocket', tls: { cert: certs.cert, key: certs.key } })
  for (const n of [hub, secure]) {
    n.on('session', (s) => {
      // Every stream: count bytes, answer "done" once the sender ended it.
      s.on('stream', (st) => {
        let n = 0
        st.on('data', (c) => (n += c.length))
        st.on('end', () => st.end(Buffer.from(String(n))))
        st.on('error', () => {})
      })
    })
  }
  const { port } = await hub.start()
  const { port: wssPort } = await secure.start()
  // Raw ws: count bytes per "run", answer the total as text once `expect` bytes arrived.
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 2 * CHUNK })
  await new Promise((r) => wss.once('listening', r))
  wss.on('connection', (ws) => {
    let expect = 0
    let got = 0
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        expect = Number(data.toString())
        got = 0
        return
      }
      got += data.length
      if (got === expect) ws.send(String(got))
    })
  })
  process.send({ port, wssPort, rawPort: wss.address().port })
  process.on('message', async (m) => {
    if (m === 'stop') {
      await Promise.all([hub.stop(), secure.stop()])
      wss.close()
      process.exit(0)
    }
  })
}

// ---------------------------------------------------------------------------------------
// Sender (this process)
// ---------------------------------------------------------------------------------------
async function sttRun(session, bytes, chunk) {
  const st = session.openStream()
  const answer = new Promise((resolve, reject) => {
    const parts = []
    st.on('data', (c) => parts.push(c))
    st.on('end', () => resolve(Buffer.concat(parts).toString()))
    st.on('error', reject)
  })
  const t0 = performance.now()
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!st.write(chunk)) await new Promise((r) => st.once('drain', r))
  }
  st.end()
  const n = Number(await answer)
  const ms = performance.now() - t0
  if (n !== bytes) throw new Error(`receiver read ${n} of ${bytes}`)
  return ms
}

async function rawRun(ws, bytes, chunk) {
  const answer = new Promise((r) => ws.once('message', (d) => r(Number(d.toString()))))
  ws.send(String(bytes))
  const t0 = performance.now()
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    ws.send(chunk, { binary: true })
    // Same discipline as STT's writer: don't queue unboundedly, wait for the socket.
    if (ws.bufferedAmount > 8 * CHUNK) await new Promise((r) => ws._socket.once('drain', r))
  }
  const n = await answer
  const ms = performance.now() - t0
  if (n !== bytes) throw new Error(`raw receiver read ${n} of ${bytes}`)
  return ms
}

async function main() {
  const certs = makeCerts()
  const child = fork(fileURLToPath(import.meta.url), ['--receiver'], { env: { ...process.env, BENCH_CERTS: JSON.stringify(certs) } })
  const ports = await new Promise((r) => child.once('message', r))
  const node = new STTNode({ sharedSeed: SEED, host: '127.0.0.1', port: 0, name: 'sender', tls: { ca: certs.ca } })
  await node.start()
  const bytes = MIB * CHUNK
  const chunk = randomBytes(CHUNK)
  const wsUrl = `ws://127.0.0.1:${ports.port}/stt`

  console.log(`ws-modes: ${MIB} MiB per run, median of ${RUNS} runs; sender and receiver in separate processes (node ${process.version}, crypto backend: ${backend})`)
  const results = {}
  // Interleave the modes run by run, so machine noise hits them alike.
  const bare = await node.connect(wsUrl)
  const full = await node.connect(wsUrl, { fullReliability: true })
  const raw = new WebSocket(`ws://127.0.0.1:${ports.rawPort}/`, { perMessageDeflate: false, maxPayload: 2 * CHUNK })
  await new Promise((r, j) => { raw.once('open', r); raw.once('error', j) })
  // Warm-up (JIT, windows): 1/8 of a run each.
  await sttRun(bare, bytes / 8, chunk)
  await sttRun(full, bytes / 8, chunk)
  await rawRun(raw, bytes / 8, chunk)
  const times = { 'raw ws (1 MiB messages)': [], 'STT over ws, bare': [], 'STT over ws, fullReliability': [] }
  for (let i = 0; i < RUNS; i++) {
    times['raw ws (1 MiB messages)'].push(await rawRun(raw, bytes, chunk))
    times['STT over ws, bare'].push(await sttRun(bare, bytes, chunk))
    times['STT over ws, fullReliability'].push(await sttRun(full, bytes, chunk))
  }
  const rawMed = gbps(bytes, median(times['raw ws (1 MiB messages)']))
  for (const [name, ts] of Object.entries(times)) {
    const g = gbps(bytes, median(ts))
    results[name] = g
    const runs = ts.map((t) => gbps(bytes, t).toFixed(2)).join(' / ')
    console.log(`  ${name.padEnd(30)} ${g.toFixed(2).padStart(6)} Gbit/s  (runs ${runs})  ${(g / rawMed).toFixed(2)} x raw ws`)
  }
  console.log(`  bare / fullReliability: ${(results['STT over ws, bare'] / results['STT over ws, fullReliability']).toFixed(2)} x`)
  console.log(`  getStats().bare: bare session ${bare.getStats().bare}, fullReliability session ${full.getStats().bare}`)
  await bare.close()
  await full.close()
  raw.close()

  // Connection set-up: UDP vs WebSocket vs WSS.
  console.log(`connection set-up (await node.connect), median of ${CONNECTS}:`)
  const targets = [
    ['UDP', `udp://127.0.0.1:${ports.port}`],
    ['WebSocket', wsUrl],
    ['WSS', `wss://127.0.0.1:${ports.wssPort}/stt`],
  ]
  const setup = {}
  for (const [name] of targets) setup[name] = []
  for (let i = 0; i < CONNECTS + 2; i++) {
    for (const [name, url] of targets) {
      const t0 = performance.now()
      const s = await node.connect(url)
      const ms = performance.now() - t0
      if (i >= 2) setup[name].push(ms) // first two: warm-up
      await s.close()
    }
  }
  for (const [name] of targets) {
    const xs = setup[name]
    console.log(`  ${name.padEnd(10)} ${median(xs).toFixed(2).padStart(7)} ms  (min ${Math.min(...xs).toFixed(2)}, max ${Math.max(...xs).toFixed(2)})`)
  }
  await node.stop()
  child.send('stop')
  await new Promise((r) => child.once('exit', r))
}

if (process.argv.includes('--receiver')) receiver()
else main().catch((e) => {
  console.error(e)
  process.exit(1)
})
