// User-space instructions per received-and-answered packet of a 64-byte stream ping-pong between
// two nodes in ONE process (native UDP on 127.0.0.1), and how many of them the N-API crossings
// and the addon take: valgrind's callgrind, collecting only inside the native receive callback
// (UdpSocket::OnPoll: recvmmsg -> JS -> openBatch -> ... -> sealBatch -> sendmmsg, i.e. all of a
// packet's work but the epoll wait and the kernel). Two runs of different lengths are subtracted,
// so start-up, warm-up and JIT compilation cancel out. Instruction counts do not depend on the
// machine's load, so builds compare on a busy machine (issue 13); JavaScript's share varies by
// ~5 % between runs (JIT timing), the native rows by well under 1 %. Needs valgrind and
// `npm run build`; takes minutes (about 50x slower than native).
//   node bench/rtt-instructions.mjs [dist-dir (default ../dist)] [round trips (default 2000)]
//   DATAGRAM=1: the datagram ping-pong (sendDatagram / 'datagram') instead of the stream one.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const dist = resolve(process.argv[2] || new URL('../dist', import.meta.url).pathname)
const N = Number(process.argv[3] ?? 2000)
const WARM = 500
const pingPong = new URL('./lib/ping-pong.mjs', import.meta.url).href
const script = `const { pingPong } = await import(${JSON.stringify(pingPong)}); await pingPong(${JSON.stringify(dist)}, { rounds: Number(process.argv[1]), warm: ${WARM}, onWarm() {}, onDone() {}, datagram: ${process.env.DATAGRAM === '1'} })`
const dir = mkdtempSync(join(tmpdir(), 'stt-rtt-instr-'))

/** Inclusive instructions per function (callgrind_annotate) of one run of `rounds` round trips. */
function run(rounds) {
  const out = join(dir, `cg.${rounds}`)
  const r = spawnSync(
    'valgrind',
    ['--tool=callgrind', '--smc-check=all-non-file', "--toggle-collect=stt::(anonymous namespace)::UdpSocket::OnPoll*", `--callgrind-out-file=${out}`, process.execPath, '--input-type=module', '-e', script, String(rounds)],
    { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
  )
  if (r.status !== 0) throw new Error(`valgrind failed (${r.status}): ${r.stderr.slice(-2000)}`)
  const text = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', out], { encoding: 'utf8', maxBuffer: 1 << 28 })
  const incl = new Map()
  for (const line of text.split('\n')) {
    const m = /^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$/.exec(line)
    // callgrind names recursion levels name'2, name'3...: the outermost level is the inclusive cost.
    if (m && !m[2].includes("'")) incl.set(m[2], Number(m[1].replaceAll(',', '')))
  }
  return incl
}

const rows = [
  ['everything inside the receive callback', /PROGRAM TOTALS/],
  ['  JavaScript (and what it calls)', /Builtins_JSEntry \[/],
  ['  recvmmsg round (user space)', /UdpCore::RecvRound/],
  ['JS -> C++ calls, all (glue + work)', /v8impl::.*FunctionCallbackWrapper::Invoke/],
  ['  napi_get_typedarray_info', /napi_get_typedarray_info/],
  ['  napi_unwrap', /napi_unwrap/],
  ['  AEAD seal (C++ work)', /stt::AeadKey::SealBatch/],
  ['  AEAD open (C++ work)', /stt::AeadKey::OpenBatch/],
  ['  sendmmsg batch (user space)', /UdpCore::SendBatch/],
]
try {
  const short = run(Math.round(N / 4))
  const long = run(N + Math.round(N / 4))
  // Each round trip is two packets, each received and answered once.
  const packets = 2 * N
  const per = (re) => {
    let v = 0
    for (const [name, n] of long) if (re.test(name)) v = Math.max(v, (n - (short.get(name) ?? 0)) / packets)
    return v
  }
  const result = Object.fromEntries(rows.map(([label, re]) => [label, Math.round(per(re))]))
  console.log(JSON.stringify({ dist, roundTrips: N, datagram: process.env.DATAGRAM === '1', instructionsPerPacket: result }, null, 1))
} finally {
  rmSync(dir, { recursive: true, force: true })
}
