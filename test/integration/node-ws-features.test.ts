/**
 * "Both provide the same STT features" (manual ch. 8): the same stream / datagram / message /
 * close / stats scenarios at node level over UDP, over WebSocket in bare mode (the default:
 * TCP does the reliability) and over WebSocket with fullReliability (STT's own retransmission
 * and congestion control on top of TCP). Real sockets on 127.0.0.1, port 0.
 */
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { NodeBag, pairOver, readAll, sha256, waitFor, withTimeout, writeAll, MODES } from './node-ws-helpers.js'
import type { STTStream } from '../../src/index.js'

const bag = new NodeBag()
afterEach(() => bag.stopAll())

describe.each(MODES)('same STT features over %s', (_label, mode) => {
  it('session reports its transport and reliability mode on both sides', async () => {
    const { sa, sb } = await pairOver(bag, mode)
    const want = mode === 'udp' ? 'udp' : 'websocket'
    expect(sa.transport).toBe(want)
    expect(sb.transport).toBe(want)
    expect(sa.id).toBe(sb.id)
    // bare = the session relies on TCP; only the default WebSocket mode is bare, and both
    // sides must agree (the responder follows the initiator's parameter).
    const bare = mode === 'websocket'
    expect(sa.getStats().bare).toBe(bare)
    expect(sb.getStats().bare).toBe(bare)
    // Path MTU discovery is for UDP; over TCP packets keep reliablePacketSize (64 KiB).
    if (mode !== 'udp') {
      expect(sa.getStats().pmtu.state).toBe('disabled')
      expect(sa.getStats().maxPacketSize).toBe(65_536)
    } else expect(sa.getStats().pmtu.state).not.toBe('disabled')
  })

  it('an 8 MiB stream arrives byte-exact (SHA-256)', async () => {
    const { sa, sb } = await pairOver(bag, mode)
    const data = randomBytes(8 << 20)
    const received = new Promise<Buffer>((resolve, reject) => {
      sb.once('stream', (s: STTStream) => readAll(s).then(resolve, reject))
    })
    const st = sa.openStream()
    await writeAll(st, data)
    const got = await withTimeout(received, '8 MiB stream', 50_000)
    expect(got.length).toBe(data.length)
    expect(sha256(got)).toBe(sha256(data))
  }, 90_000)

  it('32 concurrent streams of 256 KiB each, each byte-exact, echoed back', async () => {
    const { sa, sb } = await pairOver(bag, mode)
    // The peer echoes every stream back on the same stream: exercises both directions of
    // many streams at once, multiplexed over one session.
    sb.on('stream', (s: STTStream) => {
      s.pipe(s)
    })
    const N = 32
    const payloads = Array.from({ length: N }, () => randomBytes(256 * 1024))
    const ids = new Set<number>()
    const results = await withTimeout(
      Promise.all(
        payloads.map(async (p) => {
          const st = sa.openStream()
          ids.add(st.id)
          const back = readAll(st)
          await writeAll(st, p, 16 * 1024)
          return back
        }),
      ),
      '32 streams echoed',
      60_000,
    )
    results.forEach((r, i) => {
      expect(r.length).toBe(payloads[i]!.length)
      expect(sha256(r)).toBe(sha256(payloads[i]!))
    })
    // 32 distinct streams, all open at once on one session.
    expect(ids.size).toBe(N)
  }, 90_000)

  it('datagrams both ways, each whole and unsplit', async () => {
    const { sa, sb } = await pairOver(bag, mode)
    const atB: Buffer[] = []
    const atA: Buffer[] = []
    sb.on('datagram', (d: Buffer) => atB.push(d))
    sa.on('datagram', (d: Buffer) => atA.push(d))
    const sizes = [1, 100, 1000, Math.min(sa.maxDatagramSize, 1200)]
    for (let round = 0; round < 20; round++) {
      for (const n of sizes) {
        sa.sendDatagram(Buffer.alloc(n, round))
        sb.sendDatagram(Buffer.alloc(n, 100 + round))
      }
      // Paced a little: datagrams are unreliable, and we don't want to measure queue drops.
      await new Promise((r) => setTimeout(r, 2))
    }
    const total = 20 * sizes.length
    if (mode === 'udp') {
      // Loopback UDP: most arrive; allow a little loss, never corruption.
      await waitFor(() => atB.length >= total * 0.9 && atA.length >= total * 0.9, 'datagrams both ways')
    } else {
      // Over TCP nothing is lost.
      await waitFor(() => atB.length === total && atA.length === total, 'all datagrams both ways')
    }
    for (const d of [...atA, ...atB]) {
      expect(sizes).toContain(d.length)
      expect(d.every((x) => x === d[0])).toBe(true)
    }
    // A datagram bigger than the path allows is refused at the call, never split.
    expect(() => sa.sendDatagram(Buffer.alloc(sa.maxDatagramSize + 1))).toThrow(/exceeds/)
  })

  it('messages via session.send arrive whole and in order via node.receive()', async () => {
    const { b, sa } = await pairOver(bag, mode)
    const msgs = [Buffer.from('hello'), randomBytes(3000), randomBytes(200 * 1024), Buffer.from('bye')]
    for (const m of msgs) await sa.send(m, { streamId: 5 })
    const it = b.receive()
    for (const m of msgs) {
      const got = (await withTimeout(it.next(), 'message')).value!
      expect(got.streamId).toBe(5)
      expect(got.sessionId).toBe(sa.id)
      expect(got.data.equals(m)).toBe(true)
    }
    await it.return(undefined)
  })

  it('close with a reason is seen by the peer; the session is gone on both sides', async () => {
    const { a, b, sa, sb } = await pairOver(bag, mode)
    const closed = new Promise<{ reason: string; remote: boolean }>((r) => sb.once('close', r))
    await sa.close('bye for now')
    const info = await withTimeout(closed, 'peer sees close')
    expect(info).toMatchObject({ remote: true, reason: 'bye for now' })
    expect(sa.closed).toBe(true)
    expect(sb.closed).toBe(true)
    await waitFor(() => a.getActiveSessions().length === 0 && b.getActiveSessions().length === 0, 'sessions gone')
    expect(() => sa.sendDatagram(Buffer.from('x'))).toThrow(/closed/)
  })

  it('stats count the traffic on the session and on the transport that carried it', async () => {
    const { a, b, sa, sb } = await pairOver(bag, mode)
    const st = sa.openStream()
    const got = new Promise<Buffer>((resolve, reject) => sb.once('stream', (s: STTStream) => readAll(s).then(resolve, reject)))
    await writeAll(st, randomBytes(512 * 1024))
    expect((await withTimeout(got, 'stream')).length).toBe(512 * 1024)
    const name = mode === 'udp' ? 'udp' : 'websocket'
    const sStats = sa.getStats()
    expect(sStats.transport).toBe(name)
    // UDP packets carry at most ~1.4 KB; WebSocket packets up to reliablePacketSize (64 KiB).
    const minPackets = name === 'udp' ? 300 : 8
    expect(sStats.packetsSent).toBeGreaterThan(minPackets)
    expect(sb.getStats().packetsReceived).toBeGreaterThan(minPackets)
    const ta = a.getTransportStats()
    const tb = b.getTransportStats()
    expect(ta.transports[name]!.bytesSent).toBeGreaterThan(512 * 1024)
    expect(tb.transports[name]!.bytesReceived).toBeGreaterThan(512 * 1024)
    expect(ta.bytesSent).toBeGreaterThanOrEqual(ta.transports[name]!.bytesSent)
    expect(ta.sessions).toBe(1)
    expect(tb.sessions).toBe(1)
    if (name === 'websocket') {
      expect(ta.transports.websocket).toMatchObject({ connections: 1, outboundConnections: 1, tls: false })
      expect(tb.transports.websocket).toMatchObject({ connections: 1, inboundConnections: 1, tls: false })
    }
    // The other transport carried nothing for this session.
    const other = name === 'udp' ? 'websocket' : 'udp'
    expect(ta.transports[other]?.bytesSent ?? 0).toBe(0)
    // No loss over TCP in bare mode (nothing is tracked) and none to speak of on loopback.
    if (mode === 'websocket') expect(sStats.lostPackets ?? 0).toBe(0)
  })
})
