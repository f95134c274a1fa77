/**
 * `deno task classify <run> [--reference DIR] [--baseline RUN] [--json]`:
 * classify a run as baseline / libos / linux / unknown against the
 * reference set; `deno task classify --build-reference <dirs…> [--out DIR]`
 * (re)builds the reference set from labelled runs.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runCli } from "./cli_common.ts";
import {
  buildReference,
  classify,
  loadReference,
  looAccuracy,
  saveReference,
} from "./classify.ts";
import { FEATURES, measureBaseline, pickBaselineRuns } from "./features.ts";
import { formatNumber } from "./format.ts";
import { ANALYSIS_COLUMNS, loadRuns, type Run } from "./load.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DEFAULT_REFERENCE = join(ROOT, "data", "reference");
const DEFAULT_PAPER = join(ROOT, "..", "shared", "paper", "paper-results.csv");

const USAGE = `Usage:
  deno task classify <run dir> [--reference DIR] [--baseline DIR] [--json]
  deno task classify --build-reference [<run or sweep dir>...] [--out DIR] [--paper FILE | --no-paper]

Classify a run as baseline (minkernel-like), libos or linux from its boot
times and memory, relative to a minkernel baseline measured on the same host.
Prints the class (or "unknown" when the run is far from every known system),
the probability of each class, the nearest known systems and the reference
set's leave-one-out accuracy. See analysis/README.md for what it cannot tell.

Options:
  --reference DIR        reference set (default data/reference)
  --baseline DIR         minkernel run(s) measured on this host (a run or sweep folder)
  --unknown-distance X   refuse beyond this distance (default 1.5 scaled units)
  --json                 print one JSON object: class, probabilities, nearest, looAccuracy, …
  --build-reference      build the reference set from labelled runs (run.json profile.class)
  --out DIR              where to write it (default data/reference)
  --paper FILE           the paper's figures to add (default ../shared/paper/paper-results.csv)
  --no-paper             do not add the paper's figures
  --salvage              keep the complete batches of truncated Arrow files
  -h, --help             this text

Examples:
  deno task classify data/runs/<id>
  deno task classify data/runs/<id> --json
  deno task classify data/runs/<id> --baseline data/runs/<minkernel-run-on-this-host>
  deno task classify --build-reference data/sweeps/<labelled-sweep> --out data/reference`;

async function readPaper(
  path: string,
  explicit: boolean,
): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (!explicit && e instanceof Deno.errors.NotFound) {
      console.error(
        `warning: ${path} not found; building without the paper's points`,
      );
      return null;
    }
    throw new Error(
      `Cannot read the paper's results "${path}": ${
        (e as Error).message
      }. Pass --paper FILE or --no-paper.`,
    );
  }
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      reference: { type: "string" },
      baseline: { type: "string" },
      "unknown-distance": { type: "string" },
      json: { type: "boolean", default: false },
      "build-reference": { type: "boolean", default: false },
      out: { type: "string" },
      paper: { type: "string" },
      "no-paper": { type: "boolean", default: false },
      salvage: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const load = { salvage: values.salvage, columns: ANALYSIS_COLUMNS };
  if (values["build-reference"]) {
    if (!positionals.length) {
      console.error(
        "warning: no run folders given: the reference will hold only the paper's points and no baseline (classify then needs --baseline)",
      );
    }
    const runs: Run[] = [];
    for (const p of positionals) runs.push(...(await loadRuns(p, load)).runs);
    const paper = values["no-paper"] ? null : await readPaper(
      values.paper ?? DEFAULT_PAPER,
      values.paper !== undefined,
    );
    const ref = buildReference(runs, {
      paper,
      builtAt: new Date().toISOString(),
    });
    const out = values.out ?? DEFAULT_REFERENCE;
    await saveReference(out, ref);
    const loo = looAccuracy(ref);
    console.log(
      `Wrote ${
        join(out, "reference.json")
      }: ${ref.points.length} points, ${ref.baselines.length} baseline(s); ` +
        `leave-one-out accuracy ${
          formatNumber(loo.accuracy)
        } (leave-one-system-out ${formatNumber(loo.systemAccuracy)})`,
    );
    for (const n of ref.notes) console.log(`note: ${n}`);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(USAGE);
    return 2;
  }
  const set = await loadRuns(positionals[0], load);
  if (set.runs.length !== 1) {
    console.error(
      `Cannot classify "${
        positionals[0]
      }": it holds ${set.runs.length} runs; give one run folder.`,
    );
    return 2;
  }
  const run = set.runs[0];
  const reference = await loadReference(values.reference ?? DEFAULT_REFERENCE);
  let baseline;
  if (values.baseline) {
    const base = await loadRuns(values.baseline, load);
    baseline = measureBaseline(pickBaselineRuns(base.runs));
  }
  const unknownDistance = values["unknown-distance"]
    ? Number(values["unknown-distance"])
    : undefined;
  const result = classify(run, reference, { baseline, unknownDistance });
  result.warnings.unshift(...run.warnings);
  if (values.json) {
    console.log(
      JSON.stringify(result, (_k, v) => (v === Infinity ? null : v), 2),
    );
    return 0;
  }
  const lines = [
    `run        ${result.run_id} (${result.image}${
      result.label ? `, labelled ${result.label}` : ""
    })`,
    `class      ${result.class}${
      result.class === "unknown"
        ? ` (nearest class at ${
          formatNumber(result.distance)
        } > ${result.unknownDistance})`
        : ""
    }`,
    `probability ${
      Object.entries(result.probabilities).map(([c, p]) =>
        `${c} ${formatNumber(p)}`
      ).join(", ")
    }`,
    "",
    "nearest known systems:",
    ...result.nearest.map((n) =>
      `  ${n.image.padEnd(16)} ${n.class.padEnd(8)} distance ${
        formatNumber(n.distance).padStart(6)
      }  (${n.source}, ${n.shared} features, ${n.id})`
    ),
    "",
    "features (relative to the baseline):",
    ...FEATURES.map((f) =>
      `  ${f.padEnd(15)} ${formatNumber(result.features[f])}`
    ),
    `baseline   ${
      formatNumber(result.baseline.boot_ms)
    } ms boot on ${result.baseline.host_key}${
      result.baseline.same_host ? "" : " (another host!)"
    }`,
    `reference  leave-one-out accuracy ${
      formatNumber(result.looAccuracy)
    }, leave-one-system-out ${formatNumber(result.looSystemAccuracy)}`,
    ...result.warnings.map((w) => `warning: ${w}`),
  ];
  console.log(lines.join("\n"));
  return 0;
}

if (import.meta.main) await runCli(main);
