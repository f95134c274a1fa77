/**
 * One batch, end to end: checks (image, binary), accelerator, run record,
 * launch, dataset appended as instances complete, finalised on every path.
 *
 * @module
 */
import { resolve } from "node:path";
import process from "node:process";
import { type Accelerator, chooseAccelerator } from "./accel.ts";
import { clockSource } from "./clock.ts";
import { DatasetWriter } from "./dataset_writer.ts";
import { launch, type LaunchEvent, type LaunchResult } from "./launch.ts";
import { type Pattern, patternRecord } from "./pattern.ts";
import {
  assertImagePresent,
  expandArgv,
  type Profile,
  ProfileError,
  resolveParams,
} from "./profile.ts";
import {
  hostInfo,
  newRunId,
  qemuInfo,
  sha256File,
  toolkitInfo,
} from "./run_record.ts";
import { which } from "./runner.ts";
import type { ProcessRunner } from "./runner.ts";
import { type ColumnSpec, INSTANCE_COLUMNS, SCHEMA_VERSION } from "./schema.ts";
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
  count: number;
  pattern: Pattern;
  /** Parent folder of the run folder (default `data/runs`). */
  outDir?: string;
  accel?: "auto" | "kvm" | "tcg" | Accelerator;
  params?: Record<string, string>;
  timeoutMs?: number;
  graceMs?: number;
  spawnMode?: "direct" | "prestart";
  sampleIntervalMs?: number;
  signal?: AbortSignal;
  runner?: ProcessRunner;
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
  /** An agreed start instant for T_0 (see LaunchOptions.t0At). */
  t0At?: () => Promise<number>;
  /** Extra fields for run.json (e.g. the sweep cell). */
  extra?: Record<string, unknown>;
}

/** What a batch produced. */
export interface BatchResult {
  runDir: string;
  record: Record<string, unknown>;
  result: LaunchResult;
}

/** The Debian package that provides a command, for error messages. */
function packageHint(cmd: string): string {
  if (cmd.startsWith("qemu-system-x86")) {
    return "apt-get install qemu-system-x86";
  }
  return "install it or fix the profile's argv[0]";
}

/** The launcher's own CPU time and peak RSS over a batch (CPU and wall from the same start). */
function launcherCost(
  cpu0: { user: number; system: number },
  wallMs: number,
): Record<string, number | null> {
  const cpu = process.cpuUsage(cpu0);
  let peak: number | null = null;
  try {
    const m = /VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"));
    peak = m ? Number(m[1]) : null;
  } catch {
    // not Linux
  }
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    cpu_user_ms: cpu.user / 1000,
    cpu_system_ms: cpu.system / 1000,
    cpu_share_of_one_core: wallMs > 0 ? cpuMs / wallMs : null,
    peak_rss_kib: peak,
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
  const runDir = resolve(options.outDir ?? "data/runs", runId);
  const timeoutMs = options.timeoutMs ?? profile.timeoutMs;
  const record: Record<string, unknown> = {
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
  // A write error (disk full) stops the batch: no more launches, all reaped.
  const inner = new AbortController();
  let writeError: unknown = null;
  const onOuterAbort = () => inner.abort();
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  if (options.signal?.aborted) inner.abort();
  const flush = () => {
    if (writeError) return;
    try {
      writer.flush();
    } catch (e) {
      writeError = e;
      inner.abort();
    }
  };
  const timer = setInterval(flush, 100);
  const slots = plugin ? InsnsSlots.create(options.count) : null;
  // The run's own memory: a cgroup every instance joins (when sampling).
  const sampling = (options.sampleIntervalMs ?? 0.5) > 0;
  const cg = sampling && (options.memorySource ?? "c-sampler") === "c-sampler"
    ? createRunCgroup(runId)
    : "memory source is the worker: whole-system memory only";
  record.memory_cgroup = typeof cg === "string"
    ? { path: null, version: null, why_not: cg }
    : { path: cg.dir, version: cg.version, why_not: null };
  const cpu0 = process.cpuUsage();
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
      onRows: (rows) => writer.pushInstances(rows),
      onMemory: (rows) => writer.pushMemory(rows),
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
  const ready = result.rows.filter((r) => r.outcome === "ready").length;
  Object.assign(record, {
    status: result.interrupted || writeError ? "partial" : "complete",
    finished_at: new Date().toISOString(),
    spawn_mode: result.spawnMode,
    release_thread: result.spawnMode === "prestart"
      ? {
        realtime: result.releaseWarning === null,
        warning: result.releaseWarning,
      }
      : null,
    memory_sampler: result.sampler,
    wall_ms: result.wallMs,
    launcher: launcherCost(cpu0, performance.now() - wall0),
    totals: { ready, failed: result.rows.length - ready },
  });
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
