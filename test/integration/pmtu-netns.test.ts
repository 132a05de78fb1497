/**
 * Path MTU discovery on real kernel paths (test/helpers/netns.ts): client ─ router ─ server in
 * three network namespaces, the router-server link narrower than the client's interface.
 * Each case: handshake, a 16 MiB stream byte-exact, the PMTU each side reports. Both backends
 * (the suite runs twice; the children inherit STT_NATIVE): the native socket sets DF with
 * IP(V6)_PMTUDISC_PROBE; node:dgram cannot (Linux default IP_PMTUDISC_WANT: the kernel sets DF
 * only up to its cached path MTU and fragments larger datagrams itself), see docs/GUIDE.md.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { backend } from '../../src/native/load.js'
import { ensureDistBuilt, NetnsPath, netnsSkipReason, nftSkipReason, ROOT, type NodeChild } from '../helpers/netns.js'

const CHILD = join(ROOT, 'test', 'helpers', 'pmtu-child.mjs')
const SIZE = 16 << 20
const native = backend === 'native'
const skip = netnsSkipReason()
const skipNft = skip ?? nftSkipReason()

interface PmtuReport {
  state: string
  current: number
  max: number
  probesSent: number
  probesLost: number
  blackHoles: number
}
type Stats = { maxPacketSize: number; pmtu: PmtuReport; lostPackets: number }

const paths: NetnsPath[] = []
afterEach(() => {
  for (const p of paths.splice(0)) p.destroy()
})

/**
 * Runs one transfer client -> server over `path`; `atHalf` runs after the first 8 MiB were
 * written (e.g. to shrink the path) before the rest goes.
 */
async function transfer(path: NetnsPath, atHalf?: () => void) {
  const env = { STT_SEED: randomBytes(32).toString('hex') }
  const v6 = path.opts.family === 6
  const server = path.spawnNode(path.server, CHILD, ['server', path.serverAddr], env)
  const ready = await server.next((m) => m.event === 'ready', 30_000, 'server ready')
  const target = v6 ? `udp://[${path.serverAddr}]:${ready.port}` : `udp://${path.serverAddr}:${ready.port}`
  const client = path.spawnNode(path.client, CHILD, ['client', path.clientAddr, target, String(SIZE)], env)
  await client.next((m) => m.event === 'connected', 30_000, 'handshake')
  const half = await client.next((m) => m.event === 'half', 60_000, 'first half written')
  atHalf?.()
  client.send('go')
  const written = await client.next((m) => m.event === 'written', 90_000, 'all written')
  const received = await server.next((m) => m.event === 'received', 90_000, 'stream received')
  const stats = async (c: NodeChild) => {
    const seen = c.next((m) => m.event === 'stats', 10_000, 'stats')
    c.send('stats')
    return seen
  }
  const cs = await stats(client)
  const ss = await stats(server)
  client.send('exit')
  server.send('exit')
  await Promise.all([client.exited, server.exited])
  return {
    half: half.session as Stats,
    written,
    received,
    client: cs.session as Stats,
    server: ss.session as Stats,
    clientTransport: cs.transport as { transports: Record<string, Record<string, unknown>> },
    serverTransport: ss.transport as { transports: Record<string, Record<string, unknown>> },
  }
}

function log(label: string, r: Awaited<ReturnType<typeof transfer>>): void {
  const t = r.serverTransport.transports['udp'] ?? {}
  console.log(
    `[pmtu ${native ? 'native' : 'dgram'}] ${label}: client pmtu ${JSON.stringify(r.client.pmtu)}, server pmtu ${r.server.pmtu.current} (${r.server.pmtu.state}), ` +
      `server EMSGSIZE ${String(t['sendErrorsMsgSize'] ?? 'n/a')}, DF ${String(t['dontFragment'] ?? false)}`,
  )
}

describe.skipIf(skip !== null)(`path MTU over network namespaces (real kernel)${skip ? ` — skipped: ${skip}` : ''}`, () => {
  beforeAll(async () => {
    await ensureDistBuilt()
  }, 180_000)

  it('IPv4, 1420-byte bottleneck behind a router (WireGuard-like), ICMP delivered: 16 MiB byte-exact, PMTU found', async () => {
    const path = new NetnsPath({ family: 4, bottleneckMtu: 1420 })
    paths.push(path)
    const r = await transfer(path)
    log('IPv4 1420', r)
    expect(r.received.bytes).toBe(SIZE)
    expect(r.received.sha256).toBe(r.written.sha256)
    expect(r.client.pmtu.current).toBeGreaterThan(1200)
    if (native) {
      // DF and the kernel's PMTU cache ignored: the search alone finds 1420 - 28.
      expect(r.client.pmtu.current).toBe(1392)
      expect(r.client.maxPacketSize).toBe(1392)
      // The server's own interface is the narrow one: its larger probes fail with EMSGSIZE.
      expect(r.server.pmtu.current).toBe(1392)
      expect(r.serverTransport.transports['udp']!['sendErrorsMsgSize']).toBeGreaterThan(0)
      expect(r.serverTransport.transports['udp']!['dontFragment']).toBe(true)
    } else {
      // What node:dgram reaches (measured): it cannot set IP_MTU_DISCOVER, so Linux's default
      // IP_PMTUDISC_WANT applies. The first 1472-byte probe (DF set: no PMTU cached yet) dies in
      // the router, whose ICMP teaches the kernel 1420; from then on the kernel fragments larger
      // datagrams itself, the next probe arrives in fragments, and the search ends at 1472:
      // it works, but fragmented. With ICMP blocked (below) the search finds the real size.
      expect(r.client.pmtu.current).toBe(1472)
    }
  })

  it.skipIf(skipNft !== null)(`IPv6, 1280-byte bottleneck (IPv6 minimum), ICMPv6 "packet too big" blocked (black hole): 16 MiB byte-exact${skipNft ? ` — skipped: ${skipNft}` : ''}`, async () => {
    const path = new NetnsPath({ family: 6, bottleneckMtu: 1280, blockIcmp: true })
    paths.push(path)
    const r = await transfer(path)
    log('IPv6 1280 black hole', r)
    expect(r.received.bytes).toBe(SIZE)
    expect(r.received.sha256).toBe(r.written.sha256)
    // No ICMP ever reaches the client, and IPv6 routers never fragment: only the search helps.
    expect(r.client.pmtu.current).toBeGreaterThan(1200)
    expect(r.client.pmtu.current).toBeLessThanOrEqual(1280 - 48)
    expect(path.icmpDropped()).toBeGreaterThan(0)
  })

  it.skipIf(skipNft !== null)(`IPv4, 1420-byte bottleneck, ICMP blocked (black hole): 16 MiB byte-exact${skipNft ? ` — skipped: ${skipNft}` : ''}`, async () => {
    const path = new NetnsPath({ family: 4, bottleneckMtu: 1420, blockIcmp: true })
    paths.push(path)
    const r = await transfer(path)
    log('IPv4 1420 black hole', r)
    expect(r.received.bytes).toBe(SIZE)
    expect(r.received.sha256).toBe(r.written.sha256)
    expect(r.client.pmtu.current).toBeGreaterThan(1200)
    expect(r.client.pmtu.current).toBeLessThanOrEqual(1420 - 28)
  })

  it.skipIf(skipNft !== null)(`the path shrinks mid-transfer (router link 1500 -> 1280, ICMP blocked): black hole detected, transfer completes byte-exact${skipNft ? ` — skipped: ${skipNft}` : ''}`, async () => {
    const path = new NetnsPath({ family: 4, bottleneckMtu: 1500, blockIcmp: true })
    paths.push(path)
    const r = await transfer(path, () => path.setBottleneckMtu(1280))
    // Before the shrink the search had found the full 1500-byte path.
    expect(r.half.pmtu.current).toBe(1472)
    log('IPv4 1500 -> 1280 mid-transfer', r)
    expect(r.received.bytes).toBe(SIZE)
    expect(r.received.sha256).toBe(r.written.sha256)
    expect(r.client.pmtu.blackHoles).toBeGreaterThanOrEqual(1)
    expect(r.client.pmtu.current).toBeGreaterThan(1200)
    expect(r.client.pmtu.current).toBeLessThanOrEqual(1280 - 28)
  })
})
