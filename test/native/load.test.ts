/**
 * src/native/load.ts decisions: STT_NATIVE=0 / =1 / auto, ABI check, one warning on fallback,
 * candidate order (prebuild, then source build). These drive loadNative() with injected loaders,
 * so they run with or without a built addon. The installed-package behaviour (npm pack, npm 11,
 * --ignore-scripts, pnpm 10, no compiler) is tested for real by scripts/pack-test.mjs.
 */
import { describe, expect, it } from 'vitest'
import { ErrorCode, STTError } from '../../src/errors.js'
import { ABI_VERSION } from '../../src/native/binding.js'
import { addonPath, backend, binding, loadNative, nativeSource } from '../../src/native/load.js'
import { ADDON_PATH, detectLibc, nativeCandidates, prebuildRelPath } from '../../src/native/locate.js'

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
      loadNative({ mode: '1', candidates: [{ source: 'source', path: '/nonexistent/stt_native.node' }], load: missing })
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
    expect(r.source).toBe('prebuild')
  })

  it('tries the prebuild first, then the source build, and says which one loaded', () => {
    const fake = { ABI_VERSION }
    const tried: string[] = []
    const candidates = [
      { source: 'prebuild' as const, path: '/pkg/prebuilds/linux-x64/stt-node.glibc.node' },
      { source: 'source' as const, path: '/pkg/build/Release/stt_native.node' },
    ]
    const both = loadNative({ candidates, load: (p) => (tried.push(p), fake) })
    expect(both).toMatchObject({ backend: 'native', source: 'prebuild', path: candidates[0]!.path })
    expect(tried).toEqual([candidates[0]!.path])

    tried.length = 0
    const warnings: string[] = []
    const onlySource = loadNative({ candidates, load: (p) => (tried.push(p), p.includes('prebuilds') ? missing(p) : fake), warn: (m) => warnings.push(m) })
    expect(onlySource).toMatchObject({ backend: 'native', source: 'source', path: candidates[1]!.path })
    expect(tried).toEqual(candidates.map((c) => c.path))
    expect(warnings).toEqual([]) // a missing prebuild is not worth a warning when the source build loads

    // A prebuild that exists but is from another build (wrong ABI) falls through too.
    const stale = loadNative({ candidates, load: (p) => (p.includes('prebuilds') ? { ABI_VERSION: ABI_VERSION + 1 } : fake) })
    expect(stale).toMatchObject({ backend: 'native', source: 'source' })
  })

  it('when no candidate loads, the one warning names every reason', () => {
    const warnings: string[] = []
    const candidates = [
      { source: 'prebuild' as const, path: '/pkg/prebuilds/linux-x64/stt-node.musl.node' },
      { source: 'source' as const, path: '/pkg/build/Release/stt_native.node' },
    ]
    const r = loadNative({ candidates, load: missing, warn: (m) => warnings.push(m) })
    expect(r.backend).toBe('js')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/^stt-node: native addon unavailable \(prebuild: Cannot find module .*stt-node\.musl\.node.*; source: Cannot find module .*stt_native\.node.*\); using the pure-TypeScript backend$/)
    expect(() => loadNative({ mode: '1', candidates, load: missing })).toThrowError(/prebuild: .*; source: /)
  })

  it('prebuild names follow prebuildify (--napi --tag-libc): one file per platform, libc-tagged on Linux', () => {
    expect(prebuildRelPath('linux', 'x64', 'glibc')).toBe('prebuilds/linux-x64/stt-node.glibc.node')
    expect(prebuildRelPath('linux', 'arm64', 'musl')).toBe('prebuilds/linux-arm64/stt-node.musl.node')
    expect(prebuildRelPath('darwin', 'arm64', null)).toBe('prebuilds/darwin-arm64/stt-node.node')
    expect(detectLibc('darwin')).toBeNull()
    // This machine runs glibc (Debian); the candidates are the glibc prebuild, then build/Release.
    if (process.platform === 'linux') expect(detectLibc()).toBe('glibc')
    const c = nativeCandidates()
    expect(c.map((x) => x.source)).toEqual(['prebuild', 'source'])
    expect(c[1]!.path).toBe(ADDON_PATH)
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
      expect(nativeSource === 'prebuild' || nativeSource === 'source').toBe(true)
      expect(loadNative({ candidates: [{ source: nativeSource!, path: addonPath! }] }).backend).toBe('native')
    } else {
      expect(nativeSource).toBeNull()
      expect(addonPath).toBeNull()
    }
  })
})
