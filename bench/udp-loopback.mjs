#!/usr/bin/env node
// UDP loopback throughput, sender and receiver in separate processes, 1472-byte datagrams:
//   native-gso  NativeUdpTransport, sendmmsg + UDP GSO  ->  NativeUdpTransport, recvmmsg + UDP GRO
//   native-mmsg NativeUdpTransport, sendmmsg, no GSO    ->  NativeUdpTransport, recvmmsg, no GRO
//   dgram       node:dgram, bursts of 64 send()         ->  node:dgram 'message' events
//
//   npm run build && npm run build:native
//   node bench/udp-loopback.mjs [--seconds S] [--repeat N] [--modes native-gso,dgram] [--smoke]
//
// Prints received datagrams/s and Gbit/s (UDP payload) per mode, median [min-max] of --repeat
// runs. No encryption: this is the transport's ceiling, to compare with the C figures in
// /work/shared/reference/anchor-measurements.md measured the same way.
import { spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { fileURLToPath } from 'node:url'

const argv = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : dflt
}
const smoke = argv.includes('--smoke')
const SIZE = Number(opt('size', 1472))
const BUFFER = 8 << 20
const role = opt('role', null)
const mode = opt('mode', 'native-gso')

async function receiver() {
  let count = 0
  let bytes = 0
  let first = 0
  let last = 0
  const onBatch = (n, b) => {
    const t = performance.now()
    if (count === 0) first = t
    last = t
    count += n
    bytes += b
  }
  let port
  let close
  if (mode === 'dgram') {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: BUFFER })
    s.on('message', (m) => onBatch(1, m.length))
    await new Promise((r) => s.bind(0, '127.0.0.1', r))
    port = s.address().port
    close = () => s.close()
  } else {
    const { NativeUdpTransport } = await import('../dist/transport/udp-native.js')
    const gro = mode === 'native-gso'
    const t = new NativeUdpTransport({ host: '127.0.0.1', recvBufferSize: BUFFER, gro })
    t.attach({
      onReceive(batch) {
        let b = 0
        for (let i = 0; i < batch.count; i++) b += batch.lengths[i]
        onBatch(batch.count, b)
      },
    })
    port = (await t.listen()).port
    close = () => t.close()
  }
  console.log(`READY ${port}`)
  // Done once the sender has been silent for 300 ms (or never started within 20 s).
  const started = performance.now()
  await new Promise((resolve) => {
    const iv = setInterval(() => {
      const now = performance.now()
      if ((count > 0 && now - last > 300) || now - started > 20_000) {
        clearInterval(iv)
        resolve()
      }
    }, 50)
  })
  const secs = (last - first) / 1000
  console.log(`RESULT ${JSON.stringify({ count, bytes, secs })}`)
  await close()
}

async function sender(port, seconds) {
  const end = performance.now() + seconds * 1000
  let sent = 0
  if (mode === 'dgram') {
    const s = dgram.createSocket({ type: 'udp4', sendBufferSize: BUFFER })
    await new Promise((r) => s.connect(port, '127.0.0.1', r))
    const buf = Buffer.alloc(SIZE, 7)
    await new Promise((resolve) => {
      const pump = () => {
        for (let i = 0; i < 64; i++) s.send(buf)
        sent += 64
        if (performance.now() < end) setImmediate(pump)
        else resolve()
      }
      pump()
    })
    await new Promise((r) => setTimeout(r, 50))
    s.close()
  } else {
    const { NativeUdpTransport } = await import('../dist/transport/udp-native.js')
    const gso = mode === 'native-gso'
    const t = new NativeUdpTransport({ host: '127.0.0.1', sendBufferSize: BUFFER, gso })
    t.attach({ onReceive() {} })
    const to = await t.dial(`127.0.0.1:${port}`)
    const count = 64
    const slab = new Uint8Array(SIZE * count).fill(7)
    const offsets = new Uint32Array(count).map((_, i) => i * SIZE)
    const lengths = new Uint32Array(count).fill(SIZE)
    const batch = { slab, offsets, lengths, count, to }
    await new Promise((resolve) => {
      const pump = () => {
        // Up to 16 batches per turn while the socket takes them; then yield to the loop
        // (EAGAIN leaves one pending batch that the writable callback flushes).
        for (let k = 0; k < 16 && t.writable(); k++) t.send(batch)
        if (performance.now() < end) setImmediate(pump)
        else resolve()
      }
      pump()
    })
    const s = t.getStats()
    sent = s.packetsSent
    console.error(`sender stats: ${JSON.stringify({ sent: s.packetsSent, dropped: s.dropped, gso: s.gso, eagain: s.sendEagain, syscalls: s.sendSyscalls })}`)
    await t.close()
  }
  console.log(`SENT ${sent}`)
}

function child(args) {
  const p = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  const lines = []
  const waiters = []
  p.stdout.on('data', (d) => {
    out += d
    let i
    while ((i = out.indexOf('\n')) >= 0) {
      lines.push(out.slice(0, i))
      out = out.slice(i + 1)
      for (const w of waiters.splice(0)) w()
    }
  })
  const line = async (prefix) => {
    for (;;) {
      const l = lines.find((x) => x.startsWith(prefix))
      if (l) return l.slice(prefix.length).trim()
      await new Promise((r) => waiters.push(r))
    }
  }
  const exit = new Promise((r) => p.on('exit', r))
  return { line, exit }
}

async function runOnce(m, seconds) {
  const rx = child(['--role', 'recv', '--mode', m, '--size', String(SIZE)])
  const port = await rx.line('READY')
  const tx = child(['--role', 'send', '--mode', m, '--port', port, '--seconds', String(seconds), '--size', String(SIZE)])
  const sent = Number(await tx.line('SENT'))
  const r = JSON.parse(await rx.line('RESULT'))
  await Promise.all([rx.exit, tx.exit])
  return { pps: r.count / r.secs, gbps: (r.bytes * 8) / r.secs / 1e9, loss: sent ? 1 - r.count / sent : 0 }
}

if (role === 'recv') await receiver()
else if (role === 'send') await sender(Number(opt('port')), Number(opt('seconds', 3)))
else {
  const seconds = smoke ? 0.3 : Number(opt('seconds', 3))
  const repeat = smoke ? 1 : Number(opt('repeat', 3))
  const modes = opt('modes', 'native-gso,native-mmsg,dgram').split(',')
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const rows = []
  for (const m of modes) {
    const rs = []
    for (let i = 0; i < repeat; i++) rs.push(await runOnce(m, seconds))
    const f = (k, d) => `${med(rs.map((r) => r[k])).toFixed(d)} [${Math.min(...rs.map((r) => r[k])).toFixed(d)}-${Math.max(...rs.map((r) => r[k])).toFixed(d)}]`
    rows.push({ mode: m, 'datagrams/s': f('pps', 0), 'Gbit/s': f('gbps', 2), loss: f('loss', 3) })
  }
  console.log(`udp-loopback: ${SIZE}-byte datagrams, ${seconds} s per run, median [min-max] of ${repeat}${smoke ? ' (smoke)' : ''}`)
  console.table(rows)
}
