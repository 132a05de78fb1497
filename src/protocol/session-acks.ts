/**
 * A session's AckTracker (ACK every 8th ack-eliciting packet; session.ts says why), and the RTT
 * its ACK policy (ack-tracker.ts) sees: the session's estimator, except that before the first
 * sample min_rtt reads 0, so a late arrival (one that fills a gap) is acknowledged at once
 * rather than 1/8 min RTT after the previous ACK.
 *
 * Why: that spacing is 1/8 of min(min_rtt, srtt), and a session's first sample comes from an ACK
 * of something it sent, so a receiver that has only sent ACKs has none for the first two rounds
 * of a transfer: srtt is the 333 ms default and the spacing 41.6 ms. The sender, with samples
 * from the first ACK on, declares a packet lost rtt + reo_wnd after sending it (20 ms + 5 ms at
 * a 20 ms RTT, rack.ts), so a first-flight packet that 1 ms of jitter put behind its successor,
 * and whose late arrival no later packet's ACK covered, was declared lost and retransmitted and
 * only proved spurious up to 40 ms later (sim, 20 ms RTT + 1 ms jitter: 6 of 13 first-flight
 * packets; the WAN trace's first-flight episode of 16). The spacing exists to limit ACKs on a
 * path that reorders every packet; before the first sample only a flight or two of late
 * arrivals are acknowledged one by one.
 */
import { AckTracker } from './ack-tracker.js'
import type { RttEstimator } from './rtt.js'

export type { AckTracker } from './ack-tracker.js'

export class AckPolicyRtt {
  constructor(private readonly rtt: RttEstimator) {}

  get smoothedRtt(): number {
    return this.rtt.smoothedRtt
  }

  get minRtt(): number {
    return this.rtt.hasSample ? this.rtt.minRtt : 0
  }
}

export function sessionAckTracker(rtt: RttEstimator, bare: boolean): AckTracker {
  return new AckTracker({ nack: !bare, ackElicitingThreshold: 8 }, new AckPolicyRtt(rtt))
}
