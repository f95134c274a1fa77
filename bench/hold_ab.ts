/**
 * Launcher against the C harness with the launcher's start-up out of the
 * way: both sides in this one process, no memory sampling on either side,
 * N back-to-back minkernel-microvm instances. The launcher pre-forks its
 * instances, then holds T_0 (`runBatch`'s `t0At`) while the host memory is
 * warmed and the machine settles; the C harness gets the same warm-up right
 * before it starts. Alternating rounds; prints each storm's median boot_ms
 * and steal, then the medians and their ratio.
 *
 * ```sh
 * deno run -A --v8-flags=--no-concurrent-recompilation,--no-concurrent-osr bench/hold_ab.ts [N=64] [ROUNDS=5] [HOLD_MS=1000]
 * ```
 *
 * @module
 */
import { median } from "../mod.ts";
import { loadProfile } from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { monotonicMs } from "../launcher/clock.ts";
import { prepareSides } from "./fidelity.ts";
import { noQemuLeft, stealMs, warmHostMemory } from "./scale.ts";

const n = Number(Deno.args[0] ?? 64);
const rounds = Number(Deno.args[1] ?? 5);
const holdMs = Number(Deno.args[2] ?? 1000);
const out = await Deno.makeTempDir({ prefix: "bootstorm-hold-ab-" });
const sides = await prepareSides("minkernel-microvm", {
  accel: "tcg",
  outDir: out,
  sample: false,
});
const profile = await loadProfile("minkernel-microvm");

async function launcher(): Promise<[number, number]> {
  let s0 = 0;
  const { result, runDir } = await runBatch(profile, {
    count: n,
    pattern: { kind: "back-to-back" },
    accel: "tcg",
    outDir: out,
    graceMs: 0,
    sampleIntervalMs: 0,
    t0At: async () => {
      // every instance is forked and stopped: let the process go quiet
      await new Promise((r) => setTimeout(r, holdMs));
      await warmHostMemory(n * 64);
      s0 = stealMs();
      return monotonicMs();
    },
  });
  await Deno.remove(runDir, { recursive: true }).catch(() => {});
  const boots = result.rows.filter((r) => r.outcome === "ready").map((r) =>
    r.boot_ms!
  );
  return [median(boots), stealMs() - s0];
}

async function c(): Promise<[number, number]> {
  await warmHostMemory(n * 64);
  const s0 = stealMs();
  const rows = await sides.c(n);
  return [
    median(rows.filter((r) => r.outcome === "ready").map((r) => r.boot_ms!)),
    stealMs() - s0,
  ];
}

const res = { launcher: [] as number[], c: [] as number[] };
for (let k = 0; k < rounds; k++) {
  for (
    const side of k % 2 === 0
      ? ["launcher", "c"] as const
      : ["c", "launcher"] as const
  ) {
    await noQemuLeft(500);
    const [m, steal] = side === "c" ? await c() : await launcher();
    res[side].push(m);
    console.log(
      `round ${k + 1} ${side}: median boot ${
        m.toFixed(0)
      } ms, steal ${steal} ms`,
    );
  }
}
await Deno.remove(out, { recursive: true }).catch(() => {});
const l = median(res.launcher), cm = median(res.c);
console.log(
  `N=${n}, ${rounds} rounds, hold ${holdMs} ms: launcher ${
    l.toFixed(0)
  } ms, C ${cm.toFixed(0)} ms, ratio ${(l / cm).toFixed(3)}`,
);
