// Bytes allocated on the JS heap per round trip of a 64-byte stream ping-pong between two nodes
// in ONE process (native UDP on 127.0.0.1 unless STT_NATIVE=0), and where: V8's sampling heap
// profiler with the objects minor and major GCs collected kept in the profile, so the numbers
// are what was allocated, not what survived. Like bench/rtt-loop-work.mjs the result hardly
// depends on the machine's load (issue 13: garbage per packet is what this tracks).
//   node bench/rtt-alloc.mjs [dist-dir (default ../dist)] [round trips (default 5000)] [top (default 30)]
//   DEPTH=n: callers shown per site (default 1).
import inspector from 'node:inspector'

const dist = process.argv[2] || new URL('../dist', import.meta.url).pathname
const N = Number(process.argv[3] ?? 5000)
const TOP = Number(process.argv[4] ?? 30)
const DEPTH = Number(process.env.DEPTH ?? 1)
const WARM = 500

const session = new inspector.Session()
session.connect()
const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))))
await post('HeapProfiler.enable')

const { STTNode } = await import(`${dist}/index.js`)
const sharedSeed = Buffer.alloc(32, 7)
const b = new STTNode({ sharedSeed, host: '127.0.0.1', port: 0 })
const bound = await b.start()
b.on('session', (s) => s.on('stream', (st) => st.on('data', (d) => st.write(d))))
const a = new STTNode({ sharedSeed, host: '127.0.0.1', port: 0 })
await a.start()
const st = (await a.connect(`udp://127.0.0.1:${bound.port}`)).openStream({ noDelay: true })
const buf = Buffer.alloc(64, 0x78)
let i = 0
let got = 0
await new Promise((resolve) => {
  st.on('data', (d) => {
    if ((got += d.length) < 64) return
    got = 0
    i++
    if (i === WARM) {
      session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
    }
    if (i === WARM + N) return resolve()
    st.write(buf)
  })
  st.write(buf)
})
const { profile } = await post('HeapProfiler.stopSampling')
await a.stop()
await b.stop()

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
