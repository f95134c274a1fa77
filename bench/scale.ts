/**
 * Scale and cost of the launcher (issue 7): minkernel storms back-to-back
 * (instances lost, pre-fork and release rates, launcher CPU / wall, launcher
 * peak RSS, where the CPU went) and the memory sampler (rate, worst gap, CPU)
 * idle and during storms. Each function returns plain numbers;
 * `bench/bench.ts` writes BENCHMARKS.md.
 *
 * The storms run in this process through `runBatch` (the CLI's code path),
 * so `process.cpuUsage()` and `/proc/self` are the launcher's own.
 *
 * @module
 */
import process from "node:process";
import { execa } from "execa";
import { tableFromIPC } from "apache-arrow";
import { join } from "node:path";
import { hostStealMs } from "../launcher/host_steal.ts";
import {
  availableKib,
  denoRunner,
  estimateCell,
  loadProfile,
  median,
  monotonicMs,
  preflightCell,
  type ProcessRunner,
  quantileSorted,
  runBatch,
  type RunRecord,
  type SpawnMode,
} from "../mod.ts";
// The memory sources are launcher internals (runBatch starts them); the idle-sampler benchmark drives them alone.
import {
  type MemorySourceKind,
  startMemorySource,
} from "../launcher/sampler/memory_source.ts";
import {
  createRunCgroup,
  removeRunCgroup,
} from "../launcher/sampler/run_cgroup.ts";

/**
 * Steal time of the whole machine so far, ms (`hostStealMs`, 0 where the
 * host does not report it).
 *
 * @example
 * ```ts ignore
 * const a = stealMs(); await storm(); console.log(stealMs() - a);
 * ```
 */
export function stealMs(): number {
  return hostStealMs() ?? 0;
}

/**
 * Whether this VM reports free pages to its host (free page reporting): then
 * memory freed for about 2 s goes back to the host in blocks of
 * 2^order pages, and a storm that gets those pages waits for the host to back
 * them again (seen as steal). Null when the kernel has no page reporting.
 */
export function pageReportingOrder(): number | null {
  try {
    return Number(
      Deno.readTextFileSync(
        "/sys/module/page_reporting/parameters/page_reporting_order",
      ).trim(),
    );
  } catch {
    return null;
  }
}

/**
 * Touch `mib` MiB in a child process that then exits: the freed pages sit on
 * the free lists, backed by the host, for the next ~2 s (before free page
 * reporting hands them back). Run right before each side's storm, it gives
 * both sides of an A/B the same host memory state.
 *
 * @example
 * ```ts ignore
 * await warmHostMemory(64 * 64); // before a 64-storm
 * ```
 */
export async function warmHostMemory(mib: number): Promise<void> {
  const chunks = Math.max(1, Math.ceil(mib / 256));
  const code = `const k = []; for (let i = 0; i < ${chunks}; i++) ` +
    `k.push(new Uint8Array(256 << 20).fill(1)); console.log(k.length);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `Cannot warm ${mib} MiB of host memory: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
}

/**
 * QEMU processes alive on this host (any owner): a benchmark waits for none
 * before a storm, and notes them as foreign load.
 *
 * @example
 * ```ts ignore
 * while (qemuProcessCount() > 0) await new Promise((r) => setTimeout(r, 50));
 * ```
 */
export function qemuProcessCount(): number {
  let n = 0;
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (
        Deno.readTextFileSync(`/proc/${e.name}/comm`).startsWith("qemu-system")
      ) n++;
    } catch {
      // gone
    }
  }
  return n;
}

/**
 * Wait until no QEMU process is left on the host, then `settleMs` more: a
 * storm's dying guests (and the memory they free) would slow the next one.
 *
 * @example
 * ```ts ignore
 * await noQemuLeft(1000); // before each storm of an A/B
 * ```
 */
export async function noQemuLeft(settleMs = 0): Promise<void> {
  while (qemuProcessCount() > 0) await new Promise((r) => setTimeout(r, 50));
  if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
}

/** One storm of a rotating A/B: its median boot, T_s span and steal. */
export interface RotatedStorm {
  /** Median boot_ms of its ready instances. */
  medianMs: number;
  /** Last − first T_s, ms. */
  spanMs: number;
  /** Steal time of the machine during the storm, ms. */
  stealMs: number;
}

/**
 * Boot one N back-to-back storm per side per round, the order rotating every
 * round; before each storm, wait until no QEMU is left (and 500 ms more) and
 * warm N × 64 MiB of host memory, the same for every side. Returns each
 * side's storms in order; `onStorm` sees each as it ends.
 *
 * @example
 * ```ts ignore
 * const r = await rotateStorms({ a: (n) => runA(n), b: (n) => runB(n) }, { n: 64, rounds: 4 });
 * console.log(r.a.map((s) => s.medianMs));
 * ```
 */
export async function rotateStorms<K extends string>(
  sides: Record<
    K,
    (
      n: number,
    ) => Promise<
      readonly { outcome: string; boot_ms: number | null; t_s_ms: number }[]
    >
  >,
  options: {
    n: number;
    rounds: number;
    onStorm?: (round: number, side: K, storm: RotatedStorm) => void;
  },
): Promise<Record<K, RotatedStorm[]>> {
  const names = Object.keys(sides) as K[];
  const out = Object.fromEntries(
    names.map((k) => [k, []]),
  ) as unknown as Record<
    K,
    RotatedStorm[]
  >;
  for (let k = 0; k < options.rounds; k++) {
    for (let j = 0; j < names.length; j++) {
      const side = names[(j + k) % names.length];
      await noQemuLeft(500);
      await warmHostMemory(options.n * 64);
      const s0 = stealMs();
      const rows = await sides[side](options.n);
      const ts = rows.map((r) => r.t_s_ms);
      const storm = {
        medianMs: median(
          rows.filter((r) => r.outcome === "ready").map((r) => r.boot_ms!),
        ),
        spanMs: Math.max(...ts) - Math.min(...ts),
        stealMs: stealMs() - s0,
      };
      out[side].push(storm);
      options.onStorm?.(k, side, storm);
    }
  }
  return out;
}

/** One storm's numbers. */
export interface StormResult {
  n: number;
  /** Memory sampling interval, ms (0 = the sampler was off). */
  sampleIntervalMs: number;
  /** False when the memory pre-flight refused it (see `reason`). */
  ran: boolean;
  reason: string | null;
  /** The pre-flight's estimate of peak memory and the largest N that fits. */
  preflight: { peakMib: number; availableMib: number; largestN: number };
  /** Rows in instances.arrow. */
  rows: number;
  /** Instances without a row or without an outcome (goal 0). */
  lost: number;
  ready: number;
  failed: number;
  /** Rows per outcome. */
  outcomes: Record<string, number>;
  /** Pre-fork phase (stopped shells forked before T_0): first → last spawn call, ms. */
  preforkMs: number | null;
  /** Instances forked per second during the pre-fork phase. */
  preforkRatePerS: number | null;
  /** Median duration of one spawn call (the fork of a stopped shell), ms. */
  spawnCallMedianMs: number | null;
  /** All spawn calls together (main-thread wall time), ms. */
  spawnCallTotalMs: number | null;
  /** Release span: last − first T_s, ms. */
  releaseSpanMs: number | null;
  /** Releases (SIGCONT, T_s) per second: (N − 1) / release span. */
  spawnRatePerS: number | null;
  /** run.json `wall_ms` (T_0 → last instance reaped). */
  wallMs: number | null;
  /** The whole `runBatch` call (setup, pre-fork, storm, finalise), ms. */
  batchWallMs: number | null;
  /** run.json `launcher.cpu_ms` (every thread, exact). */
  launcherCpuMs: number | null;
  /** run.json `launcher.cpu_share_of_one_core` (CPU incl. pre-fork / wall from T_0). */
  launcherCpuShare: number | null;
  /** run.json `launcher.cpu_share_from_t0`: CPU from T_0 to the last reap / that time (null in older runs). */
  launcherCpuShareFromT0?: number | null;
  /** run.json `launcher.cpu_share_while_booting`: CPU from T_0 to the last boot's end / that time (null in older runs). */
  launcherCpuShareWhileBooting?: number | null;
  /**
   * run.json `launcher.spawn_helper_cpu_ms` over the storm's wall time: the
   * fork-mode spawn helper process's own CPU (null in other modes and in
   * older runs).
   */
  helperCpuShare?: number | null;
  /** CPU of the whole runBatch call / its wall time. */
  batchCpuShare: number | null;
  /** CPU spent before T_0 (setup + pre-fork), ms. */
  cpuBeforeT0Ms: number | null;
  /** Launcher CPU time per thread name (main = `deno`), ms; see {@link startThreadCpu}. */
  threadCpuMs: Record<string, number>;
  launcherPeakRssKib: number | null;
  bootMedianMs: number | null;
  bootP90Ms: number | null;
  /** Median VmHWM of the ready instances (QEMU processes), KiB. */
  rssMedianKib: number | null;
  /** Host memory in use at its peak minus before the storm, MiB. */
  memPeakMib: number | null;
  sampler: {
    achievedHz: number;
    worstGapMs: number | null;
    samples: number;
    realtime: boolean | null;
    warning: string | null;
    /** `c-sampler` or `worker` (run.json `memory_sampler.source`). */
    source: string | null;
    /** CPU of the sampler process / wall, share of one core (c-sampler; null for the worker, whose thread is in the launcher's CPU). */
    cpuShare: number | null;
    /** `rate` or `quiet` (run.json `memory_sampler.mode`; absent before quiet mode: rate). */
    mode: "rate" | "quiet";
    /** Quiet waits entered. */
    waits: number;
  } | null;
  /** Gaps between the launcher sampler's samples (from memory.arrow). */
  gaps: GapSummary | null;
  /** Release thread at SCHED_FIFO (null: not recorded). */
  releaseRealtime: boolean | null;
  /**
   * T_0 on the monotonic clock (ms), estimated from when the first release
   * reached the main thread (late by at most a few ms); relates the storm's
   * times to other clocks.
   */
  t0AbsMs: number | null;
  /** run.json, for the record. */
  record: RunRecord | null;
}

/** Cost of one boot used by the memory pre-flight. */
export interface StormCost {
  bootMs: number;
  rssKib: number;
}

/** Type-7 quantile of ascending values (the library's `quantileSorted`); null when empty. */
function quantile(sorted: readonly number[], q: number): number | null {
  const v = quantileSorted(sorted, q);
  return Number.isNaN(v) ? null : v;
}

function numbers(xs: readonly unknown[]): number[] {
  return xs.filter((x): x is number => typeof x === "number" && isFinite(x))
    .sort((a, b) => a - b);
}

/**
 * Instances of `0 … n−1` that have no row, or a row without an outcome.
 *
 * @example
 * ```ts
 * import { lostInstances } from "./scale.ts";
 * console.log(lostInstances(3, [{ instance: 0, outcome: "ready" }, { instance: 2, outcome: null }])); // [1, 2]
 * ```
 */
export function lostInstances(
  n: number,
  rows: readonly { instance: unknown; outcome: unknown }[],
): number[] {
  const ok = new Set(
    rows.filter((r) => typeof r.outcome === "string" && r.outcome !== "")
      .map((r) => Number(r.instance)),
  );
  const lost: number[] = [];
  for (let i = 0; i < n; i++) if (!ok.has(i)) lost.push(i);
  return lost;
}

/**
 * Per-thread CPU time of this process, polled from
 * `/proc/self/task/<tid>/schedstat` (ns) every `everyMs`; the last value seen
 * of each thread counts (a thread that exits loses at most one poll
 * interval). `stop()` returns ms per thread name (`comm`: `deno` = the main
 * thread, `worker-N` = a Worker, `tokio-runtime-w`, `V8 DefaultWorke`).
 *
 * @example
 * ```ts
 * import { startThreadCpu } from "./scale.ts";
 * const t = startThreadCpu();
 * console.log(Object.keys(t.stop()).includes("deno")); // true on Linux
 * ```
 */
export function startThreadCpu(
  everyMs = 200,
): { stop: () => Record<string, number> } {
  const first = new Map<string, number>();
  const last = new Map<string, { comm: string; ns: number }>();
  const poll = (initial: boolean) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync("/proc/self/task")];
    } catch {
      return;
    }
    for (const e of entries) {
      try {
        const ns = Number(
          Deno.readTextFileSync(`/proc/self/task/${e.name}/schedstat`)
            .split(" ")[0],
        );
        const prev = last.get(e.name);
        const comm = prev?.comm ??
          Deno.readTextFileSync(`/proc/self/task/${e.name}/comm`).trim();
        if (initial) first.set(e.name, ns);
        last.set(e.name, { comm, ns });
      } catch {
        // the thread ended between the listing and the read
      }
    }
  };
  poll(true);
  const timer = setInterval(() => poll(false), everyMs);
  return {
    stop() {
      clearInterval(timer);
      poll(false);
      const out: Record<string, number> = {};
      for (const [tid, { comm, ns }] of last) {
        const ms = (ns - (first.get(tid) ?? 0)) / 1e6;
        // A Worker thread from before the start (still exiting) is not one
        // of the measured work's.
        const name = first.has(tid) && comm.startsWith("worker-")
          ? "earlier worker"
          : comm;
        out[name] = (out[name] ?? 0) + ms;
      }
      return out;
    },
  };
}

/** A runner that times every spawn / prestart call of {@link denoRunner}. */
function timedRunner(): { runner: ProcessRunner; calls: [number, number][] } {
  const calls: [number, number][] = [];
  const timed = <T>(f: () => T): T => {
    const a = monotonicMs();
    try {
      return f();
    } finally {
      calls.push([a, monotonicMs()]);
    }
  };
  return {
    calls,
    runner: {
      spawn: (argv, o) => timed(() => denoRunner.spawn(argv, o)),
      prestart: (argv, o) => timed(() => denoRunner.prestart(argv, o)),
    },
  };
}

/**
 * Renames `worker-<k>` threads in order of creation (the launcher starts the
 * memory sampler first, then the release worker).
 */
function nameWorkers(
  byThread: Record<string, number>,
  names: readonly string[],
): Record<string, number> {
  const workers = Object.keys(byThread).filter((k) => /^worker-\d+$/.test(k))
    .sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)));
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(byThread)) {
    const i = workers.indexOf(k);
    const name = k === "deno"
      ? "main"
      : i >= 0
      ? `${names[i] ?? "other"} worker`
      : k;
    out[name] = (out[name] ?? 0) + v;
  }
  return out;
}

function readTable(path: string): Record<string, unknown>[] {
  return tableFromIPC(Deno.readFileSync(path)).toArray().map((r) =>
    r.toJSON() as Record<string, unknown>
  );
}

/** Where a sampler's gaps were, and how many were long. */
export interface GapSummary {
  /** The longest gaps: [gap ms, time of the sample before it (ms)]. */
  worst: [number, number][];
  /** Worst gap among samples before T_0 (setup and pre-fork). */
  beforeT0WorstMs: number | null;
  /** Worst gap from T_0 on (the storm). */
  afterT0WorstMs: number | null;
  over2: number;
  over5: number;
  /** 99.9th percentile gap, ms. */
  p999Ms: number | null;
  gaps: number;
}

/**
 * Gaps between consecutive sample times (ascending `t`), the longest `top`
 * with where they started, split at `split` (T_0 = 0).
 *
 * @example
 * ```ts
 * import { summarizeGaps } from "./scale.ts";
 * const g = summarizeGaps([-1, -0.5, 0, 0.5, 7, 7.5]);
 * console.log(g.worst[0], g.over5, g.beforeT0WorstMs); // [6.5, 0.5] 1 0.5
 * ```
 */
export function summarizeGaps(
  t: ArrayLike<number>,
  options: { top?: number; split?: number } = {},
): GapSummary {
  const split = options.split ?? 0;
  const gaps: [number, number][] = [];
  let before: number | null = null;
  let after: number | null = null;
  let over2 = 0;
  let over5 = 0;
  for (let i = 1; i < t.length; i++) {
    const g = t[i] - t[i - 1];
    gaps.push([g, t[i - 1]]);
    if (g > 2) over2++;
    if (g > 5) over5++;
    if (t[i] <= split) before = Math.max(before ?? 0, g);
    else after = Math.max(after ?? 0, g);
  }
  const sorted = gaps.map((g) => g[0]).sort((a, b) => a - b);
  gaps.sort((a, b) => b[0] - a[0]);
  return {
    worst: gaps.slice(0, options.top ?? 5),
    beforeT0WorstMs: before,
    afterT0WorstMs: after,
    over2,
    over5,
    p999Ms: quantile(sorted, 0.999),
    gaps: gaps.length,
  };
}

/**
 * A run folder's memory peak above its first sample (taken before any fork),
 * MiB, and the gaps between its samples.
 *
 * @example
 * ```ts ignore
 * console.log(readMemoryStats("data/runs/x").gaps?.over5);
 * ```
 */
export function readMemoryStats(
  runDir: string,
): { peakMib: number | null; gaps: GapSummary | null } {
  try {
    const mem = tableFromIPC(Deno.readFileSync(join(runDir, "memory.arrow")));
    const used = mem.getChild("used_kib");
    const t = mem.getChild("t_ms");
    if (!used || !t || used.length === 0) return { peakMib: null, gaps: null };
    let peak = -Infinity;
    for (let i = 0; i < used.length; i++) {
      peak = Math.max(peak, Number(used.get(i)));
    }
    const ts = Float64Array.from(t.toArray() as ArrayLike<number>);
    return {
      peakMib: (peak - Number(used.get(0))) / 1024,
      gaps: summarizeGaps(ts, { top: 20 }),
    };
  } catch {
    return { peakMib: null, gaps: null };
  }
}

/**
 * Boot a minkernel storm of `n` back-to-back (kill after ready), unless the
 * memory pre-flight (`preflightCell`, with `cost` as the per-instance cost)
 * says it does not fit. The run folder is removed afterwards unless `keep`.
 *
 * @example
 * ```ts ignore
 * const r = await storm(64, { outDir: "/tmp/storms", rssKib: 43000, bootMs: 45 });
 * console.log(r.lost, r.launcherCpuShare);
 * ```
 */
export async function storm(
  n: number,
  options: {
    image?: string;
    outDir: string;
    rssKib: number;
    bootMs: number;
    keep?: boolean;
    /** Memory sampling interval passed to runBatch (0 = no sampler; default 0.5). */
    sampleIntervalMs?: number;
    /**
     * Spawn mode (default: the launcher's, `fork`); `prestart` times each
     * spawn call of the stopped shells (the pre-fork columns).
     */
    spawnMode?: SpawnMode;
  },
): Promise<StormResult> {
  const image = options.image ?? "minkernel-microvm";
  const cell = {
    id: `storm-${n}`,
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
  }, { cores: navigator.hardwareConcurrency });
  const avail = availableKib();
  const pre = preflightCell(cell, est, { availableKib: avail });
  const empty: StormResult = {
    n,
    sampleIntervalMs: options.sampleIntervalMs ?? 0.5,
    ran: false,
    reason: null,
    preflight: {
      peakMib: est.peakKib / 1024,
      availableMib: avail / 1024,
      largestN: pre.largestN,
    },
    rows: 0,
    lost: 0,
    ready: 0,
    failed: 0,
    outcomes: {},
    preforkMs: null,
    preforkRatePerS: null,
    spawnCallMedianMs: null,
    spawnCallTotalMs: null,
    releaseSpanMs: null,
    spawnRatePerS: null,
    wallMs: null,
    batchWallMs: null,
    launcherCpuMs: null,
    launcherCpuShare: null,
    batchCpuShare: null,
    cpuBeforeT0Ms: null,
    threadCpuMs: {},
    launcherPeakRssKib: null,
    bootMedianMs: null,
    bootP90Ms: null,
    memPeakMib: null,
    rssMedianKib: null,
    sampler: null,
    gaps: null,
    releaseRealtime: null,
    t0AbsMs: null,
    record: null,
  };
  if (!pre.ok) return { ...empty, reason: pre.message };
  const profile = await loadProfile(image);
  const { runner, calls } = timedRunner();
  // Reset this process's VmHWM, so the launcher's peak RSS is this storm's.
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
  } catch {
    // not Linux, or not permitted: the peak covers the process's lifetime
  }
  let cpuAtFirstStart: number | null = null;
  let firstStartAbs: number | null = null;
  const threads = startThreadCpu();
  const cpu0 = process.cpuUsage();
  const w0 = monotonicMs();
  let runDir: string;
  let record: RunRecord;
  let threadCpu: Record<string, number> = {};
  try {
    ({ runDir, record } = await runBatch(profile, {
      count: n,
      pattern: { kind: "back-to-back" },
      accel: "tcg",
      outDir: options.outDir,
      // SIGKILL at ready, as the C harness of the paper's method does.
      graceMs: 0,
      sampleIntervalMs: options.sampleIntervalMs,
      spawnMode: options.spawnMode,
      // The timed runner only where it is used: a runner of its own makes
      // the launcher pre-start.
      runner: options.spawnMode === "prestart" ? runner : undefined,
      onEvent: (ev) => {
        if (ev.type === "started" && cpuAtFirstStart === null) {
          firstStartAbs = monotonicMs();
          const c = process.cpuUsage(cpu0);
          cpuAtFirstStart = (c.user + c.system) / 1000;
        }
      },
    }));
  } finally {
    threadCpu = nameWorkers(
      threads.stop(),
      options.sampleIntervalMs === 0 ? ["release"] : ["sampler", "release"],
    );
  }
  const batchWall = monotonicMs() - w0;
  const cpu = process.cpuUsage(cpu0);
  try {
    const rows = readTable(join(runDir, "instances.arrow"));
    const ts = numbers(rows.map((r) => r.t_s_ms));
    const l = record.launcher!;
    const s = record.memory_sampler as unknown as
      | Record<string, unknown>
      | null;
    const rel = record.release_thread as { realtime?: boolean } | null;
    const ready = rows.filter((r) => r.outcome === "ready");
    const boots = numbers(ready.map((r) => r.boot_ms));
    const outcomes: Record<string, number> = {};
    for (const r of rows) {
      const k = String(r.outcome ?? "null");
      outcomes[k] = (outcomes[k] ?? 0) + 1;
    }
    const spawnDur = calls.map(([a, b]) => b - a).sort((a, b) => a - b);
    const preforkMs = calls.length
      ? calls[calls.length - 1][1] - calls[0][0]
      : null;
    const span = ts.length > 1 ? ts[ts.length - 1] - ts[0] : null;
    const mem = readMemoryStats(runDir);
    return {
      ...empty,
      ran: true,
      rows: rows.length,
      lost: lostInstances(n, rows as { instance: unknown; outcome: unknown }[])
        .length,
      ready: ready.length,
      failed: rows.length - ready.length,
      outcomes,
      preforkMs,
      preforkRatePerS: preforkMs ? calls.length / (preforkMs / 1000) : null,
      spawnCallMedianMs: quantile(spawnDur, 0.5),
      spawnCallTotalMs: spawnDur.reduce((a, b) => a + b, 0),
      releaseSpanMs: span,
      spawnRatePerS: span ? (ts.length - 1) / (span / 1000) : null,
      wallMs: record.wall_ms as number,
      batchWallMs: batchWall,
      launcherCpuMs: l.cpu_ms,
      launcherCpuShare: l.cpu_share_of_one_core,
      launcherCpuShareFromT0: l.cpu_share_from_t0 ?? null,
      launcherCpuShareWhileBooting: l.cpu_share_while_booting ?? null,
      helperCpuShare: l.spawn_helper_cpu_ms != null && record.wall_ms
        ? l.spawn_helper_cpu_ms / (record.wall_ms as number)
        : null,
      batchCpuShare: (cpu.user + cpu.system) / 1000 / batchWall,
      cpuBeforeT0Ms: cpuAtFirstStart,
      threadCpuMs: threadCpu,
      launcherPeakRssKib: l.peak_rss_kib,
      bootMedianMs: quantile(boots, 0.5),
      bootP90Ms: quantile(boots, 0.9),
      memPeakMib: mem.peakMib,
      gaps: mem.gaps,
      rssMedianKib: quantile(numbers(ready.map((r) => r.rss_peak_kib)), 0.5),
      sampler: s
        ? {
          achievedHz: s.achieved_hz as number,
          worstGapMs: s.worst_gap_ms as number | null,
          samples: s.samples as number,
          realtime: (s.realtime as boolean | undefined) ?? null,
          warning: (s.warning as string | null | undefined) ?? null,
          source: (s.source as string | undefined) ?? null,
          cpuShare: (s.cpu_share_of_one_core as number | null | undefined) ??
            null,
          mode: (s.mode as "rate" | "quiet" | undefined) ?? "rate",
          waits: (s.waits as number | undefined) ?? 0,
        }
        : null,
      releaseRealtime: rel?.realtime ?? null,
      t0AbsMs: firstStartAbs !== null && ts.length
        ? firstStartAbs - ts[0]
        : null,
      record,
    };
  } finally {
    if (!options.keep) {
      await Deno.remove(runDir, { recursive: true }).catch(() => {});
    }
  }
}

/** The sampler alone for `ms`: rate, worst gap, CPU. */
export interface SamplerIdleResult {
  /** `c-sampler` (the default source) or `worker`. */
  source: MemorySourceKind;
  ms: number;
  achievedHz: number;
  samples: number;
  worstGapMs: number | null;
  /** The launcher process's CPU over the window / wall (for the worker: its sampler thread is in it). */
  cpuShare: number;
  /** CPU of the sampler itself / wall: the C sampler process, or the worker's thread. */
  threadCpuShare: number | null;
  realtime: boolean;
  warning: string | null;
  /** `rate` (a sample every interval) or `quiet` (asleep on a memory threshold while nothing moves). */
  mode: "rate" | "quiet";
  /** Share of the window the sampler spent asleep on a threshold (quiet mode). */
  waitingShare: number;
}

/**
 * A memory source alone (nothing else running in this process) for `ms`:
 * rate, worst gap, CPU share of one core (the launcher process and the
 * sampler itself). The `c-sampler` reads a run cgroup of its own every tick
 * and /proc/meminfo every 20th, as in a run.
 *
 * @example
 * ```ts ignore
 * const r = await samplerIdle(3000);
 * console.log(r.achievedHz, r.worstGapMs, r.threadCpuShare);
 * ```
 */
export async function samplerIdle(
  ms = 3000,
  options: {
    realtime?: boolean;
    source?: MemorySourceKind;
    /** c-sampler quiet mode step, KiB (default 0: rate mode). */
    quietStepKib?: number;
  } = {},
): Promise<SamplerIdleResult> {
  const kind = options.source ?? "c-sampler";
  const cg = kind === "c-sampler"
    ? createRunCgroup(`bench-idle-${Deno.pid}-${Date.now()}`)
    : null;
  const threads = startThreadCpu(100);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const s = await startMemorySource(kind, {
    onSamples: () => {},
    realtime: options.realtime ?? true,
    cgroupUsageFile: cg && typeof cg !== "string" ? cg.usageFile : null,
    quietStepKib: options.quietStepKib ?? 0,
  });
  await new Promise((r) => setTimeout(r, ms));
  const byThread = threads.stop();
  const st = await s.stop();
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  if (cg && typeof cg !== "string") removeRunCgroup(cg);
  const workers = Object.entries(byThread).filter(([k]) =>
    k.startsWith("worker-")
  );
  return {
    source: st.source,
    ms: wall,
    achievedHz: st.achieved_hz,
    samples: st.samples,
    worstGapMs: st.worst_gap_ms,
    cpuShare: (cpu.user + cpu.system) / 1000 / wall,
    threadCpuShare: st.source === "c-sampler"
      ? st.cpu_share_of_one_core
      : workers.length
      ? workers.reduce((a, [, v]) => a + v, 0) / wall
      : null,
    realtime: st.realtime,
    warning: st.warning,
    mode: st.mode ?? "rate",
    waitingShare: st.waiting_share ?? 0,
  };
}

/**
 * A control for the launcher's sampler: the same sampling loop in plain C
 * (`/proc/meminfo` every 500 µs on an absolute CLOCK_MONOTONIC schedule,
 * skipping missed slots), in a process of its own with `mlockall` and
 * SCHED_FIFO when permitted. It shares nothing with the launcher, so a gap
 * both see is the machine's (kernel, hypervisor); a gap only the launcher's
 * sampler sees is the launcher's. Built into `bench/build/rt_sampler`.
 */
export const RT_SAMPLER_C = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#define TOP 10
static volatile sig_atomic_t stop_flag = 0;
static void on_term(int s) { (void)s; stop_flag = 1; }
static double ms(struct timespec t) { return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
int main(int argc, char **argv) {
  double interval = argc > 1 ? atof(argv[1]) : 0.5;
  int want_rt = argc > 2 ? atoi(argv[2]) : 1;
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  int rt = 0;
  if (want_rt) {
    struct sched_param p = {.sched_priority = sched_get_priority_min(SCHED_FIFO) + 10};
    rt = sched_setscheduler(0, SCHED_FIFO, &p) == 0;
  }
  mlockall(MCL_CURRENT | MCL_FUTURE);
  int fd = open("/proc/meminfo", O_RDONLY);
  char buf[512];
  double top_gap[TOP] = {0}, top_at[TOP] = {0};
  long n = 0, over2 = 0, over5 = 0;
  double first = 0, last = 0, worst = 0;
  struct timespec start, now, next;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long k = 0;
  long step = (long)(interval * 1e6);
  while (!stop_flag) {
    if (pread(fd, buf, sizeof buf, 0) < 0) return 3;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double t = ms(now);
    if (n == 0) first = t;
    else {
      double g = t - last;
      if (g > worst) worst = g;
      if (g > 2) over2++;
      if (g > 5) over5++;
      for (int i = 0; i < TOP; i++) {
        if (g > top_gap[i]) {
          for (int j = TOP - 1; j > i; j--) { top_gap[j] = top_gap[j - 1]; top_at[j] = top_at[j - 1]; }
          top_gap[i] = g; top_at[i] = last;
          break;
        }
      }
    }
    last = t;
    n++;
    k++;
    long long due = (long long)start.tv_sec * 1000000000LL + start.tv_nsec + (long long)k * step;
    long long cur = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
    if (due < cur) { k = (cur - ((long long)start.tv_sec * 1000000000LL + start.tv_nsec)) / step + 1; due = (long long)start.tv_sec * 1000000000LL + start.tv_nsec + (long long)k * step; }
    next.tv_sec = due / 1000000000LL; next.tv_nsec = due % 1000000000LL;
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
  printf("{\"samples\":%ld,\"first_ms\":%.3f,\"last_ms\":%.3f,\"achieved_hz\":%.3f,\"worst_gap_ms\":%.3f,\"over2\":%ld,\"over5\":%ld,\"cpu_ms\":%.3f,\"realtime\":%s,\"worst\":[",
    n, first, last, n > 1 ? (n - 1) / ((last - first) / 1000) : 0.0, worst, over2, over5, cpu, rt ? "true" : "false");
  for (int i = 0; i < TOP && top_gap[i] > 0; i++) printf("%s[%.3f,%.3f]", i ? "," : "", top_gap[i], top_at[i]);
  printf("]}\n");
  return 0;
}
`;

/** What the C control sampler saw. */
export interface RtSamplerResult {
  samples: number;
  /** First and last sample on the monotonic clock, ms. */
  first_ms: number;
  last_ms: number;
  achieved_hz: number;
  worst_gap_ms: number;
  over2: number;
  over5: number;
  /** Its CPU time (getrusage), ms. */
  cpu_ms: number;
  realtime: boolean;
  /** Longest gaps: [gap ms, monotonic ms of the sample before]. */
  worst: [number, number][];
}

const RT_SAMPLER_BINARY = new URL("build/rt_sampler", import.meta.url).pathname;

/**
 * Compiles {@link RT_SAMPLER_C} into `bench/build/rt_sampler` (when missing
 * or older than this module) and returns its path.
 *
 * @example
 * ```ts ignore
 * const bin = await buildRtSampler();
 * ```
 */
export async function buildRtSampler(): Promise<string> {
  const out = RT_SAMPLER_BINARY;
  const self = new URL(import.meta.url).pathname;
  try {
    if (Deno.statSync(out).mtime! >= Deno.statSync(self).mtime!) return out;
  } catch {
    // not built yet
  }
  Deno.mkdirSync(out.slice(0, out.lastIndexOf("/")), { recursive: true });
  const src = `${out}.c`;
  Deno.writeTextFileSync(src, RT_SAMPLER_C);
  const r = await execa("cc", ["-O2", "-Wall", "-o", out, src], {
    reject: false,
    stdin: "ignore",
  });
  if (r.failed && r.code === "ENOENT") {
    throw new Error(
      `Cannot build the C control sampler: ${r.originalMessage}; install a C compiler (apt-get install -y gcc)`,
    );
  }
  if (r.failed) {
    const lines = String(r.stderr).split("\n").filter((l) => l.trim());
    throw new Error(
      `Cannot build the C control sampler: \`cc -O2 -Wall -o ${out} ${src}\` failed (exit ${
        r.exitCode ?? r.signal
      }): ${lines[0] ?? "no output"}${
        lines.length > 1 ? ` … ${lines.at(-1)}` : ""
      }. Install gcc and libc6-dev (apt-get install -y gcc libc6-dev).`,
    );
  }
  return out;
}

/**
 * Starts the C control sampler; `stop()` ends it (SIGTERM) and returns what
 * it saw.
 *
 * @example
 * ```ts ignore
 * const c = await startRtSampler();
 * await new Promise((r) => setTimeout(r, 1000));
 * console.log((await c.stop()).worst_gap_ms);
 * ```
 */
export async function startRtSampler(
  options: { intervalMs?: number; realtime?: boolean } = {},
): Promise<{ stop: () => Promise<RtSamplerResult> }> {
  const bin = await buildRtSampler();
  // Stays on Deno.Command: the control sampler runs during the measured storm and is stopped by SIGTERM.
  const child = new Deno.Command(bin, {
    args: [
      String(options.intervalMs ?? 0.5),
      options.realtime === false ? "0" : "1",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Let it start its loop before the measured work begins.
  await new Promise((r) => setTimeout(r, 50));
  return {
    async stop() {
      child.kill("SIGTERM");
      const out = await child.output();
      const text = new TextDecoder().decode(out.stdout).trim();
      try {
        return JSON.parse(text) as RtSamplerResult;
      } catch {
        throw new Error(
          `Cannot read the C control sampler's result (exit ${out.code}): ${
            text || new TextDecoder().decode(out.stderr)
          }`,
        );
      }
    },
  };
}

/**
 * How many of the launcher sampler's gaps longer than `minMs` overlap a gap
 * longer than 2 ms of the C control sampler (both on the monotonic clock).
 *
 * @example
 * ```ts
 * import { coincidentGaps } from "./scale.ts";
 * console.log(coincidentGaps([[20, 100]], [[15, 104]], { minMs: 5 })); // { long: 1, coincident: 1 }
 * ```
 */
export function coincidentGaps(
  launcher: readonly [number, number][],
  control: readonly [number, number][],
  options: { minMs?: number } = {},
): { long: number; coincident: number } {
  const min = options.minMs ?? 5;
  const long = launcher.filter(([g]) => g > min);
  const hit = long.filter(([g, at]) =>
    control.some(([cg, cat]) => cg > 2 && cat < at + g && cat + cg > at)
  );
  return { long: long.length, coincident: hit.length };
}
