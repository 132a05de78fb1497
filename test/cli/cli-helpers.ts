/**
 * Helpers for the CLI tests: they run the built binary (`node bin/stt.js ...`) as a user would.
 * The CLI is built once (if dist/cli is missing or older than src/cli) under a lock directory,
 * so parallel test files don't run tsc at the same time.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'

export const ROOT = resolve(import.meta.dirname, '..', '..')
export const BIN = join(ROOT, 'bin', 'stt.js')

function newestMtime(dir: string): number {
  let m = 0
  for (const f of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, f.name)
    m = Math.max(m, f.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)
  }
  return m
}

function stale(): boolean {
  const main = join(ROOT, 'dist', 'cli', 'main.js')
  if (!existsSync(main) || !existsSync(join(ROOT, 'dist', 'cli', 'bench-child.js'))) return true
  return newestMtime(join(ROOT, 'src', 'cli')) > statSync(main).mtimeMs
}

/** Builds dist/ (npm run build) when the CLI output is missing or older than its sources. */
export async function ensureBuilt(): Promise<void> {
  const lock = join(ROOT, 'dist', '.cli-test-build.lock')
  for (let i = 0; i < 600 && stale(); i++) {
    try {
      mkdirSync(join(ROOT, 'dist'), { recursive: true })
      mkdirSync(lock)
    } catch {
      await new Promise((r) => setTimeout(r, 200)) // another worker is building
      continue
    }
    try {
      spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json')], { stdio: 'inherit' })
    } finally {
      rmSync(lock, { recursive: true, force: true })
    }
  }
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/cli/main.js missing: run npm run build')
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
  ms: number
}

let stateDir: string | undefined
/** `stt send` keeps state (node seed, resumption tokens): in a temporary directory, not the tester's home. */
function testStateDir(): string {
  return (stateDir ??= mkdtempSync(join(tmpdir(), 'stt-cli-state-')))
}

/** Runs `node bin/stt.js ...args` to completion (STT_STATE_DIR: a temporary directory unless set). */
export function stt(args: string[], opts: { cwd?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const p = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: { STT_STATE_DIR: testStateDir(), ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => {
      p.kill('SIGKILL')
      reject(new Error(`stt ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, opts.timeout ?? 60_000)
    p.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, ms: performance.now() - t0 })
    })
  })
}

export interface Listener {
  proc: ChildProcess
  port: number
  urls: string[]
  lines: string[]
  stderr: () => string
  waitFor(re: RegExp, timeout?: number): Promise<string>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Starts `stt listen --port 0 ...` and resolves once it printed its `listening` line. */
export function listen(args: string[], opts: { cwd?: string } = {}): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [BIN, 'listen', '--port', '0', '--host', '127.0.0.1', ...args], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    const lines: string[] = []
    const waiters: Array<{ re: RegExp; r: (l: string) => void }> = []
    let err = ''
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    const exited = new Promise<number | null>((r) => proc.on('close', (c) => r(c)))
    const l: Listener = {
      proc,
      port: 0,
      urls: [],
      lines,
      stderr: () => err,
      waitFor(re, timeout = 20_000) {
        const hit = lines.find((x) => re.test(x))
        if (hit) return Promise.resolve(hit)
        return new Promise((res, rej) => {
          const t = setTimeout(() => rej(new Error(`listener never printed ${re}\n${lines.join('\n')}\n${err}`)), timeout)
          waiters.push({ re, r: (x) => (clearTimeout(t), res(x)) })
        })
      },
      async stop(signal = 'SIGTERM') {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000)
        const c = await exited
        clearTimeout(t)
        return c
      },
    }
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      lines.push(line)
      for (let i = 0; i < waiters.length; ) {
        if (waiters[i]!.re.test(line)) waiters.splice(i, 1)[0]!.r(line)
        else i++
      }
      if (line.startsWith('listening ')) {
        l.urls = line.slice('listening '.length).split(' ')
        l.port = Number(/:(\d+)(?:\/|$)/.exec(l.urls[0]!)?.[1])
        resolve(l)
      }
    })
    exited.then((c) => reject(new Error(`stt listen exited (${c}) before listening: ${err}`)))
  })
}

export function tempDir(prefix = 'stt-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

/** SHA-256 of a file, hex, streamed (the transfer tests' files are up to 200 MiB). */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const c of createReadStream(path)) h.update(c as Buffer)
  return h.digest('hex')
}

/** Writes `size` random bytes to `path` in 4 MiB chunks, honouring back-pressure. */
export async function makeRandomFile(path: string, size: number): Promise<void> {
  const chunk = 4 << 20
  const w = createWriteStream(path)
  for (let left = size; left > 0; left -= chunk) {
    if (!w.write(randomBytes(Math.min(left, chunk)))) await new Promise<void>((r) => w.once('drain', () => r()))
  }
  await new Promise<void>((r, j) => w.end((e?: Error | null) => (e ? j(e) : r())))
}
