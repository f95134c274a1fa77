/**
 * The storm's one start instant, T_0: chosen by the submitting host a
 * little in the future on its own clock, converted by each node to its own
 * clock with its measured offset, then to the launcher's monotonic clock.
 * Pure functions.
 *
 * @module
 */
import type { HostClock } from "./clock_offset.ts";

/** Default time between deciding T_0 and T_0, ms: covers telling every node. */
export const DEFAULT_START_MARGIN_MS = 300;

/**
 * T_0 on the submitter's clock: `marginMs` after `nowMs`.
 *
 * @example
 * ```ts
 * import { chooseStartInstant } from "./start_instant.ts";
 * console.log(chooseStartInstant(1000, 300)); // 1300
 * ```
 */
export function chooseStartInstant(nowMs: number, marginMs: number): number {
  if (!(marginMs > 0)) {
    throw new Error(
      `Invalid start margin ${marginMs} ms: give a positive number of ms (e.g. --start-margin ${DEFAULT_START_MARGIN_MS})`,
    );
  }
  return nowMs + marginMs;
}

/**
 * A submitter instant on the node's clock: submitter time minus the
 * offset (offset = submitter clock − node clock).
 *
 * @example
 * ```ts
 * import { toNodeClock } from "./start_instant.ts";
 * console.log(toNodeClock(5000, -250)); // 5250: the node's clock is 250 ms ahead
 * ```
 */
export function toNodeClock(submitterMs: number, offsetMs: number): number {
  return submitterMs - offsetMs;
}

/** Where a node starts, on each of its clocks. */
export interface LocalStart {
  /** T_0 (plus this node's start offset) on the submitter's clock, ms since the epoch. */
  submitter_ms: number;
  /** The same instant on the node's wall clock. */
  node_wall_ms: number;
  /** The same instant on the node's monotonic clock (what the launcher waits for). */
  node_monotonic_ms: number;
}

/**
 * The node's start: T_0 plus its start offset (a cluster-wide cadence gives
 * node k a phase of k·Δ), on the node's wall clock and monotonic clock.
 *
 * @example
 * ```ts
 * import { hostClock } from "./clock_offset.ts";
 * import { localStart } from "./start_instant.ts";
 * // T_0 on the submitter's clock, this node 250 ms ahead of it, starting 5 ms after T_0:
 * const s = localStart(1_000_000, { offsetMs: -250, startOffsetMs: 5, clock: hostClock() });
 * console.log(s.submitter_ms, s.node_wall_ms); // 1000005 1000255
 * ```
 */
export function localStart(
  t0SubmitterMs: number,
  options: { offsetMs: number; startOffsetMs: number; clock: HostClock },
): LocalStart {
  const submitter_ms = t0SubmitterMs + options.startOffsetMs;
  const node_wall_ms = toNodeClock(submitter_ms, options.offsetMs);
  return {
    submitter_ms,
    node_wall_ms,
    node_monotonic_ms: options.clock.toMonotonic(node_wall_ms),
  };
}
