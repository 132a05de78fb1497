#!/usr/bin/env node
/**
 * CPU cost of each side of a bulk transfer through the sans-I/O core on a reordering path,
 * independent of the machine's other load (issue 9: on the 20 ms path with 1 ms jitter the
 * receiver's CPU per byte rose by ~65 %). Two Endpoints in one process on a virtual clock, with
 * seeded randomness; the data direction has a rate bottleneck (default 300 Mbit/s), both
 * directions a one-way delay (default 10 ms) plus a seeded uniform [0, J] ms jitter per
 * datagram, as bench/netem does: at 300 Mbit/s of 1472-byte packets a 1 ms jitter reorders ~25
 * packets deep. Each endpoint takes what arrived every --poll ms (default 1) as one batch, as a
 * busy receiver's recvmmsg does (the WAN bench's receiver got ~50 datagrams per callback).
 *
 * The transfer is run once and every call into each endpoint recorded; then each side is
 * replayed alone from its record (a fresh Endpoint with the same seed derives the same keys, so
 * it accepts the recorded datagrams and does exactly the same work) and its CPU time measured
 * with process.cpuUsage around the whole replay: neither the other side nor the link model is
 * counted. Prints CPU seconds per GB of stream data, per side and jitter.
 *
 *   node bench/core-reorder-cpu.mjs [--dist a/dist,b/dist] [--mib 64] [--jitter 0,1] [--rate 300] [--delay 10] [--poll 1] [--repeat 1]
 *                                   [--instructions [--side receiver|sender]]
 *
 * Several dists (checkouts' dist/ directories) are run in turn, A B A B, so that drift hits each
 * alike. PROFILE=dir writes a V8 CPU profile of each replay (bench/lib/sans-io.mjs).
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import vm from 'node:vm'
import { mulberry32 as rng } from '../dist/transport/channel.js' // seeded uniform [0, 1)
import { cpuMicros, profilerFor } from './lib/sans-io.mjs'

const here = new URL('..', import.meta.url).pathname.replace(/\/$/, '')
const { values: opt } = parseArgs({
  options: {
    dist: { type: 'string', default: `${here}/dist` },
    mib: { type: 'string', default: '64' },
    jitter: { type: 'string', default: '0,1' },
    rate: { type: 'string', default: '300' },
    delay: { type: 'string', default: '10' },
    poll: { type: 'string', default: '1' },
    repeat: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    instructions: { type: 'boolean', default: false },
    side: { type: 'string', default: 'both' }, // --instructions: receiver, sender or both
    child: { type: 'string' }, // internal: `side` to replay inside vm.runInThisContext (under valgrind)
  },
})
const MiB = 1 << 20
const TOTAL = Number(opt.mib) * MiB
const RATE = Number(opt.rate) * 1e6 // bit/s of the data direction
const DELAY = Number(opt.delay) // ms each way
const POLL = Number(opt.poll) // ms between an endpoint's receive calls (0: at each arrival)
const CHUNK = new Uint8Array(64 * 1024)


/** Seeded "random" bytes: an endpoint made twice with the same seed makes the same keys. */
function seededBytes(seed) {
  const r = rng(seed)
  return (n) => {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = (r() * 256) | 0
    return out
  }
}

/** Datagrams in flight on one direction, kept sorted by arrival time (jitter reorders them). */
class Link {
  constructor(rate, jitter, random) {
    this.rate = rate
    this.jitter = jitter
    this.random = random
    this.q = []
    this.head = 0
    this.free = 0
  }
  send(now, bytes) {
    let at = now
    if (this.rate > 0) {
      this.free = Math.max(this.free, now) + (bytes.length * 8 * 1000) / this.rate
      at = this.free
    }
    at += DELAY + this.jitter * this.random()
    const q = this.q
    let i = q.length
    while (i > this.head && q[i - 1].at > at) i--
    q.splice(i, 0, { at, bytes })
  }
  /** When the receiver next takes a batch: at its next poll tick after the first arrival. */
  get next() {
    if (this.head === this.q.length) return Infinity
    const at = this.q[this.head].at
    return POLL > 0 ? Math.ceil(at / POLL) * POLL : at
  }
  /** The datagrams due by `now`, as one receive batch (a recvmmsg's worth), or null. */
  take(now, from) {
    if (now < this.next) return null
    const q = this.q
    let n = 0
    while (this.head + n < q.length && q[this.head + n].at <= now) n++
    if (n === 0) return null
    let size = 0
    for (let i = 0; i < n; i++) size += q[this.head + i].bytes.length
    const slab = new Uint8Array(size), offsets = new Uint32Array(n), lengths = new Uint32Array(n)
    for (let i = 0, at = 0; i < n; i++) {
      const d = q[this.head + i].bytes
      slab.set(d, at)
      offsets[i] = at
      lengths[i] = d.length
      at += d.length
    }
    this.head += n
    if (this.head > 1024 && this.head * 2 > q.length) {
      q.splice(0, this.head)
      this.head = 0
    }
    return { slab, offsets, lengths, count: n, from: new Array(n).fill(from) }
  }
}

async function load(dist) {
  const { resolveProtocolConfig } = await import(`${dist}/config.js`)
  const { aead } = await import(`${dist}/crypto/index.js`)
  const { Endpoint } = await import(`${dist}/protocol/endpoint.js`)
  const { setRecvMemory } = await import(`${dist}/protocol/recv-buffer.js`)
  const shared = new Uint8Array(32).fill(7)
  return (name, seed, now) => {
    // A fresh receive page: where the last run left the shared page changes which segments merge.
    if (name === 'b') setRecvMemory((n) => new Uint8Array(n))
    const rnd = seededBytes(seed)
    return new Endpoint(resolveProtocolConfig({ sharedSeed: shared, name }, rnd), aead, rnd, now)
  }
}

const addr = (n) => ({ key: `sim:${n}`, kind: 'sim', reliable: false, toString: () => n })
const A = addr('a'), B = addr('b')
const START = 1e6

/**
 * One endpoint's calls, in order, as the transfer made them (every one: even a pollTimeout or a
 * pollTransmit that returns nothing moves time-based state, such as the pacer's); replay() makes
 * them again.
 * A step: { now, writes, batch, timeout }; `writes` calls writing a 64 KiB chunk first (sender),
 * then the batch received, handleTimeout if it was due, every datagram polled (and dropped),
 * events polled, stream read (receiver).
 */
class Side {
  constructor(ep, name) {
    this.ep = ep
    this.name = name
    this.steps = []
    this.measureFrom = -1
    this.session = null
    this.key = -1
  }
}

async function transfer(make, jitter, seed) {
  let now = START
  const a = new Side(make('a', seed * 2, now), 'a'), b = new Side(make('b', seed * 2 + 1, now), 'b')
  const random = rng(seed)
  const toB = new Link(RATE, jitter, random), toA = new Link(0, jitter, random)
  let sent = 0, got = 0
  const stepOf = (side, link, out, from, reader) => {
    const ep = side.ep
    const st = { now, writes: 0, batch: link.take(now, from), timeout: false }
    if (side === a && side.session !== null) {
      // write() takes the chunk and says whether the buffer is still below its high-water mark.
      while (sent < TOTAL) {
        st.writes++
        sent += CHUNK.length
        if (!side.session.streams.write(side.key, CHUNK)) break
      }
    }
    // The endpoint opens datagrams in place: it gets a copy, the record keeps them sealed.
    if (st.batch) ep.handleBatch(now, { ...st.batch, slab: st.batch.slab.slice() })
    if (ep.pollTimeout(now) <= now) {
      st.timeout = true
      ep.handleTimeout(now)
    }
    st.tx = 0
    for (let tx = ep.pollTransmit(now); tx; tx = ep.pollTransmit(now)) {
      for (let i = 0; i < tx.count; i++) out.send(now, tx.slab.slice(tx.offsets[i], tx.offsets[i] + tx.lengths[i]))
      st.tx += tx.count
    }
    while (ep.pollEvent());
    if (reader && side.session !== null) for (let d = side.session.streams.read(side.key); d; d = side.session.streams.read(side.key)) got += d.length
    side.steps.push(st)
  }
  a.ep.connect(now, B)
  let iter = 0
  for (;;) {
    if (a.session === null && a.ep.sessionCount && [...a.ep.allSessions()][0].state === 'active' && b.ep.sessionCount) {
      a.session = [...a.ep.allSessions()][0]
      b.session = [...b.ep.allSessions()][0]
      a.key = b.key = a.session.streams.openStream()
      a.measureFrom = a.steps.length
      b.measureFrom = b.steps.length
    }
    stepOf(a, toA, toB, B, false)
    stepOf(b, toB, toA, A, true)
    if (got >= TOTAL) break
    if (++iter > 5e7) throw new Error('transfer did not finish')
    const next = Math.min(toB.next, toA.next, a.ep.pollTimeout(now), b.ep.pollTimeout(now))
    now = Math.min(Math.max(next, now + 0.001), now + 1)
  }
  return { a, b, virtualMs: now - START }
}

/** Makes `side`'s recorded calls again on a fresh endpoint; returns the CPU µs of the measured part. */
function replay(make, seed, side, profiler) {
  const ep = make(side.name, side.name === 'a' ? seed * 2 : seed * 2 + 1, START)
  if (side.name === 'a') ep.connect(START, B)
  let session = null
  let got = 0
  let t0 = 0
  let wrote = 0
  for (let i = 0; i < side.steps.length; i++) {
    if (i === side.measureFrom) {
      session = [...ep.allSessions()][0]
      if (side.name === 'a') session.streams.openStream()
      profiler.start()
      t0 = cpuMicros()
    }
    const st = side.steps[i]
    const now = st.now
    for (let w = 0; w < st.writes; w++) {
      session.streams.write(side.key, CHUNK)
      wrote += CHUNK.length
    }
    if (st.batch) ep.handleBatch(now, st.batch)
    ep.pollTimeout(now)
    if (st.timeout) ep.handleTimeout(now)
    let ntx = 0
    for (let tx = ep.pollTransmit(now); tx; tx = ep.pollTransmit(now)) ntx += tx.count
    if (ntx !== st.tx) throw new Error(`replayed ${side.name} sent ${ntx} datagrams at step ${i}, ${st.tx} when recorded: the replay diverged`)
    while (ep.pollEvent());
    if (side.name === 'b' && session !== null) for (let d = session.streams.read(side.key); d; d = session.streams.read(side.key)) got += d.length
    ep.pollTimeout(now) // as the transfer's step to the next event did
  }
  const cpu = cpuMicros() - t0
  profiler.stop()
  if (side.name === 'a' && wrote !== TOTAL) throw new Error(`replayed sender wrote ${wrote} of ${TOTAL} bytes: the replay diverged`)
  if (side.name === 'b' && got !== TOTAL) throw new Error(`replayed receiver read ${got} of ${TOTAL} bytes: the replay diverged`)
  return cpu
}

const dists = opt.dist.split(',')
const jitters = opt.jitter.split(',').map(Number)
const GB = TOTAL / 1e9

if (opt.child) {
  // Under valgrind (see --instructions): record, then replay one side inside a native frame
  // (vm.runInThisContext -> ContextifyScript::EvalMachine), the only part callgrind collects.
  const make = await load(dists[0])
  const seed = Number(opt.seed)
  const sides = await transfer(make, jitters[0], seed)
  globalThis.__replay = () => replay(make, seed, sides[opt.child], { start() {}, stop() {} })
  vm.runInThisContext('__replay()')
  process.exit(0)
}

/** User-space instructions (main thread) of replaying `side` alone, by callgrind. */
function instructions(dist, jitter, seed, side) {
  const args = [
    '--tool=callgrind', '--smc-check=all-non-file', '--collect-atstart=no', '--toggle-collect=*EvalMachine*', '--callgrind-out-file=/dev/null',
    process.execPath, '--single-threaded', fileURLToPath(import.meta.url), '--child', side, '--dist', dist, '--jitter', String(jitter), '--seed', String(seed),
    '--mib', opt.mib, '--rate', opt.rate, '--delay', opt.delay, '--poll', opt.poll,
  ]
  const r = spawnSync('valgrind', args, { encoding: 'utf8', maxBuffer: 1 << 26 })
  const m = /Collected : (\d+)/.exec(r.stderr)
  if (r.status !== 0 || !m) throw new Error(`valgrind failed (${r.status}): ${r.stderr.slice(-1500)}`)
  return Number(m[1])
}

const profiler = await profilerFor('core-reorder')
const makers = new Map()
for (const d of dists) makers.set(d, await load(d))
const unit = opt.instructions ? 'instructions per byte of each side replayed alone (callgrind, main thread)' : 'CPU s/GB of each side replayed alone'
console.log(`${opt.mib} MiB per run, ${opt.rate} Mbit/s bottleneck, ${DELAY} ms each way, receive every ${POLL} ms; ${unit}`)
for (let r = 0; r < Number(opt.repeat); r++) {
  for (const jitter of jitters) {
    for (const dist of dists) {
      const seed = Number(opt.seed) + r
      if (opt.instructions) {
        const rx = opt.side !== 'sender' ? `receiver ${(instructions(dist, jitter, seed, 'b') / TOTAL).toFixed(2)} instr/B ` : ''
        const tx = opt.side !== 'receiver' ? `sender ${(instructions(dist, jitter, seed, 'a') / TOTAL).toFixed(2)} instr/B` : ''
        console.log(`jitter ${jitter} ms  ${dist}: ${rx}${tx}`)
        continue
      }
      const make = makers.get(dist)
      const { a, b, virtualMs } = await transfer(make, jitter, seed)
      const rx = replay(make, seed, b, profiler)
      const tx = replay(make, seed, a, profiler)
      const batches = b.steps.slice(b.measureFrom).filter((s) => s.batch)
      const pkts = batches.reduce((n, s) => n + s.batch.count, 0)
      const acks = a.steps.slice(a.measureFrom).reduce((n, s) => n + (s.batch ? s.batch.count : 0), 0)
      console.log(
        `jitter ${jitter} ms  ${dist}: receiver ${(rx / 1e6 / GB).toFixed(2)} s/GB, sender ${(tx / 1e6 / GB).toFixed(2)} s/GB; ` +
          `${((TOTAL * 8) / (virtualMs * 1000)).toFixed(0)} Mbit/s virtual, ${(pkts / batches.length).toFixed(1)} datagrams per receive batch, ${((acks / pkts) * 100).toFixed(1)} ACK datagrams per 100 data`,
      )
    }
  }
}
