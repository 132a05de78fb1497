/**
 * src/native/load.ts decisions: STT_NATIVE=0 / =1 / auto, ABI check, one warning on fallback.
 * These drive loadNative() with injected loaders, so they run with or without a built addon.
 */
import { describe, expect, it } from 'vitest'
import { ErrorCode, STTError } from '../../src/errors.js'
import { ABI_VERSION } from '../../src/native/binding.js'
import { ADDON_PATH, backend, binding, loadNative } from '../../src/native/load.js'

const missing = (p: string): never => {
  throw Object.assign(new Error(`Cannot find module '${p}'`), { code: 'MODULE_NOT_FOUND' })
}

describe('native loader', () => {
  it('STT_NATIVE=0 selects the JS backend without even trying the addon', () => {
    let tried = false
    const r = loadNative({ mode: '0', load: () => ((tried = true), { ABI_VERSION }) })
    expect(r).toEqual({ backend: 'js', binding: null })
    expect(tried).toBe(false)
  })

  it('STT_NATIVE=1 with a missing addon throws STT_NATIVE_UNAVAILABLE', () => {
    let err: unknown
    try {
      loadNative({ mode: '1', path: '/nonexistent/stt_native.node', load: missing })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(STTError)
    expect((err as STTError).code).toBe(ErrorCode.NATIVE_UNAVAILABLE)
    expect((err as STTError).message).toMatch(/Cannot find module/)
  })

  it('STT_NATIVE=1 with a wrong ABI_VERSION throws too', () => {
    expect(() => loadNative({ mode: '1', load: () => ({ ABI_VERSION: ABI_VERSION + 1 }) })).toThrowError(
      expect.objectContaining({ code: ErrorCode.NATIVE_UNAVAILABLE }),
    )
  })

  it('auto mode falls back to JS with exactly one warning naming the reason', () => {
    const warnings: string[] = []
    const r = loadNative({ mode: undefined, load: missing, warn: (m) => warnings.push(m) })
    expect(r.backend).toBe('js')
    expect(r.binding).toBeNull()
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/pure-TypeScript backend/)
    const r2 = loadNative({ mode: undefined, load: () => ({ ABI_VERSION: 0 }), warn: (m) => warnings.push(m) })
    expect(r2.backend).toBe('js')
    expect(r2.reason).toMatch(/ABI_VERSION mismatch/)
  })

  it('auto mode uses an addon with the right ABI_VERSION', () => {
    const fake = { ABI_VERSION }
    const r = loadNative({ load: () => fake })
    expect(r.backend).toBe('native')
    expect(r.binding).toBe(fake)
  })

  it('the process-wide choice follows STT_NATIVE', () => {
    if (process.env.STT_NATIVE === '0') {
      expect(backend).toBe('js')
      expect(binding).toBeNull()
    } else if (process.env.STT_NATIVE === '1') {
      expect(backend).toBe('native')
    }
    // With the addon built (npm run build:native), auto mode must pick it.
    if (backend === 'native') {
      expect(binding!.ABI_VERSION).toBe(ABI_VERSION)
      expect(loadNative({ path: ADDON_PATH }).backend).toBe('native')
    }
  })
})
