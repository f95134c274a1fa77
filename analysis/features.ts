/**
 * Classification features of a run, made comparable across hosts and
 * accelerators by expressing them relative to the minkernel baseline
 * measured on the same host.
 *
 * @module
 */

import { equalsMask, numberColumn, type Table } from "./columns.ts";
import type { ReadRunRecord } from "./load.ts";
import { finiteCopy, quantilesInPlace } from "./quantile.ts";
import { linearFit } from "./stats.ts";
import { memoryPeak } from "./timeline.ts";

/** The classes a run can belong to. */
export type SystemClass = "baseline" | "libos" | "linux";

/** Every class, in report order. */
export const CLASSES: readonly SystemClass[] = ["baseline", "libos", "linux"];

/** Names of the features, in order. */
export const FEATURES = [
  "log_boot_ratio",
  "slope_ratio",
  "iqr_ratio",
  "log_rss_ratio",
  "gap_ratio",
  "log_mem_ratio",
] as const;

/** One feature name. */
export type FeatureName = typeof FEATURES[number];

/** Feature values; null when a run cannot provide one. */
export type FeatureVector = Record<FeatureName, number | null>;

/**
 * What one unit of each feature is worth in a distance: a difference of one
 * scale counts 1. log ratios: 0.5 (a factor e^0.5 ≈ 1.65); slope (fraction
 * of the baseline boot per extra concurrent instance): 0.5; IQR / median and
 * the first-output gap fraction: 0.25.
 */
export const DEFAULT_SCALES: Readonly<Record<FeatureName, number>> = {
  log_boot_ratio: 0.5,
  slope_ratio: 0.5,
  iqr_ratio: 0.25,
  log_rss_ratio: 0.5,
  gap_ratio: 0.25,
  log_mem_ratio: 0.5,
};

/** The minkernel baseline of one host (and accelerator). */
export interface Baseline {
  /** Host identity: `hostname|cpu_model|accelerator` (see hostKey). */
  host_key: string;
  /** Median boot_ms of ready instances started at low concurrency. */
  boot_ms: number;
  /** Median rss_peak_kib of ready instances. */
  rss_kib: number | null;
  /** Median over runs of memory per booting instance at the peak (memoryPeak). */
  per_booting_kib: number | null;
  /** The baseline runs it was computed from. */
  runs: string[];
}

/** A run as the feature code needs it (a loaded {@link Run} fits). */
export interface RunLike {
  record: ReadRunRecord;
  instances: Table;
  memory?: Table;
}

/** Options of the feature functions. */
export interface FeatureOptions {
  /** Instances starting with fewer than this many already booting are "low concurrency" (default 4). */
  lowConcurrency?: number;
  /** Fewest low-concurrency instances to use; when fewer qualify, the ready instances with the lowest concurrency make up this many (default 3). */
  minLow?: number;
}

/**
 * Identity of the machine a run was measured on, for matching runs with a
 * baseline: hostname, CPU model and accelerator kind.
 *
 * @example
 * ```ts
 * hostKey(run.record); // "box|AMD EPYC 7B13|tcg"
 * ```
 */
export function hostKey(record: ReadRunRecord): string {
  return [
    record.host?.hostname ?? "?",
    record.host?.cpu_model ?? "?",
    record.accelerator?.kind ?? "?",
  ].join("|");
}

interface ReadyData {
  boot: Float64Array;
  conc: Float64Array;
  first: Float64Array;
  rss: Float64Array;
}

function readyData(instances: Table): ReadyData {
  const ready = equalsMask(instances, "outcome", "ready");
  const boot = numberColumn(instances, "boot_ms");
  const conc = numberColumn(instances, "concurrency_at_start");
  const first = numberColumn(instances, "first_output_boot_ms");
  const rss = numberColumn(instances, "rss_peak_kib");
  const keep: number[] = [];
  for (let i = 0; i < boot.length; i++) {
    if (ready[i] && boot[i] === boot[i]) keep.push(i);
  }
  const pick = (a: Float64Array) => Float64Array.from(keep, (i) => a[i]);
  return {
    boot: pick(boot),
    conc: pick(conc),
    first: pick(first),
    rss: pick(rss),
  };
}

/** Boot times of the ready instances started at low concurrency (see FeatureOptions). */
function lowBoots(d: ReadyData, options: FeatureOptions): Float64Array {
  const { lowConcurrency = 4, minLow = 3 } = options;
  const order = Array.from(d.boot, (_, i) => i).sort((a, b) =>
    d.conc[a] - d.conc[b]
  );
  const low = order.filter((i) => d.conc[i] < lowConcurrency);
  const use = low.length >= minLow
    ? low
    : order.slice(0, Math.min(minLow, order.length));
  return Float64Array.from(use, (i) => d.boot[i]);
}

/**
 * Median boot_ms of a run's ready instances started at low concurrency
 * (concurrency_at_start < `lowConcurrency`, default 4; at least `minLow`
 * instances, taken by lowest concurrency). NaN when nothing booted.
 *
 * @example
 * ```ts
 * lowConcurrencyBoot(run.instances); // e.g. 151.2
 * ```
 */
export function lowConcurrencyBoot(
  instances: Table,
  options: FeatureOptions = {},
): number {
  return quantilesInPlace(lowBoots(readyData(instances), options), [0.5])[0];
}

/**
 * The runs a baseline should be measured from: those of class `baseline`
 * whose profile is `image` (default "minkernel", the paper's baseline with
 * the paper's QEMU options) when there are any, else every `baseline` run,
 * else (nothing labelled) all of `runs`.
 *
 * @example
 * ```ts
 * measureBaseline(pickBaselineRuns(set.runs));
 * ```
 */
export function pickBaselineRuns<T extends RunLike>(
  runs: readonly T[],
  image = "minkernel",
): T[] {
  const base = runs.filter((r) => r.record.profile?.class === "baseline");
  const named = base.filter((r) => r.record.profile?.name === image);
  return named.length ? named : base.length ? base : [...runs];
}

/**
 * The baseline of one host from its minkernel runs: pooled median of the
 * low-concurrency boot times, pooled median rss_peak_kib, median of the
 * runs' memory per booting instance at the peak. Throws when `runs` is
 * empty or nothing booted.
 *
 * @example
 * ```ts
 * const base = measureBaseline([minkernelRun]);
 * ```
 */
export function measureBaseline(
  runs: readonly RunLike[],
  options: FeatureOptions = {},
): Baseline {
  if (runs.length === 0) {
    throw new Error(
      "Cannot measure a baseline from no runs: measure minkernel on this host first (deno task sweep --image minkernel).",
    );
  }
  const lows: number[] = [];
  const rss: number[] = [];
  const mem: number[] = [];
  for (const run of runs) {
    const d = readyData(run.instances);
    lows.push(...lowBoots(d, options));
    rss.push(...d.rss);
    if (run.memory) {
      const per = memoryPeak(run.memory, run.instances).array(
        "per_booting_kib",
      ) as (number | null)[];
      for (const v of per) if (v !== null && v > 0) mem.push(v);
    }
  }
  const boot = quantilesInPlace(finiteCopy(lows), [0.5])[0];
  if (!(boot > 0)) {
    throw new Error(
      `Cannot measure a baseline from ${
        runs.map((r) => r.record.run_id).join(", ")
      }: no instance booted. Re-run minkernel and check its log.`,
    );
  }
  const med = (v: number[]) => {
    const x = quantilesInPlace(finiteCopy(v), [0.5])[0];
    return x === x ? x : null;
  };
  return {
    host_key: hostKey(runs[0].record),
    boot_ms: boot,
    rss_kib: med(rss),
    per_booting_kib: med(mem),
    runs: runs.map((r) => r.record.run_id),
  };
}

/**
 * Features of one run relative to `baseline` (null where not computable):
 * - `log_boot_ratio`: ln(median low-concurrency boot / baseline boot);
 * - `slope_ratio`: least-squares slope of boot_ms on concurrency_at_start
 *   (ready instances; needs 3 distinct concurrencies) / baseline boot;
 * - `iqr_ratio`: (p75 − p25) / median of boot_ms;
 * - `log_rss_ratio`: ln(median rss_peak_kib / baseline's);
 * - `gap_ratio`: median of (boot_ms − first_output_boot_ms) / boot_ms: the
 *   share of the boot after the first byte (Linux prints long before it is
 *   ready; a unikernel is ready almost at its first byte);
 * - `log_mem_ratio`: ln(memory per booting instance at the peak / baseline's).
 *
 * @example
 * ```ts
 * runFeatures(run, measureBaseline([minkernelRun])).log_boot_ratio;
 * ```
 */
export function runFeatures(
  run: RunLike,
  baseline: Baseline,
  options: FeatureOptions = {},
): FeatureVector {
  const d = readyData(run.instances);
  const fin = (x: number) => (Number.isFinite(x) ? x : null);
  const out: FeatureVector = {
    log_boot_ratio: null,
    slope_ratio: null,
    iqr_ratio: null,
    log_rss_ratio: null,
    gap_ratio: null,
    log_mem_ratio: null,
  };
  if (d.boot.length === 0) return out;
  const low = quantilesInPlace(lowBoots(d, options), [0.5])[0];
  out.log_boot_ratio = fin(Math.log(low / baseline.boot_ms));
  if (new Set(d.conc).size >= 3) {
    out.slope_ratio = fin(linearFit(d.conc, d.boot).slope / baseline.boot_ms);
  }
  const [p25, p50, p75] = quantilesInPlace(d.boot.slice(), [0.25, 0.5, 0.75]);
  out.iqr_ratio = fin((p75 - p25) / p50);
  const rss = quantilesInPlace(finiteCopy(d.rss), [0.5])[0];
  if (baseline.rss_kib) {
    out.log_rss_ratio = fin(Math.log(rss / baseline.rss_kib));
  }
  const gaps: number[] = [];
  for (let i = 0; i < d.boot.length; i++) {
    if (d.first[i] === d.first[i] && d.boot[i] > 0) {
      gaps.push((d.boot[i] - d.first[i]) / d.boot[i]);
    }
  }
  if (gaps.length) {
    out.gap_ratio = fin(quantilesInPlace(Float64Array.from(gaps), [0.5])[0]);
  }
  if (run.memory && baseline.per_booting_kib) {
    const per = memoryPeak(run.memory, run.instances).array(
      "per_booting_kib",
    ) as (number | null)[];
    const v = per.filter((x): x is number => x !== null && x > 0);
    if (v.length) {
      out.log_mem_ratio = fin(Math.log(
        quantilesInPlace(Float64Array.from(v), [0.5])[0] /
          baseline.per_booting_kib,
      ));
    }
  }
  return out;
}
