/**
 * The relayed path as the driver sees it: a transport of kind 'relay' whose addresses name a
 * relay channel (`RelayedAddress`). Sending wraps each packet of the end-to-end session in the
 * 11-byte relay envelope (docs/PROTOCOL.md §8.2) and hands it to the transport that reaches
 * the relay (UDP, or WebSocket for a hybrid member); receiving is the reverse, done by
 * `unwrap` before the endpoint sees the batch. The session above never knows: to it, a relay
 * channel is one more peer address, so migration and path validation move a session between
 * the relayed path and a punched direct one like between any two addresses.
 */
import type { PeerAddress, RxBatch, Transport, TransportEvents, TransportStats, TxBatch, BoundAddress } from '../transport/types.js'
import { channelHex, RELAY_HEADER_SIZE, relayChannelKey, writeRelayHeader } from '../protocol/rendezvous.js'
import { type EnvelopeAction, mapEnvelopes } from './envelope-batch.js'
import { STTTransportError, ErrorCode } from '../errors.js'

/** The key of channel `channelKey` (hex) at `relay`: RelayedAddress.key, and the key of `channels`. */
export function relayedKey(relay: PeerAddress, channelKey: string): string {
  return `relay:${relay.key}#${channelKey}`
}

/** A relay channel: packets to it go to `relay` in an envelope naming `channel`. */
export class RelayedAddress implements PeerAddress {
  readonly kind = 'relay'
  readonly reliable = false
  readonly key: string
  readonly family: 'IPv4' | 'IPv6'
  readonly channelKey: string
  /**
   * Bytes of packets that came in on this channel (envelopes stripped): what the peer really
   * sent us through the relay, the 3x account of the punches sent on its behalf (§8.5).
   */
  bytesReceived = 0

  constructor(
    readonly relay: PeerAddress,
    readonly channel: Uint8Array,
  ) {
    this.channelKey = channelHex(channel)
    this.key = relayedKey(relay, this.channelKey)
    this.family = relay.family === 'IPv6' || relay.host?.includes(':') === true ? 'IPv6' : 'IPv4'
  }

  toString(): string {
    return `relay+${this.relay.toString()}#${this.channelKey}`
  }
}

export class RelayPathTransport implements Transport {
  readonly kind = 'relay'
  readonly reliable = false
  /**
   * Channels this node uses, by address key: relay and channel id together, so two relays
   * choosing the same id cannot touch each other's channel.
   */
  readonly channels = new Map<string, RelayedAddress>()
  private slab = new Uint8Array(0)
  private offsets = new Uint32Array(0)
  private lengths = new Uint32Array(0)
  private readonly stats = { packetsSent: 0, packetsReceived: 0, bytesSent: 0, bytesReceived: 0, sendErrors: 0, dropped: {} as Record<string, number> }

  /** `carrier(addr)`: the transport that reaches the relay at `addr`. */
  constructor(private readonly carrier: (addr: PeerAddress) => Transport | undefined) {}

  attach(_events: TransportEvents): void {}

  listen(): Promise<BoundAddress> {
    return Promise.reject(new STTTransportError(ErrorCode.TRANSPORT, 'a relayed path does not listen'))
  }

  /** `target` is the key of a channel registered in `channels`. */
  dial(target: string): Promise<PeerAddress> {
    const a = this.channels.get(target)
    if (a) return Promise.resolve(a)
    return Promise.reject(new STTTransportError(ErrorCode.NETWORK_UNREACHABLE, 'unknown relay channel'))
  }

  send(batch: TxBatch): void {
    const to = batch.to as RelayedAddress
    const carrier = this.carrier(to.relay)
    if (!carrier) {
      this.stats.sendErrors += batch.count
      return
    }
    let total = 0
    for (let i = 0; i < batch.count; i++) total += batch.lengths[i]! + RELAY_HEADER_SIZE
    if (this.slab.length < total) this.slab = new Uint8Array(Math.max(total, 2 * this.slab.length))
    if (this.offsets.length < batch.count) {
      this.offsets = new Uint32Array(batch.count)
      this.lengths = new Uint32Array(batch.count)
    }
    // One copy per packet: the envelope must sit in front of it (the endpoint's slab has no headroom).
    let pos = 0
    for (let i = 0; i < batch.count; i++) {
      const len = batch.lengths[i]!
      writeRelayHeader(this.slab, pos, to.channel)
      this.slab.set(batch.slab.subarray(batch.offsets[i]!, batch.offsets[i]! + len), pos + RELAY_HEADER_SIZE)
      this.offsets[i] = pos
      this.lengths[i] = len + RELAY_HEADER_SIZE
      pos += len + RELAY_HEADER_SIZE
      this.stats.bytesSent += len
    }
    this.stats.packetsSent += batch.count
    carrier.send({ slab: this.slab, offsets: this.offsets, lengths: this.lengths, count: batch.count, to: to.relay })
  }

  writable(to: PeerAddress): boolean {
    const relay = (to as RelayedAddress).relay
    const c = this.carrier(relay)
    return c?.writable?.(relay) ?? true
  }

  /**
   * Turns relay envelopes from a relay we use into the packets they carry, from the channel's
   * address. Returns the batch for the endpoint (the same object when it holds no envelope),
   * or null when nothing is left. Envelopes from anyone else, or naming a channel we do not
   * use, go to the endpoint as they are, which drops and counts them ('unknown-type').
   */
  unwrap(batch: RxBatch): RxBatch | null {
    // No channel (a node that never used a relay): every envelope would stay as it is, so the
    // batch goes on without the scan (issue 13: every batch of every node passes here).
    if (this.channels.size === 0) return batch
    return mapEnvelopes(batch, this.onEnvelope)
  }

  // Made once, not per received batch (issue 13: every batch of every node passes here).
  private readonly onEnvelope = (slab: Uint8Array, off: number, len: number, src: PeerAddress): EnvelopeAction => {
    const ch = this.channels.get(relayedKey(src, relayChannelKey(slab, off)))
    // Not from a relay we use, or a channel we do not have with it: the endpoint drops it
    // and counts it with every other datagram it cannot use ('unknown-type').
    if (!ch) return 'keep'
    this.stats.packetsReceived++
    this.stats.bytesReceived += len - RELAY_HEADER_SIZE
    ch.bytesReceived += len - RELAY_HEADER_SIZE
    return ch
  }

  getStats(): TransportStats {
    return { kind: 'relay', ...this.stats, dropped: { ...this.stats.dropped }, channels: this.channels.size }
  }

  async close(): Promise<void> {
    this.channels.clear()
  }
}
