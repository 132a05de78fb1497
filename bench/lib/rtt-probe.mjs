#!/usr/bin/env node
// A UDP RTT probe, to measure the queueing delay a bulk flow causes at a bottleneck: small
// datagrams share the queue with the flow, so their RTT under load minus the idle RTT is the
// delay the flow's queue adds (bench/tbf.mjs runs it across the tbf-shaped veth link).
//   node bench/lib/rtt-probe.mjs echo [--host 0.0.0.0] [--port 0]      -> READY {"port":N}, echoes
//   node bench/lib/rtt-probe.mjs ping --host H --port P [--interval-ms 10] [--seconds 600]
//        -> one line per probe: S {"t":<Date.now() at send>,"rtt":<ms>} or L {"t":..} (no answer
//           within 1 s: dropped by the queue, as data would be); runs until killed or --seconds
import dgram from 'node:dgram'
import { parseArgs } from './args.mjs'
import { emit, hardLimit } from './proc.mjs'

const cli = parseArgs(process.argv.slice(2))
const mode = cli._[0]
const seconds = cli.seconds ?? 600
hardLimit(seconds + 5)
if (mode === 'echo') {
  const s = dgram.createSocket('udp4')
  s.on('message', (m, r) => s.send(m, r.port, r.address))
  s.bind(cli.port ?? 0, cli.host ?? '0.0.0.0', () => emit('READY', { port: s.address().port }))
} else if (mode === 'ping') {
  const interval = Number(cli['interval-ms'] ?? 10)
  const s = dgram.createSocket('udp4')
  const sent = new Map() // seq -> [performance.now(), Date.now()]
  let seq = 0
  s.on('message', (m) => {
    const id = m.readUInt32BE(0)
    const t = sent.get(id)
    if (t === undefined) return
    sent.delete(id)
    emit('S', { t: t[1], rtt: performance.now() - t[0] })
  })
  s.on('error', () => {})
  s.connect(cli.port, cli.host, () => {
    emit('READY', {})
    setInterval(() => {
      const b = Buffer.alloc(64)
      b.writeUInt32BE(seq, 0)
      sent.set(seq++, [performance.now(), Date.now()])
      s.send(b)
      const now = performance.now()
      for (const [k, t] of sent) {
        if (now - t[0] < 1000) break // insertion order = send order
        sent.delete(k)
        emit('L', { t: t[1] })
      }
    }, interval)
  })
} else {
  console.error('usage: rtt-probe.mjs echo|ping ...')
  process.exit(2)
}
