/**
 * Delivery-rate estimation (draft-ietf-ccwg-bbr §4.1, from draft-cheng-iccrg-delivery-rate-
 * estimation): every sent packet is stamped with the connection's delivery counters, and an
 * ACK turns the newest acknowledged packet's stamp into one rate sample:
 *
 *   rate = (C.delivered - P.delivered) / max(P.sent_time - P.first_sent_time,   send_elapsed
 *                                            now - P.delivered_time)             ack_elapsed
 *
 * Taking the larger interval keeps ACK compression from inflating the estimate. A sample whose
 * flight was limited by the application (not by cwnd or pacing) is marked is_app_limited: BBR
 * only lets it raise the bandwidth estimate, never lower it, so idle periods neither shrink
 * nor (because the flight was small) inflate the model.
 *
 * Units: bytes and ms, so rates are bytes per ms.
 */

/** Per-packet snapshot taken at send time (fields live on the detector's SentPacket). */
export interface RateStamp {
  timeSent: number
  size: number
  /** C.delivered when sent. */
  delivered: number
  /** C.delivered_time when sent; -1 once the packet was acked or lost (no second sample). */
  deliveredTime: number
  /** C.first_sent_time when sent (start of the send interval). */
  firstSentTime: number
  isAppLimited: boolean
  /** Bytes in flight right after this packet was sent (BBRv3 tx_in_flight). */
  txInFlight: number
  /** C.lost when sent: lost bytes after it, minus this, is the loss of its flight. */
  lost: number
}

/** What BBR learns about a lost packet (BBRHandleLostPacket). */
export interface LostPacketInfo {
  /** Packet number: lost packets with consecutive numbers are one loss range (BBR's Startup exit counts ranges). */
  pn: number
  size: number
  txInFlight: number
  /** C.lost (including this packet) minus the packet's stamp: bytes lost since it was sent. */
  lostSince: number
  isAppLimited: boolean
}

/** One sample per ACK (draft §4.1.2 rs). */
export class RateSample {
  /** Bytes per ms; 0 when the sample is invalid. */
  deliveryRate = 0
  isAppLimited = false
  /** ms over which `delivered` was measured (-1: no valid sample). */
  interval = -1
  /** Bytes delivered over the interval. */
  delivered = 0
  /** C.delivered when the newest acked packet was sent (round counting). */
  priorDelivered = 0
  priorTime = -1
  sendElapsed = 0
  ackElapsed = 0
  /** RTT of the newest acked packet (ms), -1 if none. */
  rtt = -1
  newlyAcked = 0
  newlyLost = 0
  /** tx_in_flight of the newest acked packet. */
  txInFlight = 0
  /** Bytes lost between the newest acked packet's send and now. */
  lost = 0
  /** Bytes in flight after this ACK was processed. */
  inflight = 0
  /** Some packet with a stamp was acked by this ACK. */
  hasData = false
}

/**
 * The sample being built: one per thread, as a sample lives from beginAck to finishAck within one
 * call of the loss detector and the controller copies what it keeps (idle memory, issue 14).
 */
const sample = new RateSample()

export class DeliveryRateSampler {
  /** Total bytes delivered (acked) so far. */
  delivered = 0
  /** When `delivered` last grew. */
  deliveredTime = 0
  /** Send time of the newest acked packet's successor interval start. */
  firstSentTime = 0
  /** 0, or the C.delivered value after which samples stop being app-limited. */
  appLimited = 0
  /** Total bytes declared lost. */
  lost = 0
  /** Send time of the packet the current sample is taken from. */
  private newestSent = -Infinity
  /** Earliest send time of the packets this ACK proved spuriously lost (Infinity: none). */
  private spuriousEarliestSent = Infinity

  /** Stamps a packet being sent; `inflightBefore` excludes it. */
  onPacketSent(p: RateStamp, now: number, inflightBefore: number): void {
    if (inflightBefore === 0) {
      // Restarting from idle: the send interval begins now (draft §4.1.2.2).
      this.firstSentTime = now
      this.deliveredTime = now
    }
    p.firstSentTime = this.firstSentTime
    p.deliveredTime = this.deliveredTime
    p.delivered = this.delivered
    p.isAppLimited = this.appLimited !== 0
    p.txInFlight = inflightBefore + p.size
    p.lost = this.lost
  }

  /** The sender ran out of data (or flow-control credit) with the window open. */
  onAppLimited(inflight: number): void {
    this.appLimited = this.delivered + inflight || 1
  }

  /** Starts a new ACK's sample. */
  beginAck(): void {
    const rs = sample
    rs.hasData = false
    this.newestSent = -Infinity
    rs.priorTime = -1
    rs.priorDelivered = 0
    rs.newlyAcked = 0
    rs.newlyLost = 0
    rs.rtt = -1
    rs.deliveryRate = 0
    rs.interval = -1
    rs.delivered = 0
    rs.isAppLimited = false
    // A sample without an acked packet (a NACK's losses, an ACK that only proves losses
    // spurious) has no flight: not the previous sample's loss and inflight (BBR's loss check).
    rs.lost = 0
    rs.txInFlight = 0
    this.spuriousEarliestSent = Infinity
  }

  /** One newly acked packet (draft UpdateRateSample). */
  onPacketAcked(p: RateStamp, now: number): void {
    if (p.deliveredTime < 0) return
    const rs = sample
    this.delivered += p.size
    this.deliveredTime = now
    rs.newlyAcked += p.size
    // The newest packet wins: most delivered at send time, then latest sent (packets sent
    // back to back carry the same C.delivered; ranges are walked highest first).
    if (!rs.hasData || p.delivered > rs.priorDelivered || (p.delivered === rs.priorDelivered && p.timeSent > this.newestSent)) {
      rs.hasData = true
      this.newestSent = p.timeSent
      rs.priorDelivered = p.delivered
      rs.priorTime = p.deliveredTime
      rs.isAppLimited = p.isAppLimited
      rs.sendElapsed = p.timeSent - p.firstSentTime
      rs.ackElapsed = now - p.deliveredTime
      rs.txInFlight = p.txInFlight
      rs.lost = p.lost // turned into "lost since" in finishAck
      rs.rtt = now - p.timeSent
      // The next interval starts at this packet's send time.
      this.firstSentTime = p.timeSent
    }
    p.deliveredTime = -1
  }

  /** One packet declared lost: returns what BBR needs to know about it. */
  onPacketLost(p: RateStamp, out: LostPacketInfo): LostPacketInfo {
    this.lost += p.size
    sample.newlyLost += p.size
    out.size = p.size
    out.txInFlight = p.txInFlight
    out.lostSince = Math.max(p.size, this.lost - p.lost)
    out.isAppLimited = p.isAppLimited
    p.deliveredTime = -1
    return out
  }

  /**
   * A packet declared lost was acknowledged after all (reordering): its bytes leave C.lost, so
   * the samples of its flight stop counting them (after a spurious-loss undo, the next ACK's
   * rs.lost would otherwise end the resumed up-probe and cut inflight_hi again), and join
   * C.delivered and this ACK's newly acked bytes, as Linux counts a SACK of a segment it had
   * marked lost: the path did deliver them. Left out, each spurious loss in Startup was growth
   * the flight never got back: Startup grows cwnd by the bytes acked and bw from the delivered
   * count, so an episode that took k of a round's n packets left cwnd and bw (n - k) / n of the
   * clean path's for every later round (WAN trace, 20 ms + 1 ms jitter: 16 first-flight packets,
   * cwnd 37,680 against 61,232 clean, exactly 16 x 1,472 bytes less, bw 5.3 against 11.2).
   * Their retransmissions count again when acked: those crossed the path too. `sentAt` is when
   * the packet was sent: the sample's send interval is stretched back to cover it (finishAck).
   */
  onSpuriousLoss(bytes: number, now: number, sentAt: number): void {
    this.lost = Math.max(0, this.lost - bytes)
    if (bytes <= 0) return
    this.delivered += bytes
    this.deliveredTime = now
    sample.newlyAcked += bytes
    if (sentAt < this.spuriousEarliestSent) this.spuriousEarliestSent = sentAt
  }

  /** Finishes the sample (draft GenerateRateSample); minRtt guards against ACK compression. */
  finishAck(minRtt: number, inflight: number): RateSample {
    const rs = sample
    rs.inflight = inflight
    if (this.appLimited !== 0 && this.delivered > this.appLimited) this.appLimited = 0
    if (!rs.hasData || rs.priorTime < 0) return rs
    // Not below 0: a loss counted when the packet was sent may have been proved spurious since.
    rs.lost = Math.max(0, this.lost - rs.lost)
    // Bytes proved spurious in this ACK were sent before the sample's send interval began (they
    // were declared lost because later packets were acked): counted in rs.delivered, they must be
    // in its send time too, or an ACK proving a held-back batch spurious inflates the rate
    // (review: up to 2.2x bw in a sim where a reordering path releases a 40 ms batch at once).
    rs.sendElapsed = Math.max(rs.sendElapsed, this.newestSent - this.spuriousEarliestSent)
    rs.interval = Math.max(rs.sendElapsed, rs.ackElapsed)
    rs.delivered = this.delivered - rs.priorDelivered
    // An interval shorter than min_rtt cannot be trusted (ACK aggregation); draft §4.1.2.3.
    if ((Number.isFinite(minRtt) && rs.interval < minRtt) || rs.interval <= 0) {
      rs.interval = -1
      return rs
    }
    rs.deliveryRate = rs.delivered / rs.interval
    return rs
  }
}
