/**
 * The dataset contract between the launcher and the analysis: the columns of
 * `instances` and `memory`, their Arrow types, units (in the names) and when
 * they are null. `docs/dataset.md` is generated from the same descriptions.
 *
 * @module
 */

/** Version of the dataset layout written into every `run.json`. */
export const SCHEMA_VERSION = 3;

/** Oldest dataset version the analysis still reads. */
export const OLDEST_SCHEMA_VERSION = 1;

/** Arrow storage type of one column. */
export type ColumnType = "int32" | "float64" | "utf8";

/** One documented column. */
export interface ColumnSpec {
  /** Column name; its unit is part of the name (`_ms`, `_kib`). */
  readonly name: string;
  /** Arrow type. */
  readonly type: ColumnType;
  /** Whether null can appear, and the doc sentence saying when. */
  readonly nullable: boolean;
  /** What the column holds, with its unit and when it is null. */
  readonly doc: string;
  /** Schema version that added the column (default 1). */
  readonly since?: number;
  /** utf8 columns with a closed set of values: every value allowed. */
  readonly values?: readonly string[];
}

/** Every outcome, in documentation order. */
export const OUTCOMES = [
  "ready",
  "timeout",
  "exited_before_ready",
  "spawn_failed",
  "interrupted",
  "not_started",
  "lost",
] as const;

/** Outcome of one instance. */
export type Outcome = typeof OUTCOMES[number];

/**
 * Outcomes that are the guest's or the host's failure (an instance that was
 * started and never became ready by itself). `interrupted` (stopped by the
 * launcher) and `not_started` (never released) are not failures.
 */
export const FAILED_OUTCOMES: readonly Outcome[] = [
  "timeout",
  "exited_before_ready",
  "spawn_failed",
  "lost",
];

/** Columns of `instances.arrow` / `instances.csv`, one row per instance. */
export const INSTANCE_COLUMNS = [
  {
    name: "instance",
    type: "int32",
    nullable: false,
    doc: "0-based index of the instance in launch order.",
  },
  {
    name: "scheduled_ms",
    type: "float64",
    nullable: true,
    doc:
      "When T_s was scheduled, ms after T_0 (interval pattern: i × Δ). Null for back-to-back and parallel patterns, which have no schedule.",
  },
  {
    name: "t_s_ms",
    type: "float64",
    nullable: true,
    doc:
      "T_s: monotonic clock immediately before the spawn call (or before the pre-started process is released), ms after T_0, µs resolution. Null only for `not_started` instances and `lost` ones.",
  },
  {
    name: "first_output_ms",
    type: "float64",
    nullable: true,
    doc:
      "When the first byte arrived on the instance's stdout, ms after T_0. Null when it printed nothing.",
  },
  {
    name: "ready_ms",
    type: "float64",
    nullable: true,
    doc:
      "T_e: when the profile's ready condition was met (first byte, ready line, or exit), ms after T_0. Null unless outcome is `ready`.",
  },
  {
    name: "exit_ms",
    type: "float64",
    nullable: true,
    doc:
      "When the launcher saw the process end (its own exit, or reaped after being killed), ms after T_0. Null when spawning failed.",
  },
  {
    name: "boot_end_ms",
    type: "float64",
    nullable: true,
    doc:
      "When the instance stopped counting as booting (ready, timed out, or exited), ms after T_0. Null only for spawn failures. Concurrency is computed from [t_s_ms, boot_end_ms).",
  },
  {
    name: "boot_ms",
    type: "float64",
    nullable: true,
    doc: "ΔT = ready_ms − t_s_ms, ms. Null unless outcome is `ready`.",
  },
  {
    name: "first_output_boot_ms",
    type: "float64",
    nullable: true,
    doc:
      "first_output_ms − t_s_ms, ms: the paper's 'first output' boot time (with a firmware this is the firmware's first byte). Null when nothing was printed.",
  },
  {
    name: "concurrency_at_start",
    type: "int32",
    nullable: true,
    doc:
      "Instances already booting (started, not yet ended) at this instance's T_s, this one excluded (on the same host). Null only for `not_started` and `lost` instances.",
  },
  {
    name: "outcome",
    type: "utf8",
    nullable: false,
    values: OUTCOMES,
    doc:
      "`ready` | `timeout` (no ready condition before timeoutMs) | `exited_before_ready` | `spawn_failed` | `interrupted` (started, then the launcher was stopped by SIGINT/SIGTERM or a write error before it was ready) | `not_started` (the launcher stopped before this instance was started: every time, `rss_peak_kib`, `pid`, `exit_code` and `signal` are null) | `lost` (merged multi-host datasets only: its host died or stopped reporting before the instance's row was written; `error` says why).",
  },
  {
    name: "exit_code",
    type: "int32",
    nullable: true,
    doc:
      "Exit status of the process. Null when it was ended by a signal or never spawned.",
  },
  {
    name: "signal",
    type: "utf8",
    nullable: true,
    doc:
      "Signal that ended the process (e.g. `SIGTERM`, `SIGKILL`). Null when it exited by itself or never spawned.",
  },
  {
    name: "rss_peak_kib",
    type: "int32",
    nullable: true,
    doc:
      "Peak resident set size (VmHWM of /proc/<pid>/status) of the instance's process, KiB, read at ready and again just before it is killed. Null when it could not be read (process already gone) and for `not_started` instances (the pre-started shell's own RSS is never recorded).",
  },
  {
    name: "pss_kib",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Proportional set size of the instance's process at T_e (Pss of /proc/<pid>/smaps_rollup: shared pages divided among the processes that map them), KiB: what each instance of a storm costs in memory. Read for every ⌈N/4⌉-th instance by index (all of a batch of 4 or fewer: the read walks the guest's page tables while the others boot, about 1.8 ms of the launcher's CPU for a minkernel QEMU); null for the others, and unless ready while the process was alive. Since version 3.",
  },
  {
    name: "uss_kib",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Unique (private) memory of the instance's process at T_e (Private_Clean + Private_Dirty of smaps_rollup), KiB: what it alone costs, freed when it ends. Read for the same instances as `pss_kib`; null for the others, and unless ready while the process was alive. Since version 3.",
  },
  {
    name: "cpu_ready_ms",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "CPU time the instance's process had used at T_e (all its threads: its CPU-time clock when the spawn helper watches the ready line, else the sum of /proc/<pid>/task/*/schedstat), ms: what the boot cost in CPU, which, unlike boot_ms, hardly grows when instances share the cores. Null unless ready while the process was alive (ready-on-exit has none). Since version 3.",
  },
  {
    name: "output_bytes",
    type: "float64",
    nullable: false,
    doc:
      "Bytes read from the instance's stdout in total (all drained; only the first 4 KiB are kept in memory).",
  },
  {
    name: "pid",
    type: "int32",
    nullable: true,
    doc:
      "Process id of the instance (teardown signals it and all its descendants). Null when spawning failed or the instance was not started.",
  },
  {
    name: "vmm_ready_ms",
    type: "float64",
    nullable: true,
    since: 2,
    doc:
      "Phase mode (--phases) only: when QEMU's QMP greeting arrived, i.e. QEMU had initialised (the instance starts paused with -S), ms after T_0. Null otherwise. Since version 2.",
  },
  {
    name: "t_k_ms",
    type: "float64",
    nullable: true,
    since: 2,
    doc:
      "Phase mode only: T_K, when the launcher read QEMU's acknowledgement of `cont` (the guest starts running), ms after T_0; never later than first_output_ms (the guest's first byte can arrive before the acknowledgement is read). Null otherwise. Since version 2.",
  },
  {
    name: "vmm_init_ms",
    type: "float64",
    nullable: true,
    since: 2,
    doc:
      "Phase mode only: t_k_ms − t_s_ms, ms: QEMU's own start-up (spawn, initialisation, QMP handshake). Null otherwise. Since version 2.",
  },
  {
    name: "guest_boot_ms",
    type: "float64",
    nullable: true,
    since: 2,
    doc:
      "Phase mode only: ready_ms − t_k_ms, ms: the guest's part of the boot (firmware, kernel, application). Null unless ready in phase mode. Since version 2.",
  },
  {
    name: "insns_first_output",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work (--insns, TCG only): instructions executed from reset (firmware included) until QEMU wrote the first byte to stdout, instructions (recorded at that write by the output shim; if it could not, read when the launcher saw the byte). Null without --insns or when nothing was printed. Since version 3.",
  },
  {
    name: "insns_ready",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work: instructions executed from reset (firmware included) until QEMU wrote the byte that completed the ready condition, instructions (the count at that stdout write, however late the launcher read it; for ready-on-exit, at T_e). Null without --insns or unless ready. Since version 3.",
  },
  {
    name: "insns_guest_ready",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work: the guest's own part of insns_ready, instructions: everything after the hand-over (the first execution of the guest's entry, read from the image; 0x7c00 for a disk boot) outside the BIOS area 0xc0000–0xfffff and the BIOS alias below 4 GiB. When no entry is known (run.json insns.entry_rule), the address rule of insns_guest_addr_ready. Null without --insns or unless ready. Since version 3.",
  },
  {
    name: "insns_before_guest",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work: instructions executed before the first guest instruction (the firmware's part up to the hand-over), instructions. insns_ready − insns_guest_ready − insns_before_guest is firmware code run after the hand-over (BIOS calls, real-mode setup code below 1 MiB). Null without --insns or when the guest never ran. Since version 3.",
  },
  {
    name: "insns_io_ready",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work: port I/O instructions (in, out, ins, outs) executed until the ready byte was written, firmware included, instructions. Null without --insns or unless ready. Since version 3.",
  },
  {
    name: "insns_system_ready",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work: system instructions (hlt, cli, sti, int, iret, lgdt/lidt and the rest of 0F 00/0F 01, mov to/from control and debug registers, rdmsr, wrmsr, rdtsc, cpuid, syscall, sysenter and their returns) executed until the ready byte was written, firmware included, instructions. Null without --insns or unless ready. Since version 3.",
  },
  {
    name: "mem_accesses_ready",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work: guest memory accesses (loads and stores, firmware included) until the ready byte was written, accesses. Null without --insns-mem (the counter slows guests further) or unless ready. Since version 3.",
  },
  {
    name: "guest_code_pages_ready",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work: distinct 4 KiB pages (by guest virtual address) of guest code translated until T_e, pages. Null without --insns or unless ready. Since version 3.",
  },
  {
    name: "guest_blocks_ready",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work, footprint: distinct guest translation blocks (by start address) translated until the ready byte was written, blocks. Unlike the dynamic counts it does not grow when the guest busy-waits on a timer. Null without --insns or unless ready. Since version 3.",
  },
  {
    name: "guest_code_insns_ready",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work, footprint: instructions in those distinct guest blocks (each block once), instructions: how much distinct code the guest ran until the ready byte was written, independent of loops and of the host's speed. Null without --insns or unless ready. Since version 3.",
  },
  {
    name: "cr3_writes_ready",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work: writes to CR3 (mov to cr3: address-space switches; a general-purpose OS switches between processes, a single-address-space library OS sets it once or a few times) until the ready byte was written, firmware included, instructions. Null without --insns or unless ready. Since version 3.",
  },
  {
    name: "syscalls_ready",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work: system-call instructions (syscall, sysenter, int 0x80) executed until the ready byte was written, instructions: user programs calling a kernel. Null without --insns or unless ready. Since version 3.",
  },
  {
    name: "insns_guest_addr_ready",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work: guest instructions until T_e by the address rule alone (blocks at or above 1 MiB and outside the BIOS alias), instructions; differs from insns_guest_ready where firmware runs above 1 MiB (SeaBIOS's relocated init code) or the guest below it (a boot sector, Linux's setup code). Null without --insns or unless ready. Since version 3.",
  },
  {
    name: "insns_ready_lag",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Boot work: instructions executed between the write of the ready byte and T_e (when the launcher had read it), instructions: what a count read at T_e would have added (it grows with the host's load). Null without --insns, unless ready, or when the write was not recorded (then insns_ready and insns_guest_ready are the counts at T_e). Since version 3.",
  },
  {
    name: "error",
    type: "utf8",
    nullable: true,
    doc:
      "Why the instance failed: the spawn error, else its stderr's first line that is not a warning and, when different, ` … ` and its last line (each line cut to 240 characters). Null when it booted or printed nothing on stderr.",
  },
] as const satisfies readonly ColumnSpec[];

/** Columns of `memory.arrow` / `memory.csv`, one row per whole-system sample. */
export const MEMORY_COLUMNS = [
  {
    name: "t_ms",
    type: "float64",
    nullable: false,
    doc: "When the sample was read, ms after T_0.",
  },
  {
    name: "used_kib",
    type: "float64",
    nullable: true,
    doc:
      "Whole-system memory in use, MemTotal − MemAvailable from /proc/meminfo, KiB (the paper's measure). Since version 3 null on the samples where it was not read: the C sampler reads it every 20th sample (run.json memory_sampler.meminfo_every), since the kernel folds it only every vm.stat_interval.",
  },
  {
    name: "run_used_kib",
    type: "float64",
    nullable: true,
    since: 3,
    doc:
      "Memory of the run's own instances: the usage of the run's memory cgroup (v1 memory.usage_in_bytes, v2 memory.current), which every instance joins before it is released, KiB. Exact (charged page by page) and attributable (other processes do not add to it). Null without a per-run cgroup (not root, no memory controller) or with the worker sampler. Since version 3.",
  },
  {
    name: "booting",
    type: "int32",
    nullable: false,
    doc:
      "Instances booting at t_ms (t_s_ms ≤ t_ms < boot_end_ms, or not yet ended).",
  },
] as const satisfies readonly ColumnSpec[];

/** The TypeScript value of one column: its Arrow type, its closed set of values, null when nullable. */
export type ColumnValue<C extends ColumnSpec> =
  | (C["type"] extends "utf8"
    ? C extends { values: readonly (infer V)[] } ? V : string
    : number)
  | (C["nullable"] extends true ? null : never);

/**
 * The row type of a table, derived from its column specs: one key per
 * column, typed by {@link ColumnValue}.
 *
 * @example
 * ```ts
 * import type { RowOf } from "./schema.ts";
 * const cols = [{ name: "x", type: "int32", nullable: true, doc: "" }] as const;
 * const row: RowOf<typeof cols> = { x: null };
 * console.log(row.x); // null
 * ```
 */
export type RowOf<Cols extends readonly ColumnSpec[]> = {
  -readonly [C in Cols[number] as C["name"]]: ColumnValue<C>;
};

/** One row of `instances`, as the launcher produces it (derived from INSTANCE_COLUMNS). */
export type InstanceRow = RowOf<typeof INSTANCE_COLUMNS>;

/** One row of `memory` (derived from MEMORY_COLUMNS). */
export type MemoryRow = RowOf<typeof MEMORY_COLUMNS>;

/**
 * Why a row does not fit its columns, or null when it does: a missing
 * column, null where a column can never be null, a value of the wrong type
 * (an int32 that is not a whole number in range, a float64 that is not a
 * finite number, a utf8 that is not a string) or outside a closed set.
 *
 * @example
 * ```ts
 * import { MEMORY_COLUMNS, rowProblem } from "./schema.ts";
 * console.log(rowProblem(MEMORY_COLUMNS, { t_ms: 1, used_kib: 2, booting: null }));
 * // 'column "booting" is null but can never be null'
 * ```
 */
export function rowProblem(
  columns: readonly ColumnSpec[],
  row: Readonly<Record<string, unknown>>,
): string | null {
  for (const c of columns) {
    const v = row[c.name];
    if (v === undefined) return `column "${c.name}" is missing`;
    if (v === null) {
      if (!c.nullable) {
        return `column "${c.name}" is null but can never be null`;
      }
      continue;
    }
    if (c.type === "utf8") {
      if (typeof v !== "string") {
        return `column "${c.name}" holds ${typeof v} ${
          JSON.stringify(v)
        }, expected a string`;
      }
      if (c.values && !c.values.includes(v)) {
        return `column "${c.name}" holds ${
          JSON.stringify(v)
        }, expected one of ${c.values.join(", ")}`;
      }
    } else if (typeof v !== "number" || !Number.isFinite(v)) {
      return `column "${c.name}" holds ${
        JSON.stringify(v)
      }, expected a finite number`;
    } else if (
      c.type === "int32" &&
      (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31)
    ) {
      return `column "${c.name}" holds ${v}, expected a 32-bit whole number`;
    }
  }
  return null;
}

/**
 * The column a merged multi-host dataset (`deno task sweep --slurm`,
 * slurm/merge.ts) adds to both `instances` and `memory`: which host the row
 * comes from. Times of such a dataset are on the common timeline: ms after
 * the storm's one T_0 (see docs/dataset.md, "Multi-host storms").
 */
export const HOST_COLUMN: ColumnSpec = {
  name: "host",
  type: "utf8",
  nullable: false,
  doc:
    "Merged multi-host datasets only: the host (Slurm node name) the row comes from; `instance` counts per host, so (host, instance) is the key.",
};
