/**
 * Grouped order statistics on typed arrays: the engine under the typed-array
 * fast paths of the bins and the summaries, which concurrencyBins() and
 * summarize() take from 100,000 rows because arquero's `groupby` + `rollup`
 * misses the 10 M-row goal by far (bench/results/analysis-arquero-2026-12-01.md:
 * 12–21 s for the bins and 44–67 s for the summary against 3 s for the whole
 * analysis). When each group's rows are one contiguous stretch (stacked
 * runs), each stretch is summarised in place; otherwise the values of each
 * group are first gathered contiguously (counting sort by group). Quantiles
 * are found by selection (quantile.ts), so the cost is O(rows) rather than a
 * sort.
 *
 * @module
 */

import { quantilesInPlace, quantilesOfSlice } from "./quantile.ts";

/** Statistics of one group. */
export interface GroupStats {
  /** Values counted (selected and finite). */
  n: number;
  min: number;
  max: number;
  mean: number;
  /** Type-7 quantiles, one per requested probability. */
  q: number[];
}

/** Group membership: a code per row (negative = no group) and how many groups. */
export interface Groups {
  codes: Int32Array;
  count: number;
}

/** Options of {@link groupStats}. */
export interface GroupStatsOptions {
  /** Probabilities of the quantiles to compute (default [0.5]). */
  ps?: readonly number[];
  /** Count only rows whose entry is non-zero. */
  select?: Uint8Array;
  /** Whether each group's rows may be contiguous: false skips the check (default: check). */
  contiguous?: boolean;
}

const EMPTY = (ps: readonly number[]): GroupStats => ({
  n: 0,
  min: NaN,
  max: NaN,
  mean: NaN,
  q: ps.map(() => NaN),
});

/**
 * Statistics of `values` per group: rows with code g (0 ≤ g < count;
 * negative = skip), `select[i] ≠ 0` (when given) and a non-NaN value. Empty
 * groups get n = 0 and NaN statistics.
 *
 * @example
 * ```ts
 * groupStats(new Float64Array([1, 3, 5]), { codes: new Int32Array([0, 0, 1]), count: 2 });
 * // [{ n: 2, min: 1, max: 3, mean: 2, q: [2] }, { n: 1, …, q: [5] }]
 * ```
 */
export function groupStats(
  values: Float64Array,
  groups: Groups,
  options: GroupStatsOptions = {},
): GroupStats[] {
  const { ps = [0.5], select, contiguous } = options;
  const { codes, count } = groups;
  const n = codes.length;
  if (contiguous !== false) {
    const first = new Int32Array(count).fill(-1);
    const end = new Int32Array(count);
    let segmented = true;
    let prev = -2;
    for (let i = 0; i < n; i++) {
      const g = codes[i];
      if (g !== prev) {
        if (g < 0 || first[g] >= 0) {
          segmented = false;
          break;
        }
        first[g] = i;
        prev = g;
      }
      end[g] = i + 1;
    }
    if (segmented) {
      return Array.from(
        { length: count },
        (_, g) =>
          first[g] < 0 ? EMPTY(ps) : quantilesOfSlice(values, ps, {
            start: first[g],
            end: end[g],
            keep: select,
          }),
      );
    }
  }
  const counts = new Int32Array(count + 1);
  for (let i = 0; i < n; i++) {
    const g = codes[i];
    const v = values[i];
    if (g >= 0 && (!select || select[i]) && v === v) counts[g + 1]++;
  }
  for (let g = 0; g < count; g++) counts[g + 1] += counts[g];
  const pos = counts.slice(0, count);
  const packed = scratch(counts[count]);
  const min = new Float64Array(count).fill(Infinity);
  const max = new Float64Array(count).fill(-Infinity);
  const sum = new Float64Array(count);
  for (let i = 0; i < n; i++) {
    const g = codes[i];
    const v = values[i];
    if (g >= 0 && (!select || select[i]) && v === v) {
      packed[pos[g]++] = v;
      if (v < min[g]) min[g] = v;
      if (v > max[g]) max[g] = v;
      sum[g] += v;
    }
  }
  const out: GroupStats[] = [];
  for (let g = 0; g < count; g++) {
    const m = counts[g + 1] - counts[g];
    if (m === 0) {
      out.push(EMPTY(ps));
      continue;
    }
    const part = packed.subarray(counts[g], counts[g + 1]);
    const q = quantilesInPlace(part, ps, {
      range: { min: min[g], max: max[g] },
    });
    out.push({ n: m, min: min[g], max: max[g], mean: sum[g] / m, q });
  }
  return out;
}

/**
 * A work buffer of at least `n` float64s, reused across calls (grow-only):
 * re-touching mapped pages is much cheaper than faulting in fresh ones for
 * every 10 M-row call. Its contents are garbage; callers overwrite them and
 * do not keep it past the call.
 */
let work = new Float64Array(0);
function scratch(n: number): Float64Array {
  if (work.length < n) work = new Float64Array(n);
  return work.subarray(0, n);
}

/** NaN → null, for table output. */
export function orNull(x: number): number | null {
  return x === x ? x : null;
}
