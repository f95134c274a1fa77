/**
 * A small seeded pseudo-random number generator, so that every resampling
 * result (bootstrap intervals, permutation p-values) is reproducible.
 *
 * @module
 */

/** A function returning uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * mulberry32: a 32-bit-state generator (Tommy Ettinger), good enough for
 * resampling and trivially re-implemented elsewhere (tests replay it in
 * Python to check the bootstrap and the permutation test).
 *
 * @example
 * ```ts
 * const rand = mulberry32(42);
 * rand(); // 0.6011037519201636
 * ```
 */
export function mulberry32(seed: number): Random {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A uniform integer in [0, n) drawn from `rand`: `Math.floor(rand() * n)`.
 *
 * @example
 * ```ts
 * randomIndex(mulberry32(1), 10); // an integer 0..9
 * ```
 */
export function randomIndex(rand: Random, n: number): number {
  return Math.floor(rand() * n);
}
