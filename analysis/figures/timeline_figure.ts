/**
 * Figure of one run's timeline (the paper's Figures 3, 5, 7, 9, 11): a
 * segment per instance from T_s to the end of its boot, the number of
 * instances booting, and the system memory in use, on one time axis.
 *
 * @module
 */

import "@uwdata/flechette";
import * as Plot from "@observablehq/plot";
import * as aq from "arquero";
import type { Table } from "../columns.ts";
import { numberColumn } from "../columns.ts";
import type { ReadRunRecord } from "../load.ts";
import {
  bootingOverTime,
  memoryColumn,
  timelineSegments,
} from "../timeline.ts";
import {
  basePlotOptions,
  composeFigure,
  type DomElement,
  FIGURE_WIDTH,
  type FigureOptions,
  type LegendItem,
  svgDocument,
} from "./compose.ts";

/** The data of one run the timeline needs (a loaded `Run` fits). */
export interface TimelineData {
  /** Instance rows (`instance`, `t_s_ms`, `boot_end_ms`, `outcome`). */
  instances: Table;
  /** Memory samples (`t_ms`, `used_kib`); without them the memory panel is left out. */
  memory?: Table;
  /** run.json, for the default title. */
  record?: ReadRunRecord;
}

/** Options of {@link timelineFigure}. */
export interface TimelineFigureOptions extends FigureOptions {
  /** Which run to draw when the tables hold several (default: the only one). */
  runId?: string;
  /** Heights of the three panels in px (default 260, 110, 130). */
  heights?: [number, number, number];
}

const READY_COLOR = "#4269d0";
const FAILED_COLOR = "#ff725c";
const MARGIN_LEFT = 60;
const MARGIN_RIGHT = 20;

/**
 * The launch pattern of a run in a few characters: "b2b", "5 ms", "P=4".
 *
 * @example
 * ```ts
 * import { shortPattern } from "./timeline_figure.ts";
 * console.log(shortPattern({ kind: "interval", interval_ms: 5 }), shortPattern({ kind: "parallel", parallelism: 4 })); // "5 ms" "P=4"
 * ```
 */
export function shortPattern(pattern: ReadRunRecord["pattern"]): string {
  switch (pattern?.kind) {
    case "interval":
      return `${pattern.interval_ms} ms`;
    case "back-to-back":
      return "b2b";
    case "parallel":
      return `P=${pattern.parallelism}`;
    default:
      return pattern?.kind ?? "?";
  }
}

/**
 * A short description of a run: image, N, launch pattern and accelerator.
 *
 * @example
 * ```ts
 * import { runLabel } from "./timeline_figure.ts";
 * console.log(runLabel({
 *   schema_version: 3, run_id: "r1", count: 16, profile: { name: "minkernel" },
 *   pattern: { kind: "interval", interval_ms: 5 }, accelerator: { kind: "tcg" },
 * })); // "minkernel · N=16 · every 5 ms · TCG"
 * ```
 */
export function runLabel(record: ReadRunRecord): string {
  const p = record.pattern;
  const pattern = p?.kind === "interval"
    ? `every ${p.interval_ms} ms`
    : p?.kind === "parallel"
    ? `${p.parallelism} in parallel`
    : p?.kind ?? "unknown pattern";
  const parts = [
    record.profile?.name ?? String(record.image?.path ?? "unknown"),
    `N=${record.count}`,
    pattern,
  ];
  if (record.accelerator?.kind) {
    parts.push(record.accelerator.kind.toUpperCase());
  }
  return parts.join(" · ");
}

/**
 * Min–max decimation of a time series into at most `buckets` equal time
 * buckets (each keeps its lowest and highest point, in time order), so a
 * 2 kHz memory trace draws as the same picture with a few hundred points.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decimate } from "./timeline_figure.ts";
 * assert.deepEqual(decimate([0, 1, 2, 3], [5, 9, 1, 4], 1), { t: [1, 2], v: [9, 1] }); // the bucket's highest and lowest
 * assert.deepEqual(decimate([0, 1], [5, 9], 1), { t: [0, 1], v: [5, 9] }); // few points: kept as they are
 * ```
 */
export function decimate(
  t: ArrayLike<number>,
  v: ArrayLike<number>,
  buckets: number,
): { t: number[]; v: number[] } {
  const idx: number[] = [];
  for (let i = 0; i < t.length; i++) {
    if (Number.isFinite(t[i]) && Number.isFinite(v[i])) idx.push(i);
  }
  idx.sort((a, b) => t[a] - t[b]);
  if (idx.length <= 2 * buckets) {
    return {
      t: idx.map((i) => t[i]),
      v: idx.map((i) => v[i]),
    };
  }
  const t0 = t[idx[0]];
  const span = t[idx[idx.length - 1]] - t0 || 1;
  const out: number[] = [];
  let k = 0;
  for (let b = 0; b < buckets; b++) {
    const end = t0 + ((b + 1) / buckets) * span;
    let lo = -1;
    let hi = -1;
    while (k < idx.length && (t[idx[k]] < end || b === buckets - 1)) {
      const i = idx[k++];
      if (lo < 0 || v[i] < v[lo]) lo = i;
      if (hi < 0 || v[i] > v[hi]) hi = i;
    }
    if (lo < 0) continue;
    if (lo === hi) out.push(lo);
    else out.push(...(t[lo] <= t[hi] ? [lo, hi] : [hi, lo]));
  }
  return { t: out.map((i) => t[i]), v: out.map((i) => v[i]) };
}

function onlyRun(table: Table, runId: string | undefined, what: string): Table {
  if (!table.columnNames().includes("run_id")) return table;
  const ids = [...new Set(table.array("run_id") as unknown[])];
  if (runId === undefined) {
    if (ids.length > 1) {
      throw new Error(
        `Cannot draw one timeline from ${what} of ${ids.length} runs: pass { runId } (one of ${
          ids.slice(0, 3).join(", ")
        }${ids.length > 3 ? ", …" : ""})`,
      );
    }
    return table;
  }
  if (!ids.includes(runId) && table.numRows() > 0) {
    throw new Error(
      `Cannot draw the timeline of run "${runId}": ${what} has no row of it (runs: ${
        ids.slice(0, 3).join(", ")
      })`,
    );
  }
  return table.filter(aq.escape((d: { run_id: unknown }) => d.run_id === runId))
    .reify();
}

/**
 * The timeline of one run as an SVG string: top panel one horizontal
 * segment per instance (y = launch order) from T_s (`t_s_ms`) to the end
 * of its boot (`boot_end_ms`; red when it did not become ready), middle
 * panel the number of instances booting (step function), bottom panel the
 * whole-system memory in use in MiB with its peak marked; x is seconds
 * after T_0 in every panel.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { timelineFigure } from "./timeline_figure.ts";
 * // a loaded run (loadRun(dir)) fits as it is; here its instances and memory samples:
 * const instances = aq.table({
 *   run_id: ["r1", "r1", "r1", "r1"], image: ["minkernel", "minkernel", "minkernel", "minkernel"],
 *   instance: [0, 1, 2, 3], outcome: ["ready", "ready", "ready", "timeout"], concurrency_at_start: [0, 1, 2, 3],
 *   t_s_ms: [0, 5, 10, 15], boot_ms: [150, 160, 170, null], boot_end_ms: [150, 165, 180, 1015],
 * });
 * const memory = aq.table({ t_ms: [0, 100, 200], used_kib: [1e6, 1.05e6, 1.02e6] });
 * const svg = timelineFigure({ instances, memory }); // write it with Deno.writeTextFile("timeline.svg", svg)
 * console.log(svg.startsWith("<svg"), svg.includes(">Timeline</text>")); // true true
 * ```
 */
export function timelineFigure(
  data: TimelineData,
  options: TimelineFigureOptions = {},
): string {
  const document = options.document ?? svgDocument();
  const width = options.width ?? FIGURE_WIDTH;
  const [h1, h2, h3] = options.heights ?? [260, 110, 130];
  const instances = onlyRun(data.instances, options.runId, "instances");
  const segs = (timelineSegments(instances).objects() as {
    instance: number;
    t_s_ms: number;
    boot_end_ms: number | null;
    outcome: string;
  }[]).filter((d) => d.boot_end_ms !== null && Number.isFinite(d.t_s_ms));
  const booting = bootingOverTime(instances).objects() as {
    t_ms: number;
    booting: number;
  }[];
  let mem: { t: number[]; v: number[] } | null = null;
  let memLabel = "system memory in use (MiB)";
  if (data.memory && data.memory.numRows() > 0) {
    const m = onlyRun(data.memory, options.runId, "memory");
    // The run's own curve (its cgroup) when there is one, else the system's;
    // samples where the chosen column was not read are skipped.
    const col = memoryColumn(m);
    if (col === "run_used_kib") memLabel = "the run's memory, cgroup (MiB)";
    const t = numberColumn(m, "t_ms");
    const v = numberColumn(m, col);
    const keep: number[] = [];
    for (let i = 0; i < v.length; i++) if (Number.isFinite(v[i])) keep.push(i);
    mem = decimate(
      Float64Array.from(keep, (i) => t[i]),
      Float64Array.from(keep, (i) => v[i]),
      width,
    );
  }
  let x0 = 0;
  let x1 = 0;
  for (const s of segs) x1 = Math.max(x1, s.boot_end_ms!);
  for (const b of booting) x1 = Math.max(x1, b.t_ms);
  if (mem && mem.t.length) {
    x0 = Math.min(x0, mem.t[0]);
    x1 = Math.max(x1, mem.t[mem.t.length - 1]);
  }
  const xDomain = [x0 / 1000, (x1 > x0 ? x1 : x0 + 1) / 1000];
  const xs = (label: string | null) => ({
    domain: xDomain,
    label,
    grid: true,
    axis: label === null ? null : "bottom" as const,
  });
  const common = {
    ...basePlotOptions(document),
    width,
    marginLeft: MARGIN_LEFT,
    marginRight: MARGIN_RIGHT,
  };
  const failed = segs.some((s) => s.outcome !== "ready");
  const p1 = Plot.plot({
    ...common,
    height: h1,
    marginTop: 26,
    marginBottom: 6,
    x: xs(null),
    y: {
      label: "instance (launch order): T_s → T_e",
      labelArrow: "up",
      domain: [0, Math.max(1, segs.length - 1)],
      nice: true,
    },
    marks: [
      Plot.ruleY(segs, {
        y: "instance",
        x1: (d) => d.t_s_ms / 1000,
        x2: (d) => d.boot_end_ms! / 1000,
        stroke: (d) => (d.outcome === "ready" ? READY_COLOR : FAILED_COLOR),
        strokeWidth: segs.length > 200 ? 0.6 : 1.2,
      }),
    ],
  }) as unknown as DomElement;
  const last = !mem;
  const p2 = Plot.plot({
    ...common,
    height: h2 + (last ? 30 : 0),
    marginTop: 20,
    marginBottom: last ? 36 : 6,
    x: xs(last ? "time since T₀ (s)" : null),
    y: {
      label: "instances booting",
      grid: true,
      nice: true,
      domain: [0, Math.max(1, ...booting.map((b) => b.booting))],
    },
    marks: [
      Plot.areaY(booting, {
        x: (d) => d.t_ms / 1000,
        y: "booting",
        curve: "step-after",
        fill: READY_COLOR,
        fillOpacity: 0.2,
      }),
      Plot.line(booting, {
        x: (d) => d.t_ms / 1000,
        y: "booting",
        curve: "step-after",
        stroke: READY_COLOR,
      }),
    ],
  }) as unknown as DomElement;
  const panels = [
    { plot: p1, x: 0, y: 0 },
    { plot: p2, x: 0, y: h1 },
  ];
  let height = h1 + h2 + (last ? 30 : 0);
  if (mem) {
    const rows = mem.t.map((t, i) => ({ t: t / 1000, mib: mem!.v[i] / 1024 }));
    let peak = rows[0];
    for (const r of rows) if (r.mib > peak.mib) peak = r;
    const p3 = Plot.plot({
      ...common,
      height: h3 + 30,
      marginTop: 20,
      marginBottom: 36,
      x: xs("time since T₀ (s)"),
      y: { label: memLabel, grid: true, nice: true },
      marks: [
        Plot.line(rows, { x: "t", y: "mib", stroke: "#3ca951" }),
        Plot.dot([peak], { x: "t", y: "mib", fill: "#3ca951", r: 3 }),
        Plot.text([peak], {
          x: "t",
          y: "mib",
          text: (d) => `peak ${Math.round(d.mib)} MiB`,
          dy: -8,
          textAnchor: peak.t > (xDomain[0] + xDomain[1]) / 2 ? "end" : "start",
          fill: "black",
        }),
      ],
    }) as unknown as DomElement;
    panels.push({ plot: p3, x: 0, y: h1 + h2 });
    height += h3 + 30;
  }
  const legend: LegendItem[] = failed
    ? [{ label: "ready", color: READY_COLOR }, {
      label: "not ready",
      color: FAILED_COLOR,
    }]
    : [];
  const ready = segs.filter((s) => s.outcome === "ready").length;
  return composeFigure(document, panels, {
    width,
    height,
    title: options.title ??
      (data.record ? `Timeline: ${runLabel(data.record)}` : "Timeline"),
    subtitle: options.subtitle ??
      `${segs.length} instances, ${ready} ready; segment = ΔT from T_s (spawn) to T_e (ready line)`,
    legend,
  });
}
