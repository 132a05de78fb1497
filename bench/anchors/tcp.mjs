// Anchor: one plain kernel TCP connection (node:net, the kernel's default congestion control,
// CUBIC on Linux), no encryption: the flow stt-node must share a real bottleneck with fairly
// (bench/tbf.mjs). Throughput only.
//   node bench/anchors/tcp.mjs throughput [--size 65536] [--seconds S] [--bytes N]
import net from 'node:net'
import { countReadable, pumpWritable } from '../lib/workloads.mjs'
import { runIfMain } from '../lib/cli.mjs'

const bulk = {
  async receiver(ctx) {
    let sock
    const server = net.createServer((s) => { sock = s; resolveConn(s) })
    let resolveConn
    const conn = new Promise((resolve) => { resolveConn = resolve })
    await new Promise((resolve, reject) => { server.once('error', reject); server.listen(ctx.port, ctx.host, resolve) })
    ctx.ready({ port: server.address().port })
    const r = await countReadable(ctx, await conn)
    sock.destroy()
    server.close()
    return { bytes: r.bytes }
  },
  async sender(ctx) {
    const sock = net.connect({ port: ctx.port, host: ctx.host })
    sock.setNoDelay(true)
    await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject) })
    const r = await pumpWritable(ctx, sock)
    return r
  },
}

const workload = {
  name: 'tcp',
  describe: 'plain kernel TCP (node:net), no encryption',
  defaults: { throughput: { size: 65536 } },
  throughput: bulk,
}

export default workload
await runIfMain(import.meta.url, workload)
