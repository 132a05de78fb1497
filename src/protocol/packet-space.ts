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
import { constantTimeEqual } from '../crypto/primitives.js'
import { AEAD_TAG_SIZE, FLAGS_OFFSET, HEADER_SIZE, HeaderFlag, PacketType, PN_OFFSET, TYPE_OFFSET } from './constants.js'
import { FINAL_RANDOM_SIZE } from './handshake.js'
import { readU64 } from './header.js'
import { destroyKey, type DirectionKey, makeKey, nextKey, ReceiveKeys } from './packet-keys.js'
import { ReplayWindow } from './replay.js'
import type { SessionCounters } from './session-stats.js'

/** Largest run opened with one openBatch call (scratch arrays are this long). */
const OPEN_CHUNK = 256

/** The openBatch argument arrays of one `open` call. */
class OpenScratch {
  readonly status = new Uint8Array(OPEN_CHUNK)
  readonly offsets = new Uint32Array(OPEN_CHUNK)
  readonly lengths = new Uint32Array(OPEN_CHUNK)
  readonly index = new Uint32Array(OPEN_CHUNK)
}
// One set shared by every session of the thread (3.3 KiB each was a large part of an idle
// session's memory, issue 14). `open` takes it and puts it back, so a nested call (none exists
// today) would get its own set rather than overwrite the outer one's.
let spareScratch: OpenScratch | null = new OpenScratch()

export interface KeyLimits {
  /** Packets per send key: the configured value capped by the suite (aead-limits.ts). */
  rekeyAfterPackets: number
  rekeyAfterMs: number
  /** Failed decryptions over all keys before the session must close (RFC 9001 §6.6). */
  integrityLimit: number
}

/** The FINAL random (§3.6) and who checks or sends it. */
export interface FinalTrailer {
  random: Uint8Array
  /** Initiator: FINALs are accepted (their trailer must match); responder: none are. */
  accept: boolean
}

/**
 * Called for each authenticated packet of a run, in order: `off`/`len` locate it in the slab
 * (decrypted in place), `from` is the caller's entry for it (its source address). Return
 * false to stop (the session closed while handling it). Everything comes in the arguments,
 * so the reader is the caller itself, not a closure per batch or per session (issues 13, 14).
 */
export interface PacketReader<A> {
  onOpened(now: number, slab: Uint8Array, pn: number, off: number, len: number, from: A): boolean
}

export class PacketSpace {
  private sendKey: DirectionKey
  private readonly recvKeys: ReceiveKeys
  private readonly replay = new ReplayWindow()
  private nextPn = 0
  private packetsUnderKey = 0
  private keyStartedAt: number
  // False until the peer is heard in the current phase: no update before the handshake is
  // confirmed (RFC 9001 §6.1), or a resent FINAL would be sealed under a phase the initiator,
  // still without keys, cannot open (review of issue 10).
  private updateConfirmed = false
  /** Packets that failed authentication, over all keys (integrity limit). */
  private authFailures = 0

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
    private readonly final: FinalTrailer,
    /** The previous receive key is kept 3 PTO after a peer's update (RFC 9001 §6.5). */
    private readonly rtt: { pto(): number },
  ) {
    this.sendKey = makeKey(aead, suite, sendSecret, 0)
    this.recvKeys = new ReceiveKeys(aead, suite, recvSecret)
    this.keyStartedAt = now
  }

  /** Highest authenticated packet number so far (-1 before the first). */
  get largestReceived(): number {
    return this.replay.largest
  }

  /** True once more packets failed authentication than the suite allows: the session must close. */
  get integrityLimitReached(): boolean {
    return this.authFailures >= this.limits.integrityLimit
  }

  /** When the previous receive key is dropped (Infinity: none held). */
  get previousKeyDeadline(): number {
    return this.recvKeys.previousUntil
  }

  /** Drops the previous receive key once its time is up. */
  expire(now: number): void {
    this.recvKeys.expire(now)
  }

  /**
   * Opens packets [first, first+count) of the batch in place and calls `reader.onOpened` for each
   * authenticated one. Returns how many authenticated.
   */
  open<A>(now: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, first: number, count: number, from: readonly A[], reader: PacketReader<A>): number {
    const sc = spareScratch ?? new OpenScratch()
    spareScratch = null
    try {
      return this.openWith(sc, now, slab, offsets, lengths, first, count, from, reader)
    } finally {
      spareScratch = sc
    }
  }

  private openWith<A>(sc: OpenScratch, now: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, first: number, count: number, from: readonly A[], reader: PacketReader<A>): number {
    this.recvKeys.expire(now)
    let accepted = 0
    // Group packets by the key that should open them (nearly always one group).
    let i = first
    const end = first + count
    while (i < end) {
      let n = 0
      let key: DirectionKey | null = null
      for (; i < end && n < OPEN_CHUNK; i++) {
        const off = offsets[i]!
        let len = lengths[i]!
        const type = slab[off + TYPE_OFFSET]!
        if (type !== PacketType.DATA && type !== PacketType.FINAL) {
          this.counters.drop('unexpected-type')
          continue
        }
        if (type === PacketType.FINAL) {
          // Only the responder sends FINAL; its trailing random must be the one our keys used.
          if (!this.final.accept || len < FINAL_RANDOM_SIZE || !constantTimeEqual(slab.subarray(off + len - FINAL_RANDOM_SIZE, off + len), this.final.random)) {
            this.counters.drop('final-random')
            continue
          }
          len -= FINAL_RANDOM_SIZE
        }
        if (len < HEADER_SIZE + AEAD_TAG_SIZE + 1) {
          this.counters.drop('truncated')
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
        sc.offsets[n] = off
        sc.lengths[n] = len
        sc.index[n] = i
        n++
      }
      if (n === 0 || !key) continue
      key.key.openBatch(slab, sc.offsets, sc.lengths, n, HEADER_SIZE, sc.status)
      for (let j = 0; j < n; j++) {
        if (!sc.status[j]) {
          this.counters.drop('auth')
          // RFC 9001 §6.6: past the integrity limit forgeries may start to succeed; the
          // session closes (the caller checks integrityLimitReached).
          if (++this.authFailures >= this.limits.integrityLimit) return accepted
          continue
        }
        const off = sc.offsets[j]!
        const pn = readU64(slab, off + PN_OFFSET)
        if (!this.replay.accept(pn)) {
          this.counters.drop('replay')
          continue
        }
        if (key !== this.recvKeys.current && key !== this.recvKeys.previous) this.onPeerKeyUpdate(pn, now)
        else if (key === this.recvKeys.current && !this.updateConfirmed && key.phase === this.sendKey.phase) this.updateConfirmed = true
        accepted++
        if (!reader.onOpened(now, slab, pn, off, sc.lengths[j]!, from[sc.index[j]!]!)) return accepted
      }
    }
    return accepted
  }

  private onPeerKeyUpdate(pn: number, now: number): void {
    this.recvKeys.advance(pn, now + 3 * this.rtt.pto())
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

  /**
   * Seals packets [0, n) of the slab (headers written) with the current send key, in place.
   * Packet `finalAt` (a FINAL; -1: none) then gets the FINAL random appended after its tag
   * (the caller left room for it); its length grows by FINAL_RANDOM_SIZE.
   */
  seal(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, n: number, finalAt = -1): void {
    this.sendKey.key.sealBatch(slab, offsets, lengths, n, HEADER_SIZE)
    if (finalAt >= 0) {
      slab.set(this.final.random, offsets[finalAt]! + lengths[finalAt]!)
      lengths[finalAt]! += FINAL_RANDOM_SIZE
      this.counters.bytesSent += FINAL_RANDOM_SIZE
    }
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
    destroyKey(old)
    this.packetsUnderKey = 0
    this.updateConfirmed = !initiated
    this.counters.keyUpdates++
    this.onKeyUpdate('send')
  }

  /** Wipes every key (the session ended). */
  destroy(): void {
    destroyKey(this.sendKey)
    this.recvKeys.destroy()
  }
}
