/** Helpers shared by the commands that run a node. */
import { readSeedFile } from './seed.js'
import { str, type Parsed } from './args.js'
import type { Io } from './io.js'

export function seedFromArgs(values: Parsed['values'], io: Io): Buffer {
  return readSeedFile(str(values['seed-file']), (w) => io.err(w))
}
