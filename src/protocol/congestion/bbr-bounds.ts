/**
 * BBR's loss-driven bounds on its model (draft-ietf-ccwg-bbr §5.5.10): the long-term ceiling
 * inflight_hi and the short-term lower bounds bw_lo and inflight_lo, with the snapshot the
 * spurious-loss undo restores (§5.5.11). bbr.ts decides when they move; this holds the values
 * and the arithmetic that needs nothing else of the model.
 */
import type { LostPacketInfo } from './delivery-rate.js'
import { BBR_BETA, BBR_HEADROOM, BBR_UNDO_ROUNDS, type BbrState } from './bbr-constants.js'

/** What §5.5.11.1 BBRSaveStateUponLoss saves, and the round it was saved in. */
export interface BbrUndoState {
  state: BbrState
  inflightHi: number
  inflightLo: number
  bwLo: number
  cwnd: number
  round: number
}

export class BbrBounds {
  /** Long-term ceiling on the flight (bytes); Infinity until a loss set it. */
  inflightHi = Infinity
  /** Short-term bounds from the latest congested rounds (bytes, bytes per ms). */
  inflightLo = Infinity
  bwLo = Infinity
  /** Saved when a loss episode starts, taken by the spurious-loss undo. */
  private saved: BbrUndoState | null = null

  /** §5.5.10.3 BBRAdaptLowerBoundsFromCongestion for a congested round. */
  cutLower(bwLatest: number, inflightLatest: number, maxBw: number, cwnd: number): void {
    if (this.bwLo === Infinity) this.bwLo = maxBw
    if (this.inflightLo === Infinity) this.inflightLo = cwnd
    this.bwLo = Math.max(bwLatest, BBR_BETA * this.bwLo)
    this.inflightLo = Math.max(inflightLatest, BBR_BETA * this.inflightLo)
  }

  /** §5.5.10.3 BBRResetLowerBounds. */
  resetLower(): void {
    this.bwLo = Infinity
    this.inflightLo = Infinity
  }

  /** BBRInflightWithHeadroom: inflight_hi less 15 %, room for other flows (PROBE_BW_CRUISE, PROBE_RTT). */
  inflightWithHeadroom(mds: number, minPipeCwnd: number): number {
    if (this.inflightHi === Infinity) return Infinity
    const headroom = Math.max(mds, BBR_HEADROOM * this.inflightHi)
    return Math.max(this.inflightHi - headroom, minPipeCwnd)
  }

  /** §5.5.11.1 BBRSaveStateUponLoss. */
  saveForUndo(state: BbrState, cwnd: number, round: number): void {
    this.saved = { state, inflightHi: this.inflightHi, inflightLo: this.inflightLo, bwLo: this.bwLo, cwnd, round }
  }

  /**
   * §5.5.11.2: restores the bounds saved when the episode started (never lowering them) and
   * returns the snapshot, or null when there is none or it is stale (see BBR_UNDO_ROUNDS).
   */
  undo(round: number): BbrUndoState | null {
    const u = this.saved
    this.saved = null
    // The proof comes within the reordering delay; a later one would restore a stale state.
    if (u === null || round > u.round + BBR_UNDO_ROUNDS) return null
    this.inflightHi = Math.max(this.inflightHi, u.inflightHi)
    this.inflightLo = Math.max(this.inflightLo, u.inflightLo)
    this.bwLo = Math.max(this.bwLo, u.bwLo)
    return u
  }
}

/** §5.5.10.2 BBRInflightAtLoss: the flight at which the losses crossed `thresh` (a fraction). */
export function inflightAtLoss(info: LostPacketInfo, thresh: number): number {
  const inflightPrev = info.txInFlight - info.size
  const lostPrev = info.lostSince - info.size
  const lostPrefix = (thresh * inflightPrev - lostPrev) / (1 - thresh)
  return inflightPrev + lostPrefix
}
