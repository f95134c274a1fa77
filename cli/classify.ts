/**
 * `deno task classify`: what kind of OS is this image?
 *
 * - `classify <run dir> [--baseline RUN] [--json]` classifies a measured run
 *   against data/reference;
 * - `classify --measure <profile | profile.json> [--image-file PATH]`
 *   measures a minkernel baseline of this host and accelerator (or reuses a
 *   recent one), measures the image (N=8 back-to-back, `--insns` under TCG),
 *   then classifies it; the run folders stay under `data/runs/`;
 * - `classify --build-reference <dirs…>` rebuilds the reference set.
 *
 * This entry point joins the launcher and the analysis; neither imports the
 * other.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  buildReference,
  classify,
  ClassifyError,
  confusionText,
  loadReference,
  saveReference,
  verdictText,
} from "../analysis/classify.ts";
import {
  BaselineError,
  hostKey,
  pickBaselineRuns,
} from "../analysis/features.ts";
import {
  ANALYSIS_COLUMNS,
  DatasetError,
  loadRun,
  loadRuns,
  type Run,
} from "../analysis/load.ts";
import { withoutProbes } from "../analysis/figures/dataset_figures.ts";
import { chooseAccelerator } from "../launcher/accel.ts";
import { ensureImage } from "../images/ensure.ts";
import {
  loadProfile,
  ProfileError,
  withImageFile,
} from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { hostInfo } from "../launcher/run_record.ts";
import { which } from "../launcher/runner.ts";
import { InsnsError } from "../launcher/insns/mod.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DEFAULT_REFERENCE = join(ROOT, "data", "reference");
const DEFAULT_PAPER = join(ROOT, "..", "shared", "paper", "paper-results.csv");

/** The `--help` text of `deno task classify`. */
export const USAGE = `Usage:
  deno task classify <run dir> [--baseline DIR] [--reference DIR] [--json]
  deno task classify --measure <profile | profile.json> [--image-file PATH] [--count N]
  deno task classify --build-reference <run or sweep dir>... [--out DIR] [--no-paper]

Says whether an image is minkernel-like (baseline), a library OS (libos) or a
general-purpose OS (linux), how sure it is, which known systems it is nearest
to and which features decided it. Runs measured with --insns (TCG) are
classified by their boot work (instruction counts, no baseline needed);
others by timing features relative to a minkernel baseline of the same host
and accelerator. A run far from every known system is "unknown".

Options:
  --baseline DIR       minkernel run(s) of the run's host (refused when not minkernel-like or another host)
  --reference DIR      reference set (default data/reference)
  --set work|timing    force a feature set (default: work when the run has boot work)
  --json               one JSON object: class, probabilities, nearest, reasons, evaluation, …
  --measure PROFILE    measure a minkernel baseline (reused when one of this host and accelerator is
                       younger than --max-age hours) and the image, then classify; runs in data/runs/
  --image-file PATH    with --measure: boot this image file with the profile's argv
  --count N            with --measure: instances of the image (default 8, back-to-back)
  --accel MODE         with --measure: auto | kvm | tcg (default auto; --insns only under TCG)
  --max-age H          with --measure: reuse a baseline at most H hours old (default 24)
  --build-reference    rebuild the reference from labelled runs (run.json profile.class)
  --out DIR            where --build-reference writes (default data/reference)
  --paper FILE         the paper's figures to add (default ../shared/paper/paper-results.csv)
  --no-paper           do not add them
  --salvage            keep the complete batches of truncated Arrow files
  -h, --help           this text

Examples:
  deno task classify --measure unikraft
  deno task classify --measure osv --image-file ~/osv/build/release/loader-stripped.elf
  deno task classify data/runs/<id> --baseline data/runs/<minkernel run>
  deno task classify data/runs/<id> --json

Exit: 0 a verdict (unknown included), 1 an error, 2 bad usage or a refused input
(a run with no ready instance, a baseline that is not minkernel-like).`;

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

/** Newest minkernel run of this host and accelerator under `dirs`, if younger than maxAgeH. */
async function recentBaseline(
  dirs: string[],
  key: string,
  maxAgeH: number,
  insns: boolean,
): Promise<Run | null> {
  let best: { run: Run; t: number } | null = null;
  for (const d of dirs) {
    let names: string[] = [];
    try {
      names = [...Deno.readDirSync(d)].filter((e) => e.isDirectory).map((e) =>
        e.name
      );
    } catch {
      continue;
    }
    for (const n of names) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(await Deno.readTextFile(join(d, n, "run.json")));
      } catch {
        continue;
      }
      const profile = rec.profile as
        | { name?: string; class?: string }
        | undefined;
      if (profile?.name !== "minkernel" || rec.status !== "complete") continue;
      if (Boolean(rec.insns) !== insns) continue;
      const t = Date.parse(String(rec.finished_at ?? rec.started_at ?? ""));
      if (!(Date.now() - t < maxAgeH * 3600e3)) continue;
      let run: Run;
      try {
        run = await loadRun(join(d, n), { columns: ANALYSIS_COLUMNS });
      } catch {
        continue;
      }
      if (hostKey(run.record) !== key) continue;
      if (!best || t > best.t) best = { run, t };
    }
  }
  return best?.run ?? null;
}

async function measure(
  values: Record<string, unknown>,
): Promise<{ run: Run; baseline: Run }> {
  const target = String(values.measure);
  const loaded = await loadProfile(target);
  const profile = values["image-file"]
    ? withImageFile(loaded, String(values["image-file"]))
    : loaded;
  await ensureImage(profile);
  const minkernel = await loadProfile("minkernel");
  await ensureImage(minkernel);
  const qemu = which("qemu-system-x86_64") ?? "qemu-system-x86_64";
  const accel = await chooseAccelerator(
    (values.accel as "auto" | "kvm" | "tcg" | undefined) ?? "auto",
    { qemu, kernel: minkernel.image! },
  );
  const insns = accel.kind === "tcg";
  const count = Number(values.count ?? 8);
  if (!Number.isInteger(count) || count < 1) {
    throw new ProfileError(
      `Invalid --count ${values.count}: expected a whole number ≥ 1`,
    );
  }
  const out = join(ROOT, "data", "runs");
  const h = hostInfo();
  const key = [h.hostname ?? "?", h.cpu_model ?? "?", accel.kind].join("|");
  console.error(
    `bootstorm classify: accelerator ${accel.kind} (${accel.reason})${
      insns
        ? "; boot work counted with --insns"
        : "; timing features only (no TCG plugin under KVM)"
    }`,
  );
  let baseline = await recentBaseline(
    [out],
    key,
    Number(values["max-age"] ?? 24),
    insns,
  );
  if (baseline) {
    console.error(
      `bootstorm classify: reusing the minkernel baseline ${baseline.dir}`,
    );
  } else {
    console.error(
      `bootstorm classify: measuring the minkernel baseline (N=${count}, back-to-back)…`,
    );
    const b = await runBatch(minkernel, {
      count,
      pattern: { kind: "back-to-back" },
      accel,
      insns,
      outDir: out,
      timeoutMs: Math.max(minkernel.timeoutMs, count * 5000),
    });
    baseline = await loadRun(b.runDir, { columns: ANALYSIS_COLUMNS });
    console.error(`  baseline: ${b.runDir}`);
  }
  console.error(
    `bootstorm classify: measuring ${profile.name} (N=${count}, back-to-back)…`,
  );
  const r = await runBatch(profile, {
    count,
    pattern: { kind: "back-to-back" },
    accel,
    insns,
    outDir: out,
    timeoutMs: Math.max(profile.timeoutMs, count * 20000),
  });
  console.error(`  run: ${r.runDir}`);
  return {
    run: await loadRun(r.runDir, { columns: ANALYSIS_COLUMNS }),
    baseline,
  };
}

/** Entry point; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        reference: { type: "string" },
        baseline: { type: "string" },
        set: { type: "string" },
        json: { type: "boolean", default: false },
        measure: { type: "string" },
        "image-file": { type: "string" },
        count: { type: "string" },
        accel: { type: "string" },
        "max-age": { type: "string" },
        "build-reference": { type: "boolean", default: false },
        out: { type: "string" },
        paper: { type: "string" },
        "no-paper": { type: "boolean", default: false },
        salvage: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    console.error(
      `error: ${(e as Error).message}\n(run with --help for usage)`,
    );
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const load = { salvage: values.salvage, columns: ANALYSIS_COLUMNS };
  if (values["build-reference"]) {
    if (!positionals.length) {
      console.error(
        "error: give the run or sweep folders to build the reference from",
      );
      return 2;
    }
    const runs: Run[] = [];
    for (const p of positionals) {
      runs.push(...withoutProbes(await loadRuns(p, load)).runs);
    }
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
    console.log(
      `Wrote ${
        join(out, "reference.json")
      }: ${ref.points.length} points, ${ref.baselines.length} baseline(s)`,
    );
    for (const set of ["work", "timing"] as const) {
      const e = ref.evaluation[set];
      if (!e) continue;
      console.log(
        `\n${set} features, leave-one-system-out: systems right ${e.systemsRight.length}/${e.systems.length}, runs ${e.accuracy}, Brier ${e.brier}, ECE ${e.ece}; T = ${
          ref.calibration[set]!.temperature
        }, unknown beyond ${ref.calibration[set]!.unknownDistance}\n${
          confusionText(e)
        }`,
      );
    }
    for (const n of ref.notes) console.log(`note: ${n}`);
    return 0;
  }
  const set = values.set as "work" | "timing" | undefined;
  if (set !== undefined && set !== "work" && set !== "timing") {
    console.error(
      `error: --set must be work or timing, got ${JSON.stringify(set)}`,
    );
    return 2;
  }
  try {
    let run: Run;
    let baselineRuns: Run[] | undefined;
    if (values.measure) {
      const m = await measure(values);
      run = m.run;
      baselineRuns = [m.baseline];
    } else {
      if (positionals.length !== 1) {
        console.error(USAGE);
        return 2;
      }
      const runs = (await loadRuns(positionals[0], load)).runs;
      if (runs.length !== 1) {
        console.error(
          `error: "${
            positionals[0]
          }" holds ${runs.length} runs; give one run folder`,
        );
        return 2;
      }
      run = runs[0];
      if (values.baseline) {
        const base = (await loadRuns(values.baseline, load)).runs;
        baselineRuns = pickBaselineRuns(base);
        if (!baselineRuns.length) {
          throw new BaselineError(
            `${values.baseline} holds no run of class baseline (its runs: ${
              base.map((r) =>
                `${r.record.profile?.name} (${
                  r.record.profile?.class ?? "no class"
                })`
              ).join(", ")
            }): pass a minkernel run`,
          );
        }
      }
    }
    const reference = await loadReference(
      resolve(values.reference ?? DEFAULT_REFERENCE),
    );
    const result = classify(run, reference, { baselineRuns, set });
    result.warnings.unshift(...run.warnings);
    if (values.json) {
      console.log(
        JSON.stringify(result, (_k, v) => (v === Infinity ? null : v), 2),
      );
    } else {
      console.log(verdictText(result));
      if (values.measure) {
        console.log(
          `  Runs kept: ${run.dir}${
            baselineRuns ? `, baseline ${baselineRuns[0].dir}` : ""
          }`,
        );
      }
    }
    return 0;
  } catch (e) {
    if (
      e instanceof ClassifyError || e instanceof BaselineError ||
      e instanceof ProfileError ||
      e instanceof InsnsError || e instanceof DatasetError
    ) {
      console.error(`error: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
