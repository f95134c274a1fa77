/**
 * One instance's state machine: a record whose fields are named as the
 * dataset's columns (`dataset/schema.ts`), the transitions that move it
 * (started, first output, end of boot, exit, spawn failure) and the row it
 * becomes. Transitions read no clock and do no I/O: the launcher passes the
 * time, they change only the record they are given and say whether they
 * applied; so they are tested without processes (tests/launcher_state_test.ts).
 *
 * ```
 *   (new) ──start──▶ booting ──endBoot(ready | timeout | interrupted |
 *     │                │          exited_before_ready | spawn_failed)──▶ ended
 *     │                └─firstOutput (once, any time after start)
 *     ├──spawnFailed──▶ ended (spawn_failed)
 *     └──(never started)──▶ not_started
 * ```
 *
 * @module
 */
import {
  INSTANCE_COLUMNS,
  type InstanceRow,
  type Outcome,
} from "../dataset/schema.ts";
import { concurrencyAt } from "./pattern.ts";
import type { InsnsCounters, OutputCounts } from "./insns/slots.ts";

/** An instance as it boots: column-named fields, null until known. */
export interface InstanceState {
  /** Column `instance`: index in spawn order. */
  instance: number;
  /** Column `scheduled_ms`: when the pattern scheduled T_s, ms after T_0. */
  scheduled_ms: number | null;
  /** Column `t_s_ms`: T_s, ms after T_0. */
  t_s_ms: number | null;
  /** Column `first_output_ms`: first byte on stdout, ms after T_0. */
  first_output_ms: number | null;
  /** Column `ready_ms`: the ready line, ms after T_0. */
  ready_ms: number | null;
  /** Column `exit_ms`: when the process exited, ms after T_0. */
  exit_ms: number | null;
  /** T_e, ms after T_0 (`boot_ms` = T_e − T_s). */
  boot_end_ms: number | null;
  /** Column `outcome` (null while running). */
  outcome: Outcome | null;
  /** Column `exit_code`. */
  exit_code: number | null;
  /** Column `signal`: the signal that ended it. */
  signal: string | null;
  /** Column `rss_peak_kib`: VmHWM at ready, KiB. */
  rss_peak_kib: number | null;
  /** Column `pss_kib`: Pss at ready, KiB. */
  pss_kib: number | null;
  /** Column `uss_kib`: private memory at ready, KiB. */
  uss_kib: number | null;
  /** Column `cpu_ready_ms`: CPU of the instance until ready, ms. */
  cpu_ready_ms: number | null;
  /** Column `output_bytes`: stdout bytes read. */
  output_bytes: number;
  /** Column `pid`. */
  pid: number | null;
  /** Column `vmm_ready_ms` (phase mode), ms after T_0. */
  vmm_ready_ms: number | null;
  /** Column `t_k_ms`: T_K (phase mode), ms after T_0. */
  t_k_ms: number | null;
  /** Column `error`: the spawn error or stderr's first and last lines. */
  error: string | null;
  /** Anonymous memory at ready (a probe, not a dataset column). */
  anon_kib: number | null;
  /** First match of each mark: name → ms (the `<name>_ms` columns). */
  marks: Record<string, number>;
  /** Boot-work counters at the first output (`--insns`). */
  insns_at_first_output: InsnsCounters | null;
  /** Boot-work counters at T_e. */
  insns_at_ready: InsnsCounters | null;
  /** The output shim's counts at the first stdout byte. */
  output_counts_first: OutputCounts | null;
  /** The output shim's counts at the byte completing the ready condition. */
  output_counts_ready: OutputCounts | null;
  /** The process has exited (exit_ms is set). */
  exited: boolean;
}

/**
 * A fresh instance: nothing known but its index and schedule.
 *
 * @example
 * ```ts
 * import { newInstance } from "./instance.ts";
 * const s = newInstance(3, { scheduled_ms: 15 });
 * console.log(s.instance, s.scheduled_ms, s.outcome); // 3 15 null
 * ```
 */
export function newInstance(
  instance: number,
  options: { scheduled_ms?: number | null } = {},
): InstanceState {
  return {
    instance,
    scheduled_ms: options.scheduled_ms ?? null,
    t_s_ms: null,
    first_output_ms: null,
    ready_ms: null,
    exit_ms: null,
    boot_end_ms: null,
    outcome: null,
    exit_code: null,
    signal: null,
    rss_peak_kib: null,
    pss_kib: null,
    uss_kib: null,
    cpu_ready_ms: null,
    output_bytes: 0,
    pid: null,
    vmm_ready_ms: null,
    t_k_ms: null,
    error: null,
    anon_kib: null,
    marks: {},
    insns_at_first_output: null,
    insns_at_ready: null,
    output_counts_first: null,
    output_counts_ready: null,
    exited: false,
  };
}

/**
 * T_s: the instance started at `t` (ms after T_0). Applies once, before
 * the boot ended.
 *
 * @example
 * ```ts
 * import { newInstance, start } from "./instance.ts";
 * const s = newInstance(0);
 * console.log(start(s, 1.5), start(s, 2), s.t_s_ms); // true false 1.5
 * ```
 */
export function start(s: InstanceState, t: number): boolean {
  if (s.t_s_ms !== null || s.outcome !== null) return false;
  s.t_s_ms = t;
  return true;
}

/**
 * The first stdout byte arrived at `t`; true only the first time.
 *
 * @example
 * ```ts
 * import { firstOutput, newInstance } from "./instance.ts";
 * const s = newInstance(0);
 * console.log(firstOutput(s, 4), firstOutput(s, 5), s.first_output_ms); // true false 4
 * ```
 */
export function firstOutput(s: InstanceState, t: number): boolean {
  if (s.first_output_ms !== null) return false;
  s.first_output_ms = t;
  return true;
}

/**
 * The boot ended at `end.t` with `end.outcome` (T_e and `ready_ms` when
 * ready). Applies once: the first outcome stands.
 *
 * @example
 * ```ts
 * import { endBoot, newInstance, start } from "./instance.ts";
 * const s = newInstance(0);
 * start(s, 1);
 * console.log(endBoot(s, { outcome: "ready", t: 9 }), endBoot(s, { outcome: "timeout", t: 20 })); // true false
 * console.log(s.outcome, s.ready_ms, s.boot_end_ms); // "ready" 9 9
 * ```
 */
export function endBoot(
  s: InstanceState,
  end: { outcome: Outcome; t: number },
): boolean {
  if (s.outcome !== null) return false;
  if (end.outcome === "ready") s.ready_ms = end.t;
  s.outcome = end.outcome;
  s.boot_end_ms = end.t;
  return true;
}

/**
 * The process exited at `ex.t` with its status. Applies once.
 *
 * @example
 * ```ts
 * import { exited, newInstance } from "./instance.ts";
 * const s = newInstance(0);
 * exited(s, { t: 7, code: 1, signal: null });
 * console.log(s.exited, s.exit_ms, s.exit_code); // true 7 1
 * ```
 */
export function exited(
  s: InstanceState,
  ex: { t: number; code: number | null; signal: string | null },
): boolean {
  if (s.exited) return false;
  s.exited = true;
  s.exit_ms = ex.t;
  s.exit_code = ex.code;
  s.signal = ex.signal;
  return true;
}

/**
 * The instance could not be started at `f.t`: T_s and T_e at once, outcome
 * `spawn_failed`, the reason in `error`.
 *
 * @example
 * ```ts
 * import { newInstance, spawnFailed } from "./instance.ts";
 * const s = newInstance(0);
 * spawnFailed(s, { t: 2, error: "no such file" });
 * console.log(s.outcome, s.t_s_ms, s.boot_end_ms, s.error); // "spawn_failed" 2 2 "no such file"
 * ```
 */
export function spawnFailed(
  s: InstanceState,
  f: { t: number; error: string },
): boolean {
  if (s.outcome !== null) return false;
  s.t_s_ms = f.t;
  s.error = f.error;
  return endBoot(s, { outcome: "spawn_failed", t: f.t });
}

/**
 * The instance was never started (stopped before its spawn, or a
 * pre-started shell never released): outcome `not_started`, no times.
 *
 * @example
 * ```ts
 * import { newInstance, notStarted } from "./instance.ts";
 * const s = newInstance(0);
 * console.log(notStarted(s), s.outcome, s.boot_end_ms); // true "not_started" null
 * ```
 */
export function notStarted(s: InstanceState): boolean {
  if (s.outcome !== null) return false;
  s.outcome = "not_started";
  return true;
}

/**
 * The outcome an exit decides for a boot that has not ended: `not_started`
 * when it was never started (a pre-started shell never released),
 * `spawn_failed` when the exec failed (`execFailed`), `ready` under a
 * ready-at-exit rule, else `exited_before_ready`. Null when the boot had
 * already ended.
 *
 * @example
 * ```ts
 * import { newInstance, outcomeAtExit, start } from "./instance.ts";
 * const s = newInstance(0);
 * console.log(outcomeAtExit(s)); // "not_started"
 * start(s, 1);
 * console.log(outcomeAtExit(s), outcomeAtExit(s, { readyAtExit: true })); // "exited_before_ready" "ready"
 * ```
 */
export function outcomeAtExit(
  s: InstanceState,
  options: { readyAtExit?: boolean; execFailed?: boolean } = {},
): Outcome | null {
  if (s.outcome !== null) return null;
  if (s.t_s_ms === null) return "not_started";
  if (options.execFailed) return "spawn_failed";
  return options.readyAtExit ? "ready" : "exited_before_ready";
}

/** What a row needs beyond the instance itself. */
export interface RowContext {
  /** Every instance's T_s and T_e (for `concurrency_at_start`). */
  starts: readonly (number | null)[];
  ends: readonly (number | null)[];
  /** The error line of the instance's stderr (used when `error` is null). */
  stderrError?: string | null;
  /** Memory accesses were counted (`--insns-mem`). */
  insnsMem?: boolean;
  /** Add `anon_kib` to the row. */
  anon?: boolean;
  /** Mark names: each adds a `<name>_ms` column. */
  marks?: readonly string[];
}

/**
 * The dataset row of an instance. One that was never started (and did not
 * fail to spawn) gets {@link notStartedRow}.
 *
 * @example
 * ```ts
 * import { endBoot, instanceRow, newInstance, start } from "./instance.ts";
 * const s = newInstance(0);
 * start(s, 1);
 * endBoot(s, { outcome: "ready", t: 11 });
 * const row = instanceRow(s, { starts: [1], ends: [11] });
 * console.log(row.outcome, row.boot_ms); // "ready" 10
 * ```
 */
export function instanceRow(
  s: InstanceState,
  ctx: RowContext,
): InstanceRow & Record<string, unknown> {
  if (s.t_s_ms === null && s.outcome !== "spawn_failed") {
    return notStartedRow(s, ctx);
  }
  const ts = s.t_s_ms ?? NaN;
  // The guest runs from the moment QEMU handles `cont`; its first byte can
  // reach us before the acknowledgement does: T_K is never after it.
  const tK = s.t_k_ms !== null && s.first_output_ms !== null
    ? Math.min(s.t_k_ms, s.first_output_ms)
    : s.t_k_ms;
  const ready = s.outcome === "ready";
  const row: InstanceRow & Record<string, unknown> = {
    instance: s.instance,
    scheduled_ms: s.scheduled_ms,
    t_s_ms: s.t_s_ms,
    first_output_ms: s.first_output_ms,
    ready_ms: s.ready_ms,
    exit_ms: s.exit_ms,
    boot_end_ms: s.boot_end_ms,
    boot_ms: s.ready_ms !== null ? s.ready_ms - ts : null,
    first_output_boot_ms: s.first_output_ms !== null
      ? s.first_output_ms - ts
      : null,
    concurrency_at_start: s.t_s_ms === null
      ? null
      : concurrencyAt(ts, ctx.starts, ctx.ends, s.instance),
    outcome: s.outcome ?? "interrupted",
    exit_code: s.exit_code,
    signal: s.signal,
    rss_peak_kib: s.rss_peak_kib,
    pss_kib: ready ? s.pss_kib : null,
    uss_kib: ready ? s.uss_kib : null,
    cpu_ready_ms: ready ? s.cpu_ready_ms : null,
    output_bytes: s.output_bytes,
    pid: s.pid,
    vmm_ready_ms: s.vmm_ready_ms !== null && tK !== null
      ? Math.min(s.vmm_ready_ms, tK)
      : s.vmm_ready_ms,
    t_k_ms: tK,
    vmm_init_ms: tK !== null ? tK - ts : null,
    guest_boot_ms: tK !== null && s.ready_ms !== null ? s.ready_ms - tK : null,
    ...insnsColumns(s, ctx.insnsMem === true),
    error: ready ? null : s.error ?? ctx.stderrError ?? null,
  };
  if (ctx.anon) row.anon_kib = s.anon_kib;
  for (const name of ctx.marks ?? []) row[`${name}_ms`] = s.marks[name] ?? null;
  return row;
}

/**
 * The row of an instance the launcher stopped before starting it: every
 * nullable column null (no time, no RSS, no process), nothing printed.
 *
 * @example
 * ```ts
 * import { newInstance, notStartedRow } from "./instance.ts";
 * const row = notStartedRow(newInstance(2, { scheduled_ms: 10 }), { starts: [], ends: [] });
 * console.log(row.outcome, row.scheduled_ms, row.t_s_ms); // "not_started" 10 null
 * ```
 */
export function notStartedRow(
  s: InstanceState,
  ctx: RowContext,
): InstanceRow & Record<string, unknown> {
  const blank: Record<string, unknown> = {};
  for (const c of INSTANCE_COLUMNS) if (c.nullable) blank[c.name] = null;
  const row = {
    ...blank,
    instance: s.instance,
    scheduled_ms: s.scheduled_ms,
    outcome: "not_started",
    output_bytes: 0,
  } as InstanceRow & Record<string, unknown>;
  if (ctx.anon) row.anon_kib = null;
  for (const name of ctx.marks ?? []) row[`${name}_ms`] = null;
  return row;
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
  s: InstanceState,
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
  const first = s.insns_at_first_output;
  const ready = s.insns_at_ready;
  const outFirst = s.output_counts_first;
  const outReady = s.output_counts_ready;
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
