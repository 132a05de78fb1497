#!/usr/bin/env node
// NAT traversal through real kernel NATs (network namespaces, nftables masquerade; the topology
// of test/helpers/nat-topology.ts): connect time to the first usable (relayed) session and to the
// direct path, and relayed throughput next to direct throughput measured in the same run (the
// anchor). Two members behind endpoint-independent ("cone") NATs go direct; two behind
// symmetric NATs stay relayed. Medians of RUNS runs (default 3). Needs root, iproute2, nftables.
//
//   npm run build && node bench/nat.mjs [--smoke] [--json]      (MIB=64 RUNS=3 by default)
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CHILD = `${ROOT}test/helpers/nat-child.mjs`
const smoke = process.argv.includes('--smoke')
const json = process.argv.includes('--json')
const MIB = Number(process.env.MIB ?? (smoke ? 8 : 64))
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3))
const TAG = `sttnatb${process.pid % 100000}`
const RELAY = '10.240.0.1'

if (process.platform !== 'linux' || process.getuid?.() !== 0 || spawnSync('nft', ['--version']).status !== 0) {
  console.log('bench/nat.mjs: skipped (needs Linux, root and nftables for network namespaces)')
  process.exit(0)
}

const sh = (args, input) => execFileSync(args[0], args.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], input, encoding: 'utf8' })
const namespaces = []
const children = new Set()
function ns(name) {
  sh(['ip', 'netns', 'add', name])
  namespaces.push(name)
  return name
}
function teardown() {
  for (const c of children) c.kill('SIGKILL')
  for (const n of namespaces.splice(0)) spawnSync('ip', ['netns', 'del', n])
}
process.on('exit', teardown)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1))

const pub = ns(`${TAG}p`)
sh(['ip', '-n', pub, 'link', 'set', 'lo', 'up'])
sh(['ip', '-n', pub, 'addr', 'add', `${RELAY}/32`, 'dev', 'lo'])
sh(['ip', 'netns', 'exec', pub, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
const hosts = []
for (const [i, kind] of [[1, 'cone'], [2, 'cone'], [3, 'symmetric'], [4, 'symmetric']]) {
  const nat = ns(`${TAG}n${i}`)
  const host = ns(`${TAG}h${i}`)
  hosts.push(host)
  sh(['ip', 'link', 'add', 'wan', 'netns', nat, 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', pub])
  sh(['ip', 'link', 'add', 'lan', 'netns', nat, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host])
  sh(['ip', '-n', pub, 'addr', 'add', `10.240.${i}.1/24`, 'dev', `p${i}`])
  sh(['ip', '-n', nat, 'addr', 'add', `10.240.${i}.2/24`, 'dev', 'wan'])
  sh(['ip', '-n', nat, 'addr', 'add', `10.241.${i}.1/24`, 'dev', 'lan'])
  sh(['ip', '-n', host, 'addr', 'add', `10.241.${i}.2/24`, 'dev', 'eth0'])
  for (const [n, d] of [[pub, `p${i}`], [nat, 'wan'], [nat, 'lan'], [nat, 'lo'], [host, 'eth0'], [host, 'lo']]) sh(['ip', '-n', n, 'link', 'set', d, 'up'])
  sh(['ip', '-n', nat, 'route', 'add', 'default', 'via', `10.240.${i}.1`])
  sh(['ip', '-n', host, 'route', 'add', 'default', 'via', `10.241.${i}.1`])
  sh(['ip', 'netns', 'exec', nat, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
  sh(['ip', 'netns', 'exec', nat, 'nft', '-f', '-'], `table ip sttnat {
  chain postrouting { type nat hook postrouting priority 100; policy accept; oifname "wan" ${kind === 'symmetric' ? 'masquerade random,fully-random' : 'masquerade'}; }
  chain inbound { type filter hook input priority 0; policy accept; iifname "wan" ct state new drop; }
  chain forwarding { type filter hook forward priority 0; policy accept; iifname "wan" ct state new drop; }
}`)
}

function child(nsName, args, env) {
  const p = spawn('ip', ['netns', 'exec', nsName, process.execPath, CHILD, ...args], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } })
  children.add(p)
  const lines = []
  let waiters = []
  createInterface({ input: p.stdout }).on('line', (l) => {
    let m
    try { m = JSON.parse(l) } catch { return }
    lines.push(m)
    waiters = waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true))
  })
  return {
    send: (m) => p.stdin.write(`${JSON.stringify(m)}\n`),
    next: (pred, ms = 60_000) => {
      const hit = lines.find(pred)
      if (hit) { lines.splice(lines.indexOf(hit), 1); return Promise.resolve(hit) }
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('bench/nat.mjs: child timed out')), ms)
        waiters.push({ pred, resolve: (m) => { clearTimeout(t); lines.splice(lines.indexOf(m), 1); resolve(m) } })
      })
    },
    kill: () => p.kill('SIGKILL'),
  }
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]
const results = { connectRelayedMs: [], directAfterMs: [], directMBs: [], relayedMBs: [] }
for (let run = 0; run < RUNS; run++) {
  const env = { STT_SEED: randomBytes(32).toString('hex') }
  const relay = child(pub, ['relay', RELAY, 'true'], env)
  await relay.next((m) => m.event === 'ready')
  const m = []
  for (let i = 0; i < 4; i++) {
    const c = child(hosts[i], [`m${i}`, '0.0.0.0', `udp://${RELAY}:7000`], env)
    const r = await c.next((x) => x.event === 'registered')
    m.push({ c, id: r.nodeId })
  }
  const measure = async (a, b) => {
    const t0 = performance.now()
    m[a].c.send({ cmd: 'send', bytes: MIB << 20 })
    await m[b].c.next((x) => x.event === 'received', 300_000)
    return (MIB * 1.048576) / ((performance.now() - t0) / 1000)
  }
  m[0].c.send({ cmd: 'connect', target: m[1].id })
  const d = await m[0].c.next((x) => x.event === 'connected')
  results.connectRelayedMs.push(d.ms)
  const direct = d.path === 'direct' ? d : await m[0].c.next((x) => x.event === 'path' && x.path === 'direct', 10_000)
  results.directAfterMs.push(direct.ms)
  results.directMBs.push(await measure(0, 1))
  m[2].c.send({ cmd: 'connect', target: m[3].id })
  const r = await m[2].c.next((x) => x.event === 'connected')
  results.connectRelayedMs.push(r.ms)
  results.relayedMBs.push(await measure(2, 3))
  for (const x of [relay, ...m.map((y) => y.c)]) x.kill()
  for (const c of children) c.kill('SIGKILL')
  children.clear()
  await new Promise((res) => setTimeout(res, 200))
}
const out = {
  runs: RUNS,
  mib: MIB,
  connectRelayedMsMedian: median(results.connectRelayedMs),
  directPathAfterMsMedian: median(results.directAfterMs),
  directMBsMedian: median(results.directMBs),
  relayedMBsMedian: median(results.relayedMBs),
  relayedVsDirect: median(results.relayedMBs) / median(results.directMBs),
}
if (json) console.log(JSON.stringify(out))
else {
  console.log(`NAT traversal (${RUNS} runs, ${MIB} MiB, median; the direct path is the anchor):`)
  console.log(`  connect (session usable, relayed)   ${out.connectRelayedMsMedian} ms`)
  console.log(`  direct path in place after connect  ${out.directPathAfterMsMedian} ms (from the connect call)`)
  console.log(`  throughput direct                   ${out.directMBsMedian.toFixed(1)} MB/s`)
  console.log(`  throughput relayed                  ${out.relayedMBsMedian.toFixed(1)} MB/s  = ${out.relayedVsDirect.toFixed(2)}x direct`)
}
process.exit(0)
