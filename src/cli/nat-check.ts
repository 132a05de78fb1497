/**
 * `stt diagnose --relay URL [--relay URL2]`: how this host's NAT maps UDP, seen through relays of
 * the group (docs/guide/09-nat.md, PROTOCOL.md §8). No wire addition: a relay tells a member
 * only the reflexive address it sees (REGISTERED), so the mapping behaviour is read off
 * registrations made from chosen local ports:
 *
 *  - one local port P registered with two relay addresses: the same reflexive address from both
 *    is an endpoint-independent mapping (what hole punching needs); two different ones is an
 *    endpoint-dependent ("symmetric") mapping. Only this asserts either (RFC 4787 §4.1 needs two
 *    destinations to tell them apart).
 *  - local ports P and Q registered with one relay: whether the NAT keeps source ports. A
 *    port-preserving NAT is usually endpoint-independent and a port-rewriting one often is not,
 *    but with one relay address neither is proven: the verdict says so.
 *  - reflexive = a local address and the same port: no NAT between here and the relay.
 */
import { networkInterfaces } from 'node:os'
import { STTError, STTNode } from '../index.js'
import { describeError } from './exit.js'

export interface NatCheck {
  check: string
  level: 'OK' | 'WARN' | 'FAIL' | 'INFO'
  message: string
  advice?: string
  data?: Record<string, unknown>
}

export type NatMapping = 'none' | 'endpoint-independent' | 'endpoint-dependent' | 'unknown'

export interface NatCheckResult {
  check: NatCheck
  /** A relay registration succeeded (the relay is reachable and accepts our seed). */
  registered: boolean
  /** A relay rejected the seed. */
  authRejected: boolean
  mapping: NatMapping
}

interface HostPort {
  host: string
  port: number
}

const fmt = (a: HostPort) => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`
const same = (a: HostPort, b: HostPort) => a.host === b.host && a.port === b.port

function localAddresses(): Set<string> {
  const out = new Set<string>()
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address)
  return out
}

/** A started member node on its own local UDP port (0.0.0.0, port 0). */
async function probeNode(seed: Uint8Array, timeout: number): Promise<{ node: STTNode; port: number }> {
  const node = new STTNode({ sharedSeed: seed, name: 'stt-diagnose-nat', host: '0.0.0.0', port: 0, transport: 'udp', acceptConnections: false, handshakeTimeout: timeout, resumable: false })
  const bound = await node.start()
  return { node, port: bound.addresses['udp']?.port ?? bound.port }
}

/** Registers from one node with `relays` (in order) and from a second local port with the first. */
export async function natMappingCheck(seed: Uint8Array, relays: string[], timeout: number): Promise<NatCheckResult> {
  const nodes: STTNode[] = []
  try {
    const a = await probeNode(seed, timeout)
    nodes.push(a.node)
    const seen: HostPort[] = []
    for (const url of relays) {
      try {
        seen.push(await a.node.register(url))
      } catch (err) {
        const auth = err instanceof STTError && err.code === 'STT_AUTH_FAILED'
        return {
          registered: seen.length > 0,
          authRejected: auth,
          mapping: 'unknown',
          check: {
            check: 'NAT',
            level: 'FAIL',
            message: `cannot register with relay ${url}: ${describeError(err)}`,
            advice: auth ? 'the relay belongs to another group: use the seed file of its group' : 'is stt relay running there, and is UDP to it allowed? (a relay started with --websocket is also reachable as auto://)',
          },
        }
      }
    }
    const b = await probeNode(seed, timeout)
    nodes.push(b.node)
    let other: HostPort | null = null
    try {
      other = await b.node.register(relays[0]!)
    } catch {
      // The first registration worked a moment ago; a second that fails adds nothing to conclude from.
    }
    return verdict(relays, a.port, seen, b.port, other, localAddresses())
  } finally {
    await Promise.all(nodes.map((n) => n.stop('diagnose done').catch(() => {})))
  }
}

/**
 * The verdict from the reflexive addresses: `seen[i]` is local port `p` as relay i sees it,
 * `other` local port `q` as relay 0 sees it (null: not measured). Pure, for the unit test.
 */
export function verdict(relays: string[], p: number, seen: HostPort[], q: number, other: HostPort | null, local: Set<string>): NatCheckResult {
  const first = seen[0]!
  const portPreserving = first.port === p && (other === null || other.port === q)
  const data: Record<string, unknown> = {
    relays,
    localPorts: other ? [p, q] : [p],
    reflexive: seen.map((s, i) => ({ relay: relays[i], localPort: p, ...s })),
    secondPort: other ? { relay: relays[0], localPort: q, ...other } : null,
    portPreserving,
  }
  const result = (mapping: NatMapping, level: NatCheck['level'], message: string, advice?: string): NatCheckResult => ({
    registered: true,
    authRejected: false,
    mapping,
    check: { check: 'NAT', level, message, advice, data: { ...data, mapping } },
  })
  const ports = other ? `local port ${p} -> ${fmt(first)}, local port ${q} -> ${fmt(other)}` : `local port ${p} -> ${fmt(first)}`
  if (local.has(first.host) && first.port === p && seen.every((s) => same(s, first)))
    return result('none', 'OK', `no NAT between here and the relay: it sees our own address ${fmt(first)}`, undefined)
  if (seen.length >= 2) {
    const views = seen.map((s, i) => `${fmt(s)} (${relays[i]})`).join(' and ')
    if (seen.every((s) => same(s, first)))
      return result(
        'endpoint-independent',
        'OK',
        `endpoint-independent mapping: local port ${p} is seen as ${fmt(first)} by ${seen.length} relay addresses${portPreserving ? '; the NAT keeps source ports' : ''}. Hole punching works toward peers whose NAT filters no stricter than that`,
      )
    return result(
      'endpoint-dependent',
      'WARN',
      `endpoint-dependent ("symmetric") mapping: local port ${p} is seen as ${views}: a new mapping per destination. Punching fails toward most peers; sessions stay relayed`,
      'expect relayed sessions (run the relay close to the members, raise its --rate), or forward a UDP port on the NAT / use a network whose NAT keeps one mapping per local port',
    )
  }
  const more = 'give a second --relay (another relay of the group, or a second address of this one) to tell endpoint-independent from endpoint-dependent mapping'
  if (portPreserving)
    return result('unknown', 'INFO', `the NAT keeps source ports (${ports}): usually an endpoint-independent mapping (hole punching works), but one relay address cannot prove it`, more)
  return result('unknown', 'INFO', `the NAT rewrites source ports (${ports}): often an endpoint-dependent mapping (punching then fails), but one relay address cannot tell`, more)
}
