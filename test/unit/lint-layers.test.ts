/**
 * The layering rules of eslint.config.js fire: each forbidden import, linted as a file of the
 * layer it would break, is an error; the imports each layer is allowed stay clean. The whole
 * code base is linted by `npm run lint` (part of `npm test` and CI); this proves that a
 * violation would fail it rather than pass silently.
 */
import { ESLint } from 'eslint'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const eslint = new ESLint({ cwd: root })

async function restricted(filePath: string, code: string): Promise<string[]> {
  const [res] = await eslint.lintText(code, { filePath: `${root}${filePath}` })
  return res!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message)
}

describe('layering (eslint no-restricted-imports)', () => {
  const cases: Array<[string, string, string, RegExp]> = [
    ['protocol imports transport', 'src/protocol/lint-fixture.ts', "import type { Transport } from '../transport/types.js'", /src\/protocol must not import src\/transport/],
    ['protocol (nested) imports transport', 'src/protocol/congestion/lint-fixture.ts', "import { createUdp } from '../../transport/factory.js'", /src\/protocol must not import src\/transport/],
    ['protocol imports the node', 'src/protocol/lint-fixture.ts', "import { STTNode } from '../node.js'", /driver or the public API/],
    ['protocol imports the public session', 'src/protocol/lint-fixture.ts', "import { STTSession } from '../session.js'", /driver or the public API/],
    ['protocol imports the public stream', 'src/protocol/lint-fixture.ts', "import { STTStream } from '../stream.js'", /driver or the public API/],
    ['protocol imports the cli', 'src/protocol/lint-fixture.ts', "import { main } from '../cli/main.js'", /only bin\/ imports the CLI/],
    ['protocol opens a socket', 'src/protocol/lint-fixture.ts', "import dgram from 'node:dgram'", /sans-I\/O/],
    ['protocol arms a timer', 'src/protocol/lint-fixture.ts', "import { setTimeout } from 'node:timers'", /sans-I\/O/],
    ['transport imports protocol', 'src/transport/lint-fixture.ts', "import { Endpoint } from '../protocol/endpoint.js'", /src\/transport must not import src\/protocol/],
    ['crypto imports transport', 'src/crypto/lint-fixture.ts', "import type { TxBatch } from '../transport/types.js'", /src\/crypto must not import src\/transport/],
    ['the node imports the cli', 'src/lint-fixture.ts', "import { main } from './cli/main.js'", /only bin\/ imports the CLI/],
    ['a benchmark imports the cli', 'bench/lint-fixture.mjs', "import { main } from '../dist/cli/main.js'", /only bin\/ imports the CLI/],
  ]
  for (const [name, file, code, want] of cases) {
    it(`fails when ${name}`, async () => {
      const msgs = await restricted(file, `${code}\nexport const x = 1\n`)
      expect(msgs.length).toBe(1)
      expect(msgs[0]).toMatch(want)
    })
  }

  const allowed: Array<[string, string, string]> = [
    ['protocol imports its own session and crypto', 'src/protocol/lint-fixture.ts', "import { Session } from './session.js'\nimport { hkdf } from '../crypto/primitives.js'"],
    ['transport imports errors and node:net', 'src/transport/lint-fixture.ts', "import { STTError } from '../errors.js'\nimport { isIP } from 'node:net'"],
    ['the node imports protocol and transport', 'src/lint-fixture.ts', "import { Endpoint } from './protocol/endpoint.js'\nimport { createUdp } from './transport/factory.js'"],
    ['the cli imports itself', 'src/cli/lint-fixture.ts', "import { main } from './main.js'"],
  ]
  for (const [name, file, code] of allowed) {
    it(`allows: ${name}`, async () => {
      expect(await restricted(file, `${code}\n`)).toEqual([])
    })
  }
})
