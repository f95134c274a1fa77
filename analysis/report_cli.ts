/**
 * `deno task report [run|sweep dir] [options]`: write one self-contained
 * `report.html` (figures inline, summary table, run records) that opens
 * from disk with no network.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { datasetFigures, withoutProbes } from "./figures/dataset_figures.ts";
import { datasetName, defaultDataset } from "./figures/write_figures.ts";
import { loadRuns } from "./load.ts";
import { reportHtml } from "./report.ts";

const USAGE = `Usage: deno task report [run dir | sweep dir] [options]

Writes <dir>/report.html: every figure inline as SVG, the summary table and
each run's run.json, with no reference to anything outside the file.

Without a folder: $BOOTSTORM_DATA, else the newest data/sweeps/* (then
data/runs/*).

Options:
  --out FILE       output file (default <dir>/report.html)
  --title TEXT     page title (default "bootstorm report: <dataset>")
  --csv            read the CSV files even when Arrow files exist
  --salvage        keep the complete batches of a truncated Arrow file
  -h, --help       this text`;

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      title: { type: "string" },
      csv: { type: "boolean", default: false },
      salvage: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length > 1) {
    console.error(USAGE);
    return 2;
  }
  const dir = positionals[0] ?? await defaultDataset();
  const set = withoutProbes(
    await loadRuns(dir, {
      salvage: values.salvage,
      prefer: values.csv ? "csv" : "arrow",
    }),
  );
  const html = reportHtml(set, {
    figures: datasetFigures(set),
    title: values.title ?? `bootstorm report: ${datasetName(dir)}`,
    source: dir,
    generatedAt: new Date().toISOString(),
  });
  const out = values.out ?? join(dir, "report.html");
  await Deno.writeTextFile(out, html);
  console.error(`report: ${(html.length / 1024).toFixed(0)} KiB`);
  console.log(out);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    if (e instanceof Error) {
      console.error(e.message);
      Deno.exit(1);
    }
    throw e;
  }
}
