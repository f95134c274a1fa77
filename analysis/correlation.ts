/**
 * Correlation across runs or images: does booting take longer where more
 * memory is used? Pearson and Spearman with seeded bootstrap intervals, and
 * a least-squares line (simple-statistics through stats.ts; the pairs are
 * picked with an arquero `filter`).
 *
 * @module
 */

import "@uwdata/flechette";
import * as aq from "arquero";
import type { Table } from "./columns.ts";
import { orNull } from "./grouped.ts";
import {
  bootstrapCi,
  type BootstrapOptions,
  linearFit,
  pearson,
  spearman,
} from "./stats.ts";
import { requireColumns } from "./verbs.ts";

const op = aq.op;

/** Columns of a correlation table, in order. */
export const CORRELATION_COLUMNS = [
  "x",
  "y",
  "n",
  "pearson",
  "pearson_lo",
  "pearson_hi",
  "spearman",
  "spearman_lo",
  "spearman_hi",
  "slope",
  "intercept",
  "r2",
] as const;

/**
 * Correlate column `x` with column `y` over the rows where both are finite:
 * one row with `n`, Pearson r and Spearman ρ, each with a percentile
 * bootstrap interval (`_lo`, `_hi`; both statistics use the same resamples:
 * `resamples` draws of n pairs with replacement from mulberry32(`seed`)),
 * and the least-squares line y = intercept + slope·x with its r².
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { correlate } from "./correlation.ts";
 * const summary = aq.table({ per_booting_kib: [100, 200, 300, null], median_ms: [10, 25, 29, 40] });
 * const r = correlate(summary, "per_booting_kib", "median_ms", { seed: 1 }).object(0) as Record<string, number>;
 * console.log(r.n, r.spearman, r.slope); // 3 1 0.095
 * ```
 */
export function correlate(
  table: Table,
  x: string,
  y: string,
  options: BootstrapOptions = {},
): Table {
  requireColumns(table, [x, y]);
  const pairs = table.params({ x, y }).filter((
    d: Record<string, unknown>,
    $: Record<string, string>,
  ) => op.is_finite(d[$.x]) && op.is_finite(d[$.y]));
  const xs = Array.from(pairs.array(x) as ArrayLike<number>);
  const ys = Array.from(pairs.array(y) as ArrayLike<number>);
  const pci = bootstrapCi(xs, ys, { ...options, stat: pearson });
  const sci = bootstrapCi(xs, ys, { ...options, stat: spearman });
  const fit = linearFit(xs, ys);
  const row = {
    x,
    y,
    n: xs.length,
    pearson: orNull(pearson(xs, ys)),
    pearson_lo: orNull(pci.lo),
    pearson_hi: orNull(pci.hi),
    spearman: orNull(spearman(xs, ys)),
    spearman_lo: orNull(sci.lo),
    spearman_hi: orNull(sci.hi),
    slope: orNull(fit.slope),
    intercept: orNull(fit.intercept),
    r2: orNull(fit.r2),
  };
  return aq.from([row], [...CORRELATION_COLUMNS]);
}

/**
 * Boot time against memory across the rows of a summary (per run or per
 * image, from `summarize(…, { memory })`): `median_ms` against
 * `per_booting_kib` (system memory per booting instance at the peak) and
 * against `rss_median_kib` — two rows of {@link correlate}.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { bootMemoryCorrelation } from "./correlation.ts";
 * const s = aq.table({ per_booting_kib: [100, 200, 300], rss_median_kib: [40, 41, 45], median_ms: [10, 25, 29] });
 * console.log(bootMemoryCorrelation(s).array("x")); // ["per_booting_kib", "rss_median_kib"]
 * ```
 */
export function bootMemoryCorrelation(
  summary: Table,
  options: BootstrapOptions = {},
): Table {
  const parts: Table[] = [];
  for (const x of ["per_booting_kib", "rss_median_kib"]) {
    if (summary.columnNames().includes(x)) {
      parts.push(correlate(summary, x, "median_ms", options));
    }
  }
  if (!parts.length) {
    throw new Error(
      `Cannot correlate boot time with memory: the summary has neither "per_booting_kib" nor "rss_median_kib". Build it with summarize(instances, { memory }).`,
    );
  }
  return parts.reduce((a, b) => a.concat(b));
}
