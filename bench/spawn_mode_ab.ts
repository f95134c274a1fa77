/**
 * The launcher's spawn modes against the C harness of the paper's method:
 * N back-to-back minkernel-microvm instances, memory sampling on in all
 * three (the C side samples with the launcher's sampler, in the same mode),
 * the host memory warmed and no QEMU left before each storm, sides rotating.
 * `fork`: the launcher's C spawn helper forks each instance at T_s;
 * `prestart`: every instance forked before T_0, stopped, released by
 * SIGCONT. Prints each storm's median boot_ms, T_s span (last − first T_s)
 * and steal, then the medians and the ratios to the C harness.
 *
 * ```sh
 * deno run -A bench/spawn_mode_ab.ts [N=64] [ROUNDS=4]
 * ```
 *
 * @module
 */
import { median } from "../mod.ts";
import { buildHarness } from "./c_harness.ts";
import {
  defaultLauncherCommand,
  prepareSides,
  type Timing,
} from "./fidelity.ts";
import { type RotatedStorm, rotateStorms } from "./scale.ts";

const n = Number(Deno.args[0] ?? 64);
const rounds = Number(Deno.args[1] ?? 4);
const binary = await buildHarness();
const out = await Deno.makeTempDir({ prefix: "bootstorm-spawn-ab-" });
const sidesOf = (mode: string) =>
  prepareSides("minkernel-microvm", {
    accel: "tcg",
    outDir: out,
    binary,
    launcherCommand: [...defaultLauncherCommand(), "--spawn-mode", mode],
  });
const fork = await sidesOf("fork");
const pre = await sidesOf("prestart");
const sides: Record<string, (n: number) => Promise<Timing[]>> = {
  "C harness (paper)": (k) => fork.c(k),
  "launcher, fork": (k) => fork.launcher(k),
  "launcher, prestart": (k) => pre.launcher(k),
};
const names = Object.keys(sides);
const runs = await rotateStorms(sides, {
  n,
  rounds,
  onStorm: (k, side, s) =>
    console.log(
      `round ${k + 1} ${side}: median boot ${
        s.medianMs.toFixed(0)
      } ms, T_s span ${s.spanMs.toFixed(1)} ms, steal ${s.stealMs} ms`,
    ),
});
await Deno.remove(out, { recursive: true }).catch(() => {});
const med = (side: string, f: (s: RotatedStorm) => number) =>
  median(runs[side].map(f));
const base = med(names[0], (s) => s.medianMs);
for (const side of names) {
  const m = med(side, (s) => s.medianMs);
  console.log(
    `N=${n}, ${rounds} rounds, ${side}: median ${m.toFixed(0)} ms (${
      (m / base).toFixed(2)
    }× the C harness), T_s span ${
      med(side, (s) => s.spanMs).toFixed(1)
    } ms, steal ${med(side, (s) => s.stealMs).toFixed(0)} ms`,
  );
}
