#!/usr/bin/env node
/**
 * The responder's CPU per flooded HELLO under RETRY, without sockets (issue 14). An initiator
 * Endpoint prepares N token-less HELLOs (untimed); a responder Endpoint with the RETRY defence
 * engaged (retryThreshold 0: every token-less HELLO gets a RETRY, as under a flood) reads them in
 * receive batches of BATCH datagrams (the native transport's recvmmsg batch) from HOSTS source
 * hosts, and after each batch its RETRYs are polled (pollTransmit) and its events drained, as the
 * driver's service pass does. Time is the process's CPU time (process.cpuUsage) around the
 * responder's calls only, so the figure does not depend on what else the machine runs. What the
 * socket costs on top (recvmmsg, one send per polled batch) is in `node bench/scale.mjs hellocpu`.
 *
 *   npm run build && N=20000 RUNS=7 node bench/hello-flood-cpu.mjs
 *   STT_DIST=/old/dist,/new/dist N=20000 RUNS=9 node bench/hello-flood-cpu.mjs   (before/after, interleaved)
 *   PROFILE=/tmp/prof node bench/hello-flood-cpu.mjs   (a V8 CPU profile of the timed part, per run)
 *   BACKLOG=1: every batch is marked backlogged (RxBatch.backlog: the socket held more), as when
 *     the flood outpaces the node: builds that shed then answer only part of each batch.
 */
import { randomBytes } from 'node:crypto'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import os from 'node:os'
import { cpuMicros, loadBuilds, profilerFor, udpAddr } from './lib/sans-io.mjs'

const builds = await loadBuilds(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist'))

const N = Number(process.env.N ?? 20_000)
const RUNS = Number(process.env.RUNS ?? 7)
const BATCH = Number(process.env.BATCH ?? 64)
const HOSTS = Number(process.env.HOSTS ?? 8)
const BACKLOG = process.env.BACKLOG === '1'

const responderAddr = udpAddr(0xffffff)

const profiler = await profilerFor('hello-flood')

function run({ resolveProtocolConfig, aead, Endpoint, RandomPool }) {
  const pool = new RandomPool()
  const rnd = (n) => pool.take(n)
  const seed = randomBytes(32)
  const base = { sharedSeed: seed, maxSessions: 1_000_000 }
  const now = Date.now()
  const init = new Endpoint(resolveProtocolConfig({ ...base, name: 'initiator' }, rnd), aead, rnd, now)
  const resp = new Endpoint(resolveProtocolConfig({ ...base, name: 'responder', retryThreshold: 0 }, rnd), aead, rnd, now)
  const hosts = Array.from({ length: HOSTS }, (_, i) => udpAddr(i + 1))

  // The HELLOs, laid out in receive batches as recvmmsg leaves them (one slab, offsets, lengths).
  for (let i = 0; i < N; i++) init.connect(now, responderAddr)
  const hellos = []
  for (let tx = init.pollTransmit(now); tx; tx = init.pollTransmit(now)) {
    for (let i = 0; i < tx.count; i++) hellos.push(tx.slab.slice(tx.offsets[i], tx.offsets[i] + tx.lengths[i]))
  }
  while (init.pollEvent()) {
    /* nothing */
  }
  if (hellos.length !== N) throw new Error(`expected ${N} HELLOs, got ${hellos.length}`)
  const batches = []
  for (let i = 0; i < N; i += BATCH) {
    const part = hellos.slice(i, i + BATCH)
    const stride = part[0].length
    const slab = new Uint8Array(stride * part.length)
    const offsets = new Uint32Array(part.length)
    const lengths = new Uint32Array(part.length)
    part.forEach((h, k) => {
      slab.set(h, k * stride)
      offsets[k] = k * stride
      lengths[k] = h.length
    })
    batches.push({ slab, offsets, lengths, count: part.length, from: part.map((_, k) => hosts[(i + k) % HOSTS]), ...(BACKLOG ? { backlog: true } : {}) })
  }

  let retries = 0
  let retryBytes = 0
  let polls = 0
  profiler.start()
  const t = cpuMicros()
  for (const b of batches) {
    resp.handleBatch(now, b)
    for (let tx = resp.pollTransmit(now); tx; tx = resp.pollTransmit(now)) {
      polls++
      retries += tx.count
      for (let i = 0; i < tx.count; i++) retryBytes += tx.lengths[i]
    }
    while (resp.pollEvent()) {
      /* the driver hands events to the application */
    }
  }
  const micros = cpuMicros() - t
  profiler.stop()
  const shed = resp.counters.dropped['hello-shed'] ?? 0
  if (resp.counters.retriesSent + shed !== N || retries !== resp.counters.retriesSent) throw new Error(`expected ${N} RETRYs or shed HELLOs, got ${resp.counters.retriesSent} counted, ${retries} polled, ${shed} shed`)
  return { perHello: micros / N, answered: retries / N, retryBytes: retryBytes / retries, helloBytes: hellos[0].length, pollsPerBatch: polls / batches.length }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (xs) => `${median(xs).toFixed(2)} [${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}]`

for (const b of builds) run(b) // warm-up: JIT, the addon's per-thread contexts
const out = builds.map(() => [])
for (let r = 0; r < RUNS; r++) builds.forEach((b, i) => out[i].push(run(b)))
builds.forEach((b, i) => {
  const xs = out[i]
  console.log(`${b.root}: responder CPU per token-less HELLO under RETRY, ${N} HELLOs in ${BACKLOG ? 'backlogged ' : ''}batches of ${BATCH} from ${HOSTS} hosts x ${RUNS} runs, handshake crypto ${b.handshakeCrypto.name}, load ${os.loadavg()[0].toFixed(2)}`)
  console.log(`  HELLO -> RETRY  ${fmt(xs.map((x) => x.perHello))} us per HELLO read, ${(100 * xs[0].answered).toFixed(0)} % answered  (HELLO ${xs[0].helloBytes} bytes, RETRY ${xs[0].retryBytes} bytes, ${xs[0].pollsPerBatch.toFixed(1)} transmit batches per receive batch)`)
})
if (process.env.JSON) console.log(JSON.stringify({ N, RUNS, BATCH, roots: builds.map((b) => b.root), runs: out }))
