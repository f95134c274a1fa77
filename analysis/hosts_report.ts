/**
 * The report's section for multi-host storms: per host the instances,
 * ready / lost, median and p99 boot time, time to its last ready
 * instance, its clock offset (± uncertainty) and start lateness; the
 * slowest host; the start skew between hosts. HTML strings, pure.
 *
 * @module
 */
import { hostSummary, slowestHost } from "./hosts.ts";
import type { Run } from "./load.ts";

function esc(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
    ">",
    "&gt;",
  ).replaceAll('"', "&quot;");
}

function fmt(v: unknown, digits = 1): string {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "–";
}

/**
 * The `<h2 id="hosts">` section for the runs that have a `host` column.
 *
 * @example
 * ```ts ignore
 * const html = hostsSection(set.runs.filter((r) => hasHosts(r.instances))).join("\n");
 * ```
 */
export function hostsSection(runs: readonly Run[]): string[] {
  const out = [
    '<h2 id="hosts">Hosts</h2>',
    "<p>Multi-host storms: times on the common timeline (ms after the storm's T_0). " +
    "Clock offset: the submitting host's clock minus the host's, measured by round trips (± half the shortest).</p>",
  ];
  for (const run of runs) {
    const summary = hostSummary(run.instances);
    const slow = slowestHost(summary);
    const mh = (run.record.multi_host ?? {}) as {
      hosts?: Record<string, unknown>[];
      skew?: Record<string, unknown>;
    };
    const recs = new Map((mh.hosts ?? []).map((h) => [String(h.host), h]));
    out.push(
      `<h3>${esc(run.record.run_id)}</h3>`,
      "<table><thead><tr>",
      ...[
        "host",
        "N",
        "ready",
        "lost",
        "median ms",
        "p99 ms",
        "last ready ms",
        "clock offset ms",
        "start late ms",
        "accelerator",
      ].map((h, i) => `<th${i === 0 || i === 9 ? ' class="t"' : ""}>${h}</th>`),
      "</tr></thead><tbody>",
    );
    for (const r of summary.objects() as Record<string, unknown>[]) {
      const rec = recs.get(String(r.host));
      out.push(
        "<tr>",
        `<td class="t">${esc(String(r.host))}</td>`,
        `<td>${fmt(r.n, 0)}</td>`,
        `<td>${fmt(r.ready, 0)}</td>`,
        `<td>${fmt(r.lost, 0)}</td>`,
        `<td>${fmt(r.median_ms)}</td>`,
        `<td>${fmt(r.p99_ms)}</td>`,
        `<td>${fmt(r.last_ready_ms)}</td>`,
        `<td>${
          rec
            ? `${fmt(rec.clock_offset_ms, 3)} ± ${
              fmt(rec.clock_uncertainty_ms, 3)
            }`
            : "–"
        }</td>`,
        `<td>${rec ? fmt(rec.start_late_ms, 3) : "–"}</td>`,
        `<td class="t">${esc(String(rec?.accelerator ?? "–"))}</td>`,
        "</tr>",
      );
      if (rec?.lost_reason) {
        out.push(
          `<tr><td></td><td class="t" colspan="9">lost: ${
            esc(String(rec.lost_reason))
          }</td></tr>`,
        );
      }
    }
    out.push("</tbody></table>");
    out.push(
      `<p>Slowest host: <b>${esc(slow.host ?? "–")}</b>, last instance ready ${
        fmt(slow.last_ready_ms)
      } ms after T_0, ${
        fmt(slow.lag_ms)
      } ms after the median host; highest median boot on ${
        esc(slow.slowest_median_host ?? "–")
      } (${fmt(slow.slowest_median_ms)} ms, ${
        fmt(slow.median_ratio, 2)
      }× the lowest). Start skew between hosts: ${
        fmt(mh.skew?.start_skew_ms, 3)
      } ms${
        typeof mh.skew?.start_skew_same_clock_ms === "number"
          ? ` (hosts sharing one clock: ${
            fmt(mh.skew.start_skew_same_clock_ms, 3)
          } ms)`
          : ""
      }.</p>`,
    );
  }
  return out;
}
