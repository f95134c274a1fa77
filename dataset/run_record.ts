/**
 * `run.json`, the run record: its one type, written by the launcher
 * ({@link RunRecord}) and read back by the analysis ({@link ReadRunRecord}),
 * and `fromRunJson`, its checked parser. Part of the dataset contract:
 * imports nothing of the project.
 *
 * @module
 */

/** A profile's class (`baseline`, `libos`, `linux`). */
export type ProfileClassName = "baseline" | "libos" | "linux";

/** A profile's ready rule as recorded. */
export type ReadyRuleRecord =
  | { firstOutput: true }
  | { line: string }
  | { exit: true };

/** What happens to an instance after it is ready. */
export type TeardownName =
  | "kill-after-ready"
  | "wait-exit"
  | "hold-until-all-ready";

/** What the memory sampler achieved (run.json `memory_sampler`). */
export interface MemorySamplerRecord {
  /** `c-sampler` (the C sampler process) or `worker` (a Deno worker on /proc/meminfo). */
  source: "c-sampler" | "worker";
  /** Samples per second asked for (1000 / interval). */
  target_hz: number;
  /** Samples per second achieved between the first and the last sample (quiet mode: while on the rate). */
  achieved_hz: number;
  /** Samples taken. */
  samples: number;
  /** Longest time between two consecutive samples on the rate, ms (quiet waits are not gaps). */
  worst_gap_ms: number | null;
  /** Whether the sampler ran at SCHED_FIFO. */
  realtime: boolean;
  /** Why it could not run as asked (no real-time priority, a fallback), or null. */
  warning: string | null;
  /** CPU of the sampler itself, share of one core (c-sampler; null for the worker). */
  cpu_share_of_one_core: number | null;
  /** The cgroup usage file of the run's curve (null: whole system only). */
  cgroup: string | null;
  /** Whole-system memory every this many samples (1 for the worker). */
  meminfo_every: number;
  /** Samples lost to a full ring (c-sampler). */
  lost: number;
  /**
   * `rate`: a sample every interval, also when nothing moves; `quiet`
   * (c-sampler on a cgroup v1 run cgroup): at the rate while the run's
   * memory moves, asleep on a kernel memory threshold of `quiet_step_kib`
   * while it does not. Absent in runs before quiet mode (read as `rate`).
   */
  mode?: "rate" | "quiet";
  /** Quiet mode: the run's memory stayed within this many KiB of the last sample while the sampler slept (null in rate mode). */
  quiet_step_kib?: number | null;
  /** Why quiet mode was asked for but not used, or null. */
  quiet_why_not?: string | null;
  /** Quiet waits entered. */
  waits?: number;
  /** Waits that a memory threshold ended. */
  woken_by_threshold?: number;
  /** Heartbeat samples taken while waiting (one every 100 ms). */
  heartbeats?: number;
  /** Share of the sampler's life spent asleep on a threshold. */
  waiting_share?: number;
  /** Quiet mode: held on the rate while instances booted (from before T_0 to the last boot's end); no waits then. */
  held_on_rate?: boolean;
}

/** The boot-work plugin a run loaded (run.json `insns.plugin`). */
export interface InsnsPluginRecord {
  /** The built shared object. */
  path: string;
  /** sha256 of the built shared object. */
  sha256: string;
  /** sha256 of `insns_plugin.c`. */
  source_sha256: string;
  /** sha256 of the `qemu-plugin.h` it was compiled against. */
  header_sha256: string;
  /** Where the header came from: `debian:qemu=<version>` or a folder. */
  header_from: string;
  /** `QEMU_PLUGIN_VERSION` of that header. */
  plugin_api_version: number;
  /** Debian source version of the QEMU binary (null when not from dpkg). */
  qemu_source_version: string | null;
  /** The output shim (LD_PRELOAD): counts at each stdout write. */
  shim_path: string;
  /** sha256 of the output shim. */
  shim_sha256: string;
}

/** `status` of a run: see {@link RunRecord}. */
export type RunStatus = "partial" | "complete" | "failed";

/** Host facts of a run record. */
export interface HostRecord {
  /** CPU model from /proc/cpuinfo, or null. */
  cpu_model: string | null;
  /** Online CPUs. */
  cores: number;
  /** MemTotal, KiB. */
  mem_total_kib: number;
  /** Kernel release (uname -r). */
  kernel: string;
  /** Host name. */
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
  /**
   * CPU of every thread of the launcher from T_0 until the last instance
   * was reaped, ms: its cost while the guests boot, without the setup and
   * the pre-fork before T_0 (absent in older runs).
   */
  cpu_ms_from_t0?: number | null;
  /** cpu_ms_from_t0 over T_0 → last instance reaped: the share of one core while the guests boot. */
  cpu_share_from_t0?: number | null;
  /**
   * CPU of every thread of the launcher from T_0 until every boot had ended
   * (ready, failed or stopped), ms: what it took from the guests while they
   * booted; the work after it (the memory samples held while they booted
   * turned into rows, the last exits) competes with no boot. Absent in runs
   * before 2026-12-04.
   */
  cpu_ms_while_booting?: number | null;
  /** cpu_ms_while_booting over T_0 → the last boot's end: the share of one core. */
  cpu_share_while_booting?: number | null;
  /**
   * CPU of the spawn helper process (fork mode, launcher/fork_at_ts.c),
   * every thread over its life, instances not included, ms: part of the
   * launcher's cost that `cpu_ms` (this process only) leaves out. Null in
   * the other spawn modes; absent in older runs.
   */
  spawn_helper_cpu_ms?: number | null;
  /** VmHWM of the launcher, KiB. */
  peak_rss_kib: number | null;
}

/** How the per-instance timeout was chosen. */
export interface TimeoutChoice {
  /** The per-instance timeout, ms. */
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
  /** The dataset schema version this run was written with (dataset/schema.ts). */
  schema_version: number;
  /** Unique id of the run (also its folder name). */
  run_id: string;
  /** `partial`, `complete` or `failed`: see above. */
  status: RunStatus;
  /** Wall-clock start, ISO 8601 UTC. */
  started_at: string;
  /** Wall-clock end, ISO 8601 UTC (null while running or when interrupted). */
  finished_at: string | null;
  /** The host that ran it. */
  host: HostRecord;
  /** KVM or TCG, why, and the probe times that chose it. */
  accelerator: {
    kind: "kvm" | "tcg" | null;
    reason: string;
    probe: { kvm_ms: number | null; tcg_ms: number | null } | null;
  };
  /** The QEMU binary and its version (null for a non-QEMU command). */
  qemu: { path: string; version: string | null } | null;
  /** The profile booted: name, class, file. */
  profile: {
    name: string;
    class: ProfileClassName | null;
    path: string | null;
  };
  /** The guest image and extra files with their checksums (null without one). */
  image: {
    path: string;
    sha256: string;
    bytes: number;
    extra_files: { path: string; sha256: string; bytes: number }[];
  } | null;
  /** The command of one instance, placeholders filled. */
  argv: string[];
  /** Profile parameters after --param. */
  params: Record<string, string>;
  /** The launch pattern and its settings. */
  pattern: { kind: string; interval_ms?: number; parallelism?: number };
  /** N: instances in the batch. */
  count: number;
  /** Per-instance timeout, ms. */
  timeout_ms: number;
  /** How timeout_ms was chosen (since the timeout follows the batch's estimate). */
  timeout?: TimeoutChoice;
  /** How instances were stopped. */
  teardown: TeardownName;
  /** The ready rule. */
  ready: ReadyRuleRecord;
  /** Named phase marks (regexes) of the profile. */
  marks: Record<string, string>;
  /** `prestart` (forked before T_0, released by SIGCONT), `fork` (forked at T_s by the C spawn helper) or `direct` (spawned at T_s by the launcher). */
  spawn_mode: "direct" | "prestart" | "fork" | null;
  /** Why the pattern's spawn mode (fork) was not used, or null (absent before 2026-12). */
  spawn_fallback?: string | null;
  /** Whether QMP phases (T_K) were measured. */
  phases: boolean;
  /** The clock of every time column (CLOCK_MONOTONIC). */
  clock: string;
  /** bootstorm version and git commit. */
  toolkit: { version: string | null; git_commit: string | null };
  /** Deno version. */
  deno: { version: string };
  /** What the memory source achieved (null with sampling off). */
  memory_sampler: MemorySamplerRecord | null;
  /** The run's memory cgroup (`run_used_kib`), or why there was none. */
  memory_cgroup?: {
    path: string | null;
    version: "v1" | "v2" | null;
    why_not: string | null;
  };
  /** Boot work (--insns): the plugin, its self-test and the firmware split; null without. */
  insns?: {
    plugin: InsnsPluginRecord;
    self_test_minkernel_microvm: { total: number; guest: number } | null;
    mem_accesses: boolean;
    entry: number | null;
    entry_rule: string | null;
    firmware: string;
  } | null;
  /** A merged multi-host storm (slurm/merge.ts): per-host records and start skew. */
  multi_host?: Record<string, unknown>;
  /** Whether the release thread (prestart) or the spawn helper (fork, for its waits) could use SCHED_FIFO, and why not. */
  release_thread?: { realtime: boolean; warning: string | null } | null;
  /**
   * The launcher's main thread (it reads output and takes T_e) from T_0 to
   * the last instance's end: its nice value (−10 unless refused) and why
   * not; null for direct spawns (children would inherit it).
   */
  main_thread?: { nice: number | null; warning: string | null } | null;
  /** Why no reaper guarded the instances (then they could outlive a killed launcher), or null. */
  reaper_warning?: string | null;
  /** Wall time of the batch, ms. */
  wall_ms?: number;
  /**
   * The host's steal time (/proc/stat, every CPU, 10 ms resolution) from
   * T_0 until every boot had ended, ms: how long the hypervisor ran other
   * work while this VM's CPUs had the guests' to do, the outside noise in
   * the boot times (compare it with the batch's CPU time: wall_ms × cores).
   * Null where the host does not report steal.
   */
  steal_ms_while_booting?: number | null;
  /**
   * T_0 on the host's CLOCK_MONOTONIC, ms (every time column is ms after
   * it): lines the batch up with what other processes on the host timed,
   * such as a benchmark's warm-up before it. Null when the launcher's clock
   * was not CLOCK_MONOTONIC (see `clock`) or the batch never reached T_0.
   */
  t0_monotonic_ms?: number | null;
  /** The launcher's own CPU and memory over the batch. */
  launcher?: LauncherCost;
  /** Instance counts by outcome group (null while running). */
  totals: RunTotals | null;
  /** Why the run measured nothing (status `failed`), or null. */
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
