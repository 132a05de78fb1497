/**
 * Path MTU search for one session's current path: DPLPMTUD (RFC 8899) as QUIC does it
 * (RFC 9000 §14.3/§14.4), sans-I/O. Sizes are UDP payload bytes (what `Session.packetSize`
 * means), never IP packet sizes.
 *
 * States (RFC 8899 §5.2):
 *   disabled         reliable transports (WebSocket): no path MTU, packets keep reliablePacketSize
 *   base             sending BASE_PLPMTU (1200) until a packet of that size is acknowledged
 *   searching        one probe at a time, larger than `current`, smaller than the smallest failed size
 *   search-complete  nothing left to try; a new search starts after PMTU_RAISE_TIMER (10 min)
 *   error            base itself looks black-holed; stay at base until something is acknowledged
 *
 * Search order: the largest allowed size first (most paths are plain 1500-byte Ethernet, so one
 * RTT settles it), then a binary search over common link MTUs (1280 IPv6 minimum, 1380, 1400,
 * 1420 WireGuard, 1450 VXLAN, 1480 6in4, 1492 PPPoE, 1500, 9000) converted to UDP payload
 * sizes for the path's IP family, strictly between the largest confirmed and the smallest
 * failed size. A size fails after MAX_PROBES (3) probes of it are lost in a row, so random
 * loss does not end a search early.
 *
 * Probe loss is not congestion (RFC 9000 §14.4): the session sends probes outside bytes in
 * flight and never hands their loss to the congestion controller; here they only move the
 * search. The session reports probe outcomes (onProbeAcked / onProbeLost), and a probe that is
 * neither acked nor declared lost by loss recovery within `probeTimeout` counts as lost
 * (getTimeout / onTimeout), so the search never depends on how loss detection classifies
 * packets outside bytes in flight.
 *
 * Black holes (RFC 8899 §4.3): the path may shrink after the search (a route change, a tunnel).
 * Then every full-size packet is lost while small ones pass. Each loss-detection round that
 * declares packets above base lost, and each confirmed PTO (below) while sending above base, is
 * a suspicious event; any acknowledged packet above base clears them. BLACK_HOLE_EVENTS in a row drop
 * `current` to base (state base) and, once a base-size packet is acknowledged, a new search
 * starts from base. Counting rounds rather than packets keeps one congestion burst (many
 * packets declared lost by one ACK) from looking like a black hole. Loss rounds with no packet
 * acknowledged between them count once: RACK's timer fires again and again while the peer's
 * host stalls (no ACK at all for a few ms), each time for reordered packets whose deadline came,
 * and on a path with 1 ms of jitter three such rounds in one 4 ms stall dropped a working
 * 1472-byte path to 1200 (sim, issue 9). An ACK between rounds is new evidence; a real black
 * hole with no ACK at all still ends in PTOs, which count each once confirmed.
 *
 * A PTO alone is no evidence (issue 9): a host that stalls 200 ms on a 2 ms RTT path, losing
 * nothing, expires three PTOs in a row, and counting those dropped a working 1472-byte path to
 * 1200 bytes for the 10 minutes of PMTU_RAISE_TIMER. RFC 8899 §4.3 asks for loss of data sent
 * with one packet size, not loss of everything. So a PTO above base sends one base-size
 * confirmation probe (outside the congestion window like the PTO's own probes, since the lost
 * full-size packets may fill it, and after them: pmtu-probe.ts) and counts as suspicious only when that probe is acknowledged
 * while no packet above base was acknowledged since the PTO, up to the end of the ACK frame that
 * acknowledged it: small packets pass, full-size ones do not. A PTO during which nothing gets
 * through (a stall, an outage) ends either with no ACK (the probe times out: no event) or with
 * an ACK of the full-size packets too (no event). In a real black hole the probe's ACK also
 * lets RACK declare the full-size packets before it lost (one more event), so detection takes
 * about as long as before (sim "the link shrinks mid-transfer": 0.29 s, as before issue 9).
 */

import { FrameType } from './constants.js'
import { KEEP_ALIVE_DATA_SIZE, writeFrame } from './frames.js'

export type PmtuState = 'disabled' | 'base' | 'searching' | 'search-complete' | 'error'

/** RFC 8899 §5.1.2 BASE_PLPMTU for QUIC-like transports (RFC 9000 §14: 1200-byte UDP payloads). */
export const PMTU_BASE = 1200
/** RFC 8899 §5.1.2 MAX_PROBES. */
export const PMTU_MAX_PROBES = 3
/** RFC 8899 §5.1.1 PMTU_RAISE_TIMER (recommended 600 s). */
export const PMTU_RAISE_INTERVAL_MS = 600_000
/** Suspicious loss rounds / PTOs above base, with no acked packet above base, that mean a black hole. */
export const PMTU_BLACK_HOLE_EVENTS = 3
/** IP + UDP header bytes: 20 + 8 (IPv4), 40 + 8 (IPv6). */
export const IPV4_UDP_OVERHEAD = 28
export const IPV6_UDP_OVERHEAD = 48
/** Link MTUs worth trying (see the file comment), in IP bytes. */
const COMMON_LINK_MTUS = [1280, 1380, 1400, 1420, 1450, 1480, 1492, 1500, 9000]

export interface PmtuOptions {
  /** Largest UDP payload we may send on this path (our limit and the peer's, whichever is smaller). */
  max: number
  /** IP + UDP header bytes of the path (IPV4_UDP_OVERHEAD / IPV6_UDP_OVERHEAD). */
  ipOverhead: number
  /** Smallest size, always assumed to work (default PMTU_BASE). */
  base?: number
  maxProbes?: number
  raiseInterval?: number
  blackHoleEvents?: number
}

export interface PmtuStats {
  state: PmtuState
  /** Largest UDP payload the session sends now (confirmed, or base). */
  current: number
  /** Size of the probe in flight, or 0. */
  probing: number
  /** The search's upper bound (largest allowed UDP payload). */
  max: number
  probesSent: number
  probesAcked: number
  probesLost: number
  blackHoles: number
  searches: number
}

const NO_CANDIDATES: readonly number[] = []
/**
 * Candidate lists by (base, max, IP overhead): a handful of distinct paths, so sessions share
 * the (never modified) arrays instead of holding one each (idle memory, issue 14).
 */
const candidateLists = new Map<string, readonly number[]>()
const MAX_CANDIDATE_LISTS = 64

function candidatesFor(base: number, max: number, ipOverhead: number): readonly number[] {
  const key = `${base}/${max}/${ipOverhead}`
  let list = candidateLists.get(key)
  if (list === undefined) {
    const sizes = COMMON_LINK_MTUS.map((m) => m - ipOverhead).filter((s) => s > base && s < max)
    sizes.push(max)
    list = Object.freeze([...new Set(sizes)].sort((a, b) => a - b))
    if (candidateLists.size < MAX_CANDIDATE_LISTS) candidateLists.set(key, list)
  }
  return list
}

export class PmtuSearch {
  state: PmtuState = 'base'
  /** Largest confirmed UDP payload size (base until a probe is acknowledged). */
  current: number
  private readonly base: number
  private max: number
  private candidates: readonly number[] = NO_CANDIDATES
  private readonly maxProbes: number
  private readonly raiseInterval: number
  private readonly blackHoleEvents: number

  /** Smallest size known to fail (max + 1 when none has). */
  private failedAt: number
  /** Size and id of the probe in flight (0: none) and when it counts as lost. */
  private probeSize = 0
  private probeId = 0
  private lastProbeId = 0
  /** Probes numbered below this were sent before a restart or a black hole: their ACKs prove nothing now. */
  private firstValidProbeId = 1
  private probeDeadline = Infinity
  /** Lost probes of the size being tried, in a row. */
  private probeLosses = 0
  private lossSize = 0
  private raiseAt = Infinity
  private suspicious = 0
  /** A packet was acknowledged since the last loss round counted as suspicious. */
  private ackedSinceLossRound = true
  /** A PTO above base wants a base-size confirmation probe (see the file comment). */
  private confirmWanted = false
  /** Id of the confirmation probe in flight (0: none) and when it counts as lost. */
  private confirmId = 0
  private confirmDeadline = Infinity
  /** The confirmation probe was acknowledged in the ACK frame being processed (onAckFrameDone decides). */
  private confirmAcked = false
  /** A packet above base was acknowledged since the last PTO. */
  private largeAckedSincePto = true

  private probesSent = 0
  private probesAcked = 0
  private probesLost = 0
  private blackHoles = 0
  private searches = 0

  constructor(opts: PmtuOptions, now: number) {
    this.base = opts.base ?? PMTU_BASE
    this.maxProbes = opts.maxProbes ?? PMTU_MAX_PROBES
    this.raiseInterval = opts.raiseInterval ?? PMTU_RAISE_INTERVAL_MS
    this.blackHoleEvents = opts.blackHoleEvents ?? PMTU_BLACK_HOLE_EVENTS
    this.current = this.base
    this.max = this.base
    this.failedAt = this.base + 1
    this.restart(opts.max, opts.ipOverhead, now)
  }

  /**
   * A new path (migration, or the session's first): back to base and search again (RFC 9000
   * §14.2.1: a new path's MTU is unknown). A max at or below base leaves nothing to search.
   */
  restart(max: number, ipOverhead: number, now: number): void {
    this.max = Math.max(this.base, Math.floor(max))
    this.candidates = candidatesFor(this.base, this.max, ipOverhead)
    this.current = this.base
    this.failedAt = this.max + 1
    this.probeLosses = 0
    this.state = 'base'
    this.suspicious = 0
    this.raiseAt = Infinity
    this.cancelProbe()
    this.cancelConfirmation()
    this.firstValidProbeId = this.lastProbeId + 1
    // The path already carried base-size packets (handshake padding, path validation), and
    // RFC 9000 requires 1200 bytes to work; start searching at once.
    this.startSearch(now)
  }

  /** Reliable transport: PMTU does not apply. */
  disable(): void {
    this.state = 'disabled'
    this.cancelProbe()
    this.cancelConfirmation()
    this.raiseAt = Infinity
  }

  /** Size of the probe to send now, or 0 (nothing to probe, or one already in flight). */
  probeDue(): number {
    if (this.confirmWanted && this.confirmId === 0) return this.base
    if (this.state !== 'searching' || this.probeSize !== 0) return 0
    return this.nextCandidate()
  }

  /** True when a probe of `size` is a black-hole confirmation (it may exceed the congestion window). */
  isConfirmation(size: number): boolean {
    return size === this.base && this.confirmWanted && this.confirmId === 0
  }

  /**
   * The session sent a probe of `size`; it counts as lost after `timeout` ms without an ACK.
   * Returns the probe's id (never 0), which its outcome must name: a probe that already timed
   * out here can still be declared lost by loss recovery later, and must not count twice.
   */
  onProbeSent(size: number, now: number, timeout: number): number {
    if (this.isConfirmation(size)) {
      this.confirmWanted = false
      this.confirmId = ++this.lastProbeId
      this.confirmDeadline = now + timeout
      return this.confirmId
    }
    this.probeSize = size
    this.probeId = ++this.lastProbeId
    this.probeDeadline = now + timeout
    this.probesSent++
    return this.probeId
  }

  /** Probe `id` of `size` bytes was acknowledged: the path carries it. */
  onProbeAcked(id: number, size: number, now: number): void {
    this.ackedSinceLossRound = true
    if (size <= this.base) {
      // A confirmation probe (search probes are all above base); a late one, after its timer,
      // still shows that small packets pass. One from before a black hole or restart proves nothing.
      if (id === this.confirmId) this.cancelConfirmation()
      if (id >= this.firstValidProbeId && this.current > this.base) this.confirmAcked = true
      return
    }
    this.probesAcked++
    if (id === this.probeId) this.cancelProbe()
    if (this.state === 'disabled' || id < this.firstValidProbeId) return
    // Late acks count too (the probe may have timed out here already): an ACK is proof.
    if (size > this.current) this.current = size
    if (this.failedAt <= size) this.failedAt = this.max + 1
    if (this.lossSize <= size) this.probeLosses = 0
    this.suspicious = 0
    if (this.state === 'base' || this.state === 'error') this.startSearch(now)
    else this.maybeComplete(now)
  }

  /** Loss recovery declared probe `id` lost (or its timer expired). */
  onProbeLost(id: number, now: number): void {
    if (id === this.confirmId) return this.cancelConfirmation() // no evidence either way
    if (id !== this.probeId || this.probeSize === 0) return // settled already (timer, or an older probe)
    const size = this.probeSize
    this.cancelProbe()
    this.probesLost++
    if (this.state !== 'searching') return
    if (this.lossSize !== size) {
      this.lossSize = size
      this.probeLosses = 0
    }
    if (++this.probeLosses >= this.maxProbes) {
      this.failedAt = Math.min(this.failedAt, size)
      this.probeLosses = 0
      this.maybeComplete(now)
    }
  }

  /** A non-probe packet of `size` bytes was acknowledged. */
  onPacketAcked(size: number, now: number): void {
    this.ackedSinceLossRound = true
    if (size > this.base) {
      this.suspicious = 0
      this.largeAckedSincePto = true
      return
    }
    // After a black hole: base-size packets get through, so search again.
    if (this.state === 'base' || this.state === 'error') this.startSearch(now)
  }

  /**
   * One loss-detection round declared `largeLost` packets above base (and no larger than
   * `current`: packets sent before a fallback say nothing about the new size) lost.
   */
  onPacketsLost(largeLost: number): void {
    if (largeLost === 0 || !this.ackedSinceLossRound) return
    this.ackedSinceLossRound = false
    this.suspect()
  }

  /**
   * A PTO expired (nothing acknowledged for a while). Above base it only asks for a base-size
   * confirmation probe; onAckFrameDone counts it as suspicious if that probe alone gets through.
   */
  onPtoExpired(): void {
    if (this.current > this.base) {
      if (this.state === 'disabled') return
      this.largeAckedSincePto = false
      if (this.confirmId === 0) this.confirmWanted = true
    } else if (this.state === 'base' && ++this.suspicious >= this.blackHoleEvents) this.state = 'error'
  }

  /**
   * The session processed a whole ACK frame. The confirmation probe acknowledged in it while no
   * packet above base was acknowledged since the PTO (the frame's other packets included, in
   * whatever order they came): small packets pass, full-size ones do not.
   */
  onAckFrameDone(): void {
    if (!this.confirmAcked) return
    this.confirmAcked = false
    if (!this.largeAckedSincePto) this.suspect()
  }

  /** True when a lost or acked packet of `size` is evidence about the current size. */
  countsForBlackHole(size: number): boolean {
    return size > this.base && size <= this.current
  }

  /** Loss recovery acknowledged a packet (`probeId`: its probe id, 0 for any other packet). */
  onAcked(probeId: number, size: number, now: number): void {
    if (probeId !== 0) this.onProbeAcked(probeId, size, now)
    else this.onPacketAcked(size, now)
  }

  /**
   * Loss recovery declared a packet lost. Returns true when it is black-hole evidence; the
   * caller sums those per loss-detection round for onPacketsLost.
   */
  onLost(probeId: number, size: number, now: number): boolean {
    if (probeId === 0) return this.countsForBlackHole(size)
    this.onProbeLost(probeId, now)
    return false
  }

  getTimeout(): number {
    return Math.min(this.probeDeadline, this.confirmDeadline, this.raiseAt)
  }

  onTimeout(now: number): void {
    if (now >= this.confirmDeadline) this.cancelConfirmation()
    if (now >= this.probeDeadline) this.onProbeLost(this.probeId, now)
    if (now >= this.raiseAt && this.state === 'search-complete') {
      // RFC 8899 §5.2: after PMTU_RAISE_TIMER, look for a larger size than the one in use.
      this.raiseAt = Infinity
      this.failedAt = this.max + 1
      this.startSearch(now)
    }
  }

  stats(): PmtuStats {
    return {
      state: this.state,
      current: this.current,
      probing: this.probeSize,
      max: this.max,
      probesSent: this.probesSent,
      probesAcked: this.probesAcked,
      probesLost: this.probesLost,
      blackHoles: this.blackHoles,
      searches: this.searches,
    }
  }

  // ---- internals -------------------------------------------------------------------------

  private suspect(): void {
    if (this.state === 'disabled' || this.current <= this.base) return
    if (++this.suspicious < this.blackHoleEvents) return
    // Black hole: back to base at once; a base-size ACK restarts the search (onPacketAcked)
    // below the size that stopped working (PMTU_RAISE_TIMER tries it again later).
    this.blackHoles++
    this.suspicious = 0
    this.failedAt = this.current
    this.current = this.base
    this.probeLosses = 0
    this.cancelProbe()
    this.cancelConfirmation()
    this.firstValidProbeId = this.lastProbeId + 1
    this.state = 'base'
    this.raiseAt = Infinity
  }

  private startSearch(now: number): void {
    this.state = 'searching'
    this.searches++
    this.failedAt = Math.min(this.failedAt, this.max + 1)
    this.maybeComplete(now)
  }

  private cancelConfirmation(): void {
    this.confirmWanted = false
    this.confirmId = 0
    this.confirmDeadline = Infinity
  }

  private cancelProbe(): void {
    this.probeSize = 0
    this.probeId = 0
    this.probeDeadline = Infinity
  }

  /**
   * Next size to try: the largest allowed one while nothing has failed, then the middle
   * candidate strictly between current and the smallest failed size; 0 when none is left.
   */
  private nextCandidate(): number {
    const c = this.candidates
    if (this.failedAt > this.max) return this.max > this.current ? this.max : 0
    let lo = 0
    while (lo < c.length && c[lo]! <= this.current) lo++
    let hi = lo
    while (hi < c.length && c[hi]! < this.failedAt) hi++
    if (hi === lo) return 0
    return c[(lo + hi - 1) >>> 1]!
  }

  private maybeComplete(now: number): void {
    if (this.state !== 'searching' || this.probeSize !== 0 || this.nextCandidate() !== 0) return
    this.state = 'search-complete'
    this.raiseAt = now + this.raiseInterval
  }
}

/**
 * Frames of a probe packet: KEEP_ALIVE (the peer answers it at once, so the ACK is not delayed)
 * and PADDING up to `end`. Nothing in it needs resending when it is lost.
 */
export function writeProbeFrames(buf: Uint8Array, pos: number, end: number, ping: Uint8Array): number {
  pos = writeFrame(buf, pos, { type: FrameType.KEEP_ALIVE, data: ping.subarray(0, KEEP_ALIVE_DATA_SIZE) })
  return writeFrame(buf, pos, { type: FrameType.PADDING, length: end - pos })
}
