/**
 * The responder's resumption-ticket keys (issue 12, part 2; docs/PROTOCOL.md §9). Distinct
 * from the cookie keys (cookie-keys.ts): a ticket lives for up to 24 h, a cookie for seconds,
 * and compromise of one must not open the other.
 *
 * A generation is 32 random bytes expanded with HKDF into the ticket AEAD key, the master
 * zeroed at once. It seals tickets for `lifetime`, then only opens what it sealed for
 * `lifetime` more (until `retiresAt`, monotonic), then it is zeroed and dropped: at most two
 * generations exist, and a ticket never outlives the key that can open it. Rotation runs on the endpoint's timer.
 */
import { hkdf } from '../crypto/handshake-crypto.js'

export interface TicketKeyGen {
  /** AES-256-GCM key sealing tickets. */
  readonly key: Uint8Array
  /** 4-byte generation id in every ticket: picks the key without trial decryption. */
  readonly id: Uint8Array
  readonly createdAt: number
  /**
   * Monotonic time at which it is dropped: createdAt + 2 x lifetime + 1 s, fixed when it is
   * made, so the single-use store can keep a ticket id exactly as long as the ticket can be
   * opened, whatever the wall clock does (review 12, finding 5).
   */
  readonly retiresAt: number
}

export class TicketKeys {
  private current: TicketKeyGen | null = null
  private previous: TicketKeyGen | null = null

  constructor(
    private readonly random: (n: number) => Uint8Array,
    /** Ticket lifetime (resumeTimeout): how long a generation seals, and then opens. */
    readonly lifetime: number,
  ) {}

  onTimeout(now: number): void {
    if (this.previous && now >= this.previous.retiresAt) {
      this.previous.key.fill(0)
      this.previous = null
    }
    if (this.current && !this.previous && now >= this.current.createdAt + this.lifetime) {
      this.previous = this.current
      this.current = null
      // A timer that fired very late: the generation may already be past its retirement.
      if (now >= this.previous.retiresAt) this.onTimeout(now)
    }
  }

  deadline(): number {
    if (this.previous) return this.previous.retiresAt
    return this.current ? this.current.createdAt + this.lifetime : Infinity
  }

  sealing(now: number): TicketKeyGen {
    this.onTimeout(now)
    if (!this.current) {
      const master = this.random(32)
      this.current = { key: hkdf(master, 'STT v1 ticket key', 'ticket aead', 32), id: this.random(4), createdAt: now, retiresAt: now + 2 * this.lifetime + 1000 }
      master.fill(0)
    }
    return this.current
  }

  /** The generation with id `id` that may still open tickets, or null. */
  opening(id: Uint8Array, now: number): TicketKeyGen | null {
    this.onTimeout(now)
    for (const g of [this.current, this.previous]) {
      if (g && g.id[0] === id[0] && g.id[1] === id[1] && g.id[2] === id[2] && g.id[3] === id[3]) return g
    }
    return null
  }

  get held(): number {
    return (this.current ? 1 : 0) + (this.previous ? 1 : 0)
  }
}
