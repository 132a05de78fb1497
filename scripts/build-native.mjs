#!/usr/bin/env node
// `npm install` hook: builds the optional C++ addon (build/Release/stt_native.node), but only
// when no prebuilt binary in prebuilds/ loads on this machine (the package ships them for
// linux-x64 and linux-arm64 with glibc). Many installs never run this script at all
// (--ignore-scripts; pnpm 10 and Bun skip unapproved dependency scripts; npm 11 can be set to),
// and the loader then finds the prebuild by itself.
//
// The addon is an accelerator, never a requirement: when the build cannot run (no compiler,
// no Python, no Node headers) this prints ONE warning line and exits 0, so the install succeeds
// and src/native/load.ts selects the pure-TypeScript backend. STT_SKIP_NATIVE_BUILD=1 takes
// that path on purpose (CI uses it to prove the fallback).
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const warn = (why) =>
  console.warn(`stt-node: native addon not built (${why}); the pure-TypeScript backend will be used.`)

if (process.env.STT_SKIP_NATIVE_BUILD === '1') {
  // Also remove a previous build, so the simulation matches a machine where it never succeeded.
  rmSync(join(root, 'build'), { recursive: true, force: true })
  warn('STT_SKIP_NATIVE_BUILD=1')
  process.exit(0)
}

// A prebuild that loads makes compiling pointless. The loader's own rule picks it
// (dist/native/locate.js); before `prepare` has built dist/ (a git checkout's first
// `npm install`) there is no answer, and compiling is the safe choice.
try {
  const { hostPrebuildPath } = await import('../dist/native/locate.js')
  const prebuild = hostPrebuildPath(root)
  if (existsSync(prebuild)) {
    createRequire(import.meta.url)(prebuild)
    console.log(`stt-node: using the prebuilt native addon (${prebuild.slice(root.length + 1)}); nothing to compile`)
    process.exit(0)
  }
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND') console.log(`stt-node: the prebuilt native addon does not load here (${String(err?.message).split('\n')[0]}); compiling it`)
}

// node-gyp: this package's own (a development checkout), else the one the package manager
// provides to install scripts (npm and pnpm set npm_config_node_gyp), else one on PATH.
// (node-gyp is a devDependency, so an installed stt-node never has its own.)
let gyp = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'node-gyp.cmd' : 'node-gyp')
let gypPrefix = []
if (!existsSync(gyp) && process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) {
  gyp = process.execPath
  gypPrefix = [process.env.npm_config_node_gyp]
} else if (!existsSync(gyp) && spawnSync('node-gyp', ['--version'], { stdio: 'ignore' }).status === 0) {
  gyp = 'node-gyp'
}
const args = [...gypPrefix, 'rebuild']

// node-gyp downloads Node's headers unless told where they are. npm passes its `nodedir`
// setting as npm_config_nodedir; without one, use the headers installed next to this node
// binary (e.g. /usr/include/node for /usr/bin/node) when they are for this exact version.
if (!process.env.npm_config_nodedir) {
  const prefix = resolve(dirname(process.execPath), '..')
  const versionH = join(prefix, 'include', 'node', 'node_version.h')
  if (existsSync(versionH)) {
    const h = readFileSync(versionH, 'utf8')
    const part = (n) => h.match(new RegExp(`#define NODE_${n}_VERSION (\\d+)`))?.[1]
    if (`v${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}` === process.version) args.push(`--nodedir=${prefix}`)
  }
}

if (gyp !== 'node-gyp' && !existsSync(gyp)) {
  warn('node-gyp is not installed')
  process.exit(0)
}

const quiet = process.env.STT_NATIVE_BUILD_VERBOSE !== '1'
const r = spawnSync(gyp, args, { cwd: root, stdio: quiet ? ['ignore', 'ignore', 'pipe'] : 'inherit', encoding: 'utf8', maxBuffer: 64 << 20 })
if (r.status !== 0) {
  // One line for the user; the compiler output goes to a log file for whoever debugs it.
  let where = ''
  if (quiet && r.stderr) {
    const log = join(tmpdir(), 'stt-native-build.log')
    try {
      writeFileSync(log, r.stderr)
      where = `, log: ${log}`
    } catch {
      // best effort: without the log file the warning below still names the failure
    }
  }
  warn(`${r.error ? r.error.message : `node-gyp exited with ${r.status}`}${where}`)
  process.exit(0)
}
console.log('stt-node: native addon built (build/Release/stt_native.node)')
