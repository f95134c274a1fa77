/**
 * A host's clock offset against the submitting host, measured by round
 * trips (the NTP method with the submitter answering at one instant):
 * the node sends at t1 (its clock), the submitter stamps t2 (its clock),
 * the node receives at t4. With the round trip r = t4 − t1, the submitter's
 * clock minus the node's is t2 − (t1 + t4) / 2, exactly when both legs
 * take equally long and within ± r / 2 whatever the legs take: the
 * sample with the shortest round trip gives the estimate and its
 * uncertainty.
 *
 * The node's clock is CLOCK_REALTIME (through FFI: µs resolution),
 * optionally shifted by an injected offset (tests: all nodes of the local
 * cluster share one kernel, hence one clock).
 *
 * @module
 */
import { monotonicMs, realtimeMs } from "../launcher/clock.ts";

/** One round trip, ms on the two clocks. */
export interface ClockSample {
  /** Node clock when the request left. */
  t1: number;
  /** Submitter clock when it answered. */
  t2: number;
  /** Node clock when the answer arrived. */
  t4: number;
}

/** A clock offset estimate, as recorded per host. */
export interface ClockOffset {
  /** Submitter clock minus node clock, ms (add to a node time to get submitter time). */
  offset_ms: number;
  /** Half the shortest round trip, ms: the true offset is within offset_ms ± this. */
  uncertainty_ms: number;
  /** Shortest round trip, ms. */
  rtt_min_ms: number;
  /** Median round trip, ms. */
  rtt_median_ms: number;
  /** Round trips used. */
  samples: number;
  /** Spread (max − min) of the offsets of the samples whose round trip is within 2× the shortest, ms. */
  spread_ms: number;
}

/**
 * The estimate from round trips: the offset of the shortest one, with half
 * its round trip as the uncertainty.
 *
 * @example
 * ```ts
 * import { estimateOffset } from "./clock_offset.ts";
 * // node clock 100 ms behind, legs of 1 ms and 3 ms, then 0.2 ms each way:
 * const e = estimateOffset([{ t1: 0, t2: 101, t4: 4 }, { t1: 10, t2: 110.2, t4: 10.4 }]);
 * console.log(e.offset_ms.toFixed(1), e.uncertainty_ms.toFixed(1)); // "100.0" "0.2"
 * ```
 */
export function estimateOffset(samples: readonly ClockSample[]): ClockOffset {
  if (samples.length === 0) {
    throw new Error("Cannot estimate a clock offset from no round trips");
  }
  const rtts = samples.map((s) => s.t4 - s.t1);
  let best = 0;
  for (let i = 1; i < samples.length; i++) if (rtts[i] < rtts[best]) best = i;
  const off = (s: ClockSample) => s.t2 - (s.t1 + s.t4) / 2;
  const near = samples.filter((_, i) => rtts[i] <= 2 * rtts[best] + 1e-9).map(
    off,
  );
  const sorted = [...rtts].sort((a, b) => a - b);
  const m = sorted.length >> 1;
  return {
    offset_ms: off(samples[best]),
    uncertainty_ms: rtts[best] / 2,
    rtt_min_ms: rtts[best],
    rtt_median_ms: sorted.length % 2
      ? sorted[m]
      : (sorted[m - 1] + sorted[m]) / 2,
    samples: samples.length,
    spread_ms: Math.max(...near) - Math.min(...near),
  };
}

// The wall clock comes from the launcher's one libc binding (clock.ts).
export { realtimeMs };

/** A host's clock as the multi-host code reads it. */
export interface HostClock {
  /** The host's wall clock, ms since the epoch (with the injected offset). */
  now(): number;
  /** Offset added to the real clock (0 unless injected for a test), ms. */
  injectedMs: number;
  /** The `monotonicMs()` instant at which `now()` will read `wallMs`. */
  toMonotonic(wallMs: number): number;
}

/**
 * The host clock: CLOCK_REALTIME plus `injectedMs`; `toMonotonic` maps a
 * wall instant to the launcher's monotonic clock through a tightly read
 * (realtime, monotonic) pair.
 *
 * @example
 * ```ts
 * import { hostClock } from "./clock_offset.ts";
 * const c = hostClock(250);
 * console.log(c.injectedMs); // 250
 * ```
 */
export function hostClock(injectedMs = 0): HostClock {
  const now = () => realtimeMs() + injectedMs;
  return {
    now,
    injectedMs,
    toMonotonic(wallMs: number): number {
      // The pair read with the least time between its two wall readings.
      let best = Infinity, mono = 0, wall = 0;
      for (let i = 0; i < 5; i++) {
        const a = now(), m = monotonicMs(), b = now();
        if (b - a < best) (best = b - a, mono = m, wall = (a + b) / 2);
      }
      return mono + (wallMs - wall);
    },
  };
}
