#!/usr/bin/env node
/**
 * Abbreviated (resumption ticket, issue 12) vs full handshake: CPU time of both roles' work
 * for one handshake, in this one process (sans-I/O functions, node:crypto / the addon's
 * handshake primitives as the process picked them). The abbreviated side includes issuing
 * the ticket it consumes (sealing it, wrapping and unwrapping the token), since tickets are
 * single-use. Network time is not measured: a full handshake needs 2 round trips before the
 * initiator has keys, the abbreviated one 1.
 *
 *   npm run build && node bench/resume-handshake.mjs [iterations=400] [runs=5]
 * Reports the median over runs of µs per handshake and the ratio abbreviated / full.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const hs = await import(join(root, 'dist/protocol/handshake.js'))
const rs = await import(join(root, 'dist/protocol/resume-handshake.js'))
const tk = await import(join(root, 'dist/protocol/tickets.js'))
const { TicketKeys } = await import(join(root, 'dist/protocol/ticket-keys.js'))
const { AcceptedHandshakes } = await import(join(root, 'dist/protocol/handshake-replay.js'))
const { deriveGroupKeys, deriveIdentity } = await import(join(root, 'dist/protocol/identity.js'))

const ITER = Number(process.argv[2] ?? 400)
const RUNS = Number(process.argv[3] ?? 5)
const rnd = (n) => new Uint8Array(randomBytes(n))
const params = { maxStreams: 256, streamWindow: 4 << 20, sessionWindow: 16 << 20, bareMode: false, maxPacketSize: 1472 }
const group = deriveGroupKeys(rnd(32))
const seedI = rnd(32)
const idI = deriveIdentity(seedI)
const idR = deriveIdentity(rnd(32))
const wrapKey = tk.tokenWrapKey(seedI, group.psk)
const cookieKey = rnd(32)

function full(now) {
  const ini = new hs.InitiatorHandshake({ group, identity: idI }, { name: 'i', params }, ['aes-256-gcm'], rnd)
  const hello = hs.parseHello(ini.createHello(now), group.helloMacKey)
  const ch = hs.createChallenge({ group, identity: idR }, hello, 'aes-256-gcm', { name: 'r', params }, cookieKey, 'a', now, rnd)
  const out = ini.consumeChallenge(ch, 0)
  const acc = hs.consumeAuthProof(out.packet, [cookieKey], 'a', now, 10_000, rnd)
  const keys = ini.finish(acc.result.finalRandom)
  if (!keys || Buffer.compare(keys.i2r, acc.result.i2r) !== 0) throw new Error('full handshake failed')
}

function abbreviated(now, keys, used, master, sessionId) {
  const ticket = tk.sealTicket(keys.sealing(now), (id) => tk.ticketSecret(master, id), { suite: 'aes-256-gcm', sessionId, initiatorNodeId: idI.nodeId, issued: now, expires: now + 600_000, generation: 0 }, rnd)
  const secret = tk.ticketSecret(master, tk.ticketIdOf(ticket))
  const token = tk.decodeToken(wrapKey, tk.encodeToken(wrapKey, { suite: 'aes-256-gcm', expires: now + 600_000, sessionId, peerNodeId: idR.nodeId, secret, ticket }, rnd))
  const ini = new rs.InitiatorResume(group, idI.nodeId, token, { name: 'i', params }, rnd)
  const parsed = rs.parseResume(ini.createResume(now), group.helloMacKey)
  const out = rs.consumeResume(group, keys, used, parsed, { name: 'r', params }, now, now, rnd)
  const acc = ini.consumeAccept(out.accept)
  if (acc.kind !== 'ok' || Buffer.compare(acc.result.i2r, out.result.i2r) !== 0) throw new Error('abbreviated handshake failed')
}

function time(fn) {
  const t0 = performance.now()
  for (let i = 0; i < ITER; i++) fn(i)
  return ((performance.now() - t0) * 1000) / ITER
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fulls = []
const abbrs = []
for (let r = 0; r < RUNS; r++) {
  const now = Date.now()
  const keys = new TicketKeys(rnd, 600_000)
  const used = new AcceptedHandshakes(1 << 20)
  const master = tk.resumptionMaster(rnd(32), rnd(32), rnd(32))
  const sid = rnd(8)
  fulls.push(time(() => full(now)))
  abbrs.push(time(() => abbreviated(now, keys, used, master, sid)))
}
const f = median(fulls)
const a = median(abbrs)
console.log(`full handshake:        ${f.toFixed(0)} µs CPU (both roles), 2 round trips before keys`)
console.log(`abbreviated (ticket):  ${a.toFixed(0)} µs CPU (both roles, incl. issuing the ticket), 1 round trip`)
console.log(`ratio abbreviated/full: ${(a / f).toFixed(2)} (median of ${RUNS} runs x ${ITER})`)
