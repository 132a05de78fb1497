/**
 * BBR congestion control, version 3 as in draft-ietf-ccwg-bbr (section numbers refer to it).
 *
 * Model: max_bw (windowed max of delivery-rate samples over two probe cycles) and min_rtt
 * (windowed min over 10 s). pacing_rate = pacing_gain * bw, cwnd ~ cwnd_gain * bw * min_rtt
 * (+ the ACK-aggregation allowance extra_acked). Short-term bounds from loss (bw_lo,
 * inflight_lo) and the long-term ceiling inflight_hi keep queues short and the flow fair to
 * loss-based ones.
 *
 * States: STARTUP (gain 2.77, doubling per round) -> DRAIN (0.35) -> PROBE_BW cycling
 * DOWN (0.9) -> CRUISE (1.0) -> REFILL (1.0, one round) -> UP (1.25) -> DOWN ..., and PROBE_RTT
 * (cwnd = BDP/2 for 200 ms) when min_rtt has not been refreshed for 5 s.
 *
 * Deviations (docs/ARCHITECTURE.md): random loss raises the loss threshold instead of cutting
 * the model, and the pacing rate by 1 / (1 - its rate) (bbr-loss-rounds.ts); a probe follows
 * Startup and every fruitful up-probe at once (`BbrProbeWait`); in Startup a stall of the
 * sender's own process is app-limited (`BbrStartupStalls`). Bounds and undo: bbr-bounds.ts.
 */
import type { LostPacketInfo, RateSample } from './delivery-rate.js'
import type { CongestionController, CongestionInfo, CongestionOptions } from './types.js'
import { WindowedMax } from './windowed-max.js'
import { initialWindow } from './base.js'
import { xorshiftNext, xorshiftState } from '../xorshift.js'
import { BbrLossRounds } from './bbr-loss-rounds.js'
import { BbrBounds, inflightAtLoss } from './bbr-bounds.js'
import { BbrAckAggregation, BbrFullPipe, BbrInflightHiProbe, BbrMinRttFilter, BbrProbeWait, BbrStartupStalls } from './bbr-filters.js'
import {
  BBR_BETA, BBR_DEFAULT_CWND_GAIN, BBR_DRAIN_PACING_GAIN, BBR_MAX_BW_FILTER_LEN, BBR_PACING_MARGIN, BBR_SEND_QUANTUM_MS,
  BBR_PROBE_RTT_CWND_GAIN, BBR_PROBE_RTT_DURATION, BBR_PROBE_UP_CWND_GAIN, BBR_STARTUP_CWND_GAIN, BBR_STARTUP_PACING_GAIN,
  type BbrState,
} from './bbr-constants.js'
import { asDouble } from '../as-double.js'

export type { BbrState } from './bbr-constants.js'

const enum AckPhase {
  INIT,
  PROBE_STARTING,
  PROBE_FEEDBACK,
  PROBE_STOPPING,
  REFILLING,
}

export class Bbr implements CongestionController {
  readonly name = 'bbr'
  state: BbrState = 'startup'
  /** Bytes; whole in Startup, fractions after it, so a double from the start (as-double.ts). */
  cwnd = asDouble(0)
  bytesInFlight = 0
  readonly ssthresh = Infinity
  congestionEvents = 0
  readonly mds: number
  readonly minPipeCwnd: number
  readonly initialCwnd: number
  /** xorshift32 state of the probe timing (a number, not a generator closure: idle memory, issue 14). */
  private randState: number
  private readonly srttSource: CongestionOptions['rtt']

  pacingGain = BBR_STARTUP_PACING_GAIN
  cwndGain = asDouble(BBR_STARTUP_CWND_GAIN)
  /** Bytes per ms. */
  private pacing = 0
  /** Model. */
  maxBw = 0
  bw = 0
  private readonly minRttFilter = new BbrMinRttFilter()
  private readonly ackAggregation = new BbrAckAggregation()
  private readonly maxBwFilter = new WindowedMax(BBR_MAX_BW_FILTER_LEN)
  private cycleCount = 0
  /** Bounds from loss: inflight_hi, bw_lo, inflight_lo, and the undo snapshot (bbr-bounds.ts). */
  private readonly bounds = new BbrBounds()
  /** Rounds. */
  roundCount = 0
  private roundStart = false
  private nextRoundDelivered = 0
  /** Loss rounds: congestion signals and the random-loss base rate (bbr-loss-rounds.ts). */
  private readonly rounds = new BbrLossRounds()
  /** Startup. */
  private readonly fullPipe = new BbrFullPipe()
  private readonly startupStalls = new BbrStartupStalls()
  /** PROBE_BW. */
  private cycleStamp = 0
  private ackPhase = AckPhase.INIT
  private readonly probeWait = new BbrProbeWait()
  private bwProbeSamples = 0
  private readonly inflightHiProbe = new BbrInflightHiProbe()
  /** PROBE_RTT. */
  private probeRttDoneStamp = asDouble(0)
  private probeRttRoundDone = false
  private priorCwnd = asDouble(0)
  private idleRestart = false
  /** C.is_cwnd_limited over the current round. */
  private cwndLimited = false
  private cwndLimitedThisRound = false
  /** delivered counter (mirrors the sampler's C.delivered). */
  private delivered = 0
  private clockStarted = false
  /** Latest time seen (loss handling has no `now` of its own). */
  private now = 0

  constructor(opts: CongestionOptions = {}) {
    this.mds = opts.maxDatagramSize ?? 1200
    this.minPipeCwnd = 4 * this.mds
    this.initialCwnd = opts.initialWindow ?? initialWindow(this.mds)
    this.cwnd = this.initialCwnd
    this.srttSource = opts.rtt
    // A fixed sequence when nothing is injected: probe timing only needs to be desynchronised.
    this.randState = xorshiftState(opts.seed ?? 0x9e3779b9)
    const srtt = opts.initialSrtt ?? this.srttSource?.smoothedRtt ?? 0
    // §5.6.2 BBRInitPacingRate: nominal bandwidth = initial cwnd / srtt (1 ms if unknown).
    const nominal = this.initialCwnd / (srtt > 0 && srtt < 300 ? srtt : 1)
    this.pacing = BBR_STARTUP_PACING_GAIN * nominal
  }

  /** The probe timing's next random number in [0, 1). */
  nextRandom(): number {
    this.randState = xorshiftNext(this.randState)
    return (this.randState >>> 0) / 2 ** 32
  }

  get minRtt(): number {
    return this.minRttFilter.minRtt
  }

  /** extra_acked: the ACK-aggregation allowance in cwnd (bytes). */
  get extraAcked(): number {
    return this.ackAggregation.extraAcked
  }

  /** inflight_hi (bbr-bounds.ts), for tests. */
  get inflightHi(): number {
    return this.bounds.inflightHi
  }

  /** Startup found the pipe full (bandwidth stopped growing, or too much loss). */
  get fullBwReached(): boolean {
    return this.fullPipe.reached
  }

  get inSlowStart(): boolean {
    return this.state === 'startup'
  }

  // Per-packet events

  onPacketSent(_now: number, bytes: number): void {
    this.now = _now
    if (this.bytesInFlight === 0 && this.delivered > 0 && this.appLimitedIdle) {
      // §5.4.1 restart from idle: resume at the model's rate instead of a stale burst.
      this.idleRestart = true
      this.ackAggregation.restart(_now)
      if (this.isInProbeBw()) this.setPacingRate(1, false)
      else if (this.state === 'probe-rtt') this.checkProbeRttDone(_now)
    }
    this.appLimitedIdle = false
    this.bytesInFlight += bytes
    if (this.bytesInFlight + this.mds > this.cwnd) this.cwndLimitedThisRound = true
  }
  /** Set by onAppLimited: the next send after an empty flight is a restart from idle. */
  private appLimitedIdle = false

  /** The session found nothing to send with the window open. */
  onAppLimited(): void {
    this.appLimitedIdle = true
  }

  /** Deviation (bbr-filters.ts BbrStartupStalls): in Startup, a stall of our process is app-limited. */
  onSendStall(): boolean {
    return this.state === 'startup' && !this.fullPipe.reached && this.startupStalls.excuse(this.roundCount)
  }

  onPacketAcked(_sentTime: number, bytes: number): void {
    this.bytesInFlight = Math.max(0, this.bytesInFlight - bytes)
  }

  onPacketLost(bytes: number, info?: LostPacketInfo): void {
    this.bytesInFlight = Math.max(0, this.bytesInFlight - bytes)
    this.rounds.onPacketLost(bytes, info?.pn)
    if (info !== undefined) this.handleLostPacket(info)
  }

  onCongestionEvent(_sentTime: number, _now: number): void {
    // BBR reacts through the rate samples and per lost packet (lower bounds, inflight_hi).
    this.congestionEvents++
  }

  /** §5.5.11.1 BBRSaveStateUponLoss, before the first lost packet can cut (handleLostPacket). */
  onLossEpisode(): void {
    this.bounds.saveForUndo(this.state, this.cwnd, this.roundCount)
  }

  /**
   * §5.5.11.2 BBRHandleSpuriousLossDetection: restore the bounds and, when the loss ended
   * Startup or an up-probe, go back to it (1 ms jitter on a 2 ms path: Startup left on
   * reordering at 60-80 of ~300 Mbit/s). Deviation: no BBRResetFullBW, and only a Startup that
   * ended on loss resumes: with reordering in every round each reset restarted the plateau
   * count and Startup ran on for 300 ms with a queue of 5x min_rtt (WAN benchmark).
   */
  onSpuriousCongestion(now: number): void {
    const u = this.bounds.undo(this.roundCount)
    if (u === null) return
    this.rounds.forgetSpuriousLosses()
    this.cwnd = Math.max(this.cwnd, u.cwnd)
    this.boundBwForModel()
    if (this.state === u.state || this.state === 'probe-rtt') return
    if (u.state === 'startup' && this.fullPipe.reachedOnLoss) {
      this.fullPipe.reached = this.fullPipe.reachedOnLoss = false
      this.enterStartup()
    } else if (u.state === 'probe-bw-up') {
      this.bwProbeSamples = 1
      this.startProbeBwUp(this.maxBw, now)
    }
  }

  onPersistentCongestion(): void {
    // Like an RTO in §5.6.4.4: remember cwnd, restart from a minimal flight.
    this.rounds.forgetOutageLosses()
    this.saveCwnd()
    this.cwnd = Math.max(this.minPipeCwnd, this.bytesInFlight + this.mds)
  }

  availableWindow(): number {
    // not Math.max(0, ...): it hands back a whole number as a small integer, so callers compiled in
    // Startup expected integers and were thrown away at the first fraction (as-double.ts)
    const room = this.cwnd - this.bytesInFlight
    return room > 0 ? room : 0
  }

  canSend(_bytes: number): boolean {
    if (this.bytesInFlight < this.cwnd) return true
    this.cwndLimitedThisRound = true
    return false
  }

  pacingRate(): number {
    return this.pacing
  }

  info(): CongestionInfo {
    return { phase: this.state, bandwidth: this.bw > 0 ? this.bw * 1000 : null, pacingRate: this.pacing * 1000 }
  }

  // Per-ACK model update (§5.2 BBRUpdateOnACK)

  onRateSample(rs: RateSample, now: number): void {
    this.now = now
    if (!this.clockStarted) {
      // Timers count from the first ACK: the caller's clock has an arbitrary origin
      // (performance.now() is large), so "stamp 0" would look like an expired min_rtt.
      this.clockStarted = true
      this.minRttFilter.start(now)
      this.cycleStamp = now
      this.ackAggregation.restart(now)
    }
    this.delivered += rs.newlyAcked
    this.updateModelAndState(rs, now)
    this.updateControlParameters(rs)
  }

  private updateModelAndState(rs: RateSample, now: number): void {
    this.rounds.update(rs, this.delivered, this.minRtt, this.state)
    this.updateCongestionSignals(rs)
    this.ackAggregation.update(rs, now, this.bw, this.cwnd, this.roundCount)
    if (this.roundStart && !rs.isAppLimited) this.fullPipe.check(this.maxBw)
    this.checkStartupDone(rs)
    this.checkDrainDone(rs, now)
    this.updateProbeBwCyclePhase(rs, now)
    this.minRttFilter.update(rs.rtt, now)
    this.checkProbeRtt(rs, now)
    this.rounds.advance(rs)
    this.boundBwForModel()
  }

  private updateControlParameters(rs: RateSample): void {
    this.setPacingRate()
    this.setCwnd(rs)
  }

  // §5.5.1 round counting
  private updateRound(rs: RateSample): void {
    if (rs.hasData && rs.priorDelivered >= this.nextRoundDelivered) {
      this.startRound()
      this.roundCount++
      this.probeWait.onRoundStart()
      this.roundStart = true
      this.cwndLimited = this.cwndLimitedThisRound
      this.cwndLimitedThisRound = this.bytesInFlight + this.mds > this.cwnd
    } else {
      this.roundStart = false
    }
  }

  private startRound(): void {
    this.nextRoundDelivered = this.delivered
  }

  // §5.5.5 max_bw
  private updateMaxBw(rs: RateSample): void {
    this.updateRound(rs)
    if (rs.deliveryRate > 0 && (rs.deliveryRate >= this.maxBw || !rs.isAppLimited)) {
      this.maxBw = this.maxBwFilter.update(rs.deliveryRate, this.cycleCount)
    }
  }

  private advanceMaxBwFilter(): void {
    this.cycleCount++
  }

  private checkStartupDone(rs: RateSample): void {
    this.checkStartupHighLoss(rs)
    if (this.state === 'startup' && this.fullPipe.reached) {
      this.probeWait.onStartupDone()
      this.enterDrain()
    }
  }

  /** §5.3.1.3: leave Startup when a round lost too much (and, see header, bw stopped growing). */
  private checkStartupHighLoss(rs: RateSample): void {
    if (this.state !== 'startup' || this.fullPipe.reached || !this.rounds.roundStart) return
    if (!this.rounds.prevRoundHighLossInStartup(this.mds)) return
    // Random loss does not stop Startup's doubling; only loss at a bandwidth plateau ends it.
    if (this.fullPipe.count === 0) return
    this.fullPipe.reachOnLoss()
    this.bounds.inflightHi = Math.max(this.bdpMultiple(this.maxBw, 1), this.rounds.inflightLatest, rs.inflight)
  }

  private enterDrain(): void {
    this.state = 'drain'
    this.pacingGain = BBR_DRAIN_PACING_GAIN
    this.cwndGain = BBR_STARTUP_CWND_GAIN
  }

  private checkDrainDone(rs: RateSample, now: number): void {
    if (this.state === 'drain' && rs.inflight <= this.inflight(this.bw, 1)) this.startProbeBwDown(now)
  }

  // §5.3.3 PROBE_BW
  private isInProbeBw(): boolean {
    return this.state === 'probe-bw-down' || this.state === 'probe-bw-cruise' || this.state === 'probe-bw-refill' || this.state === 'probe-bw-up'
  }

  private startProbeBwDown(now: number): void {
    if (this.state === 'probe-bw-up') this.probeWait.onUpEnd(this.maxBw)
    this.rounds.reset()
    this.inflightHiProbe.stop()
    this.probeWait.pick(this, this.minRtt)
    this.cycleStamp = now
    this.ackPhase = AckPhase.PROBE_STOPPING
    this.startRound()
    this.state = 'probe-bw-down'
    this.pacingGain = 0.9
    this.cwndGain = BBR_DEFAULT_CWND_GAIN
  }

  private startProbeBwCruise(): void {
    this.state = 'probe-bw-cruise'
    this.pacingGain = 1
    this.cwndGain = BBR_DEFAULT_CWND_GAIN
  }

  private startProbeBwRefill(): void {
    this.bounds.resetLower()
    this.inflightHiProbe.reset()
    this.ackPhase = AckPhase.REFILLING
    this.startRound()
    this.state = 'probe-bw-refill'
    this.pacingGain = 1
    this.cwndGain = BBR_DEFAULT_CWND_GAIN
  }

  private startProbeBwUp(deliveryRate: number, now: number): void {
    this.ackPhase = AckPhase.PROBE_STARTING
    this.startRound()
    this.fullPipe.reset(deliveryRate)
    this.state = 'probe-bw-up'
    this.pacingGain = 1.25
    this.cwndGain = BBR_PROBE_UP_CWND_GAIN
    this.cycleStamp = now
    this.probeWait.onUpStart(this.maxBw)
    this.inflightHiProbe.raiseSlope(this.cwnd, this.mds)
  }

  private updateProbeBwCyclePhase(rs: RateSample, now: number): void {
    if (!this.fullPipe.reached) return
    this.adaptUpperBounds(rs)
    if (!this.isInProbeBw()) return
    switch (this.state) {
      case 'probe-bw-down':
        if (this.isTimeToProbeBw(now)) return
        if (this.isTimeToCruise(rs)) this.startProbeBwCruise()
        break
      case 'probe-bw-cruise':
        this.isTimeToProbeBw(now)
        break
      case 'probe-bw-refill':
        if (this.roundStart) {
          this.bwProbeSamples = 1
          this.startProbeBwUp(rs.deliveryRate, now)
        }
        break
      case 'probe-bw-up':
        if (this.isTimeToGoDown(rs)) this.startProbeBwDown(now)
        break
    }
  }

  private isTimeToCruise(rs: RateSample): boolean {
    if (rs.inflight > this.bounds.inflightWithHeadroom(this.mds, this.minPipeCwnd)) return false
    return rs.inflight <= this.inflight(this.maxBw, 1)
  }

  private isTimeToGoDown(rs: RateSample): boolean {
    if (this.cwndLimited && this.cwnd >= this.bounds.inflightHi) {
      this.fullPipe.reset(rs.deliveryRate)
    } else if (this.fullPipe.now) {
      return true
    }
    return false
  }

  private isTimeToProbeBw(now: number): boolean {
    if (this.probeWait.waited(now - this.cycleStamp) || this.probeWait.renoRoundsPassed(Math.min(this.targetInflight() / this.mds, 63))) {
      this.startProbeBwRefill()
      return true
    }
    return false
  }

  private targetInflight(): number {
    return Math.min(this.bdpMultiple(this.bw, 1), this.cwnd)
  }

  private probeInflightHiUpward(rs: RateSample): void {
    if (!this.cwndLimited || this.cwnd < this.bounds.inflightHi) return
    this.bounds.inflightHi += this.inflightHiProbe.grow(rs.newlyAcked, this.mds)
    if (this.roundStart) this.inflightHiProbe.raiseSlope(this.cwnd, this.mds)
  }

  // §5.5.10 upper bounds
  private adaptUpperBounds(rs: RateSample): void {
    if (this.ackPhase === AckPhase.PROBE_STARTING && this.roundStart) this.ackPhase = AckPhase.PROBE_FEEDBACK
    if (this.ackPhase === AckPhase.PROBE_STOPPING && this.roundStart) {
      // End of the samples from the last probe: forget the cycle before it (once per cycle).
      this.bwProbeSamples = 0
      this.ackPhase = AckPhase.INIT
      if (this.isInProbeBw() && !rs.isAppLimited) this.advanceMaxBwFilter()
    }
    if (this.checkInflightTooHigh(rs)) return
    if (this.bounds.inflightHi === Infinity) return
    if (rs.txInFlight > this.bounds.inflightHi) this.bounds.inflightHi = rs.txInFlight
    if (this.state === 'probe-bw-up') this.probeInflightHiUpward(rs)
  }

  private checkInflightTooHigh(rs: RateSample): boolean {
    if (this.rounds.inflightTooHigh(rs.lost, rs.txInFlight, this.mds)) {
      if (this.bwProbeSamples) this.handleInflightTooHigh(rs.isAppLimited, rs.txInFlight)
      return true
    }
    return false
  }

  private handleInflightTooHigh(isAppLimited: boolean, txInFlight: number): void {
    this.bwProbeSamples = 0
    if (!isAppLimited) this.bounds.inflightHi = Math.max(txInFlight, this.targetInflight() * BBR_BETA)
    if (this.state === 'probe-bw-up') this.startProbeBwDown(this.now)
  }

  /** §5.5.10.2 BBRHandleLostPacket. */
  private handleLostPacket(info: LostPacketInfo): void {
    if (!this.bwProbeSamples) return
    if (!this.rounds.inflightTooHigh(info.lostSince, info.txInFlight, this.mds)) return
    this.handleInflightTooHigh(info.isAppLimited, inflightAtLoss(info, this.rounds.inflightLossThresh()))
  }

  // §5.5.10.3 lower bounds (congestion signals)
  private updateCongestionSignals(rs: RateSample): void {
    this.updateMaxBw(rs)
    if (!this.rounds.roundStart) return
    // A congested Startup round is a real bottleneck: no more stall excuses (BbrStartupStalls).
    if (this.state === 'startup' && this.rounds.lossInRound && this.rounds.prevRoundCongested(this.mds)) this.startupStalls.stop()
    this.adaptLowerBoundsFromCongestion()
    this.rounds.lossInRound = false
  }

  private adaptLowerBoundsFromCongestion(): void {
    if (this.isProbingBw()) return
    if (!this.rounds.lossInRound || !this.rounds.prevRoundCongested(this.mds)) return
    this.bounds.cutLower(this.rounds.bwLatest, this.rounds.inflightLatest, this.maxBw, this.cwnd)
  }

  private isProbingBw(): boolean {
    return this.state === 'startup' || this.state === 'probe-bw-refill' || this.state === 'probe-bw-up'
  }

  private boundBwForModel(): void {
    this.bw = Math.min(this.maxBw, this.bounds.bwLo)
  }

  // §5.3.4 PROBE_RTT and min_rtt
  private checkProbeRtt(rs: RateSample, now: number): void {
    if (this.state !== 'probe-rtt' && this.minRttFilter.probeRttExpired && !this.idleRestart) {
      this.state = 'probe-rtt'
      this.pacingGain = 1
      this.cwndGain = BBR_PROBE_RTT_CWND_GAIN
      this.saveCwnd()
      this.probeRttDoneStamp = 0
      this.ackPhase = AckPhase.PROBE_STOPPING
      this.startRound()
    }
    if (this.state === 'probe-rtt') this.handleProbeRtt(rs, now)
    if (rs.delivered > 0) this.idleRestart = false
  }

  private handleProbeRtt(rs: RateSample, now: number): void {
    if (this.probeRttDoneStamp === 0 && rs.inflight <= this.probeRttCwnd()) {
      this.probeRttDoneStamp = now + BBR_PROBE_RTT_DURATION
      this.probeRttRoundDone = false
      this.startRound()
    } else if (this.probeRttDoneStamp !== 0) {
      if (this.roundStart) this.probeRttRoundDone = true
      if (this.probeRttRoundDone) this.checkProbeRttDone(now)
    }
  }

  private checkProbeRttDone(now: number): void {
    if (this.probeRttDoneStamp !== 0 && now > this.probeRttDoneStamp) {
      this.minRttFilter.probeRttDone(now)
      this.restoreCwnd()
      this.bounds.resetLower()
      if (this.fullPipe.reached) {
        this.startProbeBwDown(now)
        this.startProbeBwCruise()
      } else {
        this.enterStartup()
      }
    }
  }

  private enterStartup(): void {
    this.state = 'startup'
    this.pacingGain = BBR_STARTUP_PACING_GAIN
    this.cwndGain = BBR_STARTUP_CWND_GAIN
  }

  private probeRttCwnd(): number {
    return Math.max(this.bdpMultiple(this.bw, BBR_PROBE_RTT_CWND_GAIN), this.minPipeCwnd)
  }

  private saveCwnd(): void {
    this.priorCwnd = this.state === 'probe-rtt' ? Math.max(this.priorCwnd, this.cwnd) : this.cwnd
  }

  private restoreCwnd(): void {
    this.cwnd = Math.max(this.cwnd, this.priorCwnd)
  }

  // §5.6 control parameters
  private bdpMultiple(bw: number, gain: number): number {
    if (this.minRtt === Infinity) return this.initialCwnd
    return gain * bw * this.minRtt
  }

  private quantizationBudget(inflight: number): number {
    // Offload budget: three send quanta, which cover the pacer's burst (two, pacer.ts). At a low
    // RTT it is most of the flight, so it is what stands in the bottleneck's queue.
    inflight = Math.max(inflight, 3 * this.sendQuantum(), this.minPipeCwnd)
    if (this.state === 'probe-bw-up') inflight += 2 * this.mds
    return inflight
  }

  /** §5.6.3 send quantum: 1 ms of pacing (BBR_SEND_QUANTUM_MS), 2..64 datagrams (a GSO batch). */
  sendQuantum(): number {
    return Math.min(Math.max(this.pacing * BBR_SEND_QUANTUM_MS, 2 * this.mds), 64 * this.mds)
  }

  private inflight(bw: number, gain: number): number {
    return this.quantizationBudget(this.bdpMultiple(bw, gain))
  }

  /** Sets the pacing rate at `gain` (default: the phase's); before the pipe is full, only upwards. */
  private setPacingRate(gain = this.pacingGain, onlyUp = !this.fullPipe.reached): void {
    const rate = gain * this.bw * (1 - BBR_PACING_MARGIN) * this.rounds.sendRateFactor()
    if (rate > 0 && (!onlyUp || rate > this.pacing)) this.pacing = rate
  }

  private setCwnd(rs: RateSample): void {
    const maxInflight = this.quantizationBudget(this.bdpMultiple(this.bw, this.cwndGain) + this.ackAggregation.extraAcked)
    if (this.fullPipe.reached) this.cwnd = Math.min(this.cwnd + rs.newlyAcked, maxInflight)
    else if (this.cwnd < maxInflight || this.delivered < this.initialCwnd) this.cwnd += rs.newlyAcked
    this.cwnd = Math.max(this.cwnd, this.minPipeCwnd)
    if (this.state === 'probe-rtt') this.cwnd = Math.min(this.cwnd, this.probeRttCwnd())
    // §5.6.4.7 bound by the model.
    let cap = Infinity
    if (this.isInProbeBw() && this.state !== 'probe-bw-cruise') cap = this.bounds.inflightHi
    else if (this.state === 'probe-rtt' || this.state === 'probe-bw-cruise') cap = this.bounds.inflightWithHeadroom(this.mds, this.minPipeCwnd)
    cap = Math.max(Math.min(cap, this.bounds.inflightLo), this.minPipeCwnd)
    this.cwnd = Math.min(this.cwnd, cap)
  }
}
