/**
 * `deno task report [run|sweep dir] [options]`: write one self-contained
 * `report.html` (figures inline, summary table, run records) that opens
 * from disk with no network.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DATASET_FLAGS, datasetLoadOptions, runCli } from "./common.ts";
import { withoutProbes } from "../analysis/figures/dataset_figures.ts";
import { defaultDataset, writeReport } from "../analysis/write_figures.ts";
import { loadRuns } from "../analysis/load.ts";

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
  -h, --help       this text

Examples:
  deno task report data/sweeps/<id>
  deno task report data/runs/<id> --out /tmp/report.html --title "minkernel, 64 back-to-back"`;

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      title: { type: "string" },
      ...DATASET_FLAGS,
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
      ...datasetLoadOptions(values),
    }),
  );
  const { out, bytes } = await writeReport(dir, {
    set,
    out: values.out,
    title: values.title,
  });
  console.error(`report: ${(bytes / 1024).toFixed(0)} KiB`);
  console.log(out);
  return 0;
}

if (import.meta.main) await runCli(main);
