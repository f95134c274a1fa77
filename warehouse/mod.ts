/**
 * Many runs as one dataset: Parquet export and SQL queries through DuckDB.
 *
 * - `exportRuns`: every run below some folders into `instances.parquet`,
 *   `memory.parquet` and `runs.parquet` (incremental, idempotent; the
 *   dataset schema version in the Parquet metadata);
 * - `openWarehouse` / `query`: views `instances`, `memory`, `runs` over
 *   the exports and the Arrow files of runs in no export; results as arquero
 *   tables or streamed chunks; `QueryError` points at the position in the SQL;
 * - `registerArrowScan`: the `bootstorm_scan(dirs, stem)` table function
 *   that reads run Arrow files into DuckDB without a DuckDB extension.
 *
 * DuckDB (`npm:@duckdb/node-api`, a native library) is imported only when
 * one of these functions runs (dynamic `import()`): importing this module,
 * or `mod.ts`, never loads it.
 *
 * @example
 * ```ts ignore
 * import { exportRuns, query } from "./mod.ts";
 * await exportRuns("data/sweeps", "data/parquet");
 * const t = await query("select image, median(boot_ms) as median_ms from instances group by image", { data: "data/parquet" });
 * t.print();
 * ```
 *
 * @module
 */
export * from "./arrow_columns.ts";
export * from "./arrow_scan.ts";
export * from "./duckdb.ts";
export * from "./export.ts";
export * from "./output.ts";
export * from "./query.ts";
export * from "./query_error.ts";
export * from "./run_columns.ts";
export * from "./runs_table.ts";
