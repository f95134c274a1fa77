/**
 * Launch patterns: when each instance's T_s is due, and everything else a
 * pattern decides. {@link PATTERNS} is the registry: one {@link PatternKind}
 * per pattern holds its command-line flag, its plan-file JSON, its
 * schedule, its record and label, its default spawn mode, its closed-loop
 * bound, its sweep estimate and its split over Slurm nodes. A new pattern
 * is a new member of {@link Pattern} and a new entry of {@link PATTERNS}
 * (the registry's type refuses a pattern without an entry).
 *
 * @module
 */

/** Open loop: instance i is due at T_0 + i·Δ. */
export type IntervalPattern = { kind: "interval"; intervalMs: number };
/** Every instance as fast as spawning allows. */
export type BackToBackPattern = { kind: "back-to-back" };
/** Closed loop: keep `parallelism` instances booting. */
export type ParallelPattern = { kind: "parallel"; parallelism: number };

/** How instances are started. */
export type Pattern = IntervalPattern | BackToBackPattern | ParallelPattern;

/**
 * How instances are started: `direct` spawns each at T_s from the launcher
 * (Deno's spawn call); `prestart` forks each before T_0, stopped, and
 * releases it at T_s (prestart.ts); `fork` has a small C helper fork each
 * at T_s, the paper's way (fork_at_ts.ts).
 */
export type SpawnMode = "direct" | "prestart" | "fork";

/** A pattern as recorded in `run.json`. */
export type PatternRecord = {
  kind: Pattern["kind"];
  interval_ms?: number;
  parallelism?: number;
};

/** One launch pattern: everything the toolkit asks of it. */
export interface PatternKind<P extends Pattern> {
  /** The pattern's `kind`. */
  readonly kind: P["kind"];
  /** Its command-line flag (`--name`), repeatable when it takes a value. */
  readonly flag: {
    name: string;
    /** The flag takes a value (`--interval 5`), else it is a switch. */
    value: boolean;
    /** What the value should be, for "missing value" errors. */
    hint?: string;
    /** Its line of `deno task sweep --help`. */
    help: string;
  };
  /** The pattern of one flag value (undefined for a switch), or a message. */
  fromFlag(value: string | undefined): Pattern | string;
  /** Its plan-file JSON, for messages. */
  readonly json: string;
  /** The pattern of a plan file's JSON object, or null when invalid. */
  fromJson(o: Record<string, unknown>): P | null;
  /** The scheduled T_s of instance `i`, ms after T_0; null: no schedule. */
  scheduledMs(p: P, i: number): number | null;
  /** The pattern as recorded in `run.json`. */
  record(p: P): PatternRecord;
  /** A short label: `every 5 ms`. */
  label(p: P): string;
  /** Spawn mode when none is asked for. */
  readonly spawnMode: SpawnMode;
  /** Closed loop: at most this many instances booting at once; null: open loop. */
  maxBooting(p: P): number | null;
  /** The shortest time `n` starts take by the schedule alone, ms (estimates). */
  minDurationMs(p: P, n: number): number;
  /** Instances alive at once at worst, of `n` (estimates). */
  concurrency(p: P, n: number): number;
  /**
   * Node `r`'s pattern when a storm is split over `nodes` hosts (each node
   * boots its share), and its start offset after the agreed T_0.
   */
  split(
    p: P,
    nodes: { nodes: number; r: number },
  ): { pattern: P; start_offset_ms: number };
}

function positive(flag: string, v: string | undefined): number | string {
  const n = Number(v);
  return Number.isInteger(n) && n > 0
    ? n
    : `Invalid ${flag} ${JSON.stringify(v)}: expected a positive whole number`;
}

const interval: PatternKind<IntervalPattern> = {
  kind: "interval",
  flag: {
    name: "interval",
    value: true,
    hint: "milliseconds ≥ 0, e.g. --interval 5",
    help:
      "--interval MS       open loop: instance i released at T_0 + 2 ms + i·MS          [5 when no pattern]",
  },
  fromFlag(v) {
    const ms = Number(v);
    if (!Number.isFinite(ms) || ms < 0) {
      return `Invalid --interval ${
        JSON.stringify(v)
      }: expected milliseconds ≥ 0`;
    }
    return ms === 0
      ? { kind: "back-to-back" }
      : { kind: "interval", intervalMs: ms };
  },
  json: '{"kind":"interval","intervalMs":5}',
  fromJson: (o) =>
    typeof o.intervalMs === "number" && o.intervalMs > 0
      ? { kind: "interval", intervalMs: o.intervalMs }
      : null,
  scheduledMs: (p, i) => i * p.intervalMs,
  record: (p) => ({ kind: "interval", interval_ms: p.intervalMs }),
  label: (p) => `every ${p.intervalMs} ms`,
  spawnMode: "fork",
  maxBooting: () => null,
  minDurationMs: (p, n) => n * p.intervalMs,
  concurrency: (_, n) => n,
  // The cadence holds across the cluster: instance k of the storm on node
  // k mod H at T_0 + k·Δ, so each node every H·Δ, node r from r·Δ.
  split: (p, { nodes, r }) => ({
    pattern: { kind: "interval", intervalMs: p.intervalMs * nodes },
    start_offset_ms: r * p.intervalMs,
  }),
};

const backToBack: PatternKind<BackToBackPattern> = {
  kind: "back-to-back",
  flag: {
    name: "back-to-back",
    value: false,
    help: "--back-to-back      start instances as fast as spawning allows",
  },
  fromFlag: () => ({ kind: "back-to-back" }),
  json: '{"kind":"back-to-back"}',
  fromJson: () => ({ kind: "back-to-back" }),
  scheduledMs: () => null,
  record: () => ({ kind: "back-to-back", interval_ms: 0 }),
  label: () => "back-to-back",
  spawnMode: "fork",
  maxBooting: () => null,
  minDurationMs: () => 0,
  concurrency: (_, n) => n,
  split: (p) => ({ pattern: p, start_offset_ms: 0 }),
};

const parallel: PatternKind<ParallelPattern> = {
  kind: "parallel",
  flag: {
    name: "parallel",
    value: true,
    hint: "a whole number ≥ 1, e.g. --parallel 4",
    help: "--parallel P        closed loop: keep P instances booting",
  },
  fromFlag(v) {
    const n = positive("--parallel", v);
    return typeof n === "string" ? n : { kind: "parallel", parallelism: n };
  },
  json: '{"kind":"parallel","parallelism":4}',
  fromJson: (o) =>
    Number.isInteger(o.parallelism) && (o.parallelism as number) > 0
      ? { kind: "parallel", parallelism: o.parallelism as number }
      : null,
  scheduledMs: () => null,
  record: (p) => ({ kind: "parallel", parallelism: p.parallelism }),
  label: (p) => `parallel ${p.parallelism}`,
  spawnMode: "direct",
  maxBooting: (p) => p.parallelism,
  minDurationMs: () => 0,
  concurrency: (p, n) => Math.min(n, p.parallelism),
  split: (p) => ({ pattern: p, start_offset_ms: 0 }),
};

/**
 * Every launch pattern by kind, in the order of `--help` and of the
 * patterns a command line gives.
 *
 * @example
 * ```ts
 * import { PATTERNS } from "./pattern.ts";
 * console.log(Object.values(PATTERNS).map((k) => `--${k.flag.name}`)); // [ "--interval", "--back-to-back", "--parallel" ]
 * console.log(PATTERNS.interval.fromFlag("0")); // { kind: "back-to-back" }
 * ```
 */
export const PATTERNS: {
  readonly [K in Pattern["kind"]]: PatternKind<Extract<Pattern, { kind: K }>>;
} = { interval, "back-to-back": backToBack, parallel };

/**
 * The registry entry of a pattern.
 *
 * @example
 * ```ts
 * import { patternKind } from "./pattern.ts";
 * console.log(patternKind({ kind: "parallel", parallelism: 4 }).spawnMode); // "direct"
 * ```
 */
export function patternKind(pattern: Pattern): PatternKind<Pattern> {
  return PATTERNS[pattern.kind] as PatternKind<Pattern>;
}

/**
 * A plan file's pattern JSON, or null when it is no valid pattern.
 *
 * @example
 * ```ts
 * import { patternFromJson } from "./pattern.ts";
 * console.log(patternFromJson({ kind: "interval", intervalMs: 5 })); // { kind: "interval", intervalMs: 5 }
 * console.log(patternFromJson({ kind: "interval" })); // null
 * ```
 */
export function patternFromJson(p: unknown): Pattern | null {
  const o = p as Record<string, unknown>;
  if (typeof o?.kind !== "string" || !Object.hasOwn(PATTERNS, o.kind)) {
    return null;
  }
  return patternKind(o as Pattern).fromJson(o);
}

/**
 * The scheduled T_s of instance `i` (ms after T_0), or null when the pattern
 * has no schedule (back-to-back, parallel).
 *
 * @example
 * ```ts
 * import { scheduledMs } from "./pattern.ts";
 * console.log(scheduledMs({ kind: "interval", intervalMs: 5 }, 3)); // 15
 * ```
 */
export function scheduledMs(pattern: Pattern, i: number): number | null {
  return patternKind(pattern).scheduledMs(pattern, i);
}

/**
 * The pattern as recorded in `run.json`.
 *
 * @example
 * ```ts
 * import { patternRecord } from "./pattern.ts";
 * console.log(patternRecord({ kind: "back-to-back" })); // { kind: "back-to-back", interval_ms: 0 }
 * ```
 */
export function patternRecord(pattern: Pattern): PatternRecord {
  return patternKind(pattern).record(pattern);
}

/**
 * A short label: `every 5 ms`, `back-to-back`, `parallel 4`.
 *
 * @example
 * ```ts
 * import { patternLabel } from "./pattern.ts";
 * console.log(patternLabel({ kind: "interval", intervalMs: 5 })); // "every 5 ms"
 * ```
 */
export function patternLabel(pattern: Pattern): string {
  return patternKind(pattern).label(pattern);
}

/**
 * Instances already booting at `t` among `[start, end)` intervals, where a
 * null end means "still booting". `self` is excluded.
 *
 * @example
 * ```ts
 * import { concurrencyAt } from "./pattern.ts";
 * console.log(concurrencyAt(5, [0, 1, 5], [4, null, null], 2)); // 1
 * ```
 */
export function concurrencyAt(
  t: number,
  starts: readonly (number | null)[],
  ends: readonly (number | null)[],
  self: number,
): number {
  let n = 0;
  for (let j = 0; j < starts.length; j++) {
    const s = starts[j];
    if (
      j === self || s === null || s > t || (s === t && self >= 0 && j > self)
    ) continue;
    const e = ends[j];
    if (e === null || e > t) n++;
  }
  return n;
}

function upperBound(sorted: Float64Array, t: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A fast `t → instances booting at t` for many moments at once: the same
 * count as `concurrencyAt(t, starts, ends, -1)` in O(log N) per moment,
 * #{start ≤ t} − #{end ≤ t} (an end never precedes its start).
 *
 * @example
 * ```ts
 * import { bootingCounter } from "./pattern.ts";
 * const at = bootingCounter([0, 1, 5], [4, null, null]);
 * console.log(at(0), at(4), at(5)); // 1 1 2
 * ```
 */
export function bootingCounter(
  starts: readonly (number | null)[],
  ends: readonly (number | null)[],
): (t: number) => number {
  const s = Float64Array.from(starts.filter((x): x is number => x !== null))
    .sort();
  const e = Float64Array.from(
    ends.filter((x, i): x is number => x !== null && starts[i] !== null),
  ).sort();
  return (t) => upperBound(s, t) - upperBound(e, t);
}
