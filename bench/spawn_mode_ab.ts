/**
 * The launcher's spawn modes against the C harness of the paper's method:
 * N back-to-back minkernel-microvm instances, memory sampling on in all
 * three (the C side samples with the launcher's sampler, in the same mode),
 * the host memory warmed and no QEMU left before each storm, sides rotating.
 * `fork`: the launcher's C spawn helper forks each instance at T_s;
 * `prestart`: every instance forked before T_0, stopped, released by
 * SIGCONT. Prints each storm's median boot_ms, T_s span (last − first T_s),
 * steal and what it cost the side's own processes (CPU from T_0 to the last
 * reap: the harness or the launcher, the spawn helper, the sampler, as a
 * share of one core over that time), then the medians and the ratios to the
 * C harness.
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
  type SideCost,
  sideCosts,
  sideCostShare,
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
/** CPU share of one core over T_0 → last reap: own + helper + sampler. */
const shares = new Map<string, number[]>();
const costText = (c: SideCost | undefined) => {
  const total = c ? sideCostShare(c) : null;
  if (!c || total === null) return "CPU –";
  const pct = (ms: number | null) =>
    `${((ms ?? 0) / c.wallMs! * 100).toFixed(1)}%`;
  return `CPU ${(total * 100).toFixed(1)}% (own ${pct(c.cpuMs)}${
    c.helperCpuMs !== null ? `, spawn helper ${pct(c.helperCpuMs)}` : ""
  }, sampler ${pct(c.samplerCpuMs)})`;
};
const runs = await rotateStorms(sides, {
  n,
  rounds,
  onStorm: (k, side, s) => {
    const c = sideCosts.at(-1);
    const share = c ? sideCostShare(c) : null;
    if (share !== null) shares.set(side, [...(shares.get(side) ?? []), share]);
    console.log(
      `round ${k + 1} ${side}: median boot ${
        s.medianMs.toFixed(0)
      } ms, T_s span ${s.spanMs.toFixed(1)} ms, steal ${s.stealMs} ms, ${
        costText(c)
      }`,
    );
  },
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
    } ms, steal ${med(side, (s) => s.stealMs).toFixed(0)} ms, CPU ${
      shares.has(side)
        ? `${(median(shares.get(side)!) * 100).toFixed(1)}%`
        : "–"
    } of a core`,
  );
}
