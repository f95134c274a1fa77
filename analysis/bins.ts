/**
 * Concurrency bins (the paper's Figures 4, 6, 8, 10, 12): boot times grouped
 * by how many instances were already booting when each one started.
 *
 * Written as arquero verbs (`derive` the bin, `groupby` run and bin,
 * `rollup` with `op.quantile`, `unroll` the empty bins, `join_left`). From
 * 100,000 rows a typed-array fast path computes the same table
 * (`binsTyped`): on 10 M rows arquero took 12–21 s (10–17 CPU s) and 3.8 GB
 * against the goal of 3 s and 2 GB for load, bins, summary and correlation
 * together; the typed path 0.6–1.3 s (0.7–0.9 CPU s)
 * (bench/results/analysis-arquero-2026-12-01.md, six runs).
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
import { type GroupStats, groupStats, orNull } from "./grouped.ts";
import {
  finish,
  nullIfNotFinite,
  requireColumns,
  useTyped,
  withDefaults,
  withGroupId,
  zeroIfMissing,
} from "./verbs.ts";

const op = aq.op;

/** Options of {@link concurrencyBins}. */
export interface BinOptions {
  /** Bin width in instances (default 32; the paper used 16 for Linux). */
  width?: number;
  /** Column binned (default `boot_ms`; also `first_output_boot_ms`). */
  value?: "boot_ms" | "first_output_boot_ms" | string;
  /**
   * `"arquero"` (verbs), `"typed"` (the typed-array fast path) or `"auto"`
   * (default: typed from 100,000 rows). Both give the same table.
   */
  engine?: "auto" | "arquero" | "typed";
}

/** The bin table's columns, in order. */
export const BIN_COLUMNS = [
  "run_id",
  "image",
  "count_n",
  "bin_lo",
  "bin_hi",
  "n",
  "min_ms",
  "p25_ms",
  "median_ms",
  "p75_ms",
  "p90_ms",
  "p99_ms",
  "max_ms",
  "not_ready",
] as const;

const PS = [0.25, 0.5, 0.75, 0.9, 0.99];

/**
 * One row per (run, bin): bins are [0, w), [w, 2w), … of
 * `concurrency_at_start`, from bin 0 up to the highest bin any instance of
 * the run started in (so bins inside that range with no instance appear
 * with n = 0 and null statistics). Only `ready` rows with a non-null value
 * count in n and the statistics; `not_ready` counts the other rows that
 * started in the bin. Quantiles are type 7 (linear interpolation, numpy's
 * default). Columns: {@link BIN_COLUMNS}; `bin_hi` is exclusive. A table
 * without `run_id` is treated as one run (its `count_n` is the number of
 * rows). A run with no rows yields no bins.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { concurrencyBins } from "./bins.ts";
 * const instances = aq.table({
 *   run_id: ["r", "r", "r"], image: ["minkernel", "minkernel", "minkernel"],
 *   count_n: [3, 3, 3], concurrency_at_start: [0, 1, 40],
 *   boot_ms: [100, 120, 300], outcome: ["ready", "ready", "ready"],
 * });
 * const bins = concurrencyBins(instances, { width: 32 });
 * console.log(bins.array("median_ms")); // [110, 300]
 * ```
 */
export function concurrencyBins(
  instances: Table,
  options: BinOptions = {},
): Table {
  const { width = 32, value = "boot_ms", engine = "auto" } = options;
  if (!(width > 0)) {
    throw new Error(
      `Cannot bin by a width of ${width}: use a positive number of instances, e.g. 32`,
    );
  }
  return useTyped(instances, engine)
    ? binsTyped(instances, width, value)
    : binsByVerbs(instances, width, value);
}

/** The statistics columns of a bin, null when the bin has no value. */
const STAT_COLUMNS = BIN_COLUMNS.slice(6, 13);

/** {@link concurrencyBins} as arquero verbs. */
function binsByVerbs(instances: Table, width: number, value: string): Table {
  requireColumns(instances, ["concurrency_at_start", value, "outcome"]);
  const rows = instances.numRows();
  const t = withGroupId(
    withDefaults(instances, { run_id: null, image: null, count_n: rows }),
    ["run_id"],
    "_run",
  ).params({ w: width, v: value }).derive({
    bin: (d: Row, $: Params) =>
      op.is_finite(d.concurrency_at_start)
        ? op.floor(d.concurrency_at_start / $.w)
        : null,
    x: (d: Row, $: Params) =>
      d.outcome === "ready" && op.is_finite(d[$.v]) ? d[$.v] : null,
    failed: (d: Row) => d.outcome !== "ready",
  });
  // every run's bins from 0 to its highest, empty ones included
  const grid = t.filter((d: Row) => d._row === d._run)
    .select("_run", "run_id", "image", "count_n")
    .join(
      t.groupby("_run").rollup({ top: op.max("bin") })
        .filter((d: Row) => op.is_finite(d.top)),
      "_run",
    )
    .derive({ bin: (d: Row) => op.sequence(0, d.top + 1) })
    .unroll("bin");
  const stats = t.filter((d: Row) => d.bin !== null)
    .groupby("_run", "bin")
    .rollup({
      n: op.valid("x"),
      min_ms: op.min("x"),
      p25_ms: op.quantile("x", 0.25),
      median_ms: op.quantile("x", 0.5),
      p75_ms: op.quantile("x", 0.75),
      p90_ms: op.quantile("x", 0.9),
      p99_ms: op.quantile("x", 0.99),
      max_ms: op.max("x"),
      not_ready: op.sum("failed"),
    });
  return finish(
    grid.join_left(stats, [["_run", "bin"], ["_run", "bin"]])
      .params({ w: width })
      .derive({
        bin_lo: (d: Row, $: Params) => d.bin * $.w,
        bin_hi: (d: Row, $: Params) => (d.bin + 1) * $.w,
        ...zeroIfMissing(["n", "not_ready"]),
        ...nullIfNotFinite(STAT_COLUMNS),
      })
      .orderby("_run", "bin"),
    BIN_COLUMNS,
  );
}

// deno-lint-ignore no-explicit-any
type Row = Record<string, any>;
// deno-lint-ignore no-explicit-any
type Params = Record<string, any>;

/**
 * {@link concurrencyBins} on typed arrays: the fast path kept for large
 * tables. bench/results/analysis-arquero-2026-12-01.md measured it against
 * {@link binsByVerbs} on the same 10 M rows.
 */
function binsTyped(instances: Table, width: number, value: string): Table {
  const runs = groupKeys(instances, "run_id");
  const rows = instances.numRows();
  const conc = numberColumn(instances, "concurrency_at_start");
  const values = numberColumn(instances, value);
  const ready = equalsMask(instances, "outcome", "ready");
  const runCount = runs.keys.length;
  const maxBin = new Int32Array(runCount).fill(-1);
  const firstRow = new Int32Array(runCount).fill(-1);
  const endRow = new Int32Array(runCount);
  let contiguous = true;
  let prev = -1;
  for (let i = 0; i < rows; i++) {
    const r = runs.codes[i];
    if (r !== prev) {
      if (firstRow[r] >= 0) contiguous = false;
      else firstRow[r] = i;
      prev = r;
    }
    endRow[r] = i + 1;
    const c = conc[i];
    if (c === c) {
      const b = Math.floor(c / width);
      if (b > maxBin[r]) maxBin[r] = b;
    }
  }
  const base = new Int32Array(runCount + 1);
  for (let r = 0; r < runCount; r++) base[r + 1] = base[r] + maxBin[r] + 1;
  const notReady = new Int32Array(base[runCount]);
  let stats: GroupStats[];
  if (contiguous) {
    // each run's rows are one stretch: bin one run at a time (its packing
    // stays within a few MiB, much faster than scattering all rows at once)
    stats = [];
    for (let r = 0; r < runCount; r++) {
      const s = firstRow[r];
      const e = endRow[r];
      if (s < 0 || maxBin[r] < 0) continue;
      const local = new Int32Array(e - s);
      for (let i = s; i < e; i++) {
        const c = conc[i];
        const b = c === c ? Math.floor(c / width) : -1;
        local[i - s] = b;
        if (b >= 0 && !ready[i]) notReady[base[r] + b]++;
      }
      stats.push(
        ...groupStats(values.subarray(s, e), {
          codes: local,
          count: maxBin[r] + 1,
        }, {
          ps: PS,
          select: ready.subarray(s, e),
          contiguous: false,
        }),
      );
    }
  } else {
    const slot = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      const c = conc[i];
      const s = c === c ? base[runs.codes[i]] + Math.floor(c / width) : -1;
      slot[i] = s;
      if (s >= 0 && !ready[i]) notReady[s]++;
    }
    stats = groupStats(values, { codes: slot, count: base[runCount] }, {
      ps: PS,
      select: ready,
      contiguous: false,
    });
  }
  const img = rowGetter(instances, "image");
  const hasCount = instances.columnNames().includes("count_n");
  const cnt = rowGetter(instances, "count_n");
  const cols: Record<string, unknown[]> = Object.fromEntries(
    BIN_COLUMNS.map((c) => [c, [] as unknown[]]),
  );
  for (let r = 0; r < runCount; r++) {
    for (let b = 0; b <= maxBin[r]; b++) {
      const s = stats[base[r] + b];
      cols.run_id.push(runs.keys[r]);
      cols.image.push(img(firstRow[r]));
      cols.count_n.push(hasCount ? cnt(firstRow[r]) : rows);
      cols.bin_lo.push(b * width);
      cols.bin_hi.push((b + 1) * width);
      cols.n.push(s.n);
      cols.min_ms.push(orNull(s.min));
      cols.p25_ms.push(orNull(s.q[0]));
      cols.median_ms.push(orNull(s.q[1]));
      cols.p75_ms.push(orNull(s.q[2]));
      cols.p90_ms.push(orNull(s.q[3]));
      cols.p99_ms.push(orNull(s.q[4]));
      cols.max_ms.push(orNull(s.max));
      cols.not_ready.push(notReady[base[r] + b]);
    }
  }
  return aq.table(cols, [...BIN_COLUMNS]);
}
