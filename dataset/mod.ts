/**
 * The dataset contract between the launcher and the analysis: the columns
 * of `instances` and `memory` with their units, types and when they are
 * null (`schema.ts`, rendered into docs/dataset.md by `doc.ts`), the row
 * types derived from them, the run record's one type (`run_record.ts`), the
 * appendable Arrow IPC and CSV codecs and the writer that checks every row
 * against the schema (`writer.ts`), and a synthetic-run writer for tests
 * and benchmarks. It imports nothing of the project: the launcher and the
 * analysis both import it and never each other.
 *
 * @example
 * ```ts
 * import { INSTANCE_COLUMNS, rowProblem, SCHEMA_VERSION } from "./mod.ts";
 * console.log(SCHEMA_VERSION >= 3, rowProblem(INSTANCE_COLUMNS, {}));
 * // true 'column "instance" is missing'
 * ```
 *
 * @module
 */
export {
  type ColumnSpec,
  type ColumnType,
  type ColumnValue,
  FAILED_OUTCOMES,
  HOST_COLUMN,
  INSTANCE_COLUMNS,
  type InstanceRow,
  MEMORY_COLUMNS,
  type MemoryRow,
  OLDEST_SCHEMA_VERSION,
  type Outcome,
  OUTCOMES,
  type RowOf,
  rowProblem,
  SCHEMA_VERSION,
} from "./schema.ts";
export type {
  HostRecord,
  InsnsPluginRecord,
  LauncherCost,
  MemorySamplerRecord,
  ReadRunRecord,
  RunFailure,
  RunRecord,
  RunStatus,
  RunTotals,
  TimeoutChoice,
} from "./run_record.ts";
export { assertOutDir, DatasetWriteError, DatasetWriter } from "./writer.ts";
export { decodeRows, encodeBatch, encodeSchema } from "./arrow_codec.ts";
export { csvHeader, csvLines } from "./csv_codec.ts";
export { datasetDoc } from "./doc.ts";
export { sha256File, sha256Hex } from "./checksum.ts";
export { mulberry32, type Random } from "./prng.ts";
export {
  type RunFixture,
  simulateStorm,
  type StormParams,
  writeRunFolder,
} from "./synthetic_run.ts";
