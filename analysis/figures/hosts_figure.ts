/**
 * Figures of a multi-host storm: the timeline with one band per host (a
 * segment per instance from T_s to the end of its boot, lost instances as
 * marks at the band's edge) and the recovery curve (instances up against
 * time since T_0, all hosts together, with each host's last ready
 * instance marked).
 *
 * @module
 */

import "@uwdata/flechette";
import * as Plot from "@observablehq/plot";
import type { Table } from "../columns.ts";
import { hostNames, hostSummary, ofHost, recoveryCurve } from "../hosts.ts";
import {
  basePlotOptions,
  composeFigure,
  type DomElement,
  FIGURE_WIDTH,
  type FigureOptions,
  svgDocument,
} from "./compose.ts";

const PALETTE = [
  "#4269d0",
  "#efb118",
  "#3ca951",
  "#ff8ab7",
  "#a463f2",
  "#97bbf5",
  "#9c6b4e",
  "#9498a0",
];
const FAILED_COLOR = "#ff725c";

/**
 * The storm's timeline with one horizontal band per host: within a band,
 * one segment per instance (y = its launch order on that host) from T_s to
 * the end of its boot, coloured by host (red: not ready); x is seconds
 * after the storm's T_0 (the common timeline).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { hostTimelineFigure } from "./hosts_figure.ts";
 * const instances = aq.table({
 *   host: ["node1", "node1", "node2", "node2"], instance: [0, 1, 0, 1], outcome: ["ready", "ready", "ready", "lost"],
 *   t_s_ms: [0, 5, 0, null], boot_ms: [100, 120, 300, null], boot_end_ms: [100, 125, 300, null],
 * });
 * const svg = hostTimelineFigure(instances); // write it with Deno.writeTextFile("hosts.svg", svg)
 * console.log(svg.includes("Timeline per host"), svg.includes("2 hosts, 3 ready, 1 lost")); // true true
 * ```
 */
export function hostTimelineFigure(
  instances: Table,
  options: FigureOptions = {},
): string {
  const document = options.document ?? svgDocument();
  const width = options.width ?? FIGURE_WIDTH;
  const hosts = hostNames(instances);
  type Seg = {
    host: string;
    y: number;
    x1: number;
    x2: number;
    ready: boolean;
  };
  const segs: Seg[] = [];
  const lost: { host: string; y: number }[] = [];
  for (const h of hosts) {
    const rows = ofHost(instances, h).objects() as Record<string, unknown>[];
    for (const r of rows) {
      const y = Number(r.instance);
      const ts = r.t_s_ms as number | null;
      const te = r.boot_end_ms as number | null;
      if (r.outcome === "lost" || ts === null || te === null) {
        lost.push({ host: h, y });
        continue;
      }
      segs.push({
        host: h,
        y,
        x1: ts / 1000,
        x2: te / 1000,
        ready: r.outcome === "ready",
      });
    }
  }
  const color = (h: string) => PALETTE[hosts.indexOf(h) % PALETTE.length];
  const bandHeight = Math.max(
    60,
    Math.min(160, 480 / Math.max(1, hosts.length)),
  );
  const height = 40 + bandHeight * hosts.length;
  const plot = Plot.plot({
    ...basePlotOptions(document),
    width,
    height,
    marginLeft: 70,
    marginRight: 20,
    x: { label: "seconds after the storm's T_0 (all hosts)", grid: true },
    y: { label: "instance", axis: null },
    fy: { label: null, domain: hosts },
    marks: [
      Plot.frame({ stroke: "#ddd" }),
      Plot.ruleX([0], { stroke: "#888" }),
      Plot.link(segs, {
        x1: "x1",
        x2: "x2",
        y1: "y",
        y2: "y",
        fy: "host",
        stroke: (d: Seg) => d.ready ? color(d.host) : FAILED_COLOR,
        strokeWidth: Math.max(0.6, Math.min(2, bandHeight / 40)),
      }),
      Plot.dot(lost, {
        x: () => 0,
        y: "y",
        fy: "host",
        r: 1.5,
        fill: FAILED_COLOR,
        title: () => "lost",
      }),
    ],
  } as Plot.PlotOptions) as unknown as DomElement;
  const ready = segs.filter((d) => d.ready).length;
  return composeFigure(document, [{ plot, x: 0, y: 0 }], {
    width,
    height,
    title: options.title ?? "Timeline per host",
    subtitle: options.subtitle ??
      `${instances.numRows()} instances on ${hosts.length} hosts, ${ready} ready, ${lost.length} lost; T_s → end of boot, one band per host`,
    legend: [
      ...hosts.map((h) => ({ label: h, color: color(h) })),
      { label: "not ready / lost", color: FAILED_COLOR },
    ],
  });
}

/**
 * The recovery curve: instances up (ready) against seconds since the
 * storm's T_0, all hosts together, as a step line; a dot per host at the
 * moment its last instance became ready, labelled with the host.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { recoveryFigure } from "./hosts_figure.ts";
 * const instances = aq.table({
 *   host: ["node1", "node1", "node2", "node2"], instance: [0, 1, 0, 1], outcome: ["ready", "ready", "ready", "lost"],
 *   t_s_ms: [0, 5, 0, null], boot_ms: [100, 120, 300, null], boot_end_ms: [100, 125, 300, null],
 * });
 * const svg = recoveryFigure(instances);
 * console.log(svg.includes("3 of 4 up after 0.30 s")); // true
 * ```
 */
export function recoveryFigure(
  instances: Table,
  options: FigureOptions = {},
): string {
  const document = options.document ?? svgDocument();
  const width = options.width ?? FIGURE_WIDTH;
  const curve = (recoveryCurve(instances).objects() as {
    t_ms: number;
    up: number;
  }[]).map((d) => ({ t: d.t_ms / 1000, up: d.up }));
  const points = [{ t: 0, up: 0 }, ...curve];
  const hosts = hostNames(instances);
  const summary = (hostSummary(instances).objects() as Record<
    string,
    unknown
  >[]).filter((r) => r.host !== "all" && typeof r.last_ready_ms === "number");
  const byTime = new Map(curve.map((d) => [d.t, d.up]));
  const lasts = summary.map((r) => {
    const t = (r.last_ready_ms as number) / 1000;
    return { t, up: byTime.get(t) ?? 0, host: String(r.host) };
  });
  const total = instances.numRows();
  const height = 320;
  const plot = Plot.plot({
    ...basePlotOptions(document),
    width,
    height,
    marginLeft: 60,
    marginRight: 20,
    x: { label: "seconds after the storm's T_0", grid: true },
    y: { label: `instances up (of ${total})`, grid: true, domain: [0, total] },
    marks: [
      Plot.ruleY([total], { stroke: "#bbb", strokeDasharray: "4,3" }),
      Plot.line(points, {
        x: "t",
        y: "up",
        curve: "step-after",
        stroke: PALETTE[0],
      }),
      Plot.dot(lasts, {
        x: "t",
        y: "up",
        r: 3,
        fill: (d: { host: string }) =>
          PALETTE[hosts.indexOf(d.host) % PALETTE.length],
      }),
      Plot.text(lasts, {
        x: "t",
        y: "up",
        text: (d: { host: string }) => `${d.host}: last ready`,
        dx: -6,
        dy: -8,
        textAnchor: "end",
        fontSize: 10,
      }),
    ],
  } as Plot.PlotOptions) as unknown as DomElement;
  const last = curve.length ? curve[curve.length - 1] : null;
  return composeFigure(document, [{ plot, x: 0, y: 0 }], {
    width,
    height,
    title: options.title ?? "Recovery: instances up since T_0",
    subtitle: options.subtitle ??
      (last
        ? `${last.up} of ${total} up after ${
          last.t.toFixed(2)
        } s, all ${hosts.length} hosts together; dots: each host's last ready instance`
        : "no instance became ready"),
  });
}

/**
 * The figures of one multi-host run: `hosts-<run_id>` (timeline per host)
 * and `recovery-<run_id>` (the recovery curve).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { hostFigures } from "./hosts_figure.ts";
 * const instances = aq.table({
 *   host: ["node1", "node1", "node2", "node2"], instance: [0, 1, 0, 1], outcome: ["ready", "ready", "ready", "lost"],
 *   t_s_ms: [0, 5, 0, null], boot_ms: [100, 120, 300, null], boot_end_ms: [100, 125, 300, null],
 * });
 * for (const f of hostFigures({ instances, record: { run_id: "storm1" } })) console.log(f.name);
 * // hosts-storm1
 * // recovery-storm1
 * ```
 */
export function hostFigures(
  run: { instances: Table; record: { run_id: string } },
  options: FigureOptions = {},
): { name: string; title: string; svg: string }[] {
  const id = run.record.run_id;
  return [
    {
      name: `hosts-${id}`,
      title: `Timeline per host of ${id}`,
      svg: hostTimelineFigure(run.instances, options),
    },
    {
      name: `recovery-${id}`,
      title: `Recovery curve of ${id}`,
      svg: recoveryFigure(run.instances, options),
    },
  ];
}
