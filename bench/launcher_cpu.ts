/**
 * The launcher's CPU while N guests boot: one back-to-back minkernel-microvm
 * storm through the benchmarks' `storm()` (`runBatch`, the CLI's code path)
 * in this process, printing run.json `launcher` (the whole batch, and from
 * T_0 to the last reap, and from T_0 to the last boot's end) and the C
 * sampler process's and spawn helper's own shares.
 *
 * ```sh
 * deno run -A --v8-flags=--no-concurrent-recompilation,--no-concurrent-osr bench/launcher_cpu.ts [N=256] [on|off]
 * ```
 *
 * @module
 */
import { storm } from "./scale.ts";

const n = Number(Deno.args[0] ?? 256);
const sampling = (Deno.args[1] ?? "on") === "on";
const out = await Deno.makeTempDir({ prefix: "bootstorm-launcher-cpu-" });
try {
  const r = await storm(n, {
    image: "minkernel-microvm",
    outDir: out,
    rssKib: 45000,
    bootMs: 40,
    sampleIntervalMs: sampling ? 0.5 : 0,
  });
  const pct = (x: number | null | undefined) =>
    x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`;
  console.log(
    r.ran
      ? `N=${n}, sampling ${sampling ? "on" : "off"}: ${r.ready} ready; ` +
        `wall ${r.wallMs?.toFixed(0)} ms; launcher CPU ${
          r.launcherCpuMs?.toFixed(0)
        } ms (${pct(r.launcherCpuShare)} of a core over the batch), from T_0 ${
          pct(r.launcherCpuShareFromT0)
        }, while booting ${
          pct(r.launcherCpuShareWhileBooting)
        }; sampler process ${pct(r.sampler?.cpuShare)}; spawn helper ${
          pct(r.helperCpuShare)
        }`
      : `N=${n}: not run (${r.reason})`,
  );
} finally {
  await Deno.remove(out, { recursive: true });
}
