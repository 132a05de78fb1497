#!/usr/bin/env node
// The emulator's own CPU per relayed packet, at a fixed offered rate, for a clean link and for the
// same link with jitter; plus its ceiling (raw UDP as fast as the blaster sends) on each link.
// Why it matters: on this machine sender, receiver and emulator share 2 vCPUs, so whatever the
// emulator spends on a path is CPU the two endpoints lose there (bench/README.md, "Jitter where the
// CPU does not set the rate").
//   node bench/netem/cost.mjs [--rate 600] [--rounds 3] [--seconds 3] [--smoke]
import { parseArgs } from 'node:util'
import { cpuSecondsOf } from '../lib/proc.mjs'
import { ensureBuilt } from './build.mjs'
import { measureCeiling, runJson, startEmu } from './emu.mjs'

const { values: cli } = parseArgs({
  options: { rate: { type: 'string', default: '600' }, rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '3' }, smoke: { type: 'boolean', default: false } },
})
const rateMbit = Number(cli.rate)
const rounds = cli.smoke ? 1 : Number(cli.rounds)
const seconds = cli.smoke ? 0.3 : Number(cli.seconds)
const LINKS = { clean: { delay: '1ms' }, '1 ms jitter': { delay: '1ms', jitter: '1ms' } }
const bins = ensureBuilt({ quiet: true })

// 1472-byte datagrams at rateMbit through an emulator with `link`: what arrived, and the emulator's CPU.
async function atRate(link) {
  let portOf
  const portP = new Promise((resolve) => (portOf = resolve))
  const sink = runJson(bins['udp-blast'], ['recv', '--seconds', String(seconds + 10), '--idle-ms', '400'], (m) => portOf(m.port))
  const emu = await startEmu({ targets: [await portP], link })
  try {
    const cpu0 = cpuSecondsOf(emu.proc.pid)
    await runJson(bins['udp-blast'], ['send', '--to', String(emu.pairs[0].listen), '--size', '1472', '--seconds', String(seconds), '--rate', String(rateMbit * 1e6)])
    const got = await sink
    const cpu = cpuSecondsOf(emu.proc.pid) - cpu0
    return { mbps: got.mbps, cpuShare: cpu / seconds, usPerPacket: (cpu * 1e6) / Math.max(1, got.pkts) }
  } finally {
    await emu.stop()
  }
}

const f = (x, d = 2) => x.toFixed(d)
for (let r = 1; r <= rounds; r++) {
  for (const [name, link] of Object.entries(LINKS)) {
    const a = await atRate(link)
    const c = await measureCeiling({ link, seconds: cli.smoke ? 0.3 : 1.5 })
    console.log(`[${r}/${rounds}] ${name}: at ${rateMbit} Mbit/s offered, ${f(a.mbps, 0)} arrived; emulator CPU ${f(a.cpuShare)} of a core, ${f(a.usPerPacket)} µs per packet; ceiling ${f(c.mbps, 0)} Mbit/s`)
  }
}
