/**
 * Probe datagrams of `stt diagnose`: any `stt listen` node sends a datagram starting with
 * PROBE_MAGIC straight back (with --echo it echoes every datagram), so diagnose can measure
 * round-trip time, loss and the largest datagram that passes.
 */
export const PROBE_MAGIC = Buffer.from('STT-PROBE1')

export function isProbe(d: Uint8Array): boolean {
  return d.length >= PROBE_MAGIC.length && Buffer.from(d.buffer, d.byteOffset, PROBE_MAGIC.length).equals(PROBE_MAGIC)
}

/** A probe of `size` bytes (>= 18) carrying a sequence number. */
export function makeProbe(seq: number, size: number): Buffer {
  const b = Buffer.alloc(Math.max(size, PROBE_MAGIC.length + 8))
  PROBE_MAGIC.copy(b, 0)
  b.writeUInt32BE(seq >>> 0, PROBE_MAGIC.length)
  b.writeUInt32BE(b.length, PROBE_MAGIC.length + 4)
  return b
}

export function probeSeq(d: Buffer): { seq: number; size: number } | null {
  if (!isProbe(d) || d.length < PROBE_MAGIC.length + 8) return null
  return { seq: d.readUInt32BE(PROBE_MAGIC.length), size: d.readUInt32BE(PROBE_MAGIC.length + 4) }
}
