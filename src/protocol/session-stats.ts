import type { Pacer } from './congestion/pacer.js'
import type { CongestionController } from './congestion/types.js'
import type { LossRecovery } from './loss.js'
import type { RttEstimator } from './rtt.js'
import type { StreamManager } from './streams.js'
import type { PmtuSearch } from './pmtu.js'

/** Per-session counters (plain fields: incremented on the hot path, copied out on demand). */
const NONE_DROPPED: Record<string, number> = Object.freeze({})

export class SessionCounters {
  packetsSent = 0
  packetsReceived = 0
  bytesSent = 0
  bytesReceived = 0
  datagramsSent = 0
  datagramsReceived = 0
  lostPackets = 0
  keyUpdates = 0
  migrations = 0
  /** Drops by reason; the shared empty NONE_DROPPED until the first (idle memory, issue 14). */
  dropped: Record<string, number> = NONE_DROPPED

  drop(reason: string): void {
    if (this.dropped === NONE_DROPPED) this.dropped = {}
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1
  }

  snapshot() {
    return {
      packetsSent: this.packetsSent,
      packetsReceived: this.packetsReceived,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      datagramsSent: this.datagramsSent,
      datagramsReceived: this.datagramsReceived,
      lostPackets: this.lostPackets,
      keyUpdates: this.keyUpdates,
      migrations: this.migrations,
      dropped: { ...this.dropped },
    }
  }
}

/** A session's statistics: counters, RTT, congestion and flow control (Session.getStats); `cc` and `pacer` are the session's, or new ones before its first data (session-writer.ts). */
export function sessionStats(s: {
  counters: SessionCounters
  rtt: RttEstimator
  recovery: LossRecovery<unknown>
  streams: StreamManager
  suite: string
  bare: boolean
  packetSize: number
  pmtu: PmtuSearch
  suspension: { count: number; since: number } | null
}, cc: CongestionController, pacer: Pacer | null) {
  const r = s.recovery.stats()
  const rtt = s.rtt
  const ci = cc.info?.()
  const pacing = pacer === null ? Infinity : pacer.rate()
  return {
    ...s.counters.snapshot(),
    /** Congestion controller state (issue 9): bandwidth and pacing in bytes/s, times in ms. */
    congestion: {
      controller: cc.name,
      phase: ci?.phase ?? null,
      bandwidth: ci?.bandwidth ?? null,
      pacingRate: Number.isFinite(pacing) ? pacing * 1000 : null,
      cwnd: cc.cwnd,
      minRtt: Number.isFinite(rtt.minRtt) ? rtt.minRtt : null,
    },
    /** Losses later proven spurious (the original was acked), and congestion events undone for them. */
    spuriousLosses: r.spuriousLosses,
    congestionUndos: r.congestionUndos,
    /** RACK reordering window (ms). */
    reorderingWindow: r.reorderingWindow,
    rtt: rtt.hasSample ? rtt.smoothedRtt : null,
    rttVar: rtt.rttvar,
    minRtt: Number.isFinite(rtt.minRtt) ? rtt.minRtt : null,
    latestRtt: rtt.latestRtt,
    cwnd: cc.cwnd,
    bytesInFlight: cc.bytesInFlight,
    congestionEvents: cc.congestionEvents,
    ptoCount: r.ptoCount,
    /** Largest UDP payload sent now (path MTU minus IP/UDP headers, or the reliable-transport limit). */
    maxPacketSize: s.packetSize,
    pmtu: s.pmtu.stats(),
    lossRate: s.counters.packetsSent ? s.counters.lostPackets / s.counters.packetsSent : 0,
    flow: s.streams.getFlowStats(),
    suite: s.suite,
    bare: s.bare,
    /** Times this session was suspended (peer silent past keepAliveTimeout), and since when (ms, null: it is not). */
    suspensions: s.suspension?.count ?? 0,
    suspendedSince: s.suspension && s.suspension.since >= 0 ? s.suspension.since : null,
  }
}
