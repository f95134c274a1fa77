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
  /** Deadlines in ms after T_0, one per instance. */
  deadlines: number[];
  pids: number[];
  stop: SharedArrayBuffer;
  /** T_s of each instance (ms after T_0), written before its SIGCONT. */
  released: SharedArrayBuffer;
  /**
   * int32 at 0: 0 until T_0 is taken, then 1 (futex-notified); float64 at
   * byte 8: T_0, absolute on the monotonic clock.
   */
  go: SharedArrayBuffer;
}

/** Spin for the last part of each wait, in ms. */
const SPIN_MS = 1.0;

/** Spin until the monotonic clock reaches `due` (ms); returns the time then. */
function spinUntil(due: number): number {
  let t = monotonicMs();
  while (t < due) t = monotonicMs();
  return t;
}

const warning = setRealtimeThread(20);
// The first Deno.kill of a thread costs ~2 ms (lazy set-up): pay it now, not
// between the first and second release (a harmless SIGCONT to ourselves).
Deno.kill(Deno.pid, "SIGCONT");
// Spin before T_0 until V8 has compiled the spin: V8 compiles a hot loop on
// the thread that runs it (the launcher disables concurrent recompilation
// and OSR so that real-time threads never wait on normal-priority helpers),
// and a compile in the middle of the first releases made them late: 32 × 5
// ms, the worst errors were 0.7-1.8 ms, always among instances 0-5.
const stopWarm = new Int32Array(new SharedArrayBuffer(4));
for (let k = 0; k < 40; k++) {
  Atomics.wait(stopWarm, 0, 0, 0.05);
  spinUntil(monotonicMs() + 0.25);
}
self.postMessage({ loaded: true, warning });

self.onmessage = (ev: MessageEvent<Start>) => {
  const { deadlines, pids } = ev.data;
  const stop = new Int32Array(ev.data.stop);
  const released = new Float64Array(ev.data.released);
  const go = new Int32Array(ev.data.go, 0, 1);
  // The schedule came before T_0: wait for T_0 itself on a futex.
  while (Atomics.load(go, 0) === 0 && Atomics.load(stop, 0) === 0) {
    Atomics.wait(go, 0, 0, 50);
  }
  if (Atomics.load(go, 0) === 0) {
    self.postMessage({ done: true });
    return;
  }
  const t0 = new Float64Array(ev.data.go, 8, 1)[0];
  for (let i = 0; i < pids.length; i++) {
    const due = t0 + deadlines[i];
    const left = due - monotonicMs();
    if (left > SPIN_MS) Atomics.wait(stop, 0, 0, left - SPIN_MS);
    if (Atomics.load(stop, 0) !== 0) break;
    const t = spinUntil(due);
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
