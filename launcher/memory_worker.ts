/**
 * Worker body of the memory sampler: reads MemTotal − MemAvailable from
 * /proc/meminfo on a fixed schedule, off the launcher's event loop, and posts
 * batches of `[t_ms, used_kib]` pairs (t on the shared monotonic clock).
 * Asks for SCHED_FIFO for its own thread through FFI when permitted.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { monotonicMs } from "./clock.ts";
import { setRealtimeThread } from "./realtime.ts";

interface Start {
  intervalMs: number;
  t0: number;
  stop: SharedArrayBuffer;
  realtime: boolean;
}

self.onmessage = (ev: MessageEvent<Start>) => {
  const { intervalMs, t0, realtime } = ev.data;
  const stop = new Int32Array(ev.data.stop);
  const warning = realtime
    ? setRealtimeThread(10)
    : "realtime scheduling not requested";
  const file = Deno.openSync("/proc/meminfo", { read: true });
  const buf = new Uint8Array(512);
  // Parse bytes in place: no strings, no regexes, nothing for the GC.
  const field = (n: number, key: string): number => {
    outer: for (let i = 0; i + key.length < n; i++) {
      for (let j = 0; j < key.length; j++) {
        if (buf[i + j] !== key.charCodeAt(j)) continue outer;
      }
      let k = i + key.length, v = 0;
      while (k < n && buf[k] === 32) k++;
      while (k < n && buf[k] >= 48 && buf[k] <= 57) v = v * 10 + buf[k++] - 48;
      return v;
    }
    return NaN;
  };
  const readN = (): number => {
    file.seekSync(0, Deno.SeekMode.Start);
    return file.readSync(buf) ?? 0;
  };
  const total = field(readN(), "MemTotal:");
  const readUsed = (): number => total - field(readN(), "MemAvailable:");
  let batch: number[] = [];
  let lastPost = monotonicMs();
  let k = 0;
  const start = monotonicMs();
  while (Atomics.load(stop, 0) === 0) {
    const t = monotonicMs();
    batch.push(t - t0, readUsed());
    if (t - lastPost >= 100) {
      self.postMessage({ samples: new Float64Array(batch) });
      batch = [];
      lastPost = t;
    }
    k++;
    // Next sample on the absolute schedule; skip missed slots, never burst.
    let next = start + k * intervalMs;
    const now = monotonicMs();
    if (next < now) {
      k = Math.ceil((now - start) / intervalMs);
      next = start + k * intervalMs;
    }
    Atomics.wait(stop, 0, 0, Math.max(0, next - monotonicMs()));
  }
  file.close();
  self.postMessage({ samples: new Float64Array(batch), done: true, warning });
};
