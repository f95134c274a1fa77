/**
 * Small arquero building blocks shared by the analysis steps (internal: not
 * re-exported from mod.ts).
 *
 * Three arquero behaviours shape them:
 * - `groupby` numbers groups in *storage* order and ignores `orderby`, so
 *   {@link inRowOrder} materialises an ordered table first (the analysis
 *   promises "first appearance" in the order the table is read);
 * - joins and `lookup` never match a null key (a table without `run_id` is
 *   one run whose key is null), so steps join on {@link withGroupId}'s
 *   group number instead, which also gives the output order;
 * - aggregates over no valid value give `undefined`, which the tables here
 *   report as null ({@link nullIfNotFinite}).
 *
 * @module
 */

import "@uwdata/flechette";
import * as aq from "arquero";
import type { Table } from "./columns.ts";

const op = aq.op;

/** How an analysis step computes: arquero verbs, the typed-array fast path, or by size (default). */
export type Engine = "auto" | "arquero" | "typed";

/**
 * From this many rows `engine: "auto"` takes the typed-array fast path of a
 * step that has one. `bench/results/analysis-arquero-2026-12-01.md`: on
 * 10 M rows arquero's `groupby` + `rollup` with `op.quantile` took 12–21 s
 * for the bins and 44–67 s for the summary (3.8 GB peak), against the goal
 * of 3 s and 2 GB for load, bins, summary and correlation together; the
 * typed paths 0.6–1.3 s and 1.1–1.9 s. Below this size arquero's cost is a
 * few tenths of a second at most (1.5–2.5 s for the bins at 1 M rows).
 */
export const TYPED_MIN_ROWS = 100_000;

/** Whether a step with a typed fast path takes it. */
export function useTyped(table: Table, engine: Engine = "auto"): boolean {
  if (engine === "typed") return true;
  if (engine === "arquero") return false;
  return table.numRows() >= TYPED_MIN_ROWS;
}

/** The table with storage order = row order (filters and orderings applied). */
export function inRowOrder(table: Table): Table {
  return table.isOrdered() ? table.reify() : table;
}

/** Throw the analysis' usual error when a column is missing. */
export function requireColumns(table: Table, names: readonly string[]): void {
  const have = new Set(table.columnNames());
  for (const name of names) {
    if (!have.has(name)) {
      throw new Error(
        `Missing column "${name}": the table has ${
          table.columnNames().join(", ") || "no columns"
        }. Load it with loadRun() or add the column.`,
      );
    }
  }
}

/** Add each missing column of `defaults` with its constant value. */
export function withDefaults(
  table: Table,
  defaults: Record<string, string | number | null>,
): Table {
  const have = new Set(table.columnNames());
  const add: Record<string, string> = {};
  for (const [name, value] of Object.entries(defaults)) {
    if (!have.has(name)) add[name] = `() => ${JSON.stringify(value)}`;
  }
  return Object.keys(add).length ? table.derive(add as never) : table;
}

/**
 * Add `_row` (1-based row number) and `name`: the `_row` of the first row
 * of each group of `keys`, a non-null group number in order of first
 * appearance (row order) that joins and sorts safely.
 */
export function withGroupId(
  table: Table,
  keys: readonly string[],
  name: string,
): Table {
  const t = table.columnNames().includes("_row")
    ? table
    : inRowOrder(table).derive({ _row: () => op.row_number() });
  return t.groupby(...keys).derive({
    [name]: (d: Record<string, number>) => op.min(d._row),
  }).ungroup();
}

/** Derive map turning each non-finite value (undefined, null, NaN) of `names` into null. */
export function nullIfNotFinite(
  names: readonly string[],
): Record<string, string> {
  return Object.fromEntries(
    names.map((n) => [
      n,
      `d => op.is_finite(d[${JSON.stringify(n)}]) ? d[${
        JSON.stringify(n)
      }] : null`,
    ]),
  );
}

/** Derive map turning undefined / null / NaN counts of `names` into 0. */
export function zeroIfMissing(
  names: readonly string[],
): Record<string, string> {
  return Object.fromEntries(
    names.map((n) => [
      n,
      `d => op.is_finite(d[${JSON.stringify(n)}]) ? d[${
        JSON.stringify(n)
      }] : 0`,
    ]),
  );
}

/**
 * Expression of column `name` when it is a finite number, else null: what
 * the aggregates count. `when` (an expression over `d`) must hold too.
 */
export function finiteOrNull(name: string, when = "true"): string {
  const c = `d[${JSON.stringify(name)}]`;
  return `d => (${when}) && op.is_finite(${c}) ? ${c} : null`;
}

/** The plain table of an arquero result: ordering and filters applied, helper columns dropped. */
export function finish(table: Table, columns: readonly string[]): Table {
  return table.select([...columns]).reify();
}
