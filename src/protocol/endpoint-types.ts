/**
 * The types of the endpoint's interface (endpoint.ts): what a connect takes and what the
 * endpoint counts (what it reports: core-events.ts). Apart from endpoint.ts so that file stays its logic.
 */
export interface ConnectOptions {
  /** Expected node id of the peer: a different one fails with STT_PEER_MISMATCH. */
  peerNodeId?: Uint8Array
  /** Rely on the transport for delivery (only over reliable transports). */
  bare?: boolean
  /** Handshake timeout for this connect (ms). */
  timeout?: number
  /** Overrides the version byte of HELLO (tests of version negotiation only). */
  versionOverride?: number
  /** Congestion controller of this session (default: config.congestionControl). */
  congestionControl?: 'bbr' | 'cubic' | 'newreno'
  /** Suspend instead of closing when the peer goes silent (default config.resumable), and for how long. */
  resumable?: boolean
  resumeTimeout?: number
  /** A resumption token (session.resumptionToken): abbreviated handshake (§9); requireResume: no fallback. */
  resume?: Uint8Array
  requireResume?: boolean
}

export interface EndpointCounters {
  handshakesInitiated: number
  handshakesCompleted: number
  handshakesFailed: number
  handshakesAccepted: number
  retriesSent: number
  dropped: Record<string, number>
}
