/**
 * BBR's model filters and counters (draft-ietf-ccwg-bbr §5.3.4, §5.5.9, §5.3.1.3, §5.3.3.6): min_rtt
 * with the shorter PROBE_RTT window inside it, extra_acked, the full-pipe detector and the
 * growth step of inflight_hi while probing up.
 */
import type { RateSample } from './delivery-rate.js'
import { BBR_EXTRA_ACKED_FILTER_LEN, BBR_FULL_BW_COUNT, BBR_STARTUP_MAX_STALL_ROUNDS, BBR_FULL_BW_THRESH, BBR_MIN_RTT_FILTER_LEN, BBR_PROBE_RTT_INTERVAL, BBR_PROBE_SOON_GROWTH } from './bbr-constants.js'
import { WindowedMax } from './windowed-max.js'
import { asDouble } from '../as-double.js'

/** min_rtt over 10 s, and probe_rtt_min_delay over 5 s, whose expiry calls for PROBE_RTT. */
export class BbrMinRttFilter {
  minRtt = Infinity
  /** The 5 s window passed without a new minimum: time for PROBE_RTT. */
  probeRttExpired = false
  private minRttStamp = 0
  private probeRttMinDelay = Infinity
  private probeRttMinStamp = 0

  /** Timers count from the first ACK (the caller's clock has an arbitrary origin). */
  start(now: number): void {
    this.minRttStamp = now
    this.probeRttMinStamp = now
  }

  /** BBRUpdateMinRTT. */
  update(rtt: number, now: number): void {
    this.probeRttExpired = now > this.probeRttMinStamp + BBR_PROBE_RTT_INTERVAL
    if (rtt >= 0 && (rtt < this.probeRttMinDelay || this.probeRttExpired)) {
      this.probeRttMinDelay = rtt
      this.probeRttMinStamp = now
    }
    const minRttExpired = now > this.minRttStamp + BBR_MIN_RTT_FILTER_LEN
    if (this.probeRttMinDelay < this.minRtt || minRttExpired) {
      this.minRtt = this.probeRttMinDelay
      this.minRttStamp = this.probeRttMinStamp
    }
  }

  /** PROBE_RTT finished: its minimum is fresh as of now. */
  probeRttDone(now: number): void {
    this.probeRttMinStamp = now
  }
}

/** extra_acked: how far ACKs run ahead of the estimated bandwidth (aggregation), max over 10 rounds. */
export class BbrAckAggregation {
  extraAcked = 0
  private readonly filter = new WindowedMax(BBR_EXTRA_ACKED_FILTER_LEN)
  private intervalStart = 0
  private intervalDelivered = 0

  /** A new measurement interval (first ACK, restart from idle). */
  restart(now: number): void {
    this.intervalStart = now
    this.intervalDelivered = 0
  }

  /** BBRUpdateACKAggregation. */
  update(rs: RateSample, now: number, bw: number, cwnd: number, roundCount: number): void {
    let expected = bw * (now - this.intervalStart)
    if (this.intervalDelivered <= expected) {
      this.restart(now)
      expected = 0
    }
    this.intervalDelivered += rs.newlyAcked
    const extra = Math.min(this.intervalDelivered - expected, cwnd)
    this.extraAcked = this.filter.update(Math.max(0, extra), roundCount)
  }
}

/**
 * §5.3.1.3 full pipe: bandwidth stopped growing by 25 % for three rounds (`now`: this round;
 * `reached`: ever, which ends Startup), restarted by each PROBE_BW up-probe.
 */
export class BbrFullPipe {
  reached = false
  /** Startup ended on loss (§5.3.1.3), not on a bandwidth plateau: a spurious loss undoes it. */
  reachedOnLoss = false
  now = false
  /** Rounds without growth since the last 25 % step. */
  count = 0
  private bw = 0

  /** BBRCheckFullBWReached, on a round start with a non-app-limited sample. */
  check(maxBw: number): void {
    if (this.now) return
    if (maxBw >= this.bw * BBR_FULL_BW_THRESH) {
      this.reset(maxBw)
      return
    }
    this.count++
    this.now = this.count >= BBR_FULL_BW_COUNT
    if (this.now) {
      this.reached = true
      this.reachedOnLoss = false
    }
  }

  /** BBRCheckStartupHighLoss ended Startup. */
  reachOnLoss(): void {
    this.reached = true
    this.reachedOnLoss = true
  }

  /** BBRResetFullBW, measuring growth from `bw` on. */
  reset(bw: number): void {
    this.bw = bw
    this.count = 0
    this.now = false
  }
}

/**
 * Deviation from draft-ietf-ccwg-bbr §5.3.1.2 (BBRCheckFullBWReached), in the draft's own terms:
 * a sender whose process stalled (its pacer woke tens of ms late with data and window) was
 * application-limited for that time (draft §4.1.2.1 / delivery-rate estimation C.app_limited),
 * so the next round's samples are marked app-limited and the plateau check skips their round;
 * the draft only marks a sender that ran out of data. On a 20 ms path shared with the emulator
 * on 2 vCPUs, 19-46 ms stalls in rounds 8-10 halved those rounds' samples and Startup left at
 * 135-171 of ~300 Mbit/s (the WAN benchmark's bimodal runs). Bounded to
 * BBR_STARTUP_MAX_STALL_ROUNDS rounds per connection, and none after a Startup round whose loss
 * was congestion (a real bottleneck: its queue overflowed), so Startup cannot overrun a
 * bottleneck for long (its flight stays capped by cwnd = 2 BDP meanwhile).
 */
export class BbrStartupStalls {
  private rounds = 0
  private round = -1

  /** Startup met a real bottleneck (congestive loss): no more excuses. */
  stop(): void {
    this.rounds = BBR_STARTUP_MAX_STALL_ROUNDS
    this.round = -1
  }

  /** A stall during round `roundCount`: may the samples after it be app-limited? */
  excuse(roundCount: number): boolean {
    if (roundCount === this.round) return true
    if (this.rounds >= BBR_STARTUP_MAX_STALL_ROUNDS) return false
    this.rounds++
    this.round = roundCount
    return true
  }
}

/**
 * §5.3.3.6 how fast inflight_hi grows while PROBE_BW_UP finds room: by one datagram per
 * `cnt` bytes acked, the step doubling each round (exponential probing of the ceiling).
 */
export class BbrInflightHiProbe {
  private rounds = 0
  /** Bytes acked toward the next step: fractions (the step is cwnd / growth). */
  private acked = asDouble(0)
  private cnt = Infinity

  /** PROBE_BW_REFILL: the next probe starts slow again. */
  reset(): void {
    this.rounds = 0
    this.acked = 0
  }

  /** PROBE_BW_DOWN: no growth until the next probe. */
  stop(): void {
    this.cnt = Infinity
  }

  /** BBRRaiseInflightHiSlope. */
  raiseSlope(cwnd: number, mds: number): void {
    const growth = mds * 2 ** this.rounds
    this.rounds = Math.min(this.rounds + 1, 30)
    this.cnt = Math.max(cwnd / growth, 1)
  }

  /** BBRProbeInflightHiUpward, for a cwnd-limited flight at the ceiling: bytes to add to inflight_hi. */
  grow(newlyAcked: number, mds: number): number {
    this.acked += newlyAcked
    if (this.acked < this.cnt) return 0
    const delta = Math.floor(this.acked / this.cnt)
    this.acked -= delta * this.cnt
    return delta * mds
  }
}

/**
 * §5.3.3.5 when PROBE_BW probes next: after a random 2-3 s, or once as many rounds have passed
 * as Reno would need (BBRCheckTimeToProbeBW). Deviation (docs/ARCHITECTURE.md): after Startup,
 * and after an up-probe that found >= 10 % more bandwidth (BBR_PROBE_SOON_GROWTH), the next
 * probe comes after two rounds. A Startup cut short by a loaded host (its rounds deliver what a
 * starved process sends) left the estimate at a fraction of the path for the whole 2-3 s wait;
 * probing again at once recovers in a few rounds, and an estimate that was right costs one
 * 1.25x probe that ends at the first sign of a queue or loss.
 */
export class BbrProbeWait {
  private waitMs = asDouble(0)
  private roundsSince = 0
  private soon = false
  private bwAtUpStart = asDouble(0)

  onRoundStart(): void {
    this.roundsSince++
  }

  onStartupDone(): void {
    this.soon = true
  }

  onUpStart(maxBw: number): void {
    this.bwAtUpStart = maxBw
  }

  onUpEnd(maxBw: number): void {
    this.soon = maxBw >= this.bwAtUpStart * BBR_PROBE_SOON_GROWTH
  }

  /** BBRPickProbeWait, at the start of PROBE_BW_DOWN. */
  pick(rand: { nextRandom(): number }, minRtt: number): void {
    this.roundsSince = Math.floor(rand.nextRandom() * 2)
    this.waitMs = this.soon ? 2 * minRtt : 2000 + rand.nextRandom() * 1000
    this.soon = false
  }

  waited(elapsedMs: number): boolean {
    return elapsedMs > this.waitMs
  }

  /** BBRIsRenoCoexistenceProbeTime. */
  renoRoundsPassed(renoRounds: number): boolean {
    return this.roundsSince >= renoRounds
  }
}
