/**
 * Phases of a boot, measured from outside (the paper's T_K and ΔT_R): where
 * the time between T_s and ready goes, per instance, per image or run, and
 * per concurrency bin.
 *
 * The four phases of an instance add up to its `boot_ms` (ready − T_s):
 *
 * | phase             | from → to                                   | needs                   |
 * | ----------------- | ------------------------------------------- | ----------------------- |
 * | `qemu_startup`    | T_s → T_K (`vmm_init_ms`)                   | phase mode (`--phases`) |
 * | `firmware`        | T_K (else T_s) → first output               | any output              |
 * | `output_to_marks` | first output → last named mark seen         | profile `marks`         |
 * | `marks_to_ready`  | last mark seen (else first output) → ready  | ready                   |
 *
 * Without T_K (a run without `--phases`) `firmware` starts at T_s and so
 * includes QEMU's start-up; such rows are kept apart (`phase_mode` false).
 * `firmware` is "until the guest's first byte": with no firmware output
 * (microvm, the synthetic guest) it holds the guest's own work up to its
 * first byte. Besides the four, `guest_boot` (ready − T_K), `delta_tr`
 * (ΔT_R = ready − `init_ms`, when an `init` mark exists) and `boot` are
 * summarised too.
 *
 * Only rows with phase data count: phase mode (T_K present) or at least one
 * mark seen. A dataset of schema version 1, or one measured without
 * `--phases` and without marks, yields empty tables (see
 * {@link hasPhaseData}). Statistics use `ready` rows only, quantiles of type 7
 * (as everywhere, see quantile.ts).
 *
 * Written as arquero verbs: `derive` for the per-instance phases, `fold`
 * into one row per (instance, phase), `groupby` + `rollup` with
 * `op.quantile`, `unroll` for the empty bins, `op.array_agg` into
 * simple-statistics' least-squares line for the growth.
 *
 * @module
 */

import "@uwdata/flechette";
import * as aq from "arquero";
import { INSTANCE_COLUMNS } from "../dataset/schema.ts";
import {
  concatTables,
  equalsMask,
  numberColumn,
  rowGetter,
  type Table,
} from "./columns.ts";
import type { Run } from "./load.ts";
import { linearFit } from "./stats.ts";
import {
  finish,
  nullIfNotFinite,
  withDefaults,
  withGroupId,
  zeroIfMissing,
} from "./verbs.ts";

const op = aq.op;
// deno-lint-ignore no-explicit-any
type Row = Record<string, any>;
// deno-lint-ignore no-explicit-any
type Params = Record<string, any>;

/** The four phases that stack up to a boot, in time order. */
export const PHASES = [
  "qemu_startup",
  "firmware",
  "output_to_marks",
  "marks_to_ready",
] as const;

/** One of the stacked {@link PHASES}. */
export type Phase = typeof PHASES[number];

/** Every interval summarised: the stacked phases, then guest_boot, delta_tr and boot. */
export const PHASE_INTERVALS = [
  ...PHASES,
  "guest_boot",
  "delta_tr",
  "boot",
] as const;

/** One of {@link PHASE_INTERVALS}. */
export type PhaseInterval = typeof PHASE_INTERVALS[number];

/** Human labels of the intervals (figures, notebooks). */
export const PHASE_LABELS: Readonly<Record<PhaseInterval, string>> = {
  qemu_startup: "QEMU start-up (T_s → T_K)",
  firmware: "firmware to first output",
  output_to_marks: "first output to kernel marks",
  marks_to_ready: "kernel to ready",
  guest_boot: "guest (T_K → ready)",
  delta_tr: "ΔT_R (init → ready)",
  boot: "boot (T_s → ready)",
};

/** Columns of {@link instancePhases}, in order. */
export const INSTANCE_PHASE_COLUMNS = [
  "run_id",
  "image",
  "count_n",
  "instance",
  "concurrency_at_start",
  "outcome",
  "phase_mode",
  "has_phases",
  "qemu_startup_ms",
  "firmware_ms",
  "output_to_marks_ms",
  "marks_to_ready_ms",
  "guest_boot_ms",
  "delta_tr_ms",
  "boot_ms",
] as const;

/** Columns the analysis adds to loaded tables; never marks. */
const NOT_MARKS = new Set([
  ...INSTANCE_COLUMNS.map((c) => c.name),
  "run_id",
  "image",
  "count_n",
]);

/** Options shared by the phase functions. */
export interface PhaseOptions {
  /**
   * Mark names in profile order (run.json `marks`, without `_ms`). Default:
   * every `<name>_ms` column that is not a schema column, ordered by
   * median time.
   */
  marks?: readonly string[];
}

/** Options of the grouped phase tables. */
export interface PhaseGroupOptions extends PhaseOptions {
  /** One group per image (default) or per run; phase-mode and other rows are kept apart either way. */
  by?: "image" | "run";
}

/** Options of {@link phaseBins}. */
export interface PhaseBinOptions extends PhaseGroupOptions {
  /** Bin width in instances booting at T_s (default 32, as concurrencyBins). */
  width?: number;
}

/**
 * A column as float64 in row order, null / empty text / missing column →
 * NaN (mark columns read from CSV arrive as text).
 */
function numbers(table: Table, name: string): Float64Array {
  const col = table.column(name) as
    | { length: number; at(i: number): unknown }
    | undefined;
  if (!col) return new Float64Array(table.numRows()).fill(NaN);
  const first = table.numRows() > 0 ? rowGetter(table, name) : null;
  let text = false;
  if (first) {
    for (let i = 0; i < table.numRows(); i++) {
      const v = first(i);
      if (v === null || v === undefined) continue;
      text = typeof v === "string";
      break;
    }
  }
  if (!text) return numberColumn(table, name);
  const get = rowGetter(table, name);
  const out = new Float64Array(table.numRows());
  for (let i = 0; i < out.length; i++) {
    const v = get(i);
    const x = v === null || v === undefined || v === "" ? NaN : Number(v);
    out[i] = Number.isFinite(x) ? x : NaN;
  }
  return out;
}

/**
 * The named marks of an instances table: `marks` when given (those whose
 * `<name>_ms` column exists), else every `<name>_ms` column that is not a
 * schema column, ordered by the median of its values (then by name).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { markNames } from "./phases.ts";
 * markNames(aq.table({ t_s_ms: [0], init_ms: [9], kernel_ms: [2] })); // ["kernel", "init"]
 * ```
 */
export function markNames(
  instances: Table,
  options: PhaseOptions = {},
): string[] {
  const names = instances.columnNames();
  if (options.marks) {
    return options.marks.filter((m) => names.includes(`${m}_ms`));
  }
  const found = names.filter((n) => n.endsWith("_ms") && !NOT_MARKS.has(n));
  const mid = new Map<string, number>();
  for (const n of found) {
    const v = [...numbers(instances, n)].filter((x) => x === x)
      .sort((a, b) => a - b);
    mid.set(n, v.length ? v[Math.floor((v.length - 1) / 2)] : Infinity);
  }
  return found.sort((a, b) => mid.get(a)! - mid.get(b)! || (a < b ? -1 : 1))
    .map((n) => n.slice(0, -3));
}

/**
 * Per instance, the time in each phase (ms; NaN-free: null when it cannot
 * be computed). Columns {@link INSTANCE_PHASE_COLUMNS}: `phase_mode` is
 * whether T_K was recorded, `has_phases` whether the row has phase data (T_K
 * or a mark); `qemu_startup_ms` = `vmm_init_ms` (else t_k − t_s),
 * `firmware_ms` = first_output − (t_k, else t_s), `output_to_marks_ms` =
 * last mark − first output, `marks_to_ready_ms` = ready − (last mark, else
 * first output), `guest_boot_ms` = ready − t_k, `delta_tr_ms` = ready −
 * `init_ms`, `boot_ms` = ready − t_s. Works on any instances table (missing
 * columns count as null); a table that already is an instancePhases result
 * is returned as is.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { instancePhases } from "./phases.ts";
 * // two minkernel boots in phase mode (T_K recorded), started at 0 and 1 instances booting
 * const instances = aq.table({
 *   image: ["minkernel", "minkernel"], outcome: ["ready", "ready"],
 *   concurrency_at_start: [0, 1], t_s_ms: [0, 10], t_k_ms: [50, 70],
 *   first_output_ms: [90, 116], ready_ms: [250, 296],
 * });
 * const p = instancePhases(instances).object(0) as Record<string, number>;
 * console.log(p.qemu_startup_ms, p.firmware_ms, p.marks_to_ready_ms, p.boot_ms); // 50 40 160 250
 * ```
 */
export function instancePhases(
  instances: Table,
  options: PhaseOptions = {},
): Table {
  if (isPhaseTable(instances)) return instances;
  const marks = markNames(instances, options).map((m) => `${m}_ms`);
  const hasInit = instances.columnNames().includes("init_ms");
  // every input as a number, NaN when missing, null or not a number, so
  // that differences of missing times are NaN (→ null at the end)
  let t = asNumbers(
    withDefaults(instances, {
      run_id: null,
      image: null,
      count_n: null,
      instance: null,
      outcome: null,
    }),
    [
      "t_s_ms",
      "t_k_ms",
      "vmm_init_ms",
      "first_output_ms",
      "ready_ms",
      "guest_boot_ms",
      "concurrency_at_start",
      ...(hasInit ? ["init_ms"] : []),
      ...marks,
    ],
  );
  // the last mark seen: the latest of the marks with a time
  t = t.derive({ _last: () => NaN });
  for (const m of marks) {
    t = t.params({ m: `_${m}` }).derive({
      _last: (d: Row, $: Params) =>
        !op.is_nan(d[$.m]) && !(d[$.m] <= d._last) ? d[$.m] : d._last,
    });
  }
  t = t.derive({
    phase_mode: (d: Row) => !op.is_nan(d._t_k_ms),
    _start: (d: Row) => op.is_nan(d._t_k_ms) ? d._t_s_ms : d._t_k_ms,
  }).derive({
    has_phases: (d: Row) => d.phase_mode || !op.is_nan(d._last),
    concurrency_at_start: (d: Row) => d._concurrency_at_start,
    qemu_startup_ms: (d: Row) =>
      op.is_nan(d._vmm_init_ms) ? d._t_k_ms - d._t_s_ms : d._vmm_init_ms,
    firmware_ms: (d: Row) => d._first_output_ms - d._start,
    output_to_marks_ms: (d: Row) => d._last - d._first_output_ms,
    marks_to_ready_ms: (d: Row) =>
      d._ready_ms - (op.is_nan(d._last) ? d._first_output_ms : d._last),
    guest_boot_ms: (d: Row) =>
      op.is_nan(d._guest_boot_ms) ? d._ready_ms - d._t_k_ms : d._guest_boot_ms,
    delta_tr_ms: hasInit ? (d: Row) => d._ready_ms - d._init_ms : () => NaN,
    boot_ms: (d: Row) => d._ready_ms - d._t_s_ms,
  });
  return finish(
    t.derive(
      nullIfNaN(
        INSTANCE_PHASE_COLUMNS.slice(8).concat(["concurrency_at_start"]),
      ),
    ),
    INSTANCE_PHASE_COLUMNS,
  );
}

/**
 * Add `_<name>` for each of `names`: the column as a number, NaN when it is
 * missing, null, empty text or text that is no number (mark columns read
 * from CSV arrive as text).
 */
function asNumbers(table: Table, names: readonly string[]): Table {
  const have = new Set(table.columnNames());
  const derived: Record<string, unknown> = {};
  for (const name of names) {
    const text = have.has(name) && isText(table, name);
    derived[`_${name}`] = !have.has(name)
      ? "() => NaN"
      : text
      ? aq.escape((d: Row) => textNumber(d[name]))
      : `d => d[${JSON.stringify(name)}] == null ? NaN : d[${
        JSON.stringify(name)
      }]`;
  }
  return table.derive(derived as never);
}

/** Whether the first non-null value of a column is text. */
function isText(table: Table, name: string): boolean {
  const get = rowGetter(table, name);
  for (let i = 0; i < table.numRows(); i++) {
    const v = get(i);
    if (v !== null && v !== undefined) return typeof v === "string";
  }
  return false;
}

/** A text cell as a finite number, else NaN. */
function textNumber(v: unknown): number {
  const x = v === null || v === undefined || v === "" ? NaN : Number(v);
  return Number.isFinite(x) ? x : NaN;
}

/** Derive map turning NaN values of `names` into null. */
function nullIfNaN(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    names.map((n) => [
      n,
      `d => op.is_nan(d[${JSON.stringify(n)}]) ? null : d[${
        JSON.stringify(n)
      }]`,
    ]),
  );
}

function isPhaseTable(table: Table): boolean {
  const names = new Set(table.columnNames());
  return INSTANCE_PHASE_COLUMNS.every((c) => names.has(c));
}

/**
 * The parameters that tell apart runs of the same image, per run id, as
 * " · k=v, …" (empty when all runs of an image share their params).
 */
function paramSuffixes(runs: readonly Run[]): Map<string, string> {
  const byImage = new Map<unknown, Run[]>();
  for (const r of runs) {
    const image = r.instances.numRows()
      ? rowGetter(r.instances, "image")(0)
      : r.record.profile?.name;
    byImage.set(image, [...(byImage.get(image) ?? []), r]);
  }
  const out = new Map<string, string>();
  for (const group of byImage.values()) {
    const params = group.map((r) =>
      (r.record.params ?? {}) as Record<string, unknown>
    );
    const keys = [...new Set(params.flatMap((p) => Object.keys(p)))].sort()
      .filter((k) =>
        new Set(params.map((p) => JSON.stringify(p[k] ?? null))).size > 1
      );
    group.forEach((r, i) => {
      out.set(
        r.record.run_id,
        keys.length
          ? " · " + keys.map((k) => `${k}=${params[i][k] ?? "–"}`).join(", ")
          : "",
      );
    });
  }
  return out;
}

/**
 * {@link instancePhases} of each run with its own marks in profile order
 * (run.json `marks`), stacked: use this rather than stacking the runs'
 * instances first, which keeps only the first run's mark columns. Runs of
 * one image measured with different params (run.json `params`) get the
 * differing params appended to `image` ("synthetic · spin_ms=500"), so
 * they are not pooled.
 *
 * @example
 * ```ts ignore
 * const phases = phasesOfRuns((await loadRuns(dir)).runs);
 * phaseSummary(phases).print();
 * ```
 */
export function phasesOfRuns(runs: readonly Run[]): Table {
  if (runs.length === 0) {
    return instancePhases(aq.table({}));
  }
  const suffix = paramSuffixes(runs);
  return concatTables(runs.map((r) => {
    const marks = r.record.marks;
    const t = instancePhases(r.instances, {
      marks: marks && typeof marks === "object" && !Array.isArray(marks)
        ? Object.keys(marks as Record<string, unknown>)
        : undefined,
    });
    const s = suffix.get(r.record.run_id) ?? "";
    if (!s || t.numRows() === 0) return t;
    const image = `${rowGetter(t, "image")(0)}${s}`;
    return t.assign({ image: new Array(t.numRows()).fill(image) });
  }));
}

/**
 * Whether a table (instances or {@link instancePhases}) holds phase data: a
 * `ready` row with T_K (phase mode) or with a named mark seen. Cheap on an
 * instances table (reads only `outcome`, `t_k_ms` and the mark columns).
 *
 * @example
 * ```ts ignore
 * hasPhaseData(v1Run.instances); // false
 * ```
 */
export function hasPhaseData(
  instances: Table,
  options: PhaseOptions = {},
): boolean {
  if (instances.numRows() === 0) return false;
  const ready = instances.columnNames().includes("outcome")
    ? equalsMask(instances, "outcome", "ready")
    : new Uint8Array(instances.numRows());
  if (isPhaseTable(instances)) {
    const has = instances.array("has_phases") as unknown[];
    return has.some((x, i) => x === true && ready[i] === 1);
  }
  const cols = [
    "t_k_ms",
    ...markNames(instances, options).map((m) => `${m}_ms`),
  ];
  return cols.some((c) =>
    numbers(instances, c).some((x, i) => x === x && ready[i] === 1)
  );
}

/**
 * The rows with phase data, each with `_g`: its group (image or run, and
 * phase_mode) as the row number of the group's first row, and the table of
 * those first rows with the group's key columns (`_g` first).
 */
function phaseGroups(
  p: Table,
  by: "image" | "run",
): { rows: Table; groups: Table } {
  const rows = withGroupId(
    p.filter((d: Row) => d.has_phases === true),
    [by === "run" ? "run_id" : "image", "phase_mode"],
    "_g",
  );
  const groups = rows.filter((d: Row) => d._row === d._g)
    .select("_g", ...groupColumns(by));
  return { rows, groups };
}

/**
 * One row per (phase row, interval of `names`) with a value of a ready
 * instance: `phase` (the interval's name) and `value` (ms).
 */
function readyValues(rows: Table, names: readonly string[]): Table {
  return rows.filter((d: Row) => d.outcome === "ready")
    .fold(names.map((n) => `${n}_ms`), { as: ["phase", "value"] })
    .filter((d: Row) => d.value !== null)
    .derive({ phase: (d: Row) => op.replace(d.phase, /_ms$/, "") });
}

/** n and the quartiles (type 7) of `value` per group of the grouped table. */
const QUARTILES = {
  n: op.count(),
  p25_ms: op.quantile("value", 0.25),
  median_ms: op.quantile("value", 0.5),
  p75_ms: op.quantile("value", 0.75),
};

function groupColumns(by: "image" | "run"): string[] {
  return by === "run"
    ? ["run_id", "image", "phase_mode"]
    : ["image", "phase_mode"];
}

/** Columns of {@link phaseSummary} (per image; `run_id` first when by run). */
export const PHASE_SUMMARY_COLUMNS = [
  "image",
  "phase_mode",
  "phase",
  "n",
  "p25_ms",
  "median_ms",
  "p75_ms",
] as const;

/**
 * Per image (or run) and phase-mode flag, the n, p25, median and p75 (type
 * 7) of each of {@link PHASE_INTERVALS} over the `ready` rows with phase
 * data; an interval with no value in a group is left out. Columns
 * {@link PHASE_SUMMARY_COLUMNS} (with `run_id` first when `by: "run"`),
 * groups in order of first appearance, phases in {@link PHASE_INTERVALS}
 * order. Empty for a table without phase data (schema version 1, or no
 * `--phases` and no marks).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { phaseSummary } from "./phases.ts";
 * // two minkernel boots in phase mode (T_K recorded), started at 0 and 1 instances booting
 * const instances = aq.table({
 *   image: ["minkernel", "minkernel"], outcome: ["ready", "ready"],
 *   concurrency_at_start: [0, 1], t_s_ms: [0, 10], t_k_ms: [50, 70],
 *   first_output_ms: [90, 116], ready_ms: [250, 296],
 * });
 * console.log(phaseSummary(instances).array("phase")); // ["qemu_startup", "firmware", "marks_to_ready", "guest_boot", "boot"]
 * ```
 */
export function phaseSummary(
  instances: Table,
  options: PhaseGroupOptions = {},
): Table {
  const by = options.by ?? "image";
  const { rows, groups } = phaseGroups(instancePhases(instances, options), by);
  const stats = readyValues(rows, PHASE_INTERVALS)
    .groupby("_g", "phase")
    .rollup(QUARTILES);
  return finish(
    groups.join(stats, "_g")
      .params({ order: PHASE_INTERVALS })
      .derive({ _p: (d: Row, $: Params) => op.indexof($.order, d.phase) })
      .orderby("_g", "_p"),
    [...groupColumns(by), ...PHASE_SUMMARY_COLUMNS.slice(2)],
  );
}

/** Columns of {@link phaseBins} (per image; `run_id` first when by run). */
export const PHASE_BIN_COLUMNS = [
  "image",
  "phase_mode",
  "bin_lo",
  "bin_hi",
  "phase",
  "n",
  "p25_ms",
  "median_ms",
  "p75_ms",
] as const;

/**
 * Which phase grows under concurrency: per image (or run), per bin [0, w),
 * [w, 2w), … of `concurrency_at_start` (as concurrencyBins, from bin 0 to
 * the group's highest) and per stacked phase (and `boot`), the n, p25,
 * median and p75 (type 7) over `ready` rows with phase data. Empty bins
 * appear with n = 0 and null statistics; a phase no row of the group has
 * is left out of the group. Columns {@link PHASE_BIN_COLUMNS}.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { phaseBins } from "./phases.ts";
 * // two minkernel boots in phase mode (T_K recorded), started at 0 and 1 instances booting
 * const instances = aq.table({
 *   image: ["minkernel", "minkernel"], outcome: ["ready", "ready"],
 *   concurrency_at_start: [0, 1], t_s_ms: [0, 10], t_k_ms: [50, 70],
 *   first_output_ms: [90, 116], ready_ms: [250, 296],
 * });
 * const bins = phaseBins(instances, { width: 1 }).filter((d) => d.phase === "boot");
 * console.log(bins.array("median_ms")); // [250, 286]
 * ```
 */
export function phaseBins(
  instances: Table,
  options: PhaseBinOptions = {},
): Table {
  const by = options.by ?? "image";
  const width = options.width ?? 32;
  if (!(width > 0)) {
    throw new Error(
      `Cannot bin phases by a width of ${width}: use a positive number of instances, e.g. 32`,
    );
  }
  const phases = [...PHASES, "boot"];
  const { rows, groups } = phaseGroups(instancePhases(instances, options), by);
  const binned = rows.params({ w: width }).derive({
    bin: (d: Row, $: Params) =>
      op.is_finite(d.concurrency_at_start)
        ? op.floor(d.concurrency_at_start / $.w)
        : null,
  });
  // each group's bins from 0 to its highest, for each phase it has
  const grid = groups
    .join(
      binned.groupby("_g").rollup({ top: op.max("bin") })
        .filter((d: Row) => op.is_finite(d.top)),
      "_g",
    )
    .derive({ bin: (d: Row) => op.sequence(0, d.top + 1) })
    .unroll("bin")
    .join(
      readyValues(rows, phases).groupby("_g", "phase").rollup({}),
      "_g",
    );
  const stats = readyValues(
    binned.filter((d: Row) => d.bin !== null),
    phases,
  ).groupby("_g", "bin", "phase").rollup(QUARTILES);
  const keys = ["_g", "bin", "phase"];
  return finish(
    grid.join_left(stats, [keys, keys])
      .params({ w: width, order: phases })
      .derive({
        bin_lo: (d: Row, $: Params) => d.bin * $.w,
        bin_hi: (d: Row, $: Params) => (d.bin + 1) * $.w,
        _p: (d: Row, $: Params) => op.indexof($.order, d.phase),
        ...zeroIfMissing(["n"]),
        ...nullIfNotFinite(["p25_ms", "median_ms", "p75_ms"]),
      })
      .orderby("_g", "bin", "_p"),
    [...groupColumns(by), ...PHASE_BIN_COLUMNS.slice(2)],
  );
}

/** Columns of {@link phaseGrowth} (per image; `run_id` first when by run). */
export const PHASE_GROWTH_COLUMNS = [
  "image",
  "phase_mode",
  "phase",
  "n",
  "slope_ms_per_instance",
  "r2",
  "share_of_growth",
] as const;

/**
 * How much each stacked phase grows per extra instance booting at T_s:
 * per image (or run) and phase, the least-squares slope of the phase (ms)
 * on `concurrency_at_start` over `ready` rows with phase data, its r², and
 * `share_of_growth` = slope / slope of `boot` (the phases' shares add up
 * to 1 when every row has every phase). Slopes are null with fewer than 2
 * distinct concurrencies. The last row of each group is `boot` itself.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { phaseGrowth } from "./phases.ts";
 * // two minkernel boots in phase mode (T_K recorded), started at 0 and 1 instances booting
 * const instances = aq.table({
 *   image: ["minkernel", "minkernel"], outcome: ["ready", "ready"],
 *   concurrency_at_start: [0, 1], t_s_ms: [0, 10], t_k_ms: [50, 70],
 *   first_output_ms: [90, 116], ready_ms: [250, 296],
 * });
 * const g = phaseGrowth(instances);
 * console.log(g.array("phase"), g.array("slope_ms_per_instance")); // ["qemu_startup", "firmware", "marks_to_ready", "boot"] [10, 6, 20, 36]
 * ```
 */
export function phaseGrowth(
  instances: Table,
  options: PhaseGroupOptions = {},
): Table {
  const by = options.by ?? "image";
  const phases = [...PHASES, "boot"];
  const { rows, groups } = phaseGroups(instancePhases(instances, options), by);
  const fits = readyValues(
    rows.filter((d: Row) => op.is_finite(d.concurrency_at_start)),
    phases,
  )
    .groupby("_g", "phase")
    .rollup({
      x: op.array_agg("concurrency_at_start"),
      y: op.array_agg("value"),
    })
    .derive({ fit: aq.escape((d: Row) => linearFit(d.x, d.y)) })
    .derive({
      n: (d: Row) => d.fit.n,
      slope_ms_per_instance: (d: Row) => d.fit.slope,
      r2: (d: Row) => d.fit.r2,
    })
    .groupby("_g")
    .derive({
      _total: (d: Row) =>
        op.any(d.phase === "boot" ? d.slope_ms_per_instance : null),
    })
    .ungroup()
    .derive({
      share_of_growth: (d: Row) =>
        d._total !== 0 ? d.slope_ms_per_instance / d._total : null,
    });
  return finish(
    groups.join(fits, "_g")
      .params({ order: phases })
      .derive({
        _p: (d: Row, $: Params) => op.indexof($.order, d.phase),
        ...nullIfNotFinite(["slope_ms_per_instance", "r2", "share_of_growth"]),
      })
      .orderby("_g", "_p"),
    [...groupColumns(by), ...PHASE_GROWTH_COLUMNS.slice(2)],
  );
}
