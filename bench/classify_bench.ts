/**
 * Classifier benchmark on measured reference sweeps: leave-one-system-out
 * confusion matrices, Brier score, ECE and reliability for both feature sets,
 * and a stability table (one run of each real system, its own system held
 * out of the reference, classified against five different minkernel
 * baselines of the same host). Prints Markdown; writes
 * `bench/results/classify-<date>.md`.
 *
 * ```sh
 * deno task sweep --plan data/reference/plan.json --insns --accel tcg --out data/sweeps/reference-insns
 * deno task sweep --plan data/reference/plan.json --accel tcg --out data/sweeps/reference-timing
 * deno run -A bench/classify_bench.ts data/sweeps/reference-insns data/sweeps/reference-timing
 * ```
 *
 * @module
 */
import { join } from "node:path";
import {
  ANALYSIS_COLUMNS,
  buildReference,
  classify,
  confusionText,
  type Evaluation,
  loadRuns,
  type Reference,
  type Run,
  systemOf,
  withoutProbes,
} from "../mod.ts";

const dirs = Deno.args.length
  ? Deno.args
  : ["data/sweeps/reference-insns", "data/sweeps/reference-timing"];
const runs: Run[] = [];
for (const d of dirs) {
  runs.push(
    ...withoutProbes(await loadRuns(d, { columns: ANALYSIS_COLUMNS })).runs,
  );
}
const ref = buildReference(runs);
const lines: string[] = [
  `# Classifier on measured systems (${new Date().toISOString().slice(0, 10)})`,
  "",
];
lines.push(`Reference: ${ref.points.length} runs from ${dirs.join(", ")}.`, "");

function evalBlock(name: string, e: Evaluation | undefined) {
  if (!e) {
    lines.push(`## ${name}: not calibrated`, "");
    return;
  }
  lines.push(
    `## ${name}: leave-one-system-out`,
    "",
    `Systems right ${e.systemsRight.length}/${e.systems.length} (${
      e.systems.map((s) => e.systemsRight.includes(s) ? s : `**${s} ✗**`).join(
        ", ",
      )
    }); runs ${
      (e.accuracy * 100).toFixed(1)
    } % of ${e.n}; Brier ${e.brier}; ECE ${e.ece}.`,
    "",
    "```",
    confusionText(e),
    "```",
    "",
    "| confidence | runs | mean confidence | accuracy |",
    "|---|---|---|---|",
    ...e.reliability.map((r) =>
      `| ${r.bin} | ${r.n} | ${
        Number.isNaN(r.confidence) ? "–" : r.confidence
      } | ${Number.isNaN(r.accuracy) ? "–" : r.accuracy} |`
    ),
    "",
    "Per system (held out): " +
      e.systems.map((s) => {
        const ps = e.predictions.filter((p) => p.system === s);
        const right = ps.filter((p) => p.predicted === p.class).length;
        return `${s} ${right}/${ps.length}`;
      }).join(", "),
    "",
  );
}
evalBlock("Boot work (TCG, --insns)", ref.evaluation.work);
evalBlock("Timing only (what a KVM host gets)", ref.evaluation.timing);

// Stability: one run per real system (N=8 where there is one), its own
// system held out, against five minkernel baselines of this host.
const seen = new Set<string>();
const baselines = runs.filter((r) =>
  r.record.profile?.name === "minkernel" && !r.record.insns
).sort((a, b) => a.record.count - b.record.count).filter((r) => {
  const k = `${r.record.count}|${r.record.pattern?.kind}`;
  if (seen.has(k)) return false;
  seen.add(k);
  return true;
});
const pick = (system: string, insns: boolean) =>
  runs.filter((r) =>
    systemOf(r.record.profile?.name ?? "") === system &&
    Boolean(r.record.insns) === insns
  ).sort((a, b) =>
    Math.abs(a.record.count - 8) - Math.abs(b.record.count - 8)
  )[0];
const heldOut = (system: string): Reference => ({
  ...ref,
  points: ref.points.filter((p) => p.system !== system),
});
lines.push(
  "## Stability: one run of each system (its system held out) against five baselines",
  "",
  `Baselines: ${
    baselines.slice(0, 5).map((b) =>
      `minkernel N=${b.record.count} ${b.record.pattern?.kind} (${b.record.run_id})`
    ).join("; ")
  }.`,
  "",
  "| system | set | " +
    baselines.slice(0, 5).map((_, i) => `baseline ${i + 1}`).join(" | ") +
    " | changes |",
  "|---|---|" + baselines.slice(0, 5).map(() => "---").join("|") + "|---|",
);
const systems = [
  ...new Set(
    ref.points.filter((p) => p.source === "measured").map((p) => p.system),
  ),
];
for (const s of systems) {
  for (const insns of [true, false]) {
    const run = pick(s, insns);
    if (!run) continue;
    const verdicts = baselines.slice(0, 5).map((b) => {
      try {
        const v = classify(run, heldOut(s), { baselineRuns: [b] });
        return `${v.class} ${
          v.class === "unknown" ? "" : v.probabilities[v.class].toFixed(2)
        }`.trim();
      } catch (e) {
        return `refused (${(e as Error).message.slice(0, 40)}…)`;
      }
    });
    const classes = new Set(verdicts.map((v) => v.split(" ")[0]));
    lines.push(
      `| ${s} (N=${run.record.count}) | ${insns ? "work" : "timing"} | ${
        verdicts.join(" | ")
      } | ${classes.size === 1 ? "none" : "**changes**"} |`,
    );
  }
}
const md = lines.join("\n") + "\n";
console.log(md);
const out = join(
  new URL("./results/", import.meta.url).pathname,
  `classify-${new Date().toISOString().slice(0, 10)}.md`,
);
await Deno.writeTextFile(out, md);
console.error(`wrote ${out}`);
