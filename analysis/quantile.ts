/**
 * Quantiles by one definition everywhere: linear interpolation between order
 * statistics, Hyndman & Fan type 7 (R's default `quantile(type = 7)`, numpy's
 * default `np.quantile(method="linear")`): for n sorted values x₀ ≤ … ≤ xₙ₋₁
 * and probability p, h = (n − 1)·p and Q(p) = x⌊h⌋ + (h − ⌊h⌋)·(x⌈h⌉ − x⌊h⌋).
 *
 * simple-statistics 7.12 computes exactly this (`quantileSorted`, and
 * `quantile`, which finds the needed order statistics by Floyd–Rivest
 * selection instead of a sort), and so does arquero's `op.quantile` (it
 * sorts each group's values); the functions here are thin calls into
 * simple-statistics with NaN instead of a throw for empty inputs, plus a
 * one-pass gathering of the selected values of a typed-array slice for the
 * grouped fast path (grouped.ts).
 *
 * @module
 */

import * as ss from "simple-statistics";

/** A typed array or array as the number[] simple-statistics' types ask for (it only reads them). */
function asArray(values: ArrayLike<number>): number[] {
  return values as unknown as number[];
}

/**
 * Type-7 quantile of values already sorted ascending (simple-statistics
 * `quantileSorted`). NaN for an empty input.
 *
 * @example
 * ```ts
 * import { quantileSorted } from "./quantile.ts";
 * console.log(quantileSorted([1, 2, 3, 4], 0.25)); // 1.75
 * ```
 */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  return sorted.length ? ss.quantileSorted(asArray(sorted), p) : NaN;
}

/**
 * Type-7 quantiles of `values` for each probability in `ps`, without a full
 * sort (simple-statistics `quantile`: selection on a copy). `values` must not
 * hold NaN; it is left as it is (the name stays from when it was reordered
 * in place). Returns NaN for each p when `values` is empty. `options.range`
 * is accepted for compatibility and not needed.
 *
 * @example
 * ```ts
 * import { quantilesInPlace } from "./quantile.ts";
 * console.log(quantilesInPlace(new Float64Array([4, 1, 3, 2]), [0, 0.5, 1])); // [1, 2.5, 4]
 * ```
 */
export function quantilesInPlace(
  values: Float64Array,
  ps: readonly number[],
  _options: { range?: { min: number; max: number } } = {},
): number[] {
  if (values.length === 0) return ps.map(() => NaN);
  return ss.quantile(asArray(values), [...ps]);
}

/** Statistics of a slice, from {@link quantilesOfSlice}. */
export interface SliceStats {
  /** Values counted. */
  n: number;
  min: number;
  max: number;
  mean: number;
  /** Type-7 quantiles, one per requested probability. */
  q: number[];
}

/**
 * Count, min, max, mean and type-7 quantiles of the non-NaN values of
 * v[start, end) (default: all of v) whose `keep[i]` is non-zero (all when
 * `keep` is omitted), without modifying `v`: one pass gathers the selected
 * values (and their count, range and sum), then simple-statistics `quantile`
 * selects the order statistics. The mean is the plain sum in row order over
 * n.
 *
 * @example
 * ```ts
 * import { quantilesOfSlice } from "./quantile.ts";
 * console.log(quantilesOfSlice(new Float64Array([9, 1, NaN, 3]), [0.5]).q); // [3]
 * ```
 */
export function quantilesOfSlice(
  v: Float64Array,
  ps: readonly number[],
  options: { start?: number; end?: number; keep?: Uint8Array } = {},
): SliceStats {
  const { start = 0, end = v.length, keep } = options;
  const packed = new Float64Array(Math.max(0, end - start));
  let n = 0;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = start; i < end; i++) {
    const x = v[i];
    if (x === x && (keep === undefined || keep[i] !== 0)) {
      packed[n++] = x;
      sum += x;
      if (x < min) min = x;
      if (x > max) max = x;
    }
  }
  if (n === 0) {
    return { n, min: NaN, max: NaN, mean: NaN, q: ps.map(() => NaN) };
  }
  const q = quantilesInPlace(packed.subarray(0, n), ps);
  return { n, min, max, mean: sum / n, q };
}

/**
 * Median (type 7, i.e. the usual mean of the two middle values for even n)
 * of numbers, ignoring null and NaN (simple-statistics `median` of the
 * rest); NaN when none are left.
 *
 * @example
 * ```ts
 * import { median } from "./quantile.ts";
 * console.log(median([3, 1, null, 2, 10])); // 2.5
 * ```
 */
export function median(values: ArrayLike<number | null>): number {
  const finite = finiteCopy(values);
  return finite.length ? ss.median(asArray(finite)) : NaN;
}

/**
 * Copy the finite numbers of `values` (dropping null, undefined and NaN)
 * into a new Float64Array.
 *
 * @example
 * ```ts
 * import { finiteCopy } from "./quantile.ts";
 * console.log(finiteCopy([1, null, NaN, 2])); // Float64Array(2) [ 1, 2 ]
 * ```
 */
export function finiteCopy(values: ArrayLike<number | null>): Float64Array {
  const out = new Float64Array(values.length);
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== null && v !== undefined && v === v) out[m++] = v;
  }
  return m === out.length ? out : out.slice(0, m);
}
