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
} from "../load.ts";
import { renderPng } from "../render.ts";
import { reportHtml } from "../report.ts";
import {
  datasetFigures,
  type DatasetFiguresOptions,
  type NamedFigure,
} from "./dataset_figures.ts";

/** The repository's data/ folder (next to analysis/), or "data" when not run from files. */
export const DATA_ROOT: string = import.meta.url.startsWith("file:")
  ? fileURLToPath(new URL("../../data", import.meta.url))
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
 * const dir = await defaultDataset(); // e.g. "/work/main/data/sweeps/20240101T000000Z-abc"
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
  out: string;
  figures: NamedFigure[];
  files: string[];
}

/**
 * Draw every figure of the run or sweep folder `dir` (see datasetFigures)
 * and write `<name>.svg` and `<name>.png` into `<dir>/figures/`.
 *
 * @example
 * ```ts
 * const { files } = await writeFigures("data/sweeps/20240101T000000Z-abc");
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
 * datasetName("/x/data/sweeps/abc"); // "sweeps/abc"
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
 * ```ts ignore
 * const { out } = await writeReport("data/sweeps/x", { set: withoutProbes(await loadRuns("data/sweeps/x")) });
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
