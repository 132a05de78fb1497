/**
 * One worker of an STTWorkerNode (worker-node.ts): an STTNode on its own socket (a dup of its
 * reuseport group member, so the kernel hands it exactly the sessions whose ids steer to it),
 * reporting sessions to the main thread and carrying their datagrams both ways in batches.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { STTError } from '../errors.js'
import { STTNode, type STTNodeOptions } from '../node.js'
import type { STTSession } from '../session.js'
import { NativeUdpTransport } from '../transport/udp-native.js'
import { DATAGRAM_TAG, DatagramBatchWriter, readDatagramBatch } from './datagram-batch.js'
import type { FromWorker, ToWorker, WorkerInit, WorkerStats } from './worker-messages.js'

const init = workerData as WorkerInit
const port = parentPort!
const counters = new Int32Array(init.counters)
const sessions = new Map<number, STTSession>()
const stats: WorkerStats = { sessions: 0, accepted: 0, refused: 0, datagramsIn: 0, datagramsOut: 0, messagesIn: 0, messagesOut: 0 }
let nextKey = 1
const post = (m: FromWorker, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer ?? [])

// Datagrams for the main thread, flushed once per event-loop turn as one transferred buffer.
const out = new DatagramBatchWriter()
let flushQueued = false
const acked: number[] = []
const failed: Array<{ id: number; code: string; message: string }> = []
function flush(): void {
  flushQueued = false
  if (acked.length > 0 || failed.length > 0) post({ t: 'acks', ok: acked.splice(0), failed: failed.splice(0) })
  if (out.empty) return
  const buf = out.take()
  post({ t: 'dgrams', buf }, [buf])
}
function queueFlush(): void {
  if (!flushQueued) {
    flushQueued = true
    setImmediate(flush)
  }
}

const options = { ...init.options } as unknown as STTNodeOptions
if (init.fd >= 0) {
  // The group member's family is that of host; the transport adopts a dup of the fd.
  Object.assign(options, { transportImpl: new NativeUdpTransport({ host: init.host, adoptFd: init.fd, recvBufferSize: options.recvBufferSize, sendBufferSize: options.sendBufferSize, gso: options.gso, gro: options.gro }) })
} else {
  Object.assign(options, { host: init.host, port: init.port })
}
// Each worker may hold up to the node's maxSessions; the shared counter keeps the sum there.
const node = new STTNode({ ...options, maxSessions: init.maxSessions })
node.on('error', () => {}) // a worker's transport errors are counted in its stats; the node keeps serving

node.on('session', (s: STTSession) => {
  // maxSessions across workers: one shared total, and this worker's share for crash accounting.
  if (Atomics.add(counters, 0, 1) >= init.maxSessions) {
    Atomics.sub(counters, 0, 1)
    stats.refused++
    s.on('error', () => {})
    void s.close('too many sessions on this node', { drainTimeout: 0 })
    return
  }
  Atomics.add(counters, 1 + init.index, 1)
  const key = nextKey++
  sessions.set(key, s)
  stats.accepted++
  let error: { code: string; message: string } | undefined
  s.on('error', (e: Error) => {
    error = { code: e instanceof STTError ? e.code : 'STT_SESSION_CLOSED', message: e.message }
  })
  s.on('datagram', (d: Uint8Array) => {
    stats.datagramsIn++
    out.add(key, d)
    queueFlush()
  })
  s.on('message', (p: { streamId: number; data: Uint8Array }) => {
    stats.messagesIn++
    out.add(key, p.data, p.streamId)
    queueFlush()
  })
  s.on('close', (info) => {
    sessions.delete(key)
    Atomics.sub(counters, 0, 1)
    Atomics.sub(counters, 1 + init.index, 1)
    flush() // datagrams received before the close reach the application first
    post({ t: 'closed', key, info, error })
  })
  post({ t: 'session', s: { key, id: s.id, peerNodeId: new Uint8Array(s.peerNodeId), peerName: s.peerName, remoteAddress: s.remoteAddress, transport: s.transport } })
})

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'dgrams':
      readDatagramBatch(m.buf, (key, data, tag, sendId) => {
        const s = sessions.get(key)
        if (tag === DATAGRAM_TAG) {
          if (s && !s.closed) {
            stats.datagramsOut++
            s.sendDatagram(data)
          }
          return
        }
        // A message: the batch buffer is ours now, and send() keeps large writes by reference.
        if (!s || s.closed) {
          failed.push({ id: sendId, code: 'STT_SESSION_CLOSED', message: 'session closed before the message was sent' })
          queueFlush()
          return
        }
        stats.messagesOut++
        s.send(data, { streamId: tag }).then(
          () => {
            acked.push(sendId)
            queueFlush()
          },
          (e: unknown) => {
            failed.push({ id: sendId, code: e instanceof STTError ? e.code : 'STT_SESSION_CLOSED', message: e instanceof Error ? e.message : String(e) })
            queueFlush()
          },
        )
      })
      break
    case 'close':
      void sessions.get(m.key)?.close(m.reason)
      break
    case 'stats':
      post({ t: 'stats', stats: { ...stats, sessions: sessions.size } })
      break
    case 'crash':
      if (init.testHooks) setImmediate(() => {
        throw new Error(`worker ${init.index}: crash requested by a test`)
      })
      break
    case 'stop':
      void node.stop().then(() => {
        port.close() // nothing else keeps the worker alive: it exits with code 0
      })
      break
  }
})

node.start().then(
  (r) => post({ t: 'ready', port: r.port }),
  (e: unknown) => post({ t: 'start-failed', code: e instanceof STTError ? e.code : 'STT_TRANSPORT', message: e instanceof Error ? e.message : String(e) }),
)
