/**
 * Traffic keys of one session (docs/PROTOCOL.md §4): one secret per direction from the
 * handshake, expanded into an AEAD key and IV; a key update replaces a direction's secret by
 * HKDF(secret, "ku") and flips the KEY_PHASE header bit, as QUIC does (RFC 9001 §6), so
 * traffic never stops. Old receive keys stay usable for packets sent before the update.
 */
import { type AeadBackend, type CipherSuite, IV_SIZE, KEY_SIZE, type PacketKey } from '../crypto/aead.js'
import { hkdf } from '../crypto/handshake-crypto.js'

export interface DirectionKey {
  secret: Uint8Array
  phase: 0 | 1
  key: PacketKey
}

/**
 * The key and IV handed to createKey, in a buffer of their own made once: a view of a separately
 * allocated ArrayBuffer, so the addon reads it where it is. The HKDF results are small arrays on
 * V8's heap, and N-API would first move each to a new off-heap store (~0.3 us apiece, 4 per new
 * session). Both backends copy what createKey gets; everything is wiped right after.
 */
const keyIv = new Uint8Array(new ArrayBuffer(KEY_SIZE + IV_SIZE))

export function makeKey(aead: AeadBackend, suite: CipherSuite, secret: Uint8Array, phase: 0 | 1): DirectionKey {
  const key = hkdf(secret, 'STT v1', 'key', KEY_SIZE)
  const iv = hkdf(secret, 'STT v1', 'iv', IV_SIZE)
  try {
    keyIv.set(key, 0)
    keyIv.set(iv, KEY_SIZE)
    return { secret, phase, key: aead.createKey(suite, keyIv.subarray(0, KEY_SIZE), keyIv.subarray(KEY_SIZE)) }
  } finally {
    key.fill(0)
    iv.fill(0)
    keyIv.fill(0)
  }
}

export function nextKey(aead: AeadBackend, suite: CipherSuite, k: DirectionKey): DirectionKey {
  return makeKey(aead, suite, hkdf(k.secret, 'STT v1', 'ku', 32), k.phase === 0 ? 1 : 0)
}

/** Zeroes a direction's secret and releases its AEAD key (issue 10, item 9). */
export function destroyKey(k: DirectionKey): void {
  k.secret.fill(0)
  k.key.destroy()
}

/**
 * Receive-side key state: current, previous (for late packets) and the next one (lazily).
 * The previous key is dropped 3 PTO after the peer's first packet under the new one
 * (RFC 9001 §6.5): later packets of the old phase are forgeries or hopelessly late.
 */
export class ReceiveKeys {
  current: DirectionKey
  previous: DirectionKey | null = null
  /** When `previous` is dropped (Infinity: none held). */
  previousUntil = Infinity
  private nextCache: DirectionKey | null = null
  /** First packet number received under `current` (older ones with the other phase use `previous`). */
  firstPnOfCurrent = 0

  constructor(
    private readonly aead: AeadBackend,
    private readonly suite: CipherSuite,
    secret: Uint8Array,
  ) {
    this.current = makeKey(aead, suite, secret, 0)
  }

  /** The key to try for a packet carrying `phase` and number `pn`. */
  keyFor(phase: number, pn: number): DirectionKey {
    if (phase === this.current.phase) return this.current
    if (this.previous && pn < this.firstPnOfCurrent) return this.previous
    return this.next()
  }

  next(): DirectionKey {
    if (!this.nextCache) this.nextCache = nextKey(this.aead, this.suite, this.current)
    return this.nextCache
  }

  /** Called once a packet opened with next() authenticated: the peer updated its keys. */
  advance(pn: number, dropPreviousAt: number): void {
    if (this.previous) destroyKey(this.previous)
    this.previous = this.current
    this.previousUntil = dropPreviousAt
    this.current = this.next()
    this.nextCache = null
    this.firstPnOfCurrent = pn
  }

  /** Drops the previous key once its time is up. */
  expire(now: number): void {
    if (this.previous && now >= this.previousUntil) {
      destroyKey(this.previous)
      this.previous = null
      this.previousUntil = Infinity
    }
  }

  destroy(): void {
    destroyKey(this.current)
    if (this.previous) destroyKey(this.previous)
    if (this.nextCache) destroyKey(this.nextCache)
    this.previous = this.nextCache = null
  }
}
