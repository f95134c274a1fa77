/**
 * Many runs as one dataset: Parquet export and SQL queries through DuckDB.
 *
 * - `exportRuns`: every run below some folders into `instances.parquet`,
 *   `memory.parquet` and `runs.parquet` (incremental, idempotent; the
 *   dataset schema version in the Parquet metadata);
 * - `openWarehouse` / `query`: views `instances`, `memory`, `runs` over
 *   the exports and the Arrow files of runs in no export; results as arquero
 *   tables or streamed chunks; `QueryError` points at the position in the SQL;
 * - `resultCsv`, `resultJson`, `formatResult`: results as text;
 * - `registerArrowScan`: the `bootstorm_scan(dirs, stem)` table function
 *   that reads run Arrow files into DuckDB without a DuckDB extension.
 *
 * DuckDB (`npm:@duckdb/node-api`, a native library) is imported only when
 * one of these functions runs (dynamic `import()`): importing this module,
 * or `mod.ts`, never loads it.
 *
 * @example
 * ```ts ignore
 * // needs run folders written by deno task sweep below data/sweeps
 * import { exportRuns, query } from "./mod.ts";
 * await exportRuns("data/sweeps", "data/parquet");
 * const t = await query("select image, median(boot_ms) as median_ms from instances group by image", { data: "data/parquet" });
 * t.print();
 * ```
 *
 * @module
 */
export {
  clearScanReport,
  registerArrowScan,
  RUN_COLUMNS,
  scanReport,
  scanWarnings,
  type SkippedRun,
} from "./arrow_scan.ts";
export {
  type DuckDBDatabase,
  type DuckDBOptions,
  loadDuckDB,
  openDuckDB,
  WarehouseError,
} from "./duckdb.ts";
export {
  EXPORT_TABLES,
  type ExportOptions,
  type ExportReport,
  exportRuns,
  type ExportTable,
} from "./export.ts";
export {
  csvField,
  formatResult,
  type OutputFormat,
  resultCsv,
  resultJson,
} from "./output.ts";
export {
  findSources,
  openWarehouse,
  query,
  type ResultChunk,
  type ResultValue,
  type Warehouse,
  type WarehouseOptions,
  type WarehouseSources,
} from "./query.ts";
export { fromDuckDBError, lineColumn, QueryError } from "./query_error.ts";
export { type FlatRecord, flattenRecord, runColumns } from "./run_columns.ts";
