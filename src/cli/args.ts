/** Command-line parsing on node:util parseArgs: strict, with usage errors as CliError(2). */
import { parseArgs as nodeParseArgs, type ParseArgsConfig } from 'node:util'
import { usage } from './exit.js'

export type OptionSpec = NonNullable<ParseArgsConfig['options']>

/** Options every command takes. */
export const COMMON: OptionSpec = {
  help: { type: 'boolean', short: 'h' },
  verbose: { type: 'boolean', short: 'v' },
  quiet: { type: 'boolean', short: 'q' },
}

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
}

export function parse(argv: string[], options: OptionSpec, allowPositionals = false): Parsed {
  try {
    const r = nodeParseArgs({ args: argv, options: { ...COMMON, ...options }, strict: true, allowPositionals })
    return { values: r.values as Parsed['values'], positionals: r.positionals }
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '')
    throw usage(msg)
  }
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

const UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3 }

/** "1G", "64Ki", "200MiB", "1200" -> bytes. */
export function parseSize(s: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]i?)?b?$/i.exec(s.trim())
  if (!m) throw usage(`${what} must be a size like 1200, 64Ki, 200Mi or 1G (got ${JSON.stringify(s)})`)
  const n = Math.round(Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]!)
  if (!Number.isSafeInteger(n)) throw usage(`${what} is too large`)
  return n
}

export function parseIntArg(s: string | undefined, what: string, min: number, max: number): number | undefined {
  if (s === undefined) return undefined
  if (!/^\d+$/.test(s.trim())) throw usage(`${what} must be an integer (got ${JSON.stringify(s)})`)
  const n = Number(s)
  if (n < min || n > max) throw usage(`${what} must be between ${min} and ${max} (got ${n})`)
  return n
}
