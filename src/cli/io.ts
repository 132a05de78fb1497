/** Where a command writes: stdout for results, stderr for progress and diagnostics. */
export interface Io {
  out(line: string): void
  err(line: string): void
  verbose: boolean
}

export function makeIo(verbose: boolean, quiet = false): Io {
  return {
    out: (l) => void process.stdout.write(l.endsWith('\n') ? l : l + '\n'),
    err: (l) => {
      if (!quiet) process.stderr.write(l.endsWith('\n') ? l : l + '\n')
    },
    verbose,
  }
}
