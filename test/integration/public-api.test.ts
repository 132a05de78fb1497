/**
 * The sealed public API (issue 13 §5), on two real nodes joined by the in-memory channel
 * transport: internals are not reachable from the public objects, unknown options are
 * STT_CONFIG errors that name the key, node.receive() keeps messages only while someone
 * iterates and at most maxReceiveQueueBytes of them, error classes always agree with their
 * codes, and a session that dies of an error emits 'error' then 'close' (net.Socket).
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as api from '../../src/index.js'
import { STTNode, generateSeed, type STTSession, type STTStream } from '../../src/index.js'
import { ERROR_FAMILY, ErrorCode, errorFor, errorFromWire, WireError } from '../../src/errors.js'
import { createChannelPair } from '../../src/transport/channel.js'
import { sessionInternals } from '../../src/session.js'

const nodes: STTNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})

async function pair(extra: Partial<api.STTNodeOptions> = {}) {
  const [ta, tb] = createChannelPair({ seed: 3 })
  const seed = generateSeed()
  const a = new STTNode({ sharedSeed: seed, transportImpl: ta, name: 'a', ...extra })
  const b = new STTNode({ sharedSeed: seed, transportImpl: tb, name: 'b', ...extra })
  nodes.push(a, b)
  await a.start()
  await b.start()
  const accepted = new Promise<STTSession>((r) => b.once('session', r))
  const sa = await a.connect('channel://b')
  return { a, b, sa, sb: await accepted }
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('internals are private', () => {
  it('node, session and stream expose no driver, core, pump or handleEvent', async () => {
    const { a, sa, sb } = await pair()
    const st: STTStream = sa.openStream()
    for (const [obj, names] of [
      [a, ['flush', 'endpoint', 'transports', 'handleEvent', 'service', 'driver', 'sessions', 'receiveQueue']],
      [sa, ['core', 'handleEvent', 'host', 'streams', 'flush']],
      [sb, ['core', 'handleEvent']],
      [st, ['pump', 'onWritable', 'onEnd', 'onAborted', 'onSessionClosed', 'extraStats', 'host', 'key']],
    ] as const) {
      for (const n of names) expect((obj as unknown as Record<string, unknown>)[n], n).toBeUndefined()
    }
    // What the package exports is the public API: no driver, router or internals table.
    for (const n of ['Driver', 'TransportRouter', 'sessionInternals', 'streamEvents', 'Endpoint']) expect(n in api, n).toBe(false)
    st.destroy()
  })
})

describe('options are checked by name', () => {
  it('an unknown STTNode option is an STT_CONFIG error naming it (with the likely option)', () => {
    const bad = { sharedSeed: generateSeed(), keepAliveIntervall: 5000 } as unknown as api.STTNodeOptions
    expect(() => new STTNode(bad)).toThrow(api.STTConfigError)
    expect(() => new STTNode(bad)).toThrow(/unknown STTNode option 'keepAliveIntervall' \(did you mean 'keepAliveInterval'\?\)/)
  })

  it('unknown connect, openStream, send and close options are STT_CONFIG errors', async () => {
    const { a, sa } = await pair()
    await expect(a.connect('channel://b', { timout: 100 } as unknown as api.ConnectOptions)).rejects.toMatchObject({ code: 'STT_CONFIG', message: expect.stringMatching(/'timout'.*'timeout'/) })
    expect(() => sa.openStream({ nodelay: true } as unknown as api.StreamOptions)).toThrow(/unknown openStream option 'nodelay' \(did you mean 'noDelay'\?\)/)
    await expect(sa.send(Buffer.from('x'), { stream: 1 } as unknown as api.SendOptions)).rejects.toMatchObject({ code: 'STT_CONFIG' })
    await expect(sa.close('x', { drain: 0 } as unknown as api.CloseOptions)).rejects.toMatchObject({ code: 'STT_CONFIG' })
    expect(sa.closed).toBe(false)
  })
})

describe('node.receive()', () => {
  it('keeps nothing while nobody iterates; delivers while a reader runs', async () => {
    const { b, sa, sb } = await pair()
    const seen: Buffer[] = []
    sb.on('message', (m: api.ReceivedPacket) => seen.push(m.data))
    for (let i = 0; i < 20; i++) await sa.send(Buffer.alloc(1000, i))
    await until(() => seen.length === 20)
    // Nobody iterated: the 20 messages reached the 'message' event only, none wait in a queue.
    const it = b.receive()
    const first = it.next()
    await sa.send(Buffer.from('after'))
    expect((await first).value.data.toString()).toBe('after')
    await it.return(undefined)
    expect(b.getTransportStats().dropped['receive-queue-full'] ?? 0).toBe(0)
  })

  it('a reader that falls behind loses the oldest messages beyond maxReceiveQueueBytes, counted', async () => {
    const { b, sa, sb } = await pair({ maxReceiveQueueBytes: 10_000 })
    const it = b.receive()
    const first = it.next() // the reader runs, then stops reading for a while
    let n = 0
    sb.on('message', () => n++)
    for (let i = 0; i < 30; i++) await sa.send(Buffer.alloc(1000, i))
    await until(() => n === 30)
    expect((await first).value.data[0]).toBe(0)
    // 29 more arrived while the reader was busy; 10 000 bytes hold 10 of them: the newest.
    const rest: number[] = []
    for (let i = 0; i < 10; i++) rest.push((await it.next()).value.data[0])
    expect(rest).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29])
    expect(b.getTransportStats().dropped['receive-queue-full']).toBe(19)
    await it.return(undefined)
  })
})

describe('errors', () => {
  it('every code has exactly one class, and errorFor builds that class', () => {
    const classOf = { config: api.STTConfigError, handshake: api.STTHandshakeError, session: api.STTSessionError, stream: api.STTStreamError, protocol: api.STTProtocolError, transport: api.STTTransportError }
    for (const code of Object.values(ErrorCode)) {
      const e = errorFor(code, 'x')
      expect(e).toBeInstanceOf(api.STTError)
      expect(e.code).toBe(code)
      const family = ERROR_FAMILY[code]
      if (family === 'error') expect(Object.values(classOf).some((C) => e instanceof C), code).toBe(false)
      else expect(e, code).toBeInstanceOf(classOf[family])
      expect(e.name).toBe(e.constructor.name)
      expect(e.wireCode).toBeUndefined()
    }
    const w = errorFromWire(WireError.FLOW_CONTROL_VIOLATION, 'peer says')
    expect(w).toBeInstanceOf(api.STTStreamError)
    expect(w).toMatchObject({ code: 'STT_FLOW_CONTROL', wireCode: WireError.FLOW_CONTROL_VIOLATION })
  })

  it("a graceful close by the peer emits only 'close' (hadError false) on both sides", async () => {
    const { b, sa } = await pair()
    const events: string[] = []
    let err: api.STTError | undefined
    sa.on('error', (e: api.STTError) => {
      events.push('error')
      err = e
    })
    const closed = new Promise<api.CloseInfo>((r) => sa.once('close', (c: api.CloseInfo) => (events.push('close'), r(c))))
    const sb = b.getActiveSessions()[0]!
    // The peer stops with a graceful close of its own: that is not an error on either side.
    const quiet = new Promise<api.CloseInfo>((r) => sb.once('close', r))
    await sb.close('bye')
    expect(await quiet).toMatchObject({ hadError: false, remote: false })
    expect(await closed).toMatchObject({ code: WireError.NO_ERROR, hadError: false, remote: true })
    expect(events).toEqual(['close'])
    expect(err).toBeUndefined()
  })

  it("a session the peer closes with an error code emits 'error' (wire code set), then 'close' with hadError", async () => {
    const { sa, sb } = await pair({ keepAliveInterval: 100, keepAliveTimeout: 5000 })
    const events: string[] = []
    let err: api.STTError | undefined
    sa.on('error', (e: api.STTError) => {
      events.push('error')
      err = e
    })
    const closed = new Promise<api.CloseInfo>((r) => sa.once('close', (c: api.CloseInfo) => (events.push('close'), r(c))))
    let local: api.STTError | undefined
    sb.on('error', (e: api.STTError) => (local = e))
    // Test-only reach-in: the peer's core closes with a protocol error (no public call does).
    sessionInternals.core(sb).close(WireError.FLOW_CONTROL_VIOLATION, 'credit exceeded', performance.timeOrigin + performance.now())
    const info = await closed
    expect(info).toMatchObject({ code: WireError.FLOW_CONTROL_VIOLATION, hadError: true, remote: true })
    expect(err).toBeInstanceOf(api.STTStreamError)
    expect(err).toMatchObject({ code: 'STT_FLOW_CONTROL', wireCode: WireError.FLOW_CONTROL_VIOLATION })
    expect(events).toEqual(['error', 'close'])
    // The side that closed with the error reports it too, but with no wire code (it did not come from the wire).
    await until(() => local !== undefined)
    expect(local).toMatchObject({ code: 'STT_FLOW_CONTROL', wireCode: undefined })
  })
})
