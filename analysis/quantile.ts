/**
 * Quantiles by one definition everywhere: linear interpolation between order
 * statistics, Hyndman & Fan type 7 (R's default `quantile(type = 7)`, numpy's
 * default `np.quantile(method="linear")`): for n sorted values x₀ ≤ … ≤ xₙ₋₁
 * and probability p, h = (n − 1)·p and Q(p) = x⌊h⌋ + (h − ⌊h⌋)·(x⌈h⌉ − x⌊h⌋).
 *
 * simple-statistics 7.12 computes exactly this (`quantileSorted`; `quantile`
 * selects instead of sorting), and so does arquero's `op.quantile` (it sorts
 * each group's values). {@link quantileSorted} and {@link median} are thin
 * calls into simple-statistics.
 *
 * {@link quantilesInPlace} and {@link quantilesOfSlice} stay hand-written:
 * they are the kernel of the typed-array fast path of the bins and the
 * summaries (grouped.ts), and the committed benchmark
 * (bench/results/analysis-arquero-2026-12-01.md, "quantile kernels") measured
 * simple-statistics' `quantile` on the same 10 M values at 2.2–4.4× their
 * CPU time in the bins' shape (400 groups, 5 probabilities: 192–235 ms
 * against 44–89 ms) and about even in the summary's (10 groups of 1 M);
 * with it inside the fast path the bins took 0.9 CPU s instead of 0.6–0.8.
 * Large inputs are not sorted: the needed
 * order statistics are found by a bucket selection (three linear passes:
 * range, bucket counts, gathering the few buckets that hold the wanted
 * ranks, then recursion into them) and, below 4,096 values, an in-place
 * multi-quickselect.
 *
 * @module
 */

import * as ss from "simple-statistics";

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
  return sorted.length
    ? ss.quantileSorted(sorted as unknown as number[], p)
    : NaN;
}

/**
 * Type-7 quantiles of `values` for each probability in `ps`, without a full
 * sort. `values` is reordered in place (pass a copy if that matters) and
 * must not hold NaN. Returns NaN for each p when `values` is empty. Pass
 * `options.range` when the smallest and largest values are already known
 * (saves a pass over large inputs).
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
  options: { range?: { min: number; max: number } } = {},
): number[] {
  const range = options.range;
  const n = values.length;
  if (n === 0) return ps.map(() => NaN);
  const wanted = new Set<number>();
  for (const p of ps) {
    const h = (n - 1) * p;
    wanted.add(Math.floor(h));
    wanted.add(Math.ceil(h));
  }
  const ks = [...wanted].sort((a, b) => a - b);
  const at = new Map<number, number>();
  selectRanks(values, ks, range).forEach((v, i) => at.set(ks[i], v));
  return ps.map((p) => {
    const h = (n - 1) * p;
    const lo = Math.floor(h);
    const hi = Math.ceil(h);
    const a = at.get(lo)!;
    return lo === hi ? a : a + (h - lo) * (at.get(hi)! - a);
  });
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
 * `keep` is omitted),
 * without copying the slice or modifying `v`: a range pass, a bucket count
 * pass and a gathering pass over the slice, then selection within the few
 * buckets that hold the wanted ranks.
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
  const { start = 0, end = v.length } = options;
  // a keep mask of all ones keeps the hot loops monomorphic
  const keep = options.keep ?? ones(end);
  const r = rangePass(v, start, end, keep);
  const n = r.n;
  const { min, max } = r;
  if (n === 0) {
    return { n, min: NaN, max: NaN, mean: NaN, q: ps.map(() => NaN) };
  }
  const rankOf = (p: number) => (n - 1) * p;
  const wanted = new Set<number>();
  for (const p of ps) {
    wanted.add(Math.floor(rankOf(p)));
    wanted.add(Math.ceil(rankOf(p)));
  }
  const ks = [...wanted].sort((a, b) => a - b);
  let values: number[];
  if (n <= BUCKET_THRESHOLD || !(max > min)) {
    const copy = new Float64Array(n);
    let m = 0;
    for (let i = start; i < end; i++) {
      const x = v[i];
      if (x === x && keep[i] !== 0) copy[m++] = x;
    }
    values = selectRanks(copy, ks, { min, max });
  } else {
    const B = Math.min(65536, n >> 3);
    const scale = B / (max - min);
    const counts = bucketCounts(v, start, end, keep, min, scale, B);
    const plan = bucketPlan(counts, ks);
    const parts = plan.buckets.map((bk) => new Float64Array(counts[bk]));
    gatherBuckets(v, start, end, keep, min, scale, B, plan.slotOf, parts);
    const results = parts.map((part, s) => selectRanks(part, plan.local[s]));
    values = plan.where.map(([s, j]) => results[s][j]);
  }
  const at = new Map<number, number>();
  values.forEach((x, i) => at.set(ks[i], x));
  const q = ps.map((p) => {
    const h = rankOf(p);
    const lo = Math.floor(h);
    const hi = Math.ceil(h);
    const a = at.get(lo)!;
    return lo === hi ? a : a + (h - lo) * (at.get(hi)! - a);
  });
  return { n, min, max, mean: r.sum / n, q };
}

let allOnes = new Uint8Array(0);
function ones(n: number): Uint8Array {
  if (allOnes.length < n) allOnes = new Uint8Array(n).fill(1);
  return allOnes;
}

function rangePass(
  v: Float64Array,
  start: number,
  end: number,
  keep: Uint8Array,
) {
  let n = 0;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = start; i < end; i++) {
    const x = v[i];
    if (x === x && keep[i] !== 0) {
      n++;
      sum += x;
      if (x < min) min = x;
      if (x > max) max = x;
    }
  }
  return { n, min, max, sum };
}

function bucketCounts(
  v: Float64Array,
  start: number,
  end: number,
  keep: Uint8Array,
  min: number,
  scale: number,
  B: number,
): Int32Array {
  const last = B - 1;
  const counts = new Int32Array(B);
  for (let i = start; i < end; i++) {
    const x = v[i];
    if (x === x && keep[i] !== 0) {
      const b = ((x - min) * scale) | 0;
      counts[b > last ? last : b]++;
    }
  }
  return counts;
}

function gatherBuckets(
  v: Float64Array,
  start: number,
  end: number,
  keep: Uint8Array,
  min: number,
  scale: number,
  B: number,
  slotOf: Int32Array,
  parts: Float64Array[],
): void {
  const last = B - 1;
  const fill = new Int32Array(parts.length);
  for (let i = start; i < end; i++) {
    const x = v[i];
    if (x === x && keep[i] !== 0) {
      let bk = ((x - min) * scale) | 0;
      if (bk > last) bk = last;
      const s = slotOf[bk];
      if (s >= 0) parts[s][fill[s]++] = x;
    }
  }
}

/** For sorted ranks `ks` and bucket `counts`: which buckets hold them, and each rank's place inside its bucket. */
function bucketPlan(counts: Int32Array, ks: readonly number[]) {
  const slotOf = new Int32Array(counts.length).fill(-1);
  const buckets: number[] = [];
  const local: number[][] = [];
  const where: [number, number][] = [];
  let b = 0;
  let start = 0;
  for (const k of ks) {
    while (start + counts[b] <= k) start += counts[b++];
    if (slotOf[b] < 0) {
      slotOf[b] = buckets.length;
      buckets.push(b);
      local.push([]);
    }
    const s = slotOf[b];
    where.push([s, local[s].length]);
    local[s].push(k - start);
  }
  return { slotOf, buckets, local, where };
}

const BUCKET_THRESHOLD = 4096;

/**
 * The values of ranks `ks` (0-based, sorted ascending, distinct) of `v` as
 * if it were sorted. Small inputs: in-place multi-quickselect. Large ones:
 * bucket by value over [min, max] (the bucket index is a monotone function
 * of the value, so bucket order is value order), find the bucket of each
 * rank from the counts, and recurse into just those buckets.
 */
function selectRanks(
  v: Float64Array,
  ks: readonly number[],
  range?: { min: number; max: number },
): number[] {
  const n = v.length;
  if (n <= BUCKET_THRESHOLD) {
    multiSelect(v, 0, n - 1, ks as number[], 0, ks.length);
    return ks.map((k) => v[k]);
  }
  let min = Infinity;
  let max = -Infinity;
  if (range) {
    min = range.min;
    max = range.max;
  } else {
    for (let i = 0; i < n; i++) {
      const x = v[i];
      if (x < min) min = x;
      if (x > max) max = x;
    }
  }
  if (!(max > min)) return ks.map(() => min);
  const B = Math.min(65536, n >> 3);
  const scale = B / (max - min);
  const last = B - 1;
  const counts = new Int32Array(B);
  for (let i = 0; i < n; i++) {
    const b = ((v[i] - min) * scale) | 0;
    counts[b > last ? last : b]++;
  }
  const { slotOf, buckets, local, where } = bucketPlan(counts, ks);
  const parts = buckets.map((bk) => new Float64Array(counts[bk]));
  const fill = new Int32Array(parts.length);
  for (let i = 0; i < n; i++) {
    const x = v[i];
    let bk = ((x - min) * scale) | 0;
    if (bk > last) bk = last;
    const s = slotOf[bk];
    if (s >= 0) parts[s][fill[s]++] = x;
  }
  const results = parts.map((part, s) => selectRanks(part, local[s]));
  return where.map(([s, j]) => results[s][j]);
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
  return finite.length ? ss.median(finite as unknown as number[]) : NaN;
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

const SMALL = 24;

/**
 * Reorder a[left..right] so that a[k] holds the k-th smallest value for every
 * k in ks[kl..kr) (ks sorted ascending). Hoare partition around a
 * median-of-three pivot; small ranges are finished by insertion sort.
 */
function multiSelect(
  a: Float64Array,
  left: number,
  right: number,
  ks: number[],
  kl: number,
  kr: number,
): void {
  while (kl < kr && right - left > SMALL) {
    const mid = (left + right) >>> 1;
    const x = a[left];
    const y = a[mid];
    const z = a[right];
    const pivot = x < y
      ? (y < z ? y : x < z ? z : x)
      : (x < z ? x : y < z ? z : y);
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    // a[left..j] <= pivot, a[i..right] >= pivot, anything between equals it.
    let m = kl;
    while (m < kr && ks[m] <= j) m++;
    let m2 = m;
    while (m2 < kr && ks[m2] < i) m2++;
    if (j - left < right - i) {
      multiSelect(a, left, j, ks, kl, m);
      left = i;
      kl = m2;
    } else {
      multiSelect(a, i, right, ks, m2, kr);
      right = j;
      kr = m;
    }
  }
  if (kl < kr) insertionSort(a, left, right);
}

function insertionSort(a: Float64Array, left: number, right: number): void {
  for (let i = left + 1; i <= right; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= left && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}
