// Anchor: raw node:dgram, no reliability, no encryption: the floor every UDP library in Node
// stands on. Sender: bursts of `burst` (default 64) send() calls on a connected socket, then
// setImmediate (so the event loop and the kernel get to run), for `seconds` or `bytes`.
// Receiver: counts 'message' events; it stops 150 ms after the sender reported done.
//   node bench/anchors/dgram.mjs throughput|msgrate|rtt [--size 1200] [--seconds S] [--burst 64]
import dgram from 'node:dgram'
import { pingPong } from '../lib/workloads.mjs'
import { sleep } from '../lib/proc.mjs'
import { runIfMain } from '../lib/cli.mjs'

function bind(ctx) {
  const sock = dgram.createSocket('udp4')
  return new Promise((resolve, reject) => {
    sock.once('error', reject)
    sock.bind(ctx.port, ctx.host, () => resolve(sock))
  })
}

function connect(ctx) {
  const sock = dgram.createSocket('udp4')
  sock.on('error', () => {}) // ECONNREFUSED etc. after the receiver left: not our business
  return new Promise((resolve) => sock.connect(ctx.port, ctx.host, () => resolve(sock)))
}

const bulk = {
  async receiver(ctx) {
    const sock = await bind(ctx)
    // ask for a big buffer so bursts are not dropped at once (capped by net.core.rmem_max)
    sock.setRecvBufferSize(64 << 20)
    let bytes = 0
    let msgs = 0
    let first = 0
    let last = 0
    sock.on('message', (msg) => {
      last = performance.now()
      if (msgs++ === 0) { first = last; ctx.startClock() }
      bytes += msg.length
    })
    ctx.ready({ port: sock.address().port, rcvbuf: sock.getRecvBufferSize() })
    const tx = await ctx.peerDone()
    await sleep(ctx.smoke ? 50 : 150) // datagrams still in the socket buffer; idle: no CPU time
    ctx.stopClock()
    return {
      bytes,
      msgs,
      secs: (last - first) / 1000, // rate over first -> last datagram, not the grace period
      extra: { loss_pct: tx.msgs ? 100 * (1 - msgs / tx.msgs) : 0, tx_pps: tx.msgs / tx.wall_s }
    }
  },
  async sender(ctx) {
    const sock = await connect(ctx)
    const buf = Buffer.alloc(ctx.size, 0x78)
    const burst = ctx.burst ?? 64
    const maxBytes = ctx.bytes > 0 ? ctx.bytes : Infinity
    let bytes = 0
    let msgs = 0
    ctx.startClock()
    const end = performance.now() + ctx.seconds * 1000
    await new Promise((resolve) => {
      const pump = () => {
        for (let i = 0; i < burst; i++) sock.send(buf)
        msgs += burst
        bytes += burst * buf.length
        if (bytes < maxBytes && performance.now() < end) setImmediate(pump)
        else resolve()
      }
      pump()
    })
    ctx.stopClock()
    await sleep(20) // let libuv hand the last queued sends to the kernel
    return { bytes, msgs }
  }
}

const workload = {
  name: 'dgram',
  describe: 'raw node:dgram (UDP, no reliability, no encryption)',
  defaults: { throughput: { size: 1200 }, msgrate: { size: 64 }, rtt: { size: 64 } },
  throughput: bulk,
  msgrate: bulk,
  rtt: {
    async receiver(ctx) {
      const sock = await bind(ctx)
      let msgs = 0
      sock.on('message', (msg, rinfo) => {
        if (msgs++ === 0) ctx.startClock()
        sock.send(msg, rinfo.port, rinfo.address)
      })
      ctx.ready({ port: sock.address().port })
      await ctx.peerDone()
      return { msgs }
    },
    async sender(ctx) {
      const sock = await connect(ctx)
      const buf = Buffer.alloc(ctx.size, 0x78)
      // a lost datagram must not stall the run: re-send after 200 ms and count it
      const pp = pingPong(ctx, () => sock.send(buf), { timeoutMs: 200 })
      sock.on('message', () => pp.reply())
      return pp.done
    }
  }
}

export default workload
await runIfMain(import.meta.url, workload)
