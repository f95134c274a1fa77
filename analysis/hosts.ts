/**
 * Analysis per host and across hosts of a merged multi-host storm (the
 * `host` column; times on the common timeline, ms after the storm's T_0):
 * time to the last ready instance overall and per host, per-host medians
 * and the slowest host, concurrency bins per host, and the recovery curve
 * (instances up against time since T_0, all hosts together). A table
 * without a `host` column is one host. Pure functions over arquero tables.
 *
 * @module
 */

import "@uwdata/flechette";
import * as aq from "arquero";
import { type BinOptions, concurrencyBins } from "./bins.ts";
import { numberColumn, type Table } from "./columns.ts";
import { quantileSorted } from "./quantile.ts";

/** Name of the host column of merged multi-host datasets (dataset/schema.ts HOST_COLUMN). */
export const HOST = "host";

/**
 * Whether a table comes from a multi-host storm (has a `host` column).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { hasHosts } from "./hosts.ts";
 * console.log(hasHosts(aq.table({ host: ["node1"], boot_ms: [1] })), hasHosts(aq.table({ boot_ms: [1] }))); // true false
 * ```
 */
export function hasHosts(table: Table): boolean {
  return table.columnNames().includes(HOST);
}

/**
 * The hosts of a table in order of first appearance (`["all"]`-free; one
 * unnamed host `""` when there is no host column).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { hostNames } from "./hosts.ts";
 * console.log(hostNames(aq.table({ host: ["b", "a", "b"] })), hostNames(aq.table({ boot_ms: [1] }))); // ["b", "a"] [""]
 * ```
 */
export function hostNames(table: Table): string[] {
  if (!hasHosts(table)) return [""];
  return [...new Set(table.array(HOST) as string[])];
}

/**
 * The rows of one host (all rows when there is no host column).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { ofHost } from "./hosts.ts";
 * console.log(ofHost(aq.table({ host: ["b", "a", "b"], boot_ms: [1, 2, 3] }), "b").array("boot_ms")); // [1, 3]
 * ```
 */
export function ofHost(table: Table, host: string): Table {
  if (!hasHosts(table)) return table;
  return table.filter(aq.escape((d: { host: string }) => d.host === host))
    .reify();
}

/** Columns of {@link hostSummary}, in order. */
export const HOST_SUMMARY_COLUMNS = [
  "host",
  "n",
  "ready",
  "not_ready",
  "lost",
  "median_ms",
  "p90_ms",
  "p99_ms",
  "max_ms",
  "first_start_ms",
  "last_ready_ms",
] as const;

function summaryRow(host: string, t: Table): Record<string, unknown> {
  const n = t.numRows();
  const outcome = t.array("outcome") as string[];
  const boot = numberColumn(t, "boot_ms");
  const ts = numberColumn(t, "t_s_ms");
  const ready: number[] = [];
  let lost = 0, firstStart = Infinity, lastReady = -Infinity;
  for (let i = 0; i < n; i++) {
    if (outcome[i] === "lost") lost++;
    if (ts[i] === ts[i]) firstStart = Math.min(firstStart, ts[i]);
    if (outcome[i] === "ready" && boot[i] === boot[i]) {
      ready.push(boot[i]);
      if (ts[i] === ts[i]) lastReady = Math.max(lastReady, ts[i] + boot[i]);
    }
  }
  ready.sort((a, b) => a - b);
  const q = (p: number) => ready.length ? quantileSorted(ready, p) : null;
  return {
    host,
    n,
    ready: ready.length,
    not_ready: n - ready.length,
    lost,
    median_ms: q(0.5),
    p90_ms: q(0.9),
    p99_ms: q(0.99),
    max_ms: ready.length ? ready[ready.length - 1] : null,
    first_start_ms: Number.isFinite(firstStart) ? firstStart : null,
    last_ready_ms: Number.isFinite(lastReady) ? lastReady : null,
  };
}

/**
 * One row per host, then an `all` row: instances, ready, not ready, lost,
 * boot_ms median / p90 / p99 / max of ready instances (type-7 quantiles),
 * the first T_s and the last ready instant (`last_ready_ms`: the time to
 * the last ready instance, ms after T_0).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { hostSummary } from "./hosts.ts";
 * const storm = aq.table({
 *   host: ["node1", "node1", "node2", "node2"], outcome: ["ready", "ready", "ready", "lost"],
 *   t_s_ms: [0, 5, 0, null], boot_ms: [100, 120, 300, null], concurrency_at_start: [0, 1, 0, 1],
 * });
 * const s = hostSummary(storm);
 * console.log(s.array("host"), s.array("lost"), s.array("median_ms"), s.array("last_ready_ms"));
 * // ["node1", "node2", "all"] [0, 1, 1] [110, 300, 120] [125, 300, 300]
 * ```
 */
export function hostSummary(instances: Table): Table {
  const rows = hostNames(instances).map((h) =>
    summaryRow(h, ofHost(instances, h))
  );
  rows.push(summaryRow("all", instances));
  return aq.from(rows).select([...HOST_SUMMARY_COLUMNS]);
}

/** Which host holds everyone back, from a {@link hostSummary}. */
export interface SlowestHost {
  /** The host whose last instance became ready last. */
  host: string | null;
  /** Its time to the last ready instance, ms after T_0. */
  last_ready_ms: number | null;
  /** The median over hosts of their time to the last ready instance, ms. */
  median_last_ready_ms: number | null;
  /** How much later the slowest host finished than the median host, ms. */
  lag_ms: number | null;
  /** The host with the highest median boot time, and that median. */
  slowest_median_host: string | null;
  /** The median boot time of {@link SlowestHost.slowest_median_host}, ms. */
  slowest_median_ms: number | null;
  /** Highest / lowest per-host median boot time. */
  median_ratio: number | null;
}

/**
 * The slowest host: last to have all its instances ready, how far behind
 * the median host it is, and the spread of per-host medians.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { hostSummary, slowestHost } from "./hosts.ts";
 * const storm = aq.table({
 *   host: ["node1", "node1", "node2", "node2"], outcome: ["ready", "ready", "ready", "lost"],
 *   t_s_ms: [0, 5, 0, null], boot_ms: [100, 120, 300, null], concurrency_at_start: [0, 1, 0, 1],
 * });
 * const s = slowestHost(hostSummary(storm));
 * console.log(s.host, s.last_ready_ms, s.median_last_ready_ms, s.lag_ms); // node2 300 212.5 87.5
 * ```
 */
export function slowestHost(summary: Table): SlowestHost {
  const rows = (summary.objects() as Record<string, unknown>[]).filter((r) =>
    r.host !== "all"
  );
  const lr = rows.filter((r) => typeof r.last_ready_ms === "number");
  const md = rows.filter((r) => typeof r.median_ms === "number");
  if (lr.length === 0) {
    return {
      host: null,
      last_ready_ms: null,
      median_last_ready_ms: null,
      lag_ms: null,
      slowest_median_host: null,
      slowest_median_ms: null,
      median_ratio: null,
    };
  }
  const worst = lr.reduce((a, b) =>
    (b.last_ready_ms as number) > (a.last_ready_ms as number) ? b : a
  );
  const sorted = lr.map((r) => r.last_ready_ms as number).sort((a, b) => a - b);
  const mid = quantileSorted(sorted, 0.5);
  const slowMed = md.length
    ? md.reduce((a, b) =>
      (b.median_ms as number) > (a.median_ms as number) ? b : a
    )
    : null;
  const meds = md.map((r) => r.median_ms as number);
  return {
    host: String(worst.host),
    last_ready_ms: worst.last_ready_ms as number,
    median_last_ready_ms: mid,
    lag_ms: (worst.last_ready_ms as number) - mid,
    slowest_median_host: slowMed ? String(slowMed.host) : null,
    slowest_median_ms: slowMed ? slowMed.median_ms as number : null,
    median_ratio: meds.length && Math.min(...meds) > 0
      ? Math.max(...meds) / Math.min(...meds)
      : null,
  };
}

/**
 * Concurrency bins (see concurrencyBins) for each host separately, with a
 * leading `host` column; concurrency is per host (instances booting on
 * that host).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { hostConcurrencyBins } from "./hosts.ts";
 * const storm = aq.table({
 *   host: ["node1", "node1", "node2", "node2"], outcome: ["ready", "ready", "ready", "lost"],
 *   t_s_ms: [0, 5, 0, null], boot_ms: [100, 120, 300, null], concurrency_at_start: [0, 1, 0, 1],
 * });
 * const bins = hostConcurrencyBins(storm, { width: 8 });
 * console.log(bins.array("host"), bins.array("n"), bins.array("not_ready")); // ["node1", "node2"] [2, 1] [0, 1]
 * ```
 */
export function hostConcurrencyBins(
  instances: Table,
  options: BinOptions = {},
): Table {
  const parts: Record<string, unknown>[] = [];
  for (const h of hostNames(instances)) {
    const bins = concurrencyBins(ofHost(instances, h), options);
    for (const r of bins.objects() as Record<string, unknown>[]) {
      parts.push({ host: h, ...r });
    }
  }
  return aq.from(parts);
}

/**
 * The recovery curve: one row per ready instance in order of readiness,
 * `t_ms` (ready instant, ms after T_0, all hosts together), `up`
 * (instances ready by then) and `fraction` (of all instances, lost ones
 * included).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { recoveryCurve } from "./hosts.ts";
 * const storm = aq.table({
 *   host: ["node1", "node1", "node2", "node2"], outcome: ["ready", "ready", "ready", "lost"],
 *   t_s_ms: [0, 5, 0, null], boot_ms: [100, 120, 300, null], concurrency_at_start: [0, 1, 0, 1],
 * });
 * const curve = recoveryCurve(storm);
 * console.log(curve.array("t_ms"), curve.array("up"), curve.array("fraction")); // [100, 125, 300] [1, 2, 3] [0.25, 0.5, 0.75]
 * ```
 */
export function recoveryCurve(instances: Table): Table {
  const n = instances.numRows();
  const outcome = instances.array("outcome") as string[];
  const ts = numberColumn(instances, "t_s_ms");
  const boot = numberColumn(instances, "boot_ms");
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    if (outcome[i] === "ready" && ts[i] === ts[i] && boot[i] === boot[i]) {
      t.push(ts[i] + boot[i]);
    }
  }
  t.sort((a, b) => a - b);
  return aq.table({
    t_ms: t,
    up: t.map((_, i) => i + 1),
    fraction: t.map((_, i) => (i + 1) / Math.max(1, n)),
  });
}

/**
 * When `fraction` of all instances were up (from a recovery curve), or
 * null when they never were.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { recoveryCurve, timeToFraction } from "./hosts.ts";
 * const storm = aq.table({
 *   host: ["node1", "node1", "node2", "node2"], outcome: ["ready", "ready", "ready", "lost"],
 *   t_s_ms: [0, 5, 0, null], boot_ms: [100, 120, 300, null], concurrency_at_start: [0, 1, 0, 1],
 * });
 * const curve = recoveryCurve(storm);
 * console.log(timeToFraction(curve, 0.5), timeToFraction(curve, 1)); // 125 null: one instance was lost
 * ```
 */
export function timeToFraction(curve: Table, fraction: number): number | null {
  const f = numberColumn(curve, "fraction");
  const t = numberColumn(curve, "t_ms");
  for (let i = 0; i < f.length; i++) {
    if (f[i] >= fraction - 1e-12) return t[i];
  }
  return null;
}
