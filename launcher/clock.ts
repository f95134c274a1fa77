/**
 * One monotonic clock shared by every thread of the launcher:
 * `clock_gettime(CLOCK_MONOTONIC)` through Deno's FFI, the same clock the C
 * harness of the paper's method reads. Falls back to `performance.now()`
 * (per-thread origin) when FFI is unavailable; `clockSource` says which.
 *
 * @module
 */

const CLOCK_MONOTONIC = 1;

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
