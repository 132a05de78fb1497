/**
 * Wire constants of STT protocol version 1 (docs/PROTOCOL.md). Spec values only: tunables
 * (timeouts, limits) live in src/config.ts. The numbers come from scripts/wire-constants.json
 * (generated into wire-constants.ts, and into native/wire_constants.h for the addon).
 */
export * from './wire-constants.js'

/** Versions this implementation speaks, in preference order. */
export const SUPPORTED_VERSIONS: readonly number[] = [1]
