/**
 * What `deno task analyze` prints for a multi-host storm: per-host summary
 * (time to the last ready instance, medians), the slowest host, the start
 * skew, concurrency bins per host and the recovery curve at a few points.
 *
 * @module
 */
import { formatTable } from "./format.ts";
import {
  hasHosts,
  hostConcurrencyBins,
  hostNames,
  hostSummary,
  ofHost,
  recoveryCurve,
  slowestHost,
  timeToFraction,
} from "./hosts.ts";
import { memoryPeak } from "./timeline.ts";
import type { RunSet } from "./load.ts";
import * as aq from "arquero";

/**
 * `[title, body]` sections for each run of the set with a `host` column
 * (none for single-host data).
 *
 * @example
 * ```ts ignore
 * for (const [t, b] of hostSections(set, { width: 8 })) console.log(`## ${t}\n\n${b}`);
 * ```
 */
export function hostSections(
  set: RunSet,
  options: { width?: number } = {},
): [string, string][] {
  const out: [string, string][] = [];
  for (const run of set.runs.filter((r) => hasHosts(r.instances))) {
    const id = run.record.run_id;
    const summary = hostSummary(run.instances);
    out.push([
      `Per host of ${id} (boot_ms of ready instances; last_ready_ms = time to the last ready instance after T_0)`,
      formatTable(summary),
    ]);
    const slow = slowestHost(summary);
    const skew = (run.record.multi_host as { skew?: Record<string, unknown> })
      ?.skew ?? {};
    const f = (v: unknown, d = 1) => typeof v === "number" ? v.toFixed(d) : "–";
    out.push([
      `Slowest host and start skew of ${id}`,
      `slowest host: ${slow.host ?? "–"} (last ready ${
        f(slow.last_ready_ms)
      } ms, ${f(slow.lag_ms)} ms after the median host); highest median boot: ${
        slow.slowest_median_host ?? "–"
      } (${f(slow.slowest_median_ms)} ms, ${
        f(slow.median_ratio, 2)
      }× the lowest)\nstart skew between hosts: ${
        f(skew.start_skew_ms, 3)
      } ms (common timeline)${
        typeof skew.start_skew_same_clock_ms === "number"
          ? `, ${
            f(skew.start_skew_same_clock_ms, 3)
          } ms (hosts sharing one clock)`
          : ""
      }`,
    ]);
    out.push([
      `Concurrency bins per host of ${id} (width ${options.width ?? 32})`,
      formatTable(hostConcurrencyBins(run.instances, { width: options.width })),
    ]);
    if (hasHosts(run.memory) && run.memory.numRows() > 0) {
      const peaks = hostNames(run.instances).map((h) => {
        const p = memoryPeak(ofHost(run.memory, h), ofHost(run.instances, h))
          .objects()[0] as Record<string, unknown> | undefined;
        return { host: h, ...(p ?? {}) };
      });
      out.push([
        `Memory peak per host of ${id} (each host's own samples; hosts sharing one kernel see the same memory)`,
        formatTable(
          aq.from(peaks).select(aq.not("run_id", "image", "count_n")),
        ),
      ]);
    }
    const curve = recoveryCurve(run.instances);
    out.push([
      `Recovery curve of ${id} (all hosts: when a fraction of all instances was up)`,
      formatTable(aq.from([0.5, 0.9, 0.99, 1].map((p) => ({
        fraction: p,
        t_ms: timeToFraction(curve, p),
      })))),
    ]);
  }
  return out;
}
