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
import { type RotatedStorm, rotateStorms } from "./scale.ts";

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
const runs = await rotateStorms(
  Object.fromEntries(
    names.map((side) => [
      side,
      (count: number) =>
        runHarness(argv, { count, ready, binary, ...sides[side] }),
    ]),
  ) as Record<Side, (n: number) => ReturnType<typeof runHarness>>,
  {
    n,
    rounds,
    onStorm: (k, side, s) =>
      console.log(
        `round ${k + 1} ${side}: median boot ${
          s.medianMs.toFixed(0)
        } ms, steal ${s.stealMs} ms`,
      ),
  },
);
const med = (side: Side, f: (s: RotatedStorm) => number) =>
  median(runs[side].map(f));
const base = med(names[0], (s) => s.medianMs);
for (const side of names) {
  const m = med(side, (s) => s.medianMs);
  console.log(
    `N=${n}, ${rounds} rounds, ${side}: median ${m.toFixed(0)} ms (${
      (m / base).toFixed(2)
    }× the paper's method), steal ${med(side, (s) => s.stealMs).toFixed(0)} ms`,
  );
}
