/**
 * Packet protection of one session: the send key and receive keys (packet-keys.ts), key
 * updates (RFC 9001 §6 in spirit), packet numbers and the replay window (replay.ts).
 *
 * Inbound: `open` takes a run of packets for this session, pre-checks replay on the cleartext
 * packet number (cheap drop of obvious duplicates), opens them in place with one openBatch per
 * key phase, and only then moves the replay window (only authenticated numbers move it).
 * Outbound: `nextPacketNumber` / `phaseFlags` for the header, `seal` for a whole batch.
 */
import type { AeadBackend, CipherSuite } from '../crypto/aead.js'
import { AEAD_TAG_SIZE, FLAGS_OFFSET, HEADER_SIZE, HeaderFlag, PacketType, PN_OFFSET, TYPE_OFFSET } from './constants.js'
import { readU64 } from './header.js'
import { type DirectionKey, makeKey, nextKey, ReceiveKeys } from './packet-keys.js'
import { ReplayWindow } from './replay.js'
import type { SessionCounters } from './session-stats.js'

/** Largest run opened with one openBatch call (scratch arrays are this long). */
const OPEN_CHUNK = 256

export interface KeyLimits {
  rekeyAfterPackets: number
  rekeyAfterMs: number
}

/**
 * Called for each authenticated packet of a run, in order: `off`/`len` locate it in the slab
 * (decrypted in place), `index` is its position in the caller's batch. Return false to stop
 * (the session closed while handling it).
 */
export type OpenedPacket = (pn: number, off: number, len: number, index: number) => boolean

export class PacketSpace {
  private sendKey: DirectionKey
  private readonly recvKeys: ReceiveKeys
  private readonly replay = new ReplayWindow()
  private nextPn = 0
  private packetsUnderKey = 0
  private keyStartedAt: number
  /** Cleared after a key update we started, until the peer is seen using the new phase. */
  private updateConfirmed = true
  private readonly statusScratch = new Uint8Array(OPEN_CHUNK)
  private readonly openOffsets = new Uint32Array(OPEN_CHUNK)
  private readonly openLengths = new Uint32Array(OPEN_CHUNK)
  private readonly openIndex = new Uint32Array(OPEN_CHUNK)

  constructor(
    private readonly aead: AeadBackend,
    private readonly suite: CipherSuite,
    sendSecret: Uint8Array,
    recvSecret: Uint8Array,
    private readonly limits: KeyLimits,
    now: number,
    private readonly counters: SessionCounters,
    /** A key update happened in one direction (the session reports it as an event). */
    private readonly onKeyUpdate: (direction: 'send' | 'receive') => void,
  ) {
    this.sendKey = makeKey(aead, suite, sendSecret, 0)
    this.recvKeys = new ReceiveKeys(aead, suite, recvSecret)
    this.keyStartedAt = now
  }

  /** Highest authenticated packet number so far (-1 before the first). */
  get largestReceived(): number {
    return this.replay.largest
  }

  /**
   * Opens packets [first, first+count) of the batch in place and calls `opened` for each
   * authenticated one. Returns how many authenticated.
   */
  open(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, first: number, count: number, opened: OpenedPacket): number {
    let accepted = 0
    // Group packets by the key that should open them (nearly always one group).
    let i = first
    const end = first + count
    while (i < end) {
      let n = 0
      let key: DirectionKey | null = null
      for (; i < end && n < OPEN_CHUNK; i++) {
        const off = offsets[i]!
        const len = lengths[i]!
        if (len < HEADER_SIZE + AEAD_TAG_SIZE + 1) {
          this.counters.drop('truncated')
          continue
        }
        const type = slab[off + TYPE_OFFSET]!
        if (type !== PacketType.DATA && type !== PacketType.FINAL) {
          this.counters.drop('unexpected-type')
          continue
        }
        const pn = readU64(slab, off + PN_OFFSET)
        if (!this.replay.wouldAccept(pn)) {
          this.counters.drop('replay')
          continue
        }
        const k = this.recvKeys.keyFor(slab[off + FLAGS_OFFSET]! & HeaderFlag.KEY_PHASE, pn)
        if (key && k !== key) break
        key = k
        this.openOffsets[n] = off
        this.openLengths[n] = len
        this.openIndex[n] = i
        n++
      }
      if (n === 0 || !key) continue
      key.key.openBatch(slab, this.openOffsets, this.openLengths, n, HEADER_SIZE, this.statusScratch)
      for (let j = 0; j < n; j++) {
        if (!this.statusScratch[j]) {
          this.counters.drop('auth')
          continue
        }
        const off = this.openOffsets[j]!
        const pn = readU64(slab, off + PN_OFFSET)
        if (!this.replay.accept(pn)) {
          this.counters.drop('replay')
          continue
        }
        if (key !== this.recvKeys.current && key !== this.recvKeys.previous) this.onPeerKeyUpdate(pn)
        else if (key === this.recvKeys.current && !this.updateConfirmed && key.phase === this.sendKey.phase) this.updateConfirmed = true
        accepted++
        if (!opened(pn, off, this.openLengths[j]!, this.openIndex[j]!)) return accepted
      }
    }
    return accepted
  }

  private onPeerKeyUpdate(pn: number): void {
    this.recvKeys.advance(pn)
    this.counters.keyUpdates++
    this.onKeyUpdate('receive')
    // The peer moved to a new phase: follow it (RFC 9001 §6.2) unless we already did.
    if (this.sendKey.phase !== this.recvKeys.current.phase) this.updateSendKey(false)
    else this.updateConfirmed = true
  }

  /** The number for the next packet sent (each is used once: nonces never repeat). */
  nextPacketNumber(): number {
    this.packetsUnderKey++
    return this.nextPn++
  }

  /** Header flags naming the current send key. */
  get phaseFlags(): number {
    return this.sendKey.phase ? HeaderFlag.KEY_PHASE : 0
  }

  /** Seals packets [0, n) of the slab (headers written) with the current send key, in place. */
  seal(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, n: number): void {
    this.sendKey.key.sealBatch(slab, offsets, lengths, n, HEADER_SIZE)
  }

  /**
   * Starts a key update when the packet or time limit is reached and the last one was
   * confirmed. Only call it before the first packet of a batch (see Session.writePackets).
   */
  maybeUpdateKeys(now: number): void {
    if (!this.updateConfirmed) return
    if (this.packetsUnderKey < this.limits.rekeyAfterPackets && now - this.keyStartedAt < this.limits.rekeyAfterMs) return
    this.updateSendKey(true)
    this.keyStartedAt = now
  }

  private updateSendKey(initiated: boolean): void {
    const old = this.sendKey
    this.sendKey = nextKey(this.aead, this.suite, old)
    old.key.destroy()
    this.packetsUnderKey = 0
    this.updateConfirmed = !initiated
    this.counters.keyUpdates++
    this.onKeyUpdate('send')
  }

  /** Wipes every key (the session ended). */
  destroy(): void {
    this.sendKey.key.destroy()
    this.recvKeys.destroy()
  }
}
