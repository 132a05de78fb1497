// Statistics shared by roles and launchers: repeated-run summaries and RTT percentiles.

// Median of numbers (mean of the two middle ones for an even count).
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

// { median, min, max, n } of a list of runs' values; NaN/undefined entries are ignored so one
// run lacking a key (e.g. a loss counter) does not poison the summary.
export function summarize(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x))
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length }
}

// Summaries of every numeric key over a list of metric objects (one per run).
export function summarizeRuns(runs) {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r)))]
  const out = {}
  for (const k of keys) {
    if (runs.some((r) => typeof r[k] === 'number')) out[k] = summarize(runs.map((r) => r[k]))
  }
  return out
}

// Nearest-rank percentile of an ascending-sorted array: the smallest sample with at least p % of
// samples at or below it (no interpolation, so p99 is always a latency that really happened).
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const i = Math.ceil((p / 100) * sorted.length) - 1
  return sorted[Math.min(sorted.length - 1, Math.max(0, i))]
}

// RTT samples in microseconds -> the figures we report. Done in the child, so the launcher never
// has to carry tens of thousands of samples through a pipe.
export function rttStats(samples) {
  const s = Float64Array.from(samples).sort()
  let sum = 0
  for (const x of s) sum += x
  return {
    n: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    mean: s.length ? sum / s.length : NaN,
    min: s[0] ?? NaN,
    max: s[s.length - 1] ?? NaN
  }
}

// ours / anchor, for "x times the anchor" reporting (both medians of the same run set).
export const ratio = (ours, anchor) => (anchor ? ours / anchor : NaN)

// Compact human number: 3-4 significant digits, thousands separators for large values.
export function fmt(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '-'
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US')
  if (Math.abs(x) >= 100) return String(Math.round(x))
  return String(Number(x.toPrecision(3)))
}
