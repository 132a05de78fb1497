/**
 * Message framing on message streams (kind 1): each message is a varint length followed by
 * that many bytes in the stream's byte sequence. The assembler pulls bytes from the stream's
 * RecvBuffer as they become readable (which returns flow-control credit) and yields whole
 * messages; a length above maxMessageSize is a protocol violation (BUFFER_OVERFLOW).
 */
import { WireError } from '../errors.js'
import type { RecvBuffer } from './recv-buffer.js'
import { varintSize, writeVarint } from './varint.js'

export class MessageAssembler {
  /** Header bytes collected so far (a varint is at most 8 bytes). */
  private header = new Uint8Array(8)
  private headerLen = 0
  private headerNeed = 0
  private body: Uint8Array | null = null
  private bodyPos = 0
  /** 0, or the WireError that poisoned this stream. */
  error = 0

  constructor(private readonly maxMessageSize: number) {}

  /**
   * Pulls readable bytes from `recv`; returns the next complete message, or null when more
   * bytes are needed (or on error: check `error`).
   */
  next(recv: RecvBuffer): Uint8Array | null {
    for (;;) {
      if (this.body === null) {
        const b = recv.read(this.headerNeed === 0 ? 1 : this.headerNeed - this.headerLen)
        if (b === null) return null
        if (this.headerNeed === 0) this.headerNeed = 1 << (b[0]! >>> 6)
        this.header.set(b, this.headerLen)
        this.headerLen += b.length
        if (this.headerLen < this.headerNeed) continue
        const len = decodeVarint(this.header, this.headerNeed)
        this.headerLen = 0
        this.headerNeed = 0
        if (len > this.maxMessageSize) {
          this.error = WireError.BUFFER_OVERFLOW
          return null
        }
        this.body = new Uint8Array(len)
        this.bodyPos = 0
      }
      const body = this.body
      if (this.bodyPos < body.length) {
        const b = recv.read(body.length - this.bodyPos)
        if (b === null) return null
        body.set(b, this.bodyPos)
        this.bodyPos += b.length
        if (this.bodyPos < body.length) continue
      }
      this.body = null
      return body
    }
  }

  /** Bytes held for partial messages (for memory accounting). */
  get heldBytes(): number {
    return this.body === null ? 0 : this.bodyPos
  }
}

function decodeVarint(b: Uint8Array, n: number): number {
  let v = b[0]! & 0x3f
  for (let i = 1; i < n; i++) v = v * 256 + b[i]!
  return v
}

/** Writes the length prefix of a message into `out` (>= 8 bytes); returns its size. */
export function encodeMessageHeader(out: Uint8Array, length: number): number {
  writeVarint(out, 0, length)
  return varintSize(length)
}
