/**
 * The measuring program (the paper's Algorithm 1): T_0, memory sampling, N
 * instances started by a launch pattern, T_s just before each start, T_e when
 * the instance shows it booted; rows appended to the dataset as instances
 * complete; every child reaped on every path. Teardown signals an
 * instance's whole process tree, what it left outside its tree is killed
 * with the batch (its batch tag), and the reaper (reaper.ts) kills whatever
 * is left if the launcher itself dies.
 *
 * `launch()` wires the parts: each instance's state machine (instance.ts),
 * its readiness rule (readiness.ts), the launch pattern (pattern.ts),
 * pre-start and release (prestart.ts), phase mode (qmp.ts) and the memory
 * source (sampler/memory_source.ts).
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { type Clock, processCpuMs, realClock, type TimerId } from "./clock.ts";
import { setThreadNice } from "./realtime.ts";
import { hostStealMs } from "./host_steal.ts";
import { LineWatch, literalOf } from "./line_watch.ts";
import type {
  MemorySourceKind,
  MemorySourceStats,
} from "./sampler/memory_source.ts";
import { startMemoryRows } from "./memory_rows.ts";
import { joinRunCgroup, type RunCgroup } from "./sampler/run_cgroup.ts";
import { type Pattern, patternKind, type SpawnMode } from "./pattern.ts";
import type { Profile } from "./profile.ts";
import { phaseArgs, qmpStart } from "./qmp.ts";
import { sleepUntil } from "./start_at.ts";
import {
  holdReaper,
  killTagged,
  newBatchTag,
  reaperWarning,
} from "./reaper.ts";
import {
  chunksOf,
  denoRunner,
  type Proc,
  type ProcessRunner,
  readAnonKib,
  readCpuMs,
  readPeakRssKib,
  readPssUssKib,
} from "./runner.ts";
import type { InstanceRow, MemoryRow, Outcome } from "../dataset/schema.ts";
import type { InsnsSlots } from "./insns/slots.ts";
import {
  endBoot as endBootState,
  exited,
  firstOutput,
  instanceRow,
  type InstanceState,
  newInstance,
  notStarted,
  outcomeAtExit,
  spawnFailed as spawnFailedState,
  start,
} from "./instance.ts";
import { readinessFor } from "./readiness.ts";
import {
  execFailed,
  type PrestartHooks,
  RELEASE_LEAD_MS,
  runPrestarted,
} from "./prestart.ts";
import {
  ensureForkHelper,
  type ForkHooks,
  type ForkSession,
  type HelperReady,
  type ReadyHere,
  runForkAtTs,
} from "./fork_at_ts.ts";
import { StderrKeep } from "./stderr_keep.ts";

export { RELEASE_LEAD_MS, StderrKeep };

/**
 * Default quiet-mode step of the C sampler, KiB: while the run's memory stays
 * within 1 MiB of the last sample the sampler sleeps on a kernel memory
 * threshold instead of waking 2,000 times a second (idle cost, measured:
 * 8.0% of a core at the rate, 0.2% in quiet mode; BENCHMARKS.md).
 *
 * @example
 * ```ts
 * import { DEFAULT_QUIET_STEP_KIB } from "./launch.ts";
 * console.log(DEFAULT_QUIET_STEP_KIB); // 1024
 * ```
 */
export const DEFAULT_QUIET_STEP_KIB = 1024;

/** Progress events, for terminal output. */
export type LaunchEvent =
  | { type: "started"; instance: number }
  | { type: "ended"; instance: number; outcome: Outcome };

/** How to run one batch. */
export interface LaunchOptions {
  /** Number of instances. */
  count: number;
  /** How instances are started (back-to-back, interval, parallel). */
  pattern: Pattern;
  /** Fully expanded argv (see `expandArgv`). */
  argv: string[];
  /** Per-instance timeout from T_s, ms (default: the profile's). */
  timeoutMs?: number;
  /**
   * SIGTERM → SIGKILL grace period, ms; 0 sends SIGKILL at once. Default 0
   * for `kill-after-ready` (the paper's C harness SIGKILLs at ready, and a
   * graceful QEMU exit costs the guests still booting: README, "Teardown"),
   * 1000 for the other teardowns.
   */
  graceMs?: number;
  /**
   * `fork`: the C spawn helper forks each instance at T_s (fork_at_ts.ts);
   * `direct` spawns at T_s from the launcher; `prestart` forks every
   * instance before T_0, stopped, and releases it with SIGCONT at T_s (its
   * exec is inside ΔT, its fork is not). Default: the pattern's
   * (`PATTERNS[kind].spawnMode`: fork for interval and back-to-back, direct
   * for parallel); prestart instead when a `runner` is given or the helper
   * cannot be built (`LaunchResult.spawnFallback` says why).
   */
  spawnMode?: SpawnMode;
  /** Memory sampling interval, ms (default 0.5). 0 disables sampling. */
  sampleIntervalMs?: number;
  /**
   * Memory source (default `c-sampler`, falling back to `worker`): see
   * launcher/sampler/memory_source.ts.
   */
  memorySource?: MemorySourceKind;
  /**
   * c-sampler quiet mode: the sampler sleeps on a cgroup v1 memory threshold
   * this many KiB around its last sample while the run's memory stays put,
   * and samples at the rate while it moves (default
   * {@link DEFAULT_QUIET_STEP_KIB}; 0: a sample every interval, always).
   * Needs `cgroup` on v1; otherwise the rate is kept (run.json
   * `memory_sampler.quiet_why_not`).
   */
  memoryQuietStepKib?: number;
  /**
   * The run's memory cgroup: every instance joins it before it is released
   * (pre-started) or right after it is spawned (direct), and the C sampler
   * reads its usage every tick (`run_used_kib`).
   */
  cgroup?: RunCgroup | null;
  /** Ask for SCHED_FIFO for the sampler (default true). */
  realtimeSampler?: boolean;
  /** The process runner (default the real one; tests pass a fake). */
  runner?: ProcessRunner;
  /**
   * Aborting stops launching, marks booting instances `interrupted` and
   * those not yet started `not_started`, and reaps all.
   */
  signal?: AbortSignal;
  /** Receives instance rows as they complete (in completion order). */
  onRows?: (rows: InstanceRow[]) => void;
  /** Receives memory rows (with `booting`) as they are sampled. */
  onMemory?: (rows: MemoryRow[]) => void;
  /** Called on each instance's start and end. */
  onEvent?: (ev: LaunchEvent) => void;
  /**
   * Also read each instance's anonymous memory at ready (a probe: costs a walk
   * of its mappings). Given to `onRows` as `anon_kib`, not a dataset column.
   */
  readAnonMemory?: boolean;
  /** Extra per-mark columns: mark name → regex. */
  marks?: Record<string, RegExp>;
  /**
   * Phase mode (QEMU only): start each instance paused (-S) with a QMP socket
   * of its own, record when QMP answers and when `cont` is acknowledged.
   */
  phases?: boolean;
  /**
   * Boot work (TCG only): load the boot-work plugin into every instance and
   * read its counters at first output and at T_e (see `launcher/insns/`).
   */
  insns?: {
    plugin: string;
    slots: InsnsSlots;
    /** The output shim (LD_PRELOAD) that records the counts at each stdout write. */
    shim?: string;
    mem?: boolean;
    /** The guest's first instruction (see `guestEntry`); null: address rule. */
    entry?: number | null;
  };
  /**
   * An agreed start instant (launchers on several hosts at once): called
   * once every instance is pre-started (direct spawning: before the first
   * spawn); resolves to the absolute `monotonicMs()` time taken as T_0,
   * normally a little in the future. Pre-started instances are released
   * relative to it by the real-time release thread; direct spawning waits.
   */
  t0At?: () => Promise<number>;
  /**
   * The clock of T_0, T_s, T_e and of every timer (default `realClock`, the
   * monotonic clock). Another clock needs `spawnMode: "direct"`: pre-started
   * instances are released on the real clock by the release thread. Memory
   * samples keep the real clock's times.
   */
  clock?: Clock;
  /**
   * Guard the instances with the reaper and kill what they left by batch
   * tag (default true). False only for runners whose processes are not real
   * ones (`launcher/testing/`).
   */
  reaper?: boolean;
  /**
   * Nice value of the launcher's main thread from T_0 until every instance
   * has ended, pre-started batches only (default −10; null: leave it). The
   * main thread reads every instance's output and takes T_e; at normal
   * priority among N booting guests it sees a ready line late: measured, 64
   * back-to-back minkernels, the guest's last serial output to T_e was
   * 120–174 ms at the median at nice 0 and 14–25 ms at nice −10 (README,
   * "How it measures"). Only this thread changes, after the last fork, so no
   * instance inherits it.
   */
  mainNice?: number | null;
  /**
   * Read `pss_kib` and `uss_kib` (smaps_rollup) for at most this many
   * instances of the batch, every ⌈N / k⌉-th by index (default 4; all of a
   * batch of 4 or fewer). The read walks the guest's page tables on the main
   * thread at T_e, while the others boot: measured, 64 back-to-back
   * minkernels, 4 rotating rounds, median boot 2158 ms reading every one,
   * 1491 ms reading none; one read of a minkernel QEMU is about 1.8 ms of
   * CPU (16 back-to-back, in process, sampling off: the launcher's CPU from
   * T_0 57-69 ms reading all 16, 27-39 ms reading none). Instances are
   * alike, so a spread sample answers what one more costs.
   */
  pssSample?: number;
}

/** The result of a batch. */
export interface LaunchResult {
  /** One row per instance, in instance order. */
  rows: InstanceRow[];
  /** T_0 on the monotonic clock, ms. */
  t0: number;
  /** T_0 → last instance reaped, ms. */
  wallMs: number;
  /**
   * The launcher process's CPU (every thread) from T_0 until the last
   * instance was reaped, ms: its cost while the guests boot, without the
   * setup and pre-fork before T_0 (null: no T_0, or no CPU clock).
   */
  cpuFromT0Ms: number | null;
  /** cpuFromT0Ms over T_0 → last instance reaped: the share of one core. */
  cpuShareFromT0: number | null;
  /**
   * The launcher process's CPU (every thread) from T_0 until every boot had
   * ended (ready, failed or stopped), ms: what it took from the guests while
   * they booted; null without a T_0 or a CPU clock.
   */
  cpuWhileBootingMs: number | null;
  /** cpuWhileBootingMs over T_0 → the last boot's end: the share of one core. */
  cpuShareWhileBooting: number | null;
  /** The spawn helper's own CPU over its life, ms (fork mode; else null). */
  helperCpuMs: number | null;
  /**
   * The host's steal time (hostStealMs) from T_0 until every boot had
   * ended (or the batch stopped), ms; null where the host does not report
   * it.
   */
  stealMsWhileBooting: number | null;
  /** What the memory source achieved, or null with sampling off. */
  sampler: MemorySourceStats | null;
  /** Whether the signal stopped the batch. */
  interrupted: boolean;
  /** How instances were started: `prestart` (forked before T_0) or `direct`. */
  spawnMode: SpawnMode;
  /** Why the pattern's spawn mode (fork) was not used, or null. */
  spawnFallback: string | null;
  /** Why the release thread ran without real-time priority (prestart). */
  releaseWarning: string | null;
  /** The main thread's nice during the storm (null: unchanged) and why not as asked. */
  mainThread: { nice: number | null; warning: string | null };
  /** Why no reaper guarded the instances (reaper.ts), or null. */
  reaperWarning: string | null;
}

/** An instance as launch() drives it: its state and its live parts. */
interface Inst extends InstanceState {
  stderr: StderrKeep;
  proc: Proc | null;
  watch: LineWatch;
  qmpAbort: AbortController | null;
  qmpDone: Promise<void> | null;
  killTimer: TimerId | null;
  emitted: boolean;
  done: Promise<void>;
  finish: () => void;
}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

/**
 * Boot `options.count` instances of a profile and time them.
 *
 * @example
 * ```ts
 * import { parseProfile } from "./profile.ts";
 * import { FakeClock, fakeRunner } from "./testing/mod.ts";
 * const clock = new FakeClock();
 * const runner = fakeRunner(clock, { script: () => ({ stdout: [{ at: 5, line: "ready" }], exitAt: 50 }) });
 * const profile = parseProfile({ name: "t", argv: ["guest"], ready: { line: "ready" } });
 * const res = await clock.run(launch(profile, {
 *   count: 2, pattern: { kind: "back-to-back" }, argv: profile.argv,
 *   runner, clock, spawnMode: "direct", sampleIntervalMs: 0, reaper: false,
 * }));
 * console.log(res.rows.map((r) => [r.outcome, r.boot_ms])); // [["ready", 5], ["ready", 5]]
 * ```
 */
export async function launch(
  profile: Profile,
  options: LaunchOptions,
): Promise<LaunchResult> {
  const runner = options.runner ?? denoRunner;
  const clock = options.clock ?? realClock;
  const timeoutMs = options.timeoutMs ?? profile.timeoutMs;
  const graceMs = options.graceMs ??
    (profile.teardown === "kill-after-ready" ? 0 : 1000);
  const pssSample = options.pssSample ?? 4;
  // Every pssStep-th instance gets its PSS/USS read (Infinity: none).
  const pssStep = pssSample <= 0
    ? Infinity
    : Math.max(1, Math.ceil(options.count / pssSample));
  const pattern = options.pattern;
  const kind = patternKind(pattern);
  let spawnMode = options.spawnMode ?? kind.spawnMode;
  // The pattern's fork needs the real runner and the C spawn helper (gcc):
  // otherwise pre-start, and say why.
  let spawnFallback: string | null = null;
  // Built here once when the mode is the pattern's (so a failed build can
  // fall back), and handed on.
  let forkHelper: string | undefined;
  if (spawnMode === "fork" && options.spawnMode === undefined) {
    if (options.runner && options.runner !== denoRunner) {
      spawnMode = "prestart";
      spawnFallback = "a runner was given: its pre-start is used";
    } else {
      try {
        forkHelper = await ensureForkHelper();
      } catch (e) {
        spawnMode = "prestart";
        spawnFallback = `pre-started instead of forked at T_s: ${
          (e as Error).message
        }`;
      }
    }
  }
  if (spawnMode !== "direct" && clock !== realClock) {
    throw new Error(
      `launch(): spawnMode "${spawnMode}" starts instances on the real monotonic clock; pass spawnMode "direct" with another clock`,
    );
  }
  const readiness = readinessFor(profile.ready);
  const n = options.count;
  // The ready line watched by the spawn helper's instance threads, when it
  // is a literal and nothing else is read at T_e: the reads at ready and
  // the kill were 13% of the main thread's CPU in a 256-storm (perf), and
  // the kill came only when the event loop got to the ready line.
  const literal = readiness.readyLine ? literalOf(readiness.readyLine) : null;
  const helperReady: HelperReady | null = spawnMode === "fork" &&
      literal !== null && !options.insns && !options.readAnonMemory &&
      !options.phases
    ? {
      needle: literal,
      kill: profile.teardown === "kill-after-ready" && graceMs === 0,
      pssStep,
    }
    : null;
  const sockDir = options.phases
    ? Deno.makeTempDirSync({ prefix: "bootstorm-qmp-" })
    : null;
  const insns = options.insns ?? null;
  const markNames = Object.keys(options.marks ?? {});
  const argvOf = (i: number) => [
    ...options.argv,
    ...(sockDir ? phaseArgs(`${sockDir}/${i}.sock`) : []),
    ...(insns
      ? ["-plugin", insns.slots.pluginArg(insns.plugin, i, insns)]
      : []),
  ];
  const envOf = (i: number) =>
    insns?.shim ? { env: insns.slots.shimEnv(insns.shim, i) } : undefined;
  const insts: Inst[] = [];
  const starts: (number | null)[] = new Array(n).fill(null);
  const ends: (number | null)[] = new Array(n).fill(null);
  const rows: InstanceRow[] = [];
  let booting = 0;
  let endedCount = 0;
  let interrupted = false;
  let holdRelease: (() => void) | null = null;
  const allBootEnded = new Promise<void>((r) => (holdRelease = r));
  let slotFree: (() => void) | null = null;

  for (let i = 0; i < n; i++) {
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    insts.push({
      ...newInstance(i, { scheduled_ms: kind.scheduledMs(pattern, i) }),
      stderr: new StderrKeep(),
      proc: null,
      watch: new LineWatch({
        ready: helperReady ? null : readiness.readyLine,
        marks: options.marks,
      }),
      qmpAbort: null,
      qmpDone: null,
      killTimer: null,
      emitted: false,
      done,
      finish,
    });
  }

  // Memory sampling starts before T_0 (samples before it have t_ms < 0 and
  // give the baseline); pre-started instances are forked before T_0 too.
  let t0 = NaN;
  let cpuAtT0: number | null = null;
  let cpuFromT0: number | null = null;
  let cpuShareFromT0: number | null = null;
  // The host's steal at T_0, then from T_0 until every boot had ended.
  let stealAtT0: number | null = null;
  let stealWhileBooting: number | null = null;
  // What the batch's costs are counted from: taken once, at T_0.
  const atT0 = () => {
    cpuAtT0 = processCpuMs();
    stealAtT0 = hostStealMs();
  };
  // The launcher's own CPU from T_0 until every boot had ended: what it took
  // from the guests while they booted (the work after, such as turning the
  // held memory samples into rows, competes with no boot).
  let cpuWhileBooting: number | null = null;
  let cpuShareWhileBooting: number | null = null;
  // The costs counted to every boot's end: taken once, there.
  let bootsEnded = false;
  const bootsOver = () => {
    if (bootsEnded || !Number.isFinite(t0)) return;
    bootsEnded = true;
    const span = now();
    const c = processCpuMs();
    cpuWhileBooting = c !== null && cpuAtT0 !== null ? c - cpuAtT0 : null;
    cpuShareWhileBooting = cpuWhileBooting !== null && span > 0
      ? cpuWhileBooting / span
      : null;
    const s = stealAtT0 === null ? null : hostStealMs();
    stealWhileBooting = s === null ? null : s - stealAtT0!;
  };
  const now = () => clock.now() - t0;
  const memory = (options.sampleIntervalMs ?? 0.5) > 0
    ? await startMemoryRows({ starts, ends, t0: () => t0 }, {
      source: options.memorySource,
      intervalMs: options.sampleIntervalMs ?? 0.5,
      realtime: options.realtimeSampler,
      cgroupUsageFile: options.cgroup?.usageFile ?? null,
      quietStepKib: options.memoryQuietStepKib ?? DEFAULT_QUIET_STEP_KIB,
      onMemory: options.onMemory,
    })
    : null;

  /** The boot ended: the batch's bookkeeping (after the transition). */
  function ended(inst: Inst): void {
    const t = inst.boot_end_ms!;
    ends[inst.instance] = t;
    booting--;
    endedCount++;
    options.onEvent?.({
      type: "ended",
      instance: inst.instance,
      outcome: inst.outcome!,
    });
    if (endedCount === n && !waitsExit) {
      if (timeoutTimer !== null) clock.clearTimeout(timeoutTimer);
      timeoutTimer = null;
    }
    if (endedCount === n) {
      bootsOver();
      holdRelease!();
      // Every boot is over: quiet waits may start again (holds, exits).
      memory?.holdRate(false);
    }
    slotFree?.();
  }

  function endBoot(inst: Inst, outcome: Outcome, t: number): void {
    if (inst.outcome !== null) return;
    // A ready guest's `cont` acknowledgement may still be unread: keep it.
    if (outcome !== "ready") inst.qmpAbort?.abort();
    if (endBootState(inst, { outcome, t })) ended(inst);
  }

  /** Stop an instance: SIGTERM to its process tree, SIGKILL after the grace period. */
  function kill(inst: Inst, peakReadNow = false): void {
    const p = inst.proc;
    if (!p || inst.exited) return;
    // A pre-started shell never released is not the instance: no RSS.
    // onReady() has just read it: reading it twice was a fifth of the
    // launcher's CPU at ready in a 256-storm (perf).
    if (inst.t_s_ms !== null && !peakReadNow) {
      const rss = readPeakRssKib(p.pid);
      if (rss !== null) {
        inst.rss_peak_kib = Math.max(inst.rss_peak_kib ?? 0, rss);
      }
    }
    // Grace 0: SIGKILL at once, as the paper's C harness does. A graceful
    // QEMU exit (SIGTERM) costs the guests still booting: a 64-storm's
    // median boot_ms 905 ms with SIGKILL against 1304 ms with SIGTERM,
    // measured alternating (README, "Teardown").
    const now0 = inst.t_s_ms === null || graceMs === 0;
    p.killTree(now0 ? "SIGKILL" : "SIGTERM");
    if (inst.killTimer === null && !now0) {
      inst.killTimer = clock.setTimeout(() => {
        if (!inst.exited) p.killTree("SIGKILL");
      }, graceMs);
    }
  }

  function onReady(inst: Inst, t: number): void {
    if (inst.outcome !== null) return;
    // The boot-work counters at T_e: read first, the guest keeps running;
    // then the counts at the byte that completed the ready condition.
    if (insns) {
      inst.insns_at_ready = insns.slots.read(inst.instance);
      const byte = readiness.readyByte(inst.watch.readyByte);
      if (byte !== null) {
        inst.output_counts_ready = insns.slots.atByte(inst.instance, byte);
      }
    }
    endBoot(inst, "ready", t);
    if (options.readAnonMemory && inst.proc && !inst.exited) {
      inst.anon_kib = readAnonKib(inst.proc.pid);
    }
    const rss = inst.proc && !inst.exited
      ? readPeakRssKib(inst.proc.pid)
      : null;
    if (rss !== null) inst.rss_peak_kib = Math.max(inst.rss_peak_kib ?? 0, rss);
    if (inst.proc && !inst.exited) {
      inst.cpu_ready_ms = readCpuMs(inst.proc.pid);
      if (pssStep !== Infinity && inst.instance % pssStep === 0) {
        const m = readPssUssKib(inst.proc.pid);
        inst.pss_kib = m?.pss ?? null;
        inst.uss_kib = m?.uss ?? null;
      }
    }
    if (profile.teardown === "kill-after-ready") kill(inst, rss !== null);
    else if (profile.teardown === "hold-until-all-ready") {
      allBootEnded.then(() => kill(inst));
    }
    // wait-exit: the process ends by itself, or at the timeout below.
  }

  /** The spawn helper saw the ready line (`helperReady`) and read for us. */
  function onReadyHere(inst: Inst, r: ReadyHere): void {
    if (inst.outcome !== null) return;
    endBoot(inst, "ready", r.t);
    if (r.rssPeakKib !== null) {
      inst.rss_peak_kib = Math.max(inst.rss_peak_kib ?? 0, r.rssPeakKib);
    }
    inst.cpu_ready_ms = r.cpuMs;
    inst.pss_kib = r.pssKib;
    inst.uss_kib = r.ussKib;
    if (profile.teardown === "kill-after-ready") {
      if (!r.killed) kill(inst, r.rssPeakKib !== null);
    } else if (profile.teardown === "hold-until-all-ready") {
      allBootEnded.then(() => kill(inst));
    }
  }

  async function drainStdout(inst: Inst, p: Proc): Promise<void> {
    try {
      for await (const c of chunksOf(p, "stdout")) {
        const chunk = c.bytes;
        // The helper's read time (fork mode) when known: T_e is when the
        // bytes left the instance's pipe, not when this loop got to them.
        const t = c.at === null ? now() : c.at - t0;
        // Output of a pre-started instance whose release message is not
        // handled yet: it was released, at the T_s its thread recorded.
        if (inst.t_s_ms === null && inst.outcome === null && releasedAt) {
          const ts = releasedAt(inst);
          if (ts !== null) markStarted(inst, ts);
        }
        if (firstOutput(inst, t)) {
          if (insns) {
            inst.insns_at_first_output = insns.slots.read(inst.instance);
            inst.output_counts_first = insns.slots.atByte(inst.instance, 0);
          }
          // Ready-on-exit: the process is gone at T_e, so read its peak now.
          if (readiness.rssAtFirstOutput) {
            inst.rss_peak_kib = readPeakRssKib(p.pid);
          }
        }
        const ev = inst.watch.push(chunk);
        for (const m of ev.marks) inst.marks[m] ??= t;
        if (inst.outcome === null && readiness.readyOnOutput(ev.ready)) {
          onReady(inst, t);
        }
      }
    } catch {
      // stream errors end the drain; the status decides the outcome
    }
  }

  async function drainStderr(inst: Inst, p: Proc): Promise<void> {
    try {
      for await (const c of chunksOf(p, "stderr")) {
        inst.stderr.push(c.bytes);
      }
    } catch {
      // ignore
    }
  }

  // How long an exit waits for its pipes and QMP socket to drain: 500 ms,
  // up to 550. Exits within 50 ms of each other share one timer (a timer
  // per exit was as costly as a timer per boot timeout, see armTimeout).
  const drainLimits = new Map<number, { id: TimerId; done: () => void }>();
  const drainWaits = new Map<number, Promise<void>>();
  function drainLimit(): Promise<void> {
    // On the absolute clock: an exit before T_0 (a pre-started shell) too.
    const at = Math.ceil((clock.now() + 500) / 50) * 50;
    let p = drainWaits.get(at);
    if (p) return p;
    p = new Promise<void>((done) => {
      const id = clock.setTimeout(() => {
        drainLimits.delete(at);
        drainWaits.delete(at);
        done();
      }, at - clock.now());
      drainLimits.set(at, { id, done });
    });
    drainWaits.set(at, p);
    return p;
  }
  /** End the drain waits still pending (launch() is returning). */
  function endDrainLimits(): void {
    for (const { id, done } of drainLimits.values()) {
      clock.clearTimeout(id);
      done();
    }
    drainLimits.clear();
    drainWaits.clear();
  }

  function watchInstance(inst: Inst, p: Proc): void {
    inst.proc = p;
    inst.pid = p.pid;
    const out = drainStdout(inst, p);
    const err = drainStderr(inst, p);
    p.status.then(async (st) => {
      const t = now();
      exited(inst, { t, code: st.code, signal: st.signal });
      if (inst.killTimer !== null) clock.clearTimeout(inst.killTimer);
      // The instance is over: descendants seen at its teardown go too.
      p.killTree("SIGKILL");
      // The ready line may still sit in the pipe (and the QMP answer in its
      // socket): read them before deciding.
      await Promise.race([
        Promise.all([out, err, inst.qmpDone]),
        drainLimit(),
      ]);
      inst.qmpAbort?.abort();
      const outcome = outcomeAtExit(inst, {
        readyAtExit: readiness.readyAtExit,
        // A pre-started shell that could not exec argv[0]: a spawn failure.
        execFailed: spawnMode !== "direct" && st.code === 127 &&
          inst.first_output_ms === null &&
          execFailed(st.code, inst.stderr.text()),
      });
      if (outcome === "not_started") notStarted(inst); // never released
      else if (outcome === "spawn_failed") {
        inst.error = inst.stderr.errorLine();
        endBoot(inst, "spawn_failed", t);
      } else if (outcome === "ready") onReady(inst, t);
      else if (outcome !== null) endBoot(inst, outcome, t);
      emit(inst);
    });
  }

  // One timer for every instance's boot timeout, set for the earliest
  // deadline of an instance still booting: a timer per instance (256 set,
  // 256 cleared in a storm) was ~5% of the launcher's main-thread CPU in a
  // 256-storm (`perf record` of `bench/launcher_cpu.ts 256 on`: Deno's
  // node-compatible timers). Instances start in about T_s order, so a storm
  // sets it once.
  let timeoutTimer: TimerId | null = null;
  let timeoutAt = Infinity;
  const waitsExit = profile.teardown === "wait-exit";
  function armTimeout(inst: Inst): void {
    const due = (inst.t_s_ms ?? 0) + timeoutMs;
    if (due >= timeoutAt) return;
    if (timeoutTimer !== null) clock.clearTimeout(timeoutTimer);
    timeoutAt = due;
    timeoutTimer = clock.setTimeout(timeoutsDue, Math.max(0, due - now()));
  }
  function timeoutsDue(): void {
    timeoutTimer = null;
    timeoutAt = Infinity;
    const t = now();
    for (const inst of insts) {
      if (inst.t_s_ms === null || inst.exited) continue;
      // wait-exit: a ready instance still running goes at its timeout too.
      if (inst.outcome !== null && !waitsExit) continue;
      // Timers may fire a fraction of a millisecond early: never time out early.
      if (t - inst.t_s_ms < timeoutMs) armTimeout(inst);
      else if (inst.outcome === null) {
        endBoot(inst, "timeout", t);
        kill(inst);
      } else kill(inst);
    }
  }

  function markStarted(inst: Inst, ts: number): void {
    start(inst, ts);
    starts[inst.instance] = ts;
    booting++;
    options.onEvent?.({ type: "started", instance: inst.instance });
    armTimeout(inst);
    if (sockDir) {
      inst.qmpAbort = new AbortController();
      inst.qmpDone = qmpStart(`${sockDir}/${inst.instance}.sock`, {
        now,
        signal: inst.qmpAbort.signal,
      })
        .then((t) => {
          inst.vmm_ready_ms = t.vmmReady;
          inst.t_k_ms = t.tK;
        })
        .catch((e) => {
          inst.error ??= `QMP: ${(e as Error).message}`;
        });
    }
  }

  function spawnFailed(inst: Inst, ts: number, e: unknown): void {
    starts[inst.instance] = ts;
    booting++;
    const error = e instanceof Error ? e.message : String(e);
    if (spawnFailedState(inst, { t: ts, error })) ended(inst);
    emit(inst);
  }

  function emit(inst: Inst): void {
    if (inst.emitted) return;
    inst.emitted = true;
    inst.output_bytes = inst.watch.bytes;
    const row = instanceRow(inst, {
      starts,
      ends,
      stderrError: inst.outcome === "ready" || inst.error !== null
        ? null
        : inst.stderr.errorLine(),
      insnsMem: insns?.mem === true,
      anon: options.readAnonMemory,
      marks: markNames,
    });
    rows.push(row);
    options.onRows?.([row]);
    inst.finish();
  }

  // Interruption: stop launching, end booting instances, reap everything.
  const onAbort = () => {
    interrupted = true;
    const t = now();
    for (const inst of insts) {
      if (inst.proc && inst.outcome === null && inst.t_s_ms !== null) {
        endBoot(inst, "interrupted", t);
      }
      if (inst.proc) kill(inst);
    }
    slotFree?.();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  const launched: Inst[] = [];
  let releaseWarning: string | null = null;
  // T_s of a pre-started instance as its release thread recorded it.
  let releasedAt: ((inst: Inst) => number | null) | null = null;
  const mainNice = options.mainNice === undefined ? -10 : options.mainNice;
  // Set by the T_0 hook (a holder: assigned inside a closure).
  const nice: { set: ReturnType<typeof setThreadNice> | null } = { set: null };
  let mainThread: LaunchResult["mainThread"] = { nice: null, warning: null };
  // Held until every child is reaped: if the launcher dies meanwhile, the
  // reaper kills them.
  const guarded = options.reaper !== false;
  const releaseReaper = guarded ? await holdReaper() : () => Promise.resolve();
  const noReaper = guarded ? reaperWarning() : "no reaper (reaper: false)";
  const batch = newBatchTag();
  const prestartHooks: PrestartHooks<Inst> = {
    prestart(i) {
      const p = runner.prestart(argvOf(i), {
        env: { ...batch.env, ...envOf(i)?.env },
      });
      // The stopped starter shell joins the run's cgroup before its
      // release: QEMU (its exec) is charged there from its first page.
      if (options.cgroup) joinRunCgroup(options.cgroup, p.pid);
      return p;
    },
    onHeld(inst, p) {
      launched.push(inst);
      watchInstance(inst, p);
    },
    onFailed(inst, e) {
      launched.push(inst);
      spawnFailed(inst, inst.scheduled_ms ?? 0, e);
    },
    setT0: (t) => {
      t0 = t;
      atT0();
      // Every instance is forked: raise the thread that takes T_e.
      if (mainNice !== null && nice.set === null) {
        const r = setThreadNice(mainNice);
        nice.set = r;
        mainThread = {
          nice: r.warning ? r.previous : mainNice,
          warning: r.warning,
        };
      }
    },
    releaseLookup(lookup) {
      releasedAt = lookup;
    },
    onReleased(inst, { t_s, error }) {
      if (error) inst.error = `release failed: ${error}`;
      // Already started by its own output (it overtook this message).
      if (inst.t_s_ms !== null) return;
      if (inst.outcome === null) {
        markStarted(inst, t_s);
        // Released just before the launcher was stopped.
        if (interrupted) {
          endBoot(inst, "interrupted", now());
          kill(inst);
        }
      }
    },
    reap: (inst) => kill(inst),
    interrupted: () => interrupted,
  };
  const forkHooks: ForkHooks<Inst> = {
    plan: (i) => ({
      argv: argvOf(i),
      env: { ...batch.env, ...envOf(i)?.env },
    }),
    // Every instance it forks inherits the cgroup: charged there from its
    // first page, without a move per instance.
    onHelper: (pid) => {
      if (options.cgroup) joinRunCgroup(options.cgroup, pid);
    },
    setT0: prestartHooks.setT0,
    onStarted(inst, p, t_s) {
      launched.push(inst);
      watchInstance(inst, p);
      markStarted(inst, t_s);
      if (interrupted) {
        endBoot(inst, "interrupted", now());
        kill(inst);
      }
    },
    onFailed: prestartHooks.onFailed,
    interrupted: () => interrupted,
    onReadyHere,
  };
  let forkSession: ForkSession | null = null;
  // On the rate from before T_0 until every boot has ended: a boot that
  // started while the C sampler waited in quiet mode was slower (the VM's
  // vCPUs went idle): N = 1, 20 alternating runs, 36.9-38.6 ms against
  // 28.1 ms held on the rate.
  if (n > 0) memory?.holdRate(true);
  try {
    if (spawnMode === "fork") {
      forkSession = await runForkAtTs(insts, forkHooks, {
        signal: options.signal,
        t0At: options.t0At,
        env: batch.env,
        binary: forkHelper,
        ready: helperReady,
      });
      releaseWarning = forkSession.releaseWarning;
    } else if (spawnMode === "prestart") {
      releaseWarning = (await runPrestarted(insts, prestartHooks, {
        phases: sockDir !== null,
        signal: options.signal,
        t0At: options.t0At,
      })).releaseWarning;
    } else {
      t0 = options.t0At
        ? await sleepUntil(await options.t0At(), options.signal)
        : clock.now();
      atT0();
      const maxBooting = kind.maxBooting(pattern);
      for (const inst of insts) {
        if (interrupted) break;
        if (maxBooting !== null) {
          while (booting >= maxBooting && !interrupted) {
            await new Promise<void>((r) => (slotFree = r));
            slotFree = null;
          }
        } else if (inst.scheduled_ms !== null) {
          const wait = inst.scheduled_ms - now();
          if (wait > 0) {
            await new Promise<void>((r) => clock.setTimeout(r, wait));
          }
        }
        if (interrupted) break;
        const ts = now();
        try {
          const p = runner.spawn(argvOf(inst.instance), {
            env: { ...batch.env, ...envOf(inst.instance)?.env },
          });
          // Direct spawns join the run's cgroup right after the spawn (the
          // first allocations of QEMU may be charged to the launcher's).
          if (options.cgroup) joinRunCgroup(options.cgroup, p.pid);
          markStarted(inst, ts);
          watchInstance(inst, p);
        } catch (e) {
          spawnFailed(inst, ts, e);
        }
        launched.push(inst);
        await yieldToLoop();
      }
    }
    await Promise.all(launched.map((x) => x.done));
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    // Anything still alive (an error above): end and reap it.
    for (const inst of insts) if (inst.proc && !inst.exited) kill(inst);
    await Promise.all(launched.map((x) => x.done));
    endDrainLimits();
    // wait-exit keeps the timeout timer after the boots: not past the batch.
    if (timeoutTimer !== null) clock.clearTimeout(timeoutTimer);
    timeoutTimer = null;
    await forkSession?.close();
    bootsOver(); // stopped before every boot had ended
    const cpuNow = processCpuMs();
    if (cpuAtT0 !== null && cpuNow !== null) {
      cpuFromT0 = cpuNow - cpuAtT0;
      const span = now();
      cpuShareFromT0 = span > 0 ? cpuFromT0 / span : null;
    }
    const was = nice.set;
    if (was && was.previous !== null && was.warning === null) {
      setThreadNice(was.previous);
    }
    // Whatever an instance left outside its process group goes too.
    if (guarded) await killTagged(batch.tag);
    await releaseReaper();
  }
  // Every instance gets a row: those never started say so.
  for (const inst of insts) {
    if (!inst.emitted) {
      notStarted(inst);
      emit(inst);
    }
  }
  if (sockDir) Deno.removeSync(sockDir, { recursive: true });
  const samplerStats = memory ? await memory.stop() : null;
  memory?.flush();
  return {
    rows,
    t0,
    wallMs: now(),
    cpuFromT0Ms: cpuFromT0,
    cpuShareFromT0,
    cpuWhileBootingMs: cpuWhileBooting,
    cpuShareWhileBooting,
    helperCpuMs: forkSession?.cpuMs() ?? null,
    stealMsWhileBooting: stealWhileBooting,
    sampler: samplerStats,
    interrupted,
    spawnMode,
    spawnFallback,
    releaseWarning,
    mainThread,
    reaperWarning: noReaper,
  };
}
