#!/usr/bin/env node
/**
 * Handshakes per second on one core: a loop of complete in-memory handshakes (HELLO, CHALLENGE,
 * AUTH_PROOF, FINAL) between two sans-I/O Endpoints in this one process, JS AEAD backend.
 * Reports complete handshakes/s (both roles' work on one core) and the responder's share
 * (time inside the responder's handleBatch/pollTransmit) as a responder-only capacity, plus the
 * cost of refusing an outsider's HELLO (one HMAC) and of a RETRY.
 *
 *   npm run build && node bench/handshake-rate.mjs [seconds-per-measure=3]
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import os from 'node:os'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { resolveProtocolConfig } = await import(join(root, 'dist/config.js'))
const { jsAead } = await import(join(root, 'dist/crypto/js-aead.js'))
const { Endpoint } = await import(join(root, 'dist/protocol/endpoint.js'))

const SECONDS = Number(process.argv[2] ?? 3)
const RESET = Number(process.env.RESET ?? 1000)
const rnd = (n) => new Uint8Array(randomBytes(n))
const addr = (name) => ({ key: `sim:${name}`, transport: { kind: 'sim', reliable: false }, toString: () => `sim://${name}` })
const A = addr('initiator')
const B = addr('responder')

function take(ep, now) {
  const tx = ep.pollTransmit(now)
  if (!tx) return null
  return tx.slab.slice(tx.offsets[0], tx.offsets[0] + tx.lengths[0])
}
function give(ep, now, data, from) {
  ep.handleBatch(now, { slab: data, offsets: new Uint32Array([0]), lengths: new Uint32Array([data.length]), count: 1, from: [from] })
}

function pair(seed, extra = {}) {
  const now = Date.now()
  // RETRY only when a measure asks for it (requireRetry): above the default retryThreshold (200
  // HELLOs/s) the responder would start answering this loop's HELLOs with RETRY by itself.
  const base = { sharedSeed: seed, maxSessions: 1_000_000, retryThreshold: 2 ** 30, ...extra }
  const a = new Endpoint(resolveProtocolConfig({ ...base, name: 'i' }, rnd), jsAead, rnd, now)
  const b = new Endpoint(resolveProtocolConfig({ ...base, name: 'r' }, rnd), jsAead, rnd, now)
  return { a, b }
}

/** Runs complete handshakes for `seconds`; returns counts and time split by role. */
function measure(seconds, { retry = false } = {}) {
  const seed = randomBytes(32)
  let { a, b } = pair(seed)
  let n = 0
  let tResp = 0
  let tResp1 = 0
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  while (performance.now() < end) {
    if (n % RESET === RESET - 1) ({ a, b } = pair(seed)) // bounded session maps and replay cache
    b.requireRetry = retry
    const now = Date.now()
    a.connect(now, B)
    let hello = take(a, now)
    let t = performance.now()
    give(b, now, hello, A)
    let challenge = take(b, now)
    tResp1 += performance.now() - t
    tResp += performance.now() - t
    if (retry) {
      give(a, now, challenge, B)
      hello = take(a, now)
      t = performance.now()
      give(b, now, hello, A)
      challenge = take(b, now)
      tResp1 += performance.now() - t
      tResp += performance.now() - t
    }
    give(a, now, challenge, B)
    const proof = take(a, now)
    t = performance.now()
    give(b, now, proof, A)
    const fin = take(b, now)
    while (b.pollEvent());
    tResp += performance.now() - t
    give(a, now, fin, B)
    let ok = false
    for (let e = a.pollEvent(); e; e = a.pollEvent()) if (e.kind === 'connected') ok = true
    if (!ok) throw new Error('handshake failed')
    n++
  }
  const total = (performance.now() - t0) / 1000
  return { n, total, respSec: tResp / 1000, resp1Sec: tResp1 / 1000 }
}

/** Outsider HELLOs (wrong seed) at a stealth responder: one HMAC each, then dropped. */
function measureOutsiders(seconds) {
  const { b } = pair(randomBytes(32), { stealth: true })
  const { a: outsider } = pair(randomBytes(32))
  const hellos = []
  for (let i = 0; i < 1000; i++) {
    outsider.connect(Date.now(), B)
    hellos.push(take(outsider, Date.now()))
  }
  let n = 0
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  while (performance.now() < end) {
    give(b, Date.now(), hellos[n % hellos.length].slice(), A)
    n++
  }
  if (b.counters.dropped['auth-failed'] !== n) throw new Error('outsider HELLOs not all refused')
  return n / ((performance.now() - t0) / 1000)
}

const fmt = (x) => Math.round(x).toLocaleString('en-US')
console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, JS AEAD backend, ${SECONDS}s per measure`)
measure(0.5) // warm-up
const r = measure(SECONDS)
console.log(`complete handshakes (both roles, one core): ${fmt(r.n / r.total)}/s  (${(1e6 * r.total / r.n).toFixed(0)} µs each)`)
console.log(`responder share: ${(1e6 * r.respSec / r.n).toFixed(0)} µs/handshake -> responder-only capacity ~${fmt(r.n / r.respSec)}/s`)
console.log(`  of which HELLO -> CHALLENGE (stateless): ${(1e6 * r.resp1Sec / r.n).toFixed(0)} µs; AUTH_PROOF -> session + FINAL: ${(1e6 * (r.respSec - r.resp1Sec) / r.n).toFixed(0)} µs`)
console.log(`initiator share: ${(1e6 * (r.total - r.respSec) / r.n).toFixed(0)} µs/handshake (incl. harness overhead)`)
const rr = measure(SECONDS, { retry: true })
console.log(`with RETRY (address validation first): ${fmt(rr.n / rr.total)}/s complete; responder ${(1e6 * rr.respSec / rr.n).toFixed(0)} µs/handshake`)
console.log(`outsider HELLOs refused by a stealth responder: ${fmt(measureOutsiders(SECONDS))}/s`)
