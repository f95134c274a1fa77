/**
 * Does pre-starting itself slow a storm? The C harness of the paper's method
 * (fork at T_s) against the same harness pre-starting like the launcher does
 * (every instance forked before T_0 and held: stopped and released by
 * SIGCONT, or blocked on a pipe; optionally with a gap between releases).
 * N back-to-back minkernel-microvm instances, no memory sampling, the host
 * memory warmed and no QEMU left before each storm, rotating sides. Prints
 * each storm's median boot_ms and steal, then the medians.
 *
 * ```sh
 * deno run -A bench/prestart_ab.ts [N=64] [ROUNDS=4]
 * ```
 *
 * @module
 */
import { median } from "../mod.ts";
import { buildHarness, runHarness } from "./c_harness.ts";
import { prepareSides } from "./fidelity.ts";
import { noQemuLeft, stealMs, warmHostMemory } from "./scale.ts";

const n = Number(Deno.args[0] ?? 64);
const rounds = Number(Deno.args[1] ?? 4);
const binary = await buildHarness();
const out = await Deno.makeTempDir({ prefix: "bootstorm-prestart-ab-" });
// The exact argv and ready line the launcher boots (from its run.json).
const { argv, ready } = await prepareSides("minkernel-microvm", {
  accel: "tcg",
  outDir: out,
  binary,
  sample: false,
});
await Deno.remove(out, { recursive: true }).catch(() => {});
const sides = {
  "fork at T_s (paper)": {},
  "pre-started, SIGSTOP/SIGCONT": { prestart: "stop" as const },
  "pre-started, blocked on a pipe": { prestart: "pipe" as const },
  "pre-started, SIGCONT 130 µs apart": {
    prestart: "stop" as const,
    releaseGapUs: 130,
  },
};
type Side = keyof typeof sides;
const names = Object.keys(sides) as Side[];
const res = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<
  Side,
  number[]
>;
const steal = Object.fromEntries(
  names.map((k) => [k, [] as number[]]),
) as Record<
  Side,
  number[]
>;
for (let k = 0; k < rounds; k++) {
  for (let j = 0; j < names.length; j++) {
    const side = names[(j + k) % names.length];
    await noQemuLeft(500);
    await warmHostMemory(n * 64);
    const s0 = stealMs();
    const rows = await runHarness(argv, {
      count: n,
      ready,
      binary,
      ...sides[side],
    });
    const m = median(
      rows.filter((r) => r.outcome === "ready").map((r) => r.boot_ms!),
    );
    res[side].push(m);
    steal[side].push(stealMs() - s0);
    console.log(
      `round ${k + 1} ${side}: median boot ${m.toFixed(0)} ms, steal ${
        steal[side].at(-1)
      } ms`,
    );
  }
}
const base = median(res[names[0]]);
for (const side of names) {
  const m = median(res[side]);
  console.log(
    `N=${n}, ${rounds} rounds, ${side}: median ${m.toFixed(0)} ms (${
      (m / base).toFixed(2)
    }× the paper's method), steal ${median(steal[side]).toFixed(0)} ms`,
  );
}
