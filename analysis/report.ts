/**
 * A self-contained HTML report of a dataset: every figure inline as SVG,
 * the per-run summary table, load warnings and each run's run.json. It
 * references nothing outside the file (no scripts, stylesheets, fonts or
 * images from the network), so it opens from disk with no network.
 *
 * @module
 */

import "@uwdata/flechette";
import type { NamedFigure } from "./figures/dataset_figures.ts";
import { shortPattern } from "./figures/timeline_figure.ts";
import type { RunSet } from "./load.ts";
import {
  hasPhaseData,
  PHASE_INTERVALS,
  PHASE_LABELS,
  phasesOfRuns,
  phaseSummary,
} from "./phases.ts";
import { summarize } from "./summary.ts";
import { hasHosts } from "./hosts.ts";
import { hostsSection } from "./hosts_report.ts";

/** Options of {@link reportHtml}. */
export interface ReportOptions {
  /** Figures to inline (e.g. from datasetFigures). */
  figures: readonly NamedFigure[];
  /** Page title (default "bootstorm report"). */
  title?: string;
  /** Where the data came from (shown under the title). */
  source?: string;
  /** Generation time to print (default: none, so the output is reproducible). */
  generatedAt?: string;
}

/**
 * Escape text for HTML element content and attribute values.
 *
 * @example
 * ```ts
 * import { escapeHtml } from "./report.ts";
 * escapeHtml('<a href="x">'); // "&lt;a href=&quot;x&quot;&gt;"
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/**
 * An SVG string as it goes inline into HTML: the XML namespace declaration
 * is dropped (the HTML parser puts `<svg>` in the SVG namespace by
 * itself), so the page holds no URL at all.
 *
 * @example
 * ```ts
 * import { inlineSvg } from "./report.ts";
 * inlineSvg('<svg xmlns="http://www.w3.org/2000/svg" width="1"></svg>'); // '<svg width="1"></svg>'
 * ```
 */
export function inlineSvg(svg: string): string {
  return svg.replace(/\s+xmlns(:\w+)?="[^"]*"/g, "");
}

function num(v: unknown, digits = 0): string {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "–";
}

const STYLE = `
body { font-family: "DejaVu Sans", system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #111; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #555; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th { background: #f5f5f5; position: sticky; top: 0; }
td.t, th.t { text-align: left; }
figure { margin: 1.5em 0; }
figcaption { color: #555; font-size: 0.9em; }
figure svg { max-width: 100%; height: auto; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
nav ul { columns: 2; }
.warn { color: #a33; }
`;

/**
 * The report page as one HTML string: title and source, a table of
 * contents, the summary table (one row per run: image, class, N, pattern,
 * ready/failed, min / median / p90 / max ΔT in ms, peak memory in use and
 * memory per booting instance in MiB), load warnings, the figures (inline
 * SVG, anchors `#fig-<name>`), then each run's run.json in a collapsible
 * block.
 *
 * @example
 * ```ts ignore
 * const set = await loadRuns(dir);
 * const html = reportHtml(set, { figures: datasetFigures(set), source: dir });
 * ```
 */
export function reportHtml(set: RunSet, options: ReportOptions): string {
  const title = options.title ?? "bootstorm report";
  const parts: string[] = [];
  parts.push(
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    "</head>",
    "<body>",
    `<h1>${escapeHtml(title)}</h1>`,
  );
  const meta: string[] = [];
  if (options.source) meta.push(`data: ${escapeHtml(options.source)}`);
  meta.push(`${set.runs.length} run${set.runs.length === 1 ? "" : "s"}`);
  const first = set.runs[0]?.record;
  if (first?.host) {
    meta.push(
      `host: ${
        escapeHtml(
          `${first.host.hostname ?? "?"}, ${first.host.cpu_model ?? "?"}, ${
            first.host.cores ?? "?"
          } cores`,
        )
      }`,
    );
  }
  const accels = [
    ...new Set(set.runs.map((r) => r.record.accelerator?.kind ?? "?")),
  ];
  meta.push(`accelerator: ${escapeHtml(accels.join(", "))}`);
  const toolkit = first?.toolkit as
    | { version?: string; git_commit?: string }
    | undefined;
  if (toolkit) {
    meta.push(
      `bootstorm ${escapeHtml(String(toolkit.version ?? "?"))} (${
        escapeHtml(String(toolkit.git_commit ?? "?"))
      })`,
    );
  }
  if (options.generatedAt) {
    meta.push(`generated ${escapeHtml(options.generatedAt)}`);
  }
  parts.push(`<p class="meta">${meta.join(" · ")}</p>`);

  parts.push(
    "<nav><h2>Contents</h2><ul>",
    '<li><a href="#summary">Summary</a></li>',
  );
  for (const f of options.figures) {
    parts.push(
      `<li><a href="#fig-${escapeHtml(f.name)}">${
        escapeHtml(f.title)
      }</a></li>`,
    );
  }
  const phaseRuns = set.runs.filter((r) => hasPhaseData(r.instances));
  if (phaseRuns.length) {
    parts.push('<li><a href="#phases">Phases</a></li>');
  }
  const hostRuns = set.runs.filter((r) => hasHosts(r.instances));
  if (hostRuns.length) parts.push('<li><a href="#hosts">Hosts</a></li>');
  parts.push('<li><a href="#runs">Run records</a></li>', "</ul></nav>");

  parts.push('<h2 id="summary">Summary</h2>');
  if (set.instances.numRows() > 0) {
    const rows = summarize(set.instances, {
      memory: set.memory.numRows() ? set.memory : undefined,
    })
      .objects() as Record<string, unknown>[];
    const records = new Map(set.runs.map((r) => [r.record.run_id, r.record]));
    const head = [
      ["run", "t"],
      ["image", "t"],
      ["class", "t"],
      ["N", ""],
      ["pattern", "t"],
      ["ready", ""],
      ["failed", ""],
      ["min ms", ""],
      ["median ms", ""],
      ["p90 ms", ""],
      ["max ms", ""],
      ["peak used MiB", ""],
      ["MiB per booting", ""],
    ];
    parts.push(
      "<table><thead><tr>",
      ...head.map(([h, c]) => `<th${c ? ` class="${c}"` : ""}>${h}</th>`),
      "</tr></thead><tbody>",
    );
    for (const r of rows) {
      const rec = records.get(String(r.run_id));
      const cells = [
        [String(r.run_id), "t"],
        [String(r.image), "t"],
        [String(rec?.profile?.class ?? "–"), "t"],
        [num(r.count_n), ""],
        [rec ? shortPattern(rec.pattern) : "–", "t"],
        [num(r.ready), ""],
        [num(r.failed), ""],
        [num(r.min_ms, 1), ""],
        [num(r.median_ms, 1), ""],
        [num(r.p90_ms, 1), ""],
        [num(r.max_ms, 1), ""],
        [
          num(
            typeof r.peak_used_kib === "number" ? r.peak_used_kib / 1024 : null,
          ),
          "",
        ],
        [
          num(
            typeof r.per_booting_kib === "number"
              ? r.per_booting_kib / 1024
              : null,
            1,
          ),
          "",
        ],
      ];
      parts.push(
        "<tr>",
        ...cells.map(([v, c]) =>
          `<td${c ? ` class="${c}"` : ""}>${escapeHtml(v)}</td>`
        ),
        "</tr>",
      );
    }
    parts.push("</tbody></table>");
  } else {
    parts.push("<p>No instance rows.</p>");
  }
  const warnings = set.runs.flatMap((r) => r.warnings);
  if (warnings.length) {
    parts.push(
      '<ul class="warn">',
      ...warnings.map((w) => `<li>${escapeHtml(w)}</li>`),
      "</ul>",
    );
  }

  if (phaseRuns.length) parts.push(...phasesSection(phaseRuns));
  if (hostRuns.length) parts.push(...hostsSection(hostRuns));

  parts.push("<h2>Figures</h2>");
  for (const f of options.figures) {
    parts.push(
      `<figure id="fig-${escapeHtml(f.name)}">`,
      inlineSvg(f.svg),
      `<figcaption>${escapeHtml(f.title)} (${escapeHtml(f.name)})</figcaption>`,
      "</figure>",
    );
  }

  parts.push('<h2 id="runs">Run records</h2>');
  for (const r of set.runs) {
    parts.push(
      `<details id="run-${escapeHtml(r.record.run_id)}"><summary>${
        escapeHtml(r.record.run_id)
      } — ${escapeHtml(String(r.record.profile?.name ?? "?"))}, N=${
        escapeHtml(String(r.record.count))
      }, ${escapeHtml(String(r.record.status ?? "?"))}</summary>`,
      `<pre>${escapeHtml(JSON.stringify(r.record, null, 2))}</pre>`,
      "</details>",
    );
  }
  parts.push("</body>", "</html>");
  return parts.join("\n") + "\n";
}

/**
 * The phases table of the report: per image (and phase mode), the median
 * of each interval (ms), n in the title of each cell.
 */
function phasesSection(runs: RunSet["runs"]): string[] {
  const rows = phaseSummary(phasesOfRuns(runs)).objects() as {
    image: unknown;
    phase_mode: boolean;
    phase: string;
    n: number;
    median_ms: number | null;
  }[];
  const groups = [
    ...new Set(rows.map((r) => `${r.image}${r.phase_mode ? "" : " (no T_K)"}`)),
  ];
  const cell = new Map(
    rows.map((r) => [
      `${r.image}${r.phase_mode ? "" : " (no T_K)"}\u0000${r.phase}`,
      r,
    ]),
  );
  const out = [
    '<h2 id="phases">Phases</h2>',
    "<p>Median of each interval in ms over ready instances (T_K from <code>--phases</code>; " +
    "the first four add up to the boot; without T_K the firmware interval starts at T_s).</p>",
    "<table><thead><tr>",
    '<th class="t">image</th>',
    ...PHASE_INTERVALS.map((p) => `<th>${escapeHtml(PHASE_LABELS[p])}</th>`),
    "</tr></thead><tbody>",
  ];
  for (const g of groups) {
    out.push("<tr>", `<td class="t">${escapeHtml(g)}</td>`);
    for (const p of PHASE_INTERVALS) {
      const r = cell.get(`${g}\u0000${p}`);
      out.push(
        r
          ? `<td title="n=${r.n}">${escapeHtml(num(r.median_ms, 1))}</td>`
          : "<td>–</td>",
      );
    }
    out.push("</tr>");
  }
  out.push("</tbody></table>");
  return out;
}
