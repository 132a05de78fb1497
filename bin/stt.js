#!/usr/bin/env node
// The `stt` command. The implementation is TypeScript in src/cli/, built to dist/cli/ by
// `npm run build` (run automatically by `npm install` through the `prepare` script).
let main
try {
  ;({ main } = await import('../dist/cli/main.js'))
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('stt: the CLI is not built yet: run `npm run build` in the stt-node package\n')
    process.exit(1)
  }
  throw err
}
const code = await main(process.argv.slice(2))
// Flush stdout/stderr (pipes are asynchronous), then exit even if a handle lingers.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
