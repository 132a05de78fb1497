/**
 * Session parameters each side announces inside the encrypted handshake payloads
 * (docs/PROTOCOL.md §3.5): a list of (id varint, value varint) pairs; unknown ids are
 * ignored so later versions can add parameters without breaking older peers.
 */
import { Reader, varintSize, writeVarint } from './varint.js'

export interface SessionParams {
  /** Byte streams the peer may open at once. */
  maxStreams: number
  /** Initial credit per stream (bytes the peer may send on a new stream). */
  streamWindow: number
  /** Initial session-wide credit. */
  sessionWindow: number
  /** 0: STT retransmits and controls congestion (UDP); 1: bare mode, the transport is reliable. */
  bareMode: boolean
  /** Largest packet this side accepts. */
  maxPacketSize: number
}

const enum ParamId {
  MAX_STREAMS = 1,
  STREAM_WINDOW = 2,
  SESSION_WINDOW = 3,
  BARE_MODE = 4,
  MAX_PACKET_SIZE = 5,
}

function pairs(p: SessionParams): Array<[number, number]> {
  return [
    [ParamId.MAX_STREAMS, p.maxStreams],
    [ParamId.STREAM_WINDOW, p.streamWindow],
    [ParamId.SESSION_WINDOW, p.sessionWindow],
    [ParamId.BARE_MODE, p.bareMode ? 1 : 0],
    [ParamId.MAX_PACKET_SIZE, p.maxPacketSize],
  ]
}

export function encodeParams(p: SessionParams): Uint8Array {
  const list = pairs(p)
  let n = 0
  for (const [id, v] of list) n += varintSize(id) + varintSize(v)
  const out = new Uint8Array(varintSize(n) + n)
  let pos = writeVarint(out, 0, n)
  for (const [id, v] of list) {
    pos = writeVarint(out, pos, id)
    pos = writeVarint(out, pos, v)
  }
  return out
}

/** True when both announce the same values. */
export function sameParams(a: SessionParams, b: SessionParams): boolean {
  return a.maxStreams === b.maxStreams && a.streamWindow === b.streamWindow && a.sessionWindow === b.sessionWindow && a.bareMode === b.bareMode && a.maxPacketSize === b.maxPacketSize
}

/** Reads a length-prefixed parameter list; null when malformed or missing a required value. */
export function readParams(r: Reader): SessionParams | null {
  const len = r.varint()
  const end = r.pos + len
  if (!r.ok || end > r.end) return null
  const p: Partial<SessionParams> = {}
  while (r.pos < end && r.ok) {
    const id = r.varint()
    const v = r.varint()
    switch (id) {
      case ParamId.MAX_STREAMS:
        p.maxStreams = v
        break
      case ParamId.STREAM_WINDOW:
        p.streamWindow = v
        break
      case ParamId.SESSION_WINDOW:
        p.sessionWindow = v
        break
      case ParamId.BARE_MODE:
        p.bareMode = v === 1
        break
      case ParamId.MAX_PACKET_SIZE:
        p.maxPacketSize = v
        break
      default:
        break // unknown: ignored on purpose
    }
  }
  if (!r.ok || r.pos !== end) return null
  if (p.maxStreams === undefined || p.streamWindow === undefined || p.sessionWindow === undefined) return null
  if (p.maxPacketSize === undefined || p.maxPacketSize < 1200) return null
  return { maxStreams: p.maxStreams, streamWindow: p.streamWindow, sessionWindow: p.sessionWindow, bareMode: p.bareMode ?? false, maxPacketSize: p.maxPacketSize }
}
