/**
 * Real kernel paths for path-MTU tests: three network namespaces made by the test,
 *
 *   client ns  c0 ──veth (MTU 1500)── r0  router ns  r1 ──veth (MTU bottleneck)── s0  server ns
 *
 * with IP forwarding in the router, so the bottleneck is not the client's interface MTU: the
 * client's oversize packets die in the router (ICMP "fragmentation needed" / "packet too big"
 * back to the client, or nothing at all when `blockIcmp` drops those in the router's output
 * chain with nftables: a PMTU black hole). The server's own interface has the bottleneck MTU,
 * so its oversize packets fail locally (EMSGSIZE with DF). Only addresses inside these
 * namespaces are used (10.231.x.x / fd00:231::/32), and `destroy()` deletes the namespaces,
 * which removes every veth and rule with them.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'

export const ROOT = resolve(import.meta.dirname, '..', '..')

/** Why netns tests cannot run here, or null when they can. */
export function netnsSkipReason(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'creating network namespaces needs root (CAP_NET_ADMIN)'
  const ip = spawnSync('ip', ['-V'], { encoding: 'utf8' })
  if (ip.error || ip.status !== 0) return 'iproute2 (ip) is not installed'
  const name = `sttprobe${process.pid}`
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' })
  if (add.status !== 0) return `ip netns add failed: ${add.stderr.trim()}`
  spawnSync('ip', ['netns', 'del', name])
  return null
}

/** Why nftables-based tests cannot run, or null. */
export function nftSkipReason(): string | null {
  const r = spawnSync('nft', ['--version'], { encoding: 'utf8' })
  return r.error || r.status !== 0 ? 'nftables (nft) is not installed (.ci/run installs it)' : null
}

function run(args: string[], input?: string): void {
  try {
    execFileSync(args[0]!, args.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], input, encoding: 'utf8' })
  } catch (e) {
    const err = e as { stderr?: string }
    throw new Error(`${args.join(' ')} failed: ${err.stderr ?? String(e)}`, { cause: e })
  }
}

let seq = 0

export interface PathOptions {
  family: 4 | 6
  /** MTU of the router-server link (IP bytes). */
  bottleneckMtu: number
  /** Drop the router's ICMP "fragmentation needed" / ICMPv6 "packet too big" (black hole). */
  blockIcmp?: boolean
}

export class NetnsPath {
  readonly client: string
  readonly router: string
  readonly server: string
  readonly clientAddr: string
  readonly serverAddr: string
  private readonly children = new Set<ChildProcess>()
  private destroyed = false

  constructor(readonly opts: PathOptions) {
    const tag = `stt${process.pid}x${seq++}`
    this.client = `${tag}c`
    this.router = `${tag}r`
    this.server = `${tag}s`
    const v6 = opts.family === 6
    this.clientAddr = v6 ? 'fd00:231:1::2' : '10.231.1.2'
    this.serverAddr = v6 ? 'fd00:231:2::2' : '10.231.2.2'
    try {
      this.build()
    } catch (e) {
      this.destroy()
      throw e
    }
  }

  private build(): void {
    const { client: c, router: r, server: s } = this
    const v6 = this.opts.family === 6
    for (const ns of [c, r, s]) run(['ip', 'netns', 'add', ns])
    run(['ip', 'link', 'add', 'c0', 'netns', c, 'mtu', '1500', 'type', 'veth', 'peer', 'name', 'r0', 'netns', r, 'mtu', '1500'])
    const m = String(this.opts.bottleneckMtu)
    run(['ip', 'link', 'add', 'r1', 'netns', r, 'mtu', m, 'type', 'veth', 'peer', 'name', 's0', 'netns', s, 'mtu', m])
    const addr = (ns: string, dev: string, a: string) =>
      run(['ip', '-n', ns, 'addr', 'add', v6 ? `${a}/64` : `${a}/24`, 'dev', dev, ...(v6 ? ['nodad'] : [])])
    addr(c, 'c0', v6 ? 'fd00:231:1::2' : '10.231.1.2')
    addr(r, 'r0', v6 ? 'fd00:231:1::1' : '10.231.1.1')
    addr(r, 'r1', v6 ? 'fd00:231:2::1' : '10.231.2.1')
    addr(s, 's0', v6 ? 'fd00:231:2::2' : '10.231.2.2')
    for (const [ns, dev] of [[c, 'c0'], [r, 'r0'], [r, 'r1'], [s, 's0'], [c, 'lo'], [r, 'lo'], [s, 'lo']] as const) {
      run(['ip', '-n', ns, 'link', 'set', dev, 'up'])
    }
    const fam = v6 ? '-6' : '-4'
    run(['ip', '-n', c, fam, 'route', 'add', 'default', 'via', v6 ? 'fd00:231:1::1' : '10.231.1.1'])
    run(['ip', '-n', s, fam, 'route', 'add', 'default', 'via', v6 ? 'fd00:231:2::1' : '10.231.2.1'])
    run(['ip', 'netns', 'exec', r, 'sysctl', '-qw', v6 ? 'net.ipv6.conf.all.forwarding=1' : 'net.ipv4.ip_forward=1'])
    if (this.opts.blockIcmp) {
      // The router's own ICMP errors leave through its output hook: drop the PMTU ones.
      run(['ip', 'netns', 'exec', r, 'nft', '-f', '-'], [
        'table inet sttpmtu {',
        '  chain out {',
        '    type filter hook output priority 0; policy accept;',
        '    icmp type destination-unreachable icmp code frag-needed counter drop',
        '    icmpv6 type packet-too-big counter drop',
        '  }',
        '}',
      ].join('\n'))
    }
  }

  /** Changes the router-server link MTU (router side only: s0 keeps its MTU, so oversize
   * packets from the server are dropped silently at the router's veth, as by a tunnel). */
  setBottleneckMtu(mtu: number): void {
    run(['ip', '-n', this.router, 'link', 'set', 'r1', 'mtu', String(mtu)])
  }

  /** nftables counter of dropped PMTU ICMP messages (blockIcmp paths). */
  icmpDropped(): number {
    const r = spawnSync('ip', ['netns', 'exec', this.router, 'nft', 'list', 'table', 'inet', 'sttpmtu'], { encoding: 'utf8' })
    let n = 0
    for (const m of r.stdout.matchAll(/counter packets (\d+)/g)) n += Number(m[1])
    return n
  }

  /** Runs `node script args` inside namespace `ns`; stdout is JSON lines. */
  spawnNode(ns: string, script: string, args: string[], env: NodeJS.ProcessEnv = {}): NodeChild {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, script, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    })
    this.children.add(child)
    child.on('exit', () => this.children.delete(child))
    return new NodeChild(child)
  }

  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    for (const ch of this.children) ch.kill('SIGKILL')
    for (const ns of [this.client, this.router, this.server]) spawnSync('ip', ['netns', 'del', ns])
  }
}

/** A child process speaking JSON lines on stdout; `next(pred)` waits for a matching message. */
export class NodeChild {
  private readonly lines: Record<string, unknown>[] = []
  private waiters: Array<{ pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }> = []
  stderr = ''
  exited: Promise<number | null>

  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let m: Record<string, unknown>
      try {
        m = JSON.parse(line) as Record<string, unknown>
      } catch {
        return
      }
      this.lines.push(m)
      this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true))
    })
    proc.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 20_000) this.stderr += d.toString()
    })
    this.exited = new Promise((r) => proc.on('exit', (code) => r(code)))
  }

  next(pred: (m: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    const hit = this.lines.find(pred)
    if (hit) return Promise.resolve(hit)
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${this.stderr.slice(-2000)}`)), timeoutMs)
      this.waiters.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) })
      void this.exited.then((code) => {
        clearTimeout(t)
        // nat-child.mjs reports an uncaught exception on stdout ({"event":"error"}) before exiting
        const last = this.lines.slice(-3).map((m) => JSON.stringify(m).slice(0, 1500)).join('\n')
        reject(new Error(`child exited (${code}) before ${what}; stderr: ${this.stderr.slice(-2000)}; last messages:\n${last}`))
      })
    })
  }

  send(cmd: string): void {
    this.proc.stdin!.write(`${cmd}\n`)
  }
}

function newestMtime(dir: string): number {
  let m = 0
  for (const f of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, f.name)
    m = Math.max(m, f.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)
  }
  return m
}

/**
 * Child processes run the built library (plain node cannot import the TypeScript sources):
 * builds dist/ when it is missing or older than src/, under the same lock directory as the
 * CLI tests so parallel test files never run tsc at once.
 */
export async function ensureDistBuilt(): Promise<void> {
  const index = join(ROOT, 'dist', 'index.js')
  const stale = () => !existsSync(index) || newestMtime(join(ROOT, 'src')) > statSync(index).mtimeMs
  const lock = join(ROOT, 'dist', '.cli-test-build.lock')
  for (let i = 0; i < 900 && stale(); i++) {
    try {
      mkdirSync(join(ROOT, 'dist'), { recursive: true })
      mkdirSync(lock)
    } catch {
      await new Promise((r) => setTimeout(r, 200))
      continue
    }
    try {
      spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json')], { stdio: 'inherit' })
    } finally {
      rmSync(lock, { recursive: true, force: true })
    }
  }
  // Another worker's tsc may still be writing (index.js is fresh before the rest is).
  for (let i = 0; i < 900 && existsSync(lock); i++) await new Promise((r) => setTimeout(r, 200))
  if (!existsSync(index)) throw new Error('dist/index.js missing: run npm run build')
}
