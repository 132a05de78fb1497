/**
 * Session suspension (issue 12, part 1), sans-I/O: what a resumable session does while its
 * peer is silent past keepAliveTimeout instead of closing.
 *
 *   active --(no authenticated packet for keepAliveTimeout, or its connection dropped)--> suspended
 *   suspended --(authenticated, newest packet from the peer on a validated path)--> active ('resumed')
 *   suspended --(resumeTimeout)--> closing (SESSION_EXPIRED)
 *
 * While suspended the session keeps its keys, streams, unacknowledged data and flow-control
 * state; it sends no stream data and runs no loss-recovery timers (nothing could be acked).
 * The initiator probes (a KEEP_ALIVE under the session keys) with exponential backoff and
 * jitter; each probe is also a 'resume-attempt' the node uses to try the other transports of
 * the original URL. The responder only waits: it cannot know where the initiator went.
 */

/** First probe interval once suspended: the path was already silent for keepAliveTimeout. */
import { WireError } from '../errors.js'
import type { LossRecovery } from './loss.js'
import type { SentRecord } from './packet-assembler.js'
import type { RttEstimator } from './rtt.js'
import type { SessionLifecycle } from './session-lifecycle.js'
import type { StreamManager } from './streams.js'

export const RESUME_PROBE_INITIAL_MS = 500
/**
 * Longest probe interval. 10 s bounds how long a session stays down after the network is back
 * (a laptop waking up, a train leaving a tunnel) at one ~50-byte probe per 10 s per session.
 */
export const RESUME_PROBE_MAX_MS = 10_000
/** Default and upper bound of resumeTimeout (ms). */
export const DEFAULT_RESUME_TIMEOUT = 10 * 60_000
export const MAX_RESUME_TIMEOUT = 24 * 3_600_000

export type SuspensionTimeout = 'none' | 'probe' | 'expired'

export type SuspensionEvent = { kind: 'suspended' } | { kind: 'resume-attempt'; attempt: number } | { kind: 'resumed'; pausedMs: number }

/** The parts of a Session that suspending and resuming touch (session.ts passes them in). */
export interface SuspendableSession {
  readonly life: SessionLifecycle
  readonly rtt: RttEstimator
  readonly recovery: LossRecovery<SentRecord>
  readonly streams: StreamManager
  releaseRecord(rec: SentRecord): void
  /** Queues one of the suspension's events (the session adds itself to it). */
  push(ev: SuspensionEvent): void
  /** Path-validation retries keep running while suspended (the responder validates the returning peer). */
  pathTimeout(now: number): void
  /** Search the current path's MTU again (it may be a new path). */
  refitPath(): void
  clearProbes(): void
  close(code: number, reason: string, now: number): void
}

export class Suspension {
  /** When the session was suspended (-1: it is not). */
  since = -1
  private expiresAt = Infinity
  private nextProbe = Infinity
  private backoff = RESUME_PROBE_INITIAL_MS
  /** Probes sent in the current suspension. */
  attempts = 0
  /** Suspensions over the session's life (stats). */
  count = 0

  constructor(
    readonly timeout: number,
    /** Initiator: probes the peer; responder: waits. */
    private readonly probing: boolean,
    private readonly random: (n: number) => Uint8Array,
    private readonly s: SuspendableSession,
  ) {}

  /** Suspends instead of closing (peer silent past keepAliveTimeout, or its connection dropped). */
  suspend(now: number): boolean {
    if (this.s.life.state !== 'active') return false
    this.s.life.suspend()
    this.begin(now)
    this.s.clearProbes()
    this.s.push({ kind: 'suspended' })
    return true
  }

  /** Timers of a suspended session: path-validation retries, probes, expiry. */
  handleTimeout(now: number): void {
    this.s.pathTimeout(now)
    const out = this.onTimeout(now)
    if (out === 'expired') {
      this.s.close(WireError.SESSION_EXPIRED, `no authenticated packet from the peer within resumeTimeout (${this.timeout} ms) of its suspension`, now)
    } else if (out === 'probe') {
      // Only the newest probe stays tracked: a day of probes must not pile up as sent packets.
      this.abandonInFlight(now)
      this.s.life.keepAliveDue = true
      this.s.push({ kind: 'resume-attempt', attempt: this.attempts })
    }
  }

  /**
   * session.resume() (after the node moved the session to the address asked for): probe at
   * once and start the backoff again. No 'resume-attempt': the application chose the path.
   */
  resumeNow(now: number): void {
    this.s.life.keepAliveDue = true
    if (this.since < 0) return
    this.backoff = RESUME_PROBE_INITIAL_MS
    this.nextProbe = now + RESUME_PROBE_INITIAL_MS
  }

  /**
   * The peer is back on a validated path: retransmission restarts from a fresh RTT estimate,
   * not from the outage's backed-off timers; what was in flight is sent again (it went into
   * the outage); the path MTU is searched again.
   */
  resume(now: number): void {
    if (this.s.life.state !== 'suspended') return
    this.s.life.resume(now)
    const pausedMs = this.end(now)
    this.s.rtt.reset()
    this.abandonInFlight(now)
    this.s.refitPath()
    this.s.push({ kind: 'resumed', pausedMs })
  }

  get active(): boolean {
    return this.since >= 0
  }

  /** Gives up every packet in flight (it went into the outage); its data is queued again. */
  private abandonInFlight(now: number): void {
    for (const rec of this.s.recovery.abandonAll(now)) {
      this.s.streams.onLost(rec.streams)
      this.s.releaseRecord(rec)
    }
  }

  private begin(now: number): void {
    this.since = now
    this.count++
    this.expiresAt = now + this.timeout
    this.attempts = 0
    this.backoff = RESUME_PROBE_INITIAL_MS
    this.nextProbe = this.probing ? now : Infinity
  }

  /** Earliest deadline: the next probe or the expiry. */
  deadline(): number {
    return this.since < 0 ? Infinity : Math.min(this.expiresAt, this.nextProbe)
  }

  private onTimeout(now: number): SuspensionTimeout {
    if (this.since < 0) return 'none'
    if (now >= this.expiresAt) return 'expired'
    if (now < this.nextProbe) return 'none'
    this.attempts++
    // Jitter in [0.75, 1.25) x backoff, so sessions suspended by the same outage do not probe in step.
    const r = this.random(2)
    const u = ((r[0]! << 8) | r[1]!) / 65536
    this.nextProbe = now + this.backoff * (0.75 + 0.5 * u)
    this.backoff = Math.min(this.backoff * 2, RESUME_PROBE_MAX_MS)
    return 'probe'
  }

  /** Resumed: returns how long the session was suspended. */
  private end(now: number): number {
    const paused = now - this.since
    this.since = -1
    this.expiresAt = Infinity
    this.nextProbe = Infinity
    return paused
  }
}
