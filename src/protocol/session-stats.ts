/** Per-session counters (plain fields: incremented on the hot path, copied out on demand). */
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
  readonly dropped: Record<string, number> = {}

  drop(reason: string): void {
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
