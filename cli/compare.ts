/**
 * `deno task compare <A> <B> [options]`: A/B comparison of two runs or
 * sweeps (the difference of medians, a permutation p-value, and whether the
 * difference exceeds the noise, as Firecracker's A/B tool reports it).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DATASET_FLAGS, datasetLoadOptions, runCli } from "./common.ts";
import { abCompare } from "../analysis/compare.ts";
import { formatNumber } from "../analysis/format.ts";
import { loadRuns } from "../analysis/load.ts";

const USAGE =
  `Usage: deno task compare <A: run or sweep dir> <B: run or sweep dir> [options]

Compares the ready instances of A (the baseline) and B: the median of each,
the difference of medians B − A (ms and relative to A's median), a two-sided
permutation p-value for that difference (seeded, so the same data give the
same p), and whether the difference exceeds the noise: p < --significance and
|B − A| > --relative-strength × A's median, the rule of Firecracker's A/B tool
(tools/ab_test.py, which compares means). A sweep folder pools the current run
of every cell. Instances of one batch share the host and are not independent:
compare several runs per side, and alternate A and B runs on one machine.

Options:
  --value COL              instance column compared (default boot_ms; e.g. first_output_boot_ms)
  --significance P         p-value threshold (default 0.01)
  --relative-strength R    smallest change that counts, fraction of A's median (default 0.2)
  --permutations N         random permutations (default 9999)
  --seed N                 permutation seed (default 1)
  --json                   print one JSON object instead of text
  --csv                    read the CSV files even when Arrow files exist
  --salvage                keep the complete batches of a truncated Arrow file
  -h, --help               this text

Examples:
  deno task compare data/runs/<before> data/runs/<after>
  deno task compare data/sweeps/<plain> data/sweeps/<phases> --relative-strength 0.05
  deno task compare data/runs/<a> data/runs/<b> --value first_output_boot_ms --json`;

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      value: { type: "string", default: "boot_ms" },
      significance: { type: "string", default: "0.01" },
      "relative-strength": { type: "string", default: "0.2" },
      permutations: { type: "string", default: "9999" },
      seed: { type: "string", default: "1" },
      json: { type: "boolean", default: false },
      ...DATASET_FLAGS,
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 2) {
    console.error(USAGE);
    return 2;
  }
  const significance = Number(values.significance);
  const relativeStrength = Number(values["relative-strength"]);
  const permutations = Number(values.permutations);
  const seed = Number(values.seed);
  if (
    !(significance > 0 && significance < 1) || !(relativeStrength >= 0) ||
    !Number.isInteger(permutations) || permutations < 1 ||
    !Number.isInteger(seed)
  ) {
    console.error(
      "Cannot compare with these options: --significance must be in (0, 1), --relative-strength ≥ 0, --permutations and --seed whole numbers (e.g. --significance 0.01 --relative-strength 0.2)",
    );
    return 2;
  }
  const [pa, pb] = positionals;
  const load = datasetLoadOptions(values);
  const a = await loadRuns(pa, load);
  const b = await loadRuns(pb, load);
  for (const run of [...a.runs, ...b.runs]) {
    for (const w of run.warnings) console.error(`warning: ${w}`);
  }
  const r = abCompare(a.instances, b.instances, {
    value: values.value,
    significance,
    relativeStrength,
    permutations,
    seed,
  });
  if (values.json) {
    console.log(JSON.stringify({ a: pa, b: pb, ...r }, null, 2));
    return 0;
  }
  const f = (x: number | null) => (x === null ? "–" : formatNumber(x));
  const label = (set: typeof a) =>
    `${set.runs.length} run${set.runs.length > 1 ? "s" : ""}, ${
      [...new Set(set.runs.map((x) => x.instances.get("image", 0)))].join(", ")
    }`;
  console.log(
    [
      `A  ${pa} (${label(a)}): ${r.n_a} ready, median ${r.value} ${
        f(r.median_a)
      }`,
      `B  ${pb} (${label(b)}): ${r.n_b} ready, median ${r.value} ${
        f(r.median_b)
      }`,
      `difference of medians B − A: ${
        r.diff !== null && r.diff >= 0 ? "+" : ""
      }${f(r.diff)}${
        r.relative_diff === null
          ? ""
          : ` (${r.relative_diff >= 0 ? "+" : ""}${
            (100 * r.relative_diff).toFixed(1)
          } % of A)`
      }`,
      `permutation p-value (two-sided, ${r.permutations} permutations, seed ${r.seed}): ${
        r.p_value === null ? "–" : r.p_value.toPrecision(3)
      }`,
      `verdict: ${r.verdict}`,
    ].join("\n"),
  );
  return 0;
}

if (import.meta.main) await runCli(main);
