/**
 * The paper's own storm as one batch: `deno task sweep --image minkernel
 * --count 256 --back-to-back` (the `pc` machine, SeaBIOS, the paper's
 * options) must end with every instance ready on a 2-core machine under TCG,
 * where 256 concurrent guests take over a minute and the profile's timeout
 * is 30 s. Too slow for `deno task test`; run it as a benchmark:
 *
 * ```sh
 * deno run -A bench/paper_storm.ts                 # N = 256, probe cache emptied for the image first
 * deno run -A bench/paper_storm.ts --count 128 --keep-cache
 * ```
 *
 * Prints a Markdown summary, writes `bench/results/paper-storm-<date>.json`
 * and exits 1 unless every instance was ready.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { loadRun, PROBE_CACHE } from "../mod.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

const { values } = parseArgs({
  args: Deno.args,
  options: {
    image: { type: "string", default: "minkernel" },
    count: { type: "string", default: "256" },
    "keep-cache": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(
    "Usage: deno run -A bench/paper_storm.ts [--image minkernel] [--count 256] [--keep-cache]",
  );
  Deno.exit(0);
}

if (!values["keep-cache"]) {
  // As on a fresh clone: no probe of this image known yet.
  try {
    const cache = JSON.parse(await Deno.readTextFile(PROBE_CACHE));
    for (const k of Object.keys(cache)) {
      if (k === values.image || k.startsWith(`${values.image}?`)) {
        delete cache[k];
      }
    }
    await Deno.writeTextFile(
      PROBE_CACHE,
      JSON.stringify(cache, null, 2) + "\n",
    );
  } catch {
    // no cache
  }
}

const out = await Deno.makeTempDir({ prefix: "bootstorm-paper-storm-" });
const load = new TextDecoder().decode(
  (await Deno.readFile("/proc/loadavg")).subarray(0, 14),
);
const args = [
  "run",
  "-A",
  "--v8-flags=--no-concurrent-recompilation,--no-concurrent-osr",
  join(ROOT, "cli/sweep.ts"),
  "--image",
  values.image,
  "--count",
  values.count,
  "--back-to-back",
  "--out",
  out,
];
console.error(`deno task sweep ${args.slice(4).join(" ")}`);
const t0 = performance.now();
const res = await new Deno.Command(Deno.execPath(), {
  args,
  stdout: "piped",
  stderr: "piped",
}).output();
const wallS = (performance.now() - t0) / 1000;
const stderr = new TextDecoder().decode(res.stderr);
const runDir = new TextDecoder().decode(res.stdout).trim().split("\n").at(-1)!;
const run = await loadRun(runDir);
const rows = run.instances.objects() as Record<string, unknown>[];
const outcomes: Record<string, number> = {};
for (const r of rows) {
  const o = String(r.outcome);
  outcomes[o] = (outcomes[o] ?? 0) + 1;
}
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : null;
};
const boots = rows.filter((r) => r.outcome === "ready").map((r) =>
  r.boot_ms as number
);
const firsts = rows.map((r) => r.first_output_boot_ms).filter((x) =>
  x !== null
) as number[];
const result = {
  date: new Date().toISOString(),
  command: `deno task sweep ${args.slice(4, -2).join(" ")}`,
  exit_code: res.code,
  wall_s: wallS,
  load_before: load.trim(),
  count: rows.length,
  outcomes,
  accelerator: run.record.accelerator,
  timeout: run.record.timeout,
  boot_ms: { median: q(boots, 0.5), max: q(boots, 1) },
  first_output_boot_ms: { median: q(firsts, 0.5) },
  plan: stderr.split("\n").filter((l) => /^\s+(estimate|timeout|probe)/.test(l))
    .map((l) => l.trim()),
  run_dir: runDir,
};
const date = result.date.slice(0, 10);
const file = join(ROOT, "bench", "results", `paper-storm-${date}.json`);
await Deno.writeTextFile(file, JSON.stringify(result, null, 2) + "\n");
console.log(`| what | value |
|---|---|
| command | \`${result.command}\` |
| exit code | ${res.code} |
| outcomes | ${JSON.stringify(outcomes)} |
| timeout chosen | ${
  (result.timeout?.ms ?? 0) / 1000
} s (${result.timeout?.reason}) |
| boot_ms median / max | ${result.boot_ms.median?.toFixed(0)} / ${
  result.boot_ms.max?.toFixed(0)
} |
| first output median | ${result.first_output_boot_ms.median?.toFixed(0)} ms |
| wall (with probes) | ${wallS.toFixed(1)} s |
| load average before | ${result.load_before} |

${result.plan.map((l) => `- ${l}`).join("\n")}

written: ${file}`);
await Deno.remove(out, { recursive: true });
Deno.exit(outcomes.ready === rows.length && res.code === 0 ? 0 : 1);
