import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

// A 64-byte stream ping-pong between two STTNodes in this process (native UDP on 127.0.0.1
// unless STT_NATIVE=0), for the per-round-trip work benches (rtt-loop-work, rtt-alloc,
// rtt-instructions). `onWarm` runs once `warm` round trips are done and `onDone` after `rounds`
// more (before the nodes stop); the promise resolves once both nodes are stopped. `datagram`:
// the same with unreliable datagrams (sendDatagram / 'datagram', compare.mjs's
// stt-native-datagram/rtt row).
export async function pingPong(dist, { rounds, warm, onWarm, onDone, datagram = false }) {
  const { STTNode } = await import(pathToFileURL(resolve(dist, 'index.js')).href)
  const sharedSeed = Buffer.alloc(32, 7)
  const b = new STTNode({ sharedSeed, host: '127.0.0.1', port: 0 })
  const bound = await b.start()
  if (datagram) b.on('session', (s) => s.on('datagram', (d) => s.sendDatagram(d)))
  else b.on('session', (s) => s.on('stream', (st) => st.on('data', (d) => st.write(d))))
  const a = new STTNode({ sharedSeed, host: '127.0.0.1', port: 0 })
  await a.start()
  // A long handshake timeout: under valgrind on a loaded machine 10 s was not always enough.
  const session = await a.connect(`udp://127.0.0.1:${bound.port}`, { timeout: 120_000 })
  const buf = Buffer.alloc(64, 0x78)
  let send
  let onReply
  if (datagram) {
    send = () => session.sendDatagram(buf)
    // Loopback in one process does not lose datagrams; a lost one would stall the run (no retry).
    onReply = (reply) => session.on('datagram', reply)
  } else {
    const st = session.openStream({ noDelay: true })
    send = () => st.write(buf)
    let got = 0
    onReply = (reply) =>
      st.on('data', (d) => {
        if ((got += d.length) < 64) return
        got = 0
        reply()
      })
  }
  let i = 0
  await new Promise((resolve) => {
    onReply(() => {
      if (++i === warm) onWarm()
      if (i === warm + rounds) {
        onDone()
        return resolve()
      }
      send()
    })
    send()
  })
  await a.stop()
  await b.stop()
}
