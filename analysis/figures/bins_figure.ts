/**
 * Figure of boot time by concurrency bin (the paper's Figures 4, 6, 8, 10,
 * 12): min, median and max ΔT of the instances that started while a given
 * number of others were booting, one panel per run (image × N).
 *
 * @module
 */

import "@uwdata/flechette";
import * as Plot from "@observablehq/plot";
import type { Table } from "../columns.ts";
import {
  basePlotOptions,
  composeFigure,
  type DomElement,
  FIGURE_WIDTH,
  type FigureOptions,
  type Panel,
  svgDocument,
} from "./compose.ts";

/** Options of {@link concurrencyBinsFigure}. */
export interface BinsFigureOptions extends FigureOptions {
  /** Panels per row (default: up to 3). */
  columns?: number;
  /** Height of one panel in px (default 210). */
  panelHeight?: number;
  /** Panel label per run_id (default "image · N=…", with the run id's last part when two runs share it); cut to fit. */
  labels?: Readonly<Record<string, string>>;
}

/** Colours of the three statistics. */
export const BIN_STAT_COLORS = {
  min: "#4269d0",
  median: "#1f1f1f",
  max: "#ff725c",
} as const;

interface BinRow {
  run_id: string;
  image: string;
  count_n: number;
  bin_lo: number;
  bin_hi: number;
  n: number;
  min_ms: number | null;
  median_ms: number | null;
  max_ms: number | null;
}

/**
 * Min / median / max boot time per concurrency bin as an SVG string, from
 * the rows of `concurrencyBins()` (columns `run_id`, `image`, `count_n`,
 * `bin_lo`, `bin_hi`, `n`, `min_ms`, `median_ms`, `max_ms`). One panel per
 * run, labelled "image · N=…", ordered by image (first appearance) then N,
 * flowing left to right in rows of `columns`; the panels of one image share
 * the y axis (seconds, from 0). A point sits at the middle of its bin; empty bins leave gaps; a
 * grey rule spans min to max.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { concurrencyBinsFigure } from "./bins_figure.ts";
 * // The rows of concurrencyBins(instances, { width: 2 }) for one run:
 * const bins = aq.table({
 *   run_id: ["r1", "r1"], image: ["osv", "osv"], count_n: [4, 4], bin_lo: [0, 2], bin_hi: [2, 4], n: [2, 2],
 *   min_ms: [380, 420], median_ms: [390, 450], max_ms: [400, 480],
 * });
 * const svg = concurrencyBinsFigure(bins);
 * console.log(svg.startsWith("<svg"), svg.includes("Boot time by concurrency at start")); // true true
 * ```
 */
export function concurrencyBinsFigure(
  bins: Table,
  options: BinsFigureOptions = {},
): string {
  const document = options.document ?? svgDocument();
  const width = options.width ?? FIGURE_WIDTH;
  const panelHeight = options.panelHeight ?? 210;
  const rows = bins.objects() as BinRow[];
  if (rows.length === 0) {
    throw new Error(
      "Cannot draw concurrency bins from an empty table: compute them with concurrencyBins(instances) on a run with instances",
    );
  }
  const runs = new Map<string, BinRow[]>();
  for (const r of rows) {
    const key = String(r.run_id);
    if (!runs.has(key)) runs.set(key, []);
    runs.get(key)!.push(r);
  }
  const images = [...new Set(rows.map((r) => String(r.image)))];
  const byImage = images.map((image) =>
    [...runs.values()].filter((rs) => String(rs[0].image) === image)
      .sort((a, b) => a[0].count_n - b[0].count_n)
  );
  const all = byImage.flat();
  const columns = Math.max(1, options.columns ?? Math.min(3, all.length));
  const panelWidth = width / columns;
  const panels: Panel[] = [];
  const labels = new Map<string, number>();
  for (const r of all) {
    const l = `${r[0].image} · N=${r[0].count_n}`;
    labels.set(l, (labels.get(l) ?? 0) + 1);
  }
  let k = 0;
  for (const imageRuns of byImage) {
    const yMax = Math.max(
      0.001,
      ...imageRuns.flat().map((r) => (r.max_ms ?? 0) / 1000),
    );
    for (const runRows of imageRuns) {
      const col = k % columns;
      const y = Math.floor(k / columns) * panelHeight;
      k++;
      const first = runRows[0];
      const long = runRows.flatMap((r) => {
        const x = (r.bin_lo + r.bin_hi) / 2;
        return (["min", "median", "max"] as const).map((stat) => {
          const v = r[`${stat}_ms`];
          return { x, stat, s: v === null ? NaN : v / 1000 };
        });
      });
      const filled = runRows.filter((r) => r.n > 0);
      const xMax = Math.max(...runRows.map((r) => r.bin_hi));
      const given = options.labels?.[String(first.run_id)];
      let label = given ?? `${first.image} · N=${first.count_n}`;
      if (!given && (labels.get(label) ?? 0) > 1) {
        label += ` · ${String(first.run_id).split("-").pop()}`;
      }
      const fit = Math.max(8, Math.floor((panelWidth - 16) / 6.6));
      if (label.length > fit) label = label.slice(0, fit - 1) + "…";
      const plot = Plot.plot({
        ...basePlotOptions(document),
        width: panelWidth,
        height: panelHeight,
        marginTop: 22,
        marginLeft: 50,
        marginRight: 12,
        marginBottom: 34,
        x: { domain: [0, xMax], label: "instances booting at T_s", grid: true },
        y: {
          domain: [0, yMax],
          nice: true,
          label: "ΔT (s)",
          labelAnchor: "center",
          grid: true,
        },
        color: {
          domain: ["min", "median", "max"],
          range: [
            BIN_STAT_COLORS.min,
            BIN_STAT_COLORS.median,
            BIN_STAT_COLORS.max,
          ],
        },
        marks: [
          Plot.ruleX(filled, {
            x: (r: BinRow) => (r.bin_lo + r.bin_hi) / 2,
            y1: (r: BinRow) => r.min_ms! / 1000,
            y2: (r: BinRow) => r.max_ms! / 1000,
            stroke: "#c8c8c8",
            strokeWidth: 3,
          }),
          Plot.line(long, {
            x: "x",
            y: "s",
            z: "stat",
            stroke: "stat",
            strokeWidth: 1.5,
          }),
          Plot.dot(long, { x: "x", y: "s", fill: "stat", r: 2.5 }),
        ],
      }) as unknown as DomElement;
      panels.push({ plot, x: col * panelWidth, y, label });
    }
  }
  const height = Math.ceil(k / columns) * panelHeight;
  const widths = [...new Set(rows.map((r) => r.bin_hi - r.bin_lo))];
  return composeFigure(document, panels, {
    width,
    height,
    title: options.title ?? "Boot time by concurrency at start",
    subtitle: options.subtitle ??
      `ΔT of the instances started while k others were booting, bins of ${
        widths.join("/")
      } instances (paper Figs. 4, 6, 8, 10, 12)`,
    legend: [
      { label: "min", color: BIN_STAT_COLORS.min },
      { label: "median", color: BIN_STAT_COLORS.median },
      { label: "max", color: BIN_STAT_COLORS.max },
      { label: "min–max", color: "#c8c8c8" },
    ],
  });
}
