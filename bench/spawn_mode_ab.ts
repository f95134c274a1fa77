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
import { noQemuLeft, stealMs, warmHostMemory } from "./scale.ts";

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
const res = Object.fromEntries(names.map((k) => [k, [] as number[]]));
const steal = Object.fromEntries(names.map((k) => [k, [] as number[]]));
const span = Object.fromEntries(names.map((k) => [k, [] as number[]]));
for (let k = 0; k < rounds; k++) {
  for (let j = 0; j < names.length; j++) {
    const side = names[(j + k) % names.length];
    await noQemuLeft(500);
    await warmHostMemory(n * 64);
    const s0 = stealMs();
    const rows = await sides[side](n);
    const m = median(
      rows.filter((r) => r.outcome === "ready").map((r) => r.boot_ms!),
    );
    res[side].push(m);
    steal[side].push(stealMs() - s0);
    const ts = rows.map((r) => r.t_s_ms);
    span[side].push(Math.max(...ts) - Math.min(...ts));
    console.log(
      `round ${k + 1} ${side}: median boot ${m.toFixed(0)} ms, T_s span ${
        span[side].at(-1)!.toFixed(1)
      } ms, steal ${steal[side].at(-1)} ms`,
    );
  }
}
await Deno.remove(out, { recursive: true }).catch(() => {});
const base = median(res[names[0]]);
for (const side of names) {
  const m = median(res[side]);
  console.log(
    `N=${n}, ${rounds} rounds, ${side}: median ${m.toFixed(0)} ms (${
      (m / base).toFixed(2)
    }× the C harness), T_s span ${median(span[side]).toFixed(1)} ms, steal ${
      median(steal[side]).toFixed(0)
    } ms`,
  );
}
