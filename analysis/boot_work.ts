/**
 * Boot work: what the guest itself executed until it was ready (the
 * `insns_*` columns of `--insns` runs), per image, next to its boot time.
 * Instruction counts do not depend on how fast or loaded the host is, unlike
 * `boot_ms`; the coefficients of variation of both side by side show it.
 *
 * @module
 */

import "@uwdata/flechette";
import * as aq from "arquero";
import type { Table } from "./columns.ts";

/** The instance columns boot work reads. */
export const BOOT_WORK_COLUMNS: readonly string[] = [
  "insns_first_output",
  "insns_ready",
  "insns_guest_ready",
  "insns_before_guest",
  "insns_io_ready",
  "insns_system_ready",
  "mem_accesses_ready",
  "guest_code_pages_ready",
  "insns_ready_lag",
  "insns_guest_addr_ready",
  "guest_blocks_ready",
  "guest_code_insns_ready",
  "cr3_writes_ready",
  "syscalls_ready",
];

/** Whether a table has boot-work counts (a `--insns` run with a ready instance). */
export function hasBootWork(instances: Table): boolean {
  if (!instances.columnNames().includes("insns_guest_ready")) return false;
  const col = instances.array("insns_guest_ready") as ArrayLike<unknown>;
  for (let i = 0; i < col.length; i++) {
    const v = col[i];
    if (typeof v === "number" && Number.isFinite(v)) return true;
  }
  return false;
}

/** Options of {@link bootWorkSummary}. */
export interface BootWorkOptions {
  /** Group column (default `image`; `run_id` for one row per run). */
  by?: string;
}

/**
 * One row per image (or `by` group) over ready instances with counts: `n`,
 * `insns_guest_median` (median insns_guest_ready) and `insns_guest_cv`
 * (its coefficient of variation, sample sd / mean), `boot_median_ms` and
 * `boot_cv` (the same of boot_ms), `insns_ready_median`,
 * `insns_before_guest_median` (firmware up to the hand-over),
 * `insns_io_median`, `insns_system_median`, `mem_accesses_median`,
 * `code_pages_median`, `code_insns_median` (the code footprint),
 * `cr3_writes_median`, `syscalls_median`, and `lag_share_max` (largest insns_ready_lag /
 * insns_ready: how far the count at T_e can be from the count at the ready
 * line's last byte). Sorted by `insns_guest_median`.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { bootWorkSummary } from "./boot_work.ts";
 * const t = aq.table({
 *   image: ["b", "a", "a"], outcome: ["ready", "ready", "ready"], boot_ms: [50, 10, 12],
 *   insns_ready: [9000, 100, 100], insns_guest_ready: [8000, 10, 12], insns_before_guest: [1000, 90, 88],
 *   insns_io_ready: [5, 1, 1], insns_system_ready: [2, 1, 1], mem_accesses_ready: [50, 5, 5],
 *   guest_code_pages_ready: [4, 1, 1], guest_code_insns_ready: [700, 8, 8], cr3_writes_ready: [30, 0, 0],
 *   syscalls_ready: [12, 0, 0], insns_ready_lag: [10, 0, 1],
 * });
 * const s = bootWorkSummary(t);
 * console.log(s.array("image"), s.array("n"), s.array("insns_guest_median")); // ["a", "b"] [2, 1] [11, 8000]
 * ```
 */
export function bootWorkSummary(
  instances: Table,
  options: BootWorkOptions = {},
): Table {
  const by = options.by ?? "image";
  const op = aq.op;
  return instances
    .filter((d: Record<string, unknown>) =>
      d.outcome === "ready" && d.insns_guest_ready != null
    )
    .groupby(by)
    .rollup({
      n: () => op.count(),
      insns_guest_median: (d: Record<string, number>) =>
        op.median(d.insns_guest_ready),
      insns_guest_cv: (d: Record<string, number>) =>
        op.stdev(d.insns_guest_ready) / op.mean(d.insns_guest_ready),
      boot_median_ms: (d: Record<string, number>) => op.median(d.boot_ms),
      boot_cv: (d: Record<string, number>) =>
        op.stdev(d.boot_ms) / op.mean(d.boot_ms),
      insns_ready_median: (d: Record<string, number>) =>
        op.median(d.insns_ready),
      insns_before_guest_median: (d: Record<string, number>) =>
        op.median(d.insns_before_guest),
      insns_io_median: (d: Record<string, number>) =>
        op.median(d.insns_io_ready),
      insns_system_median: (d: Record<string, number>) =>
        op.median(d.insns_system_ready),
      mem_accesses_median: (d: Record<string, number>) =>
        op.median(d.mem_accesses_ready),
      code_pages_median: (d: Record<string, number>) =>
        op.median(d.guest_code_pages_ready),
      code_insns_median: (d: Record<string, number>) =>
        op.median(d.guest_code_insns_ready),
      cr3_writes_median: (d: Record<string, number>) =>
        op.median(d.cr3_writes_ready),
      syscalls_median: (d: Record<string, number>) =>
        op.median(d.syscalls_ready),
      lag_share_max: (d: Record<string, number>) =>
        op.max(d.insns_ready_lag / d.insns_ready),
    })
    .orderby("insns_guest_median");
}
