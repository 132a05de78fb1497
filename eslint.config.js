// ESLint flat config (typescript-eslint). Its main job is the layering of
// docs/ARCHITECTURE.md, enforced rather than hoped: a module that imports across a forbidden
// line fails `npm run lint`, and so `npm test` and CI. test/unit/lint-layers.test.ts lints
// fixture files that break each rule and expects the error.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

// Patterns match the import specifier as written. The code base uses relative specifiers, so
// `(^|/)transport/` catches '../transport/x.js' and '../../transport/x.js' from any depth.
const cli = { regex: '(^|/)cli/', message: 'only bin/ imports the CLI (src/cli); the library must not depend on it.' }
const driver = (layer) => ({
  regex: '^(\\.\\./)+(node|session|stream|auto-connect|driver|router)(\\.js)?$',
  message: `${layer} must not import the driver or the public API (node, session, stream).`,
})
const sansIo = ['node:dgram', 'node:net', 'node:tls', 'node:http', 'node:https', 'node:timers', 'node:perf_hooks', 'ws'].map((name) => ({
  name,
  message: 'src/protocol is sans-I/O: no sockets, servers or timers (time and randomness are arguments).',
}))

/** The layer rules, by directory. */
export const layers = [
  {
    name: 'stt/layers/protocol',
    files: ['src/protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: sansIo,
          patterns: [
            { regex: '(^|/)transport/', message: 'src/protocol must not import src/transport (addresses and batches are neutral types).' },
            { regex: '(^|/)native/', message: 'src/protocol must not import the addon loader (src/native).' },
            driver('src/protocol'),
            cli,
          ],
        },
      ],
    },
  },
  {
    name: 'stt/layers/transport',
    files: ['src/transport/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '(^|/)protocol/', message: 'src/transport must not import src/protocol: a transport never looks inside datagrams.' },
            driver('src/transport'),
            cli,
          ],
        },
      ],
    },
  },
  {
    name: 'stt/layers/crypto',
    files: ['src/crypto/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ regex: '(^|/)transport/', message: 'src/crypto must not import src/transport.' }, driver('src/crypto'), cli],
        },
      ],
    },
  },
  {
    // The rest of the library, benchmarks, scripts and tests: no CLI. bin/ is its one real
    // importer; the CLI's own unit tests (test/cli) exercise its modules directly.
    name: 'stt/layers/no-cli',
    files: ['src/**/*.ts', 'bench/**/*.{js,mjs,ts}', 'scripts/**/*.{js,mjs}', 'test/**/*.ts'],
    ignores: ['src/cli/**', 'src/protocol/**', 'src/transport/**', 'src/crypto/**', 'test/cli/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [cli] }] },
  },
]

const nodeGlobals = Object.fromEntries(
  'process console Buffer URL URLSearchParams setTimeout clearTimeout setInterval clearInterval setImmediate clearImmediate queueMicrotask performance globalThis structuredClone TextEncoder TextDecoder AbortController AbortSignal fetch'
    .split(' ')
    .map((g) => [g, 'readonly']),
)

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'docs/**', 'test/lint-fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 'latest', sourceType: 'module', globals: nodeGlobals },
    rules: {
      // `_name` marks an argument or binding that is deliberately unused (interface shapes).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Hot-path code keeps explicit `any`-free typing by review; these two would only add noise.
      '@typescript-eslint/no-explicit-any': 'off',
      'no-useless-assignment': 'off',
      // `let [a, b] = ...` where only `a` is reassigned later stays one statement.
      'prefer-const': ['error', { destructuring: 'all' }],
      // `catch {}` is the code base's idiom for best-effort cleanup (rm, netns del, close).
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  ...layers,
)
