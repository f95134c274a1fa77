/**
 * Launch patterns: when each instance's T_s is due.
 *
 * @module
 */

/** How instances are started. */
export type Pattern =
  | { kind: "interval"; intervalMs: number }
  | { kind: "back-to-back" }
  | { kind: "parallel"; parallelism: number };

/**
 * The scheduled T_s of instance `i` (ms after T_0), or null when the pattern
 * has no schedule (back-to-back, parallel).
 *
 * @example
 * ```ts
 * import { scheduledMs } from "./pattern.ts";
 * console.log(scheduledMs({ kind: "interval", intervalMs: 5 }, 3)); // 15
 * ```
 */
export function scheduledMs(pattern: Pattern, i: number): number | null {
  return pattern.kind === "interval" ? i * pattern.intervalMs : null;
}

/** The pattern as recorded in `run.json`. */
export function patternRecord(pattern: Pattern): Record<string, unknown> {
  switch (pattern.kind) {
    case "interval":
      return { kind: "interval", interval_ms: pattern.intervalMs };
    case "back-to-back":
      return { kind: "back-to-back", interval_ms: 0 };
    case "parallel":
      return { kind: "parallel", parallelism: pattern.parallelism };
  }
}

/** A short label: `every 5 ms`, `back-to-back`, `parallel 4`. */
export function patternLabel(pattern: Pattern): string {
  switch (pattern.kind) {
    case "interval":
      return `every ${pattern.intervalMs} ms`;
    case "back-to-back":
      return "back-to-back";
    case "parallel":
      return `parallel ${pattern.parallelism}`;
  }
}

/**
 * Instances already booting at `t` among `[start, end)` intervals, where a
 * null end means "still booting". `self` is excluded.
 *
 * @example
 * ```ts
 * import { concurrencyAt } from "./pattern.ts";
 * console.log(concurrencyAt(5, [0, 1, 5], [4, null, null], 2)); // 1
 * ```
 */
export function concurrencyAt(
  t: number,
  starts: readonly (number | null)[],
  ends: readonly (number | null)[],
  self: number,
): number {
  let n = 0;
  for (let j = 0; j < starts.length; j++) {
    const s = starts[j];
    if (j === self || s === null || s > t || (s === t && j > self)) continue;
    const e = ends[j];
    if (e === null || e > t) n++;
  }
  return n;
}
