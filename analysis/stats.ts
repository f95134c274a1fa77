/**
 * Small-sample statistics on plain number arrays: correlation, ranks, a
 * least-squares line, the MAD-based modified z-score, a seeded bootstrap
 * and a seeded permutation test. Every function is pure and deterministic.
 *
 * @module
 */

import { mulberry32, randomIndex } from "./prng.ts";
import { finiteCopy, quantilesInPlace, quantileSorted } from "./quantile.ts";

/**
 * Arithmetic mean; NaN for an empty input.
 *
 * @example
 * ```ts
 * mean([1, 2, 6]); // 3
 * ```
 */
export function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return values.length ? s / values.length : NaN;
}

/** Means and centred sums of squares and products of the first n pairs. */
function centredMoments(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  n: number,
): { mx: number; my: number; sxy: number; sxx: number; syy: number } {
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return { mx, my, sxy, sxx, syy };
}

/**
 * Pearson's product-moment correlation r of paired samples (two-pass, as
 * scipy.stats.pearsonr). NaN when n < 2 or either sample is constant.
 *
 * @example
 * ```ts
 * pearson([1, 2, 3], [2, 4, 7]); // 0.9933992677987828
 * ```
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = Math.min(x.length, y.length);
  if (n < 2) return NaN;
  const { sxy, sxx, syy } = centredMoments(x, y, n);
  if (sxx === 0 || syy === 0) return NaN;
  const r = sxy / Math.sqrt(sxx * syy);
  return Math.max(-1, Math.min(1, r));
}

/**
 * Ranks 1..n with ties given their average rank (scipy.stats.rankdata
 * "average").
 *
 * @example
 * ```ts
 * ranks([10, 30, 20, 20]); // [1, 4, 2.5, 2.5]
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
 * Spearman's rank correlation ρ: Pearson's r of the average ranks
 * (scipy.stats.spearmanr). NaN when n < 2 or a sample is constant.
 *
 * @example
 * ```ts
 * spearman([1, 2, 3, 4], [1, 3, 2, 4]); // 0.8
 * ```
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  return pearson(ranks(x), ranks(y));
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
 * Ordinary least-squares line y = intercept + slope·x (numpy.polyfit deg 1).
 * NaN slope and intercept when n < 2 or x is constant.
 *
 * @example
 * ```ts
 * linearFit([0, 1, 2], [1, 3, 5]); // { slope: 2, intercept: 1, r2: 1, n: 3 }
 * ```
 */
export function linearFit(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
): LinearFit {
  const n = Math.min(x.length, y.length);
  const { mx, my, sxy, sxx, syy } = centredMoments(x, y, n);
  if (n < 2 || sxx === 0) return { slope: NaN, intercept: NaN, r2: NaN, n };
  const slope = sxy / sxx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { slope, intercept: my - slope * mx, r2, n };
}

/** Iglewicz–Hoaglin constant: Φ⁻¹(0.75), so MAD/0.6745 estimates σ. */
export const MAD_CONSTANT = 0.6745;

/** Default |modified z| above which a value is an outlier (Iglewicz–Hoaglin). */
export const OUTLIER_Z = 3.5;

/**
 * Modified z-scores M = 0.6745·(x − median)/MAD (Iglewicz & Hoaglin 1993),
 * MAD = median |x − median|. When MAD is 0 (over half the values equal), the
 * mean absolute deviation is used instead: M = (x − median)/(1.253314·MeanAD);
 * when that is 0 too, every score is 0. Null/NaN inputs give NaN scores.
 *
 * @example
 * ```ts
 * modifiedZ([1, 2, 3, 4, 100]); // [-1.349, -0.6745, 0, 0.6745, 65.4265]
 * ```
 */
export function modifiedZ(values: ArrayLike<number | null>): number[] {
  const finite = finiteCopy(values);
  const med = quantilesInPlace(finite, [0.5])[0];
  const dev = new Float64Array(finite.length);
  let sumAbs = 0;
  for (let i = 0; i < finite.length; i++) {
    dev[i] = Math.abs(finite[i] - med);
    sumAbs += dev[i];
  }
  const mad = quantilesInPlace(dev, [0.5])[0];
  const meanAd = finite.length ? sumAbs / finite.length : NaN;
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || v !== v) out[i] = NaN;
    else if (mad > 0) out[i] = (MAD_CONSTANT * (v - med)) / mad;
    else if (meanAd > 0) out[i] = (v - med) / (1.253314 * meanAd);
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
 * type-7 quantiles of the defined results. NaN bounds when none is defined.
 *
 * @example
 * ```ts
 * bootstrapCi([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], { stat: spearman, seed: 7 });
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
 * Two-sided permutation test of stat(b) − stat(a) (default stat: median).
 * The pooled sample [...a, ...b] is shuffled in place `permutations` times
 * (Fisher–Yates from the last index down, j = ⌊u·(i+1)⌋, u from
 * mulberry32(seed)); the first |a| values form a*, the rest b*. A permuted
 * difference counts when |d*| ≥ |d| − 1e-9. p = (1 + count)/(1 + permutations)
 * (never 0; Phipson & Smyth 2010).
 *
 * @example
 * ```ts
 * permutationTest([1, 2, 3], [7, 8, 9], { seed: 1 }).p; // small
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
  return quantilesInPlace(v, [0.5])[0];
}
