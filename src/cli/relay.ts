/** stt relay: a relay and rendezvous node for a group (docs/guide/09-nat.md). */
import { STTNode, backend } from '../index.js'
import { parse, parseIntArg, parseSize, str } from './args.js'
import { CliError, EXIT, EXIT_HELP, describeError } from './exit.js'
import { shortHex } from './format.js'
import type { Io } from './io.js'
import { seedFromArgs } from './common.js'

export const HELP = `usage: stt relay --seed-file FILE [--port 7000] [--host 0.0.0.0] [--websocket]
                 [--max-sessions-per-member 16] [--max-sessions 1024]
                 [--rate 32M] [--total-rate 256M]
                 [--channel-pending-timeout 10000] [--channel-idle-timeout 60000]

Runs a relay until Ctrl-C / SIGTERM. Members of the group (holders of the same seed) register
with it (rendezvous option, node.register), learn their reflexive address, and connect to each
other by node id (stt://<node id>@host:port): the relay introduces them, they punch a direct
path through their NATs, and it forwards their end-to-end encrypted packets meanwhile (or
when punching fails). It never holds their session keys. Prints one machine-readable line:
  relaying udp://0.0.0.0:7000
(with --websocket a second one, relaying ws://0.0.0.0:7000/stt) and its figures (members,
relayed sessions, bytes) every 60 s.

  --seed-file FILE              the group's shared seed (stt keygen)           [required]
  --port N                      UDP port                                       [7000]
  --host ADDR                   listen address                                 [0.0.0.0]
  --websocket                   also listen on WebSocket, TCP port = the UDP port: members
                                whose UDP is blocked register with ws:// or auto:// and
                                are relayed all the same
  --max-sessions-per-member N   relayed sessions one member may have at once   [16]
  --max-sessions N              relayed sessions in total                      [1024]
  --rate BYTES                  bytes/s one relayed session may move (K/M/G)   [32M]
  --total-rate BYTES            bytes/s over all relayed sessions              [256M]
  --channel-pending-timeout MS  a relayed session the called member has not
                                answered is dropped after this long (the
                                dialler gets STT_RELAY_REFUSED)                [10000]
  --channel-idle-timeout MS     a relayed session on which either member sent
                                nothing for this long is closed                [60000]

${EXIT_HELP}`

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    'seed-file': { type: 'string', short: 's' },
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    websocket: { type: 'boolean' },
    'max-sessions-per-member': { type: 'string' },
    'max-sessions': { type: 'string' },
    rate: { type: 'string' },
    'total-rate': { type: 'string' },
    'channel-pending-timeout': { type: 'string' },
    'channel-idle-timeout': { type: 'string' },
  })
  if (values.help) return io.out(HELP), EXIT.OK
  const port = parseIntArg(str(values.port) ?? '7000', '--port', 0, 65535)!
  const relay = {
    maxSessionsPerMember: parseIntArg(str(values['max-sessions-per-member']) ?? '16', '--max-sessions-per-member', 1, 1 << 20)!,
    maxSessions: parseIntArg(str(values['max-sessions']) ?? '1024', '--max-sessions', 1, 1 << 24)!,
    bytesPerSecond: parseSize(str(values.rate) ?? '32M', '--rate'),
    totalBytesPerSecond: parseSize(str(values['total-rate']) ?? '256M', '--total-rate'),
    channelPendingTimeout: parseIntArg(str(values['channel-pending-timeout']) ?? '10000', '--channel-pending-timeout', 100, 3_600_000)!,
    channelIdleTimeout: parseIntArg(str(values['channel-idle-timeout']) ?? '60000', '--channel-idle-timeout', 1000, 86_400_000)!,
  }
  const websocket = values.websocket === true
  const node = new STTNode({ sharedSeed: seedFromArgs(values, io), name: 'stt-relay', host: str(values.host) ?? '0.0.0.0', port, transport: websocket ? ['udp', 'websocket'] : 'udp', relay })
  let info
  try {
    info = await node.start()
  } catch (err) {
    if (/EADDRINUSE/.test(String((err as Error).message)) || (err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new CliError(`port ${port} is already in use${websocket ? ' (UDP or TCP)' : ''} (choose another --port)`, EXIT.CONFIG)
    throw err
  }
  io.err(`stt relay: node ${shortHex(node.nodeId)}, backend ${backend}`)
  const host = info.host.includes(':') ? `[${info.host}]` : info.host
  io.out(`relaying udp://${host}:${info.port}`)
  if (websocket) io.out(`relaying ws://${host}:${info.websocketPort}/stt`)
  const report = setInterval(() => {
    const s = node.getNatStats() as { members: number; channels: number; bytesForwarded: number; refused: Record<string, number> }
    io.out(`members ${s.members} relayed-sessions ${s.channels} bytes-forwarded ${s.bytesForwarded} refused ${JSON.stringify(s.refused)}`)
  }, 60_000)
  report.unref()
  await new Promise<void>((resolveStop) => {
    const stop = (sig: string) => {
      io.err(`stt relay: ${sig}: stopping`)
      node.stop(`relay shutting down (${sig})`).then(resolveStop, (err) => {
        io.err(`stt relay: stop failed: ${describeError(err)}`)
        resolveStop()
      })
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
  clearInterval(report)
  return EXIT.OK
}
