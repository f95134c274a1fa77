/**
 * Correlation across runs or images: does booting take longer where more
 * memory is used? Pearson and Spearman with seeded bootstrap intervals, and
 * a least-squares line.
 *
 * @module
 */

import "@uwdata/flechette";
import * as aq from "arquero";
import { numberColumn, type Table } from "./columns.ts";
import { orNull } from "./grouped.ts";
import {
  bootstrapCi,
  type BootstrapOptions,
  linearFit,
  pearson,
  spearman,
} from "./stats.ts";

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
 * correlate(summary, "per_booting_kib", "median_ms", { seed: 1 }).print();
 * ```
 */
export function correlate(
  table: Table,
  x: string,
  y: string,
  options: BootstrapOptions = {},
): Table {
  const xs0 = numberColumn(table, x);
  const ys0 = numberColumn(table, y);
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < xs0.length; i++) {
    if (Number.isFinite(xs0[i]) && Number.isFinite(ys0[i])) {
      xs.push(xs0[i]);
      ys.push(ys0[i]);
    }
  }
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
 * const s = summarize(set.instances, { memory: set.memory });
 * bootMemoryCorrelation(s).print();
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
