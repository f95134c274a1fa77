/**
 * Memory sources behind one interface: the launcher starts one before T_0,
 * receives `{ t_ms, used_kib, run_used_kib }` samples on the absolute
 * monotonic clock, and stops it after the last instance. Two kinds:
 *
 * - `c-sampler` (default): the C sampler process (`mem_sampler.c`) reading
 *   the run's own memory cgroup every tick (exact, attributable) and
 *   whole-system /proc/meminfo every 20th tick (the paper's measure, which
 *   the kernel folds only every `vm.stat_interval` anyway);
 * - `worker`: a Deno Worker at SCHED_FIFO reading /proc/meminfo every tick
 *   (the original sampler; no cgroup, no C compiler needed).
 *
 * @module
 */
import { startMemorySampler } from "../memory_sampler.ts";
import {
  type CSamplerStats,
  type MemorySample,
  startCSampler,
} from "./c_sampler.ts";

import type { MemorySamplerRecord } from "../../dataset/run_record.ts";

export type { MemorySample } from "./c_sampler.ts";

/** Which sampler. */
export type MemorySourceKind = "c-sampler" | "worker";

/** What a source achieved, for run.json `memory_sampler` (the dataset's record type). */
export type MemorySourceStats = MemorySamplerRecord;

/** Options of {@link startMemorySource}. */
export interface MemorySourceOptions {
  /** Sampling interval, ms (default 0.5). */
  intervalMs?: number;
  /** Ask for SCHED_FIFO (default true). */
  realtime?: boolean;
  /** The run's cgroup usage file (c-sampler only). */
  cgroupUsageFile?: string | null;
  /** Whole-system memory every this many ticks (c-sampler; default 20). */
  meminfoEvery?: number;
  /**
   * c-sampler quiet mode: sleep on a cgroup v1 memory threshold of this many
   * KiB while the run's memory stays put (0 or absent: rate mode).
   */
  quietStepKib?: number;
  /** Receives each batch of samples: new objects, the receiver's to keep or change. */
  onSamples: (rows: MemorySample[]) => void;
}

/** A running source. */
export interface MemorySource {
  /** Hold the source on its rate while instances boot (c-sampler quiet mode; others always are). */
  holdRate(on: boolean): void;
  stop(): Promise<MemorySourceStats>;
}

/**
 * Start a memory source. A `c-sampler` that cannot be built or started
 * falls back to the worker, with the reason in the stats' `warning`.
 *
 * @example
 * ```ts ignore
 * const src = await startMemorySource("c-sampler", { cgroupUsageFile: cg.usageFile, onSamples: (r) => rows.push(...r) });
 * const stats = await src.stop();
 * ```
 */
export async function startMemorySource(
  kind: MemorySourceKind,
  options: MemorySourceOptions,
): Promise<MemorySource> {
  const intervalMs = options.intervalMs ?? 0.5;
  let fallback: string | null = null;
  if (kind === "c-sampler") {
    try {
      const c = await startCSampler({
        intervalMs,
        cgroupUsageFile: options.cgroupUsageFile,
        meminfoEvery: options.meminfoEvery ?? 20,
        realtime: options.realtime,
        quietStepKib: options.quietStepKib,
        onSamples: options.onSamples,
      });
      return {
        holdRate: (on) => c.holdRate(on),
        async stop() {
          const s: CSamplerStats = await c.stop();
          return {
            source: "c-sampler",
            target_hz: s.target_hz,
            achieved_hz: s.achieved_hz,
            samples: s.samples,
            worst_gap_ms: s.worst_gap_ms,
            realtime: s.realtime,
            warning: s.realtime || options.realtime === false
              ? null
              : "SCHED_FIFO refused (needs root or CAP_SYS_NICE); sampled at normal priority",
            cpu_share_of_one_core: s.cpu_share_of_one_core,
            cgroup: s.cgroup,
            meminfo_every: s.meminfo_every,
            lost: s.lost,
            mode: s.mode,
            quiet_step_kib: s.quiet_step_kib,
            quiet_why_not: s.quiet_why_not,
            waits: s.waits,
            woken_by_threshold: s.woken_by_threshold,
            heartbeats: s.heartbeats,
            waiting_share: s.waiting_share,
            held_on_rate: s.held_on_rate,
          };
        },
      };
    } catch (e) {
      fallback = `C sampler unavailable (${
        (e as Error).message
      }); used the worker`;
    }
  }
  const w = startMemorySampler({
    intervalMs,
    realtime: options.realtime,
    onSamples: (rows) =>
      options.onSamples(
        rows.map((r) => ({
          t_ms: r.t_ms,
          used_kib: r.used_kib,
          run_used_kib: null,
        })),
      ),
  });
  return {
    holdRate: () => {},
    async stop() {
      const s = await w.stop();
      return {
        source: "worker",
        target_hz: s.target_hz,
        achieved_hz: s.achieved_hz,
        samples: s.samples,
        worst_gap_ms: s.worst_gap_ms,
        realtime: s.realtime,
        warning: [fallback, s.warning].filter(Boolean).join("; ") || null,
        cpu_share_of_one_core: null,
        cgroup: null,
        meminfo_every: 1,
        lost: 0,
        mode: "rate",
        quiet_step_kib: null,
        quiet_why_not: options.quietStepKib
          ? "the worker has no quiet mode (c-sampler only)"
          : null,
      };
    },
  };
}
