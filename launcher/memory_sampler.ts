/**
 * Whole-system memory sampler (every 500 µs by default) running in a Worker,
 * so the launcher's event loop never delays a sample and sampling never
 * delays the launcher.
 *
 * @module
 */
import type { MemoryRow } from "../dataset/schema.ts";
import type { MemorySamplerRecord } from "../dataset/run_record.ts";

/** What the sampler achieved, for the run record (its `memory_sampler` fields). */
export type SamplerStats = Pick<
  MemorySamplerRecord,
  | "target_hz"
  | "achieved_hz"
  | "samples"
  | "worst_gap_ms"
  | "realtime"
  | "warning"
>;

/**
 * Start sampling; `onSamples` receives rows in batches, `t_ms` on the
 * absolute monotonic clock (`monotonicMs()`).
 *
 * @example
 * ```ts ignore
 * const s = startMemorySampler({ onSamples: (rows) => console.log(rows.length) });
 * const stats = await s.stop();
 * ```
 */
export function startMemorySampler(
  options: {
    intervalMs?: number;
    realtime?: boolean;
    onSamples: (rows: Omit<MemoryRow, "booting">[]) => void;
  },
): { stop: () => Promise<SamplerStats> } {
  const intervalMs = options.intervalMs ?? 0.5;
  const stopBuf = new SharedArrayBuffer(4);
  const worker = new Worker(new URL("./memory_worker.ts", import.meta.url), {
    type: "module",
  });
  let samples = 0;
  let first: number | null = null;
  let last: number | null = null;
  let worst = 0;
  let warning: string | null = null;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  worker.onmessage = (
    ev: MessageEvent<
      { samples: Float64Array; done?: boolean; warning?: string | null }
    >,
  ) => {
    const a = ev.data.samples;
    const rows: Omit<MemoryRow, "booting">[] = [];
    for (let i = 0; i < a.length; i += 2) {
      const t = a[i];
      if (last !== null && t - last > worst) worst = t - last;
      first ??= t;
      last = t;
      rows.push({ t_ms: t, used_kib: a[i + 1], run_used_kib: null });
    }
    samples += rows.length;
    if (rows.length) options.onSamples(rows);
    if (ev.data.done) {
      warning = ev.data.warning ?? null;
      resolveDone();
    }
  };
  worker.postMessage({
    intervalMs,
    t0: 0,
    stop: stopBuf,
    realtime: options.realtime ?? true,
  });
  return {
    async stop(): Promise<SamplerStats> {
      const flag = new Int32Array(stopBuf);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      await done;
      worker.terminate();
      const span = first !== null && last !== null ? (last - first) / 1000 : 0;
      return {
        target_hz: 1000 / intervalMs,
        achieved_hz: span > 0 ? (samples - 1) / span : 0,
        samples,
        worst_gap_ms: samples > 1 ? worst : null,
        realtime: (options.realtime ?? true) && warning === null,
        warning,
      };
    },
  };
}
