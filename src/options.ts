/**
 * Unknown option keys are errors. The option types have no index signatures, so a typo is a
 * type error in TypeScript; this is the same check at run time for JavaScript callers (and
 * for objects built dynamically): an STTConfigError that names the key and, when one is
 * close, the option that was probably meant.
 */
import { STTConfigError } from './errors.js'

/**
 * The keys of an options type as a runtime set. Written as an object literal so the compiler
 * checks it against the type: a key missing here, or one the type lacks, fails `tsc`.
 */
export function keysOf<T extends object>(keys: { [K in keyof Required<T>]: true }): ReadonlySet<string> {
  return new Set(Object.keys(keys))
}

/** Throws STTConfigError for the first own key of `opts` that is not in `allowed`. */
export function checkKeys(opts: object, allowed: ReadonlySet<string>, what: string): void {
  for (const k of Object.keys(opts)) {
    if (allowed.has(k)) continue
    const near = closest(k, allowed)
    throw new STTConfigError(`unknown ${what} '${k}'${near ? ` (did you mean '${near}'?)` : ''}`)
  }
}

/** The allowed key within edit distance 2 of `k` (case-insensitive), if any. */
function closest(k: string, allowed: ReadonlySet<string>): string | undefined {
  let best: string | undefined
  let bestD = 3
  const a = k.toLowerCase()
  for (const cand of allowed) {
    const d = distance(a, cand.toLowerCase(), bestD)
    if (d < bestD) {
      bestD = d
      best = cand
    }
  }
  return best
}

/** Levenshtein distance, giving up (returning `cap`) once it cannot be below `cap`. */
function distance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    let rowMin = i
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
      cur.push(v)
      if (v < rowMin) rowMin = v
    }
    if (rowMin >= cap) return cap
    prev = cur
  }
  return Math.min(prev[b.length]!, cap)
}
