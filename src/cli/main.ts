/**
 * `stt` command-line entry: dispatches to one small module per command. Every failure becomes
 * one line on stderr and a documented exit code (src/cli/exit.ts); --verbose adds the stack.
 */
import { createRequire } from 'node:module'
import { CliError, EXIT, EXIT_HELP, describeError, exitCodeFor } from './exit.js'
import { makeIo, type Io } from './io.js'

type Command = { run(argv: string[], io: Io): Promise<number>; HELP: string }

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  keygen: { summary: 'make a new shared seed (hex file + QR code for pairing)', load: () => import('./keygen.js') },
  listen: { summary: 'run a node: accept sessions, receive files (--out), echo (--echo)', load: () => import('./listen.js') },
  relay: { summary: 'run a relay/rendezvous node: members connect by node id through NATs', load: () => import('./relay.js') },
  send: { summary: 'send files to a listening node, verified by SHA-256', load: () => import('./send.js') },
  diagnose: { summary: 'check reachability, WebSocket/TLS, RTT, MTU, loss; plain-language verdicts', load: () => import('./diagnose.js') },
  bench: { summary: 'loopback benchmark (two processes): throughput, msg/s, RTT, CPU per GB', load: () => import('./bench.js') },
  demo: { summary: 'two nodes on loopback, step by step, with their stats', load: () => import('./demo.js') },
}

function version(): string {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version
  } catch {
    return 'unknown'
  }
}

export const HELP = `usage: stt <command> [options]     (stt <command> --help for details)

STT: encrypted, authenticated, multiplexed streams and datagrams over UDP (WebSocket fallback).

Commands:
${Object.entries(COMMANDS)
  .map(([k, v]) => `  ${k.padEnd(9)} ${v.summary}`)
  .join('\n')}

Common options: -h/--help, -v/--verbose (stack traces, debug lines), -q/--quiet, --version

Quick start:
  stt keygen --out group.key                       # copy group.key to the other machine
  stt listen --port 8080 --seed-file group.key --out ./received
  stt send report.pdf --to udp://host:8080 --seed-file group.key

${EXIT_HELP}

Environment: STT_NATIVE=0 forces the pure-JavaScript backend, STT_NATIVE=1 requires the native one.
             STT_STATE_DIR: where stt send keeps its state (see stt send --help).
More: docs/CLI.md`

export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose') || argv.includes('-v')
  const quiet = argv.includes('--quiet') || argv.includes('-q')
  const io = makeIo(verbose, quiet)
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0] && COMMANDS[rest[0]]) return main([rest[0], '--help'])
    process.stdout.write(HELP + '\n')
    return name === undefined ? EXIT.USAGE : EXIT.OK
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`stt ${version()}\n`)
    return EXIT.OK
  }
  const cmd = COMMANDS[name]
  try {
    if (!cmd) throw new CliError(`unknown command '${name}' (commands: ${Object.keys(COMMANDS).join(', ')}; see stt --help)`, EXIT.USAGE)
    const mod = await cmd.load()
    return await mod.run(rest, io)
  } catch (err) {
    const code = exitCodeFor(err)
    process.stderr.write(`stt${cmd ? ' ' + name : ''}: ${describeError(err)}\n`)
    if (code === EXIT.USAGE && cmd) process.stderr.write(`(see stt ${name} --help)\n`)
    if (verbose && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n')
    if (verbose && err instanceof Error && err.cause) process.stderr.write(`cause: ${String((err.cause as Error)?.stack ?? err.cause)}\n`)
    if (code === EXIT.INTERNAL && !verbose) process.stderr.write('(unexpected error: run again with --verbose for details)\n')
    return code
  }
}
