/**
 * Where the native addon may be found, in the order src/native/load.ts tries them:
 *
 *   1. prebuild  prebuilds/<platform>-<arch>/stt-node[.<libc>].node, shipped inside the npm
 *                package (made by `npm run prebuild`, i.e. prebuildify; no install step needed);
 *   2. source    build/Release/stt_native.node, compiled on this machine by node-gyp (the
 *                install script does it only when no prebuild matches).
 *
 * The addon is N-API (NAPI_VERSION=8, see binding.gyp), so one binary per platform serves every
 * Node version >= 20: the file name carries no Node ABI, only the libc on Linux. That makes the
 * name deterministic, which is why this is a few lines here instead of node-gyp-build's
 * directory scan (which also tries build/Release before the prebuild: the opposite order).
 *
 * Also imported (from dist/) by scripts/build-native.mjs, so the install script and the loader
 * can never disagree on which prebuild "matches".
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Which binary the native backend runs: shipped prebuild, or compiled on this machine. */
export type NativeSource = 'prebuild' | 'source'

export interface NativeCandidate {
  source: NativeSource
  path: string
}

/** Package root: the same relative path from src/native/ (vitest) and dist/native/ (the package). */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The local node-gyp build. */
export const ADDON_PATH = join(PACKAGE_ROOT, 'build', 'Release', 'stt_native.node')

/** prebuildify names files after the package (`stt-node`), then the tags we ask for. */
const PREBUILD_NAME = 'stt-node'

export type Libc = 'glibc' | 'musl'

/**
 * The C library this Node runs on (Linux only; null elsewhere). A glibc binary must never be
 * handed to musl (Alpine): dlopen may fail late or, worse, half-work. Node's own report says
 * which glibc it runs against; no glibc version means musl. (node-gyp-build checks for
 * /etc/alpine-release instead, which misses musl distributions other than Alpine.)
 */
export function detectLibc(platform: string = process.platform): Libc | null {
  if (platform !== 'linux') return null
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
  return report?.header?.glibcVersionRuntime ? 'glibc' : 'musl'
}

/** Relative path (from the package root) of the prebuild for one target; libc only on Linux. */
export function prebuildRelPath(platform: string, arch: string, libc: Libc | null): string {
  const file = libc === null ? `${PREBUILD_NAME}.node` : `${PREBUILD_NAME}.${libc}.node`
  return join('prebuilds', `${platform}-${arch}`, file)
}

/** The prebuild this process would load (whether or not the file exists). */
export function hostPrebuildPath(root: string = PACKAGE_ROOT): string {
  return join(root, prebuildRelPath(process.platform, process.arch, detectLibc()))
}

/** Candidates in load order: the prebuild first, then a source build. */
export function nativeCandidates(root: string = PACKAGE_ROOT): NativeCandidate[] {
  return [
    { source: 'prebuild', path: hostPrebuildPath(root) },
    { source: 'source', path: root === PACKAGE_ROOT ? ADDON_PATH : join(root, 'build', 'Release', 'stt_native.node') },
  ]
}
