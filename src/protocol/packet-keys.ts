/**
 * Traffic keys of one session (docs/PROTOCOL.md §4): one secret per direction from the
 * handshake, expanded into an AEAD key and IV; a key update replaces a direction's secret by
 * HKDF(secret, "ku") and flips the KEY_PHASE header bit, as QUIC does (RFC 9001 §6), so
 * traffic never stops. Old receive keys stay usable for packets sent before the update.
 */
import type { AeadBackend, CipherSuite, PacketKey } from '../crypto/aead.js'
import { hkdf } from '../crypto/handshake-crypto.js'

export interface DirectionKey {
  secret: Uint8Array
  phase: 0 | 1
  key: PacketKey
}

export function makeKey(aead: AeadBackend, suite: CipherSuite, secret: Uint8Array, phase: 0 | 1): DirectionKey {
  const key = hkdf(secret, 'STT v1', 'key', 32)
  const iv = hkdf(secret, 'STT v1', 'iv', 12)
  return { secret, phase, key: aead.createKey(suite, key, iv) }
}

export function nextKey(aead: AeadBackend, suite: CipherSuite, k: DirectionKey): DirectionKey {
  return makeKey(aead, suite, hkdf(k.secret, 'STT v1', 'ku', 32), k.phase === 0 ? 1 : 0)
}

/** Receive-side key state: current, previous (for late packets) and the next one (lazily). */
export class ReceiveKeys {
  current: DirectionKey
  previous: DirectionKey | null = null
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
  advance(pn: number): void {
    this.previous?.key.destroy()
    this.previous = this.current
    this.current = this.next()
    this.nextCache = null
    this.firstPnOfCurrent = pn
  }

  destroy(): void {
    this.current.key.destroy()
    this.previous?.key.destroy()
    this.nextCache?.key.destroy()
  }
}
