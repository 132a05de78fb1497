// Command-line options shared by every launcher. Sizes accept k/M/G (decimal) and Ki/Mi/Gi
// (binary) suffixes, so `--bytes 64Mi` and `--size 1Mi` read naturally.

const UNITS = { k: 1e3, m: 1e6, g: 1e9, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3 }

export function parseNumber(s) {
  if (typeof s === 'number') return s
  const m = /^([\d.]+(?:e\d+)?)\s*([kmg]i?)?b?$/i.exec(String(s).trim())
  if (!m) throw new Error(`not a number: ${s}`)
  return Number(m[1]) * (m[2] ? UNITS[m[2].toLowerCase()] : 1)
}

const NUMERIC = new Set(['bytes', 'seconds', 'size', 'count', 'warmup', 'repeat', 'port', 'burst', 'wait-idle', 'warm'])
const BOOLEAN = new Set(['smoke', 'json', 'quiet', 'help', 'list'])

// argv -> { _: [positionals], key: value }. `--key value`, `--key=value`, `--flag`.
export function parseArgs(argv = process.argv.slice(2)) {
  const out = { _: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) { out._.push(a); continue }
    let [key, val] = a.slice(2).split(/=(.*)/s)
    if (BOOLEAN.has(key)) { out[key] = val === undefined ? true : val !== 'false'; continue }
    if (val === undefined) val = argv[++i]
    if (val === undefined) throw new Error(`--${key} needs a value`)
    out[key] = NUMERIC.has(key) ? parseNumber(val) : val
  }
  return out
}

// Defaults for one measurement. bytes = 0 means "no byte limit, stop on time".
// Smoke mode keeps every run far under a second and a couple of MB (for CI: does it still work?).
export const DEFAULTS = { host: '127.0.0.1', seconds: 5, bytes: 0, count: 20000, warmup: 1000 }
export const SMOKE = { seconds: 0.25, bytes: 2 * 1024 ** 2, count: 300, warmup: 30 }

// Merge: built-in defaults < smoke scaling < per-entry options < explicit command line.
// In smoke mode the caps from SMOKE win over per-entry options (never over the command line).
export function measureOptions(entryOpts = {}, cli = {}) {
  const explicit = Object.fromEntries(
    Object.entries(cli).filter(([k, v]) => k !== '_' && v !== undefined && !BOOLEAN.has(k) && !['repeat', 'which', 'wait-idle', 'out'].includes(k))
  )
  const base = { ...DEFAULTS, ...entryOpts }
  if (cli.smoke) Object.assign(base, SMOKE, { smoke: true })
  return { ...base, ...explicit }
}
