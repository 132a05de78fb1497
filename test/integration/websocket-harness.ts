/**
 * Shared pieces of the WebSocket transport tests: an event recorder, a batch builder, a poller
 * and a leak snapshot. Real sockets only; everything binds 127.0.0.1 port 0.
 */

import type { PeerAddress, RxBatch, TxBatch } from '../../src/transport/types.js'
import { WebSocketTransport, type WebSocketTransportEvents, type WebSocketTransportOptions } from '../../src/transport/websocket.js'

export interface Received {
  from: PeerAddress
  data: Buffer
}

export interface Recorder extends WebSocketTransportEvents {
  received: Received[]
  closed: Array<{ addr: PeerAddress; reason: string }>
  writableAgain: PeerAddress[]
  errors: Error[]
}

export function recorder(): Recorder {
  const r: Recorder = {
    received: [],
    closed: [],
    writableAgain: [],
    errors: [],
    onReceive(batch: RxBatch) {
      for (let i = 0; i < batch.count; i++) {
        const off = batch.offsets[i]!
        // Copy: the views are only valid during the callback.
        r.received.push({ from: batch.from[i]!, data: Buffer.from(batch.slab.subarray(off, off + batch.lengths[i]!)) })
      }
    },
    onPeerClosed(addr, reason) {
      r.closed.push({ addr, reason })
    },
    onWritable(addr) {
      r.writableAgain.push(addr)
    },
    onError(err) {
      r.errors.push(err)
    },
  }
  return r
}

/** Packs datagrams into one slab the way the session layer would. */
export function batchOf(to: PeerAddress, datagrams: Uint8Array[]): TxBatch {
  const total = datagrams.reduce((n, d) => n + d.length, 0)
  const slab = new Uint8Array(total + 16)
  const offsets = new Uint32Array(datagrams.length)
  const lengths = new Uint32Array(datagrams.length)
  let at = 8 // a non-zero start, so offsets are really used
  datagrams.forEach((d, i) => {
    slab.set(d, at)
    offsets[i] = at
    lengths[i] = d.length
    at += d.length
  })
  return { slab, offsets, lengths, count: datagrams.length, to }
}

/** Deterministic datagram `i` of length `len` (content identifies it). */
export function datagram(i: number, len: number): Buffer {
  const b = Buffer.alloc(len)
  for (let k = 0; k < len; k++) b[k] = (i * 31 + k * 7) & 0xff
  if (len >= 4) b.writeUInt32BE(i, 0)
  return b
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const start = Date.now()
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A listening server transport and its recorder. */
export async function startServer(options: WebSocketTransportOptions = {}) {
  const events = recorder()
  const transport = new WebSocketTransport({ host: '127.0.0.1', port: 0, ...options })
  transport.attach(events)
  const bound = await transport.listen()
  const scheme = options.tls?.cert !== undefined ? 'wss' : 'ws'
  const path = options.websocketPath ?? '/stt'
  return { transport, events, bound, url: `${scheme}://127.0.0.1:${bound.port}${path}` }
}

export function startClient(options: WebSocketTransportOptions = {}) {
  const events = recorder()
  const transport = new WebSocketTransport(options)
  transport.attach(events)
  return { transport, events }
}

/** Network-ish handles only: the kinds a transport could leak. */
const NET_KINDS = new Set(['TCPSocketWrap', 'TCPServerWrap', 'TLSWrap', 'PipeWrap', 'GetAddrInfoReqWrap', 'TCPConnectWrap'])

export interface HandleSnapshot {
  net: number
  timeouts: number
}

export function handles(): HandleSnapshot {
  const info = process.getActiveResourcesInfo()
  return {
    net: info.filter((k) => NET_KINDS.has(k)).length,
    timeouts: info.filter((k) => k === 'Timeout').length,
  }
}

/** Resolves with the error a promise rejects with (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p
  } catch (err) {
    return err as Error & { code?: string }
  }
  throw new Error('expected a rejection, but the promise resolved')
}

/** A TCP server that accepts and never answers (a black hole behind a firewall, a hung peer). */
export async function silentServer(): Promise<{
  port: number
  accepted: () => number
  closed: () => number
  close: () => Promise<void>
}> {
  const { createServer } = await import('node:net')
  const sockets = new Set<import('node:net').Socket>()
  let accepted = 0
  let closed = 0
  const server = createServer((s) => {
    accepted++
    sockets.add(s)
    s.on('error', () => {})
    s.resume() // read (and ignore) everything, so the peer's FIN is noticed
    s.once('close', () => {
      closed++
      sockets.delete(s)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as import('node:net').AddressInfo).port,
    accepted: () => accepted,
    closed: () => closed,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  }
}
