/**
 * Figure of boot time against memory across runs or images, with the
 * least-squares line and the rank correlation ρ with its bootstrap
 * interval.
 *
 * @module
 */

import "@uwdata/flechette";
import * as Plot from "@observablehq/plot";
import type { Table } from "../columns.ts";
import { correlate } from "../correlation.ts";
import {
  basePlotOptions,
  composeFigure,
  type DomElement,
  FIGURE_WIDTH,
  type FigureOptions,
  svgDocument,
} from "./compose.ts";

/** One row of a correlation table (see `correlate`). */
export interface CorrelationRow {
  /** Column on x. */
  x: string;
  /** Column on y. */
  y: string;
  /** Rows where both are finite. */
  n: number;
  /** Pearson r. */
  pearson: number | null;
  /** Low end of r's bootstrap interval. */
  pearson_lo: number | null;
  /** High end of r's bootstrap interval. */
  pearson_hi: number | null;
  /** Spearman ρ. */
  spearman: number | null;
  /** Low end of ρ's bootstrap interval. */
  spearman_lo: number | null;
  /** High end of ρ's bootstrap interval. */
  spearman_hi: number | null;
  /** Slope of the least-squares line y = intercept + slope·x. */
  slope: number | null;
  /** Intercept of that line. */
  intercept: number | null;
  /** r² of that line. */
  r2: number | null;
}

/** Options of {@link bootMemoryFigure}. */
export interface BootMemoryFigureOptions extends FigureOptions {
  /** Memory column (default `per_booting_kib`; `_kib` columns are drawn in MiB). */
  x?: string;
  /** Boot-time column (default `median_ms`; `_ms` columns are drawn in seconds). */
  y?: string;
  /** Correlation table from `correlate`/`bootMemoryCorrelation` (its row for x, y is used); default: `correlate(summary, x, y, { seed: 1 })`. */
  correlation?: Table | CorrelationRow;
  /** Colour points by this column (default `image`). */
  colorBy?: string;
  /** Plot height in px (default 340). */
  height?: number;
}

const X_LABELS: Record<string, string> = {
  per_booting_kib: "system memory per booting instance at the peak (MiB)",
  rss_median_kib: "median RSS of one QEMU process (MiB)",
  peak_used_kib: "peak system memory in use (MiB)",
};

function unit(column: string): { factor: number; label: string } {
  if (column.endsWith("_kib")) {
    return { factor: 1 / 1024, label: `${column.replace(/_kib$/, "")} (MiB)` };
  }
  if (column.endsWith("_ms")) {
    return { factor: 1 / 1000, label: `${column.replace(/_ms$/, "")} (s)` };
  }
  return { factor: 1, label: column };
}

function fmt(v: number | null, digits = 2): string {
  return v === null || !Number.isFinite(v)
    ? "n/a"
    : v.toFixed(digits).replace("-", "−");
}

function pickRow(
  correlation: Table | CorrelationRow | undefined,
  summary: Table,
  x: string,
  y: string,
): CorrelationRow {
  if (correlation && "objects" in correlation) {
    const row = (correlation.objects() as unknown as CorrelationRow[]).find((
      r,
    ) => r.x === x && r.y === y);
    if (!row) {
      throw new Error(
        `Cannot annotate the fit: the correlation table has no row for x = "${x}", y = "${y}". Compute it with correlate(summary, "${x}", "${y}").`,
      );
    }
    return row;
  }
  if (correlation) return correlation as CorrelationRow;
  return correlate(summary, x, y, { seed: 1 })
    .objects()[0] as unknown as CorrelationRow;
}

/**
 * Boot time against memory as an SVG string: one dot per summary row
 * (per run or per image, from `summarize(…, { memory })`), coloured by
 * image, the least-squares line y = intercept + slope·x over the x range,
 * and in the subtitle Spearman ρ and Pearson r with their 95 % bootstrap
 * intervals, n and r².
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { bootMemoryFigure } from "./boot_memory_figure.ts";
 * // Per-run rows as summarize(set.instances, { memory: set.memory }) gives them:
 * const summary = aq.table({
 *   run_id: ["a", "b", "c", "d"], image: ["minkernel", "minkernel", "osv", "osv"],
 *   per_booting_kib: [10e3, 12e3, 30e3, 34e3], median_ms: [150, 170, 400, 450],
 * });
 * // the correlation is computed (seed 1) unless given: { correlation: bootMemoryCorrelation(summary) }
 * const svg = bootMemoryFigure(summary);
 * console.log(svg.startsWith("<svg"), svg.includes("Boot time against memory")); // true true
 * ```
 */
export function bootMemoryFigure(
  summary: Table,
  options: BootMemoryFigureOptions = {},
): string {
  const document = options.document ?? svgDocument();
  const width = options.width ?? FIGURE_WIDTH;
  const height = options.height ?? 340;
  const x = options.x ?? "per_booting_kib";
  const y = options.y ?? "median_ms";
  const colorBy = options.colorBy ?? "image";
  const names = summary.columnNames();
  for (const c of [x, y]) {
    if (!names.includes(c)) {
      throw new Error(
        `Cannot plot boot time against memory: the summary has no column "${c}". Build it with summarize(instances, { memory }).`,
      );
    }
  }
  const ux = unit(x);
  const uy = unit(y);
  const points = (summary.objects() as Record<string, unknown>[])
    .map((r) => ({
      key: names.includes(colorBy) ? String(r[colorBy]) : "all",
      x: (r[x] as number) * ux.factor,
      y: (r[y] as number) * uy.factor,
    }))
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (points.length === 0) {
    throw new Error(
      `Cannot plot boot time against memory: no row has both "${x}" and "${y}". Pass the memory samples to summarize(instances, { memory }).`,
    );
  }
  const row = pickRow(options.correlation, summary, x, y);
  const xs = points.map((p) => p.x);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const line = row.slope !== null && row.intercept !== null && x1 > x0
    ? [x0, x1].map((v) => ({
      x: v,
      y: (row.intercept! + row.slope! * (v / ux.factor)) * uy.factor,
    }))
    : [];
  const keys = [...new Set(points.map((p) => p.key))];
  const plot = Plot.plot({
    ...basePlotOptions(document),
    width,
    height,
    marginTop: 24,
    marginLeft: 56,
    marginRight: 20,
    marginBottom: 38,
    x: { label: X_LABELS[x] ?? ux.label, grid: true, nice: true },
    y: {
      label: y === "median_ms" ? "median boot time ΔT (s)" : uy.label,
      grid: true,
      nice: true,
    },
    color: { domain: keys },
    marks: [
      Plot.line(line, {
        x: "x",
        y: "y",
        stroke: "#777",
        strokeDasharray: "5,3",
        strokeWidth: 1.5,
      }),
      Plot.dot(points, { x: "x", y: "y", fill: "key", r: 4, stroke: "white" }),
    ],
  }) as unknown as DomElement;
  const colors =
    ((plot as unknown as Plot.Plot).scale("color")?.range ?? []) as string[];
  const subtitle =
    `Spearman ρ = ${fmt(row.spearman)} [${fmt(row.spearman_lo)}, ${
      fmt(row.spearman_hi)
    }], ` +
    `Pearson r = ${fmt(row.pearson)} [${fmt(row.pearson_lo)}, ${
      fmt(row.pearson_hi)
    }] ` +
    `(95% bootstrap), n = ${row.n}; dashed: least squares, r² = ${fmt(row.r2)}`;
  return composeFigure(document, [{ plot, x: 0, y: 0 }], {
    width,
    height,
    title: options.title ?? "Boot time against memory",
    subtitle: options.subtitle ?? subtitle,
    legend: keys.length > 1 || keys[0] !== "all"
      ? keys.map((k, i) => ({
        label: k,
        color: colors[i % colors.length] ?? "black",
        shape: "dot" as const,
      }))
      : [],
  });
}
