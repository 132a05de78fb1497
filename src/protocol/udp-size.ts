import type { ProtocolConfig } from '../config.js'
import type { PeerAddress } from '../net-types.js'
import { IPV4_UDP_OVERHEAD, IPV6_UDP_OVERHEAD } from './pmtu.js'
import { RELAY_HEADER_SIZE } from './rendezvous.js'

/** A path through a relay (src/nat/relay-path.ts) carries the 11-byte relay envelope too. */
const envelope = (addr: PeerAddress): number => (addr.kind === 'relay' ? RELAY_HEADER_SIZE : 0)

/**
 * Largest packet over an unreliable path to `addr`: 1472 bytes fit an Ethernet MTU of 1500
 * after IPv4 and UDP headers; IPv6 headers are 20 bytes longer (1452).
 */
export function udpPacketSize(c: ProtocolConfig, addr: PeerAddress): number {
  const v6 = addr.kind === 'relay' ? addr.family === 'IPv6' : addr.host !== undefined && addr.host.includes(':')
  return (v6 ? c.ipv6PacketSize : c.maxPacketSize) - envelope(addr)
}

/** IP + UDP header bytes on the path to `addr` (turns link MTUs into UDP payload sizes). */
export function udpIpOverhead(addr: PeerAddress): number {
  return (addr.family === 'IPv6' || (addr.host !== undefined && addr.host.includes(':')) ? IPV6_UDP_OVERHEAD : IPV4_UDP_OVERHEAD) + envelope(addr)
}
