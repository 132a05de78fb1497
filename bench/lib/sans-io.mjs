// What the sans-I/O benches (handshake-responder.mjs, hello-flood-cpu.mjs) share: the builds
// they compare, made-up peer addresses, the responder's CPU time and an optional V8 profile.
import { join } from 'node:path'

/**
 * STT_DIST=dirA,dirB,...: several builds (each a dist/ beside its own build/), measured in one
 * process run by run in turn (A B A B ...), so that a busy machine's drift hits each alike.
 * Without it, `defaultDist`.
 */
export async function loadBuilds(defaultDist) {
  const builds = []
  for (const root of (process.env.STT_DIST ?? defaultDist).split(',')) {
    const { resolveProtocolConfig } = await import(join(root, 'config.js'))
    const { aead } = await import(join(root, 'crypto/index.js'))
    const { handshakeCrypto } = await import(join(root, 'crypto/handshake-crypto.js'))
    const { Endpoint } = await import(join(root, 'protocol/endpoint.js'))
    const { RandomPool } = await import(join(root, 'crypto/random-pool.js'))
    builds.push({ root, resolveProtocolConfig, aead, handshakeCrypto, Endpoint, RandomPool })
  }
  return builds
}

/** A distinct IPv4 UDP address for peer i (a real responder sees many hosts). */
export function udpAddr(i) {
  const host = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
  const port = 40000 + (i % 20000)
  const key = `udp:${host}:${port}`
  return { key, kind: 'udp', reliable: false, family: 'IPv4', host, port, toString: () => `udp://${host}:${port}` }
}

/** This process's CPU time (user + system), µs: robust to what else the machine runs. */
export const cpuMicros = () => {
  const c = process.cpuUsage()
  return c.user + c.system
}

/**
 * PROFILE=dir: V8 CPU profiles of the timed parts only, `${name}-N.cpuprofile` in dir; start()
 * and stop() around each timed part (no-ops without PROFILE).
 */
export async function profilerFor(name) {
  const dir = process.env.PROFILE
  if (!dir) return { start() {}, stop() {} }
  const inspector = await import('node:inspector')
  const fs = await import('node:fs')
  fs.mkdirSync(dir, { recursive: true })
  const session = new inspector.Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.setSamplingInterval', { interval: 100 })
  let n = 0
  return {
    start: () => session.post('Profiler.start'),
    stop: () =>
      session.post('Profiler.stop', (err, r) => {
        if (!err) fs.writeFileSync(join(dir, `${name}-${n++}.cpuprofile`), JSON.stringify(r.profile))
      }),
  }
}
