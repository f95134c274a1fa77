/**
 * Launcher fidelity benchmark: the launcher is the measuring instrument, so
 * it is compared with a plain C implementation of the paper's Algorithm 1
 * (`bench/c/harness.c`) on the same guest, the same N, in alternating A/B
 * runs (A = launcher, B = C harness; the order flips every repeat).
 *
 * Reports:
 * - the ratio launcher / C of the median `boot_ms` (all instances of all
 *   repeats per side) for N = 1, 16, 64 back-to-back — goal ≤ 1.03 each;
 * - the T_s schedule error (`t_s_ms − scheduled_ms`) at a 5 ms interval for
 *   N = 32: p50 / p99 / max for both — goal launcher p99 ≤ 0.5 ms and not
 *   worse than the C harness;
 * - floors timed one at a time by both (no goal): fork+exec of `/bin/true`,
 *   QEMU start → exit with no guest (`-M none`), a minkernel boot.
 *
 * Run: `deno task bench` (or `deno run -A bench/fidelity.ts [--quick]`).
 * Prints a Markdown table and writes `bench/results/fidelity-<date>.json`.
 *
 * The core is importable: {@link runFidelity} measures (or {@link measureBoot},
 * {@link measureSchedule}, {@link measureFloors} one part each),
 * {@link renderFidelityMarkdown} formats, and the pure helpers
 * ({@link compareBoot}, {@link compareSchedule}, {@link scheduleErrors},
 * {@link quantile}, {@link bootstrapRatioCi}) summarise rows from anywhere.
 *
 * @module
 */
// The C side's sampler and run cgroup are launcher internals, on purpose not public: the C harness must sample exactly as the launcher does.
import { DEFAULT_QUIET_STEP_KIB } from "../launcher/launch.ts";
import { startCSampler } from "../launcher/sampler/c_sampler.ts";
import {
  createRunCgroup,
  removeRunCgroup,
} from "../launcher/sampler/run_cgroup.ts";
import { parseArgs } from "node:util";
import { execa } from "execa";
import {
  bootstrapRatioCi as ratioCi,
  fromCsvDataset,
  INSTANCE_COLUMNS,
  median,
  quantileSorted,
} from "../mod.ts";
import {
  buildHarness,
  type HarnessReady,
  type HarnessRun,
  runHarnessWithCost,
} from "./c_harness.ts";
import { stealMs } from "./scale.ts";
import { monotonicMs } from "../launcher/clock.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Goal for launcher / C median boot time. */
export const BOOT_RATIO_GOAL = 1.03;
/** Goal for the launcher's p99 T_s schedule error, ms. */
export const SCHEDULE_P99_GOAL_MS = 0.5;

/** The timings the comparison needs from one instance (either side). */
export interface Timing {
  instance: number;
  scheduled_ms: number | null;
  t_s_ms: number;
  boot_ms: number | null;
  first_output_boot_ms: number | null;
  outcome: string;
}

/** Median, spread and counts of one side's `boot_ms`. */
export interface BootSummary {
  /** Instances over all repeats. */
  instances: number;
  /** Instances whose outcome was not `ready`. */
  failed: number;
  median_ms: number | null;
  p10_ms: number | null;
  p90_ms: number | null;
  min_ms: number | null;
  max_ms: number | null;
  /** Median of `first_output_boot_ms`. */
  first_output_median_ms: number | null;
  /** Median boot_ms of each repeat, in run order. */
  repeat_medians_ms: (number | null)[];
  /**
   * Median over repeats of the last T_s − the first T_s: how long the side
   * took to start everything (back-to-back: its spawn rate). A side that
   * spreads its starts out boots each instance under less contention.
   */
  t_s_span_ms: number | null;
}

/** Launcher vs C for one N. */
export interface BootComparison {
  n: number;
  repeats: number;
  launcher: BootSummary;
  c: BootSummary;
  /** launcher median / C median. */
  ratio: number | null;
  /** Approximate 95% interval of the ratio (bootstrap over instances). */
  ratio_ci95: [number, number] | null;
  /**
   * The same over whole storms ({@link stormRatioCi}): wider when storms
   * differ more than their instances; absent in runs before 2026-12-02.
   */
  ratio_ci95_storms?: [number, number] | null;
  goal: number;
  /**
   * Both sides started their storm about equally fast: the launcher's T_s
   * span exceeds C's by at most `goal − 1` (3%) of C's median boot time.
   * Otherwise the launcher's instances boot under less contention and the
   * ratio is not like for like (it can even drop below 1).
   */
  like_for_like: boolean;
  /** ratio ≤ goal, every launcher instance ready, and like for like. */
  pass: boolean;
  /** Median machine steal time per storm, ms, of each side (when measured). */
  steal_ms?: { launcher: number; c: number } | null;
  /**
   * Median time from the end of `before` (the host-memory warm-up) to the
   * storm's T_0, ms: the launcher's (its CLI starting up) and the wait the C
   * harness was given to match it (its own start-up, ~1 ms, not in it).
   * Absent in runs before 2026-12-04, when the harness started at once.
   */
  start_lag_ms?: { launcher: number | null; c: number } | null;
}

/** p50 / p99 / max of the schedule error of one side, ms. */
export interface ScheduleSummary {
  instances: number;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  /** Smallest error (negative = started early). */
  min_ms: number | null;
}

/** Launcher vs C schedule error for one interval run. */
export interface ScheduleComparison {
  n: number;
  interval_ms: number;
  repeats: number;
  launcher: ScheduleSummary;
  c: ScheduleSummary;
  goal_p99_ms: number;
  /** launcher p99 ≤ goal and ≤ C's p99. */
  pass: boolean;
}

/** One floor (a trivial command timed one at a time) by both sides. */
export interface FloorComparison {
  /** What is timed, e.g. `fork+exec /bin/true`. */
  name: string;
  argv: string[];
  /** Instances per run, started one at a time (launcher `--parallel 1`, C `-p 1`). */
  n: number;
  repeats: number;
  launcher: BootSummary;
  c: BootSummary;
  ratio: number | null;
  ratio_ci95: [number, number] | null;
  /** Over whole runs ({@link stormRatioCi}). */
  ratio_ci95_storms?: [number, number] | null;
}

/** Raw per-instance `boot_ms` of both sides. */
export interface RawBoot {
  launcher: (number | null)[];
  c: (number | null)[];
}

/** Everything one benchmark run produced (the JSON file's content). */
export interface FidelityReport {
  benchmark: "fidelity";
  date: string;
  command: string;
  host: { cpu_model: string; cores: number; kernel: string; hostname: string };
  qemu_version: string | null;
  deno_version: string;
  profile: string;
  accel: string;
  /** argv both sides ran (from the launcher's run.json). */
  argv: string[];
  ready: HarnessReady;
  /** Load averages before the benchmark (other work on the host skews it). */
  loadavg_before: number[];
  /** Load averages after the benchmark (its own storms raise them too). */
  loadavg_after: number[];
  boot: BootComparison[];
  schedule: ScheduleComparison[];
  /** Floors (no goal; issue 7's ratio table). Empty when skipped. */
  floor: FloorComparison[];
  /** Raw per-instance values, for recomputation. */
  raw: {
    boot_ms: Record<string, RawBoot>;
    schedule_error_ms: Record<string, { launcher: number[]; c: number[] }>;
    floor_ms: Record<string, RawBoot>;
  };
  /** Boot-ratio and schedule goals all met (floors have no goal). */
  pass: boolean;
  /** Memory sampling on both sides: median achieved samples/s per batch. */
  sampling?: {
    launcher_hz: number | null;
    c_hz: number | null;
    launcher_source: string | null;
  };
}

// ---------------------------------------------------------------- pure part

/** A number, or null for NaN (the library's "undefined": empty input). */
function orNull(v: number): number | null {
  return Number.isNaN(v) ? null : v;
}

/** Type-7 quantile of ascending values (the library's `quantileSorted`); null when empty. */
function quantile(sorted: readonly number[], q: number): number | null {
  return orNull(quantileSorted(sorted, q));
}

function sortedNumbers(values: readonly (number | null)[]): number[] {
  return values.filter((v): v is number => v !== null && Number.isFinite(v))
    .sort((a, b) => a - b);
}

function readyBoots(rows: readonly Timing[]): number[] {
  return sortedNumbers(
    rows.filter((r) => r.outcome === "ready").map((r) => r.boot_ms),
  );
}

/**
 * Summarises `boot_ms` over repeats (each repeat one array of rows).
 *
 * @example
 * ```ts
 * import { summarizeBoot } from "./fidelity.ts";
 * const row = (boot_ms: number) => ({ instance: 0, scheduled_ms: null, t_s_ms: 0, boot_ms, first_output_boot_ms: boot_ms, outcome: "ready" });
 * console.log(summarizeBoot([[row(10), row(30)], [row(20)]]).median_ms); // 20
 * ```
 */
export function summarizeBoot(
  repeats: readonly (readonly Timing[])[],
): BootSummary {
  const all = repeats.flat();
  const ready = all.filter((r) => r.outcome === "ready");
  const boots = readyBoots(all);
  const firsts = sortedNumbers(ready.map((r) => r.first_output_boot_ms));
  return {
    instances: all.length,
    failed: all.length - ready.length,
    median_ms: quantile(boots, 0.5),
    p10_ms: quantile(boots, 0.1),
    p90_ms: quantile(boots, 0.9),
    min_ms: boots.length ? boots[0] : null,
    max_ms: boots.length ? boots[boots.length - 1] : null,
    first_output_median_ms: quantile(firsts, 0.5),
    repeat_medians_ms: repeats.map((rows) => quantile(readyBoots(rows), 0.5)),
    t_s_span_ms: quantile(
      sortedNumbers(repeats.map((rows) => {
        const ts = rows.map((r) => r.t_s_ms);
        return ts.length ? Math.max(...ts) - Math.min(...ts) : null;
      })),
      0.5,
    ),
  };
}

/**
 * Approximate confidence interval of median(a) / median(b) by resampling
 * instances with replacement (the library's seeded `bootstrapRatioCi`, so
 * reports are reproducible). The instances of one storm are not
 * independent, so read it as a lower bound on the uncertainty. Null when
 * either side is empty.
 *
 * @example
 * ```ts
 * import { bootstrapRatioCi } from "./fidelity.ts";
 * const ci = bootstrapRatioCi([101, 102, 103], [100, 100, 100]);
 * console.log(ci![0] >= 1.01 && ci![1] <= 1.03); // true
 * ```
 */
export function bootstrapRatioCi(
  a: readonly number[],
  b: readonly number[],
  options: { resamples?: number; seed?: number; level?: number } = {},
): [number, number] | null {
  const ci = ratioCi(a, b, options);
  return ci.used === 0 ? null : [ci.lo, ci.hi];
}

/**
 * Approximate confidence interval of the pooled median(a) / median(b) by
 * resampling whole storms with replacement (a cluster bootstrap, through the
 * library's seeded `bootstrapRatioCi` over storm numbers): the instances of
 * one storm share its host state (steal, free pages handed back to the
 * hypervisor), so a storm-to-storm spread larger than the instances' is in
 * it, as {@link bootstrapRatioCi} over instances is not. One storm per side
 * gives the point ratio. Null when either side has no ready instance.
 *
 * @example
 * ```ts
 * import { bootstrapRatioCi, stormRatioCi } from "./fidelity.ts";
 * // three storms a side, 20-40% apart, of 10 instances 1 ms apart
 * const storm = (base: number) => Array.from({ length: 10 }, (_, i) => base + i);
 * const l = [storm(100), storm(140), storm(120)];
 * const c = [storm(100), storm(141), storm(119)];
 * const storms = stormRatioCi(l, c)!;
 * const instances = bootstrapRatioCi(l.flat(), c.flat())!;
 * console.log(storms[1] - storms[0] > instances[1] - instances[0]); // true
 * ```
 */
export function stormRatioCi(
  a: readonly (readonly number[])[],
  b: readonly (readonly number[])[],
  options: { resamples?: number; seed?: number; level?: number } = {},
): [number, number] | null {
  const sa = a.filter((s) => s.length > 0);
  const sb = b.filter((s) => s.length > 0);
  if (sa.length === 0 || sb.length === 0) return null;
  // Storm k of either side is storms[k]: side a's are 0.., side b's after.
  const storms = [...sa, ...sb];
  const pooled = (picked: number[]) =>
    median(picked.flatMap((k) => storms[k] as number[]));
  const ci = ratioCi(
    sa.map((_, k) => k),
    sb.map((_, k) => sa.length + k),
    { ...options, stat: pooled },
  );
  return ci.used === 0 ? null : [ci.lo, ci.hi];
}

/** Runs of both sides: one array of rows per repeat. */
export interface SideRuns {
  launcher: readonly (readonly Timing[])[];
  c: readonly (readonly Timing[])[];
}

function ratioOf(runs: SideRuns) {
  const launcher = summarizeBoot(runs.launcher);
  const c = summarizeBoot(runs.c);
  const ratio = launcher.median_ms !== null && c.median_ms
    ? launcher.median_ms / c.median_ms
    : null;
  const ci = bootstrapRatioCi(
    readyBoots(runs.launcher.flat()),
    readyBoots(runs.c.flat()),
  );
  const storms = stormRatioCi(
    runs.launcher.map(readyBoots),
    runs.c.map(readyBoots),
  );
  return { launcher, c, ratio, ratio_ci95: ci, ratio_ci95_storms: storms };
}

/**
 * Compares the two sides' median boot time for one N.
 *
 * @example
 * ```ts
 * import { compareBoot } from "./fidelity.ts";
 * const row = (boot_ms: number) => ({ instance: 0, scheduled_ms: null, t_s_ms: 0, boot_ms, first_output_boot_ms: null, outcome: "ready" });
 * const c = compareBoot(1, { launcher: [[row(102)]], c: [[row(100)]] });
 * console.log(c.ratio, c.pass); // 1.02 true
 * ```
 */
export function compareBoot(
  n: number,
  runs: SideRuns,
  options: { goal?: number } = {},
): BootComparison {
  const goal = options.goal ?? BOOT_RATIO_GOAL;
  const r = ratioOf(runs);
  const spanGap = (r.launcher.t_s_span_ms ?? 0) - (r.c.t_s_span_ms ?? 0);
  const likeForLike = spanGap <= (goal - 1) * (r.c.median_ms ?? 0);
  return {
    n,
    repeats: Math.max(runs.launcher.length, runs.c.length),
    ...r,
    goal,
    like_for_like: likeForLike,
    pass: r.ratio !== null && r.ratio <= goal && r.launcher.failed === 0 &&
      likeForLike,
  };
}

/**
 * Compares the two sides on one floor (no goal).
 *
 * @example
 * ```ts
 * import { compareFloor } from "./fidelity.ts";
 * const row = (boot_ms: number) => ({ instance: 0, scheduled_ms: null, t_s_ms: 0, boot_ms, first_output_boot_ms: null, outcome: "ready" });
 * const f = compareFloor({ launcher: [[row(3)]], c: [[row(1)]] }, { name: "true", argv: ["/bin/true"], n: 1 });
 * console.log(f.ratio); // 3
 * ```
 */
export function compareFloor(
  runs: SideRuns,
  options: { name: string; argv: string[]; n: number },
): FloorComparison {
  return {
    name: options.name,
    argv: options.argv,
    n: options.n,
    repeats: Math.max(runs.launcher.length, runs.c.length),
    ...ratioOf(runs),
  };
}

/**
 * T_s schedule errors (`t_s_ms − scheduled_ms`) of rows that have a schedule.
 *
 * @example
 * ```ts
 * import { scheduleErrors } from "./fidelity.ts";
 * console.log(scheduleErrors([{ instance: 0, scheduled_ms: 5, t_s_ms: 5.25, boot_ms: null, first_output_boot_ms: null, outcome: "ready" }])); // [0.25]
 * ```
 */
export function scheduleErrors(rows: readonly Timing[]): number[] {
  return rows.filter((r) => r.scheduled_ms !== null)
    .map((r) => Math.round((r.t_s_ms - r.scheduled_ms!) * 1e6) / 1e6);
}

/**
 * p50 / p99 / max (and min) of schedule errors.
 *
 * @example
 * ```ts
 * import { scheduleError } from "./fidelity.ts";
 * console.log(scheduleError([0.1, 0.2, 0.3]).max_ms); // 0.3
 * ```
 */
export function scheduleError(errors: readonly number[]): ScheduleSummary {
  const s = sortedNumbers(errors);
  return {
    instances: s.length,
    p50_ms: quantile(s, 0.5),
    p99_ms: quantile(s, 0.99),
    max_ms: s.length ? s[s.length - 1] : null,
    min_ms: s.length ? s[0] : null,
  };
}

/**
 * Compares the two sides' schedule errors for one interval run.
 *
 * @example
 * ```ts
 * import { compareSchedule } from "./fidelity.ts";
 * const c = compareSchedule({ launcher: [0.1, 0.2], c: [0.1, 0.4] }, { n: 32, intervalMs: 5 });
 * console.log(c.pass); // true
 * ```
 */
export function compareSchedule(
  errors: { launcher: readonly number[]; c: readonly number[] },
  options: {
    n: number;
    intervalMs: number;
    repeats?: number;
    goalP99Ms?: number;
  },
): ScheduleComparison {
  const goal = options.goalP99Ms ?? SCHEDULE_P99_GOAL_MS;
  const launcher = scheduleError(errors.launcher);
  const c = scheduleError(errors.c);
  return {
    n: options.n,
    interval_ms: options.intervalMs,
    repeats: options.repeats ?? 1,
    launcher,
    c,
    goal_p99_ms: goal,
    pass: launcher.p99_ms !== null && c.p99_ms !== null &&
      launcher.p99_ms <= goal && launcher.p99_ms <= c.p99_ms,
  };
}

const TIMING_COLUMNS = INSTANCE_COLUMNS.filter((c) =>
  [
    "instance",
    "scheduled_ms",
    "t_s_ms",
    "boot_ms",
    "first_output_boot_ms",
    "outcome",
  ].includes(c.name)
);

/**
 * Timings from the launcher's `instances.csv` text, in instance order
 * (decoded by the library's dataset CSV codec, `fromCsvDataset`).
 *
 * @example
 * ```ts
 * import { timingsFromCsv } from "./fidelity.ts";
 * const t = timingsFromCsv("instance,scheduled_ms,t_s_ms,boot_ms,first_output_boot_ms,outcome\n0,,0.01,80.5,80.1,ready\n");
 * console.log(t[0].boot_ms, t[0].scheduled_ms); // 80.5 null
 * ```
 */
export function timingsFromCsv(text: string, file = "instances.csv"): Timing[] {
  const rows = fromCsvDataset(text, TIMING_COLUMNS, { file }).objects() as {
    instance: number;
    scheduled_ms: number | null;
    t_s_ms: number | null;
    boot_ms: number | null;
    first_output_boot_ms: number | null;
    outcome: string;
  }[];
  return rows.map((r) => ({
    instance: r.instance,
    scheduled_ms: r.scheduled_ms,
    t_s_ms: r.t_s_ms ?? 0, // as before (an empty field read as 0)
    boot_ms: r.boot_ms,
    first_output_boot_ms: r.first_output_boot_ms,
    outcome: r.outcome,
  })).sort((a, b) => a.instance - b.instance);
}

function fmt(v: number | null, digits = 1): string {
  return v === null ? "–" : v.toFixed(digits);
}

function fmtCi(ci: [number, number] | null): string {
  return ci ? `${ci[0].toFixed(3)}–${ci[1].toFixed(3)}` : "–";
}

/**
 * The report as Markdown: tables for boot time, schedule error and floors.
 *
 * @example
 * ```ts
 * import { renderFidelityMarkdown } from "./fidelity.ts";
 * // const report = await runFidelity({ quick: true });
 * // console.log(renderFidelityMarkdown(report));
 * console.log(typeof renderFidelityMarkdown); // "function"
 * ```
 */
export function renderFidelityMarkdown(report: FidelityReport): string {
  const out: string[] = [];
  const h = report.host;
  out.push(
    `### Launcher fidelity vs the C harness (${report.profile}, ${report.accel}, ${report.date})`,
    "",
    `Host: ${h.cpu_model}, ${h.cores} cores, Linux ${h.kernel}; ` +
      `${report.qemu_version ?? "QEMU ?"}; load average before: ${
        report.loadavg_before.join(" ")
      }, after: ${report.loadavg_after.join(" ")}.`,
    "",
    `Command: \`${report.command}\``,
  );
  if ((report.loadavg_before[0] ?? 0) > h.cores / 2) {
    out.push(
      "",
      `⚠️ The host was busy before the run (1-minute load ${
        report.loadavg_before[0]
      } on ${h.cores} cores): other work inflates and scatters every number below.`,
    );
  }
  if (report.sampling) {
    const f = (x: number | null) => (x === null ? "–" : x.toFixed(0));
    out.push(
      "",
      `Memory sampling on both sides (the same C sampler, 0.5 ms, the run's cgroup plus /proc/meminfo every 20th): launcher ${
        f(report.sampling.launcher_hz)
      } samples/s (${report.sampling.launcher_source ?? "?"}), C harness ${
        f(report.sampling.c_hz)
      } samples/s (medians over batches).`,
    );
  }
  if (report.boot.length) out.push("", renderBootTable(report.boot));
  if (report.schedule.length) {
    out.push("", renderScheduleTable(report.schedule));
  }
  if (report.floor.length) out.push("", renderFloorTable(report.floor));
  out.push(
    "",
    `Overall: ${report.pass ? "all goals met" : "some goals missed"}.`,
  );
  return out.join("\n") + "\n";
}

/**
 * The back-to-back boot-ratio table (with its explanation) as Markdown.
 *
 * @example
 * ```ts
 * import { compareBoot, renderBootTable } from "./fidelity.ts";
 * const row = (boot_ms: number) => ({ instance: 0, scheduled_ms: null, t_s_ms: 0, boot_ms, first_output_boot_ms: null, outcome: "ready" });
 * console.log(renderBootTable([compareBoot(1, { launcher: [[row(102)]], c: [[row(100)]] })]).includes("1.020")); // true
 * ```
 */
export function renderBootTable(boot: readonly BootComparison[]): string {
  const out = [
    "Median boot_ms (T_e − T_s) over all instances of all repeats, back-to-back, A/B alternating; " +
    "95% intervals by bootstrap over instances, and over whole storms (wider when storms differ more than their instances: then the ratio is noise-limited at this many repeats). T_s span: last − first T_s of a run (median over repeats); " +
    "a side that starts its instances more slowly boots each under less contention. " +
    "Steal: the host's steal time (/proc/stat), median per storm: the launcher's from T_0 until every boot had ended (run.json `steal_ms_while_booting`), the C harness's over its run. " +
    "Start lag: from the end of the host-memory warm-up to T_0, median: the launcher's (its CLI starting up, run.json `t0_monotonic_ms`) and the wait the C harness was given to match it, so that both storms begin in the same host state (this VM hands free memory back to its host within seconds). " +
    "❌ spread: the launcher's span exceeds C's by more than 3% of C's median boot_ms, so the ratio is not like for like.",
    "",
    "| N | repeats | launcher median ms | C median ms | launcher / C | 95% interval | over storms | goal | launcher p10–p90 | C p10–p90 | T_s span ms (L/C) | not ready (L/C) | steal ms per storm (L/C) | start lag ms (L/C) | |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const b of boot) {
    out.push(
      `| ${b.n} | ${b.repeats} | ${fmt(b.launcher.median_ms)} | ${
        fmt(b.c.median_ms)
      } | ${fmt(b.ratio, 3)} | ${fmtCi(b.ratio_ci95)} | ${
        fmtCi(b.ratio_ci95_storms ?? null)
      } | ≤ ${b.goal} | ` +
        `${fmt(b.launcher.p10_ms)}–${fmt(b.launcher.p90_ms)} | ${
          fmt(b.c.p10_ms)
        }–${fmt(b.c.p90_ms)} | ` +
        `${fmt(b.launcher.t_s_span_ms)}/${fmt(b.c.t_s_span_ms)} | ` +
        `${b.launcher.failed}/${b.c.failed} | ${
          b.steal_ms
            ? `${fmt(b.steal_ms.launcher, 0)}/${fmt(b.steal_ms.c, 0)}`
            : "–"
        } | ${
          b.start_lag_ms
            ? `${fmt(b.start_lag_ms.launcher, 0)}/${fmt(b.start_lag_ms.c, 0)}`
            : "–"
        } | ${b.pass ? "✅" : b.like_for_like ? "❌" : "❌ spread"} |`,
    );
  }
  return out.join("\n");
}

/**
 * The T_s schedule-error table (p50 / p99 / max / min per side) as Markdown.
 *
 * @example
 * ```ts
 * import { compareSchedule, renderScheduleTable } from "./fidelity.ts";
 * const c = compareSchedule({ launcher: [0.1, 0.2], c: [0.1, 0.4] }, { n: 32, intervalMs: 5 });
 * console.log(renderScheduleTable([c]).includes("32 × 5 ms")); // true
 * ```
 */
export function renderScheduleTable(
  schedule: readonly ScheduleComparison[],
): string {
  const out = [
    "T_s schedule error (t_s_ms − scheduled_ms), ms, all instances of all repeats.",
    "",
    "| N × interval | repeats | side | p50 | p99 | max | min | |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const s of schedule) {
    for (const [side, v] of [["launcher", s.launcher], ["C", s.c]] as const) {
      out.push(
        `| ${s.n} × ${s.interval_ms} ms | ${s.repeats} | ${side} | ${
          fmt(v.p50_ms, 3)
        } | ${fmt(v.p99_ms, 3)} | ` +
          `${fmt(v.max_ms, 3)} | ${fmt(v.min_ms, 3)} | ${
            side === "launcher" ? (s.pass ? "✅" : "❌") : ""
          } |`,
      );
    }
  }
  out.push(
    "",
    `Goal: launcher p99 ≤ ${SCHEDULE_P99_GOAL_MS} ms and ≤ the C harness's p99.`,
  );
  return out.join("\n");
}

/**
 * The floors table (launcher vs C, one instance at a time) as Markdown.
 *
 * @example
 * ```ts
 * import { compareFloor, renderFloorTable } from "./fidelity.ts";
 * const row = (boot_ms: number) => ({ instance: 0, scheduled_ms: null, t_s_ms: 0, boot_ms, first_output_boot_ms: null, outcome: "ready" });
 * const f = compareFloor({ launcher: [[row(3)]], c: [[row(1)]] }, { name: "true", argv: ["/bin/true"], n: 1 });
 * console.log(renderFloorTable([f]).includes("| true |")); // true
 * ```
 */
export function renderFloorTable(floor: readonly FloorComparison[]): string {
  const out = [
    "Floors, one instance at a time (launcher `--parallel 1`, C `-p 1`): median boot_ms (no goal).",
    "",
    "| floor | N × repeats | launcher median ms | C median ms | launcher / C | 95% interval | launcher min | C min |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const f of floor) {
    out.push(
      `| ${f.name} | ${f.n} × ${f.repeats} | ${
        fmt(f.launcher.median_ms, 2)
      } | ${fmt(f.c.median_ms, 2)} | ${fmt(f.ratio, 2)} | ${
        fmtCi(f.ratio_ci95)
      } | ${fmt(f.launcher.min_ms, 2)} | ${fmt(f.c.min_ms, 2)} |`,
    );
  }
  return out.join("\n");
}

// ---------------------------------------------------------------- effects

/**
 * How to run the launcher CLI (argv prefix); tests can point it elsewhere.
 *
 * @example
 * ```ts
 * import { defaultLauncherCommand } from "./fidelity.ts";
 * console.log(defaultLauncherCommand().at(-1)?.endsWith("cli/sweep.ts")); // true
 * ```
 */
export function defaultLauncherCommand(): string[] {
  return [Deno.execPath(), "run", "-A", `${ROOT}cli/sweep.ts`];
}

/** Options of {@link runLauncherBatch}. */
export interface LauncherBatchOptions {
  /** Profile name or path to a profile .json. */
  profile: string;
  accel: string;
  /** Interval in ms; absent = back-to-back (unless `parallel`). */
  intervalMs?: number;
  /** Closed loop with this parallelism instead. */
  parallel?: number;
  /** Parent folder for the run folder. */
  outDir: string;
  /** argv prefix of the launcher CLI (default {@link defaultLauncherCommand}). */
  command?: string[];
}

/** What one launcher run gave back. */
export interface LauncherBatch {
  runDir: string;
  rows: Timing[];
  /** run.json as written by the launcher. */
  run: Record<string, unknown>;
}

/**
 * Runs one launcher batch through its CLI and reads back `instances.csv` and
 * `run.json` from the run folder it prints last.
 *
 * @example
 * ```ts
 * import { runLauncherBatch } from "./fidelity.ts";
 * const b = await runLauncherBatch(16, { profile: "minkernel-microvm", accel: "tcg", outDir: "/tmp/fid" });
 * console.log(b.rows.length); // 16
 * ```
 */
export async function runLauncherBatch(
  count: number,
  options: LauncherBatchOptions,
): Promise<LauncherBatch> {
  const [cmd, ...pre] = options.command ?? defaultLauncherCommand();
  const pattern = options.parallel
    ? ["--parallel", String(options.parallel)]
    : options.intervalMs
    ? ["--interval", String(options.intervalMs)]
    : ["--back-to-back"];
  const args = [
    ...pre,
    "--image",
    options.profile,
    "--count",
    String(count),
    ...pattern,
    "--accel",
    options.accel,
    "--out",
    options.outDir,
    // Stop each instance at ready with SIGKILL, as the C harness does: a
    // graceful QEMU exit (SIGTERM) costs the guests still booting.
    "--grace",
    "0",
  ];
  // Stays on Deno.Command: this is the measured launcher itself, run as the paper's users run it.
  const r = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(r.stdout).trim();
  if (!r.success) {
    const err = new TextDecoder().decode(r.stderr).trim();
    throw new Error(
      `Cannot run the launcher (${[cmd, ...args].join(" ")}): exit ${r.code}\n${
        err.slice(-2000)
      }`,
    );
  }
  const lines = stdout.split("\n").map((l) => l.trim()).filter(Boolean);
  const last = (lines.at(-1) ?? "").replace(/\/$/, "");
  const runDir = last.startsWith("/") ? last : `${ROOT}${last}`;
  let csv: string;
  try {
    csv = await Deno.readTextFile(`${runDir}/instances.csv`);
  } catch (e) {
    throw new Error(
      `Cannot read the launcher's run folder "${runDir}" (last stdout line): ${
        (e as Error).message
      }`,
    );
  }
  const run = JSON.parse(await Deno.readTextFile(`${runDir}/run.json`));
  return { runDir, rows: timingsFromCsv(csv, `${runDir}/instances.csv`), run };
}

/**
 * CPU model, cores, kernel and host name, for a report.
 *
 * @example
 * ```ts
 * import { hostInfo } from "./fidelity.ts";
 * console.log((await hostInfo()).cores > 0); // true
 * ```
 */
export async function hostInfo(): Promise<FidelityReport["host"]> {
  let cpu = "unknown";
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    cpu = info.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? cpu;
  } catch { /* not Linux */ }
  return {
    cpu_model: cpu,
    cores: navigator.hardwareConcurrency,
    kernel: Deno.osRelease(),
    hostname: Deno.hostname(),
  };
}

/**
 * The 1-, 5- and 15-minute load averages (empty when unknown).
 *
 * @example
 * ```ts
 * import { loadavg } from "./fidelity.ts";
 * console.log((await loadavg()).length); // 3 on Linux
 * ```
 */
export async function loadavg(): Promise<number[]> {
  try {
    return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * First line of `<bin> --version`, or null.
 *
 * @example
 * ```ts
 * import { qemuVersion } from "./fidelity.ts";
 * console.log(await qemuVersion("qemu-system-x86_64"));
 * ```
 */
export async function qemuVersion(bin: string): Promise<string | null> {
  const r = await execa(bin, ["--version"], {
    reject: false,
    stdin: "ignore",
    stderr: "ignore",
  });
  return String(r.stdout ?? "").split("\n")[0].trim() || null;
}

async function readyFromRun(
  run: Record<string, unknown>,
): Promise<HarnessReady> {
  const profile = run.profile as { path?: string } | undefined;
  const fallback: HarnessReady = { line: "Hello" };
  if (!profile?.path) return fallback;
  try {
    const ready = JSON.parse(await Deno.readTextFile(profile.path)).ready;
    return (ready as HarnessReady | undefined) ?? fallback;
  } catch {
    return fallback;
  }
}

function argvFromRun(run: Record<string, unknown>): string[] {
  const argv = run.argv;
  if (
    !Array.isArray(argv) || argv.length === 0 ||
    !argv.every((a) => typeof a === "string")
  ) {
    throw new Error(
      `Cannot run the fidelity benchmark: the launcher's run.json has no "argv" array of strings`,
    );
  }
  return argv;
}

type SideName = "launcher" | "c";

/**
 * Runs `repeats` A/B pairs, launcher first on even repeats and C first on odd
 * ones, and collects each side's rows per repeat.
 *
 * @example
 * ```ts
 * import { alternate } from "./fidelity.ts";
 * const runs = await alternate(2, async () => []);
 * console.log(runs.launcher.length, runs.c.length); // 2 2
 * ```
 */
export async function alternate(
  repeats: number,
  run: (side: SideName, repeat: number) => Promise<Timing[]>,
): Promise<{ launcher: Timing[][]; c: Timing[][] }> {
  const runs = { launcher: [] as Timing[][], c: [] as Timing[][] };
  for (let r = 0; r < repeats; r++) {
    const order: SideName[] = r % 2 === 0
      ? ["launcher", "c"]
      : ["c", "launcher"];
    for (const side of order) runs[side].push(await run(side, r));
  }
  return runs;
}

/** A prepared pair of runners for one profile (see {@link prepareSides}). */
export interface Sides {
  /** argv as the launcher expanded it (run.json). */
  argv: string[];
  ready: HarnessReady;
  launcher(
    n: number,
    pattern?: { intervalMs?: number; parallel?: number },
  ): Promise<Timing[]>;
  c(
    n: number,
    pattern?: { intervalMs?: number; parallel?: number },
  ): Promise<Timing[]>;
  /**
   * T_0 of the last launcher batch on CLOCK_MONOTONIC, ms (run.json
   * `t0_monotonic_ms`), or null: when the launcher's storm began, against
   * the benchmark's own clock.
   */
  lastLauncherT0?(): number | null;
}

/** Options of {@link prepareSides}. */
export interface SidesOptions {
  accel: string;
  /** Folder for the launcher's run folders (each removed after reading). */
  outDir: string;
  /** C harness binary (default: build it). */
  binary?: string;
  /** Per-instance timeout of the C harness, ms (default 30000). */
  timeoutMs?: number;
  /** Launcher CLI argv prefix. */
  launcherCommand?: string[];
  /** Sample memory on the C side as the launcher does (default true). */
  sample?: boolean;
}

/** Achieved sampling rates of the C side's sampler, one per harness run. */
export const cSamplerRates: number[] = [];
/** Achieved sampling rates of the launcher, one per batch (run.json). */
export const launcherSamplerRates: number[] = [];
/**
 * The host's steal from T_0 until every boot had ended in each launcher
 * storm (run.json `steal_ms_while_booting`): the storm's own, without the
 * CLI's start and exit around it.
 */
export const launcherBootSteal: number[] = [];
let launcherSamplerSource: string | null = null;

/**
 * What one storm cost the side that measured it, from T_0 to the last reap:
 * its own process (the C harness; the launcher), the launcher's spawn helper
 * process (fork mode) and the memory sampler process, in ms of CPU.
 */
export interface SideCost {
  side: "c" | "launcher";
  n: number;
  /** The harness's or the launcher's own process. */
  cpuMs: number | null;
  /** The launcher's spawn helper process (null: C side, or not fork mode). */
  helperCpuMs: number | null;
  /**
   * The memory sampler process: its share of one core over its own life
   * (run.json `memory_sampler.cpu_share_of_one_core`) times `wallMs`, the
   * same on both sides (null: sampling off).
   */
  samplerCpuMs: number | null;
  /** T_0 to the last reap. */
  wallMs: number | null;
}

/** One entry per storm either side ran, in run order. */
export const sideCosts: SideCost[] = [];

/**
 * A storm's whole measuring cost as a share of one core over T_0 → last
 * reap: own process + spawn helper + sampler (null without a wall time or
 * its own CPU).
 *
 * @example
 * ```ts
 * import { sideCostShare } from "./fidelity.ts";
 * console.log(sideCostShare({ side: "c", n: 4, cpuMs: 30, helperCpuMs: null, samplerCpuMs: 20, wallMs: 1000 })); // 0.05
 * ```
 */
export function sideCostShare(c: SideCost): number | null {
  if (!c.wallMs || c.cpuMs === null) return null;
  return (c.cpuMs + (c.helperCpuMs ?? 0) + (c.samplerCpuMs ?? 0)) / c.wallMs;
}

/** A sampler's CPU share over its own life, as ms over a storm's wall time. */
const samplerMsOver = (
  share: number | null | undefined,
  wallMs: number | null | undefined,
): number | null => share != null && wallMs ? share * wallMs : null;

/**
 * Warms both sides up with one instance each and returns runners for them;
 * the launcher's run.json gives the exact argv the C harness then runs.
 *
 * @example
 * ```ts
 * import { prepareSides } from "./fidelity.ts";
 * const sides = await prepareSides("minkernel-microvm", { accel: "tcg", outDir: "/tmp/fid" });
 * console.log((await sides.c(2)).length); // 2
 * ```
 */
export async function prepareSides(
  profile: string,
  options: SidesOptions,
): Promise<Sides> {
  const binary = options.binary ?? await buildHarness();
  const launcher = async (
    n: number,
    pattern: { intervalMs?: number; parallel?: number } = {},
  ) => {
    const b = await runLauncherBatch(n, {
      profile,
      accel: options.accel,
      outDir: options.outDir,
      command: options.launcherCommand,
      ...pattern,
    });
    await Deno.remove(b.runDir, { recursive: true }).catch(() => {});
    const ms = b.run.memory_sampler as
      | {
        achieved_hz?: number;
        source?: string;
        cpu_share_of_one_core?: number | null;
      }
      | null;
    if (ms?.achieved_hz) launcherSamplerRates.push(ms.achieved_hz);
    const steal = b.run.steal_ms_while_booting;
    if (typeof steal === "number") launcherBootSteal.push(steal);
    if (ms?.source) launcherSamplerSource = ms.source;
    const l = b.run.launcher as
      | { cpu_ms_from_t0?: number | null; spawn_helper_cpu_ms?: number | null }
      | undefined;
    sideCosts.push({
      side: "launcher",
      n,
      cpuMs: l?.cpu_ms_from_t0 ?? null,
      helperCpuMs: l?.spawn_helper_cpu_ms ?? null,
      samplerCpuMs: samplerMsOver(
        ms?.cpu_share_of_one_core,
        b.run.wall_ms as number | undefined,
      ),
      wallMs: (b.run.wall_ms as number | undefined) ?? null,
    });
    return b;
  };
  const warm = await launcher(1);
  const argv = argvFromRun(warm.run);
  const ready = await readyFromRun(warm.run);
  // The C side samples memory like the launcher does: the same C sampler
  // process, at the same interval and in the same (quiet) mode, on a cgroup
  // its children join (or on /proc/meminfo every tick without one), so the
  // two sides pay the same.
  const c = async (
    n: number,
    pattern: { intervalMs?: number; parallel?: number } = {},
  ) => {
    const cg = options.sample === false ? "sampling off" : createRunCgroup(
      `harness-${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`,
    );
    const sampler = options.sample === false ? null : await startCSampler({
      cgroupUsageFile: typeof cg === "string" ? null : cg.usageFile,
      meminfoEvery: typeof cg === "string" ? 1 : 20,
      // the launcher's default mode (the rate without a v1 cgroup)
      quietStepKib: DEFAULT_QUIET_STEP_KIB,
      onSamples: () => {},
    });
    // Held on the rate while the harness's instances boot, as the launcher
    // holds its own (launch.ts).
    sampler?.holdRate(true);
    let run: HarnessRun | null = null;
    try {
      run = await runHarnessWithCost(argv, {
        count: n,
        ready,
        timeoutMs: options.timeoutMs ?? 30000,
        binary,
        cgroupProcs: typeof cg === "string" ? undefined : cg.procsFile,
        ...pattern,
      });
      return run.rows;
    } finally {
      const st = await sampler?.stop();
      if (st) cSamplerRates.push(st.achieved_hz);
      if (typeof cg !== "string") removeRunCgroup(cg);
      if (run) {
        sideCosts.push({
          side: "c",
          n,
          cpuMs: run.cpuMs,
          helperCpuMs: null,
          samplerCpuMs: samplerMsOver(st?.cpu_share_of_one_core, run.wallMs),
          wallMs: run.wallMs,
        });
      }
    }
  };
  await c(1);
  let lastT0: number | null = null;
  return {
    argv,
    ready,
    launcher: async (n, pattern) => {
      const b = await launcher(n, pattern);
      const t0 = b.run.t0_monotonic_ms;
      lastT0 = typeof t0 === "number" ? t0 : null;
      return b.rows;
    },
    c,
    lastLauncherT0: () => lastT0,
  };
}

type Log = (message: string) => void;

/**
 * Back-to-back boot-time comparison for each N.
 *
 * @example
 * ```ts
 * import { measureBoot, prepareSides } from "./fidelity.ts";
 * const sides = await prepareSides("minkernel-microvm", { accel: "tcg", outDir: "/tmp/fid" });
 * const { comparisons } = await measureBoot(sides, { plan: [{ n: 1, repeats: 5 }] });
 * console.log(comparisons[0].ratio);
 * ```
 */
export async function measureBoot(
  sides: Sides,
  options: {
    plan: { n: number; repeats: number }[];
    log?: Log;
    /**
     * Runs right before every storm of either side (for example: wait until
     * no QEMU is left, then warm the host's memory), outside the timing.
     */
    before?: (n: number) => Promise<void>;
    /**
     * Start the C harness as long after `before` as the launcher's T_0
     * came after it (the median so far at this N; default true). The
     * launcher's CLI takes ~0.5-1 s from its start to T_0; on a host that
     * hands free memory back to its hypervisor (free page reporting) the
     * memory warmed by `before` is partly gone by then, and a harness
     * started at once boots its storm in a warmer host: measured, 12
     * rotating rounds of 64, the harness at once 799 ms, the same harness
     * 700 ms after the warm-up 879 ms (1.100), the launcher 865 ms
     * (`bench/start_lag_ab.ts`).
     */
    equalStartLag?: boolean;
  },
): Promise<{ comparisons: BootComparison[]; raw: Record<string, RawBoot> }> {
  const log = options.log ?? (() => {});
  const comparisons: BootComparison[] = [];
  const raw: Record<string, RawBoot> = {};
  const equal = options.equalStartLag !== false && !!sides.lastLauncherT0;
  for (const { n, repeats } of options.plan) {
    const steal = { launcher: [] as number[], c: [] as number[] };
    const lags = { launcher: [] as number[], c: [] as number[] };
    const runs = await alternate(repeats, async (side, r) => {
      log(`fidelity: N=${n} back-to-back, repeat ${r + 1}/${repeats}, ${side}`);
      await options.before?.(n);
      const ready = monotonicMs();
      if (equal && side === "c") {
        // The launcher goes first at every N (alternate()): its lag is known.
        const wait = lags.launcher.length ? median(lags.launcher) : 0;
        lags.c.push(wait);
        if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      }
      const s0 = stealMs();
      const known = launcherBootSteal.length;
      const t = await sides[side](n);
      if (side === "launcher") {
        const t0 = sides.lastLauncherT0?.() ?? null;
        if (t0 !== null && t0 > ready) lags.launcher.push(t0 - ready);
      }
      // The launcher's own record of its boots' window when it has one (a
      // CLI call also starts and ends a process around the storm: 100 ms
      // of steal over the call against 10 while booting, median of 24
      // storms of 16); the harness's call is its storm.
      steal[side].push(
        side === "launcher" && launcherBootSteal.length > known
          ? launcherBootSteal.at(-1)!
          : stealMs() - s0,
      );
      return t;
    });
    const cmp = {
      ...compareBoot(n, runs),
      steal_ms: { launcher: median(steal.launcher), c: median(steal.c) },
      start_lag_ms: equal
        ? {
          launcher: lags.launcher.length ? median(lags.launcher) : null,
          c: median(lags.c),
        }
        : null,
    };
    log(
      `fidelity: N=${n}: launcher ${fmt(cmp.launcher.median_ms)} ms, C ${
        fmt(cmp.c.median_ms)
      } ms, ratio ${fmt(cmp.ratio, 3)} (${fmtCi(cmp.ratio_ci95)}; storms ${
        fmtCi(cmp.ratio_ci95_storms ?? null)
      })`,
    );
    comparisons.push(cmp);
    raw[`n${n}`] = {
      launcher: runs.launcher.flat().map((t) => t.boot_ms),
      c: runs.c.flat().map((t) => t.boot_ms),
    };
  }
  return { comparisons, raw };
}

/**
 * T_s schedule-error comparison for each interval run.
 *
 * @example
 * ```ts
 * import { measureSchedule, prepareSides } from "./fidelity.ts";
 * const sides = await prepareSides("minkernel-microvm", { accel: "tcg", outDir: "/tmp/fid" });
 * const { comparisons } = await measureSchedule(sides, { plan: [{ n: 32, intervalMs: 5, repeats: 1 }] });
 * console.log(comparisons[0].launcher.p99_ms);
 * ```
 */
export async function measureSchedule(
  sides: Sides,
  options: {
    plan: { n: number; intervalMs: number; repeats: number }[];
    log?: Log;
  },
): Promise<{
  comparisons: ScheduleComparison[];
  raw: Record<string, { launcher: number[]; c: number[] }>;
}> {
  const log = options.log ?? (() => {});
  const comparisons: ScheduleComparison[] = [];
  const raw: Record<string, { launcher: number[]; c: number[] }> = {};
  for (const { n, intervalMs, repeats } of options.plan) {
    const runs = await alternate(repeats, (side, r) => {
      log(
        `fidelity: N=${n} every ${intervalMs} ms, repeat ${
          r + 1
        }/${repeats}, ${side}`,
      );
      return sides[side](n, { intervalMs });
    });
    const errs = {
      launcher: runs.launcher.flatMap(scheduleErrors),
      c: runs.c.flatMap(scheduleErrors),
    };
    const cmp = compareSchedule(errs, { n, intervalMs, repeats });
    log(
      `fidelity: ${n} × ${intervalMs} ms: p99 launcher ${
        fmt(cmp.launcher.p99_ms, 3)
      } ms, C ${fmt(cmp.c.p99_ms, 3)} ms`,
    );
    comparisons.push(cmp);
    raw[`n${n}_i${intervalMs}`] = errs;
  }
  return { comparisons, raw };
}

/** A floor to time: a profile (name or path) and a label. */
export interface FloorSpec {
  name: string;
  profile: string;
}

/**
 * Writes the floor profiles into `dir` (the QEMU one needs a monitor input
 * file holding `quit`) and returns them: fork+exec of `/bin/true`, QEMU
 * start → exit with no guest (`-M none`, the monitor reads `quit` from a
 * pipe chardev), and `bootProfile` booted one at a time.
 *
 * @example
 * ```ts
 * import { writeFloorProfiles } from "./fidelity.ts";
 * const floors = await writeFloorProfiles(await Deno.makeTempDir(), { bootProfile: "minkernel-microvm" });
 * console.log(floors.map((f) => f.name));
 * ```
 */
export async function writeFloorProfiles(
  dir: string,
  options: { bootProfile: string },
): Promise<FloorSpec[]> {
  await Deno.writeTextFile(`${dir}/qemu-quit.in`, "quit\n");
  await Deno.writeTextFile(`${dir}/qemu-quit.out`, "");
  const profiles = {
    "floor-true": {
      name: "floor-true",
      argv: ["/bin/true"],
      ready: { exit: true },
      timeoutMs: 10000,
      teardown: "wait-exit",
      description: "fork+exec of a trivial binary",
    },
    "floor-qemu-none": {
      name: "floor-qemu-none",
      argv: [
        "qemu-system-x86_64",
        "${accel}",
        "-M",
        "none",
        "-display",
        "none",
        "-nodefaults",
        "-no-user-config",
        "-chardev",
        `pipe,id=mon,path=${dir}/qemu-quit`,
        "-mon",
        "chardev=mon",
      ],
      ready: { exit: true },
      timeoutMs: 10000,
      teardown: "wait-exit",
      description: "QEMU start → exit with no guest: the monitor reads `quit`",
    },
  };
  const specs: FloorSpec[] = [];
  for (const [file, p] of Object.entries(profiles)) {
    await Deno.writeTextFile(`${dir}/${file}.json`, JSON.stringify(p, null, 2));
  }
  specs.push({
    name: "fork+exec /bin/true",
    profile: `${dir}/floor-true.json`,
  });
  specs.push({
    name: "QEMU -M none start→exit",
    profile: `${dir}/floor-qemu-none.json`,
  });
  specs.push({
    name: `${options.bootProfile} boot`,
    profile: options.bootProfile,
  });
  return specs;
}

/**
 * Floors timed one at a time by both sides (launcher `--parallel 1`, C `-p 1`).
 *
 * @example
 * ```ts
 * import { measureFloors } from "./fidelity.ts";
 * const { comparisons } = await measureFloors("minkernel-microvm", { accel: "tcg", outDir: "/tmp/fid", n: 10, repeats: 2 });
 * console.log(comparisons.map((f) => [f.name, f.ratio]));
 * ```
 */
export async function measureFloors(
  bootProfile: string,
  options: SidesOptions & { n: number; repeats: number; log?: Log },
): Promise<{ comparisons: FloorComparison[]; raw: Record<string, RawBoot> }> {
  const log = options.log ?? (() => {});
  const dir = await Deno.makeTempDir({ prefix: "bootstorm-floor-" });
  try {
    const comparisons: FloorComparison[] = [];
    const raw: Record<string, RawBoot> = {};
    for (const spec of await writeFloorProfiles(dir, { bootProfile })) {
      log(`fidelity: floor ${spec.name}: warm-up`);
      const sides = await prepareSides(spec.profile, options);
      const runs = await alternate(options.repeats, (side, r) => {
        log(
          `fidelity: floor ${spec.name}, repeat ${
            r + 1
          }/${options.repeats}, ${side}`,
        );
        return sides[side](options.n, { parallel: 1 });
      });
      const cmp = compareFloor(runs, {
        name: spec.name,
        argv: sides.argv,
        n: options.n,
      });
      log(
        `fidelity: floor ${spec.name}: launcher ${
          fmt(cmp.launcher.median_ms, 2)
        } ms, C ${fmt(cmp.c.median_ms, 2)} ms, ratio ${fmt(cmp.ratio, 2)}`,
      );
      comparisons.push(cmp);
      raw[spec.name] = {
        launcher: runs.launcher.flat().map((t) => t.boot_ms),
        c: runs.c.flat().map((t) => t.boot_ms),
      };
    }
    return { comparisons, raw };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Options of {@link runFidelity}. */
export interface FidelityOptions {
  /** Short run: N = 1 and 16 only, fewer repeats. */
  quick?: boolean;
  /** Profile name or path (default `minkernel-microvm`). */
  profile?: string;
  /** Accelerator passed to the launcher (default `tcg`). */
  accel?: string;
  /** Back-to-back Ns and repeats (default: {@link fidelityPlan}). */
  boot?: { n: number; repeats: number }[];
  /** Interval runs for the schedule error (default: {@link fidelityPlan}). */
  schedule?: { n: number; intervalMs: number; repeats: number }[];
  /** Floors: instances per run and repeats; null skips them. */
  floor?: { n: number; repeats: number } | null;
  /** Per-instance timeout for the C harness, ms (default 30000). */
  timeoutMs?: number;
  /** Launcher CLI argv prefix (default {@link defaultLauncherCommand}). */
  launcherCommand?: string[];
  /** Progress messages (default: stderr). */
  log?: Log;
  /** Command line recorded in the report. */
  commandLine?: string;
}

/** The measurement plan of a full or quick run. */
export interface FidelityPlan {
  boot: { n: number; repeats: number }[];
  schedule: { n: number; intervalMs: number; repeats: number }[];
  floor: { n: number; repeats: number };
}

/**
 * Default plan. Full: N = 1 (40 repeats: one boot varies by about ±6%, and
 * with 15 the interval over storms was 0.86-1.17, too wide to resolve 3%),
 * 16 (16) and 64 (8) back-to-back; 32 × 5 ms (3 repeats); floors 20 × 3. Quick: N = 1 (5), 16 (2); 32 × 5 ms once;
 * floors 10 × 1.
 *
 * @example
 * ```ts
 * import { fidelityPlan } from "./fidelity.ts";
 * console.log(fidelityPlan(false).boot.map((b) => b.n)); // [1, 16, 64]
 * ```
 */
export function fidelityPlan(quick: boolean): FidelityPlan {
  return quick
    ? {
      boot: [{ n: 1, repeats: 5 }, { n: 16, repeats: 2 }],
      schedule: [{ n: 32, intervalMs: 5, repeats: 1 }],
      floor: { n: 10, repeats: 1 },
    }
    : {
      // Storms of 16 and 64 differ from one another by 20-40% here (steal,
      // host memory): with 10 storms of 16 the interval over storms was
      // 0.93-1.33 (2026-12-02 15:14), and 24-round A/B runs of 16 still
      // moved ±4% from one run to the next (2026-12-03), so 24 of them; a
      // storm of 1 takes ~35 ms, so 40 of those. Storms of 64: 8 gave an
      // interval over storms of 0.97-1.14 and A/B runs of 10-20 rounds
      // 1.03-1.14 on one day (2026-12-04), so 16 (~10 s a pair).
      boot: [{ n: 1, repeats: 40 }, { n: 16, repeats: 24 }, {
        n: 64,
        repeats: 16,
      }],
      schedule: [{ n: 32, intervalMs: 5, repeats: 3 }],
      floor: { n: 20, repeats: 3 },
    };
}

/**
 * Runs the whole comparison: warm-up, back-to-back boot ratios, schedule
 * error, floors.
 *
 * @example
 * ```ts
 * import { renderFidelityMarkdown, runFidelity } from "./fidelity.ts";
 * const report = await runFidelity({ quick: true });
 * console.log(renderFidelityMarkdown(report));
 * ```
 */
export async function runFidelity(
  options: FidelityOptions = {},
): Promise<FidelityReport> {
  const log = options.log ?? ((m: string) => console.error(m));
  const profile = options.profile ?? "minkernel-microvm";
  const accel = options.accel ?? "tcg";
  const plan = fidelityPlan(options.quick ?? false);
  const floorPlan = options.floor === undefined ? plan.floor : options.floor;
  const loadBefore = await loadavg();
  const binary = await buildHarness();
  const outDir = await Deno.makeTempDir({ prefix: "bootstorm-fidelity-" });
  const sideOptions: SidesOptions = {
    accel,
    outDir,
    binary,
    timeoutMs: options.timeoutMs,
    launcherCommand: options.launcherCommand,
  };
  try {
    log(`fidelity: warm-up (launcher N=1, C N=1)`);
    const sides = await prepareSides(profile, sideOptions);
    const boot = await measureBoot(sides, {
      plan: options.boot ?? plan.boot,
      log,
    });
    const schedule = await measureSchedule(sides, {
      plan: options.schedule ?? plan.schedule,
      log,
    });
    const floor = floorPlan
      ? await measureFloors(profile, { ...sideOptions, ...floorPlan, log })
      : { comparisons: [], raw: {} };
    return {
      benchmark: "fidelity",
      date: new Date().toISOString(),
      command: options.commandLine ?? "deno task bench",
      host: await hostInfo(),
      qemu_version: await qemuVersion(sides.argv[0]),
      deno_version: Deno.version.deno,
      profile,
      accel,
      argv: sides.argv,
      ready: sides.ready,
      loadavg_before: loadBefore,
      loadavg_after: await loadavg(),
      boot: boot.comparisons,
      schedule: schedule.comparisons,
      floor: floor.comparisons,
      raw: {
        boot_ms: boot.raw,
        schedule_error_ms: schedule.raw,
        floor_ms: floor.raw,
      },
      pass: boot.comparisons.every((b) => b.pass) &&
        schedule.comparisons.every((s) => s.pass),
      sampling: {
        launcher_hz: orNull(median(launcherSamplerRates)),
        c_hz: orNull(median(cSamplerRates)),
        launcher_source: launcherSamplerSource,
      },
    };
  } finally {
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
  }
}

/**
 * Writes the report to `bench/results/fidelity-<YYYY-MM-DD>.json` (with
 * `-quick` for a quick run, or to `path`) and returns the path.
 *
 * @example
 * ```ts
 * import { runFidelity, writeFidelityJson } from "./fidelity.ts";
 * console.log(await writeFidelityJson(await runFidelity({ quick: true })));
 * ```
 */
export async function writeFidelityJson(
  report: FidelityReport,
  options: { path?: string } = {},
): Promise<string> {
  const quick = / --quick\b/.test(report.command) ? "-quick" : "";
  const path = options.path ??
    `${ROOT}bench/results/fidelity-${report.date.slice(0, 10)}${quick}.json`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")) || ".", {
    recursive: true,
  });
  await Deno.writeTextFile(path, JSON.stringify(report, null, 2) + "\n");
  return path;
}

const HELP =
  `Usage: deno run -A bench/fidelity.ts [--quick] [--no-floor] [--profile NAME] [--accel tcg|kvm|auto] [--out FILE.json]

Compares the bootstorm launcher with a plain C harness of the paper's
Algorithm 1 (bench/c/harness.c, built by this script) on the same guest:
median boot_ms ratio for N = 1, 16, 64 back-to-back (goal ≤ ${BOOT_RATIO_GOAL}),
T_s schedule error at 5 ms for N = 32 (goal p99 ≤ ${SCHEDULE_P99_GOAL_MS} ms, not worse
than C), and floors one at a time (/bin/true, QEMU -M none, a boot; no goal).
Prints Markdown, writes JSON to bench/results/fidelity-<date>.json.
  --quick      N = 1 and 16 only, fewer repeats (about 30 s)
  --no-floor   skip the floors
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      "no-floor": { type: "boolean", default: false },
      profile: { type: "string", default: "minkernel-microvm" },
      accel: { type: "string", default: "tcg" },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const commandLine = ["deno task bench", ...Deno.args].join(" ");
  const report = await runFidelity({
    quick: values.quick,
    profile: values.profile,
    accel: values.accel,
    floor: values["no-floor"] ? null : undefined,
    commandLine,
  });
  console.log(renderFidelityMarkdown(report));
  const path = await writeFidelityJson(report, { path: values.out });
  console.log(`Wrote ${path}`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
