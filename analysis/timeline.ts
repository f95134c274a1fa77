/**
 * Timelines (the paper's Figures 3, 5, 7, 9, 11): one segment per instance
 * from T_s to the end of its boot, the number of instances booting over
 * time, and the memory peak, written as arquero verbs (`orderby`, a
 * `rolling` sum of start and end events, grouped `filter` on `row_number`).
 *
 * {@link memoryPeak} counts the instances booting at each run's peak with a
 * typed-array loop from 100,000 instance rows: it runs inside summarize(),
 * which the 10 M-row benchmark times (bench/results/analysis-arquero-2026-12-01.md).
 *
 * @module
 */

import "@uwdata/flechette";
import * as aq from "arquero";
import { groupKeys, numberColumn, type Table } from "./columns.ts";
import {
  finish,
  nullIfNotFinite,
  requireColumns,
  useTyped,
  withDefaults,
  withGroupId,
} from "./verbs.ts";

const op = aq.op;
// deno-lint-ignore no-explicit-any
type Row = Record<string, any>;
// deno-lint-ignore no-explicit-any
type Params = Record<string, any>;

/** Expression: the column as a number, NaN when null (as the typed paths read it). */
function numberOrNaN(name: string): string {
  const c = `d[${JSON.stringify(name)}]`;
  return `d => ${c} === null || ${c} === undefined ? 0 / 0 : ${c}`;
}

/**
 * One row per instance: `run_id`, `instance`, `t_s_ms` (left end),
 * `boot_end_ms` (right end; null for a spawn failure), `boot_ms`,
 * (`t_s_ms` null for an instance never started: it sorts last),
 * `outcome`, sorted by run (first appearance) then `t_s_ms`.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { timelineSegments } from "./timeline.ts";
 * const t = aq.table({
 *   run_id: ["r", "r"], instance: [0, 1], t_s_ms: [5, 0],
 *   boot_end_ms: [50, null], boot_ms: [45, null], outcome: ["ready", "spawn_failed"],
 * });
 * console.log(timelineSegments(t).array("instance")); // [1, 0]
 * ```
 */
export function timelineSegments(instances: Table): Table {
  requireColumns(instances, ["t_s_ms", "boot_end_ms", "boot_ms"]);
  const t = withGroupId(
    withDefaults(instances, { run_id: null, instance: null, outcome: null }),
    ["run_id"],
    "_run",
  );
  return finish(
    t.derive({
      t_s_ms: numberOrNaN("t_s_ms"),
      ...nullIfNotFinite(["boot_end_ms", "boot_ms"]),
    }).orderby("_run", "t_s_ms", "_row"),
    ["run_id", "instance", "t_s_ms", "boot_end_ms", "boot_ms", "outcome"],
  );
}

/**
 * The number of instances booting over time, as a step series per run: one
 * row (`run_id`, `t_ms`, `booting`) per time at which an instance started or
 * stopped booting, holding the count from that time on. An instance counts
 * on [t_s_ms, boot_end_ms) (the launcher's definition); spawn failures
 * (null boot_end_ms) never count. The first row of each run is t_ms = 0,
 * booting = 0 (T_0) unless an event happens at 0 or before. Verbs: +1 at
 * each start and −1 at each end, a `rolling` sum in time order, and the
 * last event of each time (`lead`).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { bootingOverTime } from "./timeline.ts";
 * const t = aq.table({ run_id: ["r", "r"], t_s_ms: [0, 10], boot_end_ms: [100, 50] });
 * console.log(bootingOverTime(t).array("booting")); // [1, 2, 1, 0]
 * ```
 */
export function bootingOverTime(instances: Table): Table {
  requireColumns(instances, ["t_s_ms", "boot_end_ms"]);
  if (
    instances.numRows() === 0 && !instances.columnNames().includes("run_id")
  ) {
    // no run_id: the table is one run, empty here, still at 0 from T_0
    return aq.from([{ run_id: null, t_ms: 0, booting: 0 }]);
  }
  const t = withGroupId(
    withDefaults(instances, { run_id: null }),
    ["run_id"],
    "_run",
  );
  const spans = t.filter((d: Row) =>
    op.is_finite(d.t_s_ms) && op.is_finite(d.boot_end_ms)
  );
  // +1 at each start, −1 at each end; the running sum in time order, kept
  // at the last event of each time (ends and starts at one time net out)
  const steps = spans.select({ _run: "_run", run_id: "run_id", t_s_ms: "t_ms" })
    .derive({ step: () => 1 })
    .concat(
      spans.select({ _run: "_run", run_id: "run_id", boot_end_ms: "t_ms" })
        .derive({ step: () => -1 }),
    )
    .groupby("_run")
    .orderby("t_ms")
    .derive({
      booting: aq.rolling((d: Row) => op.sum(d.step)),
      _next: (d: Row) => op.lead(d.t_ms),
    })
    .filter((d: Row) => d._next !== d.t_ms)
    .ungroup();
  // T_0: a run starts at 0 instances unless its first event is at 0 or before
  const starts = t.filter((d: Row) => d._row === d._run)
    .select("_run", "run_id")
    .join_left(
      steps.groupby("_run").rollup({ first: op.min("t_ms") }),
      "_run",
    )
    .filter((d: Row) => !(d.first <= 0))
    .derive({ t_ms: () => 0, booting: () => 0 });
  return finish(
    steps.select("_run", "run_id", "t_ms", "booting")
      .concat(starts.select("_run", "run_id", "t_ms", "booting"))
      .orderby("_run", "t_ms", "booting"),
    ["run_id", "t_ms", "booting"],
  );
}

/** Columns of {@link memoryPeak}'s table, in order. */
export const MEMORY_PEAK_COLUMNS = [
  "run_id",
  "samples",
  "baseline_kib",
  "peak_used_kib",
  "peak_t_ms",
  "booting_at_peak",
  "peak_delta_kib",
  "per_booting_kib",
] as const;

/** Options of {@link memoryPeak}. */
export interface MemoryPeakOptions {
  /**
   * How the instances booting at the peak are counted: `"arquero"` (verbs),
   * `"typed"` (a typed-array loop) or `"auto"` (default: typed from 100,000
   * instance rows). Both give the same table.
   */
  engine?: "auto" | "arquero" | "typed";
  /**
   * Which memory curve: `"run"` (`run_used_kib`, the run's own cgroup:
   * exact and attributable), `"system"` (`used_kib`, MemTotal −
   * MemAvailable, the paper's measure) or `"auto"` (default: the run curve
   * when the samples have one).
   */
  curve?: "auto" | "run" | "system";
}

/** The memory column `curve` picks: `run_used_kib` when asked for or present, else `used_kib`. */
export function memoryColumn(
  memory: Table,
  curve: MemoryPeakOptions["curve"] = "auto",
): "run_used_kib" | "used_kib" {
  if (curve === "system") return "used_kib";
  const has = memory.columnNames().includes("run_used_kib") &&
    (memory.array("run_used_kib") as ArrayLike<unknown>).length > 0 &&
    Array.from(memory.array("run_used_kib") as ArrayLike<unknown>).some((v) =>
      typeof v === "number" && Number.isFinite(v)
    );
  if (curve === "run" && !has) {
    throw new Error(
      'Cannot use the run\'s memory curve: these samples have no run_used_kib (measured without a per-run cgroup); use curve: "system"',
    );
  }
  return has ? "run_used_kib" : "used_kib";
}

/**
 * The memory peak of each run, on the run's own curve when the samples have
 * one (see `curve`), else the system's: `baseline_kib` (used_kib of the
 * earliest sample, at T_0), `peak_used_kib` (the largest used_kib; first
 * one on ties) and when (`peak_t_ms`), `booting_at_peak` (instances with
 * t_s_ms ≤ peak_t_ms < boot_end_ms counted from `instances` of the same
 * run when given, else the sample's `booting` column), `peak_delta_kib` =
 * peak − baseline, and `per_booting_kib` = peak_delta_kib / booting_at_peak
 * (null when nothing was booting). A run with no samples is left out.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { memoryPeak } from "./timeline.ts";
 * const memory = aq.table({ run_id: ["r", "r", "r"], t_ms: [0, 5, 10], used_kib: [1000, 1600, 1200], booting: [0, 3, 1] });
 * const p = memoryPeak(memory).object(0) as Record<string, unknown>;
 * console.log(p.peak_used_kib, p.per_booting_kib); // 1600 200
 * ```
 */
export function memoryPeak(
  memory: Table,
  instances?: Table,
  options: MemoryPeakOptions = {},
): Table {
  requireColumns(memory, ["t_ms", "used_kib", "booting"]);
  const col = memoryColumn(memory, options.curve);
  // one grouped pass keeps the few rows that matter: each run's first row
  // (its place in the output), its peak samples and its earliest samples
  const rows = withDefaults(memory, { run_id: null })
    .params({ col })
    .derive({ used_kib: (d: Row, $: Params) => d[$.col] })
    .derive({ _row: () => op.row_number() })
    .groupby("run_id")
    .derive({
      _run: (d: Row) => op.min(d._row),
      samples: (d: Row) => op.valid(d.used_kib),
      _peak: (d: Row) => op.max(d.used_kib),
      _t0: (d: Row) => op.min(op.is_finite(d.used_kib) ? d.t_ms : null),
    })
    .filter((d: Row) =>
      d._row === d._run ||
      (op.is_finite(d.used_kib) &&
        (d.used_kib === d._peak || d.t_ms === d._t0))
    )
    .ungroup()
    .reify();
  const firstOf = (when: (d: Row) => boolean) =>
    rows.filter(when).groupby("_run").filter(() => op.row_number() === 1)
      .ungroup();
  let peaks = firstOf((d: Row) =>
    op.is_finite(d.used_kib) && d.used_kib === d._peak
  )
    .select({
      _run: "_run",
      run_id: "run_id",
      samples: "samples",
      used_kib: "peak_used_kib",
      t_ms: "peak_t_ms",
      booting: "booting_at_peak",
    })
    .join(
      firstOf((d: Row) => op.is_finite(d.used_kib) && d.t_ms === d._t0)
        .select({ _run: "_run", used_kib: "baseline_kib" }),
      "_run",
    )
    .orderby("_run")
    .reify();
  if (instances) {
    const ids = peaks.array("run_id") as unknown[];
    const times = peaks.array("peak_t_ms") as number[];
    const counts = bootingAt(
      instances,
      new Map(ids.map((k, i) => [k, times[i]])),
      options.engine,
    );
    const sampled = peaks.array("booting_at_peak") as unknown[];
    peaks = peaks.assign({
      booting_at_peak: ids.map((k, i) => counts.get(k) ?? sampled[i]),
    });
  }
  return finish(
    peaks.derive({
      booting_at_peak: (d: Row) =>
        op.is_nan(d.booting_at_peak) ? null : d.booting_at_peak,
      peak_delta_kib: (d: Row) => d.peak_used_kib - d.baseline_kib,
    }).derive({
      per_booting_kib: (d: Row) =>
        d.booting_at_peak > 0 ? d.peak_delta_kib / d.booting_at_peak : null,
    }),
    MEMORY_PEAK_COLUMNS,
  );
}

/**
 * For each run of `instances` whose run_id is a key of `at`: how many of
 * its instances were booting at that time (t_s_ms ≤ t < boot_end_ms).
 */
function bootingAt(
  instances: Table,
  at: Map<unknown, number>,
  engine: MemoryPeakOptions["engine"],
): Map<unknown, number> {
  requireColumns(instances, ["t_s_ms", "boot_end_ms"]);
  if (useTyped(instances, engine)) return bootingAtTyped(instances, at);
  // arquero groups by the key's string form (null → "null"), and so does
  // this lookup object; Map keys keep the values themselves
  const peak = Object.fromEntries([...at].map(([k, t]) => [String(k), t]));
  const counts = withDefaults(instances, { run_id: null })
    .params({ peak })
    .filter((d: Row, $: Params) => op.has($.peak, d.run_id))
    .groupby("run_id")
    .rollup({
      booting: (d: Row, $: Params) =>
        op.sum(
          op.is_finite(d.t_s_ms) && op.is_finite(d.boot_end_ms) &&
            d.t_s_ms <= $.peak[d.run_id] && $.peak[d.run_id] < d.boot_end_ms,
        ),
    });
  const ids = counts.array("run_id") as unknown[];
  const n = counts.array("booting") as number[];
  return new Map(ids.map((k, i) => [k, n[i]]));
}

/**
 * {@link bootingAt} on typed arrays: kept for large tables, since it runs
 * inside summarize() on every instance row, which the 10 M-row benchmark
 * times (bench/results/analysis-arquero-2026-12-01.md).
 */
function bootingAtTyped(
  instances: Table,
  at: Map<unknown, number>,
): Map<unknown, number> {
  const inst = groupKeys(instances, "run_id");
  const ts = numberColumn(instances, "t_s_ms");
  const end = numberColumn(instances, "boot_end_ms");
  const peakOf = inst.keys.map((k) => at.has(k) ? at.get(k)! : NaN);
  const counts = new Float64Array(inst.keys.length);
  for (let i = 0; i < ts.length; i++) {
    const r = inst.codes[i];
    const t = peakOf[r];
    if (ts[i] <= t && t < end[i]) counts[r]++;
  }
  const out = new Map<unknown, number>();
  inst.keys.forEach((k, r) => {
    if (at.has(k)) out.set(k, counts[r]);
  });
  return out;
}
