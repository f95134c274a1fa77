/**
 * Figure of the empirical distribution (ECDF) of boot time, one curve per
 * image.
 *
 * @module
 */

import "@uwdata/flechette";
import * as Plot from "@observablehq/plot";
import type { Table } from "../columns.ts";
import { ecdf } from "../summary.ts";
import {
  basePlotOptions,
  composeFigure,
  type DomElement,
  FIGURE_WIDTH,
  type FigureOptions,
  svgDocument,
} from "./compose.ts";

/** Options of {@link ecdfFigure}. */
export interface EcdfFigureOptions extends FigureOptions {
  /** One curve per value of this column (default `image`). */
  by?: string;
  /** Column (default `boot_ms`; also `first_output_boot_ms`). */
  value?: string;
  /** Logarithmic time axis (default: when the slowest boot is over 20× the fastest). */
  logX?: boolean;
  /** Plot height in px (default 320). */
  height?: number;
}

/**
 * ECDF of boot time as an SVG string: for each group (`image` by default)
 * the fraction of its ready instances booted within t seconds (step
 * curve), from the instance rows (columns `outcome`, the value column and
 * the group column).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { svgDocument } from "./compose.ts";
 * import { ecdfFigure } from "./ecdf_figure.ts";
 * const instances = aq.table({
 *   image: ["minkernel", "minkernel", "osv", "osv"], outcome: ["ready", "ready", "ready", "timeout"],
 *   boot_ms: [150, 160, 400, null],
 * });
 * const svg = ecdfFigure(instances, { document: svgDocument() }); // one document can hold many figures
 * console.log(svg.startsWith("<svg"), svg.includes("Distribution of boot time")); // true true
 * ```
 */
export function ecdfFigure(
  instances: Table,
  options: EcdfFigureOptions = {},
): string {
  const document = options.document ?? svgDocument();
  const width = options.width ?? FIGURE_WIDTH;
  const height = options.height ?? 320;
  const by = options.by ?? "image";
  const value = options.value ?? "boot_ms";
  const rows =
    (ecdf(instances, { by, value }).objects() as Record<string, unknown>[])
      .map((r) => ({
        key: String(r[by]),
        s: (r[value] as number) / 1000,
        p: r.p as number,
      }));
  if (rows.length === 0) {
    throw new Error(
      `Cannot draw an ECDF: no ready instance has a "${value}" value. Check the run's outcomes (deno task analyze <run>).`,
    );
  }
  const keys = [...new Set(rows.map((r) => r.key))];
  // start each curve at p = 0 just left of its first value
  const curves = keys.flatMap((k) => {
    const rs = rows.filter((r) => r.key === k);
    return [{ key: k, s: rs[0].s, p: 0 }, ...rs];
  });
  let lo = Infinity;
  let hi = 0;
  for (const r of rows) {
    lo = Math.min(lo, r.s);
    hi = Math.max(hi, r.s);
  }
  const logX = options.logX ?? (lo > 0 && hi / lo > 20);
  const plot = Plot.plot({
    ...basePlotOptions(document),
    width,
    height,
    marginTop: 24,
    marginLeft: 50,
    marginRight: 20,
    marginBottom: 36,
    x: {
      type: logX ? "log" : "linear",
      label: value === "boot_ms"
        ? "boot time ΔT (s)"
        : `${value.replace(/_ms$/, "")} (s)`,
      grid: true,
      ...(logX ? { tickFormat: "~g" } : { domain: [0, hi], nice: true }),
    },
    y: { domain: [0, 1], label: "fraction of instances booted", grid: true },
    color: { domain: keys },
    marks: [
      Plot.line(curves, {
        x: "s",
        y: "p",
        z: "key",
        stroke: "key",
        curve: "step-after",
        strokeWidth: 1.5,
      }),
    ],
  }) as unknown as DomElement;
  const scale = (plot as unknown as Plot.Plot).scale("color");
  const colors = (scale?.range ?? []) as string[];
  return composeFigure(document, [{ plot, x: 0, y: 0 }], {
    width,
    height,
    title: options.title ?? "Distribution of boot time",
    subtitle: options.subtitle ??
      `ECDF of ΔT per ${by} over ready instances${
        logX ? " (log time axis)" : ""
      }`,
    legend: keys.map((k, i) => ({
      label: k,
      color: colors[i % colors.length] ?? "black",
    })),
  });
}
