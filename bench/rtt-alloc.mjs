// Bytes allocated on the JS heap per round trip of a 64-byte stream ping-pong between two nodes
// in ONE process (native UDP on 127.0.0.1 unless STT_NATIVE=0), and where: V8's sampling heap
// profiler with the objects minor and major GCs collected kept in the profile, so the numbers
// are what was allocated, not what survived. Like bench/rtt-loop-work.mjs the result hardly
// depends on the machine's load (issue 13: garbage per packet is what this tracks).
//   node bench/rtt-alloc.mjs [dist-dir (default ../dist)] [round trips (default 5000)] [top (default 30)]
//   DEPTH=n: callers shown per site (default 1). DATAGRAM=1: the datagram ping-pong instead.
import inspector from 'node:inspector'
import { pingPong } from './lib/ping-pong.mjs'

const dist = process.argv[2] || new URL('../dist', import.meta.url).pathname
const N = Number(process.argv[3] ?? 5000)
const TOP = Number(process.argv[4] ?? 30)
const DEPTH = Number(process.env.DEPTH ?? 1)
const WARM = 500

const session = new inspector.Session()
session.connect()
const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))))
await post('HeapProfiler.enable')

let stopped = null
await pingPong(dist, {
  rounds: N,
  warm: WARM,
  onWarm: () => session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }),
  // Stopped before the nodes are: their teardown is not per-round-trip garbage.
  onDone: () => (stopped = post('HeapProfiler.stopSampling')),
  datagram: process.env.DATAGRAM === '1',
})
const { profile } = await stopped

const name = (cf) => `${cf.functionName || '(anon)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`
const sites = new Map()
let total = 0
const walk = (node, callers) => {
  const here = name(node.callFrame)
  if (node.selfSize) {
    const key = [here, ...callers.slice(0, DEPTH)].join(' <- ')
    sites.set(key, (sites.get(key) ?? 0) + node.selfSize)
    total += node.selfSize
  }
  for (const c of node.children ?? []) walk(c, [here, ...callers])
}
walk(profile.head, [])
console.log(JSON.stringify({ dist, roundTrips: N, bytesPerRT: Math.round(total / N) }))
for (const [k, v] of [...sites].sort((x, y) => y[1] - x[1]).slice(0, TOP)) {
  console.log(`${((100 * v) / total).toFixed(1).padStart(5)} % ${String(Math.round(v / N)).padStart(5)} B/RT  ${k}`)
}
