/**
 * Loads the optional native addon (build/Release/stt_native.node) once per process/worker.
 *
 * STT_NATIVE=0  always the pure-TypeScript backend (no attempt, no warning).
 * STT_NATIVE=1  the addon is required: a missing, broken or ABI-mismatched addon throws an
 *               STTError with code STT_NATIVE_UNAVAILABLE (at import of this module).
 * otherwise     use the addon when it loads; if it does not, fall back to TypeScript with ONE
 *               process warning (code STT_NATIVE_FALLBACK).
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ErrorCode, STTError } from '../errors.js'
import { ABI_VERSION, type NativeBinding } from './binding.js'

/** Same relative path from src/native/ (vitest) and dist/native/ (the package). */
export const ADDON_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'stt_native.node')

export type Backend = 'native' | 'js'

export interface LoadOptions {
  /** Value of STT_NATIVE ('0', '1' or anything else/undefined = auto). */
  mode?: string | undefined
  path?: string
  /** Injected for tests; defaults to createRequire(import.meta.url). */
  load?: (path: string) => unknown
  /** Injected for tests; defaults to a once-per-process process.emitWarning. */
  warn?: (message: string) => void
}

export interface LoadResult {
  backend: Backend
  binding: NativeBinding | null
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

/** Pure decision function (exported for tests); the module-level `backend`/`binding` use it once. */
export function loadNative(options: LoadOptions = {}): LoadResult {
  const mode = options.mode
  if (mode === '0') return { backend: 'js', binding: null }
  const path = options.path ?? ADDON_PATH
  const load = options.load ?? createRequire(import.meta.url)
  let reason: string
  let cause: unknown
  try {
    const b = load(path) as Partial<NativeBinding> | null
    if (b === null || typeof b !== 'object') reason = 'the addon exported nothing'
    else if (b.ABI_VERSION !== ABI_VERSION)
      reason = `ABI_VERSION mismatch (addon ${String(b.ABI_VERSION)}, expected ${ABI_VERSION}); rebuild with npm run build:native`
    else return { backend: 'native', binding: b as NativeBinding }
  } catch (err) {
    cause = err
    reason = describe(err)
  }
  if (mode === '1') {
    throw new STTError(ErrorCode.NATIVE_UNAVAILABLE, `STT_NATIVE=1 but the native addon is unavailable: ${reason}`, { cause })
  }
  ;(options.warn ?? warnOnce)(`stt-node: native addon unavailable (${reason}); using the pure-TypeScript backend`)
  return { backend: 'js', binding: null, reason }
}

const loaded = loadNative({ mode: process.env.STT_NATIVE })

/** Which backend this process uses for AEAD, the header codec and UDP. */
export const backend: Backend = loaded.backend
/** The typed addon, or null when the TypeScript backend is in use. */
export const binding: NativeBinding | null = loaded.binding
/** Why the addon is not in use, when it was wanted but failed to load. */
export const unavailableReason: string | undefined = loaded.reason
