/**
 * BBR's per-round congestion signals (draft-ietf-ccwg-bbr §5.5.10.3): what a "loss round"
 * delivered and lost, the latest bandwidth and flight it showed, whether it had a standing
 * queue, and this implementation's deviation: the non-congestive (random) loss rate measured
 * on ACKs whose RTT sample sat below the queue line (the path empty; `judgeClean`), which
 * raises the loss threshold (see bbr.ts's header).
 * Bbr owns the state machine; this class only counts and answers questions about rounds.
 *
 * Deviation (documented in docs/ARCHITECTURE.md): the 2 % loss threshold (BBRLossThresh)
 * becomes max(2 %, 1.5 x base + 1 %) where `base` is the loss rate measured while not
 * probing (DOWN/CRUISE) and without a standing queue. On a path with random, non-congestive
 * loss (Wi-Fi, the 1 and 10 % scenarios) every round has losses, and BBRv3 as written
 * would keep cutting bw_lo and inflight_hi to whatever the last lossy round delivered; random
 * loss does not come with a queue and does not grow when we send more, congestive loss does.
 * So the lower bounds (bw_lo/inflight_lo) react to any loss in a round that also showed a
 * standing queue (as the draft: a competing CUBIC flow keeps one), and otherwise only to a
 * loss rate above the threshold; a flight or round counts as lossy only when its loss is beyond what the threshold explains
 * by chance (`lossAboveThresh`: at least two packets and one standard deviation above). The
 * deviation is that of a compound Poisson count whose burst length is the mean of the random
 * loss bursts measured with `base` (`meanBurst`): on a Gilbert-Elliott path (mean burst 4)
 * a single burst is chance, not a loss rate 4x the random one. On a clean path base = 0 and
 * everything is as in the draft.
 *
 * Not a deviation: Startup's high-loss exit (§5.3.1.3) counts discontiguous lost ranges (runs
 * of consecutive packet numbers), as the draft does and as Linux and QUICHE count loss events;
 * counting packets, one burst of 6 ended Startup and set inflight_hi.
 */
import type { RateSample } from './delivery-rate.js'
import { BBR_LOSS_THRESH, BBR_MAX_LOSS_COMPENSATION, BBR_QUEUE_RTT_FRACTION, BBR_QUEUE_RTT_SLACK, BBR_STARTUP_FULL_LOSS_COUNT, type BbrState } from './bbr-constants.js'
import { asDouble } from '../as-double.js'

/**
 * The loss in a flight or round is beyond what the threshold explains by chance: at least two
 * packets, and more than the expected count n·thresh plus one standard deviation of the count.
 * With random loss near the threshold a plain "lost > n·thresh" fires on about half of all
 * rounds and each firing cuts the bounds; the slack makes a cut mean "more loss than this
 * path's random rate", while congestive loss, which grows with every round that overfills the
 * queue, still crosses it within a round or two. Sizes are in bytes; `mds` converts them to
 * packets. `burst` is the mean length of the path's random loss bursts (1: independent losses):
 * losses that come in bursts of mean length b are a compound Poisson count, whose variance is
 * n·thresh·(2b − 1) for geometric burst lengths, not n·thresh, so one burst of 4 in a round is
 * as much chance as one lost packet is on a path that drops packets one by one.
 */
export function lossAboveThresh(lost: number, total: number, thresh: number, mds: number, burst = 1): boolean {
  const lostPackets = lost / mds
  if (lostPackets < 2) return false
  const expected = (total / mds) * thresh
  return lostPackets > expected + Math.sqrt(expected * (2 * Math.max(1, burst) - 1))
}

/** Above this RTT a sample saw a standing queue: min_rtt/4 + 1 ms over min_rtt. */
function queueLine(minRtt: number): number {
  return minRtt * (1 + BBR_QUEUE_RTT_FRACTION) + BBR_QUEUE_RTT_SLACK
}

export class BbrLossRounds {
  /** True on the ACK that ends a loss round; the `*Prev` fields then describe that round. */
  roundStart = false
  /** Losses detected in the round so far (cleared by a spurious-loss undo). */
  lossInRound = false
  /** Max delivery rate and delivered volume seen in the round (bw_latest, inflight_latest). */
  bwLatest = 0
  inflightLatest = 0
  /** The finished round had a standing queue: its smallest RTT sat well above min_rtt. */
  queueInRoundPrev = false
  private roundDelivered = 0
  /** Discontiguous loss ranges (runs of consecutive lost packet numbers) in the round so far. */
  private lossEvents = 0
  /** Packet number of the latest lost packet (-2: none), to tell a new range from a longer one. */
  private lastLostPn = -2
  private lost = 0
  private acked = 0
  private lostPrev = 0
  private ackedPrev = 0
  private lossEventsPrev = 0
  private roundMinRtt = Infinity
  /** Losses (bytes, ranges) not yet judged clean or queued: declared since the last RTT sample. */
  private lostUnjudged = 0
  private rangesUnjudged = 0
  /** What the round lost and delivered on ACKs whose RTT sample sat below the queue line (path empty). */
  private cleanLost = 0
  private cleanAcked = 0
  private cleanRanges = 0
  /** Loss rate while not probing, decayed by 7/8 per round (the deviation). */
  private baseLost = 0
  private baseTotal = 0
  /** Loss ranges in those rounds, decayed alike: baseLost / baseRanges is the mean burst. */
  private baseRanges = 0
  /** The same loss rate from PROBE_BW_DOWN/CRUISE rounds only (not Startup's): `queueLossIsCongestion`. */
  private steadyLost = asDouble(0)
  private steadyTotal = asDouble(0)

  /**
   * A packet was declared lost. `pn` is its packet number (-1 when unknown: counted as a range
   * of its own). A burst of consecutive losses is one range, as §5.3.1.3 counts them.
   */
  onPacketLost(bytes: number, pn = -1): void {
    if (pn < 0 || pn !== this.lastLostPn + 1) {
      this.lossEvents++
      this.rangesUnjudged++
    }
    this.lastLostPn = pn < 0 ? -2 : pn
    this.lost += bytes
    this.lostUnjudged += bytes
  }

  /** BBRUpdateLatestDeliverySignals, plus the queue and base-loss bookkeeping of a new round. */
  update(rs: RateSample, delivered: number, minRtt: number, state: BbrState): void {
    this.roundStart = false
    this.bwLatest = Math.max(this.bwLatest, rs.deliveryRate)
    this.inflightLatest = Math.max(this.inflightLatest, rs.delivered)
    this.acked += rs.newlyAcked
    if (rs.rtt >= 0) {
      if (rs.rtt < this.roundMinRtt) this.roundMinRtt = rs.rtt
      this.judgeClean(rs, minRtt)
    }
    // Losses detected on this ACK (§5.5.10.2 BBRNoteLoss), not those of earlier ACKs that
    // rs.lost also counts: a spurious-loss undo clears the flag for the rest of the round.
    if (rs.newlyLost > 0) this.lossInRound = true
    if (!rs.hasData || rs.priorDelivered < this.roundDelivered) return
    this.roundDelivered = delivered
    this.roundStart = true
    this.lostPrev = this.lost
    this.ackedPrev = this.acked
    this.lossEventsPrev = this.lossEvents
    // Queueing: even the smallest RTT of the round was well above min_rtt (a standing queue).
    this.queueInRoundPrev = this.roundMinRtt !== Infinity && this.roundMinRtt > queueLine(minRtt)
    this.roundMinRtt = Infinity
    // Startup counts too: until the pipe is full its rounds find the path empty, so what they
    // lose is random, and a Startup that read 10 % random loss as congestion ended at a few
    // percent of the path's rate (real paths; the loss exit also needs a bandwidth plateau).
    if (this.cleanAcked > 0 && (state === 'startup' || state === 'probe-bw-down' || state === 'probe-bw-cruise')) {
      this.baseLost = 0.875 * this.baseLost + this.cleanLost
      this.baseTotal = 0.875 * this.baseTotal + this.cleanLost + this.cleanAcked
      this.baseRanges = 0.875 * this.baseRanges + this.cleanRanges
      if (state !== 'startup') {
        this.steadyLost = 0.875 * this.steadyLost + this.cleanLost
        this.steadyTotal = 0.875 * this.steadyTotal + this.cleanLost + this.cleanAcked
      }
    }
    this.lost = 0
    this.acked = 0
    this.lossEvents = 0
    this.cleanLost = this.cleanAcked = this.cleanRanges = 0
  }

  /**
   * Only what the path lost while it was empty measures random loss: the losses declared since
   * the last RTT sample and the bytes this ACK delivered count as clean when this ACK's RTT sample
   * sat below the queue line. Judged per ACK, not per round: an overflow's losses are declared by the
   * ACKs of the packets just after them, which waited in the full queue; the round that declares
   * them also drains the queue (PROBE_BW_DOWN after an up-probe, or the cut), so its smallest RTT
   * sat at the floor, and a round-wide verdict booked the overflow as random loss (sim, BBR alone
   * at a half-BDP queue, no random loss: a measured rate of 15-26 %, and ~10 % of all packets
   * lost to overflow once the raised threshold tolerated it). A host that delays some ACKs only
   * thins the sample: the delay does not depend on what was lost. The line is BBR's queue line
   * (`queueLine`, as for `queueInRoundPrev`), not the floor itself: the path's own jitter
   * keeps most samples off a tighter line, and the few left were the drains' (sim, 2 ms of link
   * jitter, min_rtt + 5 % + 0.5 ms: ~50 packets of early Startup made the whole estimate, 18 %).
   */
  private judgeClean(rs: RateSample, minRtt: number): void {
    if (rs.rtt <= queueLine(minRtt)) {
      this.cleanLost += this.lostUnjudged
      this.cleanRanges += this.rangesUnjudged
      this.cleanAcked += rs.newlyAcked
    }
    this.lostUnjudged = this.rangesUnjudged = 0
  }

  /**
   * Every loss of the latest congestion episode proved spurious (bbr.ts onSpuriousCongestion):
   * neither this round's loss counts nor the finished round's are congestion. Kept, Startup's
   * high-loss exit read them at the next round start and ended Startup on losses already undone
   * (WAN 20 ms + 1 ms jitter: a timer declared 144 reordered packets lost, their ACKs undid the
   * episode, and the same ACK's round start left Startup at ~200 of ~800 Mbit/s, issue 9).
   */
  forgetSpuriousLosses(): void {
    this.lossInRound = false
    this.lost = this.lostPrev = 0
    this.lossEvents = this.lossEventsPrev = 0
    this.lostUnjudged = this.rangesUnjudged = this.cleanLost = this.cleanRanges = 0
    this.lastLostPn = -2
  }

  /**
   * Persistent congestion (an outage: RFC 9002 §7.6): the flight it lost is not the path's random
   * loss. Not yet judged, it would be by the first ACK after the outage, whose probe found the
   * queue drained (review, sim with 300 ms and 1 s blackouts: booked as 8-17 % random loss in 11
   * of 12 runs, and kept for seconds while cruising RTTs sat above the queue line).
   */
  forgetOutageLosses(): void {
    this.lostUnjudged = this.rangesUnjudged = 0
  }

  /** BBRAdvanceLatestDeliverySignals: a new round starts its maxima from this sample. */
  advance(rs: RateSample): void {
    if (!this.roundStart) return
    this.bwLatest = rs.deliveryRate
    this.inflightLatest = rs.delivered
  }

  /** BBRResetCongestionSignals. */
  reset(): void {
    this.lossInRound = false
    this.bwLatest = 0
    this.inflightLatest = 0
  }

  /**
   * Mean length in packets of the random loss bursts measured with the base rate (1 until
   * some were seen): Gilbert-Elliott paths (bench/lib/wan-scenarios.mjs BURST) lose 4 on average.
   */
  meanBurst(mds: number): number {
    return this.baseRanges > 0 ? Math.max(1, this.baseLost / mds / this.baseRanges) : 1
  }

  /** The non-congestive loss rate measured on ACKs that found the path empty (0: none seen). */
  randomLossRate(): number {
    return this.baseTotal > 0 ? this.baseLost / this.baseTotal : 0
  }

  /** Loss threshold: the draft's 2 %, raised above a measured non-congestive base rate. */
  lossThresh(): number {
    return Math.min(0.25, Math.max(BBR_LOSS_THRESH, 1.5 * this.randomLossRate() + 0.01))
  }

  /**
   * Deviation: the factor the pacing rate is raised by so that what arrives matches max_bw.
   * max_bw measures what was delivered; with a random (non-congestive) loss rate p the sender
   * must send bw / (1 - p) for bw to arrive, whether the loss is before the bottleneck (then
   * (1 - p) of it reaches the bottleneck) or after it (then the bottleneck serves the packets
   * that are lost later). Pacing at bw left p of the path unused (sim at 10 % loss, 240 Mbit/s,
   * 20 ms RTT: PROBE_BW cruised at 90 % of the link). `base` is only measured on ACKs that found
   * the path empty, so congestive loss, a competing flow's, never raises it; capped at 20 %.
   */
  sendRateFactor(): number {
    return 1 / (1 - Math.min(this.randomLossRate(), BBR_MAX_LOSS_COMPENSATION))
  }

  /**
   * The threshold for "inflight too high": with a standing queue (a competing flow) the draft's
   * 2 % on top of the measured random rate (the draft's 2 % is what congestion may add; random
   * loss comes on top whatever the flight), else the raised threshold.
   */
  inflightLossThresh(): number {
    return this.queueInRoundPrev ? BBR_LOSS_THRESH + this.steadyRandomLossRate() : this.lossThresh()
  }

  /**
   * §5.5.10.2 IsInflightTooHigh: with a standing queue (a competing flow), the draft's 2 % on a
   * path without random loss, and 2 % beyond the random rate on one with it
   * (`inflightLossThresh`); without a queue, beyond the raised threshold.
   */
  inflightTooHigh(lost: number, txInFlight: number, mds: number): boolean {
    if (this.queueInRoundPrev && this.steadyRandomLossRate() === 0) return lost >= 2 * mds && lost > txInFlight * BBR_LOSS_THRESH
    return lossAboveThresh(lost, txInFlight, this.inflightLossThresh(), mds, this.meanBurst(mds))
  }

  /**
   * The random loss rate a round with a standing queue may show without counting as congestion:
   * measured in PROBE_BW_DOWN/CRUISE rounds on ACKs that found the path empty, and 0 (the draft:
   * any loss is congestion) when there is none or when it is too high to be random (above
   * BBR_MAX_LOSS_COMPENSATION). Not Startup's: a flow that starts behind another's standing
   * queue takes that queue for its min_rtt, and its Startup then overflows the queue in rounds
   * that look empty (sim, bbr vs bbr at a one-BDP queue: a newcomer measured 55 % and took 98 %
   * of the link once queued rounds tolerated that rate).
   */
  steadyRandomLossRate(): number {
    const rate = this.steadyTotal > 0 ? this.steadyLost / this.steadyTotal : 0
    return rate > BBR_MAX_LOSS_COMPENSATION ? 0 : rate
  }

  /**
   * The finished round's loss was congestion: with a standing queue any loss (as in the draft)
   * on a path without measured random loss, and on one with it (the host's own delay also reads
   * as a queue: see `queueLossIsCongestion`) a loss beyond the random rate; without a queue only
   * a loss rate above the random-loss threshold (and at least two packets).
   */
  prevRoundCongested(mds: number): boolean {
    if (this.queueInRoundPrev) return this.queueLossIsCongestion(this.lostPrev, this.lostPrev + this.ackedPrev, mds)
    return this.prevRoundAboveThresh(mds)
  }

  /** The finished round's loss rate is above the random-loss threshold by more than chance. */
  private prevRoundAboveThresh(mds: number): boolean {
    return lossAboveThresh(this.lostPrev, this.lostPrev + this.ackedPrev, this.lossThresh(), mds, this.meanBurst(mds))
  }

  /**
   * Loss in a flight or round that had a standing queue is congestion when there is no measured
   * random loss (the draft: any loss), or when it is beyond what the random rate explains by
   * chance. Deviation: a loaded host delays its ACKs by milliseconds, which at a 2 ms RTT keeps
   * every round's smallest RTT above the queue line; with random loss every such round then cut
   * bw_lo by 30 % (sim, 2 ms RTT, 3 ms of host jitter, 10 % loss: 42 % of the clean goodput).
   * A drop-tail queue that a competing flow keeps full loses more than the random rate (a run
   * of arrivals while it is full), so it still reads as congestion.
   */
  queueLossIsCongestion(lost: number, total: number, mds: number): boolean {
    const base = this.steadyRandomLossRate()
    if (base === 0) return lost > 0
    return lossAboveThresh(lost, total, base, mds, this.meanBurst(mds))
  }

  /** §5.3.1.3: the finished round lost too much for Startup to go on. */
  prevRoundHighLossInStartup(mds: number): boolean {
    return this.lossEventsPrev >= BBR_STARTUP_FULL_LOSS_COUNT && this.prevRoundAboveThresh(mds)
  }
}
