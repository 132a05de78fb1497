#!/usr/bin/env node
// CPU per handshake answer sent by the native UDP transport (issue 14): one send() per datagram,
// as the driver handed each RETRY over before, against one sendMulti() (one sendmmsg, a
// msg_name per message) per 8 datagrams (a backlogged batch's allowance of answered HELLOs) and
// per 64 (a whole receive round). RETRY-sized (83-byte) datagrams to DESTS receiving sockets on
// 127.0.1.x in turn (the flooder's hosts of bench/scale.mjs), which read what arrives.
// process.cpuUsage around the sending calls only (the loopback delivery to the receivers is part
// of each send system call), interleaved rounds, median [min-max].
//
//   npm run build && npm run build:native
//   DESTS=8 N=100000 ROUNDS=5 node bench/udp-send-multi.mjs
import os from 'node:os'
import { NativeUdpTransport } from '../dist/transport/udp-native.js'

const DESTS = Number(process.env.DESTS ?? 8)
const N = Number(process.env.N ?? 100_000)
const ROUNDS = Number(process.env.ROUNDS ?? 5)
const SIZE = 83

const tx = new NativeUdpTransport({ host: '127.0.0.1' })
tx.attach({ onReceive() {} })
await tx.listen()
const receivers = []
const dests = []
for (let i = 0; i < DESTS; i++) {
  const rx = new NativeUdpTransport({ host: `127.0.1.${1 + i}` })
  rx.attach({ onReceive() {} })
  const { port } = await rx.listen()
  receivers.push(rx)
  dests.push(await tx.dial(`127.0.1.${1 + i}:${port}`))
}
const slab = new Uint8Array(64 * SIZE).fill(7)
const offsets = Uint32Array.from({ length: 64 }, (_, i) => i * SIZE)
const lengths = new Uint32Array(64).fill(SIZE)
// Every 4096 datagrams the receivers get a turn to drain (no EAGAIN, no drops at their sockets).
const drain = () => new Promise((r) => setTimeout(r, 30))

async function onePerCall() {
  const one = { slab, offsets: new Uint32Array(1), lengths: new Uint32Array([SIZE]), count: 1, to: dests[0] }
  let sent = 0
  let cpu = 0
  while (sent < N) {
    const c0 = process.cpuUsage()
    for (let i = 0; i < 64; i++, sent++) {
      one.offsets[0] = i * SIZE
      one.to = dests[sent % DESTS]
      tx.send(one)
    }
    const c = process.cpuUsage(c0)
    cpu += c.user + c.system
    if (sent % 4096 === 0) await drain()
  }
  return cpu / sent
}

async function multi(k) {
  const b = { slab, offsets, lengths, count: k, dests: [] }
  let sent = 0
  let cpu = 0
  while (sent < N) {
    const c0 = process.cpuUsage()
    for (let j = 0; j < 64; j += k) {
      for (let i = 0; i < k; i++) b.dests[i] = dests[(sent + i) % DESTS]
      tx.sendMulti(b)
      sent += k
    }
    const c = process.cpuUsage(c0)
    cpu += c.user + c.system
    if (sent % 4096 === 0) await drain()
  }
  return cpu / sent
}

const rows = { 'send() per datagram': [], 'sendMulti() of 8': [], 'sendMulti() of 64': [] }
for (let r = 0; r < ROUNDS; r++) {
  rows['send() per datagram'].push(await onePerCall())
  rows['sendMulti() of 8'].push(await multi(8))
  rows['sendMulti() of 64'].push(await multi(64))
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
console.log(`${DESTS} destinations, ${N} x ${SIZE}-byte datagrams per run, ${ROUNDS} interleaved rounds; us CPU per datagram sent:`)
for (const [name, xs] of Object.entries(rows)) {
  console.log(`  ${name.padEnd(22)} ${median(xs).toFixed(2)} [${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}]`)
}
const s = tx.getStats()
console.log(`  sender: ${s.packetsSent} sent, ${s.sendErrors} errors, ${s.sendEagain} EAGAIN, ${s.dropped['queue-full']} queue-full; load ${os.loadavg()[0].toFixed(1)}`)
await Promise.all([tx.close(), ...receivers.map((r) => r.close())])
