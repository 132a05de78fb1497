#!/usr/bin/env node
// Throwaway measurement (not a maintained bench): one-direction loopback throughput of
// WebSocketTransport, 1200-byte datagrams, sender and receiver in separate processes.
// The sender sends batches while writable() and waits for onWritable otherwise.
//
//   npm run build
//   node bench/ws-transport-throughput.mjs            # ws://, batches of 64
//   BATCH=1 node bench/ws-transport-throughput.mjs    # one datagram per send()
//   TLS=1 node bench/ws-transport-throughput.mjs      # wss:// (throwaway self-signed cert)
//   SECS=5 (default) measurement seconds after 0.5 s warm-up
import { execFileSync, fork } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocketTransport } from '../dist/transport/websocket.js'

const SECONDS = Number(process.env.SECS ?? 5)
const BATCH = Number(process.env.BATCH ?? 64)
const SIZE = 1200
const TLS = process.env.TLS === '1'

async function receiver() {
  let n = 0
  const tls = TLS ? JSON.parse(process.env.BENCH_CERTS) : undefined
  const t = new WebSocketTransport({ host: '127.0.0.1', port: 0, ...(tls ? { tls } : {}) })
  t.attach({ onReceive(b) { n += b.count } })
  const { port } = await t.listen()
  process.send({ port })
  setInterval(() => process.send({ n }), 250).unref()
  process.on('message', async () => { await t.close(); process.exit(0) })
}

async function sender(port, until) {
  const t = new WebSocketTransport()
  let wake = null
  t.attach({ onReceive() {}, onWritable() { const w = wake; wake = null; w?.() } })
  const to = await t.dial(`${TLS ? 'wss' : 'ws'}://127.0.0.1:${port}/stt`, TLS ? { tls: { rejectUnauthorized: false } } : {})
  const slab = new Uint8Array(BATCH * SIZE).fill(7)
  const offsets = new Uint32Array(BATCH).map((_, i) => i * SIZE)
  const lengths = new Uint32Array(BATCH).fill(SIZE)
  const batch = { slab, offsets, lengths, count: BATCH, to }
  let sends = 0
  while (Date.now() < until()) {
    if (!t.writable(to)) { await new Promise((r) => { wake = r }); continue }
    t.send(batch)
    if (++sends % 16 === 0) await new Promise((r) => setImmediate(r)) // let the socket flush
  }
  const st = t.getStats()
  await t.close()
  return st
}

if (process.argv[2] === 'receiver') await receiver()
else {
  let certDir
  if (TLS) {
    certDir = mkdtempSync(join(tmpdir(), 'ws-bench-'))
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(certDir, 'k.pem'), '-out', join(certDir, 'c.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
    process.env.BENCH_CERTS = JSON.stringify({ cert: readFileSync(join(certDir, 'c.pem'), 'utf8'), key: readFileSync(join(certDir, 'k.pem'), 'utf8') })
    rmSync(certDir, { recursive: true })
  }
  const child = fork(fileURLToPath(import.meta.url), ['receiver'])
  const port = await new Promise((r) => child.once('message', (m) => r(m.port)))
  const samples = []
  child.on('message', (m) => { if (m.n !== undefined) samples.push({ t: Date.now(), n: m.n }) })
  let end = Infinity
  const done = sender(port, () => end)
  await new Promise((r) => setTimeout(r, 500))
  const first = samples.at(-1) ?? { t: Date.now(), n: 0 }
  await new Promise((r) => setTimeout(r, SECONDS * 1000))
  const last = samples.at(-1)
  end = 0
  const st = await done
  child.send('stop')
  const rate = (last.n - first.n) / ((last.t - first.t) / 1000)
  console.log(JSON.stringify({ batch: BATCH, tls: TLS, datagramsPerSec: Math.round(rate), MBps: +((rate * SIZE) / 1e6).toFixed(1), dropped: st.dropped }))
}
