import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

// A 64-byte stream ping-pong between two STTNodes in this process (native UDP on 127.0.0.1
// unless STT_NATIVE=0), for the per-round-trip work benches (rtt-loop-work, rtt-alloc,
// rtt-instructions). `onWarm` runs once `warm` round trips are done and `onDone` after `rounds`
// more (before the nodes stop); the promise resolves once both nodes are stopped. `datagram`:
// the same with unreliable datagrams (sendDatagram / 'datagram', compare.mjs's
// stt-native-datagram/rtt row). `thinkMs`: after the warm-up, the answering node replies that
// long after each ping (setTimeout), as a server that does work per request (rpc-think.mjs);
// warm-up pings are answered at once, so that many of them take little time. onWarm and onDone
// get the pinging session.
export async function pingPong(dist, { rounds, warm, onWarm, onDone, datagram = false, thinkMs = 0, size = 64 }) {
  const { STTNode } = await import(pathToFileURL(resolve(dist, 'index.js')).href)
  const sharedSeed = Buffer.alloc(32, 7)
  const b = new STTNode({ sharedSeed, host: '127.0.0.1', port: 0 })
  const bound = await b.start()
  let thinking = false
  const later = (f) => (thinking ? setTimeout(f, thinkMs) : f())
  if (datagram) b.on('session', (s) => s.on('datagram', (d) => later(() => s.sendDatagram(d))))
  else
    b.on('session', (s) =>
      s.on('stream', (st) => {
        // Echoes each whole ping (of `size` bytes, in one or more chunks) as one write.
        const chunks = []
        let n = 0
        st.on('data', (d) => {
          chunks.push(d)
          if ((n += d.length) < size) return
          const ping = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
          chunks.length = 0
          n = 0
          later(() => st.write(ping))
        })
      }),
    )
  const a = new STTNode({ sharedSeed, host: '127.0.0.1', port: 0 })
  await a.start()
  // A long handshake timeout: under valgrind on a loaded machine 10 s was not always enough.
  const session = await a.connect(`udp://127.0.0.1:${bound.port}`, { timeout: 120_000 })
  const buf = Buffer.alloc(size, 0x78)
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
        if ((got += d.length) < size) return
        got = 0
        reply()
      })
  }
  let i = 0
  await new Promise((resolve) => {
    onReply(() => {
      if (++i === warm) {
        thinking = thinkMs > 0
        onWarm(session)
      }
      if (i === warm + rounds) {
        onDone(session)
        return resolve()
      }
      send()
    })
    send()
  })
  await a.stop()
  await b.stop()
}
