/**
 * The file edge of the figures: find the dataset to draw (an explicit
 * folder, `$BOOTSTORM_DATA`, or the newest sweep/run under data/), and
 * write `figures/*.svg` and `figures/*.png` next to it.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  findRunDirs,
  type LoadOptions,
  loadRuns,
  type RunSet,
} from "./load.ts";
import { renderPng } from "./render.ts";
import { reportHtml } from "./report.ts";
import {
  datasetFigures,
  type DatasetFiguresOptions,
  type NamedFigure,
} from "./figures/dataset_figures.ts";

/** The repository's data/ folder (next to analysis/), or "data" when not run from files. */
export const DATA_ROOT: string = import.meta.url.startsWith("file:")
  ? fileURLToPath(new URL("../data", import.meta.url))
  : "data";

/** Environment variable naming the dataset (run or sweep folder) notebooks and CLIs use by default. */
export const DATA_ENV = "BOOTSTORM_DATA";

async function subdirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) out.push(join(dir, e.name));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/**
 * The dataset to use when none is named: `$BOOTSTORM_DATA` when set, else
 * the newest folder (by name: run and sweep ids start with a UTC
 * timestamp) of `<root>/sweeps/` holding a run, else the newest run folder
 * of `<root>/runs/`. Throws when there is none, saying how to make one.
 *
 * @example
 * ```ts
 * import { defaultDataset } from "./write_figures.ts";
 * // default: $BOOTSTORM_DATA, else the newest dataset under the repository's data/
 * const root = await Deno.makeTempDir();
 * for (const run of ["runs/20240101T000000Z-aaaaaa", "runs/20240102T000000Z-bbbbbb"]) {
 *   await Deno.mkdir(`${root}/${run}`, { recursive: true });
 *   await Deno.writeTextFile(`${root}/${run}/run.json`, "{}");
 * }
 * console.log(await defaultDataset({ root, env: {} }) === `${root}/runs/20240102T000000Z-bbbbbb`); // true: the newest
 * console.log(await defaultDataset({ root, env: { BOOTSTORM_DATA: "data/sweeps/x" } })); // "data/sweeps/x"
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function defaultDataset(
  options: { root?: string; env?: Record<string, string | undefined> } = {},
): Promise<string> {
  const root = options.root ?? DATA_ROOT;
  const env = options.env ?? Deno.env.toObject();
  const named = env[DATA_ENV];
  if (named) return named;
  for (const sweep of (await subdirs(join(root, "sweeps"))).reverse()) {
    if ((await findRunDirs(sweep)).length) return sweep;
  }
  const runs = (await subdirs(join(root, "runs"))).reverse();
  for (const run of runs) {
    try {
      await Deno.stat(join(run, "run.json"));
      return run;
    } catch { /* not a run folder */ }
  }
  throw new Error(
    `Cannot find a dataset: ${DATA_ENV} is not set and ${
      join(root, "sweeps")
    } and ${
      join(root, "runs")
    } hold no run. Measure one (deno task sweep) or set ${DATA_ENV}=<run or sweep folder>.`,
  );
}

/** Options of {@link writeFigures}. */
export interface WriteFiguresOptions
  extends DatasetFiguresOptions, LoadOptions {
  /** Output folder (default `<dir>/figures`). */
  out?: string;
  /** Also write PNGs (default true). */
  png?: boolean;
  /** PNG pixels per SVG px (default 2). */
  scale?: number;
  /** Use this already loaded dataset instead of loading `dir`. */
  set?: RunSet;
}

/** What {@link writeFigures} wrote. */
export interface WrittenFigures {
  /** The folder written to. */
  out: string;
  /** The figures drawn. */
  figures: NamedFigure[];
  /** The files written (SVG, then PNG, per figure). */
  files: string[];
}

/**
 * Draw every figure of the run or sweep folder `dir` (see datasetFigures)
 * and write `<name>.svg` and `<name>.png` into `<dir>/figures/`.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import type { RunSet } from "./load.ts";
 * import { writeFigures } from "./write_figures.ts";
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
 * const out = await Deno.makeTempDir(); // default: <dir>/figures
 * // without { set }, writeFigures loads dir itself (loadRuns)
 * const { files } = await writeFigures("data/runs/r1", { set, out, png: false });
 * console.log(files.map((f) => f.slice(out.length + 1))); // ["timeline-r1.svg", "concurrency-bins.svg", "ecdf.svg"]
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function writeFigures(
  dir: string,
  options: WriteFiguresOptions = {},
): Promise<WrittenFigures> {
  const set = options.set ?? await loadRuns(dir, options);
  const figures = datasetFigures(set, options);
  const out = options.out ?? join(dir, "figures");
  await Deno.mkdir(out, { recursive: true });
  const files: string[] = [];
  for (const f of figures) {
    const svgPath = join(out, `${f.name}.svg`);
    await Deno.writeTextFile(svgPath, f.svg + "\n");
    files.push(svgPath);
    if (options.png ?? true) {
      const pngPath = join(out, `${f.name}.png`);
      await Deno.writeFile(
        pngPath,
        await renderPng(f.svg, { scale: options.scale ?? 2 }),
      );
      files.push(pngPath);
    }
  }
  return { out, figures, files };
}

/**
 * A dataset's display name: its folder name, with the parent when that is
 * a sweep or runs folder ("sweeps/2024…").
 *
 * @example
 * ```ts
 * import { datasetName } from "./write_figures.ts";
 * console.log(datasetName("/x/data/sweeps/abc"), datasetName("/x/elsewhere/abc/")); // "sweeps/abc" "abc"
 * ```
 */
export function datasetName(dir: string): string {
  const clean = dir.replace(/\/+$/, "");
  const parent = basename(dirname(clean));
  return ["sweeps", "runs"].includes(parent)
    ? `${parent}/${basename(clean)}`
    : basename(clean);
}

/**
 * Write `report.html` for a loaded dataset (figures drawn unless given);
 * returns its path and size.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import type { RunSet } from "./load.ts";
 * import { writeReport } from "./write_figures.ts";
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
 * const dir = await Deno.makeTempDir(); // a run folder: set = withoutProbes(await loadRuns(dir))
 * const { out, bytes } = await writeReport(dir, { set });
 * console.log(out === `${dir}/report.html`, bytes > 0); // true true
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeReport(
  dir: string,
  options: {
    set: RunSet;
    figures?: NamedFigure[];
    out?: string;
    title?: string;
  },
): Promise<{ out: string; bytes: number }> {
  const html = reportHtml(options.set, {
    figures: options.figures ?? datasetFigures(options.set),
    title: options.title ?? `bootstorm report: ${datasetName(dir)}`,
    source: dir,
    generatedAt: new Date().toISOString(),
  });
  const out = options.out ?? join(dir, "report.html");
  await Deno.writeTextFile(out, html);
  return { out, bytes: html.length };
}
