/**
 * Scale and cost of the launcher (issue 7): minkernel storms back-to-back
 * (instances lost, spawn rate, launcher CPU / wall, launcher peak RSS) and
 * the memory sampler (rate, worst gap, CPU) idle and during storms. Each
 * function returns plain numbers; `bench/bench.ts` writes BENCHMARKS.md.
 *
 * @module
 */
import process from "node:process";
import { tableFromIPC } from "apache-arrow";
import { join } from "node:path";
import { loadProfile } from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { startMemorySampler } from "../launcher/memory_sampler.ts";
import { availableKib } from "../launcher/sweep.ts";
import { estimateCell, preflightCell } from "../launcher/sweep_plan.ts";

/** One storm's numbers. */
export interface StormResult {
  n: number;
  ran: boolean;
  reason: string | null;
  rows: number;
  lost: number;
  ready: number;
  failed: number;
  spawnRatePerS: number | null;
  wallMs: number | null;
  launcherCpuMs: number | null;
  launcherCpuShare: number | null;
  launcherPeakRssKib: number | null;
  bootMedianMs: number | null;
  sampler: { achievedHz: number; worstGapMs: number | null } | null;
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Boot a minkernel storm of `n` back-to-back (kill after ready), unless the
 * memory pre-flight says it does not fit.
 */
export async function storm(
  n: number,
  options: { image?: string; outDir: string; rssKib: number; bootMs: number },
): Promise<StormResult> {
  const image = options.image ?? "minkernel-microvm";
  const cell = {
    id: "b",
    image,
    count: n,
    pattern: { kind: "back-to-back" as const },
    params: {},
    repeat: 0,
  };
  const est = estimateCell(cell, {
    bootMs: options.bootMs,
    rssKib: options.rssKib,
    source: "probe",
  }, {
    cores: navigator.hardwareConcurrency,
  });
  const pre = preflightCell(cell, est, { availableKib: availableKib() });
  const empty = {
    n,
    rows: 0,
    lost: 0,
    ready: 0,
    failed: 0,
    spawnRatePerS: null,
    wallMs: null,
    launcherCpuMs: null,
    launcherCpuShare: null,
    launcherPeakRssKib: null,
    bootMedianMs: null,
    sampler: null,
  };
  if (!pre.ok) return { ...empty, ran: false, reason: pre.message };
  const { runDir, record } = await runBatch(await loadProfile(image), {
    count: n,
    pattern: { kind: "back-to-back" },
    accel: "tcg",
    outDir: options.outDir,
  });
  const rows = tableFromIPC(Deno.readFileSync(join(runDir, "instances.arrow")))
    .toArray().map((r) => r.toJSON());
  const ts = rows.map((r) => r.t_s_ms as number).filter((x) => x !== null).sort(
    (a, b) => a - b,
  );
  const l = record.launcher as Record<string, number>;
  const s = record.memory_sampler as Record<string, number>;
  const ready = rows.filter((r) => r.outcome === "ready");
  return {
    n,
    ran: true,
    reason: null,
    rows: rows.length,
    lost: n - new Set(rows.map((r) => r.instance)).size,
    ready: ready.length,
    failed: rows.length - ready.length,
    spawnRatePerS: ts.length > 1
      ? (ts.length - 1) / ((ts[ts.length - 1] - ts[0]) / 1000)
      : null,
    wallMs: record.wall_ms as number,
    launcherCpuMs: l.cpu_user_ms + l.cpu_system_ms,
    launcherCpuShare: l.cpu_share_of_one_core,
    launcherPeakRssKib: l.peak_rss_kib,
    bootMedianMs: median(ready.map((r) => r.boot_ms as number)),
    sampler: { achievedHz: s.achieved_hz, worstGapMs: s.worst_gap_ms },
  };
}

/** The sampler alone on an idle machine for `ms`: rate, worst gap, CPU share. */
export async function samplerIdle(
  ms = 3000,
): Promise<
  { achievedHz: number; worstGapMs: number | null; cpuShare: number }
> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const s = startMemorySampler({ onSamples: () => {} });
  await new Promise((r) => setTimeout(r, ms));
  const st = await s.stop();
  const cpu = process.cpuUsage(cpu0);
  return {
    achievedHz: st.achieved_hz,
    worstGapMs: st.worst_gap_ms,
    cpuShare: (cpu.user + cpu.system) / 1000 / (performance.now() - t0),
  };
}
