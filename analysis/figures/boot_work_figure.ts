/**
 * Figure of boot work next to boot time: for each image, every ready
 * instance's guest instructions to ready (log scale, right) and its boot
 * time (log scale, left), medians marked. Instruction counts barely move
 * with the host's load; boot times do.
 *
 * @module
 */

import "@uwdata/flechette";
import * as Plot from "@observablehq/plot";
import type { Table } from "../columns.ts";
import { bootWorkSummary } from "../boot_work.ts";
import {
  basePlotOptions,
  composeFigure,
  type DomElement,
  FIGURE_WIDTH,
  type FigureOptions,
  svgDocument,
} from "./compose.ts";

/** Options of {@link bootWorkFigure}. */
export interface BootWorkFigureOptions extends FigureOptions {
  /** One row per value of this column (default `image`). */
  by?: string;
}

/**
 * Boot time and boot work per image as an SVG string, from instance rows
 * with `outcome`, `boot_ms`, `insns_guest_ready` and the group column.
 * Throws when no ready instance has boot-work counts (run with `--insns`).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { BOOT_WORK_COLUMNS } from "../boot_work.ts";
 * import { bootWorkFigure } from "./boot_work_figure.ts";
 * const counts = (c: string) => [c, c === "insns_guest_ready" ? [9, 9, 1.1e7, 1.2e7] : [1, 1, 1, 1]];
 * const instances = aq.table({ // a --insns run's instances: every boot-work column
 *   image: ["minkernel", "minkernel", "osv", "osv"], outcome: ["ready", "ready", "ready", "ready"],
 *   boot_ms: [150, 160, 400, 420], ...Object.fromEntries(BOOT_WORK_COLUMNS.map(counts)),
 * });
 * const svg = bootWorkFigure(instances);
 * console.log(svg.startsWith("<svg"), svg.includes("Boot time and boot work per system")); // true true
 * ```
 */
export function bootWorkFigure(
  instances: Table,
  options: BootWorkFigureOptions = {},
): string {
  const document = options.document ?? svgDocument();
  const width = options.width ?? FIGURE_WIDTH;
  const by = options.by ?? "image";
  const summary = bootWorkSummary(instances, { by });
  const order = (summary.array(by) as unknown[]).map(String);
  if (order.length === 0) {
    throw new Error(
      "Cannot draw boot work: no ready instance has insns_guest_ready. Measure with --insns (TCG only): deno task sweep --image <profile> --count 8 --back-to-back --insns",
    );
  }
  const dots = (instances.objects() as Record<string, unknown>[])
    .filter((r) =>
      r.outcome === "ready" && typeof r.insns_guest_ready === "number" &&
      typeof r.boot_ms === "number"
    )
    .map((r) => ({
      key: String(r[by]),
      s: (r.boot_ms as number) / 1000,
      // log scale: a guest part of 0 instructions is drawn at 1
      insns: Math.max(1, r.insns_guest_ready as number),
    }));
  const medians = (summary.objects() as Record<string, unknown>[]).map((r) => ({
    key: String(r[by]),
    s: (r.boot_median_ms as number) / 1000,
    insns: Math.max(1, r.insns_guest_median as number),
  }));
  const rowHeight = 22;
  const height = Math.max(140, 60 + rowHeight * order.length);
  const labelWidth = Math.min(
    170,
    12 + 6.2 * Math.max(...order.map((k) => k.length)),
  );
  const panelWidth = Math.floor((width - labelWidth) / 2);
  const y = { domain: order, label: null, grid: true };
  const left = Plot.plot({
    ...basePlotOptions(document),
    width: panelWidth + labelWidth,
    height,
    marginLeft: labelWidth,
    marginRight: 12,
    marginTop: 22,
    marginBottom: 36,
    x: {
      type: "log",
      label: "boot time ΔT (s, log)",
      grid: true,
      tickFormat: "~g",
    },
    y,
    marks: [
      Plot.dot(dots, {
        x: "s",
        y: "key",
        r: 2,
        fill: "#7a9cc6",
        fillOpacity: 0.6,
      }),
      Plot.tickX(medians, {
        x: "s",
        y: "key",
        stroke: "black",
        strokeWidth: 2,
      }),
    ],
  }) as unknown as DomElement;
  const right = Plot.plot({
    ...basePlotOptions(document),
    width: panelWidth,
    height,
    marginLeft: 12,
    marginRight: 16,
    marginTop: 22,
    marginBottom: 36,
    x: {
      type: "log",
      label: "guest instructions to ready (log)",
      grid: true,
      tickFormat: "~s",
    },
    y: { ...y, axis: null },
    marks: [
      Plot.dot(dots, {
        x: "insns",
        y: "key",
        r: 2,
        fill: "#d08c3c",
        fillOpacity: 0.6,
      }),
      Plot.tickX(medians, {
        x: "insns",
        y: "key",
        stroke: "black",
        strokeWidth: 2,
      }),
    ],
  }) as unknown as DomElement;
  return composeFigure(document, [
    { plot: left, x: 0, y: 0 },
    { plot: right, x: panelWidth + labelWidth, y: 0 },
  ], {
    width,
    height,
    title: options.title ?? "Boot time and boot work per system",
    subtitle: options.subtitle ??
      "each ready instance (dots) and the median (bar); boot work = guest instructions to the ready line, firmware apart (--insns)",
    legend: [
      { label: "boot time", color: "#7a9cc6", shape: "dot" },
      { label: "guest instructions", color: "#d08c3c", shape: "dot" },
      { label: "median", color: "black" },
    ],
  });
}
