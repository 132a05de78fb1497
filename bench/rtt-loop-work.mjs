// Event-loop work per round trip of a 64-byte stream ping-pong between two nodes in ONE process
// (native UDP on 127.0.0.1 unless STT_NATIVE=0): setTimeout / clearTimeout / setImmediate /
// queueMicrotask / process.nextTick calls per round trip, both sides together. The counts are
// deterministic (not timing), so they compare builds on a loaded machine; wall and CPU per round
// trip are printed too but are as noisy as the machine. Needs `npm run build`.
//   node bench/rtt-loop-work.mjs [dist-dir (default ../dist)] [round trips (default 5000)]
const dist = process.argv[2] || new URL('../dist', import.meta.url).pathname
const { STTNode } = await import(`${dist}/index.js`)
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
const sharedSeed = Buffer.alloc(32, 7)
const b = new STTNode({ sharedSeed, host: '127.0.0.1', port: 0 })
const bound = await b.start()
b.on('session', (s) => s.on('stream', (st) => st.on('data', (d) => st.write(d))))
const a = new STTNode({ sharedSeed, host: '127.0.0.1', port: 0 })
await a.start()
const session = await a.connect(`udp://127.0.0.1:${bound.port}`)
const st = session.openStream({ noDelay: true })
const buf = Buffer.alloc(64, 0x78)
const N = Number(process.argv[3] ?? 5000)
const WARM = 500
let i = 0
let got = 0
let t0 = 0
const cpu0 = { v: null }
await new Promise((resolve) => {
  st.on('data', (d) => {
    if ((got += d.length) < 64) return
    got = 0
    i++
    if (i === WARM) {
      counting = true
      t0 = performance.now()
      cpu0.v = process.cpuUsage()
    }
    if (i === WARM + N) {
      counting = false
      resolve()
      return
    }
    st.write(buf)
  })
  st.write(buf)
})
const cpu = process.cpuUsage(cpu0.v)
const per = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, +(v / N).toFixed(2)]))
console.log(JSON.stringify({ dist, perRoundTrip: per, wallUsPerRT: +((performance.now() - t0) * 1000 / N).toFixed(1), cpuUsPerRT: +((cpu.user + cpu.system) / N).toFixed(1) }))
await a.stop()
await b.stop()
