#!/usr/bin/env node
/**
 * CPU cost of bulk transfer in the sans-I/O core, independent of the machine's other load (the
 * wall-clock benches are not, on the shared VM): two Endpoints in one process, one session, one
 * stream of 64 KiB writes, datagrams moved by a copying pump on a virtual clock; prints the
 * process's CPU seconds (user + system) for the transfer. Compare two checkouts interleaved:
 *
 *   for i in 1 2 3; do for w in /path/base /path/branch; do node bench/core-bulk-cpu.mjs $w 128; done; done
 *
 * Arguments: the checkout's root (its dist/ is used; default this one), MiB to transfer (default 256).
 */
import { randomBytes } from 'node:crypto'

const root = process.argv[2] || new URL('..', import.meta.url).pathname.replace(/\/$/, '')
const MiB = 1 << 20, TOTAL = Number(process.argv[3] ?? 256) * MiB
const { resolveProtocolConfig } = await import(`${root}/dist/config.js`)
const { aead } = await import(`${root}/dist/crypto/index.js`)
const { Endpoint } = await import(`${root}/dist/protocol/endpoint.js`)
const rnd = (n) => new Uint8Array(randomBytes(n))
const seed = new Uint8Array(32).fill(7)
const mk = (name, now) => new Endpoint(resolveProtocolConfig({ sharedSeed: seed, name }, rnd), aead, rnd, now)
const addr = (n) => ({ key: `sim:${n}`, kind: 'sim', reliable: false, toString: () => n })
let now = 1e6
const a = mk('a', now), b = mk('b', now), A = addr('a'), B = addr('b')
function pump() {
  for (const [from, to, fa] of [[a, b, A], [b, a, B]]) {
    for (let tx = from.pollTransmit(now); tx; tx = from.pollTransmit(now)) {
      const offsets = new Uint32Array(tx.count), lengths = tx.lengths.slice(0, tx.count)
      let size = 0
      for (let i = 0; i < tx.count; i++) size += lengths[i]
      const slab = new Uint8Array(size)
      for (let i = 0, at = 0; i < tx.count; at += lengths[i], i++) { offsets[i] = at; slab.set(tx.slab.subarray(tx.offsets[i], tx.offsets[i] + lengths[i]), at) }
      to.handleBatch(now, { slab, offsets, lengths, count: tx.count, from: new Array(tx.count).fill(fa) })
    }
  }
  for (const ep of [a, b]) while (ep.pollEvent());
}
a.connect(now, B)
for (let i = 0; i < 10; i++) { pump(); now += 1 }
const sa = [...a.allSessions()][0], sb = [...b.allSessions()][0]
const key = sa.streams.openStream()
const chunk = new Uint8Array(64 * 1024)
let sent = 0, got = 0
const t0 = process.cpuUsage()
while (got < TOTAL) {
  while (sent < TOTAL && sa.streams.write(key, chunk) > 0) sent += chunk.length
  a.handleTimeout(now); b.handleTimeout(now)
  pump()
  for (let d = sb.streams.read(key); d; d = sb.streams.read(key)) got += d.length
  now += 0.25
}
const c = process.cpuUsage(t0)
const cpu = (c.user + c.system) / 1e6
console.log(`${(TOTAL / MiB)} MiB: ${cpu.toFixed(2)} CPU-s, ${((TOTAL * 8) / cpu / 1e9).toFixed(3)} Gbit per CPU-second`)
