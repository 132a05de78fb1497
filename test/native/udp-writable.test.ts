/**
 * NativeUdpTransport's writable notifications: an address refused (writable() false) while a
 * batch waits for the socket hears onWritable when THAT batch drains, including an address
 * refused from inside an onWritable handler that sent and hit EAGAIN again (review 77).
 */
import { afterEach, expect, it } from 'vitest'
import { DebugFlag } from '../../src/native/binding.js'
import { backend, binding } from '../../src/native/load.js'
import type { PeerAddress, TransportEvents } from '../../src/transport/types.js'
import { NativeUdpTransport } from '../../src/transport/udp-native.js'

const open: NativeUdpTransport[] = []
afterEach(async () => { await Promise.all(open.splice(0).map((t) => t.close())) })

it.skipIf(backend !== 'native' || !binding?.UdpSocket)('an address refused from inside onWritable hears onWritable at the drain, not before', async () => {
  const t = new NativeUdpTransport({ host: '127.0.0.1', debugFlags: DebugFlag.SEND_EAGAIN | DebugFlag.NO_GSO })
  open.push(t)
  const log: Array<{ to: string; pendingAtCall: boolean }> = []
  const tos: PeerAddress[] = []
  let reentered = false
  const ev: TransportEvents = {
    onReceive() {},
    onWritable(to) {
      log.push({ to: String(to), pendingAtCall: !t.writable() })
      if (!reentered) {
        reentered = true
        const slab = new Uint8Array(20)
        t.send({ slab, offsets: Uint32Array.of(0, 10), lengths: Uint32Array.of(10, 10), count: 2, to: tos[0]! }) // 1 sent, 1 pending
        expect(t.writable(tos[3]!)).toBe(false) // tos[3] is held back by the new pending batch
      }
    },
  }
  t.attach(ev)
  await t.listen()
  const rx = []
  for (let k = 0; k < 4; k++) { const r = new NativeUdpTransport({ host: '127.0.0.1' }); r.attach({ onReceive() {} }); open.push(r); rx.push(r); tos.push(await t.dial(`127.0.0.1:${(await r.listen()).port}`)) }
  const slab = new Uint8Array(20)
  t.sendMulti({ slab, offsets: Uint32Array.of(0, 10), lengths: Uint32Array.of(10, 10), count: 2, dests: [tos[1]!, tos[2]!] })
  expect(t.writable(tos[2]!)).toBe(false)
  const end = Date.now() + 3000
  while (Date.now() < end && !log.some((e) => e.to === String(tos[3]) && !e.pendingAtCall)) await new Promise((r) => setTimeout(r, 10))
  // Expected: tos[3] is told writable once the SECOND pending batch drained (pendingAtCall false).
  expect(log.filter((e) => e.to === String(tos[3]) && !e.pendingAtCall)).toHaveLength(1)
})
