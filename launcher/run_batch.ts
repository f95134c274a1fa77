/**
 * One batch, end to end: checks (image, binary), accelerator, run record,
 * launch, dataset appended as instances complete, finalised on every path.
 *
 * @module
 */
import { resolve } from "node:path";
import process from "node:process";
import { type Accelerator, chooseAccelerator } from "./accel.ts";
import { clockIsHostMonotonic, clockSource, processCpuMs } from "./clock.ts";
import { assertOutDir, DatasetWriter } from "../dataset/writer.ts";
import { launch, type LaunchEvent, type LaunchResult } from "./launch.ts";
import { type Pattern, patternRecord, type SpawnMode } from "./pattern.ts";
import {
  assertImagePresent,
  expandArgv,
  type Profile,
  ProfileError,
  resolveParams,
} from "./profile.ts";
import { hostInfo, newRunId, qemuInfo, toolkitInfo } from "./run_record.ts";
import type {
  LauncherCost,
  RunFailure,
  RunRecord,
  RunTotals,
  TimeoutChoice,
} from "../dataset/run_record.ts";
import { sha256File } from "../dataset/checksum.ts";
import { which } from "./runner.ts";
import type { ProcessRunner } from "./runner.ts";
import {
  type ColumnSpec,
  FAILED_OUTCOMES,
  INSTANCE_COLUMNS,
  type InstanceRow,
  SCHEMA_VERSION,
} from "../dataset/schema.ts";
import {
  ensureInsnsPlugin,
  InsnsError,
  type InsnsPluginInfo,
  InsnsSlots,
  selfTestPlugin,
} from "./insns/mod.ts";
import { guestEntry } from "./insns/entry.ts";
import type { MemorySourceKind } from "./sampler/memory_source.ts";
import { createRunCgroup, removeRunCgroup } from "./sampler/run_cgroup.ts";

/** Options of one batch. */
export interface BatchOptions {
  /** N: instances. */
  count: number;
  /** Launch pattern. */
  pattern: Pattern;
  /** Parent folder of the run folder (default `data/runs`). */
  outDir?: string;
  /** Accelerator: auto (default), kvm, tcg, or one already chosen. */
  accel?: "auto" | "kvm" | "tcg" | Accelerator;
  /** Profile parameters. */
  params?: Record<string, string>;
  /** Per-instance timeout (default: the profile's). */
  timeoutMs?: number;
  /** How `timeoutMs` was chosen, for run.json (default: flag or profile). */
  timeoutReason?: Omit<TimeoutChoice, "ms">;
  /** SIGTERM → SIGKILL grace, ms (default: 0 for kill-after-ready, else 1000; `launch()`). */
  graceMs?: number;
  /** `prestart` or `direct` (default: the pattern's). */
  spawnMode?: SpawnMode;
  /** Memory sampling interval, ms (default 0.5; 0 = no sampling). */
  sampleIntervalMs?: number;
  /** Stops the batch cleanly (the dataset is finalised as partial). */
  signal?: AbortSignal;
  /** The process runner (default the real one). */
  runner?: ProcessRunner;
  /** Called on each instance's start and end. */
  onEvent?: (ev: LaunchEvent) => void;
  /** Read each instance's anonymous memory at ready (probes). */
  readAnonMemory?: boolean;
  /** Phase mode: start paused with a QMP socket per instance (QEMU only). */
  phases?: boolean;
  /**
   * Boot work (QEMU under TCG only): load the boot-work plugin into every
   * instance and record the `insns_*` columns. `{ mem: true }` also counts
   * memory accesses (slower).
   */
  insns?: boolean | { mem?: boolean };
  /** Memory source (default `c-sampler` with a per-run cgroup; `worker`: the Deno worker on /proc/meminfo). */
  memorySource?: MemorySourceKind;
  /** C sampler quiet-mode step, KiB (see LaunchOptions.memoryQuietStepKib; 0: rate mode). */
  memoryQuietStepKib?: number;
  /** An agreed start instant for T_0 (see LaunchOptions.t0At). */
  t0At?: () => Promise<number>;
  /** Extra fields for run.json (the sweep cell, a multi-host storm). */
  extra?: Pick<RunRecord, "sweep" | "multi_host">;
}

/** What a batch produced. */
export interface BatchResult {
  /** The run folder written. */
  runDir: string;
  /** Its run.json. */
  record: RunRecord;
  /** What launch() returned. */
  result: LaunchResult;
}

/**
 * How often rows reach the dataset files during a batch, ms: a crash (the
 * launcher SIGKILLed) loses at most this much of what was measured. Each
 * flush appends an Arrow record batch and CSV lines to both tables, and its
 * cost is mostly per batch (apache-arrow encodes the 38 instance columns one
 * by one, whatever the number of rows): measured on the launcher's main
 * thread with /proc/thread-self/schedstat, 256 back-to-back minkernels
 * (`bench/launcher_cpu.ts`), flushing every 100 ms cost 116-180 ms of its
 * 720-900 ms CPU from T_0; every 500 ms, 30-81 ms (five runs).
 */
export const FLUSH_EVERY_MS = 500;

/** The Debian package that provides a command, for error messages. */
function packageHint(cmd: string): string {
  if (cmd.startsWith("qemu-system-x86")) {
    return "apt-get install qemu-system-x86";
  }
  return "install it or fix the profile's argv[0]";
}

/**
 * The launcher's own CPU time and peak RSS over a batch (CPU and wall from
 * the same start). `cpu_ms` is exact (CLOCK_PROCESS_CPUTIME_ID, every
 * thread); the user / system split comes from getrusage, whose parts the
 * kernel derives from timer-tick samples and keeps monotonic one by one:
 * over a 1-2 s storm one part may not move at all (measured: user 0 ms in 4
 * of 30 back-to-back 64-storms under load, the whole CPU in system), so
 * only their sum means something per batch.
 */
function launcherCost(
  cpu0: { user: number; system: number },
  total0: number | null,
  wallMs: number,
): LauncherCost {
  const total1 = processCpuMs();
  const cpu = process.cpuUsage(cpu0);
  let peak: number | null = null;
  try {
    const m = /VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"));
    peak = m ? Number(m[1]) : null;
  } catch {
    // not Linux
  }
  const cpuMs = total0 !== null && total1 !== null
    ? total1 - total0
    : (cpu.user + cpu.system) / 1000;
  return {
    cpu_ms: cpuMs,
    cpu_user_ms: cpu.user / 1000,
    cpu_system_ms: cpu.system / 1000,
    cpu_share_of_one_core: wallMs > 0 ? cpuMs / wallMs : null,
    peak_rss_kib: peak,
  };
}

/**
 * Instance counts by outcome group (see {@link RunTotals}).
 *
 * @example
 * ```ts
 * import { runTotals } from "./run_batch.ts";
 * console.log(runTotals([{ outcome: "ready" }, { outcome: "not_started" }]));
 * // { ready: 1, failed: 0, interrupted: 0, not_started: 1 }
 * ```
 */
export function runTotals(
  rows: readonly Pick<InstanceRow, "outcome">[],
): RunTotals {
  const t = { ready: 0, failed: 0, interrupted: 0, not_started: 0 };
  for (const r of rows) {
    if (r.outcome === "ready") t.ready++;
    else if (r.outcome === "interrupted") t.interrupted++;
    else if (r.outcome === "not_started") t.not_started++;
    else t.failed++;
  }
  return t;
}

/**
 * Why a run in which no instance became ready measured nothing: its most
 * common failure outcome (`timeout`, `exited_before_ready`,
 * `spawn_failed`; else any), how many had it and the first error line of
 * one of them. Null when some instance was ready or none was started.
 *
 * @example
 * ```ts
 * import { runFailure } from "./run_batch.ts";
 * const f = runFailure("m", [{ outcome: "exited_before_ready", error: "qemu: no BIOS" }]);
 * console.log(f?.reason); // 'Cannot boot "m": no instance became ready (1 of 1 exited_before_ready: qemu: no BIOS)'
 * ```
 */
export function runFailure(
  name: string,
  rows: readonly Pick<InstanceRow, "outcome" | "error">[],
): RunFailure | null {
  if (rows.length === 0 || rows.some((r) => r.outcome === "ready")) {
    return null;
  }
  const failed = rows.filter((r) => FAILED_OUTCOMES.includes(r.outcome));
  const pool = failed.length ? failed : rows;
  const counts = new Map<string, number>();
  for (const r of pool) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
  const [outcome, count] = [...counts].sort((a, b) => b[1] - a[1])[0];
  const firstError = pool.find((r) => r.outcome === outcome && r.error)
    ?.error ?? null;
  return {
    reason:
      `Cannot boot "${name}": no instance became ready (${count} of ${rows.length} ${outcome}${
        firstError ? `: ${firstError}` : ""
      })`,
    outcome,
    count,
    first_error: firstError,
  };
}

async function extraFiles(
  argv: string[],
  image: string,
): Promise<{ path: string; sha256: string; bytes: number }[]> {
  // Files the argv names besides the image: whole arguments (an initrd) and
  // `file=`/`initrd=` values of QEMU options (a disk next to a kernel).
  const paths = new Set<string>();
  for (const a of argv) {
    paths.add(a);
    for (const part of a.split(",")) {
      const m = /^(?:file|initrd|kernel)=(.+)$/.exec(part);
      if (m) paths.add(m[1]);
    }
  }
  paths.delete(image);
  const out = [];
  for (const a of paths) {
    if (!a.startsWith("/")) continue;
    try {
      const st = await Deno.stat(a);
      if (st.isFile) {
        out.push({ path: a, sha256: await sha256File(a), bytes: st.size });
      }
    } catch {
      // not a file
    }
  }
  return out;
}

/** Instance columns for a profile: the base schema plus `<mark>_ms`. */
export function instanceColumnsFor(profile: Profile): ColumnSpec[] {
  return [
    ...INSTANCE_COLUMNS,
    ...Object.keys(profile.marks).map((name): ColumnSpec => ({
      name: `${name}_ms`,
      type: "float64",
      nullable: true,
      doc: `When the mark "${name}" first matched a stdout line, ms after T_0.`,
    })),
  ];
}

/**
 * Run one batch and write its run folder; returns the folder and record.
 *
 * @example
 * ```ts ignore
 * const p = await loadProfile("minkernel-microvm");
 * const { runDir } = await runBatch(p, { count: 4, pattern: { kind: "back-to-back" }, accel: "tcg" });
 * ```
 */
export async function runBatch(
  profile: Profile,
  options: BatchOptions,
): Promise<BatchResult> {
  await assertImagePresent(profile);
  const params = resolveParams(profile, options.params ?? {});
  const argv0 = profile.argv[0];
  const resolved = which(argv0);
  if (resolved === null) {
    throw new ProfileError(
      `Cannot boot "${profile.name}": binary "${argv0}" not found (profile ${
        profile.path || "<inline>"
      }, argv[0]); ${packageHint(argv0)}`,
    );
  }
  const usesAccel = profile.argv.includes("${accel}");
  if (options.phases && !argv0.includes("qemu-system")) {
    throw new ProfileError(
      `Cannot use --phases with "${profile.name}": phase mode needs a QEMU profile (argv[0] is "${argv0}")`,
    );
  }
  if (options.insns && !argv0.includes("qemu-system")) {
    throw new ProfileError(
      `Cannot use --insns with "${profile.name}": boot work is counted by a QEMU TCG plugin, and argv[0] is "${argv0}"`,
    );
  }
  const minkernel = resolve(
    new URL("../build/minkernel/minkernel.elf", import.meta.url).pathname,
  );
  const wantAccel = typeof options.accel === "object"
    ? options.accel.kind
    : options.accel ?? "auto";
  if (options.insns && wantAccel === "kvm") {
    throw new InsnsError(
      `Cannot use --insns with KVM: TCG plugins see guest instructions only when QEMU translates them (TCG); run with --accel tcg (or auto, which then picks TCG)`,
    );
  }
  const accel: Accelerator = typeof options.accel === "object"
    ? options.accel
    : options.insns && usesAccel
    ? {
      ...(await chooseAccelerator("tcg")),
      reason: "--insns counts instructions with a TCG plugin: TCG",
    }
    : usesAccel
    ? await chooseAccelerator(options.accel ?? "auto", {
      qemu: resolved,
      kernel: minkernel,
    })
    : {
      kind: "tcg",
      args: [],
      reason: "profile does not use ${accel}",
      probe: null,
    };
  const argv = expandArgv(profile, { accel: accel.args, params });
  let plugin: InsnsPluginInfo | null = null;
  let selfTest = null;
  if (options.insns) {
    plugin = await ensureInsnsPlugin({ qemu: resolved });
    selfTest = await selfTestPlugin(resolved, plugin.path, {
      kernel: minkernel,
      api: plugin.plugin_api_version,
      headerFrom: plugin.header_from,
    });
  }
  const entry = plugin ? await guestEntry(argv) : null;
  const insnsMem = typeof options.insns === "object"
    ? options.insns.mem === true
    : false;
  const runId = newRunId();
  const outDir = options.outDir ?? "data/runs";
  assertOutDir(outDir, "run folders");
  const runDir = resolve(outDir, runId);
  const timeoutMs = options.timeoutMs ?? profile.timeoutMs;
  const record: RunRecord = {
    schema_version: SCHEMA_VERSION,
    run_id: runId,
    status: "partial",
    started_at: new Date().toISOString(),
    finished_at: null,
    host: hostInfo(),
    accelerator: {
      kind: usesAccel ? accel.kind : null,
      reason: accel.reason,
      probe: accel.probe,
    },
    qemu: await qemuInfo(argv0, resolved),
    profile: {
      name: profile.name,
      class: profile.class,
      path: profile.path || null,
    },
    image: profile.image
      ? {
        path: profile.image,
        sha256: await sha256File(profile.image),
        bytes: (await Deno.stat(profile.image)).size,
        // Other files the argv names next to the image (e.g. an initrd).
        extra_files: await extraFiles(argv, profile.image),
      }
      : null,
    argv,
    params,
    pattern: patternRecord(options.pattern),
    count: options.count,
    timeout_ms: timeoutMs,
    timeout: {
      ms: timeoutMs,
      ...(options.timeoutReason ??
        (options.timeoutMs !== undefined
          ? { source: "flag", reason: `--timeout ${options.timeoutMs}` }
          : { source: "profile", reason: `the profile's timeoutMs` })),
    },
    teardown: profile.teardown,
    ready: profile.ready,
    marks: profile.marks,
    spawn_mode: null,
    phases: options.phases ?? false,
    insns: plugin
      ? {
        plugin,
        self_test_minkernel_microvm: selfTest,
        mem_accesses: insnsMem,
        entry: entry?.entry ?? null,
        entry_rule: entry?.rule ?? null,
        firmware:
          "before the hand-over (first execution of entry): all; after it: 0xc0000 <= vaddr < 0x100000 and 0xfffc0000 <= vaddr < 0x100000000 (BIOS area and alias). Address rule (insns_guest_addr_ready, and insns_guest_ready when entry is null): vaddr < 0x100000 or in the alias",
      }
      : null,
    clock: clockSource,
    toolkit: await toolkitInfo(),
    deno: { version: Deno.version.deno },
    memory_sampler: null,
    totals: null,
    ...options.extra,
  };
  const writer = DatasetWriter.create(runDir, record, {
    instanceColumns: instanceColumnsFor(profile),
  });
  // A write error (disk full, a row breaking the contract) stops the batch:
  // no more launches, all reaped.
  const inner = new AbortController();
  let writeError: unknown = null;
  const onOuterAbort = () => inner.abort();
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  if (options.signal?.aborted) inner.abort();
  const guarded = (f: () => void) => {
    if (writeError) return;
    try {
      f();
    } catch (e) {
      writeError = e;
      inner.abort();
    }
  };
  const timer = setInterval(
    () => guarded(() => writer.flush()),
    FLUSH_EVERY_MS,
  );
  const slots = plugin ? InsnsSlots.create(options.count) : null;
  // The run's own memory: a cgroup every instance joins (when sampling).
  const sampling = (options.sampleIntervalMs ?? 0.5) > 0;
  const cg = sampling && (options.memorySource ?? "c-sampler") === "c-sampler"
    ? createRunCgroup(runId)
    : sampling
    ? "memory source is the worker: whole-system memory only"
    : "memory sampling is off";
  record.memory_cgroup = typeof cg === "string"
    ? { path: null, version: null, why_not: cg }
    : { path: cg.dir, version: cg.version, why_not: null };
  const cpu0 = process.cpuUsage();
  const total0 = processCpuMs();
  const wall0 = performance.now();
  let result: LaunchResult;
  try {
    result = await launch(profile, {
      count: options.count,
      pattern: options.pattern,
      argv,
      timeoutMs,
      graceMs: options.graceMs,
      spawnMode: options.spawnMode,
      sampleIntervalMs: options.sampleIntervalMs,
      memorySource: options.memorySource,
      memoryQuietStepKib: options.memoryQuietStepKib,
      cgroup: typeof cg === "string" ? null : cg,
      runner: options.runner,
      phases: options.phases,
      insns: plugin && slots
        ? {
          plugin: plugin.path,
          shim: plugin.shim_path,
          slots,
          mem: insnsMem,
          entry: entry?.entry,
        }
        : undefined,
      readAnonMemory: options.readAnonMemory,
      t0At: options.t0At,
      signal: inner.signal,
      onRows: (rows) => guarded(() => writer.pushInstances(rows)),
      onMemory: (rows) => guarded(() => writer.pushMemory(rows)),
      onEvent: options.onEvent,
      marks: Object.fromEntries(
        Object.entries(profile.marks).map(([k, v]) => [k, new RegExp(v)]),
      ),
    });
  } finally {
    clearInterval(timer);
    slots?.close();
    if (typeof cg !== "string") removeRunCgroup(cg);
    options.signal?.removeEventListener("abort", onOuterAbort);
  }
  const failure = result.interrupted ? null : runFailure(
    profile.name,
    result.rows,
  );
  Object.assign(
    record,
    {
      status: result.interrupted || writeError
        ? "partial"
        : failure
        ? "failed"
        : "complete",
      finished_at: new Date().toISOString(),
      spawn_mode: result.spawnMode,
      spawn_fallback: result.spawnFallback,
      // prestart: the release thread; fork: the spawn helper, which waits
      // for deadlines ahead at SCHED_FIFO (and forks at normal priority).
      release_thread: result.spawnMode !== "direct"
        ? {
          realtime: result.releaseWarning === null,
          warning: result.releaseWarning,
        }
        : null,
      main_thread: result.spawnMode !== "direct" ? result.mainThread : null,
      memory_sampler: result.sampler,
      reaper_warning: result.reaperWarning,
      wall_ms: result.wallMs,
      steal_ms_while_booting: result.stealMsWhileBooting,
      t0_monotonic_ms: clockIsHostMonotonic && Number.isFinite(result.t0)
        ? result.t0
        : null,
      launcher: {
        ...launcherCost(cpu0, total0, performance.now() - wall0),
        cpu_ms_from_t0: result.cpuFromT0Ms,
        cpu_share_from_t0: result.cpuShareFromT0,
        cpu_ms_while_booting: result.cpuWhileBootingMs,
        cpu_share_while_booting: result.cpuShareWhileBooting,
        spawn_helper_cpu_ms: result.helperCpuMs,
      },
      totals: runTotals(result.rows),
      failure,
    } satisfies Partial<RunRecord>,
  );
  if (writeError) {
    try {
      writer.finalise(record);
    } catch {
      // the disk is still full; the rows already written stay readable
    }
    throw writeError;
  }
  writer.finalise(record);
  return { runDir, record, result };
}
