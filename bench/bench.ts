/**
 * `deno task bench`: every benchmark of bootstorm's launcher (issue 7), one
 * Markdown report.
 *
 * Parts (each can be run alone with `--only`):
 * - `storms`: minkernel (`minkernel-microvm`) back-to-back, kill after ready,
 *   N = 256, 512, 1280 as far as the memory pre-flight allows: instances
 *   lost, pre-fork and release rates, launcher CPU / wall, peak RSS, where
 *   the CPU went;
 * - `sampler`: the memory sampler idle (rate, worst gap, CPU) and during
 *   storms of 64 and 256, next to a C control sampler that shares nothing
 *   with the launcher (a gap both see is the machine's);
 * - `fidelity`: launcher vs the C harness of the paper's Algorithm 1 — boot
 *   ratios N = 1 / 16 / 64 and the floors (fork+exec /bin/true, QEMU
 *   `-M none`, a minkernel boot), A/B alternating;
 * - `schedule`: T_s schedule error at a 5 ms interval for 256 instances,
 *   launcher vs C.
 *
 * Before each part the load average, the CPU busy share over one second and
 * foreign QEMU processes are recorded (and, with `--wait-idle`, awaited); a
 * busy machine is flagged in the report.
 *
 * Writes `BENCHMARKS.md` (a full run) or `bench/results/benchmarks-*.md`
 * (`--quick` / `--only`), plus the numbers as JSON in `bench/results/`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type BootComparison,
  fidelityPlan,
  type FloorComparison,
  hostInfo,
  loadavg,
  measureBoot,
  measureFloors,
  measureSchedule,
  prepareSides,
  qemuVersion,
  renderBootTable,
  renderFloorTable,
  renderScheduleTable,
  runLauncherBatch,
  type ScheduleComparison,
  scheduleError,
  scheduleErrors,
  sideCosts,
  type Sides,
  summarizeBoot,
} from "./fidelity.ts";
import { DEFAULT_QUIET_STEP_KIB } from "../launcher/launch.ts";
import { buildHarness } from "./c_harness.ts";
import { mean, median } from "../mod.ts";
import {
  coincidentGaps,
  type GapSummary,
  noQemuLeft,
  pageReportingOrder,
  qemuProcessCount,
  readMemoryStats,
  type RtSamplerResult,
  samplerIdle,
  type SamplerIdleResult,
  startRtSampler,
  stealMs,
  storm,
  type StormCost,
  type StormResult,
  warmHostMemory,
} from "./scale.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const PROFILE = "minkernel-microvm";

/** Goals of issue 7. */
export const GOALS = {
  lost: 0,
  /** Launcher CPU time / wall time, share of one core. */
  launcherCpuShare: 0.05,
  /** Samples per second of the 2,000 targeted, idle. */
  samplerIdleHz: 1900,
  /** Worst gap between samples during a storm, ms. */
  samplerStormGapMs: 5,
  /** The sampler's own CPU, idle, share of one core. */
  samplerCpuShare: 0.01,
} as const;

/**
 * V8 flags that keep V8's compiler off other threads: the launcher's
 * SCHED_FIFO workers (sampler, release) otherwise wait for optimised code
 * compiled at normal priority, behind the booting guests.
 */
export const INVERSION_FIX_FLAGS =
  "--no-concurrent-recompilation,--no-concurrent-osr";

/** One launcher CLI run in the V8-flags A/B. */
export interface FlagsAbRun {
  flags: string;
  repeat: number;
  n: number;
  pattern: string;
  lost: number;
  cpuShare: number | null;
  sampler: { achievedHz: number; worstGapMs: number | null } | null;
  gaps: GapSummary | null;
  /** T_s − scheduled_ms (interval pattern only). */
  schedule:
    | { p50: number | null; p99: number | null; max: number | null }
    | null;
  /** The C control sampler over the same run (machine-wide stalls). */
  control: { worstGapMs: number; over5: number } | null;
  /** Time the hypervisor stole from the vCPUs during the run, ms. */
  stealMs: number;
}

/** The machine's state before a part. */
export interface LoadSnapshot {
  at: string;
  loadavg: number[];
  /** Share of all cores busy over one second (1 − idle − iowait). */
  cpuBusy: number;
  /** Share of time stolen by the hypervisor over the same second. */
  steal: number;
  /** QEMU processes running that are not this benchmark's. */
  foreignQemu: number;
  /** Seconds spent waiting for the machine to calm down (`--wait-idle`). */
  waitedS: number;
}

/** Everything one run measured (the JSON file). */
export interface BenchReport {
  benchmark: "bootstorm";
  command: string;
  date: string;
  quick: boolean;
  parts: string[];
  host: Awaited<ReturnType<typeof hostInfo>> & {
    mem_total_kib: number;
    /** Free page reporting to the hypervisor: its order, or null (none). */
    page_reporting_order?: number | null;
  };
  qemu_version: string | null;
  deno_version: string;
  accelerator: { kind: string; reason: string };
  profile: string;
  /**
   * V8 flags: of this process (the in-process storms and sampler) and given
   * to the launcher CLI (fidelity, schedule); empty = Deno's defaults.
   */
  v8_flags: { bench: string; launcher: string };
  loadavg_before: number[];
  loadavg_after: number[];
  wall_s: number;
  storms: StormsPart | null;
  sampler: SamplerPart | null;
  fidelity: FidelityPart | null;
  schedule: SchedulePart | null;
}

/** Storms: the probe and one result per N. */
export interface StormsPart {
  load: LoadSnapshot;
  probe: StormCost & { n: number; source: string };
  /**
   * Every storm; `basis` = which per-instance memory the pre-flight used:
   * `profile` (the probe's VmHWM, as `deno task sweep` does) or `measured`
   * (see `beyond`).
   */
  storms: (StormResult & {
    load: LoadSnapshot;
    basis: "profile" | "measured";
  })[];
  /** Where the profile pre-flight stopped and why (null: every N ran). */
  stopped: string | null;
  /**
   * With `--beyond-preflight`: the sizes the profile pre-flight refused,
   * tried again with the host memory one instance really took in the storms
   * that ran (MemAvailable drop at the peak / N) × `margin`.
   */
  beyond: {
    measuredMibPerInstance: number;
    margin: number;
    stopped: string | null;
  } | null;
  /**
   * The first N again with the memory sampler off, A/B alternating (on, off,
   * off, on; the first "on" is the row in `storms`): what the sampler costs.
   */
  samplerAb: { n: number; on: StormResult[]; off: StormResult[] } | null;
  /**
   * The paper's method at the largest N that ran: the C harness's storm
   * right after the launcher's, sampling memory as the launcher does, and
   * what it cost its own processes (absent in older results).
   */
  cReference?: CReference | null;
}

/** One C harness storm: its median boot and its own CPU from T_0. */
export interface CReference {
  n: number;
  ready: number;
  medianBootMs: number | null;
  wallMs: number | null;
  /** The harness process's CPU share of one core, T_0 → last reap. */
  cpuShare: number | null;
  /** Its memory sampler process's share over the same time. */
  samplerShare: number | null;
}

/** One storm with the C control sampler running alongside. */
export interface SamplerStorm {
  n: number;
  repeat: number;
  /** Time the hypervisor stole from the vCPUs during the storm (all together), ms. */
  stealMs: number;
  load: LoadSnapshot;
  storm: StormResult;
  control: RtSamplerResult | null;
  /** Launcher gaps > 5 ms that overlap a gap > 2 ms of the control. */
  coincident: { long: number; coincident: number } | null;
}

/** The sampler alone, and during storms. */
export interface SamplerPart {
  load: LoadSnapshot;
  idle: SamplerIdleResult[];
  /** The same in quiet mode (the default: asleep on a memory threshold while nothing moves). */
  idleQuiet?: SamplerIdleResult[];
  idleNormalPriority: SamplerIdleResult | null;
  /** The Deno worker source (the launcher's original sampler), idle, for comparison. */
  idleWorker?: SamplerIdleResult | null;
  /** The C control sampler alone for the same time (its CPU is the floor). */
  idleControl: RtSamplerResult | null;
  storms: SamplerStorm[];
  /** Storms through the launcher CLI, Deno's V8 defaults vs {@link INVERSION_FIX_FLAGS}. */
  flagsAb: FlagsAbRun[];
}

/**
 * The instrument's own effect on the boot it times: median boot_ms per round
 * of the launcher with its memory sampler on, off, and of the C harness,
 * the order rotating every round.
 */
export interface InstrumentEffect {
  n: number;
  rounds: number;
  on: number[];
  off: number[];
  c: number[];
}

/** Launcher vs C: boot ratios and floors. */
export interface FidelityPart {
  load: LoadSnapshot;
  argv: string[];
  boot: BootComparison[];
  /** Sampler on / off / C (see {@link InstrumentEffect}). */
  instrument: InstrumentEffect[];
  floor: FloorComparison[];
  loadFloors: LoadSnapshot;
}

/** Launcher vs C: schedule error. */
export interface SchedulePart {
  load: LoadSnapshot;
  schedule: ScheduleComparison[];
  /** The launcher alone, Deno's V8 defaults vs {@link INVERSION_FIX_FLAGS}. */
  flagsAb: FlagsAbRun[];
}

const PARTS = ["sampler", "fidelity", "schedule", "storms"] as const;

/** Safety margin on the measured per-instance memory past the pre-flight. */
const BEYOND_MARGIN = 1.25;
type Part = typeof PARTS[number];

// ---------------------------------------------------------------- machine

function cpuTimes(): { idle: number; total: number; steal: number } {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { idle: v[3] + v[4], total, steal: v[7] ?? 0 };
}

/**
 * The machine's state now: load average, CPU busy and steal share over
 * `windowMs`, QEMU processes running (between parts none are this
 * benchmark's).
 *
 * @example
 * ```ts ignore
 * const s = await snapshotLoad();
 * console.log(s.cpuBusy < 0.1 ? "idle" : "busy");
 * ```
 */
export async function snapshotLoad(windowMs = 1000): Promise<LoadSnapshot> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, windowMs));
  const b = cpuTimes();
  const dt = Math.max(1, b.total - a.total);
  return {
    at: new Date().toISOString(),
    loadavg: await loadavg(),
    cpuBusy: 1 - (b.idle - a.idle) / dt,
    steal: (b.steal - a.steal) / dt,
    foreignQemu: qemuProcessCount(),
    waitedS: 0,
  };
}

/**
 * Waits (up to `maxS`) until the CPUs are idle (busy < 15% over a second)
 * and no other QEMU runs; returns the last snapshot with the time waited.
 */
async function waitIdle(maxS: number, log: Log): Promise<LoadSnapshot> {
  const t0 = performance.now();
  let s = await snapshotLoad();
  let told = false;
  while (
    (s.cpuBusy > 0.15 || s.foreignQemu > 0) &&
    performance.now() - t0 < maxS * 1000
  ) {
    if (!told) {
      log(
        `bench: machine busy (CPU ${
          pct(s.cpuBusy)
        }, ${s.foreignQemu} other QEMU, load ${
          s.loadavg.join(" ")
        }); waiting up to ${maxS} s`,
      );
      told = true;
    }
    await new Promise((r) => setTimeout(r, 2000));
    s = await snapshotLoad();
  }
  return { ...s, waitedS: (performance.now() - t0) / 1000 };
}

/**
 * Whether a snapshot shows other work that skews the numbers: CPUs busy,
 * another QEMU running, or the hypervisor stealing time. (Not the load
 * average: it still carries this benchmark's own earlier storms.)
 *
 * @example
 * ```ts
 * import { isBusy } from "./bench.ts";
 * console.log(isBusy({ at: "", loadavg: [90, 50, 20], cpuBusy: 0.01, steal: 0, foreignQemu: 0, waitedS: 0 })); // false
 * ```
 */
export function isBusy(s: LoadSnapshot): boolean {
  return s.cpuBusy > 0.15 || s.foreignQemu > 0 || s.steal > 0.05;
}

/** Time stolen by the hypervisor from all vCPUs together while `fn` ran, ms. */
async function withSteal<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const a = stealMs();
  const r = await fn();
  return [r, stealMs() - a];
}

// ---------------------------------------------------------------- parts

type Log = (m: string) => void;

interface Ctx {
  quick: boolean;
  waitIdleS: number;
  log: Log;
  outDir: string;
  cores: number;
  sizes: number[];
  /** Cost of one instance for the pre-flight (from the probe storm). */
  cost: (StormCost & { n: number; source: string }) | null;
  sides: Sides | null;
  /** Launcher CLI argv prefix (undefined: the default). */
  launcherCommand?: string[];
  /** Try refused sizes again with the measured per-instance memory. */
  beyondPreflight: boolean;
}

/**
 * Runs the launcher CLI with Deno's V8 defaults and with
 * {@link INVERSION_FIX_FLAGS}, alternating which goes first.
 */
async function flagsAb(
  ctx: Ctx,
  n: number,
  options: { intervalMs?: number; repeats: number },
): Promise<FlagsAbRun[]> {
  const out: FlagsAbRun[] = [];
  const base = (flags: string) => [
    Deno.execPath(),
    "run",
    "-A",
    ...(flags ? [`--v8-flags=${flags}`] : []),
    `${ROOT}cli/sweep.ts`,
  ];
  for (let k = 0; k < options.repeats; k++) {
    const order = k % 2 ? [INVERSION_FIX_FLAGS, ""] : ["", INVERSION_FIX_FLAGS];
    for (const flags of order) {
      await waitIdle(ctx.waitIdleS, ctx.log);
      ctx.log(
        `bench: launcher CLI, N=${n} ${
          options.intervalMs ? `every ${options.intervalMs} ms` : "back-to-back"
        }, V8 flags: ${flags || "defaults"} (${k + 1}/${options.repeats})`,
      );
      const control = await startRtSampler();
      let b: Awaited<ReturnType<typeof runLauncherBatch>>;
      let cr: RtSamplerResult;
      let stealMs: number;
      try {
        [b, stealMs] = await withSteal(() =>
          runLauncherBatch(n, {
            profile: PROFILE,
            accel: "tcg",
            outDir: ctx.outDir,
            intervalMs: options.intervalMs,
            command: base(flags),
          })
        );
      } finally {
        cr = await control.stop();
      }
      const mem = readMemoryStats(b.runDir);
      await Deno.remove(b.runDir, { recursive: true }).catch(() => {});
      const ms = b.run.memory_sampler as Record<string, number> | null;
      const l = b.run.launcher as Record<string, number> | null;
      const errs = scheduleError(scheduleErrors(b.rows));
      const seen = new Set(
        b.rows.filter((r) => r.outcome).map((r) => r.instance),
      );
      out.push({
        flags,
        repeat: k,
        n,
        pattern: options.intervalMs
          ? `every ${options.intervalMs} ms`
          : "back-to-back",
        lost: n - seen.size,
        cpuShare: l?.cpu_share_of_one_core ?? null,
        sampler: ms
          ? { achievedHz: ms.achieved_hz, worstGapMs: ms.worst_gap_ms }
          : null,
        gaps: mem.gaps,
        schedule: options.intervalMs
          ? { p50: errs.p50_ms, p99: errs.p99_ms, max: errs.max_ms }
          : null,
        control: { worstGapMs: cr.worst_gap_ms, over5: cr.over5 },
        stealMs,
      });
    }
  }
  return out;
}

async function probeCost(
  ctx: Ctx,
): Promise<StormCost & { n: number; source: string }> {
  if (ctx.cost) return ctx.cost;
  const n = 16;
  ctx.log(
    `bench: probe storm of ${n} (per-instance memory for the pre-flight)`,
  );
  const r = await storm(n, {
    image: PROFILE,
    outDir: ctx.outDir,
    rssKib: 1,
    bootMs: 1,
  });
  if (!r.ran || r.rssMedianKib === null || r.bootMedianMs === null) {
    throw new Error(
      `Cannot probe "${PROFILE}": the probe storm of ${n} gave no ready instance (${
        JSON.stringify(r.outcomes)
      }); boot it by hand with deno task sweep --image ${PROFILE} --count 1`,
    );
  }
  ctx.cost = {
    n,
    bootMs: r.bootMedianMs,
    rssKib: r.rssMedianKib,
    source: `probe storm of ${n}: median VmHWM and boot_ms of its instances`,
  };
  return ctx.cost;
}

async function runStorms(ctx: Ctx): Promise<StormsPart> {
  const load = await waitIdle(ctx.waitIdleS, ctx.log);
  const probe = await probeCost(ctx);
  const storms: StormsPart["storms"] = [];
  let stopped: string | null = null;
  let beyond: StormsPart["beyond"] = null;
  let samplerAb: StormsPart["samplerAb"] = null;
  const one = (n: number, rssKib: number, sampleIntervalMs?: number) =>
    storm(n, {
      image: PROFILE,
      outDir: ctx.outDir,
      rssKib,
      bootMs: probe.bootMs,
      sampleIntervalMs,
    });
  const run = async (
    n: number,
    basis: "profile" | "measured",
    rssKib: number,
  ) => {
    const l = await waitIdle(ctx.waitIdleS, ctx.log);
    ctx.log(
      `bench: storm of ${n} back-to-back, ${basis} pre-flight (load ${
        l.loadavg.join(" ")
      })`,
    );
    const r = await one(n, rssKib);
    storms.push({ ...r, load: l, basis });
    if (r.ran) {
      ctx.log(
        `bench: N=${n}: ${r.rows} rows, lost ${r.lost}, ready ${r.ready}; CPU ${
          pct(r.launcherCpuShare)
        } of one core; sampler ${
          r.sampler?.achievedHz.toFixed(0)
        } Hz, worst gap ${r.sampler?.worstGapMs?.toFixed(1)} ms`,
      );
    }
    return r;
  };
  let rest: number[] = [];
  for (const [i, n] of ctx.sizes.entries()) {
    const r = await run(n, "profile", probe.rssKib);
    if (!r.ran) {
      stopped = `Stopped at N = ${n}: ${r.reason}`;
      ctx.log(`bench: ${stopped}`);
      rest = ctx.sizes.slice(i);
      break;
    }
    if (samplerAb === null) {
      // What the sampler costs: the same storm with it off, A/B (on off off on).
      samplerAb = { n, on: [r], off: [] };
      for (const si of [0, 0, 0.5]) {
        await waitIdle(ctx.waitIdleS, ctx.log);
        ctx.log(`bench: storm of ${n}, sampler ${si ? "on" : "off"} (A/B)`);
        const x = await one(n, probe.rssKib, si);
        (si ? samplerAb.on : samplerAb.off).push(x);
      }
    }
  }
  // Past the profile pre-flight: the host memory each instance really took
  // in the storms so far (shared pages counted once), with a margin.
  const perInstance = Math.max(
    ...storms.filter((r) => r.ran && r.memPeakMib !== null).map((r) =>
      r.memPeakMib! / r.n
    ),
  );
  if (ctx.beyondPreflight && rest.length && isFinite(perInstance)) {
    beyond = {
      measuredMibPerInstance: perInstance,
      margin: BEYOND_MARGIN,
      stopped: null,
    };
    for (const n of rest) {
      const r = await run(n, "measured", perInstance * BEYOND_MARGIN * 1024);
      if (!r.ran) {
        beyond.stopped = `Stopped at N = ${n}: ${r.reason}`;
        ctx.log(`bench: measured pre-flight: ${beyond.stopped}`);
        break;
      }
    }
  }
  const cReference = await cStorm(
    ctx,
    Math.max(...storms.filter((r) => r.ran).map((r) => r.n)),
  );
  return { load, probe, storms, stopped, beyond, samplerAb, cReference };
}

/**
 * The C harness (the paper's method) storms `n` minkernels, sampling as the
 * launcher does: what the method itself costs a host's CPU, next to the
 * launcher's row. Null when no storm ran.
 */
async function cStorm(ctx: Ctx, n: number): Promise<CReference | null> {
  if (!isFinite(n)) return null;
  const sides = await sidesFor(ctx);
  await waitIdle(ctx.waitIdleS, ctx.log);
  ctx.log(`bench: storm of ${n}, C harness (the paper's method)`);
  const boot = summarizeBoot([await sides.c(n)]);
  const cost = sideCosts.at(-1);
  const share = (ms: number | null | undefined) =>
    ms != null && cost?.wallMs ? ms / cost.wallMs : null;
  return {
    n,
    ready: boot.instances - boot.failed,
    medianBootMs: boot.median_ms,
    wallMs: cost?.wallMs ?? null,
    cpuShare: share(cost?.cpuMs),
    samplerShare: share(cost?.samplerCpuMs),
  };
}

async function runSampler(ctx: Ctx): Promise<SamplerPart> {
  const load = await waitIdle(ctx.waitIdleS, ctx.log);
  const ms = ctx.quick ? 2000 : 5000;
  const idle: SamplerIdleResult[] = [];
  for (let k = 0; k < (ctx.quick ? 1 : 3); k++) {
    ctx.log(`bench: sampler idle ${ms} ms (${k + 1})`);
    idle.push(await samplerIdle(ms));
  }
  const idleQuiet: SamplerIdleResult[] = [];
  for (let k = 0; k < (ctx.quick ? 1 : 3); k++) {
    ctx.log(`bench: sampler idle ${ms} ms, quiet mode (${k + 1})`);
    idleQuiet.push(
      await samplerIdle(ms, { quietStepKib: DEFAULT_QUIET_STEP_KIB }),
    );
  }
  ctx.log(`bench: sampler idle at normal priority`);
  const idleNormalPriority = await samplerIdle(ms, { realtime: false });
  ctx.log(`bench: the Deno worker source idle (the original sampler)`);
  const idleWorker = await samplerIdle(ms, { source: "worker" });
  ctx.log(`bench: C control sampler idle`);
  const c = await startRtSampler();
  await new Promise((r) => setTimeout(r, ms));
  const idleControl = await c.stop();
  const probe = await probeCost(ctx);
  const storms: SamplerStorm[] = [];
  const plan = ctx.quick ? [16, 64] : [64, 256];
  const repeats = ctx.quick ? 1 : 3;
  for (const n of plan) {
    for (let k = 0; k < repeats; k++) {
      const l = await waitIdle(ctx.waitIdleS, ctx.log);
      ctx.log(`bench: sampler during a storm of ${n} (${k + 1}/${repeats})`);
      const control = await startRtSampler();
      const [r, stealMs] = await withSteal(() =>
        storm(n, {
          image: PROFILE,
          outDir: ctx.outDir,
          rssKib: probe.rssKib,
          bootMs: probe.bootMs,
        })
      );
      const cr = await control.stop();
      const launcherGaps = (r.gaps?.worst ?? []).map((
        [g, at],
      ): [number, number] => [g, at + (r.t0AbsMs ?? NaN)]);
      storms.push({
        n,
        repeat: k,
        stealMs,
        load: l,
        storm: r,
        control: cr,
        coincident: r.t0AbsMs !== null
          ? coincidentGaps(launcherGaps, cr.worst)
          : null,
      });
      ctx.log(
        `bench: N=${n}: launcher sampler ${
          r.sampler?.achievedHz.toFixed(0)
        } Hz, worst gap ${r.sampler?.worstGapMs?.toFixed(2)} ms; C control ${
          cr.achieved_hz.toFixed(0)
        } Hz, worst gap ${cr.worst_gap_ms.toFixed(2)} ms`,
      );
    }
  }
  const ab = await flagsAb(ctx, ctx.quick ? 64 : 256, {
    repeats: ctx.quick ? 1 : 3,
  });
  return {
    load,
    idle,
    idleQuiet,
    idleNormalPriority,
    idleWorker,
    idleControl,
    storms,
    flagsAb: ab,
  };
}

async function sidesFor(ctx: Ctx): Promise<Sides> {
  if (ctx.sides) return ctx.sides;
  ctx.log(`bench: warm-up (launcher N=1, C N=1)`);
  ctx.sides = await prepareSides(PROFILE, {
    accel: "tcg",
    outDir: ctx.outDir,
    binary: await buildHarness(),
    launcherCommand: ctx.launcherCommand,
  });
  return ctx.sides;
}

async function runFidelityPart(ctx: Ctx): Promise<FidelityPart> {
  const load = await waitIdle(ctx.waitIdleS, ctx.log);
  const sides = await sidesFor(ctx);
  const plan = fidelityPlan(ctx.quick);
  // Storms of 16 and more: no QEMU left from the storm before, then the
  // host memory warmed (this VM hands free pages back to its host; a storm
  // that gets them waits on the host, seen as steal), the same for both
  // sides, outside the timing.
  const boot = await measureBoot(sides, {
    plan: plan.boot,
    log: ctx.log,
    before: async (n) => {
      if (n < 16) return;
      await noQemuLeft();
      await warmHostMemory(n * 64);
    },
  });
  const instrument: InstrumentEffect[] = [];
  const probe = await probeCost(ctx);
  for (
    const { n, rounds } of ctx.quick
      ? [{ n: 1, rounds: 3 }]
      : [{ n: 1, rounds: 12 }, { n: 16, rounds: 5 }]
  ) {
    const e: InstrumentEffect = { n, rounds, on: [], off: [], c: [] };
    const kinds = ["on", "off", "c"] as const;
    for (let k = 0; k < rounds; k++) {
      for (let j = 0; j < 3; j++) {
        const kind = kinds[(j + k) % 3];
        ctx.log(`bench: instrument effect N=${n}, round ${k + 1}, ${kind}`);
        let med: number | null;
        if (kind === "c") {
          med = orNull(median(
            (await sides.c(n)).filter((r) => r.outcome === "ready").map((r) =>
              r.boot_ms
            ),
          ));
        } else {
          med = (await storm(n, {
            image: PROFILE,
            outDir: ctx.outDir,
            rssKib: probe.rssKib,
            bootMs: probe.bootMs,
            sampleIntervalMs: kind === "on" ? 0.5 : 0,
          })).bootMedianMs;
        }
        if (med !== null) e[kind].push(med);
      }
    }
    instrument.push(e);
  }
  const loadFloors = await waitIdle(ctx.waitIdleS, ctx.log);
  const floor = await measureFloors(PROFILE, {
    accel: "tcg",
    outDir: ctx.outDir,
    binary: await buildHarness(),
    launcherCommand: ctx.launcherCommand,
    ...plan.floor,
    log: ctx.log,
  });
  return {
    load,
    argv: sides.argv,
    boot: boot.comparisons,
    instrument,
    floor: floor.comparisons,
    loadFloors,
  };
}

async function runSchedulePart(ctx: Ctx): Promise<SchedulePart> {
  const load = await waitIdle(ctx.waitIdleS, ctx.log);
  const sides = await sidesFor(ctx);
  const plan = ctx.quick
    ? [{ n: 32, intervalMs: 5, repeats: 1 }]
    : [{ n: 32, intervalMs: 5, repeats: 5 }];
  const s = await measureSchedule(sides, { plan, log: ctx.log });
  const ab = await flagsAb(ctx, plan[0].n, {
    intervalMs: plan[0].intervalMs,
    repeats: ctx.quick ? 1 : 3,
  });
  return { load, schedule: s.comparisons, flagsAb: ab };
}

// ---------------------------------------------------------------- report

function pct(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !isFinite(x)
    ? "–"
    : `${(x * 100).toFixed(digits)}%`;
}

function f(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !isFinite(x)
    ? "–"
    : x.toFixed(digits);
}

function mark(ok: boolean | null): string {
  return ok === null ? "" : ok ? "✅" : "❌";
}

function loadLine(s: LoadSnapshot): string {
  const busy = isBusy(s);
  return `${busy ? "⚠️ " : ""}Machine before this part: load average ${
    s.loadavg.join(" ")
  }, CPU busy ${pct(s.cpuBusy)} over 1 s (steal ${
    pct(s.steal)
  }), ${s.foreignQemu} other QEMU process${s.foreignQemu === 1 ? "" : "es"}${
    s.waitedS >= 2 ? `, after waiting ${s.waitedS.toFixed(0)} s` : ""
  }${
    busy ? " — **busy: other work inflates and scatters these numbers**" : ""
  }.`;
}

function threadLine(t: Record<string, number>): string {
  const total = Object.values(t).reduce((a, b) => a + b, 0);
  return Object.entries(t).sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${f(v, 0)}`).join(", ") +
    ` (sum ${f(total, 0)})`;
}

/**
 * A storm's whole measuring cost: the launcher's CPU share (by default over
 * the whole batch; pass its share from T_0 for the time the guests boot)
 * plus the C sampler process's and the spawn helper process's (children of
 * their own, not in the launcher's CPU time).
 */
export function shareWithSampler(
  r: StormResult,
  launcherShare: number | null = r.launcherCpuShare,
): number | null {
  if (launcherShare === null) return null;
  const own = r.sampler?.source === "c-sampler" ? r.sampler.cpuShare ?? 0 : 0;
  return launcherShare + own + (r.helperCpuShare ?? 0);
}

/** A storm's CPU share with the sampler thread's CPU taken out. */
export function shareWithoutSampler(r: StormResult): number | null {
  if (r.launcherCpuMs === null || !r.wallMs) return null;
  const sampler = r.threadCpuMs["sampler worker"] ?? 0;
  return (r.launcherCpuMs - sampler) / r.wallMs;
}

function renderStorms(p: StormsPart): string[] {
  const out: string[] = [
    "## Storms: minkernel back-to-back, kill after ready",
    "",
    loadLine(p.load),
    "",
    `Profile \`${PROFILE}\` (minkernel on QEMU \`-M microvm\`, TCG), pattern back-to-back, teardown kill-after-ready; ` +
    "run in the benchmark's process through `runBatch` (the CLI's code path), in its default spawn mode (`fork`: " +
    "the C spawn helper takes each T_s and starts a thread that forks and execs QEMU, the paper's Algorithm 1).",
    "",
    `Memory pre-flight (\`preflightCell\`, 90% of MemAvailable): per-instance cost from the ${p.probe.source} — ` +
    `VmHWM ${f(p.probe.rssKib / 1024)} MiB, boot ${f(p.probe.bootMs, 0)} ms.`,
    "",
    "| N | pre-flight | ran | rows | lost | ready | other outcomes | pre-fork ms (rate /s) | release span ms (rate /s) | wall ms | launcher CPU ms | CPU / wall | w/o sampler | with the C sampler process | peak RSS MiB | boot p50 / p90 ms | host memory peak MiB (per instance) | |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of p.storms) {
    const basis = r.basis ?? "profile";
    if (!r.ran) {
      out.push(
        `| ${r.n} | ${basis} | no | | | | | | | | | | | | | | needs ~${
          f(r.preflight.peakMib / 1024, 1)
        } GiB of ${
          f(r.preflight.availableMib / 1024, 1)
        } GiB available; largest N ${r.preflight.largestN} | |`,
      );
      continue;
    }
    const others = Object.entries(r.outcomes).filter(([k]) => k !== "ready")
      .map(([k, v]) => `${k} ${v}`).join(", ") || "–";
    const share = r.launcherCpuShare;
    out.push(
      `| ${r.n} | ${basis} | yes | ${r.rows} | ${r.lost} | ${r.ready} | ${others} | ${
        f(r.preforkMs, 0)
      } (${f(r.preforkRatePerS, 0)}) | ${f(r.releaseSpanMs, 1)} (${
        f(r.spawnRatePerS, 0)
      }) | ${f(r.wallMs, 0)} | ${f(r.launcherCpuMs, 0)} | ${pct(share)} | ${
        pct(shareWithoutSampler(r))
      } | ${pct(shareWithSampler(r))} | ${
        f((r.launcherPeakRssKib ?? NaN) / 1024, 0)
      } | ${f(r.bootMedianMs, 0)} / ${f(r.bootP90Ms, 0)} | ${
        f(r.memPeakMib, 0)
      } (${f((r.memPeakMib ?? NaN) / r.n, 1)}) | ${
        mark(
          r.lost === GOALS.lost &&
            (shareWithSampler(r) ?? 1) <= GOALS.launcherCpuShare,
        )
      } |`,
    );
  }
  out.push(
    "",
    "Columns: *lost* = instances without a row or outcome in `instances.arrow` (goal 0); *pre-fork* = first → last " +
      "spawn call of the stopped shells before T_0 (instances forked per second; `prestart` only, – in fork mode); *release span* = last − first T_s " +
      "(releases per second); *wall* = run.json `wall_ms` (T_0 → last instance reaped); *launcher CPU* = run.json " +
      "`launcher` user + system (the whole process, all threads, from before the pre-fork to the end); *CPU / wall* = " +
      `run.json \`cpu_share_of_one_core\` (goal ≤ ${
        pct(GOALS.launcherCpuShare, 0)
      }); *w/o sampler* = the same without the memory sampler thread's CPU; *peak RSS* = the launcher's VmHWM; ` +
      "*host memory peak* = MemTotal − MemAvailable at its peak minus before the storm.",
  );
  if (p.stopped) out.push("", `**Profile pre-flight: ${p.stopped}**`);
  if (p.beyond) {
    out.push(
      "",
      `Past the profile pre-flight (\`--beyond-preflight\`): VmHWM counts the pages every QEMU shares (its binary ` +
        `and libraries) once per instance, so the same \`preflightCell\` was asked again with the host memory one ` +
        `instance really took in the storms above — ${
          f(p.beyond.measuredMibPerInstance, 1)
        } MiB (MemAvailable drop at the peak / N, the largest seen) × ${p.beyond.margin} margin. Rows marked ` +
        `*measured*. ${
          p.beyond.stopped
            ? `**Measured pre-flight: ${p.beyond.stopped}**`
            : "Every remaining size fitted."
        }`,
    );
  }
  const ran = p.storms.filter((r) => r.ran);
  if (ran.length) {
    out.push(
      "",
      "Where the launcher's CPU went (ms per thread, from `/proc/self/task/*/schedstat`; `main` = the event loop: " +
        "spawning, pipes, timers, /proc reads, the dataset writer; `V8 DefaultWorke` = V8's compiler and GC helpers; " +
        "`tokio-runtime-w` = Deno's I/O threads):",
      "",
    );
    for (const r of ran) {
      out.push(
        `- N = ${r.n}: ${
          threadLine(r.threadCpuMs)
        }; before T_0 (setup + pre-fork) ${
          f(r.cpuBeforeT0Ms, 0)
        } ms; median spawn call ${
          f(r.spawnCallMedianMs, 2)
        } ms; whole runBatch ${f(r.batchWallMs, 0)} ms at ${
          pct(r.batchCpuShare)
        } of one core.`,
      );
    }
    if (p.samplerAb) out.push("", ...renderSamplerAb(p.samplerAb));
    if (p.cReference) {
      out.push(
        "",
        `The paper's method at the same size, right after: the C harness (\`bench/c/harness.c\`, a thread per instance forking at T_s, sampling memory with the launcher's sampler) booted ${p.cReference.ready} of ${p.cReference.n}, median boot ${
          f(p.cReference.medianBootMs, 0)
        } ms; its own CPU from T_0 to the last reap ${
          pct(p.cReference.cpuShare)
        } of one core, its sampler process ${
          pct(p.cReference.samplerShare)
        }, over ${f(p.cReference.wallMs, 0)} ms.`,
      );
    }
    out.push(
      "",
      "The memory sampler during these storms:",
      "",
      "| N | samples | achieved Hz | worst gap ms | before T_0 / after | gaps > 2 ms | > 5 ms | p99.9 gap ms | SCHED_FIFO | |",
      "|---|---|---|---|---|---|---|---|---|---|",
    );
    for (const r of ran) {
      out.push(samplerRow(r));
    }
  }
  return out;
}

/** The C harness's own cost at N, for the goals table's C column. */
function cReferenceText(c: CReference | null | undefined): string {
  if (!c || c.cpuShare === null) return "";
  return `N = ${c.n}: ${
    pct((c.cpuShare ?? 0) + (c.samplerShare ?? 0))
  } (harness ${pct(c.cpuShare)} + its sampler process ${
    pct(c.samplerShare)
  }), median boot ${f(c.medianBootMs, 0)} ms`;
}

/** A number, or null for NaN (the library's statistics give NaN for no values). */
function orNull(v: number): number | null {
  return Number.isNaN(v) ? null : v;
}

const finite = (xs: readonly (number | null)[]): number[] =>
  xs.filter((x): x is number => x !== null && isFinite(x));

function renderSamplerAb(ab: NonNullable<StormsPart["samplerAb"]>): string[] {
  const out = [
    `What the memory sampler costs the launcher: storms of ${ab.n} with the sampler on and off, A/B alternating ` +
    "(on, off, off, on; ms of CPU per thread):",
    "",
    "| sampler | wall ms | launcher CPU ms | CPU / wall | main | V8 helpers | sampler thread | release thread | lost |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  const rows = [ab.on[0], ab.off[0], ab.off[1], ab.on[1]].filter(Boolean);
  for (const r of rows) {
    const t = r.threadCpuMs;
    out.push(
      `| ${r.sampleIntervalMs ? "on" : "off"} | ${f(r.wallMs, 0)} | ${
        f(r.launcherCpuMs, 0)
      } | ${pct(r.launcherCpuShare)} | ${f(t.main, 0)} | ${
        f(t["V8 DefaultWorke"], 0)
      } | ${r.sampleIntervalMs ? f(t["sampler worker"], 0) : "–"} | ${
        f(t["release worker"], 0)
      } | ${r.lost} |`,
    );
  }
  const on = orNull(mean(finite(ab.on.map((r) => r.launcherCpuShare))));
  const off = orNull(mean(finite(ab.off.map((r) => r.launcherCpuShare))));
  out.push(
    "",
    `Mean CPU / wall: sampler on ${pct(on)}, off ${
      pct(off)
    } of one core — the sampler (its thread, plus the main ` +
      `thread turning its samples into memory rows, plus the garbage they make) accounts for ${
        on !== null && off !== null ? pct(on - off) : "–"
      } of one core; the rest of the launcher for ${pct(off)} (goal ≤ ${
        pct(GOALS.launcherCpuShare, 0)
      } for everything).`,
  );
  return out;
}

function samplerRow(r: StormResult, label: string = String(r.n)): string {
  const s = r.sampler;
  const g = r.gaps;
  return `| ${label} | ${s?.samples ?? "–"} | ${f(s?.achievedHz, 0)} | ${
    f(s?.worstGapMs, 2)
  } | ${f(g?.beforeT0WorstMs, 2)} / ${f(g?.afterT0WorstMs, 2)} | ${
    g?.over2 ?? "–"
  } | ${g?.over5 ?? "–"} | ${f(g?.p999Ms, 2)} | ${
    s?.realtime === null || s === null ? "–" : s.realtime ? "yes" : "no"
  } | ${
    mark(
      s?.worstGapMs !== null && s?.worstGapMs !== undefined
        ? s.worstGapMs <= GOALS.samplerStormGapMs
        : null,
    )
  } |`;
}

function renderSampler(p: SamplerPart): string[] {
  const out: string[] = [
    "## Memory sampler",
    "",
    loadLine(p.load),
    "",
    "The launcher samples MemTotal − MemAvailable from `/proc/meminfo` every 500 µs (2,000 samples/s) in a Worker " +
    "that asks for SCHED_FIFO through FFI (`sched_setscheduler`).",
    "",
    "Idle machine, the sampler alone in this process:",
    "",
    "| run | source | priority | window ms | samples | achieved Hz | worst gap ms | launcher process CPU / wall | sampler's own CPU / wall | |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  const idleRows: [string, SamplerIdleResult][] = [
    ...p.idle.map((r, i): [string, SamplerIdleResult] => [String(i + 1), r]),
    ...(p.idleQuiet ?? []).map((r, i): [string, SamplerIdleResult] => [
      `quiet ${i + 1}`,
      r,
    ]),
    ...(p.idleNormalPriority
      ? [["normal", p.idleNormalPriority] as [string, SamplerIdleResult]]
      : []),
    ...(p.idleWorker
      ? [["worker", p.idleWorker] as [string, SamplerIdleResult]]
      : []),
  ];
  for (const [label, r] of idleRows) {
    out.push(
      `| ${label} | ${r.source ?? "worker"}${
        r.mode === "quiet"
          ? `, quiet (asleep ${pct(r.waitingShare, 0)} of the window)`
          : ""
      } | ${r.realtime ? "SCHED_FIFO" : "normal"}${
        r.warning && label !== "normal" ? ` (${r.warning})` : ""
      } | ${f(r.ms, 0)} | ${r.samples} | ${f(r.achievedHz, 0)} | ${
        f(r.worstGapMs, 2)
      } | ${pct(r.cpuShare, 2)} | ${pct(r.threadCpuShare, 2)} | ${
        mark(
          (r.mode === "quiet" || r.achievedHz >= GOALS.samplerIdleHz) &&
            (r.threadCpuShare ?? 1) <= GOALS.samplerCpuShare,
        )
      } |`,
    );
  }
  const c = p.idleControl;
  if (c) {
    out.push(
      `| C control | ${c.realtime ? "SCHED_FIFO" : "normal"} | ${
        f(c.last_ms - c.first_ms, 0)
      } | ${c.samples} | ${f(c.achieved_hz, 0)} | ${f(c.worst_gap_ms, 2)} | ${
        pct(c.cpu_ms / (c.last_ms - c.first_ms), 2)
      } | | |`,
    );
  }
  out.push(
    "",
    `Goal: ≥ ${GOALS.samplerIdleHz} samples/s idle, the sampler's own CPU ≤ ${
      pct(GOALS.samplerCpuShare, 0)
    } of one core. *source*: \`c-sampler\` (the C sampler process on the run's cgroup every tick and ` +
      "/proc/meminfo every 20th) or `worker` (the original Deno worker on /proc/meminfo every tick). " +
      "*quiet*: the c-sampler's default mode. It samples at the rate while the run's memory moves, and sleeps on a cgroup v1 " +
      "memory threshold (1 MiB around the last sample) while the memory stays put, with a heartbeat sample every 100 ms. " +
      "Idle, it is asleep almost all the time, so its samples per second idle are the heartbeat's; " +
      "its rate while the memory moves is in the storm table below. " +
      "*C control*: the same loop in plain C (a process of its own, " +
      "`mlockall`, SCHED_FIFO) — its CPU share is what 2,000 timed wake-ups and `/proc/meminfo` reads cost on this " +
      "machine at the least.",
    "",
    "During storms (minkernel back-to-back), with the C control sampler running alongside:",
    "",
    "| N | repeat | samples | achieved Hz | worst gap ms | before T_0 / after | gaps > 2 ms | > 5 ms | C control: Hz, worst gap ms, > 5 ms | launcher gaps > 5 ms that the control also saw | steal ms | machine before | |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  );
  for (const s of p.storms) {
    const r = s.storm;
    const g = r.gaps;
    out.push(
      `| ${s.n} | ${s.repeat + 1} | ${r.sampler?.samples ?? "–"}${
        r.sampler?.mode === "quiet" ? ` (quiet, ${r.sampler.waits} waits)` : ""
      } | ${f(r.sampler?.achievedHz, 0)} | ${f(r.sampler?.worstGapMs, 2)} | ${
        f(g?.beforeT0WorstMs, 2)
      } / ${f(g?.afterT0WorstMs, 2)} | ${g?.over2 ?? "–"} | ${
        g?.over5 ?? "–"
      } | ${
        s.control
          ? `${f(s.control.achieved_hz, 0)}, ${
            f(s.control.worst_gap_ms, 2)
          }, ${s.control.over5}`
          : "–"
      } | ${
        s.coincident
          ? `${s.coincident.coincident} of ${s.coincident.long}`
          : "–"
      } | ${f(s.stealMs, 0)} | ${isBusy(s.load) ? "⚠️ busy" : "idle"} | ${
        mark(
          r.sampler?.worstGapMs !== null && r.sampler?.worstGapMs !== undefined
            ? r.sampler.worstGapMs <= GOALS.samplerStormGapMs
            : null,
        )
      } |`,
    );
  }
  out.push(
    "",
    `Goal: worst gap ≤ ${GOALS.samplerStormGapMs} ms during the storm. *before T_0 / after*: the worst gap while the ` +
      "launcher set up and pre-forked the instances, and from T_0 on. A launcher gap the C control did not see " +
      "(it shares nothing with the launcher) was caused inside the launcher's process. " +
      "In quiet mode (the default) *achieved Hz* and *worst gap ms* count the samples on the rate (run.json), while the " +
      "gap columns come from memory.arrow and so include the quiet waits (the run's memory stayed within 1 MiB).",
  );
  if (p.flagsAb?.length) out.push("", ...renderFlagsAb(p.flagsAb));
  return out;
}

function renderFlagsAb(runs: readonly FlagsAbRun[]): string[] {
  if (!runs.length) return [];
  const sched = runs.some((r) => r.schedule);
  const out = [
    `The launcher CLI as shipped (Deno's V8 defaults) against the same with \`--v8-flags=${INVERSION_FIX_FLAGS}\` ` +
    `(V8 compiles on the thread that runs the code, never on a helper thread), N = ${
      runs[0].n
    } ${runs[0].pattern}, alternating which goes first:`,
    "",
    `| V8 flags | repeat | lost | sampler Hz | sampler worst gap ms | gaps > 5 ms | C control: worst gap ms, > 5 ms | steal ms |${
      sched ? " T_s error p50 / p99 / max ms |" : ""
    } launcher CPU / wall |`,
    `|---|---|---|---|---|---|---|---|${sched ? "---|" : ""}---|`,
  ];
  for (const r of runs) {
    out.push(
      `| ${r.flags ? "concurrent compilation off" : "defaults"} | ${
        r.repeat + 1
      } | ${r.lost} | ${f(r.sampler?.achievedHz, 0)} | ${
        f(r.sampler?.worstGapMs, 2)
      } | ${r.gaps?.over5 ?? "–"} | ${
        r.control ? `${f(r.control.worstGapMs, 2)}, ${r.control.over5}` : "–"
      } | ${f(r.stealMs, 0)} |${
        sched
          ? ` ${f(r.schedule?.p50, 3)} / ${f(r.schedule?.p99, 3)} / ${
            f(r.schedule?.max, 3)
          } |`
          : ""
      } ${pct(r.cpuShare)} |`,
    );
  }
  return out;
}

function renderInstrument(rows: readonly InstrumentEffect[]): string[] {
  if (!rows.length) return [];
  const out = [
    "### The instrument's own effect",
    "",
    "The launcher's memory source (by default the C sampler process, SCHED_FIFO, waking 2,000 times a second) runs " +
    "on one of the two cores the guests boot on; the C harness samples with the same C sampler. Boot time with it on and off (in this process through `runBatch`, N back-to-back), and the C " +
    "harness, the order rotating every round; median over rounds of each round's median boot_ms:",
    "",
    "| N | rounds | launcher, sampler on | launcher, sampler off | C harness | on / C | off / C | on / off |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const e of rows) {
    const on = orNull(median(e.on));
    const off = orNull(median(e.off));
    const c = orNull(median(e.c));
    const r = (a: number | null, b: number | null) =>
      a !== null && b ? f(a / b, 3) : "–";
    out.push(
      `| ${e.n} | ${e.rounds} | ${f(on)} | ${f(off)} | ${f(c)} | ${
        r(on, c)
      } | ${r(off, c)} | ${r(on, off)} |`,
    );
  }
  out.push("");
  return out;
}

function renderFidelity(p: FidelityPart): string[] {
  return [
    "## Launcher vs the C harness of the paper's method",
    "",
    loadLine(p.load),
    "",
    "The same argv on both sides (the launcher's run.json `argv`: `" +
    p.argv.join(" ") +
    "`), A/B alternating (launcher first on even repeats). The C harness is `bench/c/harness.c` " +
    "(fork + exec per instance from a thread, T_s just before the fork).",
    "",
    "### Boot time ratios",
    "",
    renderBootTable(p.boot),
    "",
    ...renderInstrument(p.instrument ?? []),
    "### Floors",
    "",
    loadLine(p.loadFloors),
    "",
    renderFloorTable(p.floor),
    "",
    "*fork+exec /bin/true*: T_s → the process has exited; *QEMU -M none*: QEMU starts with no machine, " +
    "reads `quit` on its monitor and exits; *boot*: T_s → the ready line. Floors run closed-loop (`--parallel 1`), " +
    "where the launcher spawns directly at T_s (`Deno.Command`).",
  ];
}

function renderSchedule(p: SchedulePart): string[] {
  return [
    "## T_s schedule error",
    "",
    loadLine(p.load),
    "",
    "Interval pattern (every 5 ms), `t_s_ms − scheduled_ms`: the launcher's spawn helper waits for each deadline at " +
    "SCHED_FIFO, takes T_s and starts the instance's thread (fork mode, the default); the C harness sleeps with " +
    "`clock_nanosleep` to each deadline at normal priority, takes T_s and starts the thread.",
    "",
    renderScheduleTable(p.schedule),
    ...(p.flagsAb?.length ? ["", ...renderFlagsAb(p.flagsAb)] : []),
  ];
}

/** Goals met or missed, one line each. */
/** One goal of the table: what was measured now, and by the C harness in the same run. */
interface GoalRow {
  /** Joins this run's row with the same goal of the run before. */
  key: string;
  goal: string;
  target: string;
  measured: string;
  /** The C harness (or C control) in the same run, when the goal has one. */
  c: string;
  pass: boolean;
}

function goalRows(r: BenchReport): GoalRow[] {
  const out: GoalRow[] = [];
  if (r.storms) {
    const ran = r.storms.storms.filter((s) => s.ran);
    const lost = ran.reduce((a, s) => a + s.lost, 0);
    const largest = ran.length ? ran[ran.length - 1].n : 0;
    out.push({
      key: "lost",
      goal: "instances lost in every storm",
      target: "0",
      measured: `${lost} (largest storm N = ${largest})`,
      c: "",
      pass: lost === 0 && ran.length > 0,
    });
    const at256 = ran.filter((s) => s.n === 256);
    const share = (s: StormResult) => shareWithSampler(s) ?? s.launcherCpuShare;
    // While the guests boot: T_0 → the last boot's end; runs before it had
    // that record, T_0 → the last reap; before that, the whole batch (setup
    // and pre-fork included) over T_0 → end.
    const ownShare = (s: StormResult) =>
      s.launcherCpuShareWhileBooting ?? s.launcherCpuShareFromT0 ?? null;
    const whileBooting = (s: StormResult) =>
      ownShare(s) != null ? shareWithSampler(s, ownShare(s)) : share(s);
    const worstStorm = at256.length
      ? at256.reduce((a, b) =>
        (whileBooting(b) ?? Infinity) > (whileBooting(a) ?? Infinity) ? b : a
      )
      : null;
    const worst = worstStorm ? whileBooting(worstStorm) ?? Infinity : Infinity;
    const parts = worstStorm && ownShare(worstStorm) != null
      ? ` (launcher process ${pct(ownShare(worstStorm))}${
        worstStorm.launcherCpuShareWhileBooting != null &&
          worstStorm.launcherCpuShareFromT0 != null
          ? ` while booting, ${
            pct(worstStorm.launcherCpuShareFromT0)
          } to the last reap`
          : ""
      } + its sampler process ${pct(worstStorm.sampler?.cpuShare ?? 0)}${
        worstStorm.helperCpuShare != null
          ? ` + its spawn helper ${pct(worstStorm.helperCpuShare)}`
          : ""
      }; the whole batch with setup and pre-fork: ${
        pct(share(worstStorm) ?? null)
      })`
      : "";
    out.push({
      key: "cpu256",
      goal:
        "launcher CPU while 256 guests boot (T_0 → the last boot's end, with its sampler and spawn helper)",
      target: `≤ ${pct(GOALS.launcherCpuShare, 0)} of one core`,
      measured: at256.length ? `${pct(worst)}${parts}` : "not run",
      c: r.storms.cReference?.n === 256
        ? cReferenceText(r.storms.cReference)
        : "",
      pass: at256.length > 0 && worst <= GOALS.launcherCpuShare,
    });
  }
  if (r.sampler) {
    const idleHz = Math.min(...r.sampler.idle.map((s) => s.achievedHz));
    const rateOwn = Math.max(
      ...r.sampler.idle.map((s) => s.threadCpuShare ?? Infinity),
    );
    // Quiet mode (the default) idle; runs before it have none.
    const quiet = r.sampler.idleQuiet ?? [];
    const quietOwn = quiet.length
      ? Math.max(...quiet.map((s) => s.threadCpuShare ?? Infinity))
      : null;
    const own = quietOwn ?? rateOwn;
    // The rate quiet mode keeps while memory moves: storms of 64.
    const quietStorms = r.sampler.storms.filter((s) =>
      s.n === 64 && s.storm.sampler?.mode === "quiet"
    );
    const lowest = quietStorms.length
      ? quietStorms.reduce((a, b) =>
        b.storm.sampler!.achievedHz < a.storm.sampler!.achievedHz ? b : a
      )
      : null;
    const stormHz = lowest?.storm.sampler?.achievedHz ?? null;
    const c = r.sampler.idleControl;
    const cShare = c ? c.cpu_ms / (c.last_ms - c.first_ms) : null;
    const storms = r.sampler.storms.filter((s) => s.n === 64);
    const worst = Math.max(
      ...storms.map((s) => s.storm.sampler?.worstGapMs ?? Infinity),
    );
    const cWorst = Math.max(
      ...storms.map((s) => s.control?.worst_gap_ms ?? -1),
    );
    out.push(
      {
        key: "rate",
        goal: "memory samples per second, idle",
        target: `≥ ${GOALS.samplerIdleHz} /s`,
        measured: `${
          f(idleHz, 0)
        } /s (rate mode, lowest of ${r.sampler.idle.length})${
          stormHz !== null
            ? `; quiet mode, on the rate while memory moves in 64-storms: ${
              f(stormHz, 0)
            } /s (lowest of ${quietStorms.length}; the C control sampler in that storm: ${
              f(lowest?.control?.achieved_hz, 0)
            } /s)`
            : ""
        }`,
        c: c ? `${f(c.achieved_hz, 0)} /s` : "",
        // the goal is idle: the rate the sampler can hold (rate mode)
        pass: idleHz >= GOALS.samplerIdleHz,
      },
      {
        key: "samplercpu",
        goal: "the sampler's own CPU, idle",
        target: `≤ ${pct(GOALS.samplerCpuShare, 0)} of one core`,
        measured: quietOwn !== null
          ? `${pct(quietOwn, 2)} (quiet mode, the default; rate mode ${
            pct(rateOwn, 2)
          })`
          : Number.isFinite(own)
          ? pct(own, 2)
          : "–",
        c: cShare !== null ? pct(cShare, 2) : "",
        pass: own <= GOALS.samplerCpuShare,
      },
      {
        key: "gap64",
        goal: "sampler worst gap during a 64-storm (reported)",
        target: "reported",
        measured: storms.length ? `${f(worst, 2)} ms` : "not run",
        c: storms.length && cWorst >= 0 ? `${f(cWorst, 2)} ms` : "",
        pass: storms.length > 0,
      },
    );
  }
  if (r.fidelity) {
    for (const b of r.fidelity.boot) {
      out.push({
        key: `ratio${b.n}`,
        goal: `median boot_ms launcher / C harness, N = ${b.n}, both sampling`,
        target: `≤ ${b.goal}`,
        measured: `${f(b.ratio, 3)} (${f(b.launcher.median_ms, 0)} ms${
          b.ratio_ci95_storms
            ? `; 95% interval over storms ${f(b.ratio_ci95_storms[0], 2)}–${
              f(b.ratio_ci95_storms[1], 2)
            }`
            : ""
        })`,
        c: `${f(b.c.median_ms, 0)} ms`,
        pass: b.pass,
      });
    }
  }
  if (r.schedule) {
    for (const s of r.schedule.schedule) {
      out.push({
        key: `sched${s.n}x${s.interval_ms}`,
        goal: `T_s schedule error p99, ${s.n} × ${s.interval_ms} ms`,
        target: `≤ ${s.goal_p99_ms} ms`,
        measured: `${f(s.launcher.p99_ms, 3)} ms`,
        c: `${f(s.c.p99_ms, 3)} ms`,
        pass: s.pass,
      });
    }
  }
  return out;
}

/** The goals table: before (an earlier run's JSON), after (this run), the C harness of this run. */
function goalLines(r: BenchReport, before: BenchReport | null): string[] {
  const old = new Map(
    before ? goalRows(before).map((g) => [g.key, g.measured]) : [],
  );
  return goalRows(r).map((g) =>
    `| ${g.goal} | ${g.target} | ${old.get(g.key) ?? "–"} | ${g.measured} | ${
      g.c || "–"
    } | ${mark(g.pass)} |`
  );
}

/**
 * The whole report as Markdown.
 *
 * @example
 * ```ts ignore
 * console.log(renderBenchmarks(JSON.parse(Deno.readTextFileSync("bench/results/benchmarks-2026-11-29.json"))));
 * ```
 */
export function renderBenchmarks(
  r: BenchReport,
  notes = "",
  before: BenchReport | null = null,
): string {
  const h = r.host;
  const out: string[] = [
    "# bootstorm benchmarks",
    "",
    `Generated by \`${r.command}\` (\`bench/bench.ts\`) on ${r.date}; took ${
      f(r.wall_s / 60, 1)
    } min${
      r.quick ? " — **quick smoke run: small sizes, not the real numbers**" : ""
    }.`,
    "",
    `- Host: ${h.cpu_model}, ${h.cores} cores, ${
      f(h.mem_total_kib / 1048576, 1)
    } GiB, Linux ${h.kernel} (${h.hostname})${
      typeof h.page_reporting_order === "number"
        ? `; free page reporting to the hypervisor (order ${h.page_reporting_order}: memory free for ~2 s goes back to the host in ${
          f(2 ** h.page_reporting_order * 4 / 1024, 0)
        } MiB blocks, and a storm that gets it waits for the host to back it again, seen as steal; the boot ratios warm the host memory before each storm of 16 or more, for both sides)`
        : ""
    }`,
    `- ${r.qemu_version ?? "QEMU ?"}; Deno ${r.deno_version}`,
    `- Accelerator: ${r.accelerator.kind} (${r.accelerator.reason})`,
    `- Guest: \`${r.profile}\``,
    `- V8 flags: ${
      r.v8_flags?.bench || "Deno's defaults"
    } (this process: storms, sampler); ${
      r.v8_flags?.launcher || "Deno's defaults"
    } (launcher CLI: fidelity, schedule)`,
    `- Load average before: ${r.loadavg_before.join(" ")}; after: ${
      r.loadavg_after.join(" ")
    } — the load average counts runnable processes over minutes, so it carries this benchmark's own storms (and those of the run before); each part records the CPU busy share over one second before it, steal and other QEMU processes, and ⚠️ marks a busy machine`,
    "",
    "## Goals",
    "",
    `*Before*: ${
      before
        ? `\`${before.command}\` on ${before.date}`
        : "no earlier run given"
    }; *after*: this run; *C*: the C harness of the paper's Algorithm 1 (\`bench/c/harness.c\`, sampling memory ` +
    "with the same C sampler) or the plain-C control sampler, in this run.",
    "",
    "| goal | target | before | after | C, same run | |",
    "|---|---|---|---|---|---|",
    ...goalLines(r, before),
  ];
  if (notes.trim()) out.push("", notes.trim());
  if (r.storms) out.push("", ...renderStorms(r.storms));
  if (r.sampler) out.push("", ...renderSampler(r.sampler));
  if (r.fidelity) out.push("", ...renderFidelity(r.fidelity));
  if (r.schedule) out.push("", ...renderSchedule(r.schedule));
  out.push(
    "",
    "## Reproduce",
    "",
    "```sh",
    "deno task bench                 # everything, writes BENCHMARKS.md (about 6 minutes here)",
    "deno task bench --beyond-preflight   # also the sizes the VmHWM pre-flight refuses, on measured memory",
    "deno task bench --quick         # smoke run, small sizes, writes bench/results/benchmarks-quick.md",
    "deno task bench --only storms   # one part: storms | sampler | fidelity | schedule",
    "deno task bench --from bench/results/benchmarks-<date>.json --notes findings.md   # re-render only",
    "```",
    "",
    "Raw numbers (every storm's run.json, per-thread CPU, sampler gaps, the control sampler's gaps): " +
      "`bench/results/benchmarks-<date>.json`.",
  );
  return out.join("\n") + "\n";
}

// ---------------------------------------------------------------- main

/** The `--v8-flags=` this process was started with (from /proc/self/cmdline). */
function ownV8Flags(): string {
  try {
    const args = Deno.readTextFileSync("/proc/self/cmdline").split("\0");
    return args.filter((a) => a.startsWith("--v8-flags="))
      .map((a) => a.slice("--v8-flags=".length)).join(",");
  } catch {
    return "";
  }
}

const HELP =
  `Usage: deno task bench [--quick] [--only storms|sampler|fidelity|schedule]
                       [--sizes 256,512,1280] [--wait-idle SECONDS] [--out FILE.md]

Runs the launcher benchmarks of issue 7 and writes a Markdown report:
BENCHMARKS.md for a full run, bench/results/benchmarks[-quick][-PART].md
otherwise (or --out), plus the numbers as JSON in bench/results/.
  --quick       small sizes (storms 16, 64; fewer repeats): a smoke run
  --only PART   run one part (repeatable, or comma-separated)
  --sizes LIST  storm sizes (default 256,512,1280; quick 16,64)
  --wait-idle S before each part wait up to S seconds for an idle machine
                (CPU busy < 15% and no other QEMU; default 120, quick 5)
  --notes FILE  Markdown inserted under the goals table (findings)
  --from FILE   re-render the report from a JSON written earlier (no runs)
  --before FILE the earlier run (JSON) for the goals table's "before" column
                (default bench/results/benchmarks-2026-11-29.json; "none")
  --beyond-preflight
                storms the profile pre-flight refuses are tried again with
                the host memory one instance really took in the storms that
                ran (x ${BEYOND_MARGIN}), through the same preflightCell
  --launcher-v8-flags FLAGS
                run the launcher CLI with deno run --v8-flags=FLAGS (the
                in-process parts take the flags of this process: start it
                with deno run -A --v8-flags=FLAGS bench/bench.ts)
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string", multiple: true },
      sizes: { type: "string" },
      "wait-idle": { type: "string" },
      out: { type: "string" },
      notes: { type: "string" },
      from: { type: "string" },
      before: {
        type: "string",
        default: `${ROOT}bench/results/benchmarks-2026-11-29.json`,
      },
      "launcher-v8-flags": { type: "string" },
      "beyond-preflight": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const notes = values.notes ? await Deno.readTextFile(values.notes) : "";
  // The run the goals table compares with ("before"): the last full run
  // before the sampler work, unless --before names another (or "none").
  const before = values.before === "none"
    ? null
    : await Deno.readTextFile(values.before).then(
      (t) => JSON.parse(t) as BenchReport,
      () => null,
    );
  if (values.from) {
    const r = JSON.parse(await Deno.readTextFile(values.from)) as BenchReport;
    const path = values.out ??
      (r.quick || r.parts.length < PARTS.length
        ? `${ROOT}bench/results/benchmarks-rerendered.md`
        : `${ROOT}BENCHMARKS.md`);
    await Deno.writeTextFile(path, renderBenchmarks(r, notes, before));
    console.log(`Wrote ${path}`);
    return;
  }
  const quick = values.quick;
  const only = (values.only ?? []).flatMap((s) => s.split(",")).map((s) =>
    s.trim()
  ).filter(Boolean);
  for (const p of only) {
    if (!(PARTS as readonly string[]).includes(p)) {
      throw new Error(
        `Cannot run part "${p}": unknown; use one of ${PARTS.join(", ")}`,
      );
    }
  }
  const parts: Part[] = only.length
    ? PARTS.filter((p) => only.includes(p))
    : [...PARTS];
  const sizes = (values.sizes ?? (quick ? "16,64" : "256,512,1280")).split(",")
    .map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(
      `Cannot run storms of "${values.sizes}": give positive integers, e.g. --sizes 256,512,1280`,
    );
  }
  const log: Log = (m) =>
    console.error(`${new Date().toISOString().slice(11, 19)} ${m}`);
  const command = ["deno task bench", ...Deno.args].join(" ");
  const started = performance.now();
  const outDir = await Deno.makeTempDir({ prefix: "bootstorm-bench-" });
  const host = await hostInfo();
  const ctx: Ctx = {
    quick,
    waitIdleS: Number(values["wait-idle"] ?? (quick ? 5 : 120)),
    log,
    outDir,
    cores: host.cores,
    sizes,
    cost: null,
    sides: null,
    beyondPreflight: values["beyond-preflight"],
    launcherCommand: values["launcher-v8-flags"]
      ? [
        Deno.execPath(),
        "run",
        "-A",
        `--v8-flags=${values["launcher-v8-flags"]}`,
        `${ROOT}cli/sweep.ts`,
      ]
      : undefined,
  };
  const report: BenchReport = {
    benchmark: "bootstorm",
    command,
    date: new Date().toISOString(),
    quick,
    parts,
    host: {
      ...host,
      mem_total_kib: Number(
        /MemTotal:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/meminfo"))?.[1] ??
          0,
      ),
      page_reporting_order: pageReportingOrder(),
    },
    qemu_version: await qemuVersion("qemu-system-x86_64"),
    deno_version: Deno.version.deno,
    accelerator: {
      kind: "tcg",
      reason:
        "forced (--accel tcg): KVM exists here but SeaBIOS under KVM takes ~7 s (docs: /work/shared/notes/qemu-on-this-machine.md); every guest runs in software",
    },
    profile: PROFILE,
    v8_flags: {
      bench: ownV8Flags(),
      launcher: values["launcher-v8-flags"] ?? "",
    },
    loadavg_before: await loadavg(),
    loadavg_after: [],
    wall_s: 0,
    storms: null,
    sampler: null,
    fidelity: null,
    schedule: null,
  };
  try {
    for (const part of parts) {
      log(`bench: part ${part}`);
      if (part === "storms") report.storms = await runStorms(ctx);
      if (part === "sampler") report.sampler = await runSampler(ctx);
      if (part === "fidelity") report.fidelity = await runFidelityPart(ctx);
      if (part === "schedule") report.schedule = await runSchedulePart(ctx);
    }
  } finally {
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
  }
  report.loadavg_after = await loadavg();
  report.wall_s = (performance.now() - started) / 1000;
  const suffix = `${quick ? "-quick" : ""}${
    only.length ? `-${parts.join("-")}` : ""
  }`;
  const mdPath = values.out ??
    (suffix
      ? `${ROOT}bench/results/benchmarks${suffix}.md`
      : `${ROOT}BENCHMARKS.md`);
  const jsonPath = `${ROOT}bench/results/benchmarks-${
    report.date.slice(0, 10)
  }${suffix}.json`;
  await Deno.mkdir(`${ROOT}bench/results`, { recursive: true });
  await Deno.writeTextFile(jsonPath, JSON.stringify(report, null, 1) + "\n");
  await Deno.writeTextFile(mdPath, renderBenchmarks(report, notes, before));
  console.log(`Wrote ${mdPath}`);
  console.log(`Wrote ${jsonPath}`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
