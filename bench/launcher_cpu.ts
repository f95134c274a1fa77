/**
 * The launcher's CPU while N guests boot: one back-to-back minkernel-microvm
 * storm through `runBatch` (the CLI's code path) in this process, printing
 * run.json `launcher` (the whole batch, and from T_0 to the last reap) and
 * the C sampler process's own share.
 *
 * ```sh
 * deno run -A --v8-flags=--no-concurrent-recompilation,--no-concurrent-osr bench/launcher_cpu.ts [N=256] [on|off]
 * ```
 *
 * @module
 */
import { loadProfile } from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { ensureImage } from "../images/ensure.ts";

const n = Number(Deno.args[0] ?? 256);
const sampling = (Deno.args[1] ?? "on") === "on";
const profile = await loadProfile("minkernel-microvm");
await ensureImage(profile);
const out = await Deno.makeTempDir({ prefix: "bootstorm-launcher-cpu-" });
try {
  const { result, record } = await runBatch(profile, {
    count: n,
    pattern: { kind: "back-to-back" },
    accel: "tcg",
    outDir: out,
    graceMs: 0,
    sampleIntervalMs: sampling ? 0.5 : 0,
  });
  const l = record.launcher!;
  const pct = (x: number | null | undefined) =>
    x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`;
  console.log(
    `N=${n}, sampling ${
      sampling ? "on" : "off"
    }: ${record.totals?.ready} ready; ` +
      `wall ${result.wallMs.toFixed(0)} ms; launcher CPU ${
        l.cpu_ms?.toFixed(0)
      } ms (${
        pct(l.cpu_share_of_one_core)
      } of a core over the batch), from T_0 ${
        l.cpu_ms_from_t0?.toFixed(0)
      } ms (${pct(l.cpu_share_from_t0)}); sampler process ${
        pct(record.memory_sampler?.cpu_share_of_one_core)
      }`,
  );
} finally {
  await Deno.remove(out, { recursive: true });
}
