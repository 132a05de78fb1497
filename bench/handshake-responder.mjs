#!/usr/bin/env node
/**
 * The responder's CPU per full handshake, without sockets (issue 14). One initiator Endpoint
 * prepares N HELLOs (untimed); a responder Endpoint answers them all (timed: HELLO -> CHALLENGE);
 * the initiator turns the CHALLENGEs into AUTH_PROOFs (untimed); the responder accepts them
 * (timed: AUTH_PROOF -> session, FINAL, ticket, events drained). Time is the process's CPU time
 * (process.cpuUsage, user + system) around the responder's calls only, so the figure does not
 * depend on what else the machine runs as wall-clock time would. Same backends as STTNode picks
 * (native addon when it loaded; STT_NATIVE=0 for node:crypto). Each initiator address is
 * distinct (a real responder sees many hosts; one host would hit the per-source HELLO share).
 *
 *   npm run build && N=2000 RUNS=5 node bench/handshake-responder.mjs
 *   STT_DIST=/old/dist,/new/dist N=1000 RUNS=9 node bench/handshake-responder.mjs   (before/after, interleaved)
 *   PROFILE=/tmp/prof node bench/handshake-responder.mjs   (V8 CPU profiles of the responder's
 *     timed phases only, one .cpuprofile per phase and run)
 */
import { randomBytes } from 'node:crypto'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import os from 'node:os'
import { cpuMicros, loadBuilds, profilerFor, udpAddr } from './lib/sans-io.mjs'

const builds = await loadBuilds(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist'))

const N = Number(process.env.N ?? 2000)
const RUNS = Number(process.env.RUNS ?? 5)

const responderAddr = udpAddr(0xffffff)

function give(ep, now, data, from) {
  ep.handleBatch(now, { slab: data, offsets: new Uint32Array([0]), lengths: new Uint32Array([data.length]), count: 1, from: [from] })
}

/** Every datagram the endpoint wants to send now, copied, keyed by destination. */
function drain(ep, now, into) {
  for (let tx = ep.pollTransmit(now); tx; tx = ep.pollTransmit(now)) {
    for (let i = 0; i < tx.count; i++) into?.push({ to: tx.to, data: tx.slab.slice(tx.offsets[i], tx.offsets[i] + tx.lengths[i]) })
  }
  while (ep.pollEvent()) {
    /* the driver hands events to the application; nothing to do here */
  }
}

const profiler = await profilerFor('responder')

function run({ resolveProtocolConfig, aead, Endpoint, RandomPool }) {
  // The responder's randomness as STTNode's (a pool refilled by randomFillSync); the initiator's too.
  const pool = new RandomPool()
  const rnd = (n) => pool.take(n)
  const seed = randomBytes(32)
  const base = { sharedSeed: seed, maxSessions: 1_000_000, retryThreshold: 2 ** 30 }
  const now = Date.now()
  const init = new Endpoint(resolveProtocolConfig({ ...base, name: 'initiator' }, rnd), aead, rnd, now)
  const resp = new Endpoint(resolveProtocolConfig({ ...base, name: 'responder' }, rnd), aead, rnd, now)
  const addrs = Array.from({ length: N }, (_, i) => udpAddr(i + 1))

  for (let i = 0; i < N; i++) init.connect(now, responderAddr)
  const hellos = []
  drain(init, now, hellos)
  if (hellos.length !== N) throw new Error(`expected ${N} HELLOs, got ${hellos.length}`)

  const challenges = []
  profiler.start()
  let t = cpuMicros()
  for (let i = 0; i < N; i++) {
    give(resp, now, hellos[i].data, addrs[i])
    drain(resp, now, challenges)
  }
  const helloMicros = cpuMicros() - t
  profiler.stop()
  if (challenges.length !== N) throw new Error(`expected ${N} CHALLENGEs, got ${challenges.length}`)

  const proofs = []
  for (const c of challenges) {
    give(init, now, c.data, responderAddr)
    drain(init, now, proofs)
  }
  const byKey = new Map(addrs.map((a) => [a.key, a]))
  if (proofs.length !== N) throw new Error(`expected ${N} AUTH_PROOFs, got ${proofs.length}`)

  const finals = []
  profiler.start()
  t = cpuMicros()
  for (let i = 0; i < N; i++) {
    give(resp, now, proofs[i].data, byKey.get(challenges[i].to.key))
    drain(resp, now, finals)
  }
  const proofMicros = cpuMicros() - t
  profiler.stop()
  if (resp.counters.handshakesAccepted !== N) throw new Error(`accepted ${resp.counters.handshakesAccepted} of ${N}`)
  return { hello: helloMicros / N, proof: proofMicros / N, total: (helloMicros + proofMicros) / N, finals: finals.length / N }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (xs) => `${median(xs).toFixed(0)} [${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}]`

for (const b of builds) run(b) // warm-up: JIT, the addon's per-thread contexts
const out = builds.map(() => [])
for (let r = 0; r < RUNS; r++) builds.forEach((b, i) => out[i].push(run(b)))
builds.forEach((b, i) => {
  const xs = out[i]
  console.log(`${b.root}: responder CPU per full handshake, ${N} handshakes x ${RUNS} runs, handshake crypto ${b.handshakeCrypto.name}, AEAD ${b.aead.name ?? '?'}, load ${os.loadavg()[0].toFixed(2)}`)
  console.log(`  HELLO -> CHALLENGE   ${fmt(xs.map((x) => x.hello))} us`)
  console.log(`  AUTH_PROOF -> FINAL  ${fmt(xs.map((x) => x.proof))} us  (${xs[0].finals.toFixed(1)} datagrams sent per proof)`)
  console.log(`  total                ${fmt(xs.map((x) => x.total))} us  = ${(1e6 / median(xs.map((x) => x.total))).toFixed(0)} handshakes per responder CPU-second (median; ${(1e6 / Math.min(...xs.map((x) => x.total))).toFixed(0)} at the fastest run)`)
})
if (process.env.JSON) console.log(JSON.stringify({ N, RUNS, roots: builds.map((b) => b.root), runs: out }))
