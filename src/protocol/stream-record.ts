import { truncateKeepingRoom } from './keep-room.js'

/**
 * What one packet carried for the stream layer, so that StreamManager.onAcked / onLost can
 * free or re-queue exactly that content. Items are four numbers each (tag, key, a, b) in one
 * flat array: no object per frame. The session keeps one record per sent packet (pool and
 * clear() them) and hands it back when the LossDetector reports the packet acked or lost.
 */
export const RecordTag = {
  /** key, offset, length */
  DATA: 1,
  /** key, finalSize */
  FIN: 2,
  /** key, errorCode, finalSize is not needed to re-send (the stream keeps it) */
  CLOSE: 3,
  /** key, maxOffset */
  STREAM_CREDIT: 4,
  /** -, maxData */
  SESSION_CREDIT: 5,
  /** -, maxStreams */
  STREAMS_CREDIT: 6,
  /** key, priority */
  OPEN: 7,
} as const

export class StreamRecord {
  /** tag, key, a, b repeated (read it again after a push: the first push replaces the array). */
  items: number[] = []
  /** clear() emptied `items` by pop() and it kept its (small) storage: push into it. */
  private refillable = false

  push(tag: number, key: number, a: number, b: number): void {
    // A freed array (idle memory): the first item gets an exact one, not the 22 slots a push
    // reserves; most packets carry one item (issue 13).
    if (this.items.length === 0 && !this.refillable) this.items = [tag, key, a, b]
    else this.items.push(tag, key, a, b)
  }

  get isEmpty(): boolean {
    return this.items.length === 0
  }

  /**
   * Records are pooled and cleared per packet: popped, a small array (up to 16 slots, four
   * items) keeps its storage for the next packet (V8 frees it on `length = 0`); larger ones
   * are freed.
   */
  clear(): void {
    const items = this.items
    this.refillable = items.length <= 16
    if (this.refillable) truncateKeepingRoom(items)
    else items.length = 0
  }
}
