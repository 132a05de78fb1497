/** Small formatting helpers for human output. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`
}

export function rate(bytesPerSec: number): string {
  return `${bytes(Math.round(bytesPerSec))}/s`
}

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-'
  return v < 1 ? `${(v * 1000).toFixed(0)} µs` : v < 100 ? `${v.toFixed(2)} ms` : `${Math.round(v)} ms`
}

export function duration(sec: number): string {
  if (!Number.isFinite(sec)) return '?'
  if (sec < 60) return `${sec.toFixed(sec < 10 ? 1 : 0)}s`
  const m = Math.floor(sec / 60)
  return `${m}m${String(Math.round(sec - m * 60)).padStart(2, '0')}s`
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.ceil((p / 100) * sorted.length) - 1
  return sorted[Math.min(sorted.length - 1, Math.max(0, i))]!
}

export function shortHex(b: Uint8Array, n = 16): string {
  return Buffer.from(b).toString('hex').slice(0, n)
}

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/**
 * Text that may hold a string from the network, for a log line: every control character (C0,
 * DEL, C1) and bidi override as \uXXXX, so it cannot move the cursor, change colours or
 * reorder the line on the reader's terminal.
 */
export function escapeControls(s: string): string {
  return s.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** A string from the network (a file name, a peer name, a close reason) in double quotes, escaped (JSON, then escapeControls). */
export function quoted(s: string): string {
  return escapeControls(JSON.stringify(s))
}
