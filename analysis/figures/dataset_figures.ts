/**
 * Every figure of a dataset (a run or a sweep) at once, as named SVG
 * strings: what `deno task figures` writes and `deno task report` inlines.
 *
 * @module
 */

import { hasBootWork } from "../boot_work.ts";
import { bootWorkFigure } from "./boot_work_figure.ts";
import "@uwdata/flechette";
import { concurrencyBins } from "../bins.ts";
import {
  buildReference,
  type Classification,
  type Reference,
} from "../classify.ts";
import { concatTables, type Table } from "../columns.ts";
import { bootMemoryCorrelation } from "../correlation.ts";
import type { FeatureName } from "../features.ts";
import { imageName, type RunSet } from "../load.ts";
import { hasPhaseData, phasesOfRuns } from "../phases.ts";
import { summarize } from "../summary.ts";
import { concurrencyBinsFigure } from "./bins_figure.ts";
import { bootMemoryFigure } from "./boot_memory_figure.ts";
import { type DomDocument, FIGURE_WIDTH, svgDocument } from "./compose.ts";
import { ecdfFigure } from "./ecdf_figure.ts";
import { featurePoints, featureSpaceFigure } from "./feature_space_figure.ts";
import { phasesFigure } from "./phases_figure.ts";
import { hasHosts } from "../hosts.ts";
import { hostFigures } from "./hosts_figure.ts";
import { shortPattern, timelineFigure } from "./timeline_figure.ts";

/** One drawn figure. */
export interface NamedFigure {
  /** File stem, e.g. `timeline-<run_id>`, `concurrency-bins`, `ecdf`. */
  name: string;
  /** Human title (for the report's table of contents). */
  title: string;
  /** Standalone SVG. */
  svg: string;
}

/** Options of {@link datasetFigures}. */
export interface DatasetFiguresOptions {
  /** DOM document (default: a new linkedom one). */
  document?: DomDocument;
  /** Figure width in px (default 720). */
  width?: number;
  /** Reference set for the feature-space figure (default: built from the dataset's labelled runs when it has a baseline run). */
  reference?: Reference | null;
  /** A classified run to highlight in the feature space. */
  classification?: Classification;
  /** Keep a sweep's probe runs (default false: see withoutProbes). */
  includeProbes?: boolean;
  /** Features on the feature-space axes (default log_boot_ratio, log_mem_ratio). */
  features?: [FeatureName, FeatureName];
}

/**
 * A run set without the sweep's probe runs (run folders under a `probes/`
 * folder: the single boot a sweep makes per image to estimate its cost),
 * with `instances` and `memory` stacked again from the runs kept.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import type { RunSet } from "../load.ts";
 * import { withoutProbes } from "./dataset_figures.ts";
 * const run = (dir: string, run_id: string) => ({
 *   dir, record: { schema_version: 3, run_id, count: 0 }, instances: aq.table({}), memory: aq.table({}),
 *   formats: { instances: "arrow" as const, memory: "arrow" as const }, warnings: [],
 * });
 * // what loadRuns("data/sweeps/s1") returns for a sweep with one probe:
 * const set: RunSet = {
 *   sweep: null, instances: aq.table({}), memory: aq.table({}),
 *   runs: [run("data/sweeps/s1/probes/p1", "p1"), run("data/sweeps/s1/r1", "r1")],
 * };
 * console.log(withoutProbes(set).runs.map((r) => r.record.run_id)); // ["r1"]
 * ```
 */
export function withoutProbes(set: RunSet): RunSet {
  const runs = set.runs.filter((r) => !/(^|[\\/])probes[\\/]/.test(r.dir));
  if (runs.length === set.runs.length) return set;
  return {
    ...set,
    runs,
    instances: concatTables(runs.map((r) => r.instances)),
    memory: concatTables(runs.map((r) => r.memory)),
  };
}

/**
 * The concurrency bin width used for a run of N instances: the paper's 32
 * (16 for Linux) from N = 64 up, else ⌈N / 8⌉ so a small run still shows
 * several bins.
 *
 * @example
 * ```ts
 * import { binWidthFor } from "./dataset_figures.ts";
 * console.log(binWidthFor(256, "libos"), binWidthFor(256, "linux"), binWidthFor(16, "baseline")); // 32 16 2
 * ```
 */
export function binWidthFor(count: number, cls?: string | null): number {
  if (count >= 64) return cls === "linux" ? 16 : 32;
  return Math.max(1, Math.ceil(count / 8));
}

/**
 * Draw every figure a dataset supports (probe runs left out): a timeline per run, the
 * concurrency bins of all runs (bin width per run by {@link binWidthFor}),
 * the ECDF of boot time per image, the phases (when a run has T_K or named
 * marks: phasesFigure), boot time against memory (with 3+ runs
 * that have memory samples) and the classifier's feature space (with a
 * reference set, given or built from the runs, holding 2+ points). Figures
 * the data cannot support are left out.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import type { RunSet } from "../load.ts";
 * import { datasetFigures } from "./dataset_figures.ts";
 * const instances = aq.table({
 *   run_id: ["r1", "r1", "r1", "r1"], image: ["minkernel", "minkernel", "minkernel", "minkernel"], count_n: [4, 4, 4, 4],
 *   instance: [0, 1, 2, 3], outcome: ["ready", "ready", "ready", "timeout"], concurrency_at_start: [0, 1, 2, 3],
 *   t_s_ms: [0, 5, 10, 15], boot_ms: [150, 160, 170, null], boot_end_ms: [150, 165, 180, 1015],
 *   first_output_boot_ms: [100, 110, 120, null], rss_peak_kib: [2e4, 2e4, 2e4, null],
 * });
 * const memory = aq.table({ run_id: ["r1", "r1", "r1"], t_ms: [0, 100, 200], used_kib: [1e6, 1.05e6, 1.02e6], booting: [0, 3, 1] });
 * const record = {
 *   schema_version: 3, run_id: "r1", count: 4, profile: { name: "minkernel", class: "baseline" as const },
 *   pattern: { kind: "interval", interval_ms: 5 }, accelerator: { kind: "tcg" as const },
 * };
 * // what loadRuns(dir) returns for a folder holding that one run:
 * const set: RunSet = {
 *   sweep: null, instances, memory,
 *   runs: [{ dir: "data/runs/r1", record, instances, memory, formats: { instances: "arrow", memory: "arrow" }, warnings: [] }],
 * };
 * // writeFigures writes them: for (const f of figures) await Deno.writeTextFile(`${f.name}.svg`, f.svg)
 * const figures = datasetFigures(set);
 * console.log(figures.map((f) => f.name)); // ["timeline-r1", "concurrency-bins", "ecdf"]
 * ```
 */
export function datasetFigures(
  set: RunSet,
  options: DatasetFiguresOptions = {},
): NamedFigure[] {
  const document = options.document ?? svgDocument();
  const width = options.width ?? FIGURE_WIDTH;
  const out: NamedFigure[] = [];
  if (!options.includeProbes) set = withoutProbes(set);
  const opts = { document, width };
  for (const run of set.runs) {
    if (hasHosts(run.instances)) {
      // A multi-host storm: one band per host, and the recovery curve.
      out.push(...hostFigures(run, opts));
      continue;
    }
    out.push({
      name: `timeline-${run.record.run_id}`,
      title: `Timeline of ${run.record.run_id}`,
      svg: timelineFigure(run, opts),
    });
  }
  const bins: Table[] = set.runs
    .filter((r) => r.instances.numRows() > 0)
    .map((r) =>
      concurrencyBins(r.instances, {
        width: binWidthFor(r.record.count, r.record.profile?.class),
      })
    )
    .filter((t) => t.numRows() > 0);
  if (bins.length) {
    out.push({
      name: "concurrency-bins",
      title: "Boot time by concurrency at start",
      svg: concurrencyBinsFigure(concatTables(bins), {
        ...opts,
        labels: Object.fromEntries(set.runs.map((r) => [
          r.record.run_id,
          `${
            r.instances.numRows() ? imageName(r.record) : r.record.run_id
          } · N=${r.record.count}, ${shortPattern(r.record.pattern)}`,
        ])),
      }),
    });
  }
  const anyReady = (set.instances.array("outcome") as unknown[]).some((o) =>
    o === "ready"
  );
  if (anyReady) {
    out.push({
      name: "ecdf",
      title: "Distribution of boot time",
      svg: ecdfFigure(set.instances, opts),
    });
  }
  if (hasBootWork(set.instances)) {
    out.push({
      name: "boot-work",
      title: "Boot time and boot work per system",
      svg: bootWorkFigure(set.instances, opts),
    });
  }
  const phaseRuns = set.runs.filter((r) => hasPhaseData(r.instances));
  if (phaseRuns.length) {
    out.push({
      name: "phases",
      title: "Where the boot time goes (phases)",
      svg: phasesFigure(phasesOfRuns(phaseRuns), opts),
    });
  }
  if (set.runs.length >= 3 && set.memory.numRows() > 0) {
    const summary = summarize(set.instances, { memory: set.memory });
    const both = (summary.objects() as Record<string, unknown>[])
      .filter((r) =>
        Number.isFinite(r.per_booting_kib) && Number.isFinite(r.median_ms)
      );
    if (both.length >= 3) {
      out.push({
        name: "boot-memory",
        title: "Boot time against memory",
        svg: bootMemoryFigure(summary, {
          ...opts,
          correlation: bootMemoryCorrelation(summary, { seed: 1 }),
        }),
      });
    }
  }
  let reference = options.reference;
  if (reference === undefined) {
    const hasBaseline = set.runs.some((r) =>
      r.record.profile?.class === "baseline"
    );
    reference = hasBaseline ? buildReference(set.runs) : null;
  }
  if (reference) {
    // Boot work when the points have it, else the timing features, else
    // the paper's two (older datasets).
    const pairs: [FeatureName, FeatureName][] = [
      ["log_code_insns", "log_cr3_writes"],
      ["log_cpu_ratio", "log_rss_ratio"],
      ["log_boot_ratio", "log_mem_ratio"],
    ];
    const [x, y] = options.features ??
      pairs.find(([a, b]) =>
        reference!.points.filter((p) =>
          p.features[a] !== null && p.features[b] !== null
        ).length >= 2
      ) ?? pairs[2];
    const points = featurePoints(reference, {
      x,
      y,
      classification: options.classification,
    });
    const usable = points.filter((p) =>
      Number.isFinite(p.x) && Number.isFinite(p.y)
    );
    if (usable.length >= 2) {
      out.push({
        name: "feature-space",
        title: "Classifier feature space",
        svg: featureSpaceFigure(points, { ...opts, xFeature: x, yFeature: y }),
      });
    }
  }
  return out;
}
