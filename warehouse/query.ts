/**
 * SQL over every run below a data folder, through DuckDB. Views:
 *
 * - `instances`, `memory`: the Parquet exports found below the folder
 *   (folders holding `runs.parquet`, written by `deno task export`), and
 *   for runs that are in no export, their Arrow files directly (the
 *   `bootstorm_scan` table function);
 * - `runs`: one row per run, run.json flattened to columns.
 *
 * Queries stream: results arrive chunk by chunk, DuckDB spills to a
 * temporary folder when a query needs more memory than its limit, so a
 * query over more rows than fit in RAM finishes.
 *
 * @module
 */

import * as aq from "arquero";
import { join, resolve } from "node:path";
import type { Table } from "../analysis/columns.ts";
import {
  clearScanReport,
  readRunRecord,
  registerArrowScan,
  scanWarnings,
} from "./arrow_scan.ts";
import {
  type DuckDBDatabase,
  type DuckDBOptions,
  openDuckDB,
  WarehouseError,
} from "./duckdb.ts";
import { fromDuckDBError } from "./query_error.ts";
import { flattenRecord, literal, literalList } from "./run_columns.ts";
import { createRunsTable } from "./runs_table.ts";

/** Options of {@link openWarehouse}. */
export interface WarehouseOptions extends DuckDBOptions {
  /** Data folder(s) to cover (default `data`). */
  data?: string | readonly string[];
  /** Keep the complete record batches of a truncated Arrow file (see {@link Warehouse.warnings}). */
  salvage?: boolean;
}

/** Where a warehouse's rows come from. */
export interface WarehouseSources {
  /** Export folders (holding runs.parquet, instances.parquet, memory.parquet). */
  parquet: string[];
  /** Run folders read from their Arrow files (in no export). */
  arrow: string[];
  /** Run folders skipped because an export already holds them. */
  exported: string[];
}

/** A value of a query result in JS: numbers (BIGINT when safe), strings, booleans, Dates, arrays/objects, null. */
export type ResultValue = unknown;

/** A streamed part of a result: column-major values. */
export interface ResultChunk {
  /** Column names, in order. */
  columns: string[];
  /** `values[c][r]`: column c, row r. */
  values: ResultValue[][];
  /** Rows in this chunk. */
  rows: number;
}

/** The hint appended to SQL errors. */
export const VIEWS_HINT =
  "Views: instances, memory, runs (DESCRIBE instances lists the columns; docs/dataset.md says what they mean).";

/** An open DuckDB with the views over a data folder. */
export interface Warehouse {
  /** Where the rows come from. */
  sources: WarehouseSources;
  /** The DuckDB database (for callers that need the raw API). */
  db: DuckDBDatabase;
  /** Run `sql` and return the whole result as an arquero table. */
  query(sql: string): Promise<Table>;
  /** Run `sql`, handing the result to `onChunk` chunk by chunk (streams); returns the column names and row count. */
  stream(
    sql: string,
    onChunk: (chunk: ResultChunk) => void | Promise<void>,
  ): Promise<{ columns: string[]; rows: number }>;
  /** Non-fatal findings of the Arrow scans so far (salvaged batches, a missing end-of-stream marker). */
  warnings(): string[];
  /** Close DuckDB and forget the scan report. */
  close(): void;
}

/**
 * Find export folders and run folders below `dirs` (hidden folders are
 * skipped; a run folder or an export folder is not descended into).
 *
 * @example
 * ```ts
 * import { join } from "node:path";
 * import { findSources } from "./query.ts";
 * const data = await Deno.realPath(await Deno.makeTempDir());
 * for (const [dir, file] of [["runs/r1", "run.json"], ["export", "runs.parquet"], ["export/r0", "run.json"], [".old/r9", "run.json"]]) {
 *   await Deno.mkdir(join(data, dir), { recursive: true });
 *   await Deno.writeTextFile(join(data, dir, file), "");
 * }
 * const { parquet, runs } = await findSources([data]); // not into the export folder, nor hidden ones
 * console.log(parquet.map((d) => d.slice(data.length)), runs.map((d) => d.slice(data.length))); // ["/export"] ["/runs/r1"]
 * await Deno.remove(data, { recursive: true });
 * ```
 */
export async function findSources(
  dirs: readonly string[],
): Promise<{ parquet: string[]; runs: string[] }> {
  const parquet: string[] = [];
  const runs: string[] = [];
  const walk = async (d: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(d)) entries.push(e);
    const files = new Set(entries.filter((e) => e.isFile).map((e) => e.name));
    if (files.has("run.json")) return void runs.push(d);
    if (files.has("runs.parquet")) return void parquet.push(d);
    for (const e of entries) {
      if (e.isDirectory && !e.name.startsWith(".")) await walk(join(d, e.name));
    }
  };
  for (const d of dirs) {
    try {
      await walk(resolve(d));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new WarehouseError(
          `Cannot query "${d}": no such folder. Give --data a folder holding runs or exports (default: data).`,
        );
      }
      throw e;
    }
  }
  return { parquet: parquet.sort(), runs: runs.sort() };
}

/**
 * Open DuckDB with the views `instances`, `memory` and `runs` over
 * everything below `options.data`.
 *
 * @example
 * ```ts ignore
 * // needs run folders (deno task sweep) or exports (deno task export) below data
 * const wh = await openWarehouse({ data: "data" });
 * const t = await wh.query("select image, count_n, median(boot_ms) as median_ms from instances group by all");
 * wh.close();
 * ```
 */
export async function openWarehouse(
  options: WarehouseOptions = {},
): Promise<Warehouse> {
  const data = options.data === undefined
    ? ["data"]
    : typeof options.data === "string"
    ? [options.data]
    : [...options.data];
  const found = await findSources(data);
  if (!found.parquet.length && !found.runs.length) {
    throw new WarehouseError(
      `Nothing to query below ${
        data.join(", ")
      }: no run folder (run.json) and no export (runs.parquet). Measure with deno task sweep, or point --data at them.`,
    );
  }
  const db = await openDuckDB(options);
  try {
    registerArrowScan(db.duck, db.connection);
    const con = db.connection;
    const files = (t: string) =>
      literalList(found.parquet.map((p) => join(p, `${t}.parquet`)));
    const inExport = new Set<string>();
    if (found.parquet.length) {
      const r = await con.runAndReadAll(
        `select distinct run_id from read_parquet(${
          files("runs")
        }, union_by_name = true)`,
      );
      for (const [id] of r.getRowsJS()) inExport.add(String(id));
    }
    const arrow: string[] = [];
    const exported: string[] = [];
    const records = [];
    for (const dir of found.runs) {
      const rec = readRunRecord(dir);
      if (inExport.has(rec.run_id)) exported.push(dir);
      else {
        arrow.push(dir);
        records.push(flattenRecord(rec, dir));
      }
    }
    const sources = { parquet: found.parquet, arrow, exported };
    const reportId = crypto.randomUUID();
    for (const t of ["instances", "memory"] as const) {
      const parts: string[] = [];
      if (found.parquet.length) {
        parts.push(
          `select * from read_parquet(${files(t)}, union_by_name = true)`,
        );
      }
      if (arrow.length) {
        parts.push(
          `select * from bootstorm_scan(${literalList(arrow)}, ${
            literal(t)
          }, report := ${literal(reportId)}, salvage := ${
            options.salvage ? "true" : "false"
          })`,
        );
      }
      await run(
        con,
        `create view ${t} as ${parts.join(" union all by name ")}`,
      );
    }
    const runParts: string[] = [];
    if (found.parquet.length) {
      runParts.push(
        `select * from read_parquet(${files("runs")}, union_by_name = true)`,
      );
    }
    if (records.length) {
      runParts.push(await createRunsTable(con, "arrow_runs", records));
    }
    await run(
      con,
      `create view runs as ${runParts.join(" union all by name ")}`,
    );
    return makeWarehouse(db, sources, reportId);
  } catch (e) {
    db.close();
    const msg = (e as Error)?.message ?? "";
    if (msg.includes('"exception_type"')) {
      throw new WarehouseError(
        `Cannot read the data below ${data.join(", ")}: ${
          fromDuckDBError(msg, "", "").problem
        }`,
      );
    }
    throw e;
  }
}

async function run(
  con: DuckDBDatabase["connection"],
  sql: string,
): Promise<void> {
  try {
    await con.run(sql);
  } catch (e) {
    throw new WarehouseError(
      `Cannot set up the views: ${
        fromDuckDBError((e as Error).message, sql, "").problem
      }`,
    );
  }
}

function makeWarehouse(
  db: DuckDBDatabase,
  sources: WarehouseSources,
  reportId: string,
): Warehouse {
  const { api } = db.duck;
  const stream: Warehouse["stream"] = async (sql, onChunk) => {
    let result;
    try {
      result = await db.connection.stream(sql);
    } catch (e) {
      throw fromDuckDBError((e as Error).message, sql, VIEWS_HINT);
    }
    const columns = result.columnNames();
    let rows = 0;
    while (true) {
      let chunk;
      try {
        chunk = await result.fetchChunk();
      } catch (e) {
        throw fromDuckDBError((e as Error).message, sql, VIEWS_HINT);
      }
      if (!chunk || chunk.rowCount === 0) break;
      const values = chunk.convertColumns(api.JSDuckDBValueConverter).map(
        (col) => col.map(jsValue),
      );
      rows += chunk.rowCount;
      await onChunk({ columns, values, rows: chunk.rowCount });
    }
    return { columns, rows };
  };
  return {
    sources,
    db,
    stream,
    async query(sql) {
      const cols: ResultValue[][] = [];
      const { columns: names } = await stream(sql, (c) => {
        if (!cols.length) { for (const _ of c.columns) cols.push([]); }
        c.values.forEach((v, i) => {
          for (const x of v) cols[i].push(x);
        });
      });
      if (!cols.length) { for (const _ of names) cols.push([]); }
      return aq.table(Object.fromEntries(names.map((n, i) => [n, cols[i]])));
    },
    warnings: () => scanWarnings(reportId),
    close: () => {
      clearScanReport(reportId);
      db.close();
    },
  };
}

/**
 * A DuckDB JS value as a plain JS value: BIGINTs as numbers when exact,
 * else as text.
 *
 * @example
 * ```ts
 * import { jsValue } from "./query.ts";
 * console.log(jsValue(42n), jsValue(2n ** 64n), jsValue([1n, "a"])); // 42 "18446744073709551616" [1, "a"]
 * ```
 */
export function jsValue(v: unknown): ResultValue {
  if (typeof v === "bigint") {
    return v <= BigInt(Number.MAX_SAFE_INTEGER) &&
        v >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(v)
      : v.toString();
  }
  if (Array.isArray(v)) return v.map(jsValue);
  return v;
}

/**
 * Run one query over everything below `options.data` and return an arquero
 * table (opens and closes DuckDB).
 *
 * @example
 * ```ts ignore
 * // needs run folders (deno task sweep) below data/sweeps
 * const t = await query("select image, median(boot_ms) as median_ms from instances group by image", { data: "data/sweeps" });
 * ```
 */
export async function query(
  sql: string,
  options: WarehouseOptions = {},
): Promise<Table> {
  const wh = await openWarehouse(options);
  try {
    return await wh.query(sql);
  } finally {
    wh.close();
  }
}
