#!/usr/bin/env node
// `npm run prebuild`: the prebuilt N-API binaries shipped in the npm package, so that users get
// the native backend without running any install script (npm 11, pnpm 10 and Bun skip them).
//
//   node scripts/prebuild.mjs            linux-x64 and linux-arm64 (glibc); arm64 is cross-compiled
//                                        with Debian's aarch64-linux-gnu toolchain
//   node scripts/prebuild.mjs --arch x64 only the listed architectures (comma-separated)
//   node scripts/prebuild.mjs --check    exit 1 unless every prebuild exists and was built from
//                                        the current native sources (the `prepack` guard)
//
// prebuildify does the building and naming (prebuilds/<platform>-<arch>/stt-node.<libc>.node);
// src/native/locate.ts computes the same name at load time. It runs node-gyp inside
// build/prebuild-work/ so the developer's own build/Release is never clobbered.
// prebuilds/SOURCES.sha256 records, per binary, the hash of the native sources it was built from.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({ options: { arch: { type: 'string' }, check: { type: 'boolean' } } })

// The targets this repository ships. Cross toolchains are Debian's (g++-<triple>, binutils-<triple>).
const TARGETS = {
  x64: { triple: 'x86_64-linux-gnu' },
  arm64: { triple: 'aarch64-linux-gnu' },
}
const PLATFORM = 'linux'
const LIBC = 'glibc'
const fileFor = (arch) => join(root, 'prebuilds', `${PLATFORM}-${arch}`, `stt-node.${LIBC}.node`)
const stampFile = join(root, 'prebuilds', 'SOURCES.sha256')

/** Hash of everything that goes into the binary: binding.gyp and native/ (sorted, names included). */
function sourcesHash() {
  const h = createHash('sha256')
  const files = ['binding.gyp', ...readdirSync(join(root, 'native')).filter((f) => /\.(cc|h)$/.test(f)).sort().map((f) => join('native', f))]
  for (const f of files) h.update(`${f}\0`).update(readFileSync(join(root, f))).update('\0')
  return h.digest('hex')
}

/** SOURCES.sha256 as a map: "<platform>-<arch>" -> sources hash ("<hash>  <platform>-<arch>" lines). */
function readStamps() {
  const m = new Map()
  if (existsSync(stampFile)) for (const line of readFileSync(stampFile, 'utf8').split('\n')) {
    const [hash, target] = line.trim().split(/\s+/)
    if (hash && target) m.set(target, hash)
  }
  return m
}

if (values.check) {
  const stamps = readStamps()
  const current = sourcesHash()
  const problems = []
  for (const a of Object.keys(TARGETS)) {
    if (!existsSync(fileFor(a))) problems.push(`missing ${fileFor(a).slice(root.length + 1)}`)
    else if (stamps.get(`${PLATFORM}-${a}`) !== current) problems.push(`${PLATFORM}-${a} was built from other native sources`)
  }
  if (problems.length > 0) {
    console.error(`prebuild check failed: ${problems.join('; ')}. Run \`npm run prebuild\` first.`)
    process.exit(1)
  }
  console.log(`prebuild check: ${Object.keys(TARGETS).map((a) => `${PLATFORM}-${a}`).join(', ')} match the native sources`)
  process.exit(0)
}

if (process.platform !== PLATFORM) {
  console.error(`prebuild: this script builds Linux binaries and must run on Linux (here: ${process.platform})`)
  process.exit(1)
}
const archs = values.arch ? values.arch.split(',') : Object.keys(TARGETS)
for (const a of archs) if (!TARGETS[a]) throw new Error(`prebuild: unknown --arch ${a} (known: ${Object.keys(TARGETS)})`)

// Node's headers: the ones installed next to this node (e.g. /usr/include/node) when they are for
// this exact version, else node-gyp's cache. They are arch-neutral: OpenSSL's per-arch
// configuration (include/node/openssl/archs/<arch>/...) is chosen by the compiler's predefined
// macros (__aarch64__, __x86_64__), so the same headers serve the cross build.
const prefix = resolve(dirname(process.execPath), '..')
const versionH = join(prefix, 'include', 'node', 'node_version.h')
const env = { ...process.env }
if (!env.npm_config_nodedir && existsSync(versionH)) {
  const h = readFileSync(versionH, 'utf8')
  const part = (n) => h.match(new RegExp(`#define NODE_${n}_VERSION (\\d+)`))?.[1]
  if (`v${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}` === process.version) env.npm_config_nodedir = prefix
}

// A copy of the inputs in build/prebuild-work: node-gyp always builds into <cwd>/build, and
// prebuildify moves the result away. node-addon-api still resolves from the repository's node_modules.
const work = join(root, 'build', 'prebuild-work')
rmSync(work, { recursive: true, force: true })
mkdirSync(work, { recursive: true })
for (const f of ['binding.gyp', 'package.json']) cpSync(join(root, f), join(work, f))
cpSync(join(root, 'native'), join(work, 'native'), { recursive: true, filter: (s) => !s.startsWith(join(root, 'native', 'fuzz')) })

const prebuildify = join(root, 'node_modules', 'prebuildify', 'bin.js')
const hostArch = process.arch
for (const arch of archs) {
  const t = TARGETS[arch]
  const cross = arch !== hostArch
  const tool = (name) => (cross ? `${t.triple}-${name}` : name)
  const buildEnv = { ...env }
  if (cross) Object.assign(buildEnv, { CC: tool('gcc'), CXX: tool('g++'), LINK: tool('g++'), AR: tool('ar') })
  if (cross && spawnSync(tool('g++'), ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.error(`prebuild: ${tool('g++')} not found; install it with: apt-get install g++-${t.triple} binutils-${t.triple}`)
    process.exit(1)
  }
  const args = [prebuildify, '--napi', '--strip', `--strip-bin=${tool('strip')}`, '--tag-libc', `--arch=${arch}`,
    `--target=${process.versions.node}`, `--out=${root}`, '--quiet']
  const started = Date.now()
  const r = spawnSync(process.execPath, args, { cwd: work, env: buildEnv, stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`prebuild: ${PLATFORM}-${arch} failed (prebuildify exited with ${r.status}); run with the same command without --quiet in ${work} to see why`)
    process.exit(1)
  }
  console.log(`prebuild: ${fileFor(arch).slice(root.length + 1)} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  const stamps = readStamps()
  stamps.set(`${PLATFORM}-${arch}`, sourcesHash())
  writeFileSync(stampFile, [...stamps].sort().map(([target, hash]) => `${hash}  ${target}\n`).join(''))
}
rmSync(work, { recursive: true, force: true })
