/**
 * Query results as text: CSV (RFC 4180, null as an empty field), JSON (an
 * array of row objects) and an aligned table for the terminal. Pure
 * functions of result chunks, so the command can write each chunk as it
 * arrives.
 *
 * @module
 */

import * as aq from "arquero";
import { formatTable } from "../analysis/format.ts";
import type { ResultChunk, ResultValue } from "./query.ts";

/** Output formats of `deno task query`. */
export type OutputFormat = "table" | "csv" | "json";

function text(v: ResultValue): string {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "object" && v !== null) return JSON.stringify(plain(v));
  return String(v);
}

/** A value as JSON can hold it (Dates as ISO text, bigints as numbers or text). */
function plain(v: ResultValue): unknown {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, plain(x)]),
    );
  }
  return v;
}

/**
 * One CSV field: empty for null, quoted when it holds a comma, quote or
 * line break.
 *
 * @example
 * ```ts
 * import { csvField } from "./output.ts";
 * console.log(csvField('say "hi"')); // "say ""hi"""
 * console.log(csvField(null) === ""); // true
 * ```
 */
export function csvField(v: ResultValue): string {
  if (v === null || v === undefined) return "";
  const t = text(v);
  return /[",\n\r]/.test(t) ? `"${t.replaceAll('"', '""')}"` : t;
}

/**
 * The CSV lines of a chunk (the header line first when `header`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resultCsv } from "./output.ts";
 * const csv = resultCsv({ columns: ["a", "b"], values: [[1, 2], ["x", null]], rows: 2 }, true);
 * assert.equal(csv, "a,b\n1,x\n2,\n");
 * ```
 */
export function resultCsv(chunk: ResultChunk, header: boolean): string {
  const lines: string[] = header ? [chunk.columns.map(csvField).join(",")] : [];
  for (let r = 0; r < chunk.rows; r++) {
    lines.push(chunk.values.map((col) => csvField(col[r])).join(","));
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}

/**
 * The rows of a chunk as JSON objects, one per line, each but the first of
 * the whole result preceded by a comma (wrap in `[` … `]`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resultJson } from "./output.ts";
 * const first = resultJson({ columns: ["a"], values: [[1, 2]], rows: 2 }, true);
 * const next = resultJson({ columns: ["a"], values: [[3]], rows: 1 }, false);
 * assert.equal(first + next, '{"a":1}\n,{"a":2}\n,{"a":3}\n');
 * assert.deepEqual(JSON.parse(`[${first + next}]`), [{ a: 1 }, { a: 2 }, { a: 3 }]);
 * ```
 */
export function resultJson(chunk: ResultChunk, first: boolean): string {
  let out = "";
  for (let r = 0; r < chunk.rows; r++) {
    const o: Record<string, unknown> = {};
    chunk.columns.forEach((c, i) => (o[c] = plain(chunk.values[i][r])));
    out += (first && r === 0 ? "" : ",") + JSON.stringify(o) + "\n";
  }
  return out;
}

/**
 * An aligned text table of result rows (numbers right-aligned, rounded as
 * the analysis commands do; use CSV or JSON for exact values).
 *
 * @example
 * ```ts
 * import { formatResult } from "./output.ts";
 * console.log(formatResult(["image", "median_ms"], [["osv", 12.5], ["minkernel", 3.25]]));
 * // image      median_ms
 * // ---------  ---------
 * // osv            12.50
 * // minkernel       3.25
 * ```
 */
export function formatResult(columns: string[], rows: ResultValue[][]): string {
  const data: Record<string, ResultValue[]> = {};
  columns.forEach((c, i) => {
    data[c] = rows.map((r) => {
      const v = r[i];
      return typeof v === "number" || typeof v === "string" || v === null
        ? v
        : text(v);
    });
  });
  return formatTable(aq.table(data));
}
