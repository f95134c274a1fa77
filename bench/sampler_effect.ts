/**
 * The memory sampler's own effect on the boots it measures: N back-to-back
 * minkernel-microvm storms through `runBatch`, alternating sampling on (the
 * default c-sampler source with the run's cgroup) and off, for R rounds;
 * prints each round's median boot_ms and the medians' ratio on / off.
 *
 * ```sh
 * deno run -A --v8-flags=--no-concurrent-recompilation,--no-concurrent-osr bench/sampler_effect.ts [N=32] [ROUNDS=6]
 * ```
 *
 * @module
 */
import { median } from "../mod.ts";
import { storm } from "./scale.ts";

const n = Number(Deno.args[0] ?? 32);
const rounds = Number(Deno.args[1] ?? 6);
const out = await Deno.makeTempDir({ prefix: "bootstorm-sampler-effect-" });
const res: Record<"on" | "off", number[]> = { on: [], off: [] };
for (let k = 0; k < rounds; k++) {
  // Flip the order every round.
  for (const v of k % 2 ? ["off", "on"] as const : ["on", "off"] as const) {
    const r = await storm(n, {
      image: "minkernel-microvm",
      outDir: out,
      rssKib: 45000,
      bootMs: 40,
      sampleIntervalMs: v === "on" ? 0.5 : 0,
    });
    if (r.bootMedianMs !== null) res[v].push(r.bootMedianMs);
    console.log(
      `round ${k + 1} sampling ${v}: median boot ${
        r.bootMedianMs?.toFixed(0)
      } ms`,
    );
  }
}
await Deno.remove(out, { recursive: true }).catch(() => {});
const on = median(res.on), off = median(res.off);
console.log(
  `N=${n}, ${rounds} rounds: median of medians on ${on.toFixed(0)} ms, off ${
    off.toFixed(0)
  } ms, on / off ${(on / off).toFixed(3)}`,
);
