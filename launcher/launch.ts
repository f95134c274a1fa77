/**
 * The measuring program (the paper's Algorithm 1): T_0, memory sampling, N
 * instances started by a launch pattern, T_s just before each start, T_e when
 * the instance shows it booted; rows appended to the dataset as instances
 * complete; every child reaped on every path. Teardown signals an
 * instance's whole process tree, what it left outside its tree is killed
 * with the batch (its batch tag), and the reaper (reaper.ts) kills whatever
 * is left if the launcher itself dies.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { monotonicMs } from "./clock.ts";
import { LineWatch } from "./line_watch.ts";
import {
  type MemorySourceKind,
  type MemorySourceStats,
  startMemorySource,
} from "./sampler/memory_source.ts";
import { joinRunCgroup, type RunCgroup } from "./sampler/run_cgroup.ts";
import {
  bootingCounter,
  concurrencyAt,
  type Pattern,
  scheduledMs,
} from "./pattern.ts";
import type { Profile } from "./profile.ts";
import { phaseArgs, qmpStart } from "./qmp.ts";
import { sleepUntil } from "./start_at.ts";
import { getOpenFilesLimit } from "./limits.ts";
import {
  holdReaper,
  killTagged,
  newBatchTag,
  reaperWarning,
} from "./reaper.ts";
import {
  denoRunner,
  isStopped,
  type Proc,
  type ProcessRunner,
  readAnonKib,
  readCpuMs,
  readPeakRssKib,
  readPssUssKib,
} from "./runner.ts";
import {
  INSTANCE_COLUMNS,
  type InstanceRow,
  type MemoryRow,
  type Outcome,
} from "../dataset/schema.ts";
import type { InsnsCounters, InsnsSlots, OutputCounts } from "./insns/slots.ts";

/** Progress events, for terminal output. */
export type LaunchEvent =
  | { type: "started"; instance: number }
  | { type: "ended"; instance: number; outcome: Outcome };

/** How to run one batch. */
export interface LaunchOptions {
  /** Number of instances. */
  count: number;
  pattern: Pattern;
  /** Fully expanded argv (see `expandArgv`). */
  argv: string[];
  /** Per-instance timeout from T_s, ms (default: the profile's). */
  timeoutMs?: number;
  /** SIGTERM → SIGKILL grace period, ms (default 1000). */
  graceMs?: number;
  /**
   * `direct` spawns at T_s; `prestart` forks every instance before T_0,
   * stopped, and releases it with SIGCONT at T_s (its exec is inside ΔT, its
   * fork is not). Default: prestart for interval and back-to-back, direct for
   * parallel (closed loop).
   */
  spawnMode?: "direct" | "prestart";
  /** Memory sampling interval, ms (default 0.5). 0 disables sampling. */
  sampleIntervalMs?: number;
  /**
   * Memory source (default `c-sampler`, falling back to `worker`): see
   * launcher/sampler/memory_source.ts.
   */
  memorySource?: MemorySourceKind;
  /**
   * The run's memory cgroup: every instance joins it before it is released
   * (pre-started) or right after it is spawned (direct), and the C sampler
   * reads its usage every tick (`run_used_kib`).
   */
  cgroup?: RunCgroup | null;
  /** Ask for SCHED_FIFO for the sampler (default true). */
  realtimeSampler?: boolean;
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
}

/** The result of a batch. */
export interface LaunchResult {
  rows: InstanceRow[];
  t0: number;
  wallMs: number;
  sampler: MemorySourceStats | null;
  interrupted: boolean;
  spawnMode: "direct" | "prestart";
  /** Why the release thread ran without real-time priority (prestart). */
  releaseWarning: string | null;
  /** Why no reaper guarded the instances (reaper.ts), or null. */
  reaperWarning: string | null;
}

interface Inst {
  i: number;
  scheduled: number | null;
  ts: number | null;
  first: number | null;
  ready: number | null;
  exit: number | null;
  end: number | null;
  outcome: Outcome | null;
  code: number | null;
  signal: string | null;
  rss: number | null;
  cpu: number | null;
  pss: number | null;
  uss: number | null;
  error: string | null;
  stderr: StderrKeep;
  proc: Proc | null;
  watch: LineWatch;
  marks: Record<string, number>;
  vmmReady: number | null;
  tK: number | null;
  qmpAbort: AbortController | null;
  qmpDone: Promise<void> | null;
  anonKib: number | null;
  insFirst: InsnsCounters | null;
  insReady: InsnsCounters | null;
  outFirst: OutputCounts | null;
  outReady: OutputCounts | null;
  timer: ReturnType<typeof setTimeout> | null;
  killTimer: ReturnType<typeof setTimeout> | null;
  exited: boolean;
  emitted: boolean;
  done: Promise<void>;
  finish: () => void;
}

/** Interval pattern, pre-started: instance i is due at T_0 + lead + i·Δ. */
export const RELEASE_LEAD_MS = 2;

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

/**
 * Boot `options.count` instances of a profile and time them.
 *
 * @example
 * ```ts ignore
 * const profile = await loadProfile("minkernel-microvm");
 * const argv = expandArgv(profile, { accel: ["-accel", "tcg"] });
 * const res = await launch(profile, { count: 4, pattern: { kind: "back-to-back" }, argv });
 * console.log(res.rows.map((r) => r.boot_ms));
 * ```
 */
export async function launch(
  profile: Profile,
  options: LaunchOptions,
): Promise<LaunchResult> {
  const runner = options.runner ?? denoRunner;
  const timeoutMs = options.timeoutMs ?? profile.timeoutMs;
  const graceMs = options.graceMs ?? 1000;
  const pattern = options.pattern;
  const spawnMode = options.spawnMode ??
    (pattern.kind === "parallel" ? "direct" : "prestart");
  const readyRe = "line" in profile.ready
    ? new RegExp(profile.ready.line)
    : null;
  const readyOnFirst = "firstOutput" in profile.ready;
  const readyOnExit = "exit" in profile.ready;
  const n = options.count;
  const sockDir = options.phases
    ? Deno.makeTempDirSync({ prefix: "bootstorm-qmp-" })
    : null;
  const insns = options.insns ?? null;
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
      i,
      scheduled: scheduledMs(pattern, i),
      ts: null,
      first: null,
      ready: null,
      exit: null,
      end: null,
      outcome: null,
      code: null,
      signal: null,
      rss: null,
      cpu: null,
      pss: null,
      uss: null,
      error: null,
      stderr: new StderrKeep(),
      proc: null,
      watch: new LineWatch({
        ready: readyOnFirst || readyOnExit ? null : readyRe,
        marks: options.marks,
      }),
      marks: {},
      vmmReady: null,
      tK: null,
      qmpAbort: null,
      qmpDone: null,
      anonKib: null,
      insFirst: null,
      insReady: null,
      outFirst: null,
      outReady: null,
      timer: null,
      killTimer: null,
      exited: false,
      emitted: false,
      done,
      finish,
    });
  }

  // Memory sampling starts before T_0 (samples before it have t_ms < 0 and
  // give the baseline); pre-started instances are forked before T_0 too.
  let t0 = NaN;
  const now = () => monotonicMs() - t0;
  const memBuf: MemoryRow[] = [];
  let firstSample: (() => void) | null = null;
  const sampling = (options.sampleIntervalMs ?? 0.5) > 0;
  const sampled = new Promise<void>((r) => (firstSample = r));
  const sampler = sampling
    ? await startMemorySource(options.memorySource ?? "c-sampler", {
      intervalMs: options.sampleIntervalMs ?? 0.5,
      realtime: options.realtimeSampler,
      cgroupUsageFile: options.cgroup?.usageFile ?? null,
      onSamples: (samples) => {
        for (const s of samples) {
          memBuf.push({
            t_ms: s.t_ms,
            used_kib: s.used_kib,
            run_used_kib: s.run_used_kib,
            booting: 0,
          });
        }
        firstSample?.();
        if (!Number.isNaN(t0)) flushMemory();
      },
    })
    : null;
  if (sampling) await sampled;

  function flushMemory(): void {
    const out = memBuf.splice(0, memBuf.length);
    if (!options.onMemory || out.length === 0) return;
    // Samples carry absolute clock times; `booting` at a past time t is final
    // (every instance started before t has ended, or is still booting now).
    const bootingAt = bootingCounter(starts, ends);
    for (const r of out) {
      r.t_ms -= t0;
      r.booting = bootingAt(r.t_ms);
    }
    options.onMemory(out);
  }

  function endBoot(inst: Inst, outcome: Outcome, t: number): void {
    if (inst.outcome !== null) return;
    // A ready guest's `cont` acknowledgement may still be unread: keep it.
    if (outcome !== "ready") inst.qmpAbort?.abort();
    inst.outcome = outcome;
    inst.end = t;
    ends[inst.i] = t;
    booting--;
    endedCount++;
    if (inst.timer !== null) clearTimeout(inst.timer);
    inst.timer = null;
    options.onEvent?.({ type: "ended", instance: inst.i, outcome });
    if (endedCount === n) holdRelease!();
    slotFree?.();
  }

  /** Stop an instance: SIGTERM to its process tree, SIGKILL after the grace period. */
  function kill(inst: Inst): void {
    const p = inst.proc;
    if (!p || inst.exited) return;
    // A pre-started shell never released is not the instance: no RSS.
    if (inst.ts !== null) {
      const rss = readPeakRssKib(p.pid);
      if (rss !== null) inst.rss = Math.max(inst.rss ?? 0, rss);
    }
    p.killTree(inst.ts === null ? "SIGKILL" : "SIGTERM");
    if (inst.killTimer === null) {
      inst.killTimer = setTimeout(() => {
        if (!inst.exited) p.killTree("SIGKILL");
      }, graceMs);
    }
  }

  function onReady(inst: Inst, t: number): void {
    if (inst.outcome !== null) return;
    // The boot-work counters at T_e: read first, the guest keeps running;
    // then the counts at the byte that completed the ready condition.
    if (insns) {
      inst.insReady = insns.slots.read(inst.i);
      const byte = readyOnFirst ? 0 : inst.watch.readyByte;
      if (byte !== null && !readyOnExit) {
        inst.outReady = insns.slots.atByte(inst.i, byte);
      }
    }
    inst.ready = t;
    endBoot(inst, "ready", t);
    if (options.readAnonMemory && inst.proc && !inst.exited) {
      inst.anonKib = readAnonKib(inst.proc.pid);
    }
    const rss = inst.proc && !inst.exited
      ? readPeakRssKib(inst.proc.pid)
      : null;
    if (rss !== null) inst.rss = Math.max(inst.rss ?? 0, rss);
    if (inst.proc && !inst.exited) {
      inst.cpu = readCpuMs(inst.proc.pid);
      const m = readPssUssKib(inst.proc.pid);
      inst.pss = m?.pss ?? null;
      inst.uss = m?.uss ?? null;
    }
    if (profile.teardown === "kill-after-ready") kill(inst);
    else if (profile.teardown === "hold-until-all-ready") {
      allBootEnded.then(() => kill(inst));
    }
    // wait-exit: the process ends by itself, or at the timeout below.
  }

  async function drainStdout(inst: Inst, p: Proc): Promise<void> {
    try {
      for await (const chunk of p.stdout) {
        const t = now();
        if (inst.first === null) {
          inst.first = t;
          if (insns) {
            inst.insFirst = insns.slots.read(inst.i);
            inst.outFirst = insns.slots.atByte(inst.i, 0);
          }
          // Ready-on-exit: the process is gone at T_e, so read its peak now.
          if (readyOnExit) inst.rss = readPeakRssKib(p.pid);
        }
        const ev = inst.watch.push(chunk);
        for (const m of ev.marks) inst.marks[m] ??= t;
        if (inst.outcome === null && (ev.ready || readyOnFirst)) {
          onReady(inst, t);
        }
      }
    } catch {
      // stream errors end the drain; the status decides the outcome
    }
  }

  async function drainStderr(inst: Inst, p: Proc): Promise<void> {
    try {
      for await (const chunk of p.stderr) inst.stderr.push(chunk);
    } catch {
      // ignore
    }
  }

  function watchInstance(inst: Inst, p: Proc): void {
    inst.proc = p;
    const out = drainStdout(inst, p);
    const err = drainStderr(inst, p);
    p.status.then(async (st) => {
      const t = now();
      inst.exited = true;
      inst.exit = t;
      inst.code = st.code;
      inst.signal = st.signal;
      if (inst.killTimer !== null) clearTimeout(inst.killTimer);
      // The instance is over: descendants seen at its teardown go too.
      p.killTree("SIGKILL");
      // The ready line may still sit in the pipe (and the QMP answer in its
      // socket): read them before deciding.
      await Promise.race([
        Promise.all([out, err, inst.qmpDone]),
        new Promise((r) => setTimeout(r, 500)),
      ]);
      inst.qmpAbort?.abort();
      if (inst.outcome === null) {
        if (inst.ts === null) inst.outcome = "not_started"; // never released
        else if (
          spawnMode === "prestart" && st.code === 127 && inst.first === null &&
          /not found|No such file|Permission denied|cannot execute/i.test(
            inst.stderr.text(),
          )
        ) {
          // The pre-started shell could not exec argv[0]: a spawn failure.
          inst.error = inst.stderr.errorLine();
          endBoot(inst, "spawn_failed", t);
        } else if (readyOnExit) onReady(inst, t);
        else endBoot(inst, "exited_before_ready", t);
      }
      emit(inst);
    });
  }

  function armTimeout(inst: Inst): void {
    const left = timeoutMs - (now() - (inst.ts ?? 0));
    inst.timer = setTimeout(() => {
      inst.timer = null;
      // Timers may fire a fraction of a millisecond early: never time out early.
      if (now() - (inst.ts ?? 0) < timeoutMs) return armTimeout(inst);
      if (inst.outcome === null) {
        endBoot(inst, "timeout", now());
        kill(inst);
      } else if (profile.teardown === "wait-exit") kill(inst);
    }, Math.max(0, left));
  }

  function markStarted(inst: Inst, ts: number): void {
    inst.ts = ts;
    starts[inst.i] = ts;
    booting++;
    options.onEvent?.({ type: "started", instance: inst.i });
    armTimeout(inst);
    if (sockDir) {
      inst.qmpAbort = new AbortController();
      inst.qmpDone = qmpStart(`${sockDir}/${inst.i}.sock`, {
        now,
        signal: inst.qmpAbort.signal,
      })
        .then((t) => {
          inst.vmmReady = t.vmmReady;
          inst.tK = t.tK;
        })
        .catch((e) => {
          inst.error ??= `QMP: ${(e as Error).message}`;
        });
    }
  }

  function spawnFailed(inst: Inst, ts: number, e: unknown): void {
    inst.ts = ts;
    starts[inst.i] = ts;
    booting++;
    inst.error = e instanceof Error ? e.message : String(e);
    endBoot(inst, "spawn_failed", ts);
    emit(inst);
  }

  function emit(inst: Inst): void {
    if (inst.emitted) return;
    inst.emitted = true;
    if (inst.ts === null && inst.outcome !== "spawn_failed") {
      return emitNotStarted(inst);
    }
    const ts = inst.ts ?? NaN;
    // The guest runs from the moment QEMU handles `cont`; its first byte can
    // reach us before the acknowledgement does: T_K is never after it.
    const tK = inst.tK !== null && inst.first !== null
      ? Math.min(inst.tK, inst.first)
      : inst.tK;
    const row: InstanceRow & Record<string, unknown> = {
      instance: inst.i,
      scheduled_ms: inst.scheduled,
      t_s_ms: inst.ts,
      first_output_ms: inst.first,
      ready_ms: inst.ready,
      exit_ms: inst.exit,
      boot_end_ms: inst.end,
      boot_ms: inst.ready !== null ? inst.ready - ts : null,
      first_output_boot_ms: inst.first !== null ? inst.first - ts : null,
      concurrency_at_start: inst.ts === null
        ? null
        : concurrencyAt(ts, starts, ends, inst.i),
      outcome: inst.outcome ?? "interrupted",
      exit_code: inst.code,
      signal: inst.signal,
      rss_peak_kib: inst.rss,
      pss_kib: inst.outcome === "ready" ? inst.pss : null,
      uss_kib: inst.outcome === "ready" ? inst.uss : null,
      cpu_ready_ms: inst.outcome === "ready" ? inst.cpu : null,
      output_bytes: inst.watch.bytes,
      pid: inst.proc?.pid ?? null,
      vmm_ready_ms: inst.vmmReady !== null && tK !== null
        ? Math.min(inst.vmmReady, tK)
        : inst.vmmReady,
      t_k_ms: tK,
      vmm_init_ms: tK !== null ? tK - ts : null,
      guest_boot_ms: tK !== null && inst.ready !== null
        ? inst.ready - tK
        : null,
      ...insnsColumns(inst, insns?.mem === true),
      error: inst.outcome === "ready"
        ? null
        : inst.error ?? inst.stderr.errorLine(),
    };
    if (options.readAnonMemory) row.anon_kib = inst.anonKib;
    for (const name of Object.keys(options.marks ?? {})) {
      row[`${name}_ms`] = inst.marks[name] ?? null;
    }
    rows.push(row);
    options.onRows?.([row]);
    inst.finish();
  }

  /**
   * The row of an instance the launcher stopped before starting it: every
   * nullable column null (no time, no RSS, no process), nothing printed.
   */
  function emitNotStarted(inst: Inst): void {
    const blank: Record<string, unknown> = {};
    for (const c of INSTANCE_COLUMNS) if (c.nullable) blank[c.name] = null;
    const row = {
      ...blank,
      instance: inst.i,
      scheduled_ms: inst.scheduled,
      outcome: "not_started",
      output_bytes: 0,
    } as InstanceRow & Record<string, unknown>;
    if (options.readAnonMemory) row.anon_kib = null;
    for (const name of Object.keys(options.marks ?? {})) {
      row[`${name}_ms`] = null;
    }
    rows.push(row);
    options.onRows?.([row]);
    inst.finish();
  }

  // Interruption: stop launching, end booting instances, reap everything.
  const onAbort = () => {
    interrupted = true;
    const t = now();
    for (const inst of insts) {
      if (inst.proc && inst.outcome === null && inst.ts !== null) {
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
  // Held until every child is reaped: if the launcher dies meanwhile, the
  // reaper kills them.
  const releaseReaper = await holdReaper();
  const noReaper = reaperWarning();
  const batch = newBatchTag();
  try {
    if (spawnMode === "prestart") {
      await runPrestarted();
    } else {
      t0 = options.t0At
        ? await sleepUntil(await options.t0At(), options.signal)
        : monotonicMs();
      for (const inst of insts) {
        if (interrupted) break;
        if (pattern.kind === "parallel") {
          while (booting >= pattern.parallelism && !interrupted) {
            await new Promise<void>((r) => (slotFree = r));
            slotFree = null;
          }
        } else if (inst.scheduled !== null) {
          const wait = inst.scheduled - now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        if (interrupted) break;
        const ts = now();
        try {
          const p = runner.spawn(argvOf(inst.i), {
            env: { ...batch.env, ...envOf(inst.i)?.env },
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
    // Whatever an instance left outside its process group goes too.
    await killTagged(batch.tag);
    await releaseReaper();
  }
  // Every instance gets a row: those never started say so.
  for (const inst of insts) {
    if (!inst.emitted) {
      inst.outcome ??= "not_started";
      emit(inst);
    }
  }
  if (sockDir) Deno.removeSync(sockDir, { recursive: true });
  const samplerStats = sampler ? await sampler.stop() : null;
  flushMemory();
  return {
    rows,
    t0,
    wallMs: now(),
    sampler: samplerStats,
    interrupted,
    spawnMode,
    releaseWarning,
    reaperWarning: noReaper,
  };

  async function runPrestarted(): Promise<void> {
    // The release worker first (a thread needs file descriptors too), then
    // fork every instance ahead of time, stopped; then T_0; then release
    // each on schedule from the worker, which takes T_s right before SIGCONT.
    const stopBuf = new SharedArrayBuffer(4);
    const worker = new Worker(
      new URL("./release_worker.ts", import.meta.url),
      { type: "module" },
    );
    type Msg = {
      i?: number;
      t_s?: number;
      error?: string | null;
      done?: boolean;
      loaded?: boolean;
      warning?: string | null;
    };
    const loaded = new Promise<Msg>((
      r,
    ) => (worker.onmessage = (ev: MessageEvent<Msg>) => r(ev.data)));
    const abort = () => {
      const f = new Int32Array(stopBuf);
      Atomics.store(f, 0, 1);
      Atomics.notify(f, 0);
    };
    options.signal?.addEventListener("abort", abort, { once: true });
    try {
      releaseWarning = (await loaded).warning ?? null;
      const budget = prestartBudget(sockDir !== null);
      const pids: number[] = [];
      const held: Inst[] = [];
      const failed: [Inst, unknown][] = [];
      for (const inst of insts) {
        if (interrupted) break;
        if (held.length >= budget.instances) {
          failed.push([inst, new Error(budget.message)]);
          continue;
        }
        try {
          const p = runner.prestart(argvOf(inst.i), {
            env: { ...batch.env, ...envOf(inst.i)?.env },
          });
          // The stopped starter shell joins the run's cgroup before its
          // release: QEMU (its exec) is charged there from its first page.
          if (options.cgroup) joinRunCgroup(options.cgroup, p.pid);
          inst.proc = p;
          pids.push(p.pid);
          held.push(inst);
          launched.push(inst);
          watchInstance(inst, p);
        } catch (e) {
          failed.push([inst, e]);
        }
        if (pids.length % 16 === 0) await yieldToLoop();
      }
      const waitStart = monotonicMs();
      for (const inst of held) {
        while (!isStopped(inst.proc!.pid) && !inst.exited && !interrupted) {
          if (monotonicMs() - waitStart > 30000) {
            throw new Error(
              `Cannot pre-start instance ${inst.i}: not stopped after 30 s`,
            );
          }
          await new Promise((r) => setTimeout(r, 1));
        }
      }
      t0 = options.t0At ? await options.t0At() : monotonicMs();
      for (const inst of insts) {
        if (inst.scheduled !== null) inst.scheduled += RELEASE_LEAD_MS;
      }
      for (const [inst, e] of failed) {
        launched.push(inst);
        spawnFailed(inst, inst.scheduled ?? 0, e);
      }
      await new Promise<void>((resolve) => {
        worker.onmessage = (ev: MessageEvent<Msg>) => {
          if (ev.data.done) return resolve();
          const inst = held[ev.data.i!];
          if (ev.data.error) inst.error = `release failed: ${ev.data.error}`;
          if (inst.outcome === null) {
            markStarted(inst, ev.data.t_s!);
            // Released just before the launcher was stopped.
            if (interrupted) {
              endBoot(inst, "interrupted", now());
              kill(inst);
            }
          }
        };
        worker.postMessage({
          t0,
          // Back-to-back: every deadline is the lead, released in order.
          deadlines: held.map((x) => x.scheduled ?? RELEASE_LEAD_MS),
          pids,
          stop: stopBuf,
        });
        if (interrupted) abort();
      });
      // Instances never released (interrupted): reap them.
      for (const inst of held) if (inst.ts === null) kill(inst);
    } finally {
      options.signal?.removeEventListener("abort", abort);
      worker.terminate();
      if (Number.isNaN(t0)) t0 = monotonicMs();
    }
  }
}

/** File descriptors a pre-started instance holds: stdout, stderr, pidfd. */
const FDS_PER_CHILD = 3;

/** Descriptors kept free for the launcher itself (files, /proc reads, threads). */
const FD_RESERVE = 12;

/**
 * How many instances can be held pre-started at once under the open-files
 * soft limit, keeping FD_RESERVE descriptors for the launcher itself (and one
 * more per instance for its QMP socket in phase mode).
 */
function prestartBudget(
  phases: boolean,
): { instances: number; message: string } {
  const lim = getOpenFilesLimit();
  if (lim === null) return { instances: Infinity, message: "" };
  let open = 0;
  try {
    for (const _ of Deno.readDirSync("/proc/self/fd")) open++;
  } catch {
    return { instances: Infinity, message: "" };
  }
  const per = FDS_PER_CHILD + (phases ? 1 : 0);
  const instances = Math.max(
    0,
    Math.floor((lim.soft - open - FD_RESERVE) / per),
  );
  return {
    instances,
    message:
      `Too many open files: the open-files limit (${lim.soft}) leaves room for ${instances} pre-started instances (${per} descriptors each); raise it (ulimit -n) or lower --count`,
  };
}

/**
 * The boot-work columns of one instance (all null without --insns). The
 * instruction counts are those at the stdout write that carried the byte
 * completing the first output / the ready match (the output shim's ring);
 * so are the class counts and the footprint (code pages are read at T_e).
 * Without a ring entry the counts at T_e stand in and `insns_ready_lag` is
 * null.
 */
function insnsColumns(
  inst: Pick<Inst, "insFirst" | "insReady" | "outFirst" | "outReady">,
  mem: boolean,
): Pick<
  InstanceRow,
  | "insns_first_output"
  | "insns_ready"
  | "insns_guest_ready"
  | "insns_before_guest"
  | "insns_io_ready"
  | "insns_system_ready"
  | "mem_accesses_ready"
  | "guest_code_pages_ready"
  | "guest_blocks_ready"
  | "guest_code_insns_ready"
  | "cr3_writes_ready"
  | "syscalls_ready"
  | "insns_ready_lag"
  | "insns_guest_addr_ready"
> {
  const { insFirst: first, insReady: ready, outFirst, outReady } = inst;
  return {
    insns_first_output: outFirst?.total ?? first?.total ?? null,
    insns_ready: ready ? outReady?.total ?? ready.total : null,
    insns_guest_ready: ready ? outReady?.guest ?? ready.guest : null,
    insns_before_guest: ready?.beforeGuest ?? first?.beforeGuest ?? null,
    insns_io_ready: ready ? outReady?.io ?? ready.io : null,
    insns_system_ready: ready ? outReady?.system ?? ready.system : null,
    mem_accesses_ready: ready && mem ? outReady?.mem ?? ready.mem : null,
    guest_code_pages_ready: ready?.codePages ?? null,
    guest_blocks_ready: ready ? outReady?.blocks ?? ready.blocks : null,
    guest_code_insns_ready: ready
      ? outReady?.blockInsns ?? ready.blockInsns
      : null,
    cr3_writes_ready: ready ? outReady?.cr3Writes ?? ready.cr3Writes : null,
    syscalls_ready: ready ? outReady?.syscalls ?? ready.syscalls : null,
    insns_ready_lag: ready && outReady
      ? Math.max(0, ready.total - outReady.total)
      : null,
    insns_guest_addr_ready: ready?.guestAddr ?? null,
  };
}

/** Bytes of stderr kept from its start and from its end. */
const STDERR_KEEP = 2048;

/** Longest line kept in the `error` column. */
const ERROR_LINE_MAX = 240;

/**
 * An instance's stderr, bounded: its first and its last 2 KiB (the line
 * naming the problem usually comes first, the last one often ends a
 * multi-line message).
 */
export class StderrKeep {
  #dec = new TextDecoder();
  #head = "";
  #tail = "";
  #cut = false;

  /** Add bytes as they arrive. */
  push(chunk: Uint8Array): void {
    let text = this.#dec.decode(chunk, { stream: true });
    if (this.#head.length < STDERR_KEEP) {
      const room = STDERR_KEEP - this.#head.length;
      this.#head += text.slice(0, room);
      text = text.slice(room);
    }
    if (text === "") return;
    this.#tail += text;
    if (this.#tail.length > STDERR_KEEP) {
      this.#tail = this.#tail.slice(-STDERR_KEEP);
      this.#cut = true;
    }
  }

  /** Everything kept (head, `…` where bytes were dropped, tail). */
  text(): string {
    return this.#head + (this.#cut ? "\n…\n" : "") + this.#tail;
  }

  /**
   * The error line: the first line that is not a warning (else the first)
   * and, when different, ` … ` and the last line; each line cut to 240
   * characters. Null when nothing was printed.
   *
   * @example
   * ```ts
   * import { StderrKeep } from "./launch.ts";
   * const s = new StderrKeep();
   * s.push(new TextEncoder().encode("qemu: -m 50X: bad size\nOptional suffix…\nand exabytes, respectively.\n"));
   * console.log(s.errorLine()); // "qemu: -m 50X: bad size … and exabytes, respectively."
   * ```
   */
  errorLine(): string | null {
    const lines = this.text().split(/\r?\n/).map((l) => l.trim()).filter((l) =>
      l !== "" && l !== "…"
    );
    if (lines.length === 0) return null;
    const cut = (l: string) =>
      l.length > ERROR_LINE_MAX ? l.slice(0, ERROR_LINE_MAX - 1) + "…" : l;
    const first = lines.find((l) => !/\bwarning\b/i.test(l)) ?? lines[0];
    const last = lines[lines.length - 1];
    return first === last ? cut(first) : `${cut(first)} … ${cut(last)}`;
  }
}
