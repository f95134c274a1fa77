/**
 * Small-sample statistics on plain number arrays: correlation, ranks, a
 * least-squares line, the MAD-based modified z-score, a seeded bootstrap
 * and a seeded permutation test. Every function is pure and deterministic.
 *
 * The formulas are simple-statistics' (`mean`, `sampleCorrelation`,
 * `sampleRankCorrelation`, `linearRegression`, `rSquared`, `median`,
 * `medianAbsoluteDeviation`, `quantileSorted`, all type 7 where a quantile
 * is involved); this module adds the guards (NaN instead of a throw for
 * too few or constant values) and the resampling loops, which need the
 * project's seeded mulberry32 draws in a fixed order (tests replay them in
 * Python). simple-statistics' own `permutationTest` tests means, not
 * medians, and its `shuffleInPlace` draws one number more per shuffle than
 * the Fisher–Yates loop documented here, so the loops stay hand-written.
 *
 * @module
 */

import * as ss from "simple-statistics";
import { mulberry32, randomIndex } from "../dataset/prng.ts";
import { finiteCopy, quantileSorted } from "./quantile.ts";

/**
 * Arithmetic mean (simple-statistics `mean`: compensated summation); NaN for
 * an empty input.
 *
 * @example
 * ```ts
 * import { mean } from "./stats.ts";
 * console.log(mean([1, 2, 6])); // 3
 * ```
 */
export function mean(values: ArrayLike<number>): number {
  return values.length ? ss.mean(asArray(values)) : NaN;
}

/** A plain-array view simple-statistics accepts (typed arrays work as they are). */
function asArray(values: ArrayLike<number>): number[] {
  return values as unknown as number[];
}

/** The first n values, as an array simple-statistics accepts. */
function head(values: ArrayLike<number>, n: number): number[] {
  return values.length === n
    ? asArray(values)
    : Array.prototype.slice.call(values, 0, n) as number[];
}

/** Whether every one of the values is equal (correlations are then undefined). */
function constant(values: readonly number[]): boolean {
  for (let i = 1; i < values.length; i++) {
    if (values[i] !== values[0]) return false;
  }
  return true;
}

/**
 * Pearson's product-moment correlation r of paired samples (the first
 * min(|x|, |y|) pairs): simple-statistics `sampleCorrelation` (two-pass, as
 * scipy.stats.pearsonr), clamped to [−1, 1]. NaN when n < 2 or either sample
 * is constant.
 *
 * @example
 * ```ts
 * import { pearson } from "./stats.ts";
 * console.log(pearson([1, 2, 3], [2, 4, 7])); // 0.9933992677987828
 * ```
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = Math.min(x.length, y.length);
  if (n < 2) return NaN;
  const a = head(x, n);
  const b = head(y, n);
  if (constant(a) || constant(b)) return NaN;
  const r = ss.sampleCorrelation(a, b);
  return Math.max(-1, Math.min(1, r));
}

/**
 * Ranks 1..n with ties given their average rank (scipy.stats.rankdata
 * "average"). Hand-written: simple-statistics ranks the same way inside
 * `sampleRankCorrelation` but does not export its ranks.
 *
 * @example
 * ```ts
 * import { ranks } from "./stats.ts";
 * console.log(ranks([10, 30, 20, 20])); // [1, 4, 2.5, 2.5]
 * ```
 */
export function ranks(values: ArrayLike<number>): number[] {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) =>
    values[a] - values[b]
  );
  const out = new Array<number>(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && values[order[j + 1]] === values[order[i]]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[order[k]] = r;
    i = j + 1;
  }
  return out;
}

/**
 * Spearman's rank correlation ρ: simple-statistics `sampleRankCorrelation`
 * (Pearson's r of the average ranks, as scipy.stats.spearmanr), clamped to
 * [−1, 1]. NaN when n < 2 or a sample is constant.
 *
 * @example
 * ```ts
 * import { spearman } from "./stats.ts";
 * console.log(spearman([1, 2, 3, 4], [1, 3, 2, 4])); // 0.7999999999999999 (0.8 but for rounding)
 * ```
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = Math.min(x.length, y.length);
  if (n < 2) return NaN;
  const a = head(x, n);
  const b = head(y, n);
  if (constant(a) || constant(b)) return NaN;
  const r = ss.sampleRankCorrelation(a, b);
  return Math.max(-1, Math.min(1, r));
}

/** Result of {@link linearFit}. */
export interface LinearFit {
  /** Change of y per unit of x. */
  slope: number;
  /** y at x = 0. */
  intercept: number;
  /** Coefficient of determination (r² of the fit). */
  r2: number;
  /** Number of pairs. */
  n: number;
}

/**
 * Ordinary least-squares line y = intercept + slope·x (numpy.polyfit deg 1):
 * simple-statistics `linearRegression`, and its r² from `rSquared` (1 when y
 * is constant). NaN slope, intercept and r² when n < 2 or x is constant.
 *
 * @example
 * ```ts
 * import { linearFit } from "./stats.ts";
 * console.log(linearFit([0, 1, 2], [1, 3, 5])); // { slope: 2, intercept: 1, r2: 1, n: 3 }
 * ```
 */
export function linearFit(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
): LinearFit {
  const n = Math.min(x.length, y.length);
  const xs = head(x, n);
  const ys = head(y, n);
  if (n < 2 || constant(xs)) return { slope: NaN, intercept: NaN, r2: NaN, n };
  const pairs = xs.map((xi, i) => [xi, ys[i]]);
  const { m, b } = ss.linearRegression(pairs);
  const r2 = constant(ys)
    ? 1
    : ss.rSquared(pairs, ss.linearRegressionLine({ m, b }));
  return { slope: m, intercept: b, r2, n };
}

/** Iglewicz–Hoaglin constant: Φ⁻¹(0.75), so MAD/0.6745 estimates σ. */
export const MAD_CONSTANT = 0.6745;

/** Default |modified z| above which a value is an outlier (Iglewicz–Hoaglin). */
export const OUTLIER_Z = 3.5;

/** √(π/2): the mean absolute deviation times this estimates σ (normal data). */
export const MEAN_AD_CONSTANT = 1.253314;

/**
 * Modified z-scores M = 0.6745·(x − median)/MAD (Iglewicz & Hoaglin 1993),
 * MAD = median |x − median| (simple-statistics `median` and
 * `medianAbsoluteDeviation`, type-7 medians). When MAD is 0 (over half the
 * values equal), the mean absolute deviation is used instead:
 * M = (x − median)/(1.253314·MeanAD); when that is 0 too, every score is 0.
 * Null/NaN inputs give NaN scores.
 *
 * @example
 * ```ts
 * import { modifiedZ } from "./stats.ts";
 * console.log(modifiedZ([1, 2, 3, 4, 100])); // [-1.349, -0.6745, 0, 0.6745, 65.4265]
 * ```
 */
export function modifiedZ(values: ArrayLike<number | null>): number[] {
  const finite = asArray(finiteCopy(values));
  const out = new Array<number>(values.length).fill(NaN);
  if (finite.length === 0) return out;
  const med = ss.median(finite);
  const mad = ss.medianAbsoluteDeviation(finite);
  const meanAd = ss.mean(finite.map((x) => Math.abs(x - med)));
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || v !== v) continue;
    if (mad > 0) out[i] = (MAD_CONSTANT * (v - med)) / mad;
    else if (meanAd > 0) out[i] = (v - med) / (MEAN_AD_CONSTANT * meanAd);
    else out[i] = 0;
  }
  return out;
}

/** Options of {@link bootstrapCi}. */
export interface BootstrapOptions {
  /** Number of resamples (default 2000). */
  resamples?: number;
  /** PRNG seed (default 1). */
  seed?: number;
  /** Confidence level (default 0.95). */
  level?: number;
}

/** A percentile bootstrap interval. */
export interface Interval {
  /** Lower bound (type-7 quantile (1 − level)/2 of the resampled statistic). */
  lo: number;
  /** Upper bound (type-7 quantile (1 + level)/2). */
  hi: number;
  /** Resamples whose statistic was defined (NaN ones, e.g. constant resamples, are dropped). */
  used: number;
}

/**
 * Percentile bootstrap interval of a paired statistic (`stat`, default
 * Pearson's r): `resamples` times,
 * draw n pair indices with replacement (index = ⌊u·n⌋, u from mulberry32(seed),
 * x-draws in order), compute `stat` on the resample; the interval is the
 * type-7 quantiles (simple-statistics `quantileSorted`) of the defined
 * results. NaN bounds when none is defined.
 *
 * @example
 * ```ts
 * import { bootstrapCi, spearman } from "./stats.ts";
 * const ci = bootstrapCi([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], { stat: spearman, seed: 7 });
 * console.log(ci.lo <= ci.hi); // true
 * ```
 */
export function bootstrapCi(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  options: BootstrapOptions & { stat?: (x: number[], y: number[]) => number } =
    {},
): Interval {
  const { resamples = 2000, seed = 1, level = 0.95, stat = pearson } = options;
  const n = Math.min(x.length, y.length);
  const rand = mulberry32(seed);
  const results: number[] = [];
  const bx = new Array<number>(n);
  const by = new Array<number>(n);
  for (let b = 0; b < resamples; b++) {
    for (let i = 0; i < n; i++) {
      const j = randomIndex(rand, n);
      bx[i] = x[j];
      by[i] = y[j];
    }
    const s = stat(bx, by);
    if (s === s) results.push(s);
  }
  results.sort((a, b) => a - b);
  const alpha = (1 - level) / 2;
  return {
    lo: quantileSorted(results, alpha),
    hi: quantileSorted(results, 1 - alpha),
    used: results.length,
  };
}

/** Options of {@link permutationTest}. */
export interface PermutationOptions {
  /** Number of random permutations (default 2000). */
  permutations?: number;
  /** PRNG seed (default 1). */
  seed?: number;
}

/** Result of {@link permutationTest}. */
export interface PermutationResult {
  /** Observed statistic stat(b) − stat(a). */
  diff: number;
  /** Two-sided p-value (1 + #{|d*| ≥ |d|}) / (1 + permutations). */
  p: number;
  /** Number of permutations drawn. */
  permutations: number;
}

/**
 * Two-sided permutation test of stat(b) − stat(a) (default stat: the
 * type-7 median, simple-statistics `median`). The pooled sample [...a, ...b] is shuffled in place `permutations` times
 * (Fisher–Yates from the last index down, j = ⌊u·(i+1)⌋, u from
 * mulberry32(seed)); the first |a| values form a*, the rest b*. A permuted
 * difference counts when |d*| ≥ |d| − 1e-9. p = (1 + count)/(1 + permutations)
 * (never 0; Phipson & Smyth 2010).
 *
 * @example
 * ```ts
 * import { permutationTest } from "./stats.ts";
 * const t = permutationTest([1, 2, 3], [7, 8, 9], { seed: 1 });
 * console.log(t.diff, t.p < 0.2); // 6 true
 * ```
 */
export function permutationTest(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  options: PermutationOptions & { stat?: (v: Float64Array) => number } = {},
): PermutationResult {
  const { permutations = 2000, seed = 1, stat = medianOf } = options;
  const na = a.length;
  const pooled = new Float64Array(na + b.length);
  for (let i = 0; i < na; i++) pooled[i] = a[i];
  for (let i = 0; i < b.length; i++) pooled[na + i] = b[i];
  const diff = stat(pooled.slice(na)) - stat(pooled.slice(0, na));
  const rand = mulberry32(seed);
  let count = 0;
  for (let r = 0; r < permutations; r++) {
    for (let i = pooled.length - 1; i > 0; i--) {
      const j = randomIndex(rand, i + 1);
      const t = pooled[i];
      pooled[i] = pooled[j];
      pooled[j] = t;
    }
    const d = stat(pooled.slice(na)) - stat(pooled.slice(0, na));
    if (Math.abs(d) >= Math.abs(diff) - 1e-9) count++;
  }
  return { diff, p: (1 + count) / (1 + permutations), permutations };
}

function medianOf(v: Float64Array): number {
  return ss.median(v as unknown as number[]);
}

/**
 * Percentile bootstrap interval of the ratio stat(a) / stat(b) of two
 * independent samples (default stat: the type-7 median, simple-statistics
 * `median`): `resamples` times, draw |a| indices of a with replacement, then
 * |b| indices of b (index = ⌊u·n⌋, u from mulberry32(seed), in that order),
 * and take stat(a*) / stat(b*); the interval is the type-7 quantiles
 * (simple-statistics `quantileSorted`) of the defined ratios (NaN ones are
 * dropped). NaN bounds and `used` 0 when either sample is empty.
 *
 * @example
 * ```ts
 * import { bootstrapRatioCi } from "./stats.ts";
 * const ci = bootstrapRatioCi([101, 102, 103], [100, 100, 100]);
 * console.log(ci.lo >= 1.01 && ci.hi <= 1.03, ci.used); // true 2000
 * ```
 */
export function bootstrapRatioCi(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  options: BootstrapOptions & { stat?: (v: number[]) => number } = {},
): Interval {
  const { resamples = 2000, seed = 1, level = 0.95, stat = ss.median } =
    options;
  if (a.length === 0 || b.length === 0) return { lo: NaN, hi: NaN, used: 0 };
  const rand = mulberry32(seed);
  const resample = (v: ArrayLike<number>, out: number[]) => {
    for (let i = 0; i < out.length; i++) {
      out[i] = v[randomIndex(rand, v.length)];
    }
    return out;
  };
  const ba = new Array<number>(a.length);
  const bb = new Array<number>(b.length);
  const results: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const sa = stat(resample(a, ba));
    const s = sa / stat(resample(b, bb));
    if (s === s) results.push(s);
  }
  results.sort((x, y) => x - y);
  const alpha = (1 - level) / 2;
  return {
    lo: quantileSorted(results, alpha),
    hi: quantileSorted(results, 1 - alpha),
    used: results.length,
  };
}
