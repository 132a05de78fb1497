/**
 * What resumption (issue 12, part 2; docs/PROTOCOL.md §9) adds to one session:
 *
 * * its resumption master secret (never leaves: only per-ticket secrets are derived from it)
 *   and its generation (how many resumptions came before it; tickets carry it, §9.4);
 * * responder: the NEW_TICKET to send, and again if the packet carrying it is lost;
 * * responder, session made by RESUME: the binding to the RESUME's address (cached
 *   RESUME_ACCEPT for a repeated RESUME, anti-amplification gate, §9.6).
 *
 * Why a gate: a RESUME proves the sender holds the ticket secret, not that it receives at the
 * address the datagram claims. Anyone who captured a RESUME can race it from a spoofed source
 * (the nonce cache only stops the second copy). Until a packet under the new traffic keys
 * arrives from that address (only a receiver of RESUME_ACCEPT can make one), everything sent to
 * it stays within 3x the RESUME bytes received from it, and no application data goes out.
 */
import type { PeerAddress } from '../net-types.js'
import { AmplificationBudget } from './amplification.js'
import { AEAD_TAG_SIZE, FrameType, HEADER_SIZE } from './constants.js'
import { frameSize, KEEP_ALIVE_DATA_SIZE, writeFrame } from './frames.js'
import { FINAL_RANDOM_SIZE, type HandshakeResult } from './handshake.js'
import type { SentRecord } from './packet-assembler.js'
import { resumptionMaster, ticketSecret } from './tickets.js'

type PendingTicket = { ticket: Uint8Array; expires: number }

/** The smallest packet the session writes (a FINAL with one KEEP_ALIVE): below it, it is blocked. */
const MIN_PACKET = HEADER_SIZE + 1 + KEEP_ALIVE_DATA_SIZE + AEAD_TAG_SIZE + FINAL_RANDOM_SIZE

/** Responder, session made by RESUME: its address until the peer proves it receives there. */
export class ResumeBinding {
  readonly budget = new AmplificationBudget()
  /** A packet under the new traffic keys arrived (from any address): data may flow. */
  heard = false
  /** The bound address proved it receives (a packet under the new keys came from it). */
  validated = false

  constructor(
    readonly address: PeerAddress,
    /** The RESUME's e_i: a repeat of that RESUME is answered with `accept`, not derived again. */
    readonly ePub: Uint8Array,
    readonly accept: Uint8Array,
    resumeBytes: number,
  ) {
    this.budget.onReceived(resumeBytes)
  }

  /**
   * A repeat of the RESUME (same e_i) of `bytes` from `from`: the cached RESUME_ACCEPT to send,
   * or null. Only to the bound address (another address would be a third party's), and within
   * its budget, which the repeat itself raised.
   */
  repeat(from: PeerAddress, bytes: number): Uint8Array | null {
    if (from.key !== this.address.key) return null
    this.budget.onReceived(bytes)
    if (!this.validated && this.budget.allowance < this.accept.length) return null
    this.budget.onSent(this.accept.length)
    return this.accept
  }

  /** Bytes that may still go to `to` now (Infinity: no limit from the binding). */
  allowance(to: PeerAddress): number {
    return this.validated || to.key !== this.address.key ? Infinity : this.budget.allowance
  }
}

export class SessionResumption {
  /** In a true private field: not reachable from any property, log or inspection. */
  readonly #master: Uint8Array
  /** Responder: the ticket to send (NEW_TICKET); a lost one comes back here. */
  private pending: PendingTicket | null = null
  /** Responder, session made by RESUME (set by the endpoint): the gate of §9.6. */
  binding: ResumeBinding | null = null

  constructor(
    result: HandshakeResult,
    /** Where the resumption master secret is kept (32 bytes; the session's secrets buffer). */
    master: Uint8Array,
    /** 0 after a full handshake; the ticket's + 1 after a resumption. */
    readonly generation = 0,
    /** Opened by the abbreviated handshake (RESUME), not a full one. */
    readonly resumed = false,
  ) {
    const derived = resumptionMaster(result.i2r, result.r2i, result.transcript)
    master.set(derived)
    derived.fill(0)
    this.#master = master
  }

  /** This session's resumption secret for ticket `id`. */
  ticketSecret(id: Uint8Array): Uint8Array {
    return ticketSecret(this.#master, id)
  }

  queue(ticket: Uint8Array, expires: number): void {
    this.pending = { ticket, expires }
  }

  /** A NEW_TICKET is waiting; it goes only once the handshake is confirmed (FINAL stays small). */
  wants(confirmed: boolean): boolean {
    return confirmed && this.pending !== null
  }

  /** Writes the waiting NEW_TICKET if it fits; returns the new position. */
  write(buf: Uint8Array, pos: number, end: number, rec: SentRecord, confirmed: boolean): number {
    const t = this.pending
    if (!t || !confirmed) return pos
    const f = { type: FrameType.NEW_TICKET, ...t } as const
    if (frameSize(f) > end - pos) return pos
    this.pending = null
    rec.ticket = t
    return writeFrame(buf, pos, f)
  }

  /** The packet carrying `rec` was lost: its ticket goes again, unless a newer one waits. */
  onLost(rec: SentRecord): void {
    if (rec.ticket && !this.pending) this.pending = rec.ticket
  }

  /** An authenticated packet (under this session's keys) arrived from `from`. */
  onHeard(from: PeerAddress): void {
    const b = this.binding
    if (!b) return
    b.heard = true
    if (from.key === b.address.key) b.validated = true
  }

  /**
   * The session moved to a path validated by path validation: the RESUME's address no longer
   * matters here (if it was the path left, the challenges to it stay within its budget: budgetFor).
   */
  onMoved(): void {
    if (this.binding?.heard) this.binding.validated = true
  }

  /** Bytes that may still be sent to `to` (Infinity: no resumption limit). */
  allowance(to: PeerAddress): number {
    return this.binding ? this.binding.allowance(to) : Infinity
  }

  /**
   * True when the gate leaves less than one packet for `to`: the session then sets no timer
   * that only leads to sending (ACK delay, pacer), as for a blocked transport, or it would spin.
   */
  blocked(to: PeerAddress): boolean {
    return this.allowance(to) < MIN_PACKET
  }

  /** The 3x account of `addr` when it is the RESUME's address and not validated (path-validation moved), else null. */
  budgetFor(addr: PeerAddress): AmplificationBudget | null {
    const b = this.binding
    return b && !b.validated && addr.key === b.address.key ? b.budget : null
  }

  onSent(to: PeerAddress, bytes: number): void {
    const b = this.binding
    if (b && !b.validated && to.key === b.address.key) b.budget.onSent(bytes)
  }

  /** No application data before the peer is heard under the new keys (no 0.5-RTT data). */
  get dataAllowed(): boolean {
    return this.binding === null || this.binding.heard
  }

  wipe(): void {
    this.#master.fill(0)
  }
}
