/** Reading a shared-seed file written by `stt keygen` (hex, >= 32 bytes). */
import { readFileSync, statSync } from 'node:fs'
import { CliError, EXIT } from './exit.js'

export function readSeedFile(path: string | undefined, warn: (s: string) => void = () => {}): Buffer {
  if (!path) throw new CliError('--seed-file is required (create one with: stt keygen --out group.key)', EXIT.USAGE)
  let raw: Buffer
  try {
    raw = readFileSync(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : String(code)
    throw new CliError(`cannot read seed file ${path}: ${why} (create one with: stt keygen --out ${path})`, EXIT.CONFIG)
  }
  const text = raw.toString('utf8').trim()
  let seed: Buffer
  if (/^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0) seed = Buffer.from(text, 'hex')
  else if (raw.length >= 32 && !/^[\x20-\x7e\s]*$/.test(raw.toString('latin1'))) seed = raw
  else throw new CliError(`seed file ${path} does not hold a hex seed (expected 64 hex characters, as written by stt keygen)`, EXIT.CONFIG)
  if (seed.length < 32) throw new CliError(`seed in ${path} is ${seed.length} bytes; at least 32 are needed (stt keygen makes one)`, EXIT.CONFIG)
  try {
    if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0) warn(`warning: seed file ${path} is readable by other users (chmod 600 ${path})`)
  } catch {
    // stat failing after a successful read: ignore
  }
  return seed
}
