/**
 * How large a session's packets are: the smaller of both sides' limits for the current
 * transport (UDP: from the path's address family and the configured size; reliable transports:
 * up to `reliablePacketSize`), and within that the path MTU search's confirmed size (pmtu.ts).
 */
import type { ProtocolConfig } from '../config.js'
import type { PeerAddress } from '../net-types.js'
import { AEAD_TAG_SIZE, HEADER_SIZE } from './constants.js'
import { PmtuSearch } from './pmtu.js'
import { udpIpOverhead, udpPacketSize } from './udp-size.js'
import { varintSize } from './varint.js'

export class PacketSize {
  /** Path MTU search (DPLPMTUD) of the current path; disabled over reliable transports and in bare mode. */
  readonly pmtu: PmtuSearch
  /** The smaller of both sides' packet limits for the current transport. */
  limit: number
  private readonly reliableLimit: number

  constructor(
    private readonly config: ProtocolConfig,
    localMax: number,
    private readonly peerMax: number,
    address: PeerAddress,
    private readonly bare: boolean,
    now: number,
  ) {
    this.reliableLimit = Math.max(localMax, config.reliablePacketSize)
    this.limit = Math.min(localMax, peerMax)
    this.pmtu = new PmtuSearch({ max: this.limit, ipOverhead: udpIpOverhead(address) }, now)
    if (bare || address.reliable) this.pmtu.disable()
  }

  /** After a move to another transport: packets must fit a UDP path again, or may grow over TCP. */
  fit(addr: PeerAddress, now: number): void {
    const mine = addr.reliable ? this.reliableLimit : udpPacketSize(this.config, addr)
    this.limit = Math.min(mine, this.peerMax)
    // A new path's MTU is unknown: search again from base (RFC 9000 §14.2.1). Over TCP none applies.
    if (this.bare || addr.reliable) this.pmtu.disable()
    else this.pmtu.restart(this.limit, udpIpOverhead(addr), now)
  }

  /** Largest packet sent now: the path MTU search's confirmed size (or base) while it runs. */
  get current(): number {
    return this.pmtu.state === 'disabled' ? this.limit : this.pmtu.current
  }

  /** Largest datagram payload sendDatagram accepts now. */
  get maxDatagramPayload(): number {
    // DATA frame: type, flags, then the length as a varint (up to 4 bytes for 64 KiB packets).
    const max = this.current
    return max - HEADER_SIZE - AEAD_TAG_SIZE - 2 - varintSize(max)
  }
}
