// Event-loop work per round trip of a 64-byte stream ping-pong between two nodes in ONE process
// (native UDP on 127.0.0.1 unless STT_NATIVE=0): setTimeout / clearTimeout / setImmediate /
// queueMicrotask / process.nextTick calls per round trip, both sides together. The counts are
// deterministic (not timing), so they compare builds on a loaded machine; wall and CPU per round
// trip are printed too but are as noisy as the machine. Needs `npm run build`.
//   node bench/rtt-loop-work.mjs [dist-dir (default ../dist)] [round trips (default 5000)]
import { pingPong } from './lib/ping-pong.mjs'
const dist = process.argv[2] || new URL('../dist', import.meta.url).pathname
const counts = { setTimeout: 0, clearTimeout: 0, setImmediate: 0, queueMicrotask: 0, nextTick: 0 }
const wrap = (obj, name) => {
  const orig = obj[name]
  obj[name] = function (...a) {
    if (counting) counts[name]++
    return orig.apply(this, a)
  }
}
let counting = false
wrap(globalThis, 'setTimeout')
wrap(globalThis, 'clearTimeout')
wrap(globalThis, 'setImmediate')
wrap(globalThis, 'queueMicrotask')
wrap(process, 'nextTick')
const N = Number(process.argv[3] ?? 5000)
let t0 = 0
let cpu0 = null
let wallUs = 0
let cpu = null
await pingPong(dist, {
  rounds: N,
  warm: 500,
  onWarm: () => {
    counting = true
    t0 = performance.now()
    cpu0 = process.cpuUsage()
  },
  onDone: () => {
    counting = false
    wallUs = (performance.now() - t0) * 1000
    cpu = process.cpuUsage(cpu0)
  },
})
const per = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, +(v / N).toFixed(2)]))
console.log(JSON.stringify({ dist, perRoundTrip: per, wallUsPerRT: +(wallUs / N).toFixed(1), cpuUsPerRT: +((cpu.user + cpu.system) / N).toFixed(1) }))
