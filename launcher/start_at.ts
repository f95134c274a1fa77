/**
 * Waiting for an agreed absolute instant on the monotonic clock: sleep on
 * the event loop until shortly before, then spin, so T_0 is taken within a
 * few microseconds of the target when the thread gets the CPU.
 *
 * @module
 */
import { monotonicMs } from "./clock.ts";

/** Spin for the last part of the wait, ms. */
const SPIN_MS = 2;

/**
 * Resolve at `targetMs` on `monotonicMs()` (at once when it has passed, or
 * when `signal` aborts); resolves to the target.
 *
 * @example
 * ```ts
 * import { monotonicMs } from "./clock.ts";
 * import { sleepUntil } from "./start_at.ts";
 * const target = monotonicMs() + 5;
 * await sleepUntil(target);
 * console.log(monotonicMs() >= target); // true
 * ```
 */
export async function sleepUntil(
  targetMs: number,
  signal?: AbortSignal,
): Promise<number> {
  while (!signal?.aborted) {
    const left = targetMs - monotonicMs();
    if (left <= SPIN_MS) break;
    await new Promise((r) => setTimeout(r, Math.min(left - SPIN_MS, 50)));
  }
  while (!signal?.aborted && monotonicMs() < targetMs) {
    // spin
  }
  return targetMs;
}
