/**
 * Figure of the classifier's feature space: the reference runs on two
 * features, coloured by class, and a new image placed among them.
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import type { Classification, Reference } from "../classify.ts";
import { FEATURE_LABELS, type FeatureName } from "../features.ts";
import {
  basePlotOptions,
  CLASS_COLORS,
  composeFigure,
  type DomElement,
  FIGURE_WIDTH,
  type FigureOptions,
  type LegendItem,
  svgDocument,
} from "./compose.ts";

/** One point of the feature space. */
export interface FeaturePoint {
  /** System (image) name, used as label. */
  name: string;
  /** Class (`baseline`, `libos`, `linux`, or `unknown`/null for an unlabelled run). */
  class: string | null;
  /** Its value of the feature on x (null: left out of the figure). */
  x: number | null;
  /** Its value of the feature on y (null: left out of the figure). */
  y: number | null;
  /** `paper` points are drawn hollow (default `measured`). */
  source?: "measured" | "paper";
  /** The point being classified (drawn large with its verdict). */
  highlight?: boolean;
}

/** Options of {@link featureSpaceFigure}. */
export interface FeatureSpaceOptions extends FigureOptions {
  /** Name of the feature on x (axis label; default "x"). */
  xFeature?: string;
  /** Name of the feature on y (axis label; default "y"). */
  yFeature?: string;
  /** Plot height in px (default 380). */
  height?: number;
}

/**
 * Feature-space points from a reference set (one per reference point) and,
 * optionally, the classified run (highlighted, with its verdict as class).
 * Points lacking either feature are kept with null coordinates (the figure
 * leaves them out and says how many).
 *
 * @example
 * ```ts
 * import { loadReference } from "../classify.ts";
 * import { featurePoints } from "./feature_space_figure.ts";
 * const ref = await loadReference("data/reference"); // run from the project root
 * // add { classification: classify(run, ref) } to place a classified run among them
 * const points = featurePoints(ref, { x: "log_code_insns", y: "log_cr3_writes" });
 * console.log(points.length === ref.points.length, points.find((p) => p.name === "osv")?.class); // true libos
 * ```
 */
export function featurePoints(
  reference: Reference,
  options: { x: FeatureName; y: FeatureName; classification?: Classification },
): FeaturePoint[] {
  const pts: FeaturePoint[] = reference.points.map((p) => ({
    name: p.system,
    class: p.class,
    x: p.features[options.x],
    y: p.features[options.y],
    source: p.source,
  }));
  const c = options.classification;
  if (c) {
    pts.push({
      name: c.image,
      class: c.class,
      x: c.features[options.x],
      y: c.features[options.y],
      highlight: true,
    });
  }
  return pts;
}

/**
 * The feature space as an SVG string: reference points coloured by class
 * (filled: measured here; hollow: taken from the paper), each system named
 * once per source (at its point nearest the mean of its points; paper
 * points as "name (paper)"), and the highlighted point(s) ringed and
 * labelled "name → class".
 *
 * @example
 * ```ts
 * import { featureSpaceFigure } from "./feature_space_figure.ts";
 * const svg = featureSpaceFigure(
 *   [{ name: "minkernel", class: "baseline", x: 0, y: 0 }, { name: "new", class: "libos", x: 2, y: 1, highlight: true }],
 *   { xFeature: "log_boot_ratio", yFeature: "log_mem_ratio" },
 * );
 * console.log(svg.startsWith("<svg"), svg.includes("new → libos")); // true true
 * ```
 */
export function featureSpaceFigure(
  points: readonly FeaturePoint[],
  options: FeatureSpaceOptions = {},
): string {
  const document = options.document ?? svgDocument();
  const width = options.width ?? FIGURE_WIDTH;
  const height = options.height ?? 380;
  const xf = options.xFeature ?? "x";
  const yf = options.yFeature ?? "y";
  const cls = (p: FeaturePoint) => p.class ?? "unknown";
  const usable = points.filter((p) =>
    Number.isFinite(p.x) && Number.isFinite(p.y)
  )
    .map((p) => ({ ...p, x: p.x as number, y: p.y as number, c: cls(p) }));
  if (usable.length === 0) {
    throw new Error(
      `Cannot draw the feature space: no point has both "${xf}" and "${yf}". Pick two features the reference points have (see referenceCsv).`,
    );
  }
  const ref = usable.filter((p) => !p.highlight);
  const hi = usable.filter((p) => p.highlight);
  // label each system once per source, at its point nearest the mean of its points
  const key = (p: { name: string; source?: string }) =>
    `${p.source ?? "measured"}|${p.name}`;
  const centres = [...new Set(ref.map(key))].map((k) => {
    const ps = ref.filter((p) => key(p) === k);
    const mx = ps.reduce((a, p) => a + p.x, 0) / ps.length;
    const my = ps.reduce((a, p) => a + p.y, 0) / ps.length;
    let best = ps[0];
    for (const p of ps) {
      if (
        (p.x - mx) ** 2 + (p.y - my) ** 2 <
          (best.x - mx) ** 2 + (best.y - my) ** 2
      ) best = p;
    }
    return {
      name: best.source === "paper" ? `${best.name} (paper)` : best.name,
      x: best.x,
      y: best.y,
    };
  });
  const classes = [...new Set(usable.map((p) => p.c))].sort((a, b) =>
    Object.keys(CLASS_COLORS).indexOf(a) - Object.keys(CLASS_COLORS).indexOf(b)
  );
  const colorOf = (c: string) => CLASS_COLORS[c] ?? CLASS_COLORS.unknown;
  const plot = Plot.plot({
    ...basePlotOptions(document),
    width,
    height,
    marginTop: 24,
    marginLeft: 56,
    marginRight: 24,
    marginBottom: 38,
    inset: 16,
    x: {
      label: FEATURE_LABELS[xf as FeatureName] ?? xf,
      grid: true,
      nice: true,
    },
    y: {
      label: FEATURE_LABELS[yf as FeatureName] ?? yf,
      grid: true,
      nice: true,
    },
    marks: [
      Plot.dot(ref.filter((p) => p.source !== "paper"), {
        x: "x",
        y: "y",
        fill: (p) => colorOf(p.c),
        r: 4,
        fillOpacity: 0.85,
      }),
      Plot.dot(ref.filter((p) => p.source === "paper"), {
        x: "x",
        y: "y",
        stroke: (p) => colorOf(p.c),
        r: 5,
        strokeWidth: 2,
        symbol: "square",
      }),
      Plot.text(centres, {
        x: "x",
        y: "y",
        text: "name",
        dy: -10,
        fill: "#333",
      }),
      Plot.dot(hi, { x: "x", y: "y", r: 10, stroke: "black", strokeWidth: 2 }),
      Plot.dot(hi, { x: "x", y: "y", r: 4, fill: (p) => colorOf(p.c) }),
      Plot.text(hi, {
        x: "x",
        y: "y",
        text: (p) => `${p.name} → ${p.c}`,
        dy: 18,
        fontWeight: "bold",
        fill: "black",
      }),
    ],
  }) as unknown as DomElement;
  const legend: LegendItem[] = classes.map((c) => ({
    label: c,
    color: colorOf(c),
    shape: "dot",
  }));
  if (ref.some((p) => p.source === "paper")) {
    legend.push({ label: "paper (hollow)", color: "#555", shape: "ring" });
  }
  if (hi.length) {
    legend.push({ label: "classified", color: "black", shape: "ring" });
  }
  const left = points.length - usable.length;
  return composeFigure(document, [{ plot, x: 0, y: 0 }], {
    width,
    height,
    title: options.title ?? "Classifier feature space",
    subtitle: options.subtitle ??
      `${xf} against ${yf}; ${ref.length} reference point${
          ref.length === 1 ? "" : "s"
        }` +
        (left ? `, ${left} without both features not shown` : ""),
    legend,
  });
}
