/**
 * `stt diagnose --relay`: the NAT mapping verdict (src/cli/nat-check.ts). The pure verdict for
 * every case, and the real check against relays on the loopback (no NAT there: 'none'). The
 * kernel NAT cases (cone, symmetric) are in test/integration/nat-diagnose-netns.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { STTNode, generateSeed } from '../../src/index.js'
import { natMappingCheck, verdict } from '../../src/cli/nat-check.js'

const nodes: STTNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})

const R = ['udp://198.51.100.1:7000', 'udp://198.51.100.2:7000']
const local = new Set(['10.0.0.2', '127.0.0.1'])

describe('NAT mapping verdict', () => {
  it('two relay addresses, one mapping: endpoint-independent (and port-preserving when it is)', () => {
    const v = verdict(R, 5000, [{ host: '203.0.113.9', port: 5000 }, { host: '203.0.113.9', port: 5000 }], 5001, { host: '203.0.113.9', port: 5001 }, local)
    expect(v.mapping).toBe('endpoint-independent')
    expect(v.check.level).toBe('OK')
    expect(v.check.data).toMatchObject({ portPreserving: true, mapping: 'endpoint-independent' })
    const w = verdict(R, 5000, [{ host: '203.0.113.9', port: 40001 }, { host: '203.0.113.9', port: 40001 }], 5001, { host: '203.0.113.9', port: 40002 }, local)
    expect(w.mapping).toBe('endpoint-independent')
    expect(w.check.data).toMatchObject({ portPreserving: false })
  })

  it('two relay addresses, two mappings: endpoint-dependent (symmetric), a warning', () => {
    const v = verdict(R, 5000, [{ host: '203.0.113.9', port: 40001 }, { host: '203.0.113.9', port: 51234 }], 5001, null, local)
    expect(v.mapping).toBe('endpoint-dependent')
    expect(v.check.level).toBe('WARN')
    expect(v.check.message).toMatch(/symmetric/)
  })

  it('one relay address: port preservation is reported, the mapping is not asserted', () => {
    const keep = verdict(R.slice(0, 1), 5000, [{ host: '203.0.113.9', port: 5000 }], 5001, { host: '203.0.113.9', port: 5001 }, local)
    expect(keep.mapping).toBe('unknown')
    expect(keep.check.level).toBe('INFO')
    expect(keep.check.message).toMatch(/keeps source ports/)
    expect(keep.check.advice).toMatch(/second --relay/)
    const rewrite = verdict(R.slice(0, 1), 5000, [{ host: '203.0.113.9', port: 33333 }], 5001, { host: '203.0.113.9', port: 44444 }, local)
    expect(rewrite.mapping).toBe('unknown')
    expect(rewrite.check.message).toMatch(/rewrites source ports/)
  })

  it('our own address and port: no NAT', () => {
    const v = verdict(R.slice(0, 1), 5000, [{ host: '10.0.0.2', port: 5000 }], 5001, { host: '10.0.0.2', port: 5001 }, local)
    expect(v.mapping).toBe('none')
    expect(v.check.level).toBe('OK')
  })

  it('real relays on the loopback: registered from two local ports and two relays, no NAT', async () => {
    const seed = generateSeed()
    const urls: string[] = []
    for (let i = 0; i < 2; i++) {
      const relay = new STTNode({ sharedSeed: seed, host: '127.0.0.1', port: 0, relay: true })
      nodes.push(relay)
      urls.push(`udp://127.0.0.1:${(await relay.start()).port}`)
    }
    const r = await natMappingCheck(seed, urls, 5000)
    expect(r.registered).toBe(true)
    expect(r.mapping).toBe('none')
    const data = r.check.data as { reflexive: { host: string; port: number; localPort: number }[]; secondPort: { port: number; localPort: number } }
    expect(data.reflexive).toHaveLength(2)
    expect(data.reflexive[0]!.port).toBe(data.reflexive[0]!.localPort)
    expect(data.secondPort.port).toBe(data.secondPort.localPort)
    expect(data.secondPort.localPort).not.toBe(data.reflexive[0]!.localPort)
  }, 30_000)

  it('a relay of another group: registration fails, the seed is blamed', async () => {
    const relay = new STTNode({ sharedSeed: generateSeed(), host: '127.0.0.1', port: 0, relay: true })
    nodes.push(relay)
    const url = `udp://127.0.0.1:${(await relay.start()).port}`
    const r = await natMappingCheck(generateSeed(), [url], 3000)
    expect(r).toMatchObject({ registered: false, authRejected: true, mapping: 'unknown' })
    expect(r.check.level).toBe('FAIL')
  }, 30_000)
})
