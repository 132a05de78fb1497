/**
 * Real kernel NATs for the NAT traversal tests (test/integration/nat-netns.test.ts): network
 * namespaces made by the test,
 *
 *   host ns h<i> 10.241.<i>.2 ── lan ── NAT ns n<i> ── wan 10.240.<i>.2 ── pub ns (router + relay at 10.240.0.1)
 *
 * one private network per member, each behind its own NAT namespace (nftables masquerade),
 * all NATs meeting in one "public" namespace that routes between them and runs the relay.
 * NAT kinds:
 *  - 'cone': `masquerade` keeps the source port when it can: endpoint-independent mapping
 *    (filtering still address-and-port dependent, as conntrack only lets replies in);
 *  - 'symmetric': `masquerade random,fully-random`: a new random port for every new
 *    destination (address-and-port-dependent mapping).
 * Every NAT drops unsolicited inbound packets (`ct state new` from the WAN) in its input and
 * forward chains, as home routers do; dropping them before conntrack confirms the entry is
 * also what keeps an early punch from the peer from stealing the port of our own mapping.
 * Only addresses inside these namespaces are used; `destroy()` deletes the namespaces.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process'
import { NodeChild } from './netns.js'

export type NatKind = 'cone' | 'symmetric'

function run(args: string[], input?: string): void {
  try {
    execFileSync(args[0]!, args.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], input, encoding: 'utf8' })
  } catch (e) {
    const err = e as { stderr?: string }
    throw new Error(`${args.join(' ')} failed: ${err.stderr ?? String(e)}`, { cause: e })
  }
}

/** Why the NAT tests cannot run here (beyond netnsSkipReason/nftSkipReason), or null. */
export function conntrackSkipReason(): string | null {
  const r = spawnSync('conntrack', ['--version'], { encoding: 'utf8' })
  return r.error || r.status !== 0 ? 'conntrack (conntrack-tools) is not installed (.ci/run installs it)' : null
}

let seq = 0

export const RELAY_ADDR = '10.240.0.1'

export class NatTopology {
  readonly pub: string
  readonly nats: string[] = []
  readonly hosts: string[] = []
  readonly hostAddrs: string[] = []
  private readonly children = new Set<ChildProcess>()
  private destroyed = false

  constructor(readonly kinds: NatKind[]) {
    const tag = `stn${process.pid % 100000}x${seq++}`
    this.pub = `${tag}p`
    try {
      run(['ip', 'netns', 'add', this.pub])
      run(['ip', '-n', this.pub, 'link', 'set', 'lo', 'up'])
      run(['ip', '-n', this.pub, 'addr', 'add', `${RELAY_ADDR}/32`, 'dev', 'lo'])
      run(['ip', 'netns', 'exec', this.pub, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
      kinds.forEach((k, i) => this.addMember(tag, i + 1, k))
    } catch (e) {
      this.destroy()
      throw e
    }
  }

  private addMember(tag: string, i: number, kind: NatKind): void {
    const nat = `${tag}n${i}`
    const host = `${tag}h${i}`
    this.nats.push(nat)
    this.hosts.push(host)
    this.hostAddrs.push(`10.241.${i}.2`)
    run(['ip', 'netns', 'add', nat])
    run(['ip', 'netns', 'add', host])
    run(['ip', 'link', 'add', 'wan', 'netns', nat, 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', this.pub])
    run(['ip', 'link', 'add', 'lan', 'netns', nat, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host])
    run(['ip', '-n', this.pub, 'addr', 'add', `10.240.${i}.1/24`, 'dev', `p${i}`])
    run(['ip', '-n', nat, 'addr', 'add', `10.240.${i}.2/24`, 'dev', 'wan'])
    run(['ip', '-n', nat, 'addr', 'add', `10.241.${i}.1/24`, 'dev', 'lan'])
    run(['ip', '-n', host, 'addr', 'add', `10.241.${i}.2/24`, 'dev', 'eth0'])
    for (const [ns, dev] of [[this.pub, `p${i}`], [nat, 'wan'], [nat, 'lan'], [nat, 'lo'], [host, 'eth0'], [host, 'lo']] as const) {
      run(['ip', '-n', ns, 'link', 'set', dev, 'up'])
    }
    run(['ip', '-n', nat, 'route', 'add', 'default', 'via', `10.240.${i}.1`])
    run(['ip', '-n', host, 'route', 'add', 'default', 'via', `10.241.${i}.1`])
    run(['ip', 'netns', 'exec', nat, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    this.setNat(i - 1, kind)
  }

  /** (Re)writes member i's NAT ruleset. */
  setNat(i: number, kind: NatKind): void {
    const nat = this.nats[i]!
    spawnSync('ip', ['netns', 'exec', nat, 'nft', 'delete', 'table', 'ip', 'sttnat'])
    run(['ip', 'netns', 'exec', nat, 'nft', '-f', '-'], [
      'table ip sttnat {',
      '  chain postrouting {',
      '    type nat hook postrouting priority 100; policy accept;',
      `    oifname "wan" ${kind === 'symmetric' ? 'masquerade random,fully-random' : 'masquerade'}`,
      '  }',
      '  chain inbound {',
      '    type filter hook input priority 0; policy accept;',
      '    iifname "wan" ct state new counter drop',
      '  }',
      '  chain forwarding {',
      '    type filter hook forward priority 0; policy accept;',
      '    iifname "wan" ct state new counter drop',
      '  }',
      '}',
    ].join('\n'))
  }

  /** Drops everything between the members' NATs in the public router (relay traffic passes). */
  blockDirect(on: boolean): void {
    spawnSync('ip', ['netns', 'exec', this.pub, 'nft', 'delete', 'table', 'ip', 'sttblock'])
    if (!on) return
    run(['ip', 'netns', 'exec', this.pub, 'nft', '-f', '-'], [
      'table ip sttblock {',
      '  chain forwarding {',
      '    type filter hook forward priority 0; policy accept;',
      '    ip saddr 10.240.0.0/16 ip daddr 10.240.0.0/16 counter drop',
      '  }',
      '}',
    ].join('\n'))
  }

  /** Forgets every mapping of member i's NAT (as when it expires or the router restarts). */
  flushConntrack(i: number): void {
    spawnSync('ip', ['netns', 'exec', this.nats[i]!, 'conntrack', '-F'], { encoding: 'utf8' })
  }

  spawnNode(ns: string, script: string, args: string[], env: NodeJS.ProcessEnv = {}): NodeChild {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, script, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    this.children.add(child)
    child.on('exit', () => this.children.delete(child))
    return new NodeChild(child)
  }

  /** Starts any other program inside `ns` (the packet capture). */
  spawnRaw(ns: string, cmd: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.children.add(child)
    child.on('exit', () => this.children.delete(child))
    return child
  }

  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    for (const ch of this.children) ch.kill('SIGKILL')
    for (const ns of [...this.hosts, ...this.nats, this.pub]) spawnSync('ip', ['netns', 'del', ns])
  }
}
