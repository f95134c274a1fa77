/**
 * `deno task figures [run|sweep dir] [options]`: draw every figure of a
 * dataset and write `figures/*.svg` and `figures/*.png` next to it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DATASET_FLAGS, datasetLoadOptions, runCli } from "./common.ts";
import { defaultDataset, writeFigures } from "../analysis/write_figures.ts";

const USAGE = `Usage: deno task figures [run dir | sweep dir] [options]

Draws the timeline of each run (paper Figs 3-11), boot time by concurrency
bin (Figs 4-12), the ECDF of boot time per image, boot time against memory
(3+ runs) and the classifier's feature space (when the data has a baseline
run), and writes <dir>/figures/<name>.svg and .png.

Without a folder: $BOOTSTORM_DATA, else the newest data/sweeps/* (then
data/runs/*).

Options:
  --out DIR        output folder (default <dir>/figures)
  --scale N        PNG pixels per SVG px (default 2)
  --no-png         write SVG only
  --width PX       figure width (default 720)
  --csv            read the CSV files even when Arrow files exist
  --salvage        keep the complete batches of a truncated Arrow file
  -h, --help       this text

Examples:
  deno task figures data/sweeps/<id>
  deno task figures data/runs/<id> --no-png --width 960
  BOOTSTORM_DATA=data/sweeps/<id> deno task figures --out /tmp/figs`;

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      scale: { type: "string", default: "2" },
      "no-png": { type: "boolean", default: false },
      width: { type: "string", default: "720" },
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
  const scale = Number(values.scale);
  const width = Number(values.width);
  if (!(scale > 0) || !(width >= 200)) {
    console.error(
      `Cannot draw with --scale ${values.scale} --width ${values.width}: give a scale > 0 and a width ≥ 200`,
    );
    return 2;
  }
  const dir = positionals[0] ?? await defaultDataset();
  const { out, files } = await writeFigures(dir, {
    out: values.out,
    png: !values["no-png"],
    scale,
    width,
    ...datasetLoadOptions(values),
  });
  for (const f of files) console.error(`  ${f}`);
  console.error(`${files.length} files written`);
  console.log(out);
  return 0;
}

if (import.meta.main) await runCli(main);
