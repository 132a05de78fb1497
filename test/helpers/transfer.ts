/**
 * Application logic for pipe tests: one side writes N byte streams with real backpressure
 * (write() until false, resume on 'writable'), the other reads everything on 'readable' and
 * hashes it. Returns the per-stream SHA-256 on both sides for comparison.
 */
import { createHash, type Hash } from 'node:crypto'
import { rng, type PipeEndpoint, type StreamPipe } from './stream-pipe.js'

export interface TransferResult {
  sentHashes: string[]
  receivedHashes: Map<number, string>
  done: () => boolean
}

/** Deterministic content for stream i. */
export function streamBytes(seed: number, i: number, size: number): Uint8Array {
  const r = rng(seed * 1000 + i)
  const out = new Uint8Array(size)
  for (let k = 0; k < size; k += 4) {
    const v = (r() * 0x100000000) >>> 0
    out[k] = v & 0xff
    if (k + 1 < size) out[k + 1] = (v >>> 8) & 0xff
    if (k + 2 < size) out[k + 2] = (v >>> 16) & 0xff
    if (k + 3 < size) out[k + 3] = v >>> 24
  }
  return out
}

export function startTransfer(
  pipe: StreamPipe,
  opts: { streams: number; bytesPerStream: number; chunk?: number; seed?: number; from?: PipeEndpoint; to?: PipeEndpoint; priority?: (i: number) => number },
): TransferResult {
  const from = opts.from ?? pipe.a
  const to = opts.to ?? pipe.b
  const chunk = opts.chunk ?? 64 * 1024
  const seed = opts.seed ?? 7
  const keys: number[] = []
  const payloads: Uint8Array[] = []
  const written: number[] = []
  const sentHashes: string[] = []
  for (let i = 0; i < opts.streams; i++) {
    const key = from.streams.openStream({ priority: opts.priority?.(i) ?? 0 })
    keys.push(key)
    const p = streamBytes(seed, i, opts.bytesPerStream)
    payloads.push(p)
    written.push(0)
    sentHashes.push(createHash('sha256').update(p).digest('hex'))
  }
  const index = new Map(keys.map((k, i) => [k, i]))
  const hashes = new Map<number, Hash>()
  const receivedHashes = new Map<number, string>()
  const receivedOrderKeys: number[] = []

  const pump = (i: number): void => {
    const key = keys[i]!
    const p = payloads[i]!
    while (written[i]! < p.length) {
      const n = Math.min(chunk, p.length - written[i]!)
      const ok = from.streams.write(key, p.subarray(written[i]!, written[i]! + n))
      written[i]! += n
      if (written[i] === p.length) from.streams.end(key)
      if (!ok) return
    }
  }
  for (let i = 0; i < keys.length; i++) {
    pump(i)
    if (opts.bytesPerStream === 0) from.streams.end(keys[i]!)
  }

  const drain = (key: number): void => {
    let h = hashes.get(key)
    if (h === undefined) {
      h = createHash('sha256')
      hashes.set(key, h)
      receivedOrderKeys.push(key)
    }
    for (let b = to.streams.read(key); b !== null; b = to.streams.read(key)) h.update(b)
  }

  const prev = pipe.onStep
  pipe.onStep = (pp) => {
    prev?.(pp)
    for (const e of from.events.splice(0)) {
      if (e.kind === 'writable') {
        const i = index.get(e.stream)
        if (i !== undefined) pump(i)
      }
    }
    for (const e of to.events.splice(0)) {
      // The receiver writes nothing back: half-close its direction at once.
      if (e.kind === 'stream-opened') to.streams.end(e.stream)
      else if (e.kind === 'readable') drain(e.stream)
      else if (e.kind === 'end') {
        drain(e.stream)
        receivedHashes.set(e.stream, hashes.get(e.stream)?.digest('hex') ?? createHash('sha256').digest('hex'))
      }
    }
  }
  return {
    sentHashes,
    receivedHashes,
    done: () => receivedHashes.size === keys.length && from.streams.streamCount === 0 && to.streams.streamCount === 0,
  }
}
