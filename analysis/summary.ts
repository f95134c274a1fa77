/**
 * Summaries per run or per image, MAD-based outliers, and ECDFs, written as
 * arquero verbs (`groupby` + `rollup` with `op.quantile`, grouped `derive`
 * with `op.median`, the `cume_dist` window).
 *
 * {@link summarize} keeps a typed-array fast path from 100,000 rows: on 10 M
 * rows arquero took 44–67 s (38–50 CPU s) against the 3 s goal for load,
 * bins, summary and correlation together, the typed path 1.1–1.9 s
 * (1.3–1.4 CPU s) (bench/results/analysis-arquero-2026-12-01.md, six runs).
 *
 * @module
 */

import "@uwdata/flechette";
import * as aq from "arquero";
import {
  equalsMask,
  groupKeys,
  numberColumn,
  rowGetter,
  type Table,
} from "./columns.ts";
import { groupStats, orNull } from "./grouped.ts";
import { median } from "./quantile.ts";
import { MAD_CONSTANT, MEAN_AD_CONSTANT, OUTLIER_Z } from "./stats.ts";
import { memoryPeak } from "./timeline.ts";
import {
  finish,
  finiteOrNull,
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

/** Options of {@link summarize}. */
export interface SummaryOptions {
  /** Group by run (`run_id`, default) or by image (`image`, pooling its runs). */
  by?: "run" | "image";
  /** Memory samples of the same runs: adds `peak_used_kib` and `per_booting_kib` (see memoryPeak). */
  memory?: Table;
  /**
   * `"arquero"` (verbs), `"typed"` (the typed-array fast path) or `"auto"`
   * (default: typed from 100,000 instance rows). Both give the same table.
   */
  engine?: "auto" | "arquero" | "typed";
}

/** The statistics columns of a summary, null when a group has no value. */
const SUMMARY_STATS = [
  "min_ms",
  "median_ms",
  "mean_ms",
  "max_ms",
  "p90_ms",
  "p99_ms",
  "first_output_median_ms",
  "rss_median_kib",
];

/**
 * One row per run (or image): `n` instances, `ready`, `failed` (timeout,
 * exited_before_ready, spawn_failed), `stopped` (interrupted or not_started:
 * the launcher stopped them, not a failure of the guest),
 * `min_ms`, `median_ms`, `mean_ms`, `max_ms`, `p90_ms`, `p99_ms` of boot_ms
 * over ready instances (type-7 quantiles), `first_output_median_ms`,
 * `rss_median_kib` (median rss_peak_kib of ready instances), and with
 * `memory` the run's `peak_used_kib` and `per_booting_kib` from memoryPeak().
 * Per run the key columns are `run_id`, `image`, `count_n`; per image they
 * are `image`, `runs`, and the memory columns are the largest peak and the
 * median per_booting_kib over the image's runs.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { summarize } from "./summary.ts";
 * const instances = aq.table({
 *   run_id: ["a", "a", "a"], image: ["x", "x", "x"], count_n: [3, 3, 3],
 *   outcome: ["ready", "ready", "timeout"], boot_ms: [100, 140, null],
 *   first_output_boot_ms: [90, 120, null], rss_peak_kib: [4000, 4200, 4100],
 * });
 * const s = summarize(instances).object(0) as Record<string, unknown>;
 * console.log(s.ready, s.failed, s.median_ms); // 2 1 120
 * ```
 */
export function summarize(
  instances: Table,
  options: SummaryOptions = {},
): Table {
  const by = options.by ?? "run";
  return useTyped(instances, options.engine)
    ? summarizeTyped(instances, by, options.memory)
    : summarizeByVerbs(instances, by, options.memory);
}

/** {@link summarize} as arquero verbs. */
function summarizeByVerbs(
  instances: Table,
  by: "run" | "image",
  memory: Table | undefined,
): Table {
  requireColumns(instances, [
    "outcome",
    "boot_ms",
    "first_output_boot_ms",
    "rss_peak_kib",
  ]);
  const key = by === "image" ? "image" : "run_id";
  const ready = "d.outcome === 'ready'";
  const t = withGroupId(
    withDefaults(instances, { run_id: null, image: null, count_n: null }),
    [key],
    "_g",
  ).derive({
    _ready: (d: Row) => d.outcome === "ready",
    // stopped by the launcher, not a failure of the guest
    _stopped: (d: Row) =>
      d.outcome === "interrupted" || d.outcome === "not_started",
    _boot: finiteOrNull("boot_ms", ready),
    _first: finiteOrNull("first_output_boot_ms", ready),
    _rss: finiteOrNull("rss_peak_kib", ready),
  });
  const stats = t.groupby("_g").rollup({
    ...(by === "image" ? { runs: op.distinct("run_id") } : {}),
    n: op.count(),
    ready: op.sum("_ready"),
    stopped: op.sum("_stopped"),
    min_ms: op.min("_boot"),
    median_ms: op.median("_boot"),
    mean_ms: (d: Row) => op.sum(d._boot) / op.valid(d._boot),
    max_ms: op.max("_boot"),
    p90_ms: op.quantile("_boot", 0.9),
    p99_ms: op.quantile("_boot", 0.99),
    first_output_median_ms: op.median("_first"),
    rss_median_kib: op.median("_rss"),
  });
  const keys = by === "run" ? ["run_id", "image", "count_n"] : ["image"];
  let out = t.filter((d: Row) => d._row === d._g)
    .select("_g", ...keys)
    .join(stats, "_g")
    .derive({
      failed: (d: Row) => d.n - d.ready - d.stopped,
      ...nullIfNotFinite(SUMMARY_STATS),
    })
    .orderby("_g");
  const columns = [
    ...keys,
    ...(by === "image" ? ["runs"] : []),
    "n",
    "ready",
    "failed",
    "stopped",
    ...SUMMARY_STATS,
  ];
  if (t.numRows() === 0 && !instances.columnNames().includes(key)) {
    // no key column: the table is one group, empty here, but still a row
    out = aq.from([{
      _g: 1,
      ...Object.fromEntries(columns.map((c) => [
        c,
        ["n", "ready", "failed", "stopped", "runs"].includes(c) ? 0 : null,
      ])),
    }]);
  }
  if (memory) {
    const peaks = peaksByRun(memory, instances);
    if (by === "run") {
      out = out.reify();
      const ids = out.array("run_id") as unknown[];
      out = out.assign({
        peak_used_kib: ids.map((k) => peaks.get(k)?.peak_used_kib ?? null),
        per_booting_kib: ids.map((k) => peaks.get(k)?.per_booting_kib ?? null),
      });
    } else {
      // the image's largest peak and the median per_booting_kib of its runs
      const runs = t.dedupe("_g", "run_id").select("_g", "run_id");
      const ids = runs.array("run_id") as unknown[];
      const perImage = runs.assign({
        peak: ids.map((k) => peaks.get(k)?.peak_used_kib ?? null),
        per: ids.map((k) => peaks.get(k)?.per_booting_kib ?? null),
      }).groupby("_g").rollup({
        peak_used_kib: op.max("peak"),
        per_booting_kib: op.median("per"),
      });
      out = out.join_left(perImage, "_g")
        .derive(nullIfNotFinite(["peak_used_kib", "per_booting_kib"]))
        .orderby("_g");
    }
    columns.push("peak_used_kib", "per_booting_kib");
  }
  return finish(out, columns);
}

/** memoryPeak() of the runs, by run_id (null for a memory table without one). */
function peaksByRun(memory: Table, instances: Table) {
  const rows = memoryPeak(memory, instances).objects() as {
    run_id: unknown;
    peak_used_kib: number;
    per_booting_kib: number | null;
  }[];
  return new Map(rows.map((p) => [p.run_id, p]));
}

/**
 * {@link summarize} on typed arrays: the fast path kept for large tables.
 * bench/results/analysis-arquero-2026-12-01.md measured it against
 * {@link summarizeByVerbs} on the same 10 M rows.
 */
function summarizeTyped(
  instances: Table,
  by: "run" | "image",
  memory: Table | undefined,
): Table {
  const keyName = by === "image" ? "image" : "run_id";
  const groups = groupKeys(instances, keyName);
  const G = groups.keys.length;
  const ready = equalsMask(instances, "outcome", "ready");
  const interrupted = equalsMask(instances, "outcome", "interrupted");
  const notStarted = equalsMask(instances, "outcome", "not_started");
  const stat = (column: string, ps: number[]) =>
    groupStats(numberColumn(instances, column), {
      codes: groups.codes,
      count: G,
    }, {
      ps,
      select: ready,
    });
  const boot = stat("boot_ms", [0.5, 0.9, 0.99]);
  const first = stat("first_output_boot_ms", [0.5]);
  const rss = stat("rss_peak_kib", [0.5]);
  const rows = new Int32Array(G);
  const readyCount = new Int32Array(G);
  const stoppedCount = new Int32Array(G);
  const firstRow = new Int32Array(G).fill(-1);
  for (let i = 0; i < groups.codes.length; i++) {
    const g = groups.codes[i];
    rows[g]++;
    if (ready[i]) readyCount[g]++;
    if (interrupted[i] || notStarted[i]) stoppedCount[g]++;
    if (firstRow[g] < 0) firstRow[g] = i;
  }
  const cols: Record<string, unknown[]> = {};
  const image = rowGetter(instances, "image");
  if (by === "run") {
    const count = rowGetter(instances, "count_n");
    cols.run_id = groups.keys;
    cols.image = Array.from(firstRow, (r) => image(r));
    cols.count_n = Array.from(firstRow, (r) => count(r));
  } else {
    cols.image = groups.keys;
    const runs = groupKeys(instances, "run_id");
    const seen = Array.from({ length: G }, () => new Set<number>());
    for (let i = 0; i < groups.codes.length; i++) {
      seen[groups.codes[i]].add(runs.codes[i]);
    }
    cols.runs = seen.map((s) => s.size);
  }
  cols.n = Array.from(rows);
  cols.ready = Array.from(readyCount);
  cols.failed = Array.from(
    rows,
    (n, g) => n - readyCount[g] - stoppedCount[g],
  );
  cols.stopped = Array.from(stoppedCount);
  cols.min_ms = boot.map((s) => orNull(s.min));
  cols.median_ms = boot.map((s) => orNull(s.q[0]));
  cols.mean_ms = boot.map((s) => orNull(s.mean));
  cols.max_ms = boot.map((s) => orNull(s.max));
  cols.p90_ms = boot.map((s) => orNull(s.q[1]));
  cols.p99_ms = boot.map((s) => orNull(s.q[2]));
  cols.first_output_median_ms = first.map((s) => orNull(s.q[0]));
  cols.rss_median_kib = rss.map((s) => orNull(s.q[0]));
  if (memory) {
    const peaks = memoryPeak(memory, instances).objects() as {
      run_id: unknown;
      peak_used_kib: number;
      per_booting_kib: number | null;
    }[];
    const byRun = new Map(peaks.map((p) => [p.run_id, p]));
    if (by === "run") {
      cols.peak_used_kib = groups.keys.map((k) =>
        byRun.get(k)?.peak_used_kib ?? null
      );
      cols.per_booting_kib = groups.keys.map((k) =>
        byRun.get(k)?.per_booting_kib ?? null
      );
    } else {
      const runs = groupKeys(instances, "run_id");
      const perImage = Array.from({ length: G }, () => new Set<unknown>());
      for (let i = 0; i < groups.codes.length; i++) {
        perImage[groups.codes[i]].add(runs.keys[runs.codes[i]]);
      }
      cols.peak_used_kib = perImage.map((ids) => {
        const v = [...ids].map((id) => byRun.get(id)?.peak_used_kib).filter((
          x,
        ) => x != null) as number[];
        return v.length ? Math.max(...v) : null;
      });
      cols.per_booting_kib = perImage.map((ids) =>
        orNull(
          median([...ids].map((id) => byRun.get(id)?.per_booting_kib ?? null)),
        )
      );
    }
  }
  return aq.table(cols);
}

/** Options of {@link outliers}. */
export interface OutlierOptions {
  /** Column scored (default `boot_ms`). */
  value?: string;
  /** |modified z| above which a row is an outlier (default 3.5, Iglewicz–Hoaglin). */
  threshold?: number;
  /** Scored within groups of this column (default `run_id`; missing = whole table). */
  by?: string;
}

/**
 * Add `modified_z` (0.6745·(x − median)/MAD within each group: the score of
 * `modifiedZ` in stats.ts, with its mean-absolute-deviation fallback) and `outlier`
 * (|modified_z| > threshold) to every row. Only ready rows with a value are
 * scored; others get null and false. Verbs: a grouped `derive` of
 * `op.median` of the values, then of the absolute deviations.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { outliers } from "./summary.ts";
 * const t = aq.table({
 *   run_id: ["a", "a", "a", "a", "a"], outcome: ["ready", "ready", "ready", "ready", "ready"],
 *   boot_ms: [10, 11, 10, 12, 90],
 * });
 * console.log(outliers(t).array("outlier")); // [false, false, false, false, true]
 * ```
 */
export function outliers(
  instances: Table,
  options: OutlierOptions = {},
): Table {
  const { value = "boot_ms", threshold = OUTLIER_Z, by = "run_id" } = options;
  requireColumns(instances, [value, "outcome"]);
  const table = instances.isFiltered() || instances.isOrdered()
    ? instances.reify()
    : instances;
  const grouped = table.columnNames().includes(by) ? table.groupby(by) : table;
  const scored = grouped
    .params({ v: value, k: MAD_CONSTANT, c: MEAN_AD_CONSTANT, z: threshold })
    .derive({
      _x: (d: Row, $: Params) =>
        d.outcome === "ready" && !op.is_nan(d[$.v]) && d[$.v] !== null
          ? d[$.v]
          : null,
    })
    .derive({ _med: (d: Row) => op.median(d._x) })
    .derive({
      _dev: (d: Row) => d._x === null ? null : op.abs(d._x - d._med),
    })
    .derive({
      _mad: (d: Row) => op.median(d._dev),
      _mean_ad: (d: Row) => op.sum(d._dev) / op.valid(d._dev),
    })
    .derive({
      modified_z: (d: Row, $: Params) =>
        d._x === null
          ? null
          : d._mad > 0
          ? ($.k * (d._x - d._med)) / d._mad
          : d._mean_ad > 0
          ? (d._x - d._med) / ($.c * d._mean_ad)
          : 0,
    })
    .derive({
      outlier: (d: Row, $: Params) =>
        d.modified_z !== null && op.abs(d.modified_z) > $.z,
    })
    .ungroup();
  return table.assign(scored.select("modified_z", "outlier"));
}

/** Options of {@link ecdf}. */
export interface EcdfOptions {
  /** Column (default `boot_ms`). */
  value?: string;
  /** One curve per value of this column (default `run_id`). */
  by?: string;
}

/**
 * Empirical CDF of a column over ready rows, per group: one row per distinct
 * value with `p` = fraction of the group's values ≤ it (verbs: the values
 * in order within each group, `row_number` over the group's count at the
 * last of each run of equal values, found with `lead`). Columns: the group column (`run_id` by default), the
 * value column, `p`; groups in order of first appearance, values ascending.
 * (arquero 8.0.3's `cume_dist` would be the one-verb way, but it gives 1/n
 * to the smallest value even when it is tied.)
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { ecdf } from "./summary.ts";
 * const t = aq.table({ run_id: ["a", "a", "a", "a"], outcome: ["ready", "ready", "ready", "ready"], boot_ms: [3, 1, 2, 2] });
 * console.log(ecdf(t).array("p")); // [0.25, 0.75, 1]
 * ```
 */
export function ecdf(instances: Table, options: EcdfOptions = {}): Table {
  const { value = "boot_ms", by = "run_id" } = options;
  requireColumns(instances, [value, "outcome"]);
  const t = withGroupId(withDefaults(instances, { [by]: null }), [by], "_g")
    .params({ v: value })
    .filter((d: Row, $: Params) =>
      d.outcome === "ready" && !op.is_nan(d[$.v]) && d[$.v] !== null
    )
    .derive({ _x: (d: Row, $: Params) => d[$.v] })
    .groupby("_g")
    .derive({ _n: () => op.count() })
    .orderby("_x")
    .derive({
      p: (d: Row) => op.row_number() / d._n,
      _next: (d: Row) => op.lead(d._x),
    })
    .filter((d: Row) => d._next !== d._x)
    .ungroup()
    .orderby("_g", "_x");
  return finish(t.derive({ [value]: "d => d._x" }), [by, value, "p"]);
}
