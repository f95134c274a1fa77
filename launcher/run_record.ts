/**
 * The run record (`run.json`): host, accelerator, QEMU, image, argv, pattern,
 * toolkit and sampler facts. Gathering is I/O; assembling is plain data.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpus, hostname, release, totalmem } from "node:os";
import type { MemorySourceStats } from "./sampler/memory_source.ts";
import type { InsnsPluginInfo } from "./insns/build.ts";
import { ownerEnv } from "./reaper.ts";
import type { ProfileClass, ReadyRule, Teardown } from "./profile.ts";

/** `status` of a run: see {@link RunRecord}. */
export type RunStatus = "partial" | "complete" | "failed";

/** Host facts of a run record. */
export interface HostRecord {
  cpu_model: string | null;
  cores: number;
  mem_total_kib: number;
  kernel: string;
  hostname: string;
}

/** Instance counts of a finished run, by outcome group. */
export interface RunTotals {
  /** Outcome `ready`. */
  ready: number;
  /** Outcomes `timeout`, `exited_before_ready`, `spawn_failed`. */
  failed: number;
  /** Outcome `interrupted` (started, stopped by the launcher first). */
  interrupted: number;
  /** Outcome `not_started` (never started). */
  not_started: number;
}

/** Why a run measured nothing (`status: "failed"`). */
export interface RunFailure {
  /** One line: the most common outcome and its first error line. */
  reason: string;
  /** The most common outcome among the instances. */
  outcome: string;
  /** How many instances had it. */
  count: number;
  /** The first error of an instance with that outcome, or null. */
  first_error: string | null;
}

/** The launcher's own cost over a batch (see README, "launcher cost"). */
export interface LauncherCost {
  /**
   * CPU time of every thread of the launcher (main, workers, runtime),
   * children excluded, from CLOCK_PROCESS_CPUTIME_ID: exact (ns).
   */
  cpu_ms: number | null;
  /** The kernel's user part of cpu_ms (getrusage): sampled by timer ticks, see README. */
  cpu_user_ms: number | null;
  /** The kernel's system part of cpu_ms (getrusage): sampled by timer ticks. */
  cpu_system_ms: number | null;
  /** cpu_ms / wall time of the batch. */
  cpu_share_of_one_core: number | null;
  /** VmHWM of the launcher, KiB. */
  peak_rss_kib: number | null;
}

/** How the per-instance timeout was chosen. */
export interface TimeoutChoice {
  ms: number;
  /** `flag` (--timeout), `profile` (its timeoutMs), `estimate` (3 × the batch's estimated duration). */
  source: "flag" | "profile" | "estimate";
  /** One line saying why. */
  reason: string;
}

/**
 * `run.json`: the run record, as this version of the launcher writes it
 * (the loader reads it back as {@link ReadRunRecord}). `status` is
 * `partial` while the run goes and when it was interrupted or could not be
 * written completely, `failed` when it finished but no instance became
 * ready (`failure` says why), `complete` otherwise.
 */
export interface RunRecord {
  schema_version: number;
  run_id: string;
  status: RunStatus;
  started_at: string;
  finished_at: string | null;
  host: HostRecord;
  accelerator: {
    kind: "kvm" | "tcg" | null;
    reason: string;
    probe: { kvm_ms: number | null; tcg_ms: number | null } | null;
  };
  qemu: { path: string; version: string | null } | null;
  profile: { name: string; class: ProfileClass | null; path: string | null };
  image: {
    path: string;
    sha256: string;
    bytes: number;
    extra_files: { path: string; sha256: string; bytes: number }[];
  } | null;
  argv: string[];
  params: Record<string, string>;
  pattern: { kind: string; interval_ms?: number; parallelism?: number };
  count: number;
  timeout_ms: number;
  /** How timeout_ms was chosen (since the timeout follows the batch's estimate). */
  timeout?: TimeoutChoice;
  teardown: Teardown;
  ready: ReadyRule;
  marks: Record<string, string>;
  spawn_mode: "direct" | "prestart" | null;
  phases: boolean;
  clock: string;
  toolkit: { version: string | null; git_commit: string | null };
  deno: { version: string };
  memory_sampler: MemorySourceStats | null;
  /** The run's memory cgroup (`run_used_kib`), or why there was none. */
  memory_cgroup?: {
    path: string | null;
    version: "v1" | "v2" | null;
    why_not: string | null;
  };
  /** Boot work (--insns): the plugin, its self-test and the firmware split; null without. */
  insns?: {
    plugin: InsnsPluginInfo;
    self_test_minkernel_microvm: { total: number; guest: number } | null;
    mem_accesses: boolean;
    entry: number | null;
    entry_rule: string | null;
    firmware: string;
  } | null;
  /** A merged multi-host storm (slurm/merge.ts): per-host records and start skew. */
  multi_host?: Record<string, unknown>;
  release_thread?: { realtime: boolean; warning: string | null } | null;
  /** Why no reaper guarded the instances (then they could outlive a killed launcher), or null. */
  reaper_warning?: string | null;
  wall_ms?: number;
  launcher?: LauncherCost;
  totals: RunTotals | null;
  failure?: RunFailure | null;
  /** Set when the run could not be finalised (e.g. the disk filled up). */
  error?: string;
  /** The sweep cell this run belongs to, when run by a sweep. */
  sweep?: { sweep_id: string; cell: string; experiment: string | null };
}

/** Nested objects of a read record may lack fields (older versions, other tools). */
type Loose<T> = T extends readonly unknown[] ? T
  : T extends object ? { [K in keyof T]?: T[K] | null }
  : T;

/**
 * A run record as read back from `run.json` (any version the analysis
 * reads, possibly written by another tool): `schema_version`, `run_id` and
 * `count` are checked by the loader; every other field of {@link RunRecord}
 * may be absent; unknown keys are kept.
 */
export type ReadRunRecord =
  & Pick<RunRecord, "schema_version" | "run_id" | "count">
  & {
    [K in Exclude<keyof RunRecord, "schema_version" | "run_id" | "count">]?:
      | Loose<RunRecord[K]>
      | null;
  }
  & { [key: string]: unknown };

/**
 * Hex sha256 of bytes.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./run_record.ts";
 * console.log((await sha256Hex(new Uint8Array())).slice(0, 8)); // "e3b0c442"
 * ```
 */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    data as Uint8Array<ArrayBuffer>,
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** Hex sha256 of a file. */
export async function sha256File(path: string): Promise<string> {
  return await sha256Hex(await Deno.readFile(path));
}

/** Host facts for the record. */
export function hostInfo(): HostRecord {
  return {
    cpu_model: cpus()[0]?.model ?? null,
    cores: navigator.hardwareConcurrency,
    mem_total_kib: Math.round(totalmem() / 1024),
    kernel: release(),
    hostname: hostname(),
  };
}

/** `{path, version}` of a QEMU binary, or null when argv is not QEMU. */
export async function qemuInfo(
  argv0: string,
  resolved: string | null,
): Promise<RunRecord["qemu"]> {
  if (!basename(argv0).startsWith("qemu-system") || resolved === null) {
    return null;
  }
  try {
    const out = await new Deno.Command(resolved, {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
      env: ownerEnv(),
    }).output();
    const first = new TextDecoder().decode(out.stdout).split("\n")[0];
    return {
      path: resolved,
      version: first.replace(/^QEMU emulator version /, ""),
    };
  } catch {
    return { path: resolved, version: null };
  }
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Toolkit version (deno.json) and git commit (null outside a checkout). */
export async function toolkitInfo(): Promise<RunRecord["toolkit"]> {
  let version: string | null = null;
  try {
    version =
      JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).version ??
        null;
  } catch {
    // not shipped
  }
  let commit: string | null = null;
  try {
    const out = await new Deno.Command("git", {
      args: ["-C", ROOT, "rev-parse", "HEAD"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (out.success) commit = new TextDecoder().decode(out.stdout).trim();
  } catch {
    // no git
  }
  return { version, git_commit: commit };
}

/**
 * A run id: UTC time plus a random suffix, sortable.
 *
 * @example
 * ```ts
 * import { newRunId } from "./run_record.ts";
 * console.log(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/.test(newRunId())); // true
 * ```
 */
export function newRunId(date: Date = new Date()): string {
  const iso = date.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const rnd = crypto.getRandomValues(new Uint8Array(3));
  return `${iso}-${
    [...rnd].map((b) => b.toString(16).padStart(2, "0")).join("")
  }`;
}
