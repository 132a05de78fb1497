/**
 * Test-only doors into STTNode. Nothing in src/ outside node.ts imports this module and the
 * package entry point (src/index.ts) does not export it, so production code cannot reach it by
 * accident: a test has to import this file by path on purpose.
 *
 *   new STTNode({ sharedSeed, [TEST_RANDOM]: seededRandom('x') })
 *
 * TEST_RANDOM replaces crypto.randomBytes for that node (session ids, ephemeral keys, nonces,
 * cookie keys): deterministic, and therefore only ever for tests.
 */
export const TEST_RANDOM: unique symbol = Symbol('stt.test.random')

/** `options` with TEST_RANDOM set (the option types have no index signature for it). */
export function withTestRandom<T extends object>(options: T, random: (n: number) => Uint8Array): T {
  return Object.assign({}, options, { [TEST_RANDOM]: random })
}
