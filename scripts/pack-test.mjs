#!/usr/bin/env node
// `npm run test:pack` (run by .ci/run): stt-node as its users get it. `npm pack`, then the tarball
// is installed as a dependency of fresh temporary projects, the way a user would:
//
//   npm-default      the machine's npm with default settings: the prebuild gives the native
//                    backend, nothing is compiled (npm 11.19 still runs an unapproved install script,
//                    with a notice; the script finds the prebuild and stops)
//   ignore-scripts   npm install --ignore-scripts (no install script at all): same
//   pnpm10           npx pnpm@10 (skips build scripts by default): same; skipped only if pnpm
//                    itself cannot be fetched from the registry
//   source-build     the tarball without prebuilds/, its install script approved (npm 11's
//                    allowScripts): compiles build/Release
//   no-compiler      the same with CC/CXX=/bin/false: the install succeeds and the pure-TypeScript
//                    backend runs, with its one warning
//
// In each project a real loopback UDP session echoes a 4 MiB stream (SHA-256 checked both ways)
// through the installed package, and `npx stt demo` runs. The stt-node dependencies come from the
// npm registry (the npm cache makes repeats fast). Also checks the tarball's contents and that
// the linux-arm64 prebuild is an AArch64 ELF shared object (it cannot be run on this x64 machine).
//
// Prints PASS/FAIL/SKIP per check and a summary; exits 1 if anything failed.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const work = mkdtempSync(join(tmpdir(), 'stt-pack-test-'))
const keep = process.env.STT_PACK_TEST_KEEP === '1'
const INSTALL_TIMEOUT = 300_000 // registry downloads (cached after the first project) and a compile
const RUN_TIMEOUT = 120_000

const results = []
class Skip extends Error {}
async function check(name, fn) {
  const t0 = Date.now()
  try {
    const note = await fn()
    results.push({ name, status: 'PASS' })
    console.log(`PASS ${name}${note ? `: ${note}` : ''} (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
  } catch (err) {
    const status = err instanceof Skip ? 'SKIP' : 'FAIL'
    results.push({ name, status })
    console.log(`${status} ${name}: ${err.message}`)
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message)
}

/** Runs a command; throws with its output unless it exits 0 (or `allowFail`). */
function run(cmd, args, { cwd = work, env = {}, timeout = RUN_TIMEOUT, allowFail = false } = {}) {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout, maxBuffer: 64 << 20 })
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`
  if (!allowFail && r.status !== 0) {
    const why = r.error ? r.error.message : `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}`
    throw new Error(`\`${cmd} ${args.join(' ')}\` failed (${why}):\n${out.split('\n').slice(-25).join('\n')}`)
  }
  return { status: r.status, out, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

// The package manager's own environment (npm_config_* from `npm run`) must not leak into the
// consumer installs: each one runs with the machine's defaults unless the check says otherwise.
for (const k of Object.keys(process.env)) if (k.startsWith('npm_')) delete process.env[k]

/** ELF header fields (ELF64 little-endian): class, machine, type. */
function elfHeader(file) {
  const b = readFileSync(file)
  assert(b.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])), `${file} is not an ELF file`)
  return { class: b[4] === 2 ? 'ELF64' : 'ELF32', littleEndian: b[5] === 1, type: b.readUInt16LE(16), machine: b.readUInt16LE(18) }
}
const ET_DYN = 3
const EM_X86_64 = 62
const EM_AARCH64 = 183

// The consumer's check: import stt-node from the installed package (warnings captured first),
// then a real loopback UDP session whose server echoes a 4 MiB stream back.
const CONSUMER_CHECK = `
import { createHash, randomBytes } from 'node:crypto'
const warnings = []
process.on('warning', (w) => warnings.push(w.code + ': ' + w.message))
const { STTNode, generateSeed, backend, nativeSource } = await import('stt-node')
const sharedSeed = generateSeed()
const server = new STTNode({ sharedSeed, name: 'server', host: '127.0.0.1', port: 0, transport: 'udp' })
const client = new STTNode({ sharedSeed, name: 'client', host: '127.0.0.1', port: 0, transport: 'udp' })
const timer = setTimeout(() => { console.error('TIMEOUT'); process.exit(3) }, 60000)
try {
  const { port } = await server.start()
  await client.start()
  server.on('session', (s) => s.on('stream', (st) => st.pipe(st)))
  const session = await client.connect('udp://127.0.0.1:' + port)
  const data = randomBytes(4 * 1024 * 1024)
  const st = session.openStream()
  const h = createHash('sha256')
  let n = 0
  const done = new Promise((resolve, reject) => {
    st.on('data', (c) => { h.update(c); n += c.length })
    st.on('end', resolve)
    st.on('error', reject)
  })
  st.end(data)
  await done
  const echoed = h.digest('hex') === createHash('sha256').update(data).digest('hex')
  await session.close('done')
  await new Promise((r) => setImmediate(r))
  console.log('RESULT ' + JSON.stringify({ backend, nativeSource, transport: session.transport, bytes: n, echoed, warnings }))
} finally {
  clearTimeout(timer)
  await Promise.all([client.stop(), server.stop()])
}
`

/** A fresh consumer project: package.json (plus `extra` fields) + check.mjs. */
function newProject(name, extra = {}) {
  const dir = join(work, name)
  mkdirSync(dir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, version: '1.0.0', private: true, type: 'module', ...extra }, null, 2))
  writeFileSync(join(dir, 'check.mjs'), CONSUMER_CHECK)
  return dir
}

/** Runs check.mjs and `npx stt demo` in an installed project; returns the parsed check result. */
function exercise(dir, want) {
  const r = run(process.execPath, ['check.mjs'], { cwd: dir })
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  assert(line, `check.mjs printed no RESULT:\n${r.out}`)
  const res = JSON.parse(line.slice('RESULT '.length))
  assert(res.backend === want.backend, `backend is ${res.backend}, expected ${want.backend} (warnings: ${res.warnings.join(' | ') || 'none'})`)
  assert(res.nativeSource === want.nativeSource, `nativeSource is ${res.nativeSource}, expected ${want.nativeSource}`)
  assert(res.transport === 'udp', `session transport ${res.transport}`)
  assert(res.echoed && res.bytes === 4 * 1024 * 1024, `4 MiB echo failed: ${res.bytes} bytes back, hash ${res.echoed ? 'ok' : 'MISMATCH'}`)
  const fallback = res.warnings.filter((w) => w.startsWith('STT_NATIVE_FALLBACK'))
  if (want.backend === 'native') assert(res.warnings.length === 0, `unexpected warnings: ${res.warnings.join(' | ')}`)
  else {
    assert(fallback.length === 1, `expected exactly one STT_NATIVE_FALLBACK warning, got: ${res.warnings.join(' | ') || 'none'}`)
    assert(/native addon unavailable \(.*\); using the pure-TypeScript backend/.test(fallback[0]), `warning text: ${fallback[0]}`)
  }
  const demo = run('npx', ['--no-install', 'stt', 'demo', '--bytes', '1Mi'], { cwd: dir })
  const label = want.nativeSource ? `${want.backend} (${want.nativeSource})` : want.backend
  assert(demo.stdout.includes(`crypto backend: ${label}`), `stt demo did not report backend ${label}:\n${demo.out}`)
  assert(/9\. both nodes stopped/.test(demo.stdout), `stt demo did not finish:\n${demo.out}`)
  return `backend ${label}, 4 MiB echoed over ${res.transport}, stt demo ok`
}

const installedPkg = (dir) => join(dir, 'node_modules', 'stt-node')

console.log(`pack-test: node ${process.version}, npm ${run('npm', ['--version']).stdout.trim()}, work dir ${work}`)

let tarball
let noPrebuildTarball
await check('npm pack: tarball contents', () => {
  // prepack checks that every prebuild exists and matches native/; prepare builds dist/.
  const r = run('npm', ['pack', '--pack-destination', work], { cwd: root, timeout: INSTALL_TIMEOUT })
  tarball = join(work, `${pkg.name}-${pkg.version}.tgz`)
  assert(existsSync(tarball), `npm pack produced no ${tarball}:\n${r.out}`)
  const files = run('tar', ['tzf', tarball]).stdout.split('\n').filter(Boolean)
  const must = [
    'package/package.json', 'package/README.md', 'package/dist/index.js', 'package/dist/index.d.ts',
    'package/dist/native/load.js', 'package/dist/native/locate.js', 'package/dist/cli/main.js', 'package/bin/stt.js',
    'package/prebuilds/linux-x64/stt-node.glibc.node', 'package/prebuilds/linux-arm64/stt-node.glibc.node',
    'package/binding.gyp', 'package/native/addon.cc', 'package/native/aead.h', 'package/scripts/build-native.mjs',
    'package/docs/GUIDE.md',
  ]
  const missing = must.filter((f) => !files.includes(f))
  assert(missing.length === 0, `missing from the tarball: ${missing.join(', ')}`)
  const banned = /^package\/(test|bench|build|src|node_modules|\.ci|native\/fuzz)\/|\.(o|tgz|log)$/
  const extra = files.filter((f) => banned.test(f))
  assert(extra.length === 0, `must not be in the tarball: ${extra.slice(0, 10).join(', ')}`)
  // The same package without prebuilds: a platform we ship no binary for.
  const x = join(work, 'unpacked')
  mkdirSync(x)
  run('tar', ['xzf', tarball, '-C', x])
  rmSync(join(x, 'package', 'prebuilds'), { recursive: true })
  noPrebuildTarball = join(work, `${pkg.name}-${pkg.version}-no-prebuilds.tgz`)
  run('tar', ['czf', noPrebuildTarball, '-C', x, 'package'])
  const kib = (statSync(tarball).size / 1024).toFixed(0)
  return `${files.length} files, ${kib} KiB (${tarball})`
})

await check('linux-arm64 prebuild is an AArch64 ELF shared object (not runnable here); linux-x64 is x86-64', () => {
  const extract = (arch) => {
    const out = join(work, `${arch}.node`)
    run('sh', ['-c', `tar xzOf "$0" "package/prebuilds/linux-${arch}/stt-node.glibc.node" > "$1"`, tarball, out])
    return out
  }
  const arm = extract('arm64')
  const h = elfHeader(arm)
  assert(h.class === 'ELF64' && h.littleEndian, `not ELF64 little-endian: ${JSON.stringify(h)}`)
  assert(h.machine === EM_AARCH64, `e_machine ${h.machine}, expected ${EM_AARCH64} (AArch64)`)
  assert(h.type === ET_DYN, `e_type ${h.type}, expected ${ET_DYN} (DYN)`)
  let readelf = ''
  const re = spawnSync('readelf', ['-h', arm], { encoding: 'utf8' })
  if (re.status === 0) {
    assert(/Machine:\s+AArch64/.test(re.stdout) && /Type:\s+DYN/.test(re.stdout), `readelf disagrees:\n${re.stdout}`)
    readelf = ', readelf -h: Machine AArch64, Type DYN'
  }
  const x = elfHeader(extract('x64'))
  assert(x.machine === EM_X86_64 && x.type === ET_DYN, `linux-x64 prebuild: ${JSON.stringify(x)}`)
  return `arm64: ELF64 e_machine=${h.machine} e_type=${h.type}${readelf}`
})

await check('npm-default: npm install <tarball> with default settings gives native (prebuild), nothing compiled', () => {
  const dir = newProject('npm-default')
  const r = run('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: dir, timeout: INSTALL_TIMEOUT })
  assert(!existsSync(join(installedPkg(dir), 'build')), `the install compiled the addon (scripts ran?):\n${r.out}`)
  return exercise(dir, { backend: 'native', nativeSource: 'prebuild' })
})

await check('ignore-scripts: npm install --ignore-scripts <tarball> gives native (prebuild)', () => {
  const dir = newProject('ignore-scripts')
  run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: dir, timeout: INSTALL_TIMEOUT })
  assert(!existsSync(join(installedPkg(dir), 'build')), 'build/ exists despite --ignore-scripts')
  return exercise(dir, { backend: 'native', nativeSource: 'prebuild' })
})

await check('pnpm10: npx pnpm@10 add <tarball> (build scripts skipped by default) gives native (prebuild)', () => {
  const v = run('npx', ['--yes', 'pnpm@10', '--version'], { timeout: INSTALL_TIMEOUT, allowFail: true })
  if (v.status !== 0) throw new Skip(`pnpm 10 could not be fetched from the registry: ${v.out.trim().split('\n').pop()}`)
  const dir = newProject('pnpm10')
  run('npx', ['--yes', 'pnpm@10', 'add', tarball], { cwd: dir, timeout: INSTALL_TIMEOUT, env: { CI: '1' } })
  assert(!existsSync(join(installedPkg(dir), 'build')), 'pnpm ran the install script (build/ exists)')
  return `pnpm ${v.stdout.trim()}, ${exercise(dir, { backend: 'native', nativeSource: 'prebuild' })}`
})

// npm 11 names a tarball dependency by its resolved location in allowScripts (what
// `npm install-scripts approve stt-node` writes). foreground-scripts only makes the script's
// output visible, so the checks can read it.
const approved = () => ({ allowScripts: { [`file:${noPrebuildTarball}`]: true } })
const SHOW_SCRIPTS = { npm_config_foreground_scripts: 'true' }

await check('source-build: no prebuild, install script approved: the install compiles build/Release', () => {
  const dir = newProject('source-build', approved())
  const r = run('npm', ['install', '--no-audit', '--no-fund', noPrebuildTarball], { cwd: dir, timeout: INSTALL_TIMEOUT, env: SHOW_SCRIPTS })
  assert(r.out.includes('stt-node: native addon built'), `the install script did not report a build:\n${r.out}`)
  assert(existsSync(join(installedPkg(dir), 'build', 'Release', 'stt_native.node')), `no build/Release/stt_native.node after the install:\n${r.out}`)
  return exercise(dir, { backend: 'native', nativeSource: 'source' })
})

await check('no-compiler: no prebuild, install script approved, no C/C++ compiler: install succeeds, TypeScript backend with one warning', () => {
  const dir = newProject('no-compiler', approved())
  const r = run('npm', ['install', '--no-audit', '--no-fund', noPrebuildTarball], {
    cwd: dir,
    timeout: INSTALL_TIMEOUT,
    env: { CC: '/bin/false', CXX: '/bin/false', ...SHOW_SCRIPTS },
  })
  assert(/stt-node: native addon not built \(/.test(r.out), `the install did not print its one warning:\n${r.out}`)
  assert(!existsSync(join(installedPkg(dir), 'build', 'Release', 'stt_native.node')), 'an addon was built without a compiler?')
  return exercise(dir, { backend: 'js', nativeSource: null })
})

if (!keep) rmSync(work, { recursive: true, force: true })
const count = (s) => results.filter((r) => r.status === s).length
console.log(`\npack-test: ${count('PASS')} passed, ${count('FAIL')} failed, ${count('SKIP')} skipped${keep ? ` (kept ${work})` : ''}`)
process.exit(count('FAIL') > 0 ? 1 : 0)
