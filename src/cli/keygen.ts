/** stt keygen: a new random shared seed, as hex (file mode 0600) and as a terminal QR code. */
import { open, chmod } from 'node:fs/promises'
import qrcode from 'qrcode-terminal'
import { generateSeed } from '../index.js'
import { parse, str } from './args.js'
import { CliError, EXIT } from './exit.js'
import type { Io } from './io.js'

export const HELP = `usage: stt keygen [--out FILE] [--force] [--no-qr]

Makes a new random 32-byte shared seed (the group secret: only nodes holding the same seed can
talk to each other). Prints it as hex and as a terminal QR code, to pair a second device.

  --out FILE   also write the hex seed to FILE with mode 0600 (refuses to overwrite)
  --force      overwrite FILE if it exists
  --no-qr      print the hex only
  -q, --quiet  print nothing but the hex seed

The seed is a secret: anyone who has it can join the group. Don't paste it into chats or logs.

Exit codes: 0 written/printed, 2 usage, 7 FILE exists (without --force) or cannot be written.`

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, { out: { type: 'string', short: 'o' }, force: { type: 'boolean', short: 'f' }, 'no-qr': { type: 'boolean' } })
  if (values.help) return io.out(HELP), EXIT.OK
  const hex = generateSeed().toString('hex')
  const out = str(values.out)
  if (out) {
    let fh
    try {
      fh = await open(out, values.force ? 'w' : 'wx', 0o600)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST') throw new CliError(`${out} already exists; not overwriting it (use --force to replace it, which orphans every device paired with the old seed)`, EXIT.FILE)
      throw new CliError(`cannot create ${out}: ${code}`, EXIT.FILE)
    }
    try {
      await fh.writeFile(`${hex}\n`)
    } finally {
      await fh.close()
    }
    await chmod(out, 0o600) // --force on an existing file: open() kept its old mode
  }
  if (values.quiet) return io.out(hex), EXIT.OK
  if (!values['no-qr']) {
    qrcode.setErrorLevel('M')
    qrcode.generate(hex, { small: true }, (qr) => io.out(qr))
  }
  io.out(`seed: ${hex}`)
  if (out) io.out(`written to ${out} (mode 0600). Copy it to the other device (scan the QR code, or: stt ... --seed-file ${out}).`)
  return EXIT.OK
}
