/**
 * Loads the optional native addon once per process/worker, trying in order (src/native/locate.ts):
 * the prebuild shipped in the package, then a local source build (build/Release), then nothing.
 *
 * STT_NATIVE=0  always the pure-TypeScript backend (no attempt, no warning).
 * STT_NATIVE=1  the addon is required: if no candidate loads (missing, broken or ABI-mismatched)
 *               importing this module throws an STTError with code STT_NATIVE_UNAVAILABLE.
 * otherwise     use the first candidate that loads; if none does, fall back to TypeScript with ONE
 *               process warning (code STT_NATIVE_FALLBACK).
 */
import { createRequire } from 'node:module'
import { ErrorCode, STTError } from '../errors.js'
import { ABI_VERSION, type NativeBinding } from './binding.js'
import { nativeCandidates, type NativeCandidate, type NativeSource } from './locate.js'

export { ADDON_PATH, type NativeSource } from './locate.js'

export type Backend = 'native' | 'js'

export interface LoadOptions {
  /** Value of STT_NATIVE ('0', '1' or anything else/undefined = auto). */
  mode?: string | undefined
  /** Files to try, in order; defaults to nativeCandidates() (prebuild, then build/Release). */
  candidates?: readonly NativeCandidate[]
  /** Injected for tests; defaults to createRequire(import.meta.url). */
  load?: (path: string) => unknown
  /** Injected for tests; defaults to a once-per-process process.emitWarning. */
  warn?: (message: string) => void
}

export interface LoadResult {
  backend: Backend
  binding: NativeBinding | null
  /** Which binary loaded (only with backend 'native'). */
  source?: NativeSource
  /** The file that loaded (only with backend 'native'). */
  path?: string
  /** Why the addon is not used (absent for STT_NATIVE=0 and for success). */
  reason?: string
}

let warned = false
function warnOnce(message: string): void {
  if (warned) return
  warned = true
  process.emitWarning(message, { code: 'STT_NATIVE_FALLBACK' })
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err)
}

const REBUILD: Record<NativeSource, string> = { prebuild: 'npm run prebuild', source: 'npm run build:native' }

/** Pure decision function (exported for tests); the module-level exports below use it once. */
export function loadNative(options: LoadOptions = {}): LoadResult {
  const mode = options.mode
  if (mode === '0') return { backend: 'js', binding: null }
  const load = options.load ?? createRequire(import.meta.url)
  const failures: string[] = []
  let cause: unknown
  for (const c of options.candidates ?? nativeCandidates()) {
    try {
      const b = load(c.path) as Partial<NativeBinding> | null
      if (b === null || typeof b !== 'object') failures.push(`${c.source}: the addon exported nothing`)
      else if (b.ABI_VERSION !== ABI_VERSION)
        failures.push(`${c.source}: ABI_VERSION mismatch (addon ${String(b.ABI_VERSION)}, expected ${ABI_VERSION}); rebuild with ${REBUILD[c.source]}`)
      else return { backend: 'native', binding: b as NativeBinding, source: c.source, path: c.path }
    } catch (err) {
      // A prebuild that is absent or does not load here (wrong libc, too old a system) is not an
      // error yet: the source build is tried next.
      cause ??= err
      failures.push(`${c.source}: ${describe(err)}`)
    }
  }
  const reason = failures.length > 0 ? failures.join('; ') : 'no candidate for this platform'
  if (mode === '1') {
    throw new STTError(ErrorCode.NATIVE_UNAVAILABLE, `STT_NATIVE=1 but the native addon is unavailable: ${reason}`, { cause })
  }
  ;(options.warn ?? warnOnce)(`stt-node: native addon unavailable (${reason}); using the pure-TypeScript backend`)
  return { backend: 'js', binding: null, reason }
}

const loaded = loadNative({ mode: process.env.STT_NATIVE })

/** Which backend this process uses for AEAD, the header codec and UDP. */
export const backend: Backend = loaded.backend
/**
 * Which native binary is in use: 'prebuild' (shipped in the package, prebuilds/) or 'source'
 * (compiled here, build/Release); null with the pure-TypeScript backend.
 */
export const nativeSource: NativeSource | null = loaded.source ?? null
/** The addon file that loaded (null with the pure-TypeScript backend); child processes in tests load it raw. */
export const addonPath: string | null = loaded.path ?? null
/** The typed addon, or null when the TypeScript backend is in use. */
export const binding: NativeBinding | null = loaded.binding
/** Why the addon is not in use, when it was wanted but failed to load. */
export const unavailableReason: string | undefined = loaded.reason
