// Anchor: raw `ws` over loopback TCP, one connection, client -> server (client frames are masked,
// as RFC 6455 requires; ws masks with the native `bufferutil` when installed, as here), no
// permessage-deflate. This is the WebSocket-fallback peer.
//   node bench/anchors/ws.mjs throughput|msgrate|rtt [--size N] [--seconds S] [--bytes B] ...
import { WebSocket, WebSocketServer } from 'ws'
import { pingPong } from '../lib/workloads.mjs'
import { runIfMain } from '../lib/cli.mjs'

const OPTS = { perMessageDeflate: false, maxPayload: 256 << 20 }
// ws has no public 'drain': pause while more than this is queued, resume on the socket's drain
const HIGH_WATER = 4 << 20

function listen(ctx) {
  const wss = new WebSocketServer({ host: ctx.host, port: ctx.port, ...OPTS })
  return new Promise((resolve) => {
    wss.on('listening', () => ctx.ready({ port: wss.address().port }))
    wss.on('connection', (ws) => resolve(ws))
  })
}

function connect(ctx) {
  const ws = new WebSocket(`ws://${ctx.host}:${ctx.port}`, OPTS)
  return new Promise((resolve, reject) => { ws.once('open', () => resolve(ws)); ws.once('error', reject) })
}

const bulk = {
  async receiver(ctx) {
    const ws = await listen(ctx)
    let bytes = 0
    let msgs = 0
    ws.on('message', (data) => {
      if (msgs++ === 0) ctx.startClock()
      bytes += data.length
    })
    await new Promise((resolve) => ws.once('close', resolve))
    ctx.stopClock()
    return { bytes, msgs }
  },
  async sender(ctx) {
    const ws = await connect(ctx)
    const buf = Buffer.alloc(ctx.size, 0x78)
    const maxBytes = ctx.bytes > 0 ? ctx.bytes : Infinity
    let bytes = 0
    let msgs = 0
    ctx.startClock()
    const end = performance.now() + ctx.seconds * 1000
    await new Promise((resolve) => {
      const pump = () => {
        while (bytes < maxBytes && (msgs & 15 || performance.now() < end)) {
          ws.send(buf, { binary: true })
          bytes += buf.length
          msgs++
          if (ws.bufferedAmount > HIGH_WATER) return ws._socket.once('drain', pump)
        }
        ws.close() // queued after the data; the receiver's window ends at its 'close'
        ws.once('close', resolve)
      }
      pump()
    })
    ctx.stopClock()
    return { bytes, msgs }
  }
}

const workload = {
  name: 'ws',
  describe: 'raw ws (WebSocket over TCP), client -> server, bufferutil masking',
  defaults: { throughput: { size: 1 << 20 }, msgrate: { size: 64 }, rtt: { size: 64 } },
  throughput: bulk,
  msgrate: bulk,
  rtt: {
    async receiver(ctx) {
      const ws = await listen(ctx)
      let msgs = 0
      ws.on('message', (data) => {
        if (msgs++ === 0) ctx.startClock()
        ws.send(data, { binary: true })
      })
      await ctx.peerDone()
      return { msgs }
    },
    async sender(ctx) {
      const ws = await connect(ctx)
      const buf = Buffer.alloc(ctx.size, 0x78)
      const pp = pingPong(ctx, () => ws.send(buf, { binary: true }))
      ws.on('message', () => pp.reply())
      return pp.done
    }
  }
}

export default workload
await runIfMain(import.meta.url, workload)
