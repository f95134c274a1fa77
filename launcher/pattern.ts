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
export function patternRecord(
  pattern: Pattern,
): { kind: Pattern["kind"]; interval_ms?: number; parallelism?: number } {
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
    if (
      j === self || s === null || s > t || (s === t && self >= 0 && j > self)
    ) continue;
    const e = ends[j];
    if (e === null || e > t) n++;
  }
  return n;
}

function upperBound(sorted: Float64Array, t: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A fast `t → instances booting at t` for many moments at once: the same
 * count as `concurrencyAt(t, starts, ends, -1)` in O(log N) per moment,
 * #{start ≤ t} − #{end ≤ t} (an end never precedes its start).
 *
 * @example
 * ```ts
 * import { bootingCounter } from "./pattern.ts";
 * const at = bootingCounter([0, 1, 5], [4, null, null]);
 * console.log(at(0), at(4), at(5)); // 1 1 2
 * ```
 */
export function bootingCounter(
  starts: readonly (number | null)[],
  ends: readonly (number | null)[],
): (t: number) => number {
  const s = Float64Array.from(starts.filter((x): x is number => x !== null))
    .sort();
  const e = Float64Array.from(
    ends.filter((x, i): x is number => x !== null && starts[i] !== null),
  ).sort();
  return (t) => upperBound(s, t) - upperBound(e, t);
}
