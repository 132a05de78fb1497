#!/usr/bin/env node
// Compiles the C network emulator (emu.c) and its raw UDP source/sink (udp-blast.c) into
// bench/netem/bin/ with the system C compiler, only when a binary is missing or older than its
// source. Needs only gcc/cc (no node-gyp: these are stand-alone programs, not addons).
//   node bench/netem/build.mjs          (wan.mjs and tbf.mjs call ensureBuilt() themselves)
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const DIR = fileURLToPath(new URL('.', import.meta.url))
export const BIN = `${DIR}bin`
const PROGRAMS = ['emu', 'udp-blast']

export function ensureBuilt({ quiet = false } = {}) {
  mkdirSync(BIN, { recursive: true })
  const cc = process.env.CC || 'cc'
  const out = {}
  for (const p of PROGRAMS) {
    const src = `${DIR}${p}.c`
    const bin = `${BIN}/${p}`
    if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
      if (!quiet) process.stderr.write(`netem: ${cc} -O2 -o ${bin} ${src}\n`)
      // Built under a temporary name and renamed into place: two processes may build at once
      // (the test suite runs files in parallel, and `stt bench --wan` builds too), and one of
      // them may spawn the program meanwhile. A rename never leaves a half-written binary to
      // exec, and a running one keeps its old file.
      const tmp = `${bin}.${process.pid}.tmp`
      execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', '-o', tmp, src, '-lm'], { stdio: 'inherit' })
      renameSync(tmp, bin)
    }
    out[p] = bin
  }
  return out
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const b = ensureBuilt()
  console.log(JSON.stringify(b))
}
