// Our library: one STT stream between two processes on loopback.
//   node bench/workloads/stt.mjs throughput|msgrate|rtt [--mode udp|udp-nogso|ws|ws-full|msg|datagram] [--size N] ...
// --mode udp (default): UDP (native mmsg/GSO/GRO transport when the addon loaded, node:dgram
// with STT_NATIVE=0); ws: WebSocket in bare mode (TCP does delivery); ws-full: WebSocket with
// STT's own reliability on. The backend (native addon or pure TypeScript) follows STT_NATIVE.
// The handshake is not timed. Needs `npm run build` first (imports ../../dist).
import { appendFileSync } from 'node:fs'
import { STTNode, backend } from '../../dist/index.js'
import { countReadable, pumpWritable, pingPong } from '../lib/workloads.mjs'
import { runIfMain } from '../lib/cli.mjs'

const sharedSeed = Buffer.alloc(32, 7) // benchmark-only fixed seed
const transportOf = (ctx) => (ctx.mode === 'ws' || ctx.mode === 'ws-full' ? 'websocket' : 'udp')

// --mode udp-nogso: the native UDP transport with GSO and GRO switched off (one syscall
// entry per datagram, as a kernel without them would have).
const offload = (ctx) => (ctx.mode === 'udp-nogso' ? { gso: false, gro: false } : {})

// --cc bbr|cubic|newreno: the congestion controller (STTNode option congestionControl); unset
// = the library's default.
const ccOpt = (ctx) => (ctx.cc ? { congestionControl: ctx.cc } : {})

async function listen(ctx) {
  const node = new STTNode({ sharedSeed, host: ctx.host, port: ctx.port ?? 0, transport: transportOf(ctx), ...offload(ctx), ...ccOpt(ctx) })
  const bound = await node.start()
  let session = null
  const stream = new Promise((resolve) => node.on('session', (s) => { session = s; s.on('stream', resolve) }))
  ctx.ready({ port: bound.port })
  return { node, stream: await stream, session }
}

async function dial(ctx) {
  // bindHost: where the dialling node binds when ctx.host is not a local address (the receiver
  // in another network namespace, bench/tbf.mjs)
  const node = new STTNode({ sharedSeed, host: ctx.bindHost ?? ctx.host, port: 0, transport: transportOf(ctx), ...offload(ctx), ...ccOpt(ctx) })
  await node.start()
  const mode = ctx.mode ?? 'udp'
  const url = transportOf(ctx) === 'udp' ? `udp://${ctx.host}:${ctx.port}` : `ws://${ctx.host}:${ctx.port}/stt`
  const session = await node.connect(url, { fullReliability: mode === 'ws-full' })
  const stream = session.openStream({ noDelay: ctx.kind === 'rtt' })
  return { node, session, stream }
}

const sessionExtra = (session) => {
  const s = session.getStats()
  const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : undefined)
  // the congestion controller's own view, when getStats() has it (name is a string: kept per run)
  const cc = s.congestion ?? s.congestionControl ?? s.cc
  return {
    backend,
    lost_packets: s.lostPackets,
    loss_pct: s.packetsSent ? (100 * s.lostPackets) / s.packetsSent : 0,
    cwnd: s.cwnd,
    srtt_ms: num(s.rtt),
    min_rtt_ms: num(s.minRtt),
    congestion_events: num(s.congestionEvents),
    spurious_losses: num(s.spuriousLosses ?? cc?.spuriousLosses),
    reordering_window_ms: num(s.reorderingWindow),
    bw_estimate_mbps: num(cc?.bandwidth) === undefined ? undefined : (cc.bandwidth * 8) / 1e6, // bytes/s
    cc: typeof cc === 'string' ? cc : [cc?.controller, cc?.name].find((x) => typeof x === 'string'),
    cc_phase: typeof cc?.phase === 'string' ? cc.phase : undefined,
  }
}

// STT_BENCH_COUNTERS=1: each role adds its session's and transport's counters per MiB delivered
// (prefix tx_ / rx_) to the run's metrics: packets sent and received, retransmissions, spurious
// losses and undos, congestion events, PTOs, packet size, PMTU probes, send and receive system
// calls and receive callbacks (diagnosis: what costs CPU per byte on one path and not another).
function counters(prefix, node, session, bytes) {
  if (!process.env.STT_BENCH_COUNTERS) return {}
  const s = session.getStats()
  const t = Object.values(node.getTransportStats().transports ?? {}).find((x) => x.sendSyscalls !== undefined) ?? {}
  const mib = bytes / 2 ** 20
  const per = (x) => (typeof x === 'number' && mib > 0 ? x / mib : undefined)
  return {
    [`${prefix}pkts_sent_per_mib`]: per(s.packetsSent),
    [`${prefix}pkts_recv_per_mib`]: per(s.packetsReceived),
    [`${prefix}lost_per_mib`]: per(s.lostPackets),
    [`${prefix}spurious_per_mib`]: per(s.spuriousLosses),
    [`${prefix}undos_per_mib`]: per(s.congestionUndos),
    [`${prefix}cong_events_per_mib`]: per(s.congestionEvents),
    [`${prefix}pto_per_mib`]: per(s.ptoCount),
    [`${prefix}packet_size`]: s.pmtu?.current,
    [`${prefix}pmtu_probes`]: s.pmtu?.probesSent,
    [`${prefix}pmtu_probes_lost`]: s.pmtu?.probesLost,
    [`${prefix}black_holes`]: s.pmtu?.blackHoles,
    [`${prefix}reo_wnd_ms`]: s.reorderingWindow,
    [`${prefix}send_syscalls_per_mib`]: per(t.sendSyscalls),
    [`${prefix}recv_syscalls_per_mib`]: per(t.recvSyscalls),
    [`${prefix}recv_callbacks_per_mib`]: per(t.recvCallbacks),
    [`${prefix}udp_pkts_sent_per_mib`]: per(t.packetsSent),
    [`${prefix}udp_pkts_recv_per_mib`]: per(t.packetsReceived),
  }
}

// STT_BENCH_TRACE=FILE: the sender's congestion state every 10 ms, one JSON line each (ms since
// the start, phase, bandwidth estimate and pacing rate in Mbit/s, cwnd, srtt and min RTT, bytes
// in flight, lost packets, spurious losses and undos, reordering window, PTO count, packet size, the stream's send credit and send buffer), for diagnosing a run; each run of a bench appends its own block.
function traceCongestion(session, stream) {
  const file = process.env.STT_BENCH_TRACE
  if (!file) return () => {}
  const t0 = performance.now()
  const lines = []
  const timer = setInterval(() => {
    const s = session.getStats()
    const cc = s.congestion ?? {}
    const ss = stream?.getStats?.() ?? null
    const mbps = (x) => (typeof x === 'number' ? +((x * 8) / 1e6).toFixed(1) : undefined)
    lines.push(JSON.stringify({ t: Math.round(performance.now() - t0), phase: cc.phase, bw: mbps(cc.bandwidth), pacing: mbps(cc.pacingRate), cwnd: s.cwnd, inflight: s.bytesInFlight, srtt: +s.rtt?.toFixed(1), minRtt: +s.minRtt?.toFixed(1), lost: s.lostPackets, spurious: s.spuriousLosses, undos: s.congestionUndos, reo: +s.reorderingWindow?.toFixed(2), sent: s.packetsSent, pto: s.ptoCount, size: s.maxPacketSize, credit: ss?.sendCredit, buffered: ss?.sendBuffered }))
  }, 10)
  return () => {
    clearInterval(timer)
    appendFileSync(file, `# run ${new Date().toISOString()}\n${lines.join('\n')}\n`)
  }
}

// Byte stream: like a raw udx stream, writes are coalesced into packets, so msg/s = bytes / size.
const bulk = {
  async receiver(ctx) {
    const { node, stream, session } = await listen(ctx)
    const r = await countReadable(ctx, stream)
    // close: after a warm-up pass (the sender has stopped its node by then)
    return { bytes: r.bytes, extra: counters('rx_', node, session, r.bytes), close: () => node.stop() }
  },
  async sender(ctx) {
    const { node, session, stream } = await dial(ctx)
    const stopTrace = ctx.warming ? () => {} : traceCongestion(session, stream)
    const r = await pumpWritable(ctx, stream)
    stopTrace()
    const extra = sessionExtra(session)
    // 'finish' only means handed to STT: wait until the peer acknowledged everything before
    // this process exits (outside the measured window). Over WebSocket in bare mode 'acked'
    // means handed to the connection, so stop the node too: its graceful close flushes what the
    // connection still buffers, where exiting at once could reset it under the last packets.
    await session.close('done')
    // counted once everything was acknowledged (the writer stops while much is still buffered)
    Object.assign(extra, counters('tx_', node, session, r.bytes))
    await node.stop()
    return { ...r, extra }
  },
}

// --mode msg: whole messages with boundaries (session.send -> the peer's 'message' events),
// the counterpart of secret-stream's one-frame-per-write.
const messages = {
  async receiver(ctx) {
    const node = new STTNode({ sharedSeed, host: ctx.host, port: ctx.port ?? 0 })
    const bound = await node.start()
    let bytes = 0
    let msgs = 0
    const done = new Promise((resolve) => {
      node.on('session', (s) => {
        s.on('message', (m) => {
          if (msgs === 0) ctx.startClock()
          msgs++
          bytes += m.data.length
          if (m.data.length === 0) {
            msgs--
            ctx.stopClock()
            resolve()
          }
        })
      })
    })
    ctx.ready({ port: bound.port })
    await done
    return { bytes, msgs }
  },
  async sender(ctx) {
    const node = new STTNode({ sharedSeed, host: ctx.host, port: 0 })
    await node.start()
    const session = await node.connect(`udp://${ctx.host}:${ctx.port}`)
    const buf = Buffer.alloc(ctx.size, 0x61)
    const end = performance.now() + ctx.seconds * 1000
    const maxBytes = ctx.bytes || Infinity
    let bytes = 0
    let msgs = 0
    ctx.startClock()
    while (bytes < maxBytes && (msgs & 255 || performance.now() < end)) {
      const p = session.send(buf)
      bytes += buf.length
      msgs++
      if (msgs % 64 === 0) await p // let backpressure (a full send buffer) hold us
    }
    await session.send(Buffer.alloc(0)) // end marker
    ctx.stopClock()
    // send() resolves once a message is buffered, not delivered: 2 MiB of 64-byte messages
    // took 150-250 ms to drain on loopback after the last send, so a fixed pause before exiting
    // could leave the receiver waiting for the end marker forever. Close gracefully (it waits
    // until the peer acknowledged everything), outside the measured window.
    const extra = sessionExtra(session)
    await session.close('done')
    await node.stop()
    return { bytes, msgs, extra }
  },
}

// --mode datagram (rtt): unreliable datagrams (session.sendDatagram / 'datagram'), the
// counterpart of a plain node:dgram ping-pong. A lost ping is re-sent after 200 ms.
async function datagramEcho(ctx) {
  const node = new STTNode({ sharedSeed, host: ctx.host, port: ctx.port ?? 0 })
  const bound = await node.start()
  let msgs = 0
  node.on('session', (s) =>
    s.on('datagram', (d) => {
      if (msgs++ === 0) ctx.startClock()
      s.sendDatagram(d)
    }),
  )
  ctx.ready({ port: bound.port })
  await ctx.peerDone()
  return { msgs }
}

async function datagramPing(ctx) {
  const node = new STTNode({ sharedSeed, host: ctx.host, port: 0 })
  await node.start()
  const session = await node.connect(`udp://${ctx.host}:${ctx.port}`)
  const buf = Buffer.alloc(ctx.size, 0x78)
  const pp = pingPong(ctx, () => session.sendDatagram(buf), { timeoutMs: 200 })
  session.on('datagram', () => pp.reply())
  return pp.done
}

const workload = {
  name: 'stt',
  describe: 'stt-node: one encrypted reliable stream (--mode udp|ws|ws-full; backend from STT_NATIVE)',
  defaults: { throughput: { mode: 'udp', size: 65536 }, msgrate: { mode: 'udp', size: 64 }, rtt: { mode: 'udp', size: 64 } },
  throughput: bulk,
  msgrate: {
    receiver: (ctx) => ((ctx.mode ?? 'udp') === 'msg' ? messages.receiver(ctx) : bulk.receiver(ctx)),
    sender: (ctx) => ((ctx.mode ?? 'udp') === 'msg' ? messages.sender(ctx) : bulk.sender(ctx)),
  },
  rtt: {
    async receiver(ctx) {
      if (ctx.mode === 'datagram') return datagramEcho(ctx)
      const { stream } = await listen(ctx)
      let msgs = 0
      // The sender's process exits when it is done: its session, and this stream, go away.
      stream.on('error', () => {})
      stream.on('data', (d) => {
        if (msgs++ === 0) ctx.startClock()
        stream.write(d)
      })
      await ctx.peerDone()
      return { msgs }
    },
    async sender(ctx) {
      if (ctx.mode === 'datagram') return datagramPing(ctx)
      const { stream } = await dial({ ...ctx, kind: 'rtt' })
      const buf = Buffer.alloc(ctx.size, 0x78)
      let got = 0
      const pp = pingPong(ctx, () => {
        got = 0
        stream.write(buf)
      })
      stream.on('data', (d) => {
        if ((got += d.byteLength) >= ctx.size) pp.reply()
      })
      return pp.done
    },
  },
}

export default workload
await runIfMain(import.meta.url, workload)
