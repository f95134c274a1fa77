/**
 * Run records into a DuckDB table (the `runs` of the warehouse), through
 * the appender: one row per run, columns from {@link runColumns}.
 *
 * @module
 */

import type { Connection } from "./duckdb.ts";
import {
  type FlatRecord,
  ident,
  runColumns,
  type RunColumnType,
} from "./run_columns.ts";

/** Columns holding ISO 8601 times, stored as TIMESTAMPTZ. */
export const TIME_COLUMNS: readonly string[] = ["started_at", "finished_at"];

/**
 * Create (or replace) the temporary table `name` holding `records`, and
 * return the SELECT that reads it with the times as TIMESTAMPTZ.
 *
 * @example
 * ```ts
 * import { openDuckDB } from "./duckdb.ts";
 * import { flattenRecord } from "./run_columns.ts";
 * import { createRunsTable } from "./runs_table.ts";
 * const db = await openDuckDB();
 * const rec = { schema_version: 3, run_id: "r1", count: 4, started_at: "2026-01-01T10:00:00Z" };
 * const select = await createRunsTable(db.connection, "new_runs", [flattenRecord(rec as never, "data/runs/r1")]);
 * const r = await db.connection.runAndReadAll(`select run_id, typeof(started_at) as t from (${select})`);
 * console.log(r.getRowObjectsJS()); // [{ run_id: "r1", t: "TIMESTAMP WITH TIME ZONE" }]
 * db.close();
 * ```
 */
export async function createRunsTable(
  connection: Connection,
  name: string,
  records: readonly FlatRecord[],
): Promise<string> {
  const cols = runColumns(records);
  if (!cols.length) cols.push({ name: "run_id", type: "VARCHAR" });
  await connection.run(
    `create or replace temp table ${ident(name)} (${
      cols.map((c) => `${ident(c.name)} ${c.type}`).join(", ")
    })`,
  );
  const appender = await connection.createAppender(name);
  for (const r of records) {
    for (const c of cols) append(appender, c.type, r[c.name] ?? null);
    appender.endRow();
  }
  appender.closeSync();
  const times = cols.filter((c) => TIME_COLUMNS.includes(c.name));
  const replace = times.length
    ? ` replace (${
      times.map((c) =>
        `try_cast(${ident(c.name)} as timestamptz) as ${ident(c.name)}`
      ).join(", ")
    })`
    : "";
  return `select *${replace} from ${ident(name)}`;
}

function append(
  a: import("@duckdb/node-api").DuckDBAppender,
  type: RunColumnType,
  v: string | number | boolean | null,
) {
  if (v === null) return a.appendNull();
  switch (type) {
    case "BOOLEAN":
      return a.appendBoolean(Boolean(v));
    case "BIGINT":
      return a.appendBigInt(BigInt(v as number));
    case "DOUBLE":
      return a.appendDouble(Number(v));
    case "VARCHAR":
      return a.appendVarchar(typeof v === "string" ? v : String(v));
  }
}
