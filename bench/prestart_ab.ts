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
import { qemuProcessCount, stealMs, warmHostMemory } from "./scale.ts";
import { ensureImage } from "../images/ensure.ts";
import { loadProfile } from "../launcher/profile.ts";

const n = Number(Deno.args[0] ?? 64);
const rounds = Number(Deno.args[1] ?? 4);
const profile = await loadProfile("minkernel-microvm");
await ensureImage(profile);
const image = new URL("../build/minkernel/minkernel.elf", import.meta.url)
  .pathname;
const argv = [
  "qemu-system-x86_64",
  "-accel",
  "tcg",
  ...profile.argv.slice(2).map((a) => a === "${image}" ? image : a),
];
const binary = await buildHarness();
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
    while (qemuProcessCount() > 0) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    await warmHostMemory(n * 64);
    const s0 = stealMs();
    const rows = await runHarness(argv, {
      count: n,
      ready: { line: "Hello" },
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
