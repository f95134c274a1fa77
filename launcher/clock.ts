/**
 * One monotonic clock shared by every thread of the launcher:
 * `clock_gettime(CLOCK_MONOTONIC)` through Deno's FFI, the same clock the C
 * harness of the paper's method reads. Falls back to `performance.now()`
 * (per-thread origin) when FFI is unavailable; `clockSource` says which.
 *
 * @module
 */

const CLOCK_MONOTONIC = 1;
const CLOCK_PROCESS_CPUTIME_ID = 2;

type Libc = {
  symbols: {
    clock_gettime: (id: number, buf: BigInt64Array) => number;
  };
};

let libc: Libc | null = null;
const ts = new BigInt64Array(2);
try {
  libc = Deno.dlopen("libc.so.6", {
    clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  }) as unknown as Libc;
} catch {
  libc = null;
}

/** `"clock_gettime(CLOCK_MONOTONIC)"` or `"performance.now"`. */
export const clockSource: string = libc
  ? "clock_gettime(CLOCK_MONOTONIC)"
  : "performance.now";

/**
 * Whether {@link monotonicMs} reads the host's CLOCK_MONOTONIC (else it is
 * `performance.now()`, this process's own): times from it can be set
 * against other processes' only when true.
 *
 * @example
 * ```ts
 * import { clockIsHostMonotonic } from "./clock.ts";
 * console.log(typeof clockIsHostMonotonic); // "boolean"
 * ```
 */
export const clockIsHostMonotonic: boolean = libc !== null;

/**
 * Milliseconds on the system monotonic clock, nanosecond source, µs-exact.
 *
 * @example
 * ```ts
 * import { monotonicMs } from "./clock.ts";
 * const a = monotonicMs();
 * console.log(monotonicMs() >= a); // true
 * ```
 */
export const monotonicMs: () => number = libc
  ? () => {
    libc!.symbols.clock_gettime(CLOCK_MONOTONIC, ts);
    return Number(ts[0]) * 1e3 + Number(ts[1]) / 1e6;
  }
  : () => performance.now();

const CLOCK_REALTIME = 0;
const wallTs = new BigInt64Array(2);

/**
 * CLOCK_REALTIME in ms since the epoch, µs resolution (the multi-host start
 * instant is agreed on it); `performance.timeOrigin + performance.now()`
 * without FFI.
 *
 * @example
 * ```ts
 * import { realtimeMs } from "./clock.ts";
 * console.log(Math.abs(realtimeMs() - Date.now()) < 1000); // true
 * ```
 */
export function realtimeMs(): number {
  if (!libc) return performance.timeOrigin + performance.now();
  libc.symbols.clock_gettime(CLOCK_REALTIME, wallTs);
  return Number(wallTs[0]) * 1e3 + Number(wallTs[1]) / 1e6;
}

const cpuTs = new BigInt64Array(2);

/**
 * CPU time of every thread of this process so far, ms
 * (`clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`: the scheduler's exact runtime,
 * ns resolution; children excluded). Null without FFI.
 *
 * Unlike the user / system split of `getrusage` (`process.cpuUsage`), which
 * the kernel derives from timer-tick samples (CONFIG_TICK_CPU_ACCOUNTING)
 * and keeps monotonic part by part, so that over a short window one part can
 * stay flat while the other takes the whole difference, this total is exact
 * over any window.
 *
 * @example
 * ```ts
 * import { processCpuMs } from "./clock.ts";
 * const a = processCpuMs()!;
 * let x = 0;
 * for (let i = 0; i < 1e6; i++) x += i;
 * console.log(processCpuMs()! > a); // true
 * ```
 */
export function processCpuMs(): number | null {
  if (!libc) return null;
  libc.symbols.clock_gettime(CLOCK_PROCESS_CPUTIME_ID, cpuTs);
  return Number(cpuTs[0]) * 1e3 + Number(cpuTs[1]) / 1e6;
}

/** A timer handle of a {@link Clock}. */
export type TimerId = ReturnType<typeof setTimeout>;

/**
 * The time and the timers the launcher reads: the monotonic clock and the
 * event loop's timers ({@link realClock}), or a fake one in tests
 * (`launcher/testing/fake_clock.ts`).
 */
export interface Clock {
  /** Milliseconds on this clock (absolute: the launcher subtracts T_0). */
  now(): number;
  /** Call `fn` once after `ms` milliseconds of this clock. */
  setTimeout(fn: () => void, ms: number): TimerId;
  /** Cancel a timer of `setTimeout`. */
  clearTimeout(id: TimerId): void;
}

/**
 * The real clock: {@link monotonicMs} and the event loop's timers.
 *
 * @example
 * ```ts
 * import { realClock } from "./clock.ts";
 * const a = realClock.now();
 * await new Promise<void>((r) => realClock.setTimeout(r, 1));
 * console.log(realClock.now() > a); // true
 * ```
 */
export const realClock: Clock = {
  now: monotonicMs,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
};
