/**
 * Pure CSV codec for dataset rows: RFC 4180 quoting, null as an empty field.
 *
 * @module
 */
import type { ColumnSpec } from "./schema.ts";

function field(v: unknown): string {
  if (v === null || v === undefined) return "";
  // A number never needs quoting: the regex per numeric field was a third of
  // the memory table's flush in a 256-storm (perf; 2,000 rows a second).
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "";
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * The header line (with `\n`).
 *
 * @example
 * ```ts
 * import { csvHeader } from "./csv_codec.ts";
 * console.log(csvHeader([{ name: "t_ms", type: "float64", nullable: false, doc: "" }])); // "t_ms\n"
 * ```
 */
export function csvHeader(columns: readonly ColumnSpec[]): string {
  return columns.map((c) => c.name).join(",") + "\n";
}

/**
 * Rows as CSV lines (each ending in `\n`), columns in schema order.
 *
 * @example
 * ```ts
 * import { csvLines } from "./csv_codec.ts";
 * const cols = [{ name: "a", type: "utf8" as const, nullable: true, doc: "" }, { name: "b", type: "int32" as const, nullable: true, doc: "" }];
 * console.log(csvLines(cols, [{ a: "x,y", b: null }])); // "\"x,y\",\n"
 * ```
 */
export function csvLines(
  columns: readonly ColumnSpec[],
  rows: readonly Record<string, unknown>[],
): string {
  let out = "";
  for (const r of rows) {
    out += columns.map((c) => field(r[c.name])).join(",") + "\n";
  }
  return out;
}
