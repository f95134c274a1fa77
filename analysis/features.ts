/**
 * Classification features of a run, in two sets:
 *
 * - **boot work** (TCG with `--insns`): what the guest itself executed until
 *   it was ready, as log10 counts: its code footprint (distinct
 *   instructions), its dynamic instructions, its CR3 writes (address-space
 *   switches) and its system calls; and whether it turned paging on at all
 *   (wrote CR3: every 64-bit OS does, a 32-bit bare-metal program does not). Instruction counts belong to the guest,
 *   not to the host: they need no baseline and do not move with the host's
 *   load (except the dynamic count of guests that busy-wait on a timer,
 *   hence its wider scale).
 * - **timing** (any accelerator, what a KVM host gets): CPU time per boot,
 *   QEMU's peak RSS relative to a minkernel baseline measured on the same
 *   host and accelerator, and the share of the boot after the first output.
 *
 * The paper's own figures only give boot time and memory relative to the
 * minkernel (`log_boot_ratio`, `log_mem_ratio`); those two are computed for
 * every run too, for figures and comparison, but no classifier set uses
 * them (they depend on N and on the host's load).
 *
 * @module
 */

import { equalsMask, numberColumn, type Table } from "./columns.ts";
import type { ReadRunRecord } from "./load.ts";
import { finiteCopy, quantilesInPlace } from "./quantile.ts";
import { memoryPeak } from "./timeline.ts";

/** The classes a run can belong to. */
export type SystemClass = "baseline" | "libos" | "linux";

/** Every class, in report order. */
export const CLASSES: readonly SystemClass[] = ["baseline", "libos", "linux"];

/** Boot-work features (log10 of counts; TCG with --insns). */
export const WORK_FEATURES = [
  "log_code_insns",
  "log_guest_insns",
  "log_cr3_writes",
  "log_syscalls",
  "uses_paging",
] as const;

/** Timing features (relative to a same-host minkernel baseline). */
export const TIMING_FEATURES = [
  "log_cpu_ratio",
  "log_rss_ratio",
  "gap_ratio",
] as const;

/** Features the paper's figures allow (shown, not classified on). */
export const PAPER_FEATURES = ["log_boot_ratio", "log_mem_ratio"] as const;

/** Names of every feature, in order. */
export const FEATURES = [
  ...WORK_FEATURES,
  ...TIMING_FEATURES,
  ...PAPER_FEATURES,
] as const;

/** One feature name. */
export type FeatureName = typeof FEATURES[number];

/** A classifier feature set. */
export type FeatureSet = "work" | "timing";

/** The features of each classifier set. */
export const FEATURE_SETS: Readonly<
  Record<FeatureSet, readonly FeatureName[]>
> = {
  work: WORK_FEATURES,
  timing: TIMING_FEATURES,
};

/** Feature values; null when a run cannot provide one. */
export type FeatureVector = Record<FeatureName, number | null>;

/**
 * What one unit of each feature is worth in a distance (a difference of one
 * scale counts 1). log10 counts: the footprint 1 (a factor 10), CR3 writes
 * 0.5 (a factor ≈ 3), system calls 0.75, dynamic instructions 2 (a factor
 * 100: timer busy-waits move it 4–17× with the host's speed); paging (0 or
 * 1) 0.5; ln ratios 0.5 (a factor e^0.5 ≈ 1.65); the first-output gap (a
 * fraction) 0.25.
 */
export const DEFAULT_SCALES: Readonly<Record<FeatureName, number>> = {
  log_code_insns: 1,
  log_guest_insns: 2,
  log_cr3_writes: 0.5,
  log_syscalls: 0.75,
  uses_paging: 0.5,
  log_cpu_ratio: 0.5,
  log_rss_ratio: 0.5,
  gap_ratio: 0.25,
  log_boot_ratio: 0.5,
  log_mem_ratio: 0.5,
};

/** Plain-words description of each feature, for verdicts and figures. */
export const FEATURE_LABELS: Readonly<Record<FeatureName, string>> = {
  log_code_insns:
    "distinct guest instructions executed (code footprint, log10)",
  log_guest_insns: "guest instructions executed to ready (log10)",
  log_cr3_writes: "address-space switches, CR3 writes (log10 of 1 + n)",
  log_syscalls: "system calls (log10 of 1 + n)",
  uses_paging: "turned paging on (wrote CR3 at least once: 1, else 0)",
  log_cpu_ratio: "CPU time per boot / minkernel's (ln)",
  log_rss_ratio: "QEMU peak RSS / minkernel's (ln)",
  gap_ratio: "share of the boot after the first output byte",
  log_boot_ratio: "boot time / minkernel's (ln)",
  log_mem_ratio: "memory per booting instance / minkernel's (ln)",
};

/** The minkernel baseline of one host (and accelerator). */
export interface Baseline {
  /** Host identity: `hostname|cpu_model|accelerator` (see hostKey). */
  host_key: string;
  /** Median boot_ms of ready instances started at low concurrency. */
  boot_ms: number;
  /** Median cpu_ready_ms of ready instances (null for older datasets). */
  cpu_ms: number | null;
  /** Median rss_peak_kib of ready instances. */
  rss_kib: number | null;
  /** Median over runs of memory per booting instance at the peak (memoryPeak). */
  per_booting_kib: number | null;
  /** The baseline runs it was computed from. */
  runs: string[];
}

/** A run as the feature code needs it (a loaded {@link Run} fits). */
export interface RunLike {
  /** Its run.json. */
  record: ReadRunRecord;
  /** Its instance rows. */
  instances: Table;
  /** Its memory samples (for the memory-per-instance ratio). */
  memory?: Table;
}

/** Options of the feature functions. */
export interface FeatureOptions {
  /** Instances starting with fewer than this many already booting are "low concurrency" (default 4). */
  lowConcurrency?: number;
  /** Fewest low-concurrency instances to use; when fewer qualify, the ready instances with the lowest concurrency make up this many (default 3). */
  minLow?: number;
}

/** A baseline that cannot be used; the message says why and what to do. */
export class BaselineError extends Error {
  /** An error whose message says why the baseline cannot be used and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "BaselineError";
  }
}

/**
 * Identity of the machine a run was measured on, for matching runs with a
 * baseline: hostname, CPU model and accelerator kind.
 *
 * @example
 * ```ts
 * import { hostKey } from "./features.ts";
 * console.log(hostKey({
 *   schema_version: 3, run_id: "r", count: 1, host: { hostname: "box", cpu_model: "EPYC" }, accelerator: { kind: "tcg" },
 * })); // "box|EPYC|tcg"
 * console.log(hostKey({ schema_version: 1, run_id: "old", count: 1 })); // "?|?|?"
 * ```
 */
export function hostKey(record: ReadRunRecord): string {
  return [
    record.host?.hostname ?? "?",
    record.host?.cpu_model ?? "?",
    record.accelerator?.kind ?? "?",
  ].join("|");
}

/** Ready instances' values of a column (NaN dropped). */
function readyValues(instances: Table, column: string): Float64Array {
  if (!instances.columnNames().includes(column)) return new Float64Array();
  const ready = equalsMask(instances, "outcome", "ready");
  const v = numberColumn(instances, column);
  const out: number[] = [];
  for (let i = 0; i < v.length; i++) {
    if (ready[i] && v[i] === v[i]) out.push(v[i]);
  }
  return Float64Array.from(out);
}

function medianOf(v: Float64Array): number {
  return v.length ? quantilesInPlace(v.slice(), [0.5])[0] : NaN;
}

/**
 * Number of ready instances of a run.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { readyCount } from "./features.ts";
 * console.log(readyCount(aq.table({ outcome: ["ready", "timeout", "ready"] }))); // 2
 * ```
 */
export function readyCount(instances: Table): number {
  const ready = equalsMask(instances, "outcome", "ready");
  let n = 0;
  for (let i = 0; i < ready.length; i++) if (ready[i]) n++;
  return n;
}

/** Boot times of the ready instances started at low concurrency (see FeatureOptions). */
function lowBoots(instances: Table, options: FeatureOptions): Float64Array {
  const { lowConcurrency = 4, minLow = 3 } = options;
  const ready = equalsMask(instances, "outcome", "ready");
  const boot = numberColumn(instances, "boot_ms");
  const conc = numberColumn(instances, "concurrency_at_start");
  const idx: number[] = [];
  for (let i = 0; i < boot.length; i++) {
    if (ready[i] && boot[i] === boot[i]) idx.push(i);
  }
  idx.sort((a, b) => conc[a] - conc[b]);
  const low = idx.filter((i) => conc[i] < lowConcurrency);
  const use = low.length >= minLow ? low : idx.slice(0, minLow);
  return Float64Array.from(use, (i) => boot[i]);
}

/**
 * Median boot_ms of a run's ready instances started at low concurrency
 * (concurrency_at_start < `lowConcurrency`, default 4; at least `minLow`
 * instances, taken by lowest concurrency). NaN when nothing booted.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { lowConcurrencyBoot } from "./features.ts";
 * const instances = aq.table({
 *   outcome: ["ready", "ready", "ready", "ready", "ready"],
 *   boot_ms: [150, 152, 154, 400, 420], concurrency_at_start: [0, 1, 2, 8, 9],
 * });
 * console.log(lowConcurrencyBoot(instances)); // 152: the median of the three started with < 4 booting
 * ```
 */
export function lowConcurrencyBoot(
  instances: Table,
  options: FeatureOptions = {},
): number {
  return medianOf(lowBoots(instances, options));
}

/**
 * The runs a baseline should be measured from: those of class `baseline`
 * whose profile is `image` (default "minkernel", the paper's baseline with
 * the paper's QEMU options) when there are any, else every `baseline` run.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { pickBaselineRuns, type RunLike } from "./features.ts";
 * const run = (run_id: string, name: string, cls: "baseline" | "libos"): RunLike => ({
 *   record: { schema_version: 3, run_id, count: 0, profile: { name, class: cls } },
 *   instances: aq.table({}),
 * });
 * const runs = [run("a", "minkernel-microvm", "baseline"), run("b", "minkernel", "baseline"), run("c", "osv", "libos")];
 * console.log(pickBaselineRuns(runs).map((r) => r.record.run_id)); // ["b"]
 * console.log(pickBaselineRuns(runs, "minkernel-exit").map((r) => r.record.run_id)); // ["a", "b"]: no such profile, every baseline
 * ```
 */
export function pickBaselineRuns<T extends RunLike>(
  runs: readonly T[],
  image = "minkernel",
): T[] {
  const base = runs.filter((r) => r.record.profile?.class === "baseline");
  const named = base.filter((r) => r.record.profile?.name === image);
  return named.length ? named : base;
}

/**
 * Check that runs can serve as a minkernel baseline (for a run measured on
 * `forHost`, when given); throws {@link BaselineError} with the reason:
 * nothing ready, a profile that is not of class `baseline`, a guest that
 * executes far more distinct code than a minkernel (boot work), or another
 * host or accelerator.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as aq from "arquero";
 * import { BaselineError, checkBaseline, type RunLike } from "./features.ts";
 * const minkernel: RunLike = {
 *   record: {
 *     schema_version: 3, run_id: "m1", count: 3, host: { hostname: "box", cpu_model: "EPYC" },
 *     accelerator: { kind: "tcg" }, profile: { name: "minkernel", class: "baseline" },
 *   },
 *   instances: aq.table({
 *     outcome: ["ready", "ready", "ready"], boot_ms: [150, 152, 170], concurrency_at_start: [0, 1, 2],
 *     cpu_ready_ms: [40, 42, 44], rss_peak_kib: [20000, 20100, 20200], guest_code_insns_ready: [14, 14, 14],
 *   }),
 * };
 * checkBaseline([minkernel], { forHost: "box|EPYC|tcg" }); // fine
 * assert.throws(() => checkBaseline([minkernel], { forHost: "box|EPYC|kvm" }), /do not compare across hosts or accelerators/);
 * assert.throws(() => checkBaseline([]), BaselineError);
 * ```
 */
export function checkBaseline(
  runs: readonly RunLike[],
  options: { forHost?: string } = {},
): void {
  if (runs.length === 0) {
    throw new BaselineError(
      "no baseline run given: measure the minkernel on this host (deno task sweep --image minkernel --count 8 --back-to-back) and pass its folder",
    );
  }
  for (const run of runs) {
    const id = run.record.run_id;
    const profile = run.record.profile?.name ?? "?";
    const cls = run.record.profile?.class ?? null;
    if (readyCount(run.instances) === 0) {
      throw new BaselineError(
        `baseline run ${id} (${profile}) has no ready instance: re-measure the minkernel`,
      );
    }
    if (cls !== "baseline") {
      throw new BaselineError(
        `run ${id} is not a minkernel-like baseline: its profile "${profile}" is of class ${
          cls ?? "none"
        }; pass a run of the minkernel profile`,
      );
    }
    const code = medianOf(readyValues(run.instances, "guest_code_insns_ready"));
    if (code > 1000) {
      throw new BaselineError(
        `run ${id} (${profile}) is not minkernel-like: its guest ran ${
          Math.round(code)
        } distinct instructions before it was ready (a minkernel runs under 100)`,
      );
    }
    if (options.forHost && hostKey(run.record) !== options.forHost) {
      throw new BaselineError(
        `baseline run ${id} was measured on "${
          hostKey(run.record)
        }", the run to classify on "${options.forHost}": times do not compare across hosts or accelerators; measure the minkernel on the run's host with the same --accel`,
      );
    }
  }
  const keys = new Set(runs.map((r) => hostKey(r.record)));
  if (keys.size > 1) {
    throw new BaselineError(
      `the baseline runs come from several hosts (${
        [...keys].join(", ")
      }): give runs of one host`,
    );
  }
}

/**
 * The baseline of one host from its minkernel runs (checked with
 * {@link checkBaseline}): pooled median of the low-concurrency boot times,
 * of cpu_ready_ms and of rss_peak_kib, and the median of the runs' memory
 * per booting instance at the peak.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { measureBaseline, type RunLike } from "./features.ts";
 * const minkernel: RunLike = {
 *   record: {
 *     schema_version: 3, run_id: "m1", count: 3, host: { hostname: "box", cpu_model: "EPYC" },
 *     accelerator: { kind: "tcg" }, profile: { name: "minkernel", class: "baseline" },
 *   },
 *   instances: aq.table({
 *     outcome: ["ready", "ready", "ready"], boot_ms: [150, 152, 170], concurrency_at_start: [0, 1, 2],
 *     cpu_ready_ms: [40, 42, 44], rss_peak_kib: [20000, 20100, 20200], guest_code_insns_ready: [14, 14, 14],
 *   }),
 * };
 * const base = measureBaseline([minkernel]);
 * console.log(base.host_key, base.boot_ms, base.cpu_ms, base.rss_kib, base.runs); // box|EPYC|tcg 152 42 20100 ["m1"]
 * ```
 */
export function measureBaseline(
  runs: readonly RunLike[],
  options: FeatureOptions & { forHost?: string } = {},
): Baseline {
  checkBaseline(runs, options);
  const lows: number[] = [];
  const cpu: number[] = [];
  const rss: number[] = [];
  const mem: number[] = [];
  for (const run of runs) {
    lows.push(...lowBoots(run.instances, options));
    cpu.push(...readyValues(run.instances, "cpu_ready_ms"));
    rss.push(...readyValues(run.instances, "rss_peak_kib"));
    if (run.memory) {
      const per = memoryPeak(run.memory, run.instances).array(
        "per_booting_kib",
      ) as (number | null)[];
      for (const v of per) if (v !== null && v > 0) mem.push(v);
    }
  }
  const med = (v: number[]) => {
    const x = medianOf(finiteCopy(v));
    return x === x ? x : null;
  };
  return {
    host_key: hostKey(runs[0].record),
    boot_ms: med(lows) ?? NaN,
    cpu_ms: med(cpu),
    rss_kib: med(rss),
    per_booting_kib: med(mem),
    runs: runs.map((r) => r.record.run_id),
  };
}

/**
 * Features of one run (null where not computable): the boot-work set from
 * the medians of its ready instances' `insns_*` columns (no baseline
 * needed); the timing set and the paper's ratios relative to `baseline`
 * (null without one):
 * - `log_code_insns` = log10(guest_code_insns_ready), `log_guest_insns` =
 *   log10(insns_guest_ready), `log_cr3_writes` = log10(1 +
 *   cr3_writes_ready), `log_syscalls` = log10(1 + syscalls_ready),
 *   `uses_paging` = 1 when cr3_writes_ready > 0, else 0;
 * - `log_cpu_ratio` = ln(cpu_ready_ms / baseline's), `log_rss_ratio` =
 *   ln(rss_peak_kib / baseline's), `gap_ratio` = median of (boot_ms −
 *   first_output_boot_ms) / boot_ms;
 * - `log_boot_ratio` = ln(low-concurrency boot / baseline's),
 *   `log_mem_ratio` = ln(memory per booting instance / baseline's).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { type Baseline, runFeatures, type RunLike } from "./features.ts";
 * const baseline: Baseline = { host_key: "box|EPYC|tcg", boot_ms: 152, cpu_ms: 42, rss_kib: 20100, per_booting_kib: null, runs: ["m1"] };
 * const osv: RunLike = {
 *   record: { schema_version: 3, run_id: "o1", count: 2, profile: { name: "osv", class: "libos" } },
 *   instances: aq.table({
 *     outcome: ["ready", "ready"], boot_ms: [400, 420], first_output_boot_ms: [300, 315], concurrency_at_start: [0, 1],
 *     guest_code_insns_ready: [30000, 30000], insns_guest_ready: [5e7, 5.2e7], cr3_writes_ready: [40, 40],
 *     syscalls_ready: [0, 0], cpu_ready_ms: [120, 130], rss_peak_kib: [60000, 61000],
 *   }),
 * };
 * const f = runFeatures(osv, baseline);
 * console.log(f.log_code_insns?.toFixed(2), f.uses_paging, f.gap_ratio, f.log_cpu_ratio?.toFixed(2)); // "4.48" 1 0.25 "1.09"
 * console.log(runFeatures(osv, null).log_cpu_ratio); // null: no baseline, no timing features
 * ```
 */
export function runFeatures(
  run: RunLike,
  baseline: Baseline | null,
  options: FeatureOptions = {},
): FeatureVector {
  const out = Object.fromEntries(
    FEATURES.map((f) => [f, null]),
  ) as FeatureVector;
  const fin = (x: number) => (Number.isFinite(x) ? x : null);
  const m = (c: string) => medianOf(readyValues(run.instances, c));
  if (readyCount(run.instances) === 0) return out;
  const code = m("guest_code_insns_ready");
  if (code === code) {
    out.log_code_insns = fin(Math.log10(Math.max(1, code)));
    out.log_guest_insns = fin(Math.log10(Math.max(1, m("insns_guest_ready"))));
    out.log_cr3_writes = fin(Math.log10(1 + m("cr3_writes_ready")));
    out.log_syscalls = fin(Math.log10(1 + m("syscalls_ready")));
    out.uses_paging = m("cr3_writes_ready") > 0 ? 1 : 0;
  }
  const boot = readyValues(run.instances, "boot_ms");
  const first = readyValues(run.instances, "first_output_boot_ms");
  if (boot.length === first.length && boot.length) {
    const gaps = Float64Array.from(
      boot,
      (b, i) => b > 0 ? (b - first[i]) / b : NaN,
    );
    out.gap_ratio = fin(medianOf(finiteCopy(gaps)));
  }
  if (!baseline) return out;
  const cpu = m("cpu_ready_ms");
  if (baseline.cpu_ms) out.log_cpu_ratio = fin(Math.log(cpu / baseline.cpu_ms));
  if (baseline.rss_kib) {
    out.log_rss_ratio = fin(Math.log(m("rss_peak_kib") / baseline.rss_kib));
  }
  out.log_boot_ratio = fin(
    Math.log(lowConcurrencyBoot(run.instances, options) / baseline.boot_ms),
  );
  if (run.memory && baseline.per_booting_kib) {
    const per = (memoryPeak(run.memory, run.instances).array(
      "per_booting_kib",
    ) as (number | null)[]).filter((x): x is number => x !== null && x > 0);
    if (per.length) {
      out.log_mem_ratio = fin(
        Math.log(medianOf(Float64Array.from(per)) / baseline.per_booting_kib),
      );
    }
  }
  return out;
}

/** The set a feature vector can be classified with: boot work when it has it, else timing, else null. */
export function featureSetOf(f: FeatureVector): FeatureSet | null {
  if (WORK_FEATURES.every((k) => f[k] !== null)) return "work";
  if (TIMING_FEATURES.filter((k) => f[k] !== null).length >= 2) return "timing";
  return null;
}
