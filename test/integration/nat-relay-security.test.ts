/**
 * Regression tests for the NAT traversal security review, against a real relay on the loopback:
 * a "rogue" member speaks the control protocol itself over an ordinary session with the relay
 * (it holds the seed, as any member does) to send what a well-behaved member never would.
 * - item 2: an unpadded REGISTER/CONNECT is dropped and counted; candidates a punch would
 *   reflect at a victim never reach the other member; the punch budget of an introduction is
 *   3x what the peer really sent through the relay (not a fixed 1200 bytes).
 * - item 3: one member cannot lock another out (pending channels per pair capped, counted
 *   against the target only once it answers, expired when unanswered); CHANNEL_CLOSE.
 * - item 4: a malformed control message from a relay is counted at the member.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { STTNode, generateSeed, type STTSession } from '../../src/index.js'
import { CandidateKind, type ControlMessage, ControlType, decodeControl, encodeControl, RENDEZVOUS_STREAM_ID } from '../../src/protocol/rendezvous.js'

const nodes: STTNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})

type RelayStats = { channels: number; candidatesFiltered: number; channelsExpired: number; dropped: Record<string, number>; refused: Record<string, number> }

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
  /** A member that writes control messages itself, over an ordinary session with the relay. */
  const rogue = async (name: string) => {
    const n = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, name })
    nodes.push(n)
    await n.start()
    return new Rogue(n, await n.connect(url))
  }
  const stats = () => relay.getNatStats() as unknown as RelayStats
  return { seed, relay, url, member, rogue, stats }
}

class Rogue {
  readonly inbox: ControlMessage[] = []
  private waiters: Array<() => void> = []
  constructor(
    readonly node: STTNode,
    readonly session: STTSession,
  ) {
    session.on('message', (p: { streamId: number; data: Uint8Array }) => {
      if (p.streamId !== RENDEZVOUS_STREAM_ID) return
      const m = decodeControl(p.data)
      if (m) this.inbox.push(m)
      for (const w of this.waiters.splice(0)) w()
    })
  }
  send(m: ControlMessage | Uint8Array): Promise<void> {
    return this.session.send(m instanceof Uint8Array ? m : encodeControl(m), { streamId: RENDEZVOUS_STREAM_ID })
  }
  async next<T extends ControlType>(type: T, timeout = 5000): Promise<Extract<ControlMessage, { type: T }>> {
    const end = Date.now() + timeout
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type)
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Extract<ControlMessage, { type: T }>
      if (Date.now() > end) throw new Error(`no ${ControlType[type]} within ${timeout} ms`)
      await new Promise<void>((r) => {
        this.waiters.push(r)
        setTimeout(r, 50)
      })
    }
  }
  async register(hosts: Array<[string, number]> = []): Promise<void> {
    await this.send({ type: ControlType.REGISTER, candidates: hosts.map(([host, port]) => ({ kind: CandidateKind.HOST, host, port })) })
    await this.next(ControlType.REGISTERED)
  }
  async connect(target: Buffer, requestId: number): Promise<ControlMessage> {
    await this.send({ type: ControlType.CONNECT, requestId, target })
    const end = Date.now() + 5000
    for (;;) {
      const i = this.inbox.findIndex((m) => (m.type === ControlType.CONNECT_OK || m.type === ControlType.REFUSED) && m.requestId === requestId)
      if (i >= 0) return this.inbox.splice(i, 1)[0]!
      if (Date.now() > end) throw new Error('no answer to CONNECT')
      await new Promise((r) => setTimeout(r, 20))
    }
  }
}

const until = async (f: () => boolean, ms = 5000) => {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('NAT review item 2: rendezvous control', () => {
  it('an unpadded REGISTER or CONNECT is dropped and counted (control-unpadded); the padded one works', async () => {
    const { rogue, stats, member } = await group()
    const b = await member('b')
    const r = await rogue('r')
    const reg = encodeControl({ type: ControlType.REGISTER, candidates: [] })
    await r.send(reg.subarray(0, 40))
    await until(() => (stats().dropped['control-unpadded'] ?? 0) === 1)
    await r.register()
    const con = encodeControl({ type: ControlType.CONNECT, requestId: 1, target: b.nodeId })
    await r.send(con.subarray(0, 37))
    await until(() => (stats().dropped['control-unpadded'] ?? 0) === 2)
    expect(stats().channels).toBe(0)
    expect(r.inbox.filter((m) => m.type === ControlType.CONNECT_OK)).toHaveLength(0)
    expect((await r.connect(b.nodeId, 2)).type).toBe(ControlType.CONNECT_OK)
  })

  it('candidates a punch would reflect at a victim never reach the other member', async () => {
    const { rogue, stats } = await group()
    const victim = await rogue('victim')
    await victim.register()
    const r = await rogue('r')
    // Host candidates aimed at: the unspecified address, multicast, broadcast, IPv6 link-local, port 0.
    await r.register([['0.0.0.0', 7], ['224.0.0.1', 7], ['255.255.255.255', 7], ['fe80::1', 7], ['10.9.9.9', 0], ['198.51.100.7', 7]])
    const ok = await r.connect(victim.node.nodeId, 1)
    expect(ok.type).toBe(ControlType.CONNECT_OK)
    const intro = await victim.next(ControlType.INTRODUCE)
    // Both members reach the relay over loopback, so the reflexive 127.0.0.1 stays (same host).
    expect(intro.candidates.map((c) => c.host)).toEqual(['127.0.0.1', '198.51.100.7'])
    expect(intro.candidates[1]!.port).toBe(7)
    expect(intro.candidates[0]!.kind).toBe(CandidateKind.REFLEXIVE)
    expect(stats().candidatesFiltered).toBe(5)
  })

  it('the first punch round of an introduction is budgeted by what the peer really sent through the relay', async () => {
    const { member } = await group()
    const a = await member('a')
    const b = await member('b')
    const accepted = new Promise<STTSession>((r) => b.once('session', r))
    const sa = await a.connect(`stt://${b.nodeId.toString('hex')}`)
    const sb = await accepted
    for (const [s, n] of [[sa, a], [sb, b]] as const) {
      await until(() => (s.getStats().punch?.punchesSent ?? 0) > 0 || s.path === 'direct')
      const credit = s.getStats().punch!.creditBytes
      const relayed = (n.getNatStats() as unknown as { path: { bytesReceived: number } }).path.bytesReceived
      expect(credit).toBeGreaterThan(0)
      // Credited at most what came in through the relay (the fixed 1200 of the padded CONNECT before).
      expect(credit).toBeLessThanOrEqual(relayed)
    }
  })
})

describe('NAT review item 3: no relay channel lockout', () => {
  it('a member cannot fill another member\'s quota with introductions it never answers; unanswered channels expire', async () => {
    const { rogue, member, stats } = await group({ maxSessionsPerMember: 3, channelPendingTimeout: 600 })
    const b = await member('b')
    const c = await member('c')
    const r = await rogue('r')
    await r.register()
    // At most 2 unanswered introductions per (dialler, target) pair.
    expect((await r.connect(b.nodeId, 1)).type).toBe(ControlType.CONNECT_OK)
    expect((await r.connect(b.nodeId, 2)).type).toBe(ControlType.CONNECT_OK)
    expect(await r.connect(b.nodeId, 3)).toMatchObject({ type: ControlType.REFUSED, reason: 7 })
    // b never answered them: they do not count against b, which others still reach (before the
    // fix: STT_RELAY_REFUSED, "the peer reached the relay limit").
    const sc = await c.connect(`stt://${b.nodeId.toString('hex')}`)
    expect(sc.peerNodeId.equals(b.nodeId)).toBe(true)
    // The rogue's unanswered channels expire: CHANNEL_CLOSED, and it may ask again.
    await r.next(ControlType.CHANNEL_CLOSED, 5000)
    await r.next(ControlType.CHANNEL_CLOSED, 5000)
    expect(stats().channelsExpired).toBeGreaterThanOrEqual(2)
    expect((await r.connect(b.nodeId, 4)).type).toBe(ControlType.CONNECT_OK)
  })

  it('CHANNEL_CLOSE ends a channel for its members only; the other member hears CHANNEL_CLOSED', async () => {
    const { rogue, stats } = await group()
    const t = await rogue('t')
    await t.register()
    const r = await rogue('r')
    await r.register()
    const x = await rogue('x')
    await x.register()
    const ok = await r.connect(t.node.nodeId, 1)
    if (ok.type !== ControlType.CONNECT_OK) throw new Error('no channel')
    await t.next(ControlType.INTRODUCE)
    // A third member cannot close it.
    await x.send({ type: ControlType.CHANNEL_CLOSE, channel: ok.channel })
    await until(() => (stats().dropped['control-unexpected'] ?? 0) === 1)
    expect(stats().channels).toBe(1)
    await r.send({ type: ControlType.CHANNEL_CLOSE, channel: ok.channel })
    const closed = await t.next(ControlType.CHANNEL_CLOSED)
    expect(Buffer.from(closed.channel).equals(Buffer.from(ok.channel))).toBe(true)
    expect(stats().channels).toBe(0)
  })

  it('a member tells the relay when its relayed session ends (CHANNEL_CLOSE)', async () => {
    const { member, stats } = await group()
    const a = await member('a')
    const b = await member('b')
    const sa = await a.connect(`stt://${b.nodeId.toString('hex')}`)
    expect(stats().channels).toBe(1)
    await sa.close()
    await until(() => stats().channels === 0)
  })
})

describe('NAT review item 4: a malformed control message from a relay is counted at the member', () => {
  it('counts it (controlMalformed) and goes on', async () => {
    const seed = generateSeed()
    // A stand-in relay: an ordinary node that answers the member's control stream itself.
    const fake = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, name: 'fake-relay' })
    nodes.push(fake)
    const fr = await fake.start()
    fake.on('session', (s: STTSession) => {
      s.on('message', (p: { streamId: number; data: Uint8Array }) => {
        if (p.streamId !== RENDEZVOUS_STREAM_ID || p.data[0] !== ControlType.REGISTER) return
        void s.send(Uint8Array.from([0x63, 1, 2]), { streamId: RENDEZVOUS_STREAM_ID })
        void s.send(encodeControl({ type: ControlType.REGISTERED, reflexive: { kind: CandidateKind.REFLEXIVE, host: '127.0.0.1', port: 1 } }), { streamId: RENDEZVOUS_STREAM_ID })
      })
    })
    const m = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, name: 'm' })
    nodes.push(m)
    await m.start()
    expect(await m.register(`udp://127.0.0.1:${fr.port}`)).toEqual({ host: '127.0.0.1', port: 1 })
    expect(m.getNatStats()).toMatchObject({ role: 'member', controlMalformed: 1 })
  })
})
