/**
 * Number fields that will hold fractions start as doubles (issue 9).
 *
 * V8 stores a field that has only held small integers as one. The first fraction stored in it
 * changes the hidden class of every object of that class, and each optimized function that used
 * the old class is thrown away and compiled again. BBR's gains, probe timers and loss averages
 * first hold fractions when Startup ends, a few megabytes into a process's first transfer, when
 * packet assembly and ACK handling (which inline them) are already optimized: that cost a batch
 * of deoptimizations and recompiles in the sender's first 16 MiB, whose CPU per byte was ~3x the
 * next 16 MiB's, two thirds of it TurboFan compiling.
 *
 * `field = asDouble(x)` holds x, stored as a double from its first write, so the class never
 * changes. (x + -0 is x for every number, but a float addition: V8 returns a heap number, not a
 * small integer, from the unoptimized constructor that defines the field.)
 * test/unit/field-representation.test.ts checks the classes that need it.
 */
export function asDouble(x: number): number {
  return x + NEGATIVE_ZERO
}

const NEGATIVE_ZERO = -0
