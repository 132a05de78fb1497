// Packets and CPU per request of a stream request/response (64 bytes, or --size) on 127.0.0.1 (two nodes in
// ONE process, native UDP unless STT_NATIVE=0) when the server answers `think` ms after each
// request, as a server that does work per request. What it is for: the receiver's ACK policy.
// A reply sent before the ACK timer fires carries the ACK; one sent after it follows an ACK-only
// packet of its own. Packet counts are the pinging session's (both directions: sent = requests +
// its ACK-only packets, received = replies + the server's ACK-only packets), deterministic enough
// to compare builds on a loaded machine; CPU per request is as noisy as the machine. Each run
// first does --warm round trips answered at once (default 5000): with 50, CPU per request at
// 0 ms think time read 326 µs, with 3000 41 µs (V8 had not yet optimized the path).
// Node's timers round a delay below 1 ms up to 1 ms, so think times are 0 or >= 1.
//   node bench/rpc-think.mjs [--think 0,1,2,10] [--size 64] [--count 400] [--warm 5000] [--repeat 3] [--json] [--smoke] [dist-dir ...]
// Several dist directories (each beside its own build/) are measured in turn, one child process
// per run, interleaved over the repeats. Needs `npm run build`.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from './lib/args.mjs'
import { pingPong } from './lib/ping-pong.mjs'
import { median } from './lib/stats.mjs'

const here = fileURLToPath(import.meta.url)
const args = parseArgs()

if (args.child) {
  const { think, count, dist, size, warm } = JSON.parse(args.child)
  let before, cpu0
  let after, cpu
  await pingPong(dist, {
    rounds: count,
    warm,
    thinkMs: think,
    size,
    onWarm: (s) => {
      before = s.getStats()
      cpu0 = process.cpuUsage()
    },
    onDone: (s) => {
      cpu = process.cpuUsage(cpu0)
      after = s.getStats()
    },
  })
  const per = (k) => (after[k] - before[k]) / count
  console.log(JSON.stringify({ sent: per('packetsSent'), received: per('packetsReceived'), cpuUs: (cpu.user + cpu.system) / count }))
  process.exit(0)
}

const thinks = String(args.think ?? (args.smoke ? '2' : '0,1,2,10')).split(',').map(Number)
const count = args.count ?? (args.smoke ? 40 : 400)
const size = args.size ?? 64
const warm = args.warm ?? (args.smoke ? 50 : 5000)
const repeat = args.repeat ?? (args.smoke ? 1 : 3)
const dists = args._.length > 0 ? args._ : [fileURLToPath(new URL('../dist', import.meta.url))]

const runs = new Map()
for (let r = 0; r < repeat; r++) {
  for (const think of thinks) {
    for (const dist of dists) {
      const out = execFileSync(process.execPath, [here, '--child', JSON.stringify({ think, count, dist, size, warm })], { encoding: 'utf8', timeout: 120_000 })
      const key = `${dist}\t${think}`
      if (!runs.has(key)) runs.set(key, [])
      runs.get(key).push(JSON.parse(out.trim().split('\n').pop()))
    }
  }
}
const rows = [...runs].map(([key, rs]) => {
  const [dist, think] = key.split('\t')
  return { dist, thinkMs: Number(think), packetsSentPerRequest: median(rs.map((x) => x.sent)), packetsReceivedPerRequest: median(rs.map((x) => x.received)), cpuUsPerRequest: median(rs.map((x) => x.cpuUs)), runs: rs.length }
})
if (args.json) console.log(JSON.stringify({ count, size, repeat, rows }, null, 2))
else {
  console.log(`# rpc-think: ${count} requests of ${size} bytes per run, medians of ${repeat} run(s)\n`)
  console.log('| dist | think (ms) | packets sent / request | packets received / request | CPU µs / request |')
  console.log('|---|---:|---:|---:|---:|')
  for (const r of rows) console.log(`| ${r.dist} | ${r.thinkMs} | ${r.packetsSentPerRequest.toFixed(2)} | ${r.packetsReceivedPerRequest.toFixed(2)} | ${r.cpuUsPerRequest.toFixed(0)} |`)
}
