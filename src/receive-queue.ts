/**
 * The queue behind `node.receive()`. It holds messages only while at least one iterator is
 * running (from its first `next()` until it returns), and at most `maxBytes` of them: a node
 * nobody reads from keeps nothing (the messages still reach the session's 'message' event),
 * and a reader that falls behind loses the oldest messages, counted as 'receive-queue-full',
 * instead of growing memory without bound.
 */
import { Fifo } from './protocol/fifo.js'

export interface ReceivedPacket {
  sessionId: string
  streamId: number
  data: Buffer
}

export class ReceiveQueue {
  readonly #queue = new Fifo<ReceivedPacket>()
  readonly #waiters: Array<(p: ReceivedPacket | null) => void> = []
  #readers = 0
  #bytes = 0
  #ended = true
  /** Messages dropped because the running readers were more than maxBytes behind. */
  dropped = 0

  constructor(readonly maxBytes: number) {}

  /** True while an iterator runs: only then is a message worth building. */
  get wanted(): boolean {
    return this.#readers > 0
  }

  push(p: ReceivedPacket): void {
    if (this.#readers === 0 || this.#ended) return
    const w = this.#waiters.shift()
    if (w) return w(p)
    // Always keep one message (a single message may be larger than the limit).
    while (this.#queue.length > 0 && this.#bytes + p.data.byteLength > this.maxBytes) {
      this.#bytes -= this.#queue.shift()!.data.byteLength
      this.dropped++
    }
    this.#queue.push(p)
    this.#bytes += p.data.byteLength
  }

  /** Ends every iterator (node stopped); start() reopens the queue. */
  end(): void {
    this.#ended = true
    for (const w of this.#waiters.splice(0)) w(null)
    this.#clear()
  }

  reopen(): void {
    this.#ended = false
  }

  async *iterate(): AsyncGenerator<ReceivedPacket> {
    if (this.#ended) return
    this.#readers++
    try {
      for (;;) {
        const p = this.#queue.shift()
        if (p) {
          this.#bytes -= p.data.byteLength
          yield p
          continue
        }
        if (this.#ended) return
        const next = await new Promise<ReceivedPacket | null>((r) => this.#waiters.push(r))
        if (next === null) return
        yield next
      }
    } finally {
      // The last reader gone: nothing is kept for a reader that may never come.
      if (--this.#readers === 0) this.#clear()
    }
  }

  #clear(): void {
    while (this.#queue.length > 0) this.#queue.shift()
    this.#bytes = 0
  }
}
