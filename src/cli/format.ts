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
