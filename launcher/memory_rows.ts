/**
 * A batch's memory rows: a memory source (sampler/memory_source.ts) started
 * before T_0, its samples buffered on the absolute clock until T_0 is known,
 * then handed on as dataset rows with `t_ms` after T_0 and `booting`, the
 * instances booting at that moment.
 *
 * @module
 */
import type { MemoryRow } from "../dataset/schema.ts";
import { bootingCounter } from "./pattern.ts";
import {
  type MemorySourceKind,
  type MemorySourceStats,
  startMemorySource,
} from "./sampler/memory_source.ts";

/** A running batch memory source. */
export interface MemoryRows {
  /** Hand on every sample buffered so far (once T_0 is known). */
  flush(): void;
  /** Hold the source on its rate (while instances boot) or release it. */
  holdRate(on: boolean): void;
  /** Stop the source (buffered samples stay for a last `flush`). */
  stop(): Promise<MemorySourceStats>;
}

/** The batch a memory source samples for. */
export interface MemoryBatch {
  /** Every instance's T_s and T_e, ms after T_0 (read at each flush). */
  starts: readonly (number | null)[];
  ends: readonly (number | null)[];
  /** T_0 on the absolute clock; NaN while unknown. */
  t0: () => number;
}

/**
 * Start the memory source of a batch; resolves after its first sample.
 * Samples are flushed to `onMemory` as they arrive once T_0 is known.
 *
 * @example
 * ```ts
 * import { monotonicMs } from "./clock.ts";
 * import { startMemoryRows } from "./memory_rows.ts";
 * const t0 = monotonicMs();
 * const rows: { t_ms: number; booting: number }[] = [];
 * const mem = await startMemoryRows({ starts: [], ends: [], t0: () => t0 }, {
 *   source: "worker", intervalMs: 1, realtime: false, onMemory: (r) => rows.push(...r),
 * });
 * await new Promise((r) => setTimeout(r, 20));
 * await mem.stop();
 * mem.flush();
 * console.log(rows.length > 0, rows.every((r) => r.booting === 0)); // true true
 * ```
 */
export async function startMemoryRows(
  batch: MemoryBatch,
  options: {
    source?: MemorySourceKind;
    intervalMs?: number;
    realtime?: boolean;
    cgroupUsageFile?: string | null;
    /** c-sampler quiet mode step, KiB (0 or absent: rate mode). */
    quietStepKib?: number;
    onMemory?: (rows: MemoryRow[]) => void;
  },
): Promise<MemoryRows> {
  const buf: MemoryRow[] = [];
  let firstSample: (() => void) | null = null;
  const sampled = new Promise<void>((r) => (firstSample = r));
  const flush = (): void => {
    const out = buf.splice(0, buf.length);
    if (!options.onMemory || out.length === 0) return;
    // Samples carry absolute clock times; `booting` at a past time t is final
    // (every instance started before t has ended, or is still booting now).
    const t0 = batch.t0();
    const bootingAt = bootingCounter(batch.starts, batch.ends);
    for (const r of out) {
      r.t_ms -= t0;
      r.booting = bootingAt(r.t_ms);
    }
    options.onMemory(out);
  };
  const source = await startMemorySource(options.source ?? "c-sampler", {
    intervalMs: options.intervalMs ?? 0.5,
    realtime: options.realtime,
    cgroupUsageFile: options.cgroupUsageFile ?? null,
    quietStepKib: options.quietStepKib,
    onSamples: (samples) => {
      // Each batch of samples is new and ours (memory_source.ts): a sample
      // becomes its row in place, not a copy of 2,000 objects a second.
      for (const s of samples) {
        const row = s as MemoryRow;
        row.booting = 0;
        buf.push(row);
      }
      firstSample?.();
      if (!Number.isNaN(batch.t0())) flush();
    },
  });
  await sampled;
  return {
    flush,
    holdRate: (on) => source.holdRate(on),
    stop: () => source.stop(),
  };
}
