/**
 * Plain-text rendering of small tables for terminals: aligned columns,
 * numbers right-aligned with a precision that suits their size.
 *
 * @module
 */

import type { Table } from "./columns.ts";

/**
 * A number as text: integers as they are; otherwise 1 decimal from 100 up,
 * 2 from 1 up, 3 below; null/NaN as "-".
 *
 * @example
 * ```ts
 * import { formatNumber } from "./format.ts";
 * formatNumber(1234.567); // "1234.6"
 * ```
 */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "-";
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return v.toFixed(a >= 100 ? 1 : a >= 1 ? 2 : 3);
}

/**
 * Render a table as aligned plain text: a header line, a rule, one line per
 * row. Text columns are left-aligned, numeric ones right-aligned.
 *
 * @example
 * ```ts ignore
 * console.log(formatTable(concurrencyBins(run.instances)));
 * ```
 */
export function formatTable(
  table: Table,
  options: { limit?: number } = {},
): string {
  const names = table.columnNames();
  const rows = table.objects({ limit: options.limit ?? Infinity }) as Record<
    string,
    unknown
  >[];
  const cells = rows.map((r) =>
    names.map((n) => {
      const v = r[n];
      return typeof v === "number" || v === null || v === undefined
        ? formatNumber(v as number | null)
        : String(v);
    })
  );
  const numeric = names.map((n) =>
    rows.every((r) =>
      r[n] === null || r[n] === undefined || typeof r[n] === "number"
    )
  );
  const widths = names.map((n, j) =>
    Math.max(n.length, ...cells.map((c) => c[j].length))
  );
  const line = (vals: string[]) =>
    vals.map((v, j) => numeric[j] ? v.padStart(widths[j]) : v.padEnd(widths[j]))
      .join("  ")
      .trimEnd();
  return [
    line(names),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...cells.map(line),
  ].join("\n");
}
