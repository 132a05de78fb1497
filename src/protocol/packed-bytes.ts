/**
 * Small byte strings of a session copied into one ArrayBuffer: its id, peer node id, transcript
 * hash, FINAL random and proof digest in one; its traffic and resumption secrets in another
 * (a view's .buffer reaches its neighbours, so secrets never share a buffer with bytes the
 * application may see). Each separate Uint8Array of 8-32 bytes costs ~230 bytes of heap (the
 * view, its own ArrayBuffer object and the bytes); views into one buffer share the ArrayBuffer
 * (~0.6 KiB per idle session, issue 14).
 */

/** Copies each part (a byte string, or a length for a zeroed slot) into one buffer; returns the views, in order. */
export function packBytes(parts: ReadonlyArray<Uint8Array | number>): Uint8Array[] {
  let total = 0
  for (const p of parts) total += typeof p === 'number' ? p : p.length
  const buf = new ArrayBuffer(total)
  const views: Uint8Array[] = []
  let off = 0
  for (const p of parts) {
    const len = typeof p === 'number' ? p : p.length
    const v = new Uint8Array(buf, off, len)
    if (typeof p !== 'number') v.set(p)
    views.push(v)
    off += len
  }
  return views
}
