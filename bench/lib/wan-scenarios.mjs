// The WAN benchmark's paths: each scenario is a link for the C emulator (bench/netem), the same in
// both directions (a symmetric path: data and ACKs see the same delay, jitter and loss).
//   full:  RTT 2/20/100 ms x random loss 0/0.1/1/2/10 % x jitter 0/1 ms, + burst loss + bottleneck
//   quick: a representative subset (about 8 minutes with the default 3 repeats)
//   smoke: two tiny scenarios for CI
// Delay is RTT/2 each way; jitter is an extra uniform [0, J] per packet each way (so packets
// reorder); loss is per packet per direction.

const RTTS = [2, 20, 100]
const LOSSES = [0, 0.1, 1, 2, 10]
const JITTERS = [0, 1]

export function scenario({ rtt, loss = 0, jitter = 0, ge, rate, queue, id, label }) {
  const link = { delay: `${rtt / 2}ms` }
  if (jitter) link.jitter = `${jitter}ms`
  if (loss) link.loss = `${loss}%`
  if (ge) link.ge = ge.join(',')
  if (rate) link.rate = `${rate}mbit`
  if (queue) link.queue = String(queue)
  const name = id ?? `rtt${rtt}-loss${loss}-jit${jitter}`
  const text = label ?? `${rtt} ms RTT${loss ? `, ${loss} % loss` : ''}${jitter ? `, ${jitter} ms jitter` : ''}${loss || jitter ? '' : ', clean'}`
  return { id: name, label: text, rtt, loss, jitter, rate: rate ?? null, burst: !!ge, link }
}

// Gilbert-Elliott: P(good->bad) 0.25 %, P(bad->good) 25 %: bursts of 4 packets on average, about
// 1 % of packets lost overall (0.0025 / (0.0025 + 0.25)).
export const BURST = scenario({ rtt: 20, ge: [0.0025, 0.25], id: 'rtt20-burst', label: '20 ms RTT, burst loss (Gilbert-Elliott, ~1 %, mean burst 4)' })
// 100 Mbit/s bottleneck with a drop-tail queue of one bandwidth-delay product (20 ms x 100 Mbit/s).
export const BOTTLENECK = scenario({ rtt: 20, rate: 100, queue: 250000, id: 'rtt20-100mbit', label: '20 ms RTT, 100 Mbit/s bottleneck, 1-BDP queue (250 kB)' })
// The same with half a BDP of queue, as many home routers and switches have: only the sender's own
// overflow loses packets there, and it must not take that for the path's random loss.
export const SHALLOW_BOTTLENECK = scenario({ rtt: 20, rate: 100, queue: 125000, id: 'rtt20-100mbit-halfbdp', label: '20 ms RTT, 100 Mbit/s bottleneck, half-BDP queue (125 kB)' })

// Jitter where the hosts' CPUs do not set the rate: a 200 Mbit/s bottleneck with a one-BDP queue,
// with and without 1 ms of jitter after it. Unlimited, the 2 ms paths run as fast as sender,
// receiver and emulator share 2 vCPUs, and the emulator alone takes 3.1-3.4x the CPU per packet with
// jitter (a wake-up and a sendmmsg per few packets instead of per receive batch), so there the
// jitter-vs-clean ratio measures CPU, not how a transport copes with reordering.
export function ratedJitter(rtt) {
  const queue = Math.round((rtt / 1000) * 200e6 / 8)
  const base = `rtt${rtt}-200mbit`
  const label = `${rtt} ms RTT, 200 Mbit/s bottleneck, 1-BDP queue (${queue / 1000} kB)`
  return [
    scenario({ rtt, rate: 200, queue, id: base, label }),
    { ...scenario({ rtt, rate: 200, queue, jitter: 1, id: `${base}-jit1`, label: `${label}, 1 ms jitter` }), cleanId: base },
  ]
}

export function fullMatrix() {
  const out = []
  for (const rtt of RTTS) for (const jitter of JITTERS) for (const loss of LOSSES) out.push(scenario({ rtt, loss, jitter }))
  return [...out, BURST, BOTTLENECK, SHALLOW_BOTTLENECK, ...ratedJitter(2), ...ratedJitter(20)]
}

export function quickMatrix() {
  return [
    scenario({ rtt: 2 }),
    scenario({ rtt: 2, jitter: 1 }),
    scenario({ rtt: 20 }),
    scenario({ rtt: 20, loss: 1 }),
    scenario({ rtt: 20, loss: 10 }),
    scenario({ rtt: 100 }),
    BURST,
    BOTTLENECK,
  ]
}

export const smokeMatrix = () => [scenario({ rtt: 2 }), scenario({ rtt: 20, loss: 2, jitter: 1 })]

// The clean path a scenario is judged against ("keeps N % of the goodput without loss"): same
// RTT, no loss, no jitter, no rate limit. null for clean paths and the bottleneck.
export function cleanOf(s) {
  if (s.cleanId) return s.cleanId
  if (s.rate || (!s.loss && !s.jitter && !s.burst)) return null
  return `rtt${s.rtt}-loss0-jit0`
}

// The issue's targets for a scenario: [{ what, min }] on ratios we can compute.
export function targetsOf(s) {
  const t = []
  if (s.loss || s.jitter || s.burst) t.push({ what: 'vs udx', min: 1.0 })
  if (s.rtt === 20 && s.loss === 1 && !s.jitter) t.push({ what: 'vs clean', min: 0.8 })
  if (s.rtt === 20 && s.loss === 10 && !s.jitter) t.push({ what: 'vs clean', min: 0.6 })
  if (s.jitter && !s.loss) t.push({ what: 'vs clean', min: 0.9 })
  return t
}
