/**
 * Summaries per run or per image, MAD-based outliers, and ECDFs.
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
import { modifiedZ, OUTLIER_Z } from "./stats.ts";
import { memoryPeak } from "./timeline.ts";

/** Options of {@link summarize}. */
export interface SummaryOptions {
  /** Group by run (`run_id`, default) or by image (`image`, pooling its runs). */
  by?: "run" | "image";
  /** Memory samples of the same runs: adds `peak_used_kib` and `per_booting_kib` (see memoryPeak). */
  memory?: Table;
}

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
 * summarize(set.instances, { memory: set.memory }).print();
 * ```
 */
export function summarize(
  instances: Table,
  options: SummaryOptions = {},
): Table {
  const by = options.by ?? "run";
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
  if (options.memory) {
    const peaks = memoryPeak(options.memory, instances).objects() as {
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
 * Add `modified_z` (0.6745·(x − median)/MAD within each group, see
 * {@link modifiedZ}) and `outlier` (|modified_z| > threshold) to every row.
 * Only ready rows with a value are scored; others get null and false.
 *
 * @example
 * ```ts
 * outliers(run.instances).filter((d) => d.outlier).print();
 * ```
 */
export function outliers(
  instances: Table,
  options: OutlierOptions = {},
): Table {
  const { value = "boot_ms", threshold = OUTLIER_Z, by = "run_id" } = options;
  const table = instances.isFiltered() || instances.isOrdered()
    ? instances.reify()
    : instances;
  const groups = groupKeys(table, by);
  const values = numberColumn(table, value);
  const ready = equalsMask(table, "outcome", "ready");
  const n = values.length;
  const z = new Array<number | null>(n).fill(null);
  const flag = new Array<boolean>(n).fill(false);
  const members: number[][] = groups.keys.map(() => []);
  for (let i = 0; i < n; i++) {
    if (ready[i] && values[i] === values[i]) members[groups.codes[i]].push(i);
  }
  for (const rows of members) {
    const scores = modifiedZ(rows.map((i) => values[i]));
    rows.forEach((i, k) => {
      z[i] = scores[k];
      flag[i] = Math.abs(scores[k]) > threshold;
    });
  }
  return table.assign(aq.table({ modified_z: z, outlier: flag }));
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
 * value with `p` = fraction of the group's values ≤ it. Columns: the group
 * column (`run_id` by default), the value column, `p`.
 *
 * @example
 * ```ts
 * ecdf(run.instances).print(); // run_id, boot_ms, p
 * ```
 */
export function ecdf(instances: Table, options: EcdfOptions = {}): Table {
  const { value = "boot_ms", by = "run_id" } = options;
  const groups = groupKeys(instances, by);
  const values = numberColumn(instances, value);
  const ready = equalsMask(instances, "outcome", "ready");
  const per: number[][] = groups.keys.map(() => []);
  for (let i = 0; i < values.length; i++) {
    if (ready[i] && values[i] === values[i]) {
      per[groups.codes[i]].push(values[i]);
    }
  }
  const key: unknown[] = [];
  const xs: number[] = [];
  const ps: number[] = [];
  per.forEach((v, g) => {
    const sorted = Float64Array.from(v).sort();
    for (let i = 0; i < sorted.length; i++) {
      if (i + 1 < sorted.length && sorted[i + 1] === sorted[i]) continue;
      key.push(groups.keys[g]);
      xs.push(sorted[i]);
      ps.push((i + 1) / sorted.length);
    }
  });
  return aq.table({ [by]: key, [value]: xs, p: ps });
}
