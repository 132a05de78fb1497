/**
 * The initiator side of session suspension outside the sans-I/O core (issue 12): while a
 * session is suspended its core probes the last address with backoff and jitter and reports
 * every probe as a 'resume-attempt'; from the second attempt on, this dials the transports of
 * the URL the session was connected with in turn (auto://: UDP, then WebSocket) and moves the
 * session there, so a session whose UDP path stays blocked resumes over WebSocket.
 */
import type { Session as CoreSession } from './protocol/session.js'
import type { PeerAddress } from './transport/types.js'

/** Connect URLs of a session (auto:// gives both its UDP and WebSocket URLs), keyed by the public session. */
export const resumeTargets = new WeakMap<object, readonly string[]>()

export interface ResumeDialerHost {
  dial(target: string): Promise<PeerAddress>
  /** Closes a connection we dialed for a resume attempt that the session left again. */
  release(addr: PeerAddress): void
  /** A service pass (the session has a probe to send on its new path). */
  schedule(): void
}

export class ResumeDialer {
  readonly #busy = new WeakSet<CoreSession>()
  /** The connection dialed for each session's last attempt (released when the session moves on). */
  readonly #dialed = new WeakMap<CoreSession, PeerAddress>()

  constructor(private readonly host: ResumeDialerHost) {}

  onAttempt(core: CoreSession, targets: readonly string[] | undefined, attempt: number): void {
    // Attempt 1 went to the last address, which may simply be back.
    if (!targets || targets.length === 0 || attempt < 2 || this.#busy.has(core)) return
    const target = targets[(attempt - 2) % targets.length]!
    this.#busy.add(core)
    this.host
      .dial(target)
      .then((addr) => {
        if (core.state !== 'suspended' || addr.key === core.address.key) {
          if (addr.key !== core.address.key) this.host.release(addr)
          return
        }
        const left = this.#dialed.get(core)
        core.migrateTo(addr)
        this.#dialed.set(core, addr)
        if (left && left.key !== addr.key) this.host.release(left)
        this.host.schedule()
      })
      // The network is still down (dial refused or timed out): the next attempt tries again.
      .catch(() => {})
      .finally(() => this.#busy.delete(core))
  }
}
