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
 * @module
 */

import "@uwdata/flechette";
import * as aq from "arquero";
import { INSTANCE_COLUMNS } from "../launcher/schema.ts";
import {
  concatTables,
  equalsMask,
  factorize,
  numberColumn,
  rowGetter,
  type Table,
} from "./columns.ts";
import { groupStats, orNull } from "./grouped.ts";
import type { Run } from "./load.ts";
import { linearFit } from "./stats.ts";

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
 * instancePhases(run.instances, { marks: ["kernel", "init"] }).print();
 * ```
 */
export function instancePhases(
  instances: Table,
  options: PhaseOptions = {},
): Table {
  if (isPhaseTable(instances)) return instances;
  const n = instances.numRows();
  const ts = numbers(instances, "t_s_ms");
  const tk = numbers(instances, "t_k_ms");
  const vmm = numbers(instances, "vmm_init_ms");
  const fo = numbers(instances, "first_output_ms");
  const ready = numbers(instances, "ready_ms");
  const guest = numbers(instances, "guest_boot_ms");
  const marks = markNames(instances, options).map((m) =>
    numbers(instances, `${m}_ms`)
  );
  const init = instances.columnNames().includes("init_ms")
    ? numbers(instances, "init_ms")
    : null;
  const cols: Record<string, unknown[]> = Object.fromEntries(
    INSTANCE_PHASE_COLUMNS.map((c) => [c, new Array<unknown>(n)]),
  );
  const copy = (name: string, col: string) => {
    const get = rowGetter(instances, col);
    const has = instances.columnNames().includes(col);
    for (let i = 0; i < n; i++) cols[name][i] = has ? get(i) : null;
  };
  copy("run_id", "run_id");
  copy("image", "image");
  copy("count_n", "count_n");
  copy("instance", "instance");
  copy("outcome", "outcome");
  const conc = numbers(instances, "concurrency_at_start");
  const val = (x: number) => (x === x ? x : null);
  for (let i = 0; i < n; i++) {
    let last = NaN;
    for (const m of marks) if (m[i] === m[i] && !(m[i] <= last)) last = m[i];
    const mode = tk[i] === tk[i];
    const start = mode ? tk[i] : ts[i];
    cols.concurrency_at_start[i] = val(conc[i]);
    cols.phase_mode[i] = mode;
    cols.has_phases[i] = mode || last === last;
    cols.qemu_startup_ms[i] = val(vmm[i] === vmm[i] ? vmm[i] : tk[i] - ts[i]);
    cols.firmware_ms[i] = val(fo[i] - start);
    cols.output_to_marks_ms[i] = val(last - fo[i]);
    cols.marks_to_ready_ms[i] = val(ready[i] - (last === last ? last : fo[i]));
    cols.guest_boot_ms[i] = val(
      guest[i] === guest[i] ? guest[i] : ready[i] - tk[i],
    );
    cols.delta_tr_ms[i] = init ? val(ready[i] - init[i]) : null;
    cols.boot_ms[i] = val(ready[i] - ts[i]);
  }
  return aq.table(cols, [...INSTANCE_PHASE_COLUMNS]);
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
 * ```ts
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
 * ```ts
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

/** Groups of phase rows: key columns and each row's code (−1: no phase data). */
interface PhaseGroups {
  codes: Int32Array;
  keys: { run_id: unknown; image: unknown; phase_mode: boolean }[];
  /** First row of each group. */
  first: number[];
}

function phaseGroups(p: Table, by: "image" | "run"): PhaseGroups {
  const n = p.numRows();
  const key = factorize(p, by === "run" ? "run_id" : "image");
  const mode = p.array("phase_mode") as unknown[];
  const has = p.array("has_phases") as unknown[];
  const run = rowGetter(p, "run_id");
  const img = rowGetter(p, "image");
  const codes = new Int32Array(n).fill(-1);
  const seen = new Map<string, number>();
  const keys: PhaseGroups["keys"] = [];
  const first: number[] = [];
  for (let i = 0; i < n; i++) {
    if (has[i] !== true) continue;
    const k = `${key.codes[i]}:${mode[i] === true}`;
    let c = seen.get(k);
    if (c === undefined) {
      c = keys.length;
      seen.set(k, c);
      keys.push({
        run_id: run(i),
        image: img(i),
        phase_mode: mode[i] === true,
      });
      first.push(i);
    }
    codes[i] = c;
  }
  return { codes, keys, first };
}

/** Empty column arrays for an output table. */
function emptyColumns(names: string[]): Record<string, unknown[]> {
  return Object.fromEntries(names.map((c) => [c, [] as unknown[]]));
}

/** Append one output row: the group's key, extra cells, n and quartiles. */
function pushQuartileRow(
  cols: Record<string, unknown[]>,
  by: "image" | "run",
  key: PhaseGroups["keys"][number],
  extra: Record<string, unknown>,
  s: { n: number; q: number[] },
): void {
  if (by === "run") cols.run_id.push(key.run_id);
  cols.image.push(key.image);
  cols.phase_mode.push(key.phase_mode);
  for (const [name, v] of Object.entries(extra)) cols[name].push(v);
  cols.n.push(s.n);
  cols.p25_ms.push(orNull(s.q[0]));
  cols.median_ms.push(orNull(s.q[1]));
  cols.p75_ms.push(orNull(s.q[2]));
}

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
 * phaseSummary(phasesOfRuns(set.runs)).print();
 * ```
 */
export function phaseSummary(
  instances: Table,
  options: PhaseGroupOptions = {},
): Table {
  const by = options.by ?? "image";
  const p = instancePhases(instances, options);
  const g = phaseGroups(p, by);
  const ready = equalsMask(p, "outcome", "ready");
  const names = [...groupColumns(by), ...PHASE_SUMMARY_COLUMNS.slice(2)];
  const cols = emptyColumns(names);
  const stats = PHASE_INTERVALS.map((phase) =>
    groupStats(numberColumn(p, `${phase}_ms`), {
      codes: g.codes,
      count: g.keys.length,
    }, { ps: [0.25, 0.5, 0.75], select: ready, contiguous: false })
  );
  g.keys.forEach((k, gi) => {
    PHASE_INTERVALS.forEach((phase, pi) => {
      const s = stats[pi][gi];
      if (s.n === 0) return;
      pushQuartileRow(cols, by, k, { phase }, s);
    });
  });
  return aq.table(cols, names);
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
 * phaseBins(phasesOfRuns(set.runs), { width: 4 }).print();
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
  const p = instancePhases(instances, options);
  const g = phaseGroups(p, by);
  const ready = equalsMask(p, "outcome", "ready");
  const conc = numberColumn(p, "concurrency_at_start");
  const count = g.keys.length;
  const maxBin = new Int32Array(count).fill(-1);
  for (let i = 0; i < conc.length; i++) {
    const c = g.codes[i];
    if (c < 0 || conc[i] !== conc[i]) continue;
    maxBin[c] = Math.max(maxBin[c], Math.floor(conc[i] / width));
  }
  const base = new Int32Array(count + 1);
  for (let c = 0; c < count; c++) base[c + 1] = base[c] + maxBin[c] + 1;
  const slot = new Int32Array(conc.length).fill(-1);
  for (let i = 0; i < conc.length; i++) {
    const c = g.codes[i];
    if (c >= 0 && conc[i] === conc[i]) {
      slot[i] = base[c] + Math.floor(conc[i] / width);
    }
  }
  const phases = [...PHASES, "boot"] as const;
  const stats = phases.map((phase) => {
    const values = numberColumn(p, `${phase}_ms`);
    return {
      bins: groupStats(values, { codes: slot, count: base[count] }, {
        ps: [0.25, 0.5, 0.75],
        select: ready,
        contiguous: false,
      }),
      any: groupStats(values, { codes: g.codes, count }, {
        select: ready,
        contiguous: false,
      }),
    };
  });
  const names = [...groupColumns(by), ...PHASE_BIN_COLUMNS.slice(2)];
  const cols = emptyColumns(names);
  g.keys.forEach((k, gi) => {
    for (let b = 0; b <= maxBin[gi]; b++) {
      phases.forEach((phase, pi) => {
        if (stats[pi].any[gi].n === 0) return;
        pushQuartileRow(cols, by, k, {
          bin_lo: b * width,
          bin_hi: (b + 1) * width,
          phase,
        }, stats[pi].bins[base[gi] + b]);
      });
    }
  });
  return aq.table(cols, names);
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
 * phaseGrowth(phasesOfRuns(set.runs)).orderby(aq.desc("share_of_growth")).print();
 * ```
 */
export function phaseGrowth(
  instances: Table,
  options: PhaseGroupOptions = {},
): Table {
  const by = options.by ?? "image";
  const p = instancePhases(instances, options);
  const g = phaseGroups(p, by);
  const ready = equalsMask(p, "outcome", "ready");
  const conc = numberColumn(p, "concurrency_at_start");
  const names = [...groupColumns(by), ...PHASE_GROWTH_COLUMNS.slice(2)];
  const cols: Record<string, unknown[]> = Object.fromEntries(
    names.map((c) => [c, [] as unknown[]]),
  );
  const phases = [...PHASES, "boot"] as const;
  const values = phases.map((ph) => numberColumn(p, `${ph}_ms`));
  g.keys.forEach((k, gi) => {
    const fits = values.map((v) => {
      const x: number[] = [];
      const y: number[] = [];
      for (let i = 0; i < v.length; i++) {
        if (g.codes[i] !== gi || !ready[i]) continue;
        if (v[i] !== v[i] || conc[i] !== conc[i]) continue;
        x.push(conc[i]);
        y.push(v[i]);
      }
      return linearFit(x, y);
    });
    const total = fits[fits.length - 1].slope;
    phases.forEach((phase, pi) => {
      const f = fits[pi];
      if (f.n === 0) return;
      if (by === "run") cols.run_id.push(k.run_id);
      cols.image.push(k.image);
      cols.phase_mode.push(k.phase_mode);
      cols.phase.push(phase);
      cols.n.push(f.n);
      cols.slope_ms_per_instance.push(orNull(f.slope));
      cols.r2.push(orNull(f.r2));
      cols.share_of_growth.push(
        total === total && total !== 0 ? orNull(f.slope / total) : null,
      );
    });
  });
  return aq.table(cols, names);
}
