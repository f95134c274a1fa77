/**
 * Worker body that releases pre-started instances on schedule: it waits for
 * each deadline off the main event loop (sleep, then a short spin), takes
 * T_s on the shared monotonic clock and sends SIGCONT to the instance.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { monotonicMs } from "./clock.ts";
import { setRealtimeThread } from "./realtime.ts";

interface Start {
  t0: number;
  /** Deadlines in ms after t0, one per instance. */
  deadlines: number[];
  pids: number[];
  stop: SharedArrayBuffer;
  /** T_s of each instance (ms after t0), written before its SIGCONT. */
  released: SharedArrayBuffer;
}

/** Spin for the last part of each wait, in ms. */
const SPIN_MS = 1.0;

const warning = setRealtimeThread(20);
// The first Deno.kill of a thread costs ~2 ms (lazy set-up): pay it now, not
// between the first and second release (a harmless SIGCONT to ourselves).
Deno.kill(Deno.pid, "SIGCONT");
self.postMessage({ loaded: true, warning });

self.onmessage = (ev: MessageEvent<Start>) => {
  const { t0, deadlines, pids } = ev.data;
  const stop = new Int32Array(ev.data.stop);
  const released = new Float64Array(ev.data.released);
  for (let i = 0; i < pids.length; i++) {
    const due = t0 + deadlines[i];
    let left = due - monotonicMs();
    if (left > SPIN_MS) Atomics.wait(stop, 0, 0, left - SPIN_MS);
    if (Atomics.load(stop, 0) !== 0) break;
    do left = due - monotonicMs(); while (left > 0);
    const t = monotonicMs();
    // Before the SIGCONT: the guest's output may reach the main thread
    // before this message does, and then it finds T_s here.
    released[i] = t - t0;
    let error: string | null = null;
    try {
      Deno.kill(pids[i], "SIGCONT");
    } catch (e) {
      error = (e as Error).message;
    }
    self.postMessage({ i, t_s: t - t0, error });
  }
  self.postMessage({ done: true });
};
