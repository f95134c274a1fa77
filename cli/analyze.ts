/**
 * `deno task analyze <run|sweep> [options]`: print the concurrency bins,
 * the summaries, the memory peaks and (with 3+ runs) the boot-time/memory
 * correlation of a run folder or a sweep folder, as plain aligned tables.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DATASET_FLAGS, datasetLoadOptions, runCli } from "./common.ts";
import { concurrencyBins } from "../analysis/bins.ts";
import { bootMemoryCorrelation } from "../analysis/correlation.ts";
import { formatTable } from "../analysis/format.ts";
import { ANALYSIS_COLUMNS, loadRuns } from "../analysis/load.ts";
import { summarize } from "../analysis/summary.ts";
import { memoryPeak } from "../analysis/timeline.ts";
import { bootWorkSummary, hasBootWork } from "../analysis/boot_work.ts";
import { hostSections } from "../analysis/host_sections.ts";

const USAGE = `Usage: deno task analyze <run dir | sweep dir> [options]

Prints concurrency bins (paper Figs 4-12), per-run and per-image summaries,
memory peaks and, with 3 or more runs, boot time vs memory correlation.

Options:
  --width N        bin width in instances (default 32; the paper used 16 for Linux)
  --value COL      boot_ms (default) or first_output_boot_ms
  --seed N         bootstrap seed (default 1)
  --json           print one JSON object (bins, summary, summary_by_image,
                   memory_peak, correlation: arrays of rows) instead of tables
  --csv            read the CSV files even when Arrow files exist
  --salvage        keep the complete batches of a truncated Arrow file
  -h, --help       this text

A sweep folder is analysed through its sweep.json: each cell's current run,
without the probes and the runs a resumed cell superseded.

Examples:
  deno task analyze data/sweeps/<id>
  deno task analyze data/runs/<id> --width 16 --value first_output_boot_ms
  deno task analyze data/runs/<id> --json > analysis.json`;

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      width: { type: "string", default: "32" },
      value: { type: "string", default: "boot_ms" },
      seed: { type: "string", default: "1" },
      json: { type: "boolean", default: false },
      ...DATASET_FLAGS,
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(USAGE);
    return 2;
  }
  const width = Number(values.width);
  if (!(width > 0)) {
    console.error(
      `Cannot bin by --width ${values.width}: give a positive number, e.g. 32`,
    );
    return 2;
  }
  const set = await loadRuns(positionals[0], {
    ...datasetLoadOptions(values),
    columns: ANALYSIS_COLUMNS,
  });
  for (const run of set.runs) {
    for (const w of run.warnings) console.error(`warning: ${w}`);
  }
  const bins = concurrencyBins(set.instances, { width, value: values.value });
  const perRun = summarize(set.instances, { memory: set.memory });
  const images = new Set(set.runs.map((r) => r.instances.get("image", 0)));
  const perImage = images.size > 1 && set.runs.length > images.size
    ? summarize(set.instances, { by: "image", memory: set.memory })
    : null;
  const peaks = memoryPeak(set.memory, set.instances);
  const corr = set.runs.length >= 3
    ? bootMemoryCorrelation(perRun, { seed: Number(values.seed) })
    : null;
  const work = hasBootWork(set.instances)
    ? bootWorkSummary(set.instances)
    : null;
  if (values.json) {
    const rows = (t: { objects(): object[] } | null) => t ? t.objects() : null;
    console.log(JSON.stringify(
      {
        runs: set.runs.map((r) => r.record.run_id),
        value: values.value,
        width,
        bins: rows(bins),
        summary: rows(perRun),
        summary_by_image: rows(perImage),
        memory_peak: rows(peaks),
        correlation: rows(corr),
        boot_work: rows(work),
      },
      (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
      2,
    ));
    return 0;
  }
  const out: string[] = [];
  const section = (title: string, body: string) =>
    out.push(`## ${title}\n\n${body}\n`);
  section(
    `Concurrency bins: ${values.value} by concurrency_at_start, width ${width} (ready instances; type-7 quantiles)`,
    formatTable(bins),
  );
  section("Summary per run (boot_ms of ready instances)", formatTable(perRun));
  if (perImage) section("Summary per image", formatTable(perImage));
  if (work) {
    section(
      "Boot work per image (--insns; instructions to ready, the guest's own apart from the firmware; cv = sd / mean)",
      formatTable(work),
    );
  }
  section("Memory peak per run", formatTable(peaks));
  if (corr) {
    section(
      "Boot time (median) vs memory across runs (95% bootstrap intervals)",
      formatTable(corr),
    );
  }
  for (const [title, body] of hostSections(set, { width })) {
    section(title, body);
  }
  console.log(out.join("\n"));
  return 0;
}

if (import.meta.main) await runCli(main);
