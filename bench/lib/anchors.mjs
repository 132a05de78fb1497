// The anchor set: the peers our library's figures are reported against, measured in the same
// run. Other bench scripts do:
//   import { runAnchors } from './lib/anchors.mjs'
//   const anchors = await runAnchors({ which: 'udx,ws', repeat: 3, smoke: false })
// and compare their own runSet() results with these (stats.ratio(ours.median, anchor.median)).
import { runSet, environment } from './runset.mjs'

const KiB = 1024
// id = transport/kind/size[/variant]. RTTs come three ways, because on this VM an unpinned
// ping-pong is bimodal: the scheduler sometimes puts both processes on one vCPU (~25 us) and
// sometimes on two (~70-100 us, the cross-vCPU wake-up dominates). /pinned = both on vCPU 0
// (the software path, stable); /split = receiver on vCPU 0, sender on vCPU 1 (stable cross-vCPU
// figure). `optional` entries run only when --which selects them (or --which all).
export const ANCHORS = [
  { id: 'udx-secret/throughput/65536', workload: 'udx', kind: 'throughput', opts: { mode: 'secret', size: 64 * KiB } },
  { id: 'udx-secret/msgrate/64', workload: 'udx', kind: 'msgrate', opts: { mode: 'secret', size: 64 } },
  { id: 'udx-secret/rtt/64', workload: 'udx', kind: 'rtt', opts: { mode: 'secret', size: 64 } },
  { id: 'ws/throughput/1048576', workload: 'ws', kind: 'throughput', opts: { size: 1024 * KiB } },
  { id: 'ws/throughput/1200', workload: 'ws', kind: 'throughput', opts: { size: 1200 } },
  { id: 'ws/msgrate/64', workload: 'ws', kind: 'msgrate', opts: { size: 64 } },
  { id: 'ws/rtt/64', workload: 'ws', kind: 'rtt', opts: { size: 64 } },
  { id: 'dgram/throughput/1200', workload: 'dgram', kind: 'throughput', opts: { size: 1200 } },
  { id: 'dgram/throughput/1472', workload: 'dgram', kind: 'throughput', opts: { size: 1472 } },
  { id: 'dgram/rtt/64', workload: 'dgram', kind: 'rtt', opts: { size: 64 } },
  { id: 'udx-secret/rtt/64/pinned', workload: 'udx', kind: 'rtt', opts: { mode: 'secret', size: 64, pin: '0' } },
  { id: 'ws/rtt/64/pinned', workload: 'ws', kind: 'rtt', opts: { size: 64, pin: '0' } },
  { id: 'dgram/rtt/64/pinned', workload: 'dgram', kind: 'rtt', opts: { size: 64, pin: '0' } },
  // optional
  { id: 'udx-raw/throughput/65536', workload: 'udx', kind: 'throughput', opts: { mode: 'raw', size: 64 * KiB }, optional: true },
  { id: 'udx-raw/msgrate/64', workload: 'udx', kind: 'msgrate', opts: { mode: 'raw', size: 64 }, optional: true },
  { id: 'udx-raw/rtt/64', workload: 'udx', kind: 'rtt', opts: { mode: 'raw', size: 64 }, optional: true },
  { id: 'dgram/msgrate/64', workload: 'dgram', kind: 'msgrate', opts: { size: 64 }, optional: true },
  { id: 'udx-secret/rtt/64/split', workload: 'udx', kind: 'rtt', opts: { mode: 'secret', size: 64, pin: '0,1' }, optional: true },
  { id: 'ws/rtt/64/split', workload: 'ws', kind: 'rtt', opts: { size: 64, pin: '0,1' }, optional: true },
  { id: 'dgram/rtt/64/split', workload: 'dgram', kind: 'rtt', opts: { size: 64, pin: '0,1' }, optional: true }
]

// which: undefined -> the default (non-optional) set; 'all' -> everything; otherwise a comma
// list of id substrings, e.g. 'udx-secret,ws/rtt' or 'pinned'.
export function selectAnchors(which) {
  if (!which) return ANCHORS.filter((a) => !a.optional)
  if (which === 'all') return ANCHORS
  const terms = String(which).split(',').map((t) => t.trim()).filter(Boolean)
  const sel = ANCHORS.filter((a) => terms.some((t) => a.id.includes(t)))
  if (!sel.length) throw new Error(`--which ${which} matches no anchor (ids: ${ANCHORS.map((a) => a.id).join(', ')})`)
  return sel
}

// Measure the chosen anchors `repeat` times. Any other option (seconds, bytes, count, size...)
// overrides every entry's value, like on the command line.
export async function runAnchors({ which, repeat = 3, smoke = false, progress, ...overrides } = {}) {
  const results = await runSet(selectAnchors(which), { repeat, cli: { smoke, ...overrides }, progress })
  return { environment: environment(), repeat, smoke, results }
}
