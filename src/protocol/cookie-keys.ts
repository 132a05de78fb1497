/**
 * The responder's cookie keys (docs/PROTOCOL.md §3.4, "Cookie keys").
 *
 * A CHALLENGE cookie carries the responder's ephemeral private key and handshake state, so a
 * cookie key read from memory later decrypts every recorded handshake whose cookie it sealed.
 * This module keeps that window as short as the protocol allows:
 *
 * - a key *generation* lives COOKIE_KEY_LIFETIME_MS from its creation and is made lazily, only
 *   when a CHALLENGE or RETRY needs one (an idle node holds no cookie key at all);
 * - when it retires it may still open cookies/tokens issued in its last `maxAgeMs` (the cookie
 *   and token lifetime), so it stays openable exactly that long, then it is zeroed and dropped;
 * - rotation is driven by time (`deadline()` / `onTimeout()` from the endpoint's timer), not
 *   by use, so a node that stops getting HELLOs still wipes its keys on schedule;
 * - each generation's 32 random bytes are expanded with HKDF into one subkey per use (the
 *   cookie AEAD key and the RETRY token MAC key), and the random master is zeroed at once:
 *   one key never serves two algorithms.
 */
import { hkdf } from '../crypto/primitives.js'

/** A key generation issues cookies/tokens for this long (then only opens them for maxAgeMs more). */
export const COOKIE_KEY_LIFETIME_MS = 120_000

export interface CookieKeyGen {
  /** AES-256-GCM key sealing CHALLENGE cookies. */
  readonly cookie: Uint8Array
  /** HMAC-SHA256 key of RETRY tokens. */
  readonly token: Uint8Array
  readonly createdAt: number
}

function wipe(g: CookieKeyGen): void {
  g.cookie.fill(0)
  g.token.fill(0)
}

export class CookieKeys {
  private current: CookieKeyGen | null = null
  private previous: CookieKeyGen | null = null
  /** When `previous` can no longer open anything it sealed (Infinity: none). */
  private previousUntil = Infinity

  constructor(
    private readonly random: (n: number) => Uint8Array,
    /** Cookie and token lifetime (the handshake timeout), plus the 1 s future slack the checks allow. */
    private readonly maxAgeMs: number,
  ) {}

  /** Retires/wipes generations that are due. Idempotent; call with every `now` seen. */
  onTimeout(now: number): void {
    if (this.previous && now >= this.previousUntil) {
      wipe(this.previous)
      this.previous = null
      this.previousUntil = Infinity
    }
    if (this.current && !this.previous && now >= this.current.createdAt + COOKIE_KEY_LIFETIME_MS) {
      // A generation only retires once the previous one is gone, so at most two exist and none
      // is wiped while a cookie it sealed may still be accepted (with handshakeTimeout above the
      // 120 s lifetime the current one seals a little longer instead: review of issue 10).
      this.previous = this.current
      this.previousUntil = now + this.maxAgeMs + 1000
      this.current = null
    }
  }

  /** Next time `onTimeout` has work (Infinity: no key in memory). */
  deadline(): number {
    if (this.previous) return this.previousUntil
    return this.current ? this.current.createdAt + COOKIE_KEY_LIFETIME_MS : Infinity
  }

  /** The generation to seal new cookies/tokens with (created on first use). */
  sealing(now: number): CookieKeyGen {
    this.onTimeout(now)
    if (!this.current) {
      const master = this.random(32)
      this.current = {
        cookie: hkdf(master, 'STT v1 cookie key', 'cookie aead', 32),
        token: hkdf(master, 'STT v1 cookie key', 'retry token mac', 32),
        createdAt: now,
      }
      master.fill(0)
    }
    return this.current
  }

  /** Generations that may open a cookie/token now, newest first. */
  opening(now: number): CookieKeyGen[] {
    this.onTimeout(now)
    const out: CookieKeyGen[] = []
    if (this.current) out.push(this.current)
    if (this.previous) out.push(this.previous)
    return out
  }

  /** How many generations are held (tests and stats: a memory dump exposes at most these). */
  get held(): number {
    return (this.current ? 1 : 0) + (this.previous ? 1 : 0)
  }
}
