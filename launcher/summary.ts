/**
 * Per-cell summary of a sweep (pure): outcomes, min / median / max boot
 * time, peak system memory and median peak RSS; rendered as a terminal table
 * and a Markdown table.
 *
 * @module
 */

/** One line of the summary. */
export interface CellSummary {
  cell: string;
  image: string;
  pattern: string;
  n: number;
  ready: number;
  failed: number;
  boot_min_ms: number | null;
  boot_median_ms: number | null;
  boot_max_ms: number | null;
  /** Highest MemTotal − MemAvailable seen during the run, MiB. */
  peak_used_mib: number | null;
  /** Peak minus the memory in use before T_0, MiB. */
  peak_added_mib: number | null;
  rss_median_kib: number | null;
  state: string;
  run_id: string | null;
}

/**
 * Median of numbers (mean of the middle two for an even count); null when empty.
 *
 * @example
 * ```ts
 * import { medianOrNull } from "./summary.ts";
 * console.log(medianOrNull([3, 1, 2, 10])); // 2.5
 * ```
 */
export function medianOrNull(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Summarise one run's instance and memory rows.
 *
 * @example
 * ```ts
 * import { summarizeRun } from "./summary.ts";
 * const s = summarizeRun(
 *   [{ outcome: "ready", boot_ms: 10, rss_peak_kib: 100 }, { outcome: "timeout", boot_ms: null, rss_peak_kib: null }],
 *   [{ t_ms: -1, used_kib: 1024 }, { t_ms: 5, used_kib: 3072 }],
 * );
 * console.log(s.ready, s.failed, s.boot_median_ms, s.peak_added_mib); // 1 1 10 2
 * ```
 */
export function summarizeRun(
  instances: readonly {
    outcome: unknown;
    boot_ms: unknown;
    rss_peak_kib: unknown;
  }[],
  memory: readonly { t_ms: unknown; used_kib: unknown }[],
): Pick<
  CellSummary,
  | "n"
  | "ready"
  | "failed"
  | "boot_min_ms"
  | "boot_median_ms"
  | "boot_max_ms"
  | "peak_used_mib"
  | "peak_added_mib"
  | "rss_median_kib"
> {
  const ready = instances.filter((r) => r.outcome === "ready");
  const boots = ready.map((r) => Number(r.boot_ms));
  const rss = instances.map((r) => r.rss_peak_kib).filter((x) =>
    x !== null && x !== undefined
  ).map(Number);
  let peak: number | null = null;
  let base: number | null = null;
  for (const m of memory) {
    const u = Number(m.used_kib);
    if (peak === null || u > peak) peak = u;
    if (Number(m.t_ms) < 0) base = u; // the last sample before T_0
  }
  if (base === null && memory.length) base = Number(memory[0].used_kib);
  return {
    n: instances.length,
    ready: ready.length,
    // Stopped by the launcher (interrupted, not_started) is not a failure.
    failed:
      instances.filter((r) =>
        r.outcome !== "ready" && r.outcome !== "interrupted" &&
        r.outcome !== "not_started"
      ).length,
    boot_min_ms: boots.length ? Math.min(...boots) : null,
    boot_median_ms: medianOrNull(boots),
    boot_max_ms: boots.length ? Math.max(...boots) : null,
    peak_used_mib: peak === null ? null : peak / 1024,
    peak_added_mib: peak === null || base === null
      ? null
      : (peak - base) / 1024,
    rss_median_kib: medianOrNull(rss),
  };
}

const COLUMNS: [keyof CellSummary, string][] = [
  ["cell", "cell"],
  ["image", "image"],
  ["pattern", "pattern"],
  ["n", "N"],
  ["ready", "ready"],
  ["failed", "failed"],
  ["boot_min_ms", "min ms"],
  ["boot_median_ms", "median ms"],
  ["boot_max_ms", "max ms"],
  ["peak_used_mib", "peak MiB"],
  ["peak_added_mib", "added MiB"],
  ["rss_median_kib", "median RSS KiB"],
  ["state", "state"],
];

function cell(v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") {
    return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }
  return String(v);
}

/**
 * A Markdown table of the summary, to paste into a paper or an issue.
 *
 * @example
 * ```ts
 * import { summaryMarkdown } from "./summary.ts";
 * console.log(summaryMarkdown([]).split("\n")[0].startsWith("| cell |")); // true
 * ```
 */
export function summaryMarkdown(rows: readonly CellSummary[]): string {
  const head = `| ${COLUMNS.map((c) => c[1]).join(" | ")} |`;
  const sep = `|${
    COLUMNS.map(([k]) => (typeof rows[0]?.[k] === "number" ? "---:" : "---"))
      .join("|")
  }|`;
  return [
    head,
    sep,
    ...rows.map((r) => `| ${COLUMNS.map(([k]) => cell(r[k])).join(" | ")} |`),
  ].join("\n") + "\n";
}

/** The same table aligned for a terminal. */
export function summaryText(rows: readonly CellSummary[]): string {
  const table = [
    COLUMNS.map((c) => c[1]),
    ...rows.map((r) => COLUMNS.map(([k]) => cell(r[k]))),
  ];
  const widths = COLUMNS.map((_, i) =>
    Math.max(...table.map((row) => row[i].length))
  );
  return table.map((row) =>
    row.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ")
  ).join(
    "\n",
  ) + "\n";
}
