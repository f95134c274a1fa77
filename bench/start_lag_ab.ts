/**
 * Does the time between the host-memory warm-up and T_0 move boot times?
 * Rotates four sides, N back-to-back minkernel-microvm instances each, the
 * host memory warmed and no QEMU left before every storm: the launcher CLI;
 * the C harness at once; the C harness after the launcher's start lag (its
 * T_0, run.json `t0_monotonic_ms`, after the warm-up; the median so far)
 * spent idle; and the same lag spent spinning one core, as a CLI starting
 * up does. Prints each side's pooled median boot_ms and its ratio to the
 * harness after the idle lag (what `measureBoot` compares against).
 *
 * ```sh
 * deno run -A bench/start_lag_ab.ts [N=64] [ROUNDS=12]
 * ```
 *
 * Measured 2026-12-04, 64 × 12: the harness at once 799 ms, after a 700 ms
 * idle lag 879 ms (1.100), the launcher 865 ms; 64 × 16: after the lag spent
 * busy 0.973 of idle, the launcher 1.029.
 *
 * @module
 */
import { median } from "../mod.ts";
import { prepareSides } from "./fidelity.ts";
import { buildHarness } from "./c_harness.ts";
import { noQemuLeft, warmHostMemory } from "./scale.ts";
import { monotonicMs } from "../launcher/clock.ts";

const n = Number(Deno.args[0] ?? 64);
const rounds = Number(Deno.args[1] ?? 12);
const out = await Deno.makeTempDir({ prefix: "bootstorm-start-lag-" });
const sides = await prepareSides("minkernel-microvm", {
  accel: "tcg",
  outDir: out,
  binary: await buildHarness(),
  launcherCommand: [
    Deno.execPath(),
    "run",
    "-A",
    "--v8-flags=--no-concurrent-recompilation,--no-concurrent-osr",
    new URL("../cli/sweep.ts", import.meta.url).pathname,
  ],
});
const kinds = [
  "launcher",
  "C at once",
  "C after the lag, idle",
  "C after the lag, busy",
];
const boots: Record<string, number[]> = {};
for (const k of kinds) boots[k] = [];
const lags: number[] = [];
for (let r = 0; r < rounds; r++) {
  for (let j = 0; j < kinds.length; j++) {
    const k = kinds[(j + r) % kinds.length];
    await noQemuLeft();
    await warmHostMemory(n * 64);
    const warmed = monotonicMs();
    let rows;
    if (k === "launcher") {
      rows = await sides.launcher(n);
      const t0 = sides.lastLauncherT0?.() ?? null;
      if (t0 !== null && t0 > warmed) lags.push(t0 - warmed);
    } else {
      const lag = lags.length ? median(lags) : 400;
      if (k.endsWith("idle")) {
        await new Promise((res) => setTimeout(res, lag));
      } else if (k.endsWith("busy")) {
        let x = 0;
        while (monotonicMs() - warmed < lag) x += Math.sqrt(x + 1);
        if (x < 0) console.log(x);
      }
      rows = await sides.c(n);
    }
    const b = rows.filter((t) => t.outcome === "ready").map((t) =>
      t.boot_ms as number
    );
    boots[k].push(...b);
    console.log(`round ${r + 1}, ${k}: median ${median(b).toFixed(0)} ms`);
  }
}
const base = median(boots["C after the lag, idle"]);
console.log(`start lag median ${median(lags).toFixed(0)} ms`);
for (const k of kinds) {
  console.log(
    `${k}: pooled median ${median(boots[k]).toFixed(0)} ms, ${
      (median(boots[k]) / base).toFixed(3)
    } of the harness after the idle lag`,
  );
}
await Deno.remove(out, { recursive: true });
