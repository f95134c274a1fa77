/**
 * Pre-start and release: every instance is forked before T_0, stopped (its
 * starter shell, see `PRESTART_SCRIPT` in runner.ts), and released with
 * SIGCONT at its T_s by the real-time release thread (release_worker.ts),
 * which takes T_s right before the signal: the exec of argv[0] is inside
 * ΔT, the fork is not. Holding instances costs file descriptors: the
 * budget under the open-files limit is checked before each fork.
 *
 * The release thread reads the real monotonic clock: pre-starting needs the
 * real clock (`launch()` refuses another).
 *
 * @module
 */
import { monotonicMs } from "./clock.ts";
import { setImmediate } from "node:timers";
import { getOpenFilesLimit } from "./limits.ts";
import { isStopped, type Proc } from "./runner.ts";
import type { InstanceState } from "./instance.ts";

/**
 * Interval pattern, pre-started: instance i is due at T_0 + lead + i·Δ.
 *
 * @example
 * ```ts
 * import { RELEASE_LEAD_MS } from "./prestart.ts";
 * console.log(RELEASE_LEAD_MS); // 2
 * ```
 */
export const RELEASE_LEAD_MS = 2;

/** How long a pre-started shell may take to stop itself. */
const STOP_WAIT_MS = 30000;

/** What `runPrestarted` asks of the launcher. */
export interface PrestartHooks<S extends InstanceState> {
  /** Fork instance `i` stopped; throws when it cannot. */
  prestart(i: number): Proc;
  /** Instance `s` is held, stopped, as `proc` (watch its output and exit). */
  onHeld(s: S, proc: Proc): void;
  /** Instance `s` could not be held (called after T_0, at its schedule). */
  onFailed(s: S, error: unknown): void;
  /** T_0 is taken, absolute on the monotonic clock. */
  setT0(t0: number): void;
  /**
   * Instance `s` was released at `t_s` (ms after T_0); `error`: the
   * SIGCONT failed.
   */
  onReleased(s: S, release: { t_s: number; error: string | null }): void;
  /**
   * Called at T_0 with a lookup of an instance's T_s as the release thread
   * recorded it (null until then), for output that arrives before the
   * release message does.
   */
  releaseLookup?(lookup: (s: S) => number | null): void;
  /** Instance `s` was held but never released (interrupted): reap it. */
  reap(s: S): void;
  /** Whether the batch was interrupted. */
  interrupted(): boolean;
}

type Msg = {
  i?: number;
  t_s?: number;
  error?: string | null;
  done?: boolean;
  loaded?: boolean;
  warning?: string | null;
};

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

/**
 * Pre-start every instance, take T_0, release each on schedule: the release
 * worker first (a thread needs file descriptors too), then a stopped fork
 * per instance (those over the descriptor budget, or whose fork throws, are
 * failed at their schedule after T_0); schedules move by
 * {@link RELEASE_LEAD_MS}. Resolves when every held instance is released
 * (or the batch is interrupted), with why the release thread ran without
 * real-time priority, if it did.
 *
 * @example
 * ```ts
 * import { runPrestarted } from "./prestart.ts";
 * // launch() passes its instances and hooks (launch.ts); with none, the
 * // release thread starts, T_0 is taken and nothing is released.
 * let t0 = NaN;
 * const { releaseWarning } = await runPrestarted([], {
 *   prestart: () => { throw new Error("none"); },
 *   onHeld: () => {}, onFailed: () => {}, onReleased: () => {}, reap: () => {},
 *   setT0: (t) => (t0 = t), interrupted: () => false,
 * });
 * console.log(Number.isFinite(t0), typeof releaseWarning); // true "string" (or "object": null with real-time priority)
 * ```
 */
export async function runPrestarted<S extends InstanceState>(
  insts: S[],
  hooks: PrestartHooks<S>,
  options: {
    phases?: boolean;
    signal?: AbortSignal;
    t0At?: () => Promise<number>;
  } = {},
): Promise<{ releaseWarning: string | null }> {
  const stopBuf = new SharedArrayBuffer(4);
  // [0] int32: 0 wait, 1 go (T_0 at byte 8, float64); see release_worker.ts
  const goBuf = new SharedArrayBuffer(16);
  const worker = new Worker(
    new URL("./release_worker.ts", import.meta.url),
    { type: "module" },
  );
  const loaded = new Promise<Msg>((
    r,
  ) => (worker.onmessage = (ev: MessageEvent<Msg>) => r(ev.data)));
  const abort = () => {
    const f = new Int32Array(stopBuf);
    Atomics.store(f, 0, 1);
    Atomics.notify(f, 0);
    // a release thread still waiting for T_0 wakes and sees the stop
    Atomics.notify(new Int32Array(goBuf, 0, 1), 0);
  };
  options.signal?.addEventListener("abort", abort, { once: true });
  let t0Taken = false;
  try {
    const releaseWarning = (await loaded).warning ?? null;
    const budget = prestartBudget(options.phases === true);
    const pids: number[] = [];
    const procs: Proc[] = [];
    const held: S[] = [];
    const failed: [S, unknown][] = [];
    for (const s of insts) {
      if (hooks.interrupted()) break;
      if (held.length >= budget.instances) {
        failed.push([s, new Error(budget.message)]);
        continue;
      }
      try {
        const p = hooks.prestart(s.instance);
        pids.push(p.pid);
        procs.push(p);
        held.push(s);
        hooks.onHeld(s, p);
      } catch (e) {
        failed.push([s, e]);
      }
      if (pids.length % 16 === 0) await yieldToLoop();
    }
    const waitStart = monotonicMs();
    for (let k = 0; k < held.length; k++) {
      while (
        !isStopped(procs[k].pid) && !held[k].exited && !hooks.interrupted()
      ) {
        if (monotonicMs() - waitStart > STOP_WAIT_MS) {
          throw new Error(
            `Cannot pre-start instance ${
              held[k].instance
            }: not stopped after 30 s`,
          );
        }
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    for (const s of insts) {
      if (s.scheduled_ms !== null) s.scheduled_ms += RELEASE_LEAD_MS;
    }
    const releasedBuf = new SharedArrayBuffer(8 * Math.max(1, held.length));
    const released = new Float64Array(releasedBuf).fill(NaN);
    const index = new Map(held.map((s, k) => [s, k]));
    // The schedule goes to the release thread before T_0; at T_0 only its
    // time does, through shared memory and a futex wake-up: a message
    // posted at T_0 reached the thread up to ~0.9 ms after instance 0's
    // deadline (T_0 + 2 ms).
    const go = new Int32Array(goBuf, 0, 1);
    const goT0 = new Float64Array(goBuf, 8, 1);
    const done = new Promise<void>((resolve) => {
      worker.onmessage = (ev: MessageEvent<Msg>) => {
        if (ev.data.done) return resolve();
        hooks.onReleased(held[ev.data.i!], {
          t_s: ev.data.t_s!,
          error: ev.data.error ?? null,
        });
      };
    });
    worker.postMessage({
      // Back-to-back: every deadline is the lead, released in order.
      deadlines: held.map((x) => x.scheduled_ms ?? RELEASE_LEAD_MS),
      pids,
      stop: stopBuf,
      released: releasedBuf,
      go: goBuf,
    });
    const t0 = options.t0At ? await options.t0At() : monotonicMs();
    goT0[0] = t0;
    Atomics.store(go, 0, 1);
    Atomics.notify(go, 0);
    hooks.setT0(t0);
    t0Taken = true;
    for (const [s, e] of failed) hooks.onFailed(s, e);
    hooks.releaseLookup?.((s) => {
      const k = index.get(s);
      const t = k === undefined ? NaN : released[k];
      return Number.isNaN(t) ? null : t;
    });
    if (hooks.interrupted()) abort();
    await done;
    // Instances never released (interrupted): reap them.
    for (const s of held) if (s.t_s_ms === null) hooks.reap(s);
    return { releaseWarning };
  } finally {
    options.signal?.removeEventListener("abort", abort);
    worker.terminate();
    if (!t0Taken) hooks.setT0(monotonicMs());
  }
}

/**
 * Whether a pre-started instance's exit is its starter shell failing to exec
 * argv[0] (a spawn failure, not a boot): status 127 and the shell's message.
 *
 * @example
 * ```ts
 * import { execFailed } from "./prestart.ts";
 * console.log(execFailed(127, "sh: 1: exec: qemu: not found")); // true
 * console.log(execFailed(1, "qemu: bad option")); // false
 * ```
 */
export function execFailed(code: number | null, stderr: string): boolean {
  return code === 127 &&
    /not found|No such file|Permission denied|cannot execute/i.test(stderr);
}

/** File descriptors a pre-started instance holds: stdout, stderr, pidfd. */
const FDS_PER_CHILD = 3;

/** Descriptors kept free for the launcher itself (files, /proc reads, threads). */
const FD_RESERVE = 12;

/**
 * How many instances can be held pre-started at once under the open-files
 * soft limit, keeping FD_RESERVE descriptors for the launcher itself (and one
 * more per instance for its QMP socket in phase mode); `message` says so
 * when an instance does not fit.
 *
 * @example
 * ```ts
 * import { prestartBudget } from "./prestart.ts";
 * console.log(prestartBudget(false).instances > 0); // true
 * ```
 */
export function prestartBudget(
  phases: boolean,
): { instances: number; message: string } {
  const lim = getOpenFilesLimit();
  if (lim === null) return { instances: Infinity, message: "" };
  let open = 0;
  try {
    for (const _ of Deno.readDirSync("/proc/self/fd")) open++;
  } catch {
    return { instances: Infinity, message: "" };
  }
  const per = FDS_PER_CHILD + (phases ? 1 : 0);
  const instances = Math.max(
    0,
    Math.floor((lim.soft - open - FD_RESERVE) / per),
  );
  return {
    instances,
    message:
      `Too many open files: the open-files limit (${lim.soft}) leaves room for ${instances} instances held at once (${per} descriptors each in the launcher); raise it (ulimit -n) or lower --count`,
  };
}
