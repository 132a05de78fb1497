import type { ProtocolConfig } from '../config.js'
import type { PeerAddress } from '../net-types.js'
import { IPV4_UDP_OVERHEAD, IPV6_UDP_OVERHEAD } from './pmtu.js'

/**
 * Largest packet over an unreliable path to `addr`: 1472 bytes fit an Ethernet MTU of 1500
 * after IPv4 and UDP headers; IPv6 headers are 20 bytes longer (1452).
 */
export function udpPacketSize(c: ProtocolConfig, addr: PeerAddress): number {
  return addr.host !== undefined && addr.host.includes(':') ? c.ipv6PacketSize : c.maxPacketSize
}

/** IP + UDP header bytes on the path to `addr` (turns link MTUs into UDP payload sizes). */
export function udpIpOverhead(addr: PeerAddress): number {
  return addr.family === 'IPv6' || (addr.host !== undefined && addr.host.includes(':')) ? IPV6_UDP_OVERHEAD : IPV4_UDP_OVERHEAD
}
