/** stt demo: two nodes on loopback, every step printed, then both sides' stats. */
import { createHash, randomBytes } from 'node:crypto'
import { STTNode, backend, generateSeed, nativeSource, type STTSession, type STTStream } from '../index.js'
import { parse, parseSize, str } from './args.js'
import { CliError, EXIT } from './exit.js'
import { bytes, ms, rate, shortHex } from './format.js'
import type { Io } from './io.js'
import { parseTransports } from './node-options.js'

export const HELP = `usage: stt demo [--transport udp|websocket] [--bytes 4Mi]

The zero-configuration showcase. Starts two nodes (alice, bob) on 127.0.0.1 with a fresh random
seed, then step by step: handshake (session id, names, node ids, cipher suite, backend),
datagrams both ways, a reliable message, a stream of a few MiB checked by SHA-256, and both
sides' statistics (RTT, packets, bytes, retransmissions). Stops both nodes; exits 0.

  --transport T   udp (default) or websocket
  --bytes N       stream size                                                    [4Mi]

Exit codes: 0 success, 1 a step failed, 2 usage.`

const STEP_TIMEOUT = 15_000

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new CliError(`demo step timed out: ${what}`, EXIT.INTERNAL)), STEP_TIMEOUT)
    }),
  ])
}

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, { transport: { type: 'string', short: 't' }, bytes: { type: 'string' } })
  if (values.help) return io.out(HELP), EXIT.OK
  const [transport] = parseTransports(str(values.transport), ['udp'])
  const size = parseSize(str(values.bytes) ?? '4Mi', '--bytes')
  const say = (s: string) => io.out(s)
  const t0 = performance.now()
  const seed = generateSeed()
  say(`1. fresh random shared seed (${seed.length} bytes); crypto backend: ${backend}${nativeSource ? ` (${nativeSource})` : ''}`)
  const bob = new STTNode({ sharedSeed: seed, name: 'bob', host: '127.0.0.1', port: 0, transport })
  const alice = new STTNode({ sharedSeed: seed, name: 'alice', host: '127.0.0.1', port: 0, transport: 'udp' })
  try {
    const b = await bob.start()
    await alice.start()
    const url = transport === 'udp' ? `udp://127.0.0.1:${b.port}` : `ws://127.0.0.1:${b.port}/stt`
    say(`2. bob listens on ${url}  (node id ${shortHex(bob.nodeId)}...)`)
    say(`   alice started       (node id ${shortHex(alice.nodeId)}...)`)

    const accepted = new Promise<STTSession>((r) => bob.once('session', r))
    const h0 = performance.now()
    const sa = await within(alice.connect(url), 'handshake')
    const sb = await within(accepted, 'accept')
    // A session that dies with an error fails the step waiting on it (within() times out).
    sa.on('error', () => {})
    sb.on('error', () => {})
    const suite = (sa.getStats() as { suite?: string }).suite
    say(`3. handshake done in ${ms(performance.now() - h0)} over ${sa.transport}: session ${sa.id}`)
    say(`   alice sees peer "${sa.peerName}" (node id ${shortHex(sa.peerNodeId)}...), bob sees peer "${sb.peerName}" (node id ${shortHex(sb.peerNodeId)}...)`)
    say(`   cipher suite ${suite}, max datagram ${sa.maxDatagramSize} bytes`)

    // Datagrams: bob answers each ping with a pong.
    sb.on('datagram', (d: Buffer) => sb.sendDatagram(Buffer.from(d.toString().replace('ping', 'pong'))))
    const n = 5
    const pongs: string[] = []
    const gotAll = new Promise<void>((resolve) =>
      sa.on('datagram', (d: Buffer) => {
        pongs.push(d.toString())
        if (pongs.length === n) resolve()
      }),
    )
    const d0 = performance.now()
    // Unreliable by design: resend the missing ones a couple of times.
    for (let round = 0; round < 5 && pongs.length < n; round++) {
      for (let i = 0; i < n; i++) if (!pongs.includes(`pong ${i}`)) sa.sendDatagram(Buffer.from(`ping ${i}`))
      await Promise.race([gotAll, new Promise((r) => setTimeout(r, 300))])
    }
    if (pongs.length < n) throw new CliError(`only ${pongs.length} of ${n} datagram echoes came back`, EXIT.INTERNAL)
    say(`4. ${n} datagrams alice -> bob, ${n} answers back in ${ms(performance.now() - d0)}: ${[...new Set(pongs)].sort().join(', ')}`)

    // A reliable message.
    const msg = new Promise<{ data: Buffer; streamId: number }>((r) => sb.once('message', r))
    await sa.send(Buffer.from('hello bob, this is alice'), { streamId: 1 })
    const m = await within(msg, 'message')
    say(`5. message on message stream ${m.streamId}: "${m.data.toString()}"`)

    // A stream of `size` bytes, SHA-256 checked; bob answers with the hash it computed.
    const data = randomBytes(size)
    const want = createHash('sha256').update(data).digest('hex')
    sb.once('stream', (st: STTStream) => {
      const h = createHash('sha256')
      st.on('data', (c: Buffer) => h.update(c))
      st.on('end', () => st.end(h.digest('hex')))
    })
    const s0 = performance.now()
    const st = sa.openStream()
    const answer = new Promise<string>((resolve, reject) => {
      let got = ''
      st.on('data', (c: Buffer) => (got += c.toString()))
      st.on('end', () => resolve(got))
      st.on('error', reject)
    })
    st.end(data)
    const got = await within(answer, 'stream')
    const secs = (performance.now() - s0) / 1000
    if (got !== want) throw new CliError(`stream hash mismatch: bob computed ${got}, expected ${want}`, EXIT.INTERNAL)
    say(`6. stream ${st.id}: ${bytes(size)} alice -> bob in ${secs.toFixed(2)} s (${rate(size / secs)}), sha256 matches on both sides (${want.slice(0, 16)}...)`)

    say('7. statistics')
    for (const [who, s] of [['alice', sa], ['bob', sb]] as const) {
      const x = s.getStats() as Record<string, unknown> & { rtt: number | null; minRtt: number | null }
      say(
        `   ${who.padEnd(5)} rtt ${ms(x.rtt)} (min ${ms(x.minRtt)}), packets sent ${x.packetsSent} received ${x.packetsReceived}, ` +
          `bytes sent ${bytes(Number(x.bytesSent))} received ${bytes(Number(x.bytesReceived))}, datagrams ${x.datagramsSent}/${x.datagramsReceived}, ` +
          `retransmitted (lost) packets ${x.lostPackets}, loss ${(100 * Number(x.lossRate)).toFixed(2)}%, cwnd ${bytes(Number(x.cwnd))}`,
      )
    }
    const closed = new Promise<{ reason: string }>((r) => sb.once('close', r))
    await sa.close('demo finished')
    const c = await within(closed, 'close')
    say(`8. alice closed the session; bob saw reason "${c.reason}"`)
  } finally {
    await Promise.all([alice.stop('demo done'), bob.stop('demo done')])
  }
  say(`9. both nodes stopped; demo took ${((performance.now() - t0) / 1000).toFixed(2)} s`)
  return EXIT.OK
}
