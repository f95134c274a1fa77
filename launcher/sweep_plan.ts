/**
 * Sweep plans: a grid of images × counts × patterns × param values ×
 * repeats, expanded into cells; the paper's default experiments; estimates of
 * each cell's time and peak memory; the memory pre-flight. All pure.
 *
 * @module
 */
import { type Pattern, patternKind, patternLabel } from "./pattern.ts";

/** One cell of a sweep: one run folder. */
export interface Cell {
  /** Cell id (c01, c02, …). */
  id: string;
  /** Profile name. */
  image: string;
  /** N: instances. */
  count: number;
  /** Launch pattern. */
  pattern: Pattern;
  /** Profile parameters. */
  params: Record<string, string>;
  /** Which repetition of the same cell (1-based). */
  repeat: number;
  /** Which experiment of the paper this cell belongs to, if any. */
  experiment?: string;
}

/** A grid as given by flags or a plan file. */
export interface Grid {
  images: string[];
  counts: number[];
  patterns: Pattern[];
  /** Param name → values; each name is a grid dimension. */
  params?: Record<string, string[]>;
  repeat?: number;
}

/** What is known about one image on this host, from a probe boot. */
export interface ImageCost {
  /** One boot alone, ms (≈ CPU cost of a boot under TCG). */
  bootMs: number;
  /**
   * Memory one more instance costs, KiB: its anonymous memory when the probe
   * could read it (QEMU's heap + guest memory touched), else its peak RSS.
   */
  rssKib: number;
  /** Memory all instances share (QEMU's binary and libraries), counted once, KiB. */
  sharedKib?: number;
  /**
   * What one boot costs when 2 × cores instances boot at once, ms (the
   * probe storm's first T_s → last ready × cores / N, and at least 3 ×
   * bootMs). Boots slow down more than linearly under contention (measured
   * here: one `pc` minkernel 116-126 ms alone, 0.12-0.53 s each with 4 at
   * once, 0.27-0.6 s each with 256 at once, depending on the other load), so
   * timeouts use this, not bootMs.
   */
  contendedBootMs?: number;
  /** Where the numbers come from. */
  source: "probe" | "profile";
}

/**
 * The cost of one more instance from a probe boot's row: its anonymous
 * memory (plus ~20% for page tables and kernel structures) with the shared
 * rest counted once, or its peak RSS when the anonymous memory is unknown.
 *
 * @example
 * ```ts
 * import { costFromProbe } from "./sweep_plan.ts";
 * costFromProbe({ boot_ms: 40, rss_peak_kib: 43000, anon_kib: 20000 });
 * // { bootMs: 40, rssKib: 24000, sharedKib: 23000, source: "probe" }
 * ```
 */
export function costFromProbe(row: {
  boot_ms: number;
  rss_peak_kib: number | null;
  anon_kib?: number | null;
}): ImageCost {
  const rss = row.rss_peak_kib ?? 0;
  const priv = row.anon_kib ?? null;
  return priv !== null && priv > 0 && priv <= rss
    ? {
      bootMs: row.boot_ms,
      rssKib: Math.round(priv * 1.2),
      sharedKib: rss - priv,
      source: "probe",
    }
    : { bootMs: row.boot_ms, rssKib: rss, source: "probe" };
}

/** Estimated duration and memory of one cell. */
export interface CellEstimate {
  /** Expected duration, s (from the cost of one boot alone). */
  seconds: number;
  /** Duration if every boot costs what it does under contention (the probe storm), s: what timeouts scale. */
  worstSeconds?: number;
  /** Estimated peak memory, KiB. */
  peakKib: number;
  /** Instances alive at once in the worst case. */
  concurrency: number;
  /** Memory per instance and shared by all, KiB (peakKib = concurrency × per + shared). */
  perInstanceKib?: number;
  /** Memory shared by all instances, KiB. */
  sharedKib?: number;
}

function cartesian<T>(lists: T[][]): T[][] {
  return lists.reduce<T[][]>(
    (acc, l) => acc.flatMap((a) => l.map((x) => [...a, x])),
    [[]],
  );
}

/**
 * Expand a grid into cells, in a stable order (image, pattern, params, count, repeat).
 *
 * @example
 * ```ts
 * import { expandGrid } from "./sweep_plan.ts";
 * const cells = expandGrid({ images: ["a", "b"], counts: [1, 2], patterns: [{ kind: "back-to-back" }] });
 * console.log(cells.length, cells[0].id); // 4 "c01"
 * ```
 */
export function expandGrid(
  grid: Grid,
  options: { experiment?: string; startIndex?: number } = {},
): Cell[] {
  const names = Object.keys(grid.params ?? {});
  const combos = cartesian(names.map((n) => grid.params![n]));
  const cells: Cell[] = [];
  let k = options.startIndex ?? 0;
  for (const image of grid.images) {
    for (const pattern of grid.patterns) {
      for (const combo of combos) {
        for (const count of grid.counts) {
          for (let r = 0; r < (grid.repeat ?? 1); r++) {
            k++;
            cells.push({
              id: `c${String(k).padStart(2, "0")}`,
              image,
              count,
              pattern,
              params: Object.fromEntries(names.map((n, i) => [n, combo[i]])),
              repeat: r,
              ...(options.experiment ? { experiment: options.experiment } : {}),
            });
          }
        }
      }
    }
  }
  return cells;
}

/** Images of the paper's experiments, as shipped profile names. */
export const DEFAULT_IMAGES = {
  baseline: "minkernel-microvm",
  synthetic: "synthetic",
  linux: "alpine-linux-quiet",
} as const;

/**
 * The paper's two experiments, scaled to this host (or at the paper's
 * sizes with `full`): (1) timeline: minkernel (on microvm: under TCG the
 * default machine's SeaBIOS makes 256 concurrent boots take over 30 s
 * each), 256 every 5 ms; (2) storm:
 * back-to-back N = 64, 128, 256 for minkernel and the synthetic guest, and
 * N = 4, 8 for the Linux guest (`full`: 64 … 1280, Linux up to 512).
 *
 * @example
 * ```ts
 * import { defaultPlan } from "./sweep_plan.ts";
 * console.log(defaultPlan().cells.length); // 9
 * ```
 */
export function defaultPlan(
  options: { full?: boolean } = {},
): { cells: Cell[]; note: string } {
  const full = options.full ?? false;
  const storm = full ? [64, 128, 256, 512, 1024, 1280] : [64, 128, 256];
  const linux = full ? [64, 128, 256, 512] : [4, 8];
  const b2b: Pattern = { kind: "back-to-back" };
  const timeline = expandGrid(
    {
      images: [DEFAULT_IMAGES.baseline],
      counts: [256],
      patterns: [{ kind: "interval", intervalMs: 5 }],
    },
    { experiment: "timeline" },
  );
  const storms = [
    ...expandGrid({
      images: [DEFAULT_IMAGES.baseline, DEFAULT_IMAGES.synthetic],
      counts: storm,
      patterns: [b2b],
    }, {
      experiment: "storm",
      startIndex: timeline.length,
    }),
  ];
  const linuxCells = expandGrid({
    images: [DEFAULT_IMAGES.linux],
    counts: linux,
    patterns: [b2b],
  }, {
    experiment: "storm",
    startIndex: timeline.length + storms.length,
  });
  const note = full
    ? "The paper's sizes: timeline 256 × 5 ms; storms of 64 … 1280 back-to-back (Linux up to 512); cells that do not fit in memory are refused by the pre-flight (--force to override)."
    : "Scaled to this host: the paper's timeline (minkernel, 256 every 5 ms) as is; storms of 64, 128, 256 back-to-back for minkernel and the synthetic guest (paper: up to 1280) and 4, 8 for the Linux guest (paper: up to 512), because a 2-core machine without usable KVM boots each guest in software. minkernel runs on QEMU's microvm machine (profile minkernel-microvm): through the default machine's SeaBIOS under TCG, 256 concurrent boots take about 30 s each (run --image minkernel for the paper's exact options). --full runs the paper's sizes.";
  return { cells: [...timeline, ...storms, ...linuxCells], note };
}

/** Cost guess when no probe exists, from the profile's class and memory. */
export function profileCost(
  cls: string | null,
  memMib: number | null,
): ImageCost {
  const bootMs = cls === "linux" ? 3000 : cls === "libos" ? 1000 : 200;
  return { bootMs, rssKib: ((memMib ?? 64) + 40) * 1024, source: "profile" };
}

/**
 * Estimate a cell's wall time and peak memory from the cost of one boot:
 * boots share `cores` CPUs, so N back-to-back take about N × boot / cores;
 * an interval pattern cannot go faster than N × Δ. Memory: every instance
 * alive at once in the worst case (back-to-back), fewer for parallel.
 *
 * @example
 * ```ts
 * import { estimateCell } from "./sweep_plan.ts";
 * const e = estimateCell({ id: "c01", image: "m", count: 64, pattern: { kind: "back-to-back" }, params: {}, repeat: 0 },
 *   { bootMs: 100, rssKib: 40000, source: "probe" }, { cores: 2 });
 * console.log(e.seconds.toFixed(1), e.peakKib); // "3.8" 2560000
 * ```
 */
export function estimateCell(
  cell: Cell,
  cost: ImageCost,
  options: { cores: number },
): CellEstimate {
  const n = cell.count;
  const kind = patternKind(cell.pattern);
  const schedule = kind.minDurationMs(cell.pattern, n);
  const duration = (bootMs: number) => {
    const cpu = (n * bootMs) / Math.max(1, options.cores);
    return (Math.max(cpu, schedule) + bootMs) / 1000 + 0.5;
  };
  const concurrency = kind.concurrency(cell.pattern, n);
  const seconds = duration(cost.bootMs);
  return {
    seconds,
    worstSeconds: Math.max(
      seconds,
      duration(cost.contendedBootMs ?? cost.bootMs),
    ),
    peakKib: concurrency * cost.rssKib + (cost.sharedKib ?? 0),
    concurrency,
    perInstanceKib: cost.rssKib,
    sharedKib: cost.sharedKib ?? 0,
  };
}

/** The pre-flight verdict for one cell. */
export interface Preflight {
  /** Whether the cell fits in memory. */
  ok: boolean;
  /** Largest N whose estimate fits (for back-to-back / interval cells). */
  largestN: number;
  /** Why not, with the fix (null when it fits). */
  message: string | null;
}

/**
 * Refuse a cell whose estimated peak memory exceeds what is available
 * (keeping a 10% margin), and name the largest N that fits.
 *
 * @example
 * ```ts
 * import { preflightCell } from "./sweep_plan.ts";
 * const cell = { id: "c01", image: "m", count: 1280, pattern: { kind: "back-to-back" as const }, params: {}, repeat: 0 };
 * const p = preflightCell(cell, { seconds: 1, peakKib: 1280 * 50000, concurrency: 1280 }, { availableKib: 20_000_000 });
 * console.log(p.ok, p.largestN); // false 360
 * ```
 */
export function preflightCell(
  cell: Cell,
  est: CellEstimate,
  options: { availableKib: number },
): Preflight {
  const budget = options.availableKib * 0.9;
  const shared = est.sharedKib ?? 0;
  const perInstance = est.perInstanceKib ??
    est.peakKib / Math.max(1, est.concurrency);
  const largestN = est.concurrency < cell.count
    ? cell.count
    : Math.max(0, Math.floor((budget - shared) / perInstance));
  if (est.peakKib <= budget) {
    return {
      ok: true,
      largestN: Math.max(largestN, cell.count),
      message: null,
    };
  }
  const mib = (k: number) => `${Math.round(k / 1024)} MiB`;
  return {
    ok: false,
    largestN,
    message: `Cell ${cell.id} (${cell.image}, ${
      patternLabel(cell.pattern)
    }, N=${cell.count}) needs about ${mib(est.peakKib)} (${est.concurrency} × ${
      mib(perInstance)
    } per instance + ${mib(shared)} shared) but ${
      mib(options.availableKib)
    } is available (90% usable: ${
      mib(budget)
    }); the largest N that fits is ${largestN}. Lower --count or pass --force.`,
  };
}

/** Human duration: `45 s`, `3 min 20 s`. */
export function formatDuration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

/** How a per-instance timeout was chosen (see {@link chooseTimeout}). */
export interface TimeoutPlan {
  ms: number;
  source: "flag" | "profile" | "estimate";
  reason: string;
}

/**
 * The per-instance timeout of a batch: `--timeout` when given; else the
 * profile's `timeoutMs`, raised to 3 × the batch's worst-case estimated
 * duration (`worstSeconds`: a storm on few cores is slow, not hung: 256
 * `pc` minkernels under TCG on 2 cores all become ready after about 76 s,
 * past the profile's 30 s).
 *
 * @example
 * ```ts
 * import { chooseTimeout } from "./sweep_plan.ts";
 * const t = chooseTimeout({ profileMs: 30000, estimateSeconds: 36 });
 * console.log(t.ms, t.source); // 108000 "estimate"
 * ```
 */
export function chooseTimeout(
  options: {
    flagMs?: number | null;
    profileMs: number;
    estimateSeconds: number | null;
  },
): TimeoutPlan {
  if (options.flagMs !== undefined && options.flagMs !== null) {
    return {
      ms: options.flagMs,
      source: "flag",
      reason: `--timeout ${options.flagMs}`,
    };
  }
  const est = options.estimateSeconds;
  const scaled = est === null ? 0 : Math.ceil(3000 * est);
  if (scaled > options.profileMs) {
    return {
      ms: scaled,
      source: "estimate",
      reason: `3 × the batch's worst-case estimate of ${
        formatDuration(est!)
      } (more than the profile's ${formatDuration(options.profileMs / 1000)})`,
    };
  }
  return {
    ms: options.profileMs,
    source: "profile",
    reason: `the profile's timeoutMs${
      est === null ? "" : ` (3 × the estimated ${formatDuration(est)} is less)`
    }`,
  };
}
