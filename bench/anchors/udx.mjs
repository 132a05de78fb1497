// Anchor: udx-native (reliable UDP streams, libudx in C) wrapped in @hyperswarm/secret-stream
// (Noise XX handshake, then libsodium secretstream per message): the closest existing peer to an
// encrypted reliable UDP transport for Node. `--mode raw` measures the bare udx stream instead.
//   node bench/anchors/udx.mjs throughput|msgrate|rtt [--mode secret|raw] [--size N] [--seconds S] ...
// The handshake is never timed. A raw udx stream is a byte stream (64-byte writes are packed
// into MTU-sized packets), so its msg/s is bytes / size; secret-stream frames each write.
import UDX from 'udx-native'
import SecretStream from '@hyperswarm/secret-stream'
import { countReadable, pumpWritable, pingPong } from '../lib/workloads.mjs'
import { sleep } from '../lib/proc.mjs'
import { runIfMain } from '../lib/cli.mjs'

// udx needs both ends' socket ports before either stream can connect, so the receiver announces
// its port (READY) and the sender answers with its own (INFO -> receiver's peer()).
async function open(ctx) {
  const udx = new UDX()
  const socket = udx.createSocket()
  const receiver = ctx.role === 'receiver'
  socket.bind(receiver ? ctx.port : 0, ctx.host)
  const [id, remoteId] = receiver ? [1, 2] : [2, 1]
  const stream = udx.createStream(id)
  let port
  if (receiver) {
    ctx.ready({ port: socket.address().port })
    port = (await ctx.peer()).port
  } else {
    ctx.publish({ port: socket.address().port })
    port = ctx.port
  }
  stream.connect(socket, remoteId, port, ctx.host)
  const mode = ctx.mode ?? 'secret'
  if (mode === 'raw') return { raw: stream, s: stream, close: closer(stream, socket) }
  const s = new SecretStream(!receiver, stream)
  await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
  return { raw: stream, s, close: closer(s, socket) }
}

// Shut a finished connection (after a warm-up pass, both ends done): the stream, then the socket
// (udx closes it once its streams are gone; bounded, a close must not hang the run).
const closer = (s, socket) => async () => {
  s.on('error', () => {})
  s.destroy()
  await Promise.race([socket.close(), sleep(1000)])
}

// udx's own counters: retransmitted packets as a share of packets sent (loopback loses too)
const udxExtra = (raw) => ({
  retransmit_pct: raw.packetsTransmitted ? (100 * raw.retransmits) / raw.packetsTransmitted : 0,
  rto_count: raw.rtoCount
})

const bulk = {
  async receiver(ctx) {
    const { s, close } = await open(ctx)
    const r = await countReadable(ctx, s)
    return { bytes: r.bytes, msgs: (ctx.mode ?? 'secret') === 'secret' ? r.events : undefined, close }
  },
  async sender(ctx) {
    const { raw, s, close } = await open(ctx)
    const r = await pumpWritable(ctx, s)
    const extra = udxExtra(raw)
    await sleep(100) // let the last ACKs go out before this process exits (outside the window)
    return { ...r, extra, close }
  }
}

const workload = {
  name: 'udx',
  describe: 'udx-native stream + @hyperswarm/secret-stream (--mode raw: bare udx)',
  defaults: { throughput: { mode: 'secret', size: 65536 }, msgrate: { mode: 'secret', size: 64 }, rtt: { mode: 'secret', size: 64 } },
  throughput: bulk,
  msgrate: bulk,
  rtt: {
    async receiver(ctx) {
      const { s } = await open(ctx)
      let msgs = 0
      s.on('data', (d) => {
        if (msgs++ === 0) ctx.startClock()
        s.write(d)
      })
      await ctx.peerDone()
      return { msgs }
    },
    async sender(ctx) {
      const { s } = await open(ctx)
      const buf = Buffer.alloc(ctx.size, 0x78)
      let got = 0
      const pp = pingPong(ctx, () => { got = 0; s.write(buf) })
      s.on('data', (d) => { if ((got += d.byteLength) >= ctx.size) pp.reply() }) // whole echo back
      return pp.done
    }
  }
}

export default workload
await runIfMain(import.meta.url, workload)
