/**
 * A node's answers to the HELLOs of one receive batch, over real sockets (issue 14): every
 * flooding address gets its own RETRY, no answer above 3x the HELLO it answers, and on the
 * native UDP transport all of them leave in ONE sendmmsg (sendMulti, a msg_name per message)
 * instead of one system call per RETRY. The node:dgram backend (STT_NATIVE=0) sends them one by
 * one; the answers are the same.
 */
import dgram from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { STTNode, generateSeed } from '../../src/index.js'
import { backend } from '../../src/native/load.js'
import { HeaderFlag, PacketType } from '../../src/protocol/constants.js'
import { InitiatorHandshake } from '../../src/protocol/handshake.js'
import { deriveGroupKeys, deriveIdentity } from '../../src/protocol/identity.js'
import { waitFor } from './node-ws-helpers.js'

const nodes: STTNode[] = []
const sockets: dgram.Socket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close()
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})

describe('the HELLOs of one receive batch are answered in one send', () => {
  it('24 addresses, one HELLO each: one RETRY each, within 3x, one sendmmsg on native UDP', async () => {
    const seed = generateSeed()
    // retryThreshold 0: every token-less HELLO earns a RETRY (the defence engaged).
    const server = new STTNode({ host: '127.0.0.1', port: 0, sharedSeed: seed, name: 'server', retryThreshold: 0 } as never)
    nodes.push(server)
    const { port } = await server.start()
    const params = { maxStreams: 8, streamWindow: 65536, sessionWindow: 1 << 20, bareMode: false, maxPacketSize: 1472 }
    const group = deriveGroupKeys(seed)
    const N = 24
    const got: Buffer[][] = Array.from({ length: N }, () => [])
    for (let i = 0; i < N; i++) {
      const s = dgram.createSocket('udp4')
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
      s.on('message', (m) => got[i]!.push(m))
      sockets.push(s)
    }
    const hellos = sockets.map(() =>
      new InitiatorHandshake({ group, identity: deriveIdentity(randomBytes(32)) }, { name: 'flood', params }, ['aes-256-gcm'], (n) => new Uint8Array(randomBytes(n))).createHello(Date.now()),
    )
    const udp = () => server.getTransportStats().transports['udp']!
    const before = udp().sendSyscalls as number
    // All sent within one event-loop turn of this process (bound sockets send at once): the
    // server reads them in one receive round, one batch.
    sockets.forEach((s, i) => s.send(hellos[i]!, port, '127.0.0.1'))
    await waitFor(() => got.every((g) => g.length === 1), 'a RETRY at every address', 10_000)
    await new Promise((r) => setTimeout(r, 50)) // nothing more follows
    got.forEach((g, i) => {
      expect(g).toHaveLength(1)
      expect(g[0]![1]).toBe(PacketType.CHALLENGE)
      expect(g[0]![2]! & HeaderFlag.RETRY).toBe(HeaderFlag.RETRY)
      expect(g[0]!.length).toBeLessThanOrEqual(3 * hellos[i]!.length)
      // The RETRY echoes the session id of the HELLO it answers: nobody got another's answer.
      expect(g[0]!.subarray(3, 11)).toEqual(Buffer.from(hellos[i]!.subarray(3, 11)))
    })
    expect(server.getTransportStats().handshakes.retriesSent).toBe(N)
    if (backend === 'native') expect((udp().sendSyscalls as number) - before).toBe(1)
  })
})
