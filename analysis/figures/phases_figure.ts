/**
 * Figure of where the boot time goes (the paper's T_K and ΔT_R, measured
 * from outside): stacked horizontal bars of the median of each phase (QEMU
 * start-up, firmware to first output, first output to kernel marks, kernel
 * to ready) per image, and the same per concurrency bin of each image.
 *
 * @module
 */

import "@uwdata/flechette";
import * as Plot from "@observablehq/plot";
import type { Table } from "../columns.ts";
import {
  instancePhases,
  type Phase,
  PHASE_LABELS,
  phaseBins,
  type PhaseOptions,
  PHASES,
  phaseSummary,
} from "../phases.ts";
import {
  basePlotOptions,
  composeFigure,
  type DomElement,
  FIGURE_WIDTH,
  type FigureOptions,
  type Panel,
  svgDocument,
  textWidth,
} from "./compose.ts";

/** Colours of the four stacked phases (fixed, so every figure agrees). */
export const PHASE_COLORS: Readonly<Record<Phase, string>> = {
  qemu_startup: "#4269d0",
  firmware: "#efb118",
  output_to_marks: "#3ca951",
  marks_to_ready: "#ff725c",
};

/** Options of {@link phasesFigure}. */
export interface PhasesFigureOptions extends FigureOptions, PhaseOptions {
  /**
   * Concurrency bin width of the lower panels: one for all images, or per
   * image name (default per image: 32 from N = 64 up, else ⌈N / 8⌉).
   */
  binWidth?: number | Readonly<Record<string, number>>;
  /** Leave out the per-concurrency panels (default false). */
  noBins?: boolean;
}

interface Bar {
  label: string;
  phase: Phase;
  v: number;
}

interface Total {
  label: string;
  v: number;
  text: string;
}

interface Group {
  image: string;
  mode: boolean;
  label: string;
}

/** "12.3 ms" or "4.56 s". */
function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toPrecision(3)} s`;
  return `${ms >= 100 ? ms.toFixed(0) : ms.toPrecision(3)} ms`;
}

/** A panel label cut to what fits in `width` px (bold 11 px text). */
function fitLabel(label: string, width: number): string {
  const fit = Math.max(8, Math.floor((width - 16) / 6.6));
  return label.length > fit ? label.slice(0, fit - 1) + "…" : label;
}

function defaultWidth(count: number): number {
  return count >= 64 ? 32 : Math.max(1, Math.ceil(count / 8));
}

/**
 * One stacked-bar panel: a row per label, bars of `bars` in phase order,
 * the `totals` text at the end of each row.
 */
function stackPanel(
  document: NonNullable<FigureOptions["document"]>,
  bars: Bar[],
  totals: Total[],
  labels: string[],
  size: { width: number; height: number; yLabel: string | null },
): DomElement {
  const ends = new Map<string, number>();
  for (const b of bars) ends.set(b.label, (ends.get(b.label) ?? 0) + b.v);
  const max = Math.max(1e-9, ...ends.values());
  const seconds = max >= 2000;
  const k = seconds ? 1 / 1000 : 1;
  // tick labels right-aligned 9 px left of the axis; a rotated y label needs ~16 px more
  const marginLeft =
    Math.max(44, 12 + Math.max(...labels.map((l) => textWidth(l, 10)))) +
    (size.yLabel ? 16 : 0);
  const atEnd = totals.map((t) => ({ ...t, v: (ends.get(t.label) ?? 0) * k }));
  return Plot.plot({
    ...basePlotOptions(document),
    width: size.width,
    height: size.height,
    marginTop: 22,
    marginLeft,
    marginRight: 54,
    marginBottom: 34,
    x: {
      domain: [0, max * k],
      nice: true,
      label: `median (${seconds ? "s" : "ms"})`,
      labelAnchor: "center",
      grid: true,
    },
    y: { domain: labels, label: size.yLabel, padding: 0.2 },
    color: {
      domain: [...PHASES],
      range: PHASES.map((p) => PHASE_COLORS[p]),
    },
    marks: [
      Plot.barX(bars.map((b) => ({ ...b, v: b.v * k })), {
        x: "v",
        y: "label",
        fill: "phase",
        order: [...PHASES],
      }),
      Plot.text(atEnd, {
        x: "v",
        y: "label",
        text: "text",
        dx: 4,
        textAnchor: "start",
        fill: "black",
      }),
      Plot.ruleX([0]),
    ],
  }) as unknown as DomElement;
}

/**
 * Where the boot time goes, as an SVG string, from an instances table (or
 * an {@link instancePhases} table, e.g. `phasesOfRuns(set.runs)`, which
 * keeps each run's marks). Top panel: per image (rows without T_K apart,
 * labelled "(no T_K)": their firmware bar starts at T_s and holds QEMU's
 * start-up), the median of each of the four phases stacked in time order,
 * with the median boot time written at the end. Lower panels, one per
 * image: the same per bin of instances booting at T_s (empty bins left
 * out), each on its own time axis. Medians of phases do not add up exactly
 * to the median boot; negative medians (output before T_K) are drawn as 0.
 * Throws when the table has no phase data (measure with `--phases`, or a
 * profile with `marks`).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { phasesFigure } from "./phases_figure.ts";
 * // Instances of a --phases run (T_K) with a "kernel" mark; for runs loaded from folders use phasesOfRuns(set.runs)
 * const instances = aq.table({
 *   image: ["osv", "osv"], outcome: ["ready", "ready"], concurrency_at_start: [0, 1], count_n: [2, 2],
 *   t_s_ms: [0, 5], t_k_ms: [30, 36], first_output_ms: [80, 90], kernel_ms: [120, 130], ready_ms: [200, 210], boot_ms: [200, 205],
 * });
 * const svg = phasesFigure(instances);
 * console.log(svg.startsWith("<svg"), svg.includes("Where the boot time goes")); // true true
 * ```
 */
export function phasesFigure(
  table: Table,
  options: PhasesFigureOptions = {},
): string {
  const document = options.document ?? svgDocument();
  const width = options.width ?? FIGURE_WIDTH;
  const p = instancePhases(table, options);
  const summary = phaseSummary(p).objects() as {
    image: unknown;
    phase_mode: boolean;
    phase: string;
    median_ms: number | null;
  }[];
  if (summary.length === 0) {
    throw new Error(
      "Cannot draw phases: no ready instance has phase data (T_K or a named mark). Measure with --phases (QEMU profiles) or use a profile with marks",
    );
  }
  const groups: Group[] = [];
  const groupOf = new Map<string, Group>();
  for (const r of summary) {
    const key = `${r.image}\u0000${r.phase_mode}`;
    if (groupOf.has(key)) continue;
    const g = {
      image: String(r.image),
      mode: r.phase_mode,
      label: `${r.image}${r.phase_mode ? "" : " (no T_K)"}`,
    };
    groupOf.set(key, g);
    groups.push(g);
  }
  const stacked = new Set<string>(PHASES);
  const barsOf = (
    rows: typeof summary,
    label: (r: (typeof summary)[number]) => string,
  ) =>
    rows.filter((r) => stacked.has(r.phase) && r.median_ms !== null)
      .map((r) => ({
        label: label(r),
        phase: r.phase as Phase,
        v: Math.max(0, r.median_ms!),
      }));
  const labelOf = (r: { image: unknown; phase_mode: boolean }) =>
    groupOf.get(`${r.image}\u0000${r.phase_mode}`)!.label;
  const bars = barsOf(summary, labelOf);
  const totals = summary.filter((r) =>
    r.phase === "boot" && r.median_ms !== null
  )
    .map((r) => ({ label: labelOf(r), v: 0, text: formatMs(r.median_ms!) }));
  const panels: Panel[] = [];
  const topHeight = 56 + 24 * groups.length;
  panels.push({
    plot: stackPanel(document, bars, totals, groups.map((g) => g.label), {
      width,
      height: topHeight,
      yLabel: null,
    }),
    x: 0,
    y: 0,
    label: "per image",
  });
  let height = topHeight;
  if (!options.noBins) {
    const counts = p.array("count_n") as unknown[];
    const images = p.array("image") as unknown[];
    const columns = groups.length >= 2 ? 2 : 1;
    const panelWidth = width / columns;
    let rowTop = height;
    let rowHeight = 0;
    groups.forEach((g, gi) => {
      let maxCount = 0;
      for (let i = 0; i < counts.length; i++) {
        if (String(images[i]) === g.image) {
          maxCount = Math.max(maxCount, Number(counts[i]) || 0);
        }
      }
      const bw = typeof options.binWidth === "number"
        ? options.binWidth
        : options.binWidth?.[g.image] ?? defaultWidth(maxCount);
      const sub = p.params({ img: g.image, mode: g.mode })
        .filter((d: Record<string, unknown>, $: Record<string, unknown>) =>
          d.image === $.img && d.phase_mode === $.mode
        );
      const bins = (phaseBins(sub, { width: bw }).objects() as {
        image: unknown;
        phase_mode: boolean;
        bin_lo: number;
        bin_hi: number;
        phase: string;
        n: number;
        median_ms: number | null;
      }[]).filter((r) => r.n > 0);
      const binLabel = (r: { bin_lo: number; bin_hi: number }) =>
        bw === 1 ? `${r.bin_lo}` : `${r.bin_lo}–${r.bin_hi - 1}`;
      const labels = [...new Set(bins.map(binLabel))];
      const col = gi % columns;
      if (col === 0) {
        rowTop = height;
        rowHeight = 0;
      }
      const h = 56 + 16 * Math.max(1, labels.length);
      panels.push({
        plot: stackPanel(
          document,
          bins.filter((r) => stacked.has(r.phase) && r.median_ms !== null)
            .map((r) => ({
              label: binLabel(r),
              phase: r.phase as Phase,
              v: Math.max(0, r.median_ms!),
            })),
          bins.filter((r) => r.phase === "boot" && r.median_ms !== null)
            .map((r) => ({
              label: binLabel(r),
              v: 0,
              text: formatMs(r.median_ms!),
            })),
          labels,
          { width: panelWidth, height: h, yLabel: "booting at T_s" },
        ),
        x: col * panelWidth,
        y: rowTop,
        label: fitLabel(`${g.label} · by concurrency`, panelWidth),
      });
      rowHeight = Math.max(rowHeight, h);
      height = rowTop + rowHeight;
    });
  }
  return composeFigure(document, panels, {
    width,
    height,
    title: options.title ?? "Where the boot time goes",
    subtitle: options.subtitle ??
      "Median of each phase, stacked in time order; the number is the median boot (T_s → ready)",
    legend: PHASES.map((ph) => ({
      label: PHASE_LABELS[ph],
      color: PHASE_COLORS[ph],
      shape: "dot" as const,
    })),
  });
}
