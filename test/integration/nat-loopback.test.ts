/**
 * Relay and rendezvous on the loopback (no NAT; the kernel NAT cases are in nat-netns.test.ts):
 * registration and the reflexive address, connect by node id through the relay, the relayed
 * path first and a punched direct path taking over with nothing lost, refusals with
 * STT_RELAY_REFUSED (unknown peer, limits), non-members kept out, and the relay forwarding
 * only envelopes it cannot read.
 */
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { STTNode, generateSeed, type STTSession, type STTStream } from '../../src/index.js'
import { readAll, writeAll, sha256 as sha } from './node-ws-helpers.js'

const nodes: STTNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})

async function group(relayOpts: ConstructorParameters<typeof STTNode>[0]['relay'] = true) {
  const seed = generateSeed()
  const relay = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, relay: relayOpts, name: 'relay' })
  nodes.push(relay)
  const r = await relay.start()
  const url = `udp://127.0.0.1:${r.port}`
  const member = async (name: string) => {
    const n = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, rendezvous: url, name })
    nodes.push(n)
    await n.start()
    await n.register(url)
    return n
  }
  return { seed, relay, url, port: r.port, member }
}

describe('relay and rendezvous (loopback)', () => {
  it('a member learns its reflexive address; connect by node id starts relayed and moves to the punched direct path, byte-exact', async () => {
    const { relay, member, port } = await group()
    const a = await member('a')
    const b = await member('b')
    const reflexive = await b.register(`udp://127.0.0.1:${port}`)
    expect(reflexive.host).toBe('127.0.0.1')
    expect(relay.getNatStats()).toMatchObject({ role: 'relay', members: 2 })
    // The relay session is the node's own: no 'session' event, not among the active sessions.
    expect(a.getActiveSessions()).toHaveLength(0)
    const accepted = new Promise<STTSession>((r) => b.once('session', r))
    const sa = await a.connect(`stt://${b.nodeId.toString('hex')}@127.0.0.1:${port}`)
    const sb = await accepted
    // Race, don't wait: the session is up over the relay before any punch could answer.
    expect(sa.path).toBe('relayed')
    expect(sa.getStats().remoteAddress).toMatch(/^relay\+udp/)
    expect(sa.peerNodeId.equals(b.nodeId)).toBe(true)
    expect(sb.peerNodeId.equals(a.nodeId)).toBe(true)
    const paths: string[] = []
    sa.on('path', (p: string) => paths.push(p))
    const direct = sa.path === 'direct' ? Promise.resolve() : new Promise((r) => sa.once('path', r))
    const data = randomBytes(4 << 20)
    const got = new Promise<Buffer>((r) => sb.once('stream', (s: STTStream) => readAll(s).then(r)))
    await writeAll(sa.openStream(), data)
    expect(sha(await got)).toBe(sha(data))
    await direct
    expect(sa.path).toBe('direct')
    expect(paths).toEqual(['direct']) // one move: no relay <-> direct ping-pong (PROTOCOL.md §8.4)
    const st = sa.getStats()
    expect(st.punch?.punchesSent).toBeGreaterThan(0)
    const rs = relay.getNatStats() as { packetsForwarded: number; introductions: number }
    expect(rs.introductions).toBe(1)
    expect(rs.packetsForwarded).toBeGreaterThan(2)
  })

  it('refuses unknown peers and enforces the per-member limit with STT_RELAY_REFUSED', async () => {
    const { member, port } = await group({ maxSessionsPerMember: 1 })
    const a = await member('a')
    const b = await member('b')
    const c = await member('c')
    await expect(a.connect(`stt://${'ab'.repeat(32)}@127.0.0.1:${port}`)).rejects.toMatchObject({ code: 'STT_RELAY_REFUSED' })
    await a.connect(`stt://${b.nodeId.toString('hex')}`)
    await expect(a.connect(`stt://${c.nodeId.toString('hex')}`)).rejects.toMatchObject({ code: 'STT_RELAY_REFUSED', message: /per member/ })
    await expect(c.connect(`stt://${b.nodeId.toString('hex')}`)).rejects.toMatchObject({ code: 'STT_RELAY_REFUSED', message: /peer reached/ })
  })

  it('the target answering at its per-member limit: the relay closes the channel, the dialler gets STT_RELAY_REFUSED', async () => {
    const { relay, member, port } = await group({ maxSessionsPerMember: 1 })
    const a1 = await member('a1')
    const a2 = await member('a2')
    const b = await member('b')
    // B takes no call yet: both introductions are made while neither counts against B.
    b.disableAcceptConnections()
    const target = `stt://${b.nodeId.toString('hex')}@127.0.0.1:${port}`
    // The path is read as each dial resolves: the survivor may punch to direct on the loopback
    // soon after (two runs in 35 read 'direct' once all dials had settled). Its 'path' events
    // are recorded from then on.
    const dials = [a1, a2].map((n) =>
      n.connect(target, { timeout: 20_000 }).then((s) => {
        const paths: string[] = []
        s.on('path', (p: string) => paths.push(p))
        return { s, node: n, path: s.path, remote: s.getStats().remoteAddress, paths }
      }),
    )
    const atB: STTSession[] = []
    b.on('session', (sb: STTSession) => atB.push(sb))
    const rs = () => relay.getNatStats() as { introductions: number; channels: number; dropped: Record<string, number>; refused: Record<string, number> }
    for (let i = 0; i < 200 && rs().introductions < 2; i++) await new Promise((r) => setTimeout(r, 20))
    expect(rs()).toMatchObject({ introductions: 2, channels: 2 })
    // Now B answers both (their HELLOs are retransmitted): the first answer takes B's one
    // slot; B's first packet on the other channel finds B at its limit and closes that channel.
    b.enableAcceptConnections()
    const results = await Promise.allSettled(dials)
    const ok = results.filter((r) => r.status === 'fulfilled')
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    expect(ok).toHaveLength(1)
    expect(failed).toHaveLength(1)
    expect(failed[0]!.reason).toMatchObject({ code: 'STT_RELAY_REFUSED', message: /closed the channel/ })
    expect(rs().dropped['relay-peer-limit']).toBe(1)
    expect(rs().channels).toBe(1)
    // The surviving session works; a third dial is refused outright (B is counted at its limit).
    const won = (ok[0] as PromiseFulfilledResult<Awaited<(typeof dials)[number]>>).value
    expect(won.path).toBe('relayed')
    expect(won.remote).toMatch(/^relay\+/)
    // A stream round trip on it, over whichever path it is on by now.
    const s = won.s
    const sb = atB.find((x) => x.peerNodeId.equals(won.node.nodeId))
    expect(sb).toBeDefined()
    sb!.on('stream', (st: STTStream) => void readAll(st).then((d) => writeAll(sb!.openStream(), d)))
    const back = new Promise<Buffer>((r) => s.once('stream', (st: STTStream) => readAll(st).then(r)))
    const data = randomBytes(64 << 10)
    await writeAll(s.openStream(), data)
    expect(sha(await back)).toBe(sha(data))
    // Relayed still, or punched to direct in one move (no relay <-> direct ping-pong, §8.4).
    expect(won.paths).toEqual(s.path === 'direct' ? ['direct'] : [])
    const c = await member('c')
    await expect(c.connect(target)).rejects.toMatchObject({ code: 'STT_RELAY_REFUSED', message: /peer reached/ })
    expect(rs().refused['peer-limit']).toBe(1)
  }, 60_000)

  it('a node without the shared seed cannot register, look up or be relayed', async () => {
    const { member, port } = await group()
    const b = await member('b')
    const outsider = new STTNode({ sharedSeed: generateSeed(), host: '127.0.0.1', port: 0, handshakeTimeout: 2000 })
    nodes.push(outsider)
    await outsider.start()
    await expect(outsider.register(`udp://127.0.0.1:${port}`)).rejects.toMatchObject({ code: 'STT_AUTH_FAILED' })
    await expect(outsider.connect(`stt://${b.nodeId.toString('hex')}@127.0.0.1:${port}`)).rejects.toMatchObject({ code: 'STT_AUTH_FAILED' })
  })

  it('rejects malformed stt:// targets and stt:// without a relay', async () => {
    const seed = generateSeed()
    const n = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0 })
    nodes.push(n)
    await n.start()
    await expect(n.connect('stt://zz')).rejects.toMatchObject({ code: 'STT_CONFIG' })
    await expect(n.connect(`stt://${'ab'.repeat(32)}`)).rejects.toMatchObject({ code: 'STT_CONFIG' })
  })
})
