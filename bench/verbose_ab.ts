/**
 * A verbose guest in each spawn mode and in the C harness: a fake guest
 * (python3) writes BYTES single bytes, one write(2) each, as QEMU's serial
 * console does, then its ready line; N back-to-back, fork, prestart and
 * the C harness in that order each of ROUNDS rounds, in this process (no
 * QEMU: no host-memory warm-up between them). Prints each
 * side's median boot_ms and its own CPU from T_0 (fork: with the spawn
 * helper's).
 *
 * ```sh
 * deno run -A bench/verbose_ab.ts [N=8] [BYTES=20000] [ROUNDS=2]
 * ```
 *
 * @module
 */
import { launch } from "../launcher/launch.ts";
import { parseProfile } from "../launcher/profile.ts";
import { median } from "../mod.ts";
import { runHarnessWithCost } from "./c_harness.ts";

const n = Number(Deno.args[0] ?? 8);
const bytes = Number(Deno.args[1] ?? 20000);
const rounds = Number(Deno.args[2] ?? 2);
const argv = [
  "python3",
  "-c",
  `import os, time\nfor _ in range(${bytes}): os.write(1, b'x')\nos.write(1, b'\\nready\\n')\ntime.sleep(0.3)`,
];
/** boot_ms of the rows that have one. */
const readyBoots = (rows: readonly { boot_ms: number | null }[]) =>
  rows.flatMap((x) => x.boot_ms === null ? [] : [x.boot_ms]);
const profile = parseProfile({
  name: "verbose",
  argv,
  ready: { line: "ready" },
  teardown: "kill-after-ready",
});
for (let k = 0; k < rounds; k++) {
  for (const mode of ["fork", "prestart"] as const) {
    const r = await launch(profile, {
      count: n,
      pattern: { kind: "back-to-back" },
      argv,
      sampleIntervalMs: 0,
      reaper: false,
      graceMs: 0,
      spawnMode: mode,
    });
    console.log(
      `round ${k + 1} ${mode}: median boot ${
        median(readyBoots(r.rows)).toFixed(0)
      } ms, CPU from T_0 ${
        ((r.cpuFromT0Ms ?? 0) + (r.helperCpuMs ?? 0)).toFixed(0)
      } ms over ${r.wallMs.toFixed(0)} ms`,
    );
  }
  const c = await runHarnessWithCost(argv, { count: n, ready: "ready" });
  console.log(
    `round ${k + 1} C harness: median boot ${
      median(readyBoots(c.rows)).toFixed(0)
    } ms, CPU from T_0 ${c.cpuMs?.toFixed(0)} ms over ${
      c.wallMs?.toFixed(0)
    } ms`,
  );
}
