/**
 * Two sans-I/O stream stacks (StreamManager + AckTracker + LossDetector + congestion
 * controller + pacer) joined by an in-memory "packet" pipe with a virtual clock and a
 * seeded, lossy, reordering, duplicating bottleneck link. No crypto: a packet is a varint
 * packet number followed by frames (frames.ts codec). This is what the session does per
 * packet, minus protection, so it doubles as the reference wiring for the session:
 *
 *   send:    ACK (if any new packets) -> NACK (if due) -> streams.writeFrames -> loss.onPacketSent
 *   receive: ackTracker.onPacketReceived -> per frame: ACK -> loss.onAck -> streams.onAcked/onLost,
 *            ackTracker.onAckFrameAcked; NACK -> loss.onNack -> streams.onLost; else streams.handleFrame
 *   timer:   loss.onTimeout -> streams.onLost(lost), probes; ACK/NACK deadlines -> send
 */
import { AckTracker } from '../../src/protocol/ack-tracker.js'
import { Pacer, createCongestionController, type CongestionAlgorithm } from '../../src/protocol/congestion/index.js'
import type { CongestionController } from '../../src/protocol/congestion/types.js'
import { FrameType } from '../../src/protocol/constants.js'
import { decodeFrames, isAckEliciting, writeFrame } from '../../src/protocol/frames.js'
import { LossDetector, PassThroughLossDetector, type LossRecovery } from '../../src/protocol/loss.js'
import { RttEstimator } from '../../src/protocol/rtt.js'
import { StreamManager, StreamRecord, type PeerLimits, type StreamEvent, type StreamManagerOptions } from '../../src/protocol/streams.js'
import { Reader, writeVarint } from '../../src/protocol/varint.js'

import { mulberry32 as rng } from '../../src/transport/channel.js'

/** Deterministic PRNG (mulberry32, the channel transport's). */
export { rng }

export interface LinkOptions {
  /** One-way propagation delay, ms. */
  latency?: number
  /** Bottleneck rate in bytes per ms (Infinity: no bottleneck). 1250 = 10 Mbit/s. */
  rate?: number
  /** Max queueing delay at the bottleneck before tail drop, ms. */
  queueMs?: number
  loss?: number
  duplicate?: number
  /** Probability that a packet gets extra delay (reordering). */
  reorder?: number
  reorderDelay?: number
}

export interface EndpointOptions {
  stream?: Partial<StreamManagerOptions>
  cc?: CongestionAlgorithm
  mtu?: number
  /** Bare mode: no ACKs, no loss recovery, no CC (the link must then be lossless). */
  bare?: boolean
}

export interface PipeOptions {
  seed?: number
  link?: LinkOptions
  a?: EndpointOptions
  b?: EndpointOptions
}

export interface PacketRecord {
  stream: StreamRecord
  /** Largest pn covered by the ACK frame in this packet, or -1. */
  ackLargest: number
}

export class PipeEndpoint {
  readonly streams: StreamManager
  readonly rtt = new RttEstimator()
  readonly cc: CongestionController
  readonly loss: LossRecovery<PacketRecord>
  readonly acks: AckTracker
  readonly pacer: Pacer
  readonly mtu: number
  readonly bare: boolean
  events: StreamEvent[] = []
  nextPn = 0
  probesPending = 0
  packetsSent = 0
  ackOnlySinceEliciting = 0
  nacksSent = 0
  error = 0
  private readonly buf: Uint8Array

  constructor(
    readonly name: string,
    isInitiator: boolean,
    opts: EndpointOptions,
    peer: PeerLimits,
  ) {
    this.mtu = opts.mtu ?? 1200
    this.bare = opts.bare ?? false
    this.buf = new Uint8Array(this.mtu)
    this.streams = new StreamManager({ isInitiator, reliable: !this.bare, ...opts.stream }, peer)
    this.cc = createCongestionController(this.bare ? 'none' : (opts.cc ?? 'newreno'), { maxDatagramSize: this.mtu, rtt: this.rtt })
    this.loss = this.bare ? new PassThroughLossDetector(this.rtt, this.cc) : new LossDetector(this.rtt, this.cc)
    this.acks = new AckTracker({}, this.rtt)
    this.pacer = new Pacer(this.cc, this.rtt, this.mtu)
  }

  private drainEvents(): void {
    for (let e = this.streams.pollEvent(); e !== null; e = this.streams.pollEvent()) this.events.push(e)
  }

  private canSendData(now: number): boolean {
    if (this.probesPending > 0) return true
    return this.cc.canSend(this.mtu) && this.pacer.nextSendTime(now, this.mtu) <= now
  }

  /** Next packet to put on the wire at `now`, or null. */
  pollTransmit(now: number): Uint8Array | null {
    const ackDue = !this.bare && this.acks.ackDue(now)
    const nackDue = !this.bare && this.acks.nackDue(now)
    const dataOk = this.canSendData(now) && this.streams.wantsToSend()
    if (!ackDue && !nackDue && !dataOk && this.probesPending === 0) return null
    const buf = this.buf
    const end = buf.length
    const pn = this.nextPn
    let pos = writeVarint(buf, 0, pn)
    const header = pos
    const rec: PacketRecord = { stream: new StreamRecord(), ackLargest: -1 }
    if (!this.bare && this.acks.hasNewPackets) {
      const p = this.acks.writeAck(buf, pos, end, now)
      if (p > pos) rec.ackLargest = this.acks.lastAckLargest
      pos = p
    }
    if (!this.bare) {
      const p = this.acks.writeNack(buf, pos, end, now)
      if (p > pos) this.nacksSent++
      pos = p
    }
    if (dataOk || this.probesPending > 0) pos = this.streams.writeFrames(buf, pos, end, rec.stream)
    let eliciting = !rec.stream.isEmpty
    // Probes must elicit an ACK; so must an occasional ACK-only packet, so the peer's ACKs
    // of our ACKs let both sides forget old ranges (RFC 9000 §13.2.4).
    if (!eliciting && (this.probesPending > 0 || this.ackOnlySinceEliciting >= 16) && end - pos >= 9) {
      pos = writeFrame(buf, pos, { type: FrameType.KEEP_ALIVE, data: new Uint8Array(8) })
      eliciting = true
    }
    if (pos === header) return null
    this.nextPn++
    this.packetsSent++
    if (this.probesPending > 0) this.probesPending--
    this.ackOnlySinceEliciting = eliciting ? 0 : this.ackOnlySinceEliciting + 1
    this.loss.onPacketSent(pn, now, pos, eliciting, eliciting, rec)
    if (eliciting) this.pacer.onPacketSent(now, pos)
    this.drainEvents()
    return buf.slice(0, pos)
  }

  /** Processes one datagram; `data` is overwritten by the caller afterwards (checks we copy). */
  handleDatagram(data: Uint8Array, now: number): void {
    const r = new Reader(data, 0, data.length)
    const pn = r.varint()
    const frames = decodeFrames(data, r.pos, data.length)
    if (typeof frames === 'string') throw new Error(`${this.name}: bad packet: ${frames}`)
    let eliciting = false
    for (const f of frames) if (!('app' in f) && isAckEliciting(f.type)) eliciting = true
    if (this.acks.onPacketReceived(pn, eliciting, now) !== 'new') return
    for (const f of frames) {
      if ('app' in f) continue
      if (f.type === FrameType.ACK) {
        const res = this.loss.onAck(f.ranges, f.ackDelayMicros, now)
        if (res.error !== 0) throw new Error(`${this.name}: ack error ${res.error}`)
        for (const rec of res.acked) {
          this.streams.onAcked(rec.stream)
          if (rec.ackLargest >= 0) this.acks.onAckFrameAcked(rec.ackLargest)
        }
        for (const rec of res.lost) this.streams.onLost(rec.stream)
      } else if (f.type === FrameType.NACK) {
        for (const rec of this.loss.onNack(f.packetNumbers, now)) this.streams.onLost(rec.stream)
      } else {
        const code = this.streams.handleFrame(f, now)
        if (code !== 0) {
          this.error = code
          throw new Error(`${this.name}: stream error 0x${code.toString(16)}`)
        }
      }
    }
    this.drainEvents()
  }

  nextTimeout(now: number): number {
    let t = Math.min(this.loss.getTimeout(), this.bare ? Infinity : this.acks.getTimeout(now))
    if (this.streams.wantsToSend() && this.cc.canSend(this.mtu)) t = Math.min(t, this.pacer.nextSendTime(now, this.mtu))
    return t
  }

  handleTimeout(now: number): void {
    if (now < this.loss.getTimeout()) return
    const r = this.loss.onTimeout(now)
    for (const rec of r.lost) this.streams.onLost(rec.stream)
    for (const rec of r.probeRecords) this.streams.onLost(rec.stream)
    this.probesPending = r.probes
    this.drainEvents()
  }
}

interface InFlight {
  at: number
  seq: number
  to: PipeEndpoint
  data: Uint8Array
}

export class StreamPipe {
  now = 0
  readonly a: PipeEndpoint
  readonly b: PipeEndpoint
  readonly random: () => number
  private queue: InFlight[] = []
  private seq = 0
  private linkFreeAt = new Map<PipeEndpoint, number>()
  readonly link: Required<LinkOptions>
  delivered = 0
  dropped = 0
  /** Explicit loss: return true to drop the n-th packet `from` sends (counted from 0). */
  dropIf: ((from: PipeEndpoint, n: number, data: Uint8Array) => boolean) | null = null
  private sentBy = new Map<PipeEndpoint, number>()
  /** Called after every step, for the test's application logic. */
  onStep: ((pipe: StreamPipe) => void) | null = null

  constructor(opts: PipeOptions = {}, peerOf: (side: 'a' | 'b') => PeerLimits = defaultPeer(opts)) {
    this.random = rng(opts.seed ?? 1)
    this.link = {
      latency: 10,
      rate: Infinity,
      queueMs: 100,
      loss: 0,
      duplicate: 0,
      reorder: 0,
      reorderDelay: 5,
      ...opts.link,
    }
    this.a = new PipeEndpoint('a', true, opts.a ?? {}, peerOf('b'))
    this.b = new PipeEndpoint('b', false, opts.b ?? {}, peerOf('a'))
  }

  private peerOf(e: PipeEndpoint): PipeEndpoint {
    return e === this.a ? this.b : this.a
  }

  private enqueue(from: PipeEndpoint, data: Uint8Array): void {
    const L = this.link
    const to = this.peerOf(from)
    const n = this.sentBy.get(from) ?? 0
    this.sentBy.set(from, n + 1)
    if (this.dropIf?.(from, n, data)) {
      this.dropped++
      return
    }
    // Bottleneck: serialisation at `rate`, tail drop beyond queueMs of backlog.
    let depart = this.now
    if (L.rate !== Infinity) {
      const free = Math.max(this.now, this.linkFreeAt.get(from) ?? 0)
      if (free - this.now > L.queueMs) {
        this.dropped++
        return
      }
      depart = free + data.length / L.rate
      this.linkFreeAt.set(from, depart)
    }
    if (this.random() < L.loss) {
      this.dropped++
      return
    }
    const copies = this.random() < L.duplicate ? 2 : 1
    for (let c = 0; c < copies; c++) {
      const extra = this.random() < L.reorder ? this.random() * L.reorderDelay : 0
      this.insert({ at: depart + L.latency + extra + c * 0.5, seq: this.seq++, to, data: c === 0 ? data : data.slice() })
    }
  }

  private insert(p: InFlight): void {
    const q = this.queue
    let i = q.length
    while (i > 0 && (q[i - 1]!.at > p.at || (q[i - 1]!.at === p.at && q[i - 1]!.seq > p.seq))) i--
    q.splice(i, 0, p)
  }

  private flush(e: PipeEndpoint): void {
    for (let n = 0; n < 1000; n++) {
      const d = e.pollTransmit(this.now)
      if (d === null) return
      this.enqueue(e, d)
    }
    throw new Error('flush did not converge')
  }

  /** One step: send what can be sent, advance the clock to the next event, process it. Returns false when idle. */
  step(): boolean {
    this.flush(this.a)
    this.flush(this.b)
    this.onStep?.(this)
    this.flush(this.a)
    this.flush(this.b)
    const next = Math.min(this.queue[0]?.at ?? Infinity, this.a.nextTimeout(this.now), this.b.nextTimeout(this.now))
    if (next === Infinity) return false
    this.now = Math.max(this.now, next)
    while (this.queue.length > 0 && this.queue[0]!.at <= this.now) {
      const p = this.queue.shift()!
      p.to.handleDatagram(p.data, this.now)
      p.data.fill(0xee) // the datagram buffer is reused after the call
      this.delivered++
    }
    for (const e of [this.a, this.b]) e.handleTimeout(this.now)
    return true
  }

  /** Steps until `done()` or the virtual clock passes `maxTime` ms; returns whether done() held. */
  run(done: () => boolean, maxTime = 600_000, maxSteps = 5_000_000): boolean {
    let lastNow = this.now
    let stuck = 0
    for (let i = 0; i < maxSteps; i++) {
      if (done()) return true
      if (this.now > maxTime) return false
      if (!this.step()) return done()
      stuck = this.now === lastNow ? stuck + 1 : 0
      lastNow = this.now
      if (stuck > 10_000) throw new Error(`virtual clock stuck at ${this.now}`)
    }
    return done()
  }
}

function defaultPeer(opts: PipeOptions): (side: 'a' | 'b') => PeerLimits {
  return (side) => {
    const s = (side === 'a' ? opts.a : opts.b)?.stream ?? {}
    return {
      maxStreams: s.maxConcurrentStreams ?? 256,
      streamWindow: s.streamReceiveWindow ?? 1 << 20,
      sessionWindow: s.sessionReceiveWindow ?? 16 << 20,
    }
  }
}
