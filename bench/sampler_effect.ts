/**
 * The memory sampler's own effect on the boots it measures, and the gap to
 * the C harness: N back-to-back minkernel-microvm storms, rotating three
 * sides every round: the launcher through `runBatch` with sampling on (the
 * default c-sampler source and the run's cgroup), the same with sampling
 * off, and the C harness of the paper's method sampling with the same C
 * sampler. Before each storm it waits until no QEMU process is left and one
 * more second (a storm's dying guests would slow the next one). Prints each
 * storm's median boot_ms, the medians over rounds and their ratios.
 *
 * ```sh
 * deno run -A --v8-flags=--no-concurrent-recompilation,--no-concurrent-osr bench/sampler_effect.ts [N=64] [ROUNDS=4]
 * ```
 *
 * @module
 */
import { median } from "../mod.ts";
import { prepareSides } from "./fidelity.ts";
import { noQemuLeft, storm } from "./scale.ts";

const n = Number(Deno.args[0] ?? 64);
const rounds = Number(Deno.args[1] ?? 4);
const out = await Deno.makeTempDir({ prefix: "bootstorm-sampler-effect-" });
const sides = await prepareSides("minkernel-microvm", {
  accel: "tcg",
  outDir: out,
});

const res = { on: [] as number[], off: [] as number[], c: [] as number[] };
const names = ["on", "off", "c"] as const;
for (let k = 0; k < rounds; k++) {
  for (let j = 0; j < 3; j++) {
    const side = names[(j + k) % 3];
    await noQemuLeft(1000);
    const m = side === "c"
      ? median(
        (await sides.c(n)).filter((r) => r.outcome === "ready").map((r) =>
          r.boot_ms!
        ),
      )
      : (await storm(n, {
        image: "minkernel-microvm",
        outDir: out,
        rssKib: 45000,
        bootMs: 40,
        sampleIntervalMs: side === "on" ? 0.5 : 0,
      })).bootMedianMs!;
    res[side].push(m);
    console.log(`round ${k + 1} ${side}: median boot ${m.toFixed(0)} ms`);
  }
}
await Deno.remove(out, { recursive: true }).catch(() => {});
const on = median(res.on), off = median(res.off), c = median(res.c);
console.log(
  `N=${n}, ${rounds} rounds, median of medians: launcher sampling on ${
    on.toFixed(0)
  } ms, off ${off.toFixed(0)} ms, C harness (sampling) ${
    c.toFixed(0)
  } ms; on / off ${(on / off).toFixed(3)}, on / C ${
    (on / c).toFixed(3)
  }, off / C ${(off / c).toFixed(3)}`,
);
