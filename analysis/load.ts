/**
 * Reading datasets: pure codecs (`fromRunJson`, `fromArrowDataset`,
 * `fromCsvDataset`, `withRunColumns`) and the I/O edge (`loadRun`,
 * `loadSweep`, `loadRuns`, `findRunDirs`).
 *
 * A run folder holds `run.json`, `instances.arrow` (or `instances.csv`) and
 * `memory.arrow` (or `memory.csv`). Arrow is preferred; CSV is read only when
 * the Arrow file is absent (or with `prefer: "csv"`). Arrow files are IPC
 * *stream* format; a missing end-of-stream marker is accepted (launcher
 * killed between appends), a file cut inside a record batch is an error
 * unless `salvage` keeps its complete batches.
 *
 * Files of an older schema version (≥ OLDEST_SCHEMA_VERSION) must hold the
 * columns of their version; columns added by later versions (documented
 * `since` in dataset/schema.ts) are added as all-null columns, so
 * every loaded table has the current schema's columns.
 *
 * Loaded tables get three columns from run.json so that tables of many runs
 * can be stacked: `run_id`, `image` (profile name, else the image file name)
 * and `count_n` (the run's N).
 *
 * @module
 */

import "@uwdata/flechette";
import { Type } from "@uwdata/flechette";
import * as aq from "arquero";
import { basename, join, resolve } from "node:path";
import {
  type ColumnSpec,
  HOST_COLUMN,
  INSTANCE_COLUMNS,
  MEMORY_COLUMNS,
  OLDEST_SCHEMA_VERSION,
  SCHEMA_VERSION,
} from "../dataset/schema.ts";
import type { ReadRunRecord } from "../dataset/run_record.ts";
import { readArrowProjected } from "./arrow_read.ts";
import { frameIpcStream, type Truncation } from "./arrow_stream.ts";
import { concatTables, RunLengthColumn, type Table } from "./columns.ts";

/** A dataset file that cannot be used; the message names the file, the problem and the fix. */
export class DatasetError extends Error {
  /** The file or folder at fault. */
  readonly file: string;

  /** `Cannot load "<file>": <problem>. <fix>` */
  constructor(file: string, problem: string, fix: string) {
    super(`Cannot load "${file}": ${problem}. ${fix}`);
    this.name = "DatasetError";
    this.file = file;
  }
}

/**
 * The run record as read back (launcher/run_record.ts: the launcher's
 * `RunRecord`, every field but `schema_version`, `run_id` and `count`
 * optional, unknown keys kept): one type for the writer and the loader.
 */
export type { ReadRunRecord } from "../dataset/run_record.ts";

/** One loaded run folder. */
export interface Run {
  /** The run folder. */
  dir: string;
  /** Parsed run.json. */
  record: ReadRunRecord;
  /** Instance rows, with `run_id`, `image`, `count_n` added. */
  instances: Table;
  /** Memory samples, with `run_id`, `image`, `count_n` added. */
  memory: Table;
  /** Which format each table came from. */
  formats: { instances: "arrow" | "csv"; memory: "arrow" | "csv" };
  /** Things that are odd but not fatal (salvaged batches, row count ≠ N…). */
  warnings: string[];
}

/** Several runs, e.g. a sweep folder. */
export interface RunSet {
  /** Parsed sweep.json of the folder, when there is one. */
  sweep: Record<string, unknown> | null;
  /** Every run found, in folder-name order. */
  runs: Run[];
  /** All instance rows stacked. */
  instances: Table;
  /** All memory samples stacked. */
  memory: Table;
}

/** Options of the loaders. */
export interface LoadOptions {
  /** Keep the complete record batches of a truncated Arrow file (with a warning) instead of failing. */
  salvage?: boolean;
  /** Read CSV even when Arrow is present. */
  prefer?: "arrow" | "csv";
  /**
   * Load only these instance columns (default: all). The schema is still
   * checked in full; large Arrow files are then read column by column, which
   * saves time and memory (see ANALYSIS_COLUMNS).
   */
  columns?: readonly string[];
  /** Arrow files at least this big are read column by column when `columns` is given (default 32 MiB). */
  projectMinBytes?: number;
  /**
   * A sweep folder: load every run folder below it, including the probes
   * and the runs a resumed cell superseded (default false: only each cell's
   * current run, as sweep.json names it).
   */
  allRuns?: boolean;
}

/**
 * The instance columns the analysis functions use (bins, summaries,
 * timelines, outliers, features): pass as `columns` to load less.
 */
export const ANALYSIS_COLUMNS: readonly string[] = [
  "instance",
  "t_s_ms",
  "boot_end_ms",
  "boot_ms",
  "first_output_boot_ms",
  "concurrency_at_start",
  "outcome",
  "rss_peak_kib",
  "cpu_ready_ms",
  // boot work (--insns), null in other runs
  "insns_first_output",
  "insns_ready",
  "insns_guest_ready",
  "insns_before_guest",
  "insns_io_ready",
  "insns_system_ready",
  "mem_accesses_ready",
  "guest_code_pages_ready",
  "insns_ready_lag",
  "insns_guest_addr_ready",
  "guest_blocks_ready",
  "guest_code_insns_ready",
  "cr3_writes_ready",
  "syscalls_ready",
  // merged multi-host datasets only (absent elsewhere)
  "host",
];

const PROJECT_MIN_BYTES = 32 * 1024 * 1024;

const RUN_JSON_FIX =
  "Re-run the measurement (deno task sweep …) or restore run.json from the launcher's output";

/**
 * Parse and check run.json text. Throws {@link DatasetError} when it is not
 * JSON, lacks `schema_version`, `run_id` or `count`, or was written by a newer
 * schema than this toolkit reads ({@link SCHEMA_VERSION}).
 *
 * @example
 * ```ts
 * const rec = fromRunJson('{"schema_version":1,"run_id":"r1","count":4}');
 * rec.run_id; // "r1"
 * ```
 */
export function fromRunJson(
  text: string,
  options: { file?: string } = {},
): ReadRunRecord {
  const file = options.file ?? "run.json";
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DatasetError(
      file,
      `it is not valid JSON (${(e as Error).message}); it may be truncated`,
      RUN_JSON_FIX + ".",
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new DatasetError(file, "it is not a JSON object", RUN_JSON_FIX + ".");
  }
  const rec = value as Record<string, unknown>;
  const v = rec.schema_version;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new DatasetError(
      file,
      `"schema_version" is ${
        JSON.stringify(v)
      }, expected an integer from ${OLDEST_SCHEMA_VERSION} to ${SCHEMA_VERSION}`,
      RUN_JSON_FIX + ".",
    );
  }
  if (v < OLDEST_SCHEMA_VERSION) {
    throw new DatasetError(
      file,
      `schema_version ${v} is older than the oldest this toolkit reads (${OLDEST_SCHEMA_VERSION})`,
      "Re-run the measurement with this version, or read it with an older bootstorm.",
    );
  }
  if (v > SCHEMA_VERSION) {
    throw new DatasetError(
      file,
      `schema_version ${v} is newer than this toolkit reads (${SCHEMA_VERSION})`,
      "Update bootstorm to a version that knows this schema, or re-run the measurement with this version.",
    );
  }
  if (typeof rec.run_id !== "string" || rec.run_id === "") {
    throw new DatasetError(
      file,
      `"run_id" is ${JSON.stringify(rec.run_id)}, expected a non-empty string`,
      RUN_JSON_FIX + ".",
    );
  }
  if (typeof rec.count !== "number" || !(rec.count >= 0)) {
    throw new DatasetError(
      file,
      `"count" is ${
        JSON.stringify(rec.count)
      }, expected the number of instances`,
      RUN_JSON_FIX + ".",
    );
  }
  return rec as ReadRunRecord;
}

/** Options of the pure dataset codecs. */
export interface CodecOptions {
  /** File name used in error messages. */
  file?: string;
  /** Keep complete batches of a truncated Arrow stream instead of failing. */
  salvage?: boolean;
  /** Receives non-fatal findings (salvage, missing end marker). */
  warnings?: string[];
  /** Schema version the file claims (for messages; default SCHEMA_VERSION). */
  version?: number;
}

/**
 * The schema version that introduced a column: its `since`, else 1.
 *
 * @example
 * ```ts
 * import { INSTANCE_COLUMNS } from "../dataset/schema.ts";
 * columnSince(INSTANCE_COLUMNS.find((c) => c.name === "t_k_ms")!); // 2
 * ```
 */
export function columnSince(spec: ColumnSpec): number {
  return spec.since ?? 1;
}

/**
 * The columns a file of schema `version` must hold.
 *
 * @example
 * ```ts
 * import { INSTANCE_COLUMNS } from "../dataset/schema.ts";
 * columnsOfVersion(INSTANCE_COLUMNS, 1).length; // the v1 columns only
 * ```
 */
export function columnsOfVersion(
  specs: readonly ColumnSpec[],
  version: number,
): ColumnSpec[] {
  return specs.filter((s) => columnSince(s) <= version);
}

/**
 * Add every column of `specs` the table lacks, all null (run-length
 * encoded), keeping the table's own columns first.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { INSTANCE_COLUMNS } from "../dataset/schema.ts";
 * const v1Table = aq.table({ id: [0], boot_ms: [12.5] });
 * withMissingColumns(v1Table, INSTANCE_COLUMNS).columnNames().includes("t_k_ms"); // true
 * ```
 */
export function withMissingColumns(
  table: Table,
  specs: readonly ColumnSpec[],
): Table {
  const have = new Set(table.columnNames());
  const missing = specs.filter((s) => !have.has(s.name));
  if (!missing.length) return table;
  const t = table.isFiltered() || table.isOrdered() ? table.reify() : table;
  const data: Record<string, unknown> = {};
  for (const name of t.columnNames()) data[name] = t.column(name);
  for (const s of missing) {
    data[s.name] = RunLengthColumn.constant(null, t.numRows());
  }
  return aq.table(data as Parameters<typeof aq.table>[0]);
}

function typeName(
  t: { typeId: number; bitWidth?: number; precision?: number },
) {
  switch (t.typeId) {
    case Type.Int:
      return `int${t.bitWidth}`;
    case Type.Float:
      return ["float16", "float32", "float64"][t.precision ?? 2];
    case Type.Utf8:
      return "utf8";
    case Type.LargeUtf8:
      return "large_utf8";
    case Type.Null:
      return "null";
    case Type.Dictionary:
      return "dictionary";
    default:
      return `Arrow type id ${t.typeId}`;
  }
}

function typeFits(
  spec: ColumnSpec,
  t: { typeId: number; dictionary?: { typeId: number } },
): boolean {
  if (t.typeId === Type.Null) return spec.nullable;
  if (spec.type === "utf8") {
    return t.typeId === Type.Utf8 || t.typeId === Type.LargeUtf8 ||
      (t.typeId === Type.Dictionary && t.dictionary?.typeId === Type.Utf8);
  }
  return t.typeId === Type.Int || t.typeId === Type.Float;
}

/**
 * Decode an Arrow IPC stream (or file) holding the dataset columns `specs`
 * (INSTANCE_COLUMNS or MEMORY_COLUMNS of dataset/schema.ts) into an arquero
 * table backed by the Arrow buffers (no copy). Throws {@link DatasetError} for
 * an empty, non-Arrow or truncated file (unless `salvage`), a missing column,
 * a column of the wrong type, or nulls in a column that cannot be null.
 *
 * @example
 * ```ts
 * import { ARROW_EOS, encodeBatch, encodeSchema } from "../dataset/arrow_codec.ts";
 * const cols = [{ name: "boot_ms", type: "float64" as const, nullable: true, doc: "" }];
 * const bytes = new Uint8Array([
 *   ...encodeSchema(cols), ...encodeBatch(cols, [{ boot_ms: 12.5 }]), ...ARROW_EOS,
 * ]);
 * fromArrowDataset(bytes, cols, { file: "instances.arrow" }).numRows(); // 1
 * ```
 */
export function fromArrowDataset(
  bytes: Uint8Array,
  specs: readonly ColumnSpec[],
  options: CodecOptions = {},
): Table {
  const file = options.file ?? "dataset.arrow";
  const rerun = ARROW_RERUN;
  if (bytes.byteLength === 0) {
    throw new DatasetError(file, "the file is empty (0 bytes)", rerun + ".");
  }
  const frames = frameIpcStream(bytes);
  let input = bytes;
  if (!frames.fileFormat) {
    if (frames.invalid) {
      throw new DatasetError(
        file,
        `it is not Arrow IPC stream data (${frames.invalid})`,
        rerun + ".",
      );
    }
    if (!frames.hasSchema) {
      throw new DatasetError(
        file,
        frames.truncated
          ? `the file is truncated inside its schema message (${bytes.byteLength} bytes)`
          : "it has no schema message",
        rerun + ".",
      );
    }
    if (frames.truncated) {
      onTruncated(frames.truncated, frames.recordBatches, file, options);
      input = bytes.subarray(0, frames.completeBytes);
    } else if (!frames.endMarker) {
      options.warnings?.push(
        `${file}: no end-of-stream marker (the launcher did not close the file); read ${frames.recordBatches} complete record batches`,
      );
    }
  }
  let table: Table;
  try {
    table = aq.fromArrow(input);
  } catch (e) {
    throw new DatasetError(
      file,
      `the Arrow data cannot be decoded (${(e as Error).message})`,
      rerun + ".",
    );
  }
  const fields = table.columnNames().map((name) => ({
    name,
    type: (table.column(name) as unknown as { type: { typeId: number } }).type,
  }));
  checkFields(fields, specs, file, options.version ?? SCHEMA_VERSION);
  checkNulls(table, specs, file);
  return table;
}

const WRONG_SCHEMA_FIX =
  "The file was written by another tool or an incompatible launcher version; re-run the measurement with this version.";

/** Check that the schema has every column of `specs`, each of a fitting type. */
function checkFields(
  fields: readonly {
    name: string;
    type: { typeId: number; dictionary?: { typeId: number } };
  }[],
  specs: readonly ColumnSpec[],
  file: string,
  version: number,
) {
  const byName = new Map(fields.map((f) => [f.name, f]));
  const missing = specs.filter((s) => !byName.has(s.name)).map((s) => s.name);
  if (missing.length) {
    throw new DatasetError(
      file,
      `wrong schema: missing column${missing.length > 1 ? "s" : ""} ${
        missing.map((m) => `"${m}"`).join(", ")
      } (schema version ${version}, dataset/schema.ts)`,
      WRONG_SCHEMA_FIX,
    );
  }
  for (const spec of specs) {
    const type = byName.get(spec.name)!.type;
    if (!typeFits(spec, type)) {
      throw new DatasetError(
        file,
        `wrong schema: column "${spec.name}" is ${
          typeName(type)
        }, expected ${spec.type}`,
        WRONG_SCHEMA_FIX,
      );
    }
  }
}

/** Check that columns of `specs` that cannot be null hold no null (columns absent from the table are skipped). */
function checkNulls(table: Table, specs: readonly ColumnSpec[], file: string) {
  for (const spec of specs) {
    if (spec.nullable) continue;
    const c = table.column(spec.name) as unknown as
      | { nullCount?: number; length: number; at(i: number): unknown }
      | undefined;
    if (!c) continue;
    let nulls = c.nullCount;
    if (nulls === undefined) {
      nulls = 0;
      for (let i = 0; i < c.length; i++) if (c.at(i) == null) nulls++;
    }
    if (nulls > 0) {
      throw new DatasetError(
        file,
        `column "${spec.name}" has ${nulls} null value${
          nulls > 1 ? "s" : ""
        } but can never be null`,
        "The file is damaged or was written by an incompatible launcher; re-run the measurement.",
      );
    }
  }
}

/** The problem text for a truncated stream, and the error or warning it leads to. */
function onTruncated(
  t: Truncation,
  recordBatches: number,
  file: string,
  options: CodecOptions,
) {
  const what = `the file is truncated: it ends inside message ${t.message} ` +
    `(starting at byte ${t.atByte}, ${t.haveBytes} of its ${t.needBytes} bytes present), ` +
    `after ${recordBatches} complete record batches`;
  if (!options.salvage) {
    throw new DatasetError(
      file,
      what,
      "The launcher probably stopped while writing. " + ARROW_RERUN +
        ", or load with { salvage: true } (--salvage) to keep the complete batches.",
    );
  }
  options.warnings?.push(
    `${file}: ${what}; kept the complete batches (salvage)`,
  );
}

const ARROW_RERUN =
  "Re-run the measurement, or delete the .arrow file to read the .csv beside it";

const NULL_TEXT = new Set(["", "null", "NULL", "NA", "NaN"]);

/**
 * Decode CSV text holding the dataset columns `specs` (header row first;
 * empty field, `null` or `NA` → null). Numbers become numbers, everything
 * else stays text. Throws {@link DatasetError} for an empty file, a missing
 * column, a short (truncated) row, a non-numeric value in a numeric column
 * or a null in a column that cannot be null.
 *
 * @example
 * ```ts
 * import { MEMORY_COLUMNS } from "../dataset/schema.ts";
 * const t = fromCsvDataset("t_ms,run_used_kib,used_kib,booting\n0,2048,100,0\n", MEMORY_COLUMNS);
 * t.numRows(); // 1
 * ```
 */
export function fromCsvDataset(
  text: string,
  specs: readonly ColumnSpec[],
  options: CodecOptions = {},
): Table {
  const file = options.file ?? "dataset.csv";
  const fix = "Re-run the measurement, or use the .arrow file beside it";
  if (text.trim() === "") {
    throw new DatasetError(file, "the file is empty", fix + ".");
  }
  const parse: Record<string, (s: string) => unknown> = {};
  for (const s of specs) {
    parse[s.name] = s.type === "utf8"
      ? (v) => (NULL_TEXT.has(v) && v !== "NaN" ? null : v)
      : (v) => (NULL_TEXT.has(v) ? null : Number(v));
  }
  let table: Table;
  try {
    table = aq.fromCSV(text, { parse, autoType: false });
  } catch (e) {
    throw new DatasetError(
      file,
      `it cannot be parsed as CSV (${(e as Error).message})`,
      fix + ".",
    );
  }
  const names = new Set(table.columnNames());
  const missing = specs.filter((s) => !names.has(s.name)).map((s) => s.name);
  if (missing.length) {
    throw new DatasetError(
      file,
      `wrong schema: missing column${missing.length > 1 ? "s" : ""} ${
        missing.map((m) => `"${m}"`).join(", ")
      } (schema version ${
        options.version ?? SCHEMA_VERSION
      }, dataset/schema.ts)`,
      "The file was written by another tool or an incompatible launcher version; re-run the measurement with this version.",
    );
  }
  const n = table.numRows();
  for (const spec of specs) {
    const col = table.column(spec.name)!;
    for (let i = 0; i < n; i++) {
      const v = col.at(i);
      if (v === undefined) {
        throw new DatasetError(
          file,
          `row ${
            i + 2
          } has too few fields (no value for "${spec.name}"); the file is truncated or malformed`,
          fix + ".",
        );
      }
      if (v === null) {
        if (!spec.nullable) {
          throw new DatasetError(
            file,
            `row ${
              i + 2
            }: column "${spec.name}" is empty but can never be null; the file is truncated or malformed`,
            fix + ".",
          );
        }
      } else if (spec.type !== "utf8" && Number.isNaN(v)) {
        throw new DatasetError(
          file,
          `row ${
            i + 2
          }: column "${spec.name}" holds a value that is not a number`,
          fix + ".",
        );
      }
    }
  }
  return table;
}

/**
 * The display name of a run's image: the profile name, else the image file
 * name, else "unknown".
 *
 * @example
 * ```ts
 * imageName({ schema_version: 1, run_id: "r", count: 1, profile: { name: "osv" } }); // "osv"
 * ```
 */
export function imageName(record: ReadRunRecord): string {
  return record.profile?.name ??
    (record.image?.path ? basename(record.image.path) : "unknown");
}

/**
 * Add the constant columns `run_id`, `image` and `count_n` (from run.json)
 * to a run's table (stored run-length encoded: no per-row cost).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * const record = { schema_version: 1, run_id: "r", count: 2, profile: { name: "osv" } };
 * withRunColumns(aq.table({ x: [1, 2] }), record).columnNames(); // ["x", "run_id", "image", "count_n"]
 * ```
 */
export function withRunColumns(table: Table, record: ReadRunRecord): Table {
  const t = table.isFiltered() || table.isOrdered() ? table.reify() : table;
  const n = t.numRows();
  const data: Record<string, unknown> = {};
  for (const name of t.columnNames()) data[name] = t.column(name);
  data.run_id = RunLengthColumn.constant(record.run_id, n);
  data.image = RunLengthColumn.constant(imageName(record), n);
  data.count_n = RunLengthColumn.constant(record.count, n);
  return aq.table(data as Parameters<typeof aq.table>[0]);
}

/**
 * Read a whole file, or null when it does not exist. Reads into one buffer
 * of the file's size in 16 MiB chunks: 2-3× faster than Deno.readFile for
 * files of hundreds of MiB.
 */
async function readIfExists(path: string): Promise<Uint8Array | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    const size = (await file.stat()).size;
    const buf = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = await file.read(
        buf.subarray(off, Math.min(size, off + (1 << 24))),
      );
      if (n === null) break;
      off += n;
    }
    return off === size ? buf : buf.subarray(0, off);
  } finally {
    file.close();
  }
}

async function loadTable(
  dir: string,
  stem: "instances" | "memory",
  specs: readonly ColumnSpec[],
  options: LoadOptions,
  warnings: string[],
  version: number,
): Promise<{ table: Table; format: "arrow" | "csv" }> {
  const arrowPath = join(dir, `${stem}.arrow`);
  const csvPath = join(dir, `${stem}.csv`);
  const columns = stem === "instances" ? options.columns : undefined;
  const project = (t: Table) => {
    if (!columns) return t;
    const have = new Set(t.columnNames());
    return t.select(columns.filter((c) => have.has(c)));
  };
  if (options.prefer !== "csv") {
    const projected = columns
      ? await readProjected(
        arrowPath,
        specs,
        columns,
        warnings,
        options,
        version,
      )
      : null;
    if (projected) return { table: project(projected), format: "arrow" };
    const bytes = await readIfExists(arrowPath);
    if (bytes) {
      const table = fromArrowDataset(bytes, specs, {
        file: arrowPath,
        salvage: options.salvage,
        warnings,
        version,
      });
      return { table: project(table), format: "arrow" };
    }
  }
  const csv = await readIfExists(csvPath);
  if (csv) {
    const text = new TextDecoder().decode(csv);
    return {
      table: project(fromCsvDataset(text, specs, { file: csvPath, version })),
      format: "csv",
    };
  }
  if (options.prefer === "csv" && await readIfExists(arrowPath)) {
    return loadTable(
      dir,
      stem,
      specs,
      { ...options, prefer: "arrow" },
      warnings,
      version,
    );
  }
  throw new DatasetError(
    join(dir, stem + ".arrow"),
    `neither ${stem}.arrow nor ${stem}.csv exists in the run folder`,
    "The run did not finish writing its data; re-run the measurement.",
  );
}

/** Column-projected read of a big Arrow file, checked like a full one; null to fall back to a full read. */
async function readProjected(
  path: string,
  specs: readonly ColumnSpec[],
  columns: readonly string[],
  warnings: string[],
  options: LoadOptions,
  version: number,
): Promise<Table | null> {
  let size: number;
  try {
    size = (await Deno.stat(path)).size;
  } catch {
    return null;
  }
  if (size < (options.projectMinBytes ?? PROJECT_MIN_BYTES)) return null;
  const r = await readArrowProjected(path, columns);
  if (!r) return null;
  checkFields(r.fields, specs, path, version);
  if (r.truncated) {
    onTruncated(r.truncated, r.recordBatches, path, {
      salvage: options.salvage,
      warnings,
    });
  } else if (!r.endMarker) {
    warnings.push(
      `${path}: no end-of-stream marker (the launcher did not close the file); read ${r.recordBatches} complete record batches`,
    );
  }
  checkNulls(r.table, specs, path);
  return r.table;
}

/**
 * Load one run folder: run.json, instances and memory (Arrow preferred,
 * CSV when Arrow is absent). Throws {@link DatasetError} naming the file
 * for anything missing, truncated or of the wrong schema.
 *
 * @example
 * ```ts
 * import { simulateStorm, writeRunFolder } from "../dataset/synthetic_run.ts";
 * const dir = await Deno.makeTempDir();
 * const fixture = simulateStorm({
 *   runId: "r1", image: "minkernel", cls: "baseline", n: 4,
 *   baseMs: 100, perConcurrentMs: 5, rssKib: 45_000,
 * });
 * const runDir = await writeRunFolder(dir, fixture);
 * const run = await loadRun(runDir);
 * run.instances.numRows(); // 4
 * ```
 */
export async function loadRun(
  dir: string,
  options: LoadOptions = {},
): Promise<Run> {
  const runJson = join(dir, "run.json");
  const text = await readIfExists(runJson);
  if (text === null) {
    let isDir = false;
    try {
      isDir = (await Deno.stat(dir)).isDirectory;
    } catch { /* missing */ }
    throw new DatasetError(
      isDir ? runJson : dir,
      isDir ? "run.json is missing" : "no such folder",
      isDir
        ? "Point to a run folder (data/runs/<run-id>/, holding run.json), or use loadSweep() for a folder of runs."
        : "Check the path; runs are written to data/runs/<run-id>/ by deno task sweep.",
    );
  }
  const record = fromRunJson(new TextDecoder().decode(text), { file: runJson });
  const unknown = (options.columns ?? []).filter((c) =>
    !INSTANCE_COLUMNS.some((s) => s.name === c) && c !== HOST_COLUMN.name
  );
  if (unknown.length) {
    throw new Error(
      `Cannot load columns ${
        unknown.map((c) => `"${c}"`).join(", ")
      }: not instance columns of dataset/schema.ts. Use names from INSTANCE_COLUMNS (e.g. ANALYSIS_COLUMNS).`,
    );
  }
  const warnings: string[] = [];
  const v = record.schema_version;
  const inst = await loadTable(
    dir,
    "instances",
    columnsOfVersion(INSTANCE_COLUMNS, v),
    options,
    warnings,
    v,
  );
  const mem = await loadTable(
    dir,
    "memory",
    columnsOfVersion(MEMORY_COLUMNS, v),
    options,
    warnings,
    v,
  );
  const rows = inst.table.numRows();
  if (rows !== record.count) {
    warnings.push(
      `${
        join(dir, "instances." + inst.format)
      }: ${rows} rows but run.json says count ${record.count}` +
        (record.status === "complete"
          ? " and status complete (data lost?)"
          : ` (status ${record.status ?? "unknown"})`),
    );
  }
  return {
    dir,
    record,
    instances: withRunColumns(
      withMissingColumns(
        inst.table,
        options.columns
          ? INSTANCE_COLUMNS.filter((c) => options.columns!.includes(c.name))
          : INSTANCE_COLUMNS,
      ),
      record,
    ),
    memory: withRunColumns(
      withMissingColumns(mem.table, MEMORY_COLUMNS),
      record,
    ),
    formats: { instances: inst.format, memory: mem.format },
    warnings,
  };
}

/**
 * Every folder at or below `dir` that holds a run.json, sorted by path.
 * Does not descend into a run folder.
 *
 * @example
 * ```ts
 * import { simulateStorm, writeRunFolder } from "../dataset/synthetic_run.ts";
 * const dir = await Deno.makeTempDir();
 * const fixture = simulateStorm({
 *   runId: "r1", image: "minkernel", cls: "baseline", n: 4,
 *   baseMs: 100, perConcurrentMs: 5, rssKib: 45_000,
 * });
 * const runDir = await writeRunFolder(dir, fixture);
 * await findRunDirs(dir); // [runDir]
 * ```
 */
export async function findRunDirs(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(d)) entries.push(e);
    if (entries.some((e) => e.isFile && e.name === "run.json")) {
      found.push(d);
      return;
    }
    for (const e of entries.filter((e) => e.isDirectory)) {
      await walk(join(d, e.name));
    }
  };
  await walk(dir);
  return found.sort();
}

/**
 * Load every run folder below a sweep folder (one with sweep.json and run
 * folders inside; any folder with run folders below works) and stack their
 * tables. With a sweep.json, only the cells' current runs are loaded (not
 * the probes, not the runs a resumed cell superseded) unless `allRuns`.
 * Throws {@link DatasetError} when no run is found, or when sweep.json
 * names a run folder that is missing.
 *
 * @example
 * ```ts
 * import { simulateStorm, writeRunFolder } from "../dataset/synthetic_run.ts";
 * const dir = await Deno.makeTempDir();
 * const fixture = simulateStorm({
 *   runId: "r1", image: "minkernel", cls: "baseline", n: 4,
 *   baseMs: 100, perConcurrentMs: 5, rssKib: 45_000,
 * });
 * const runDir = await writeRunFolder(dir, fixture);
 * const { runs, instances } = await loadSweep(dir);
 * instances.numRows(); // 4
 * ```
 */
export async function loadSweep(
  dir: string,
  options: LoadOptions = {},
): Promise<RunSet> {
  let dirs: string[];
  try {
    dirs = await findRunDirs(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DatasetError(
        dir,
        "no such folder",
        "Check the path; sweeps are written to data/sweeps/<sweep-id>/.",
      );
    }
    throw e;
  }
  if (dirs.length === 0) {
    throw new DatasetError(
      dir,
      "no run folder (a folder holding run.json) below it",
      "Point to a run folder or a sweep folder written by the launcher.",
    );
  }
  let sweep: Record<string, unknown> | null = null;
  const sweepText = await readIfExists(join(dir, "sweep.json"));
  if (sweepText) {
    try {
      sweep = JSON.parse(new TextDecoder().decode(sweepText));
    } catch (e) {
      throw new DatasetError(
        join(dir, "sweep.json"),
        `it is not valid JSON (${(e as Error).message})`,
        "Restore it from the launcher's output, or delete it (the runs load without it).",
      );
    }
  }
  if (sweep && Array.isArray(sweep.cells) && !options.allRuns) {
    dirs = await currentRunDirs(dir, sweep.cells as Record<string, unknown>[]);
    if (dirs.length === 0) {
      throw new DatasetError(
        join(dir, "sweep.json"),
        "no cell of the sweep has a run yet",
        "Run or resume the sweep (deno task sweep --resume <dir>), or load with { allRuns: true } to read its probes and superseded runs.",
      );
    }
  }
  const runs: Run[] = [];
  for (const d of dirs) runs.push(await loadRun(d, options));
  return {
    sweep,
    runs,
    instances: concatTables(runs.map((r) => r.instances)),
    memory: concatTables(runs.map((r) => r.memory)),
  };
}

/**
 * The current run folder of every cell of a sweep (sweep.json `run_dir`; a
 * sweep folder that was moved is found by the run folder's name under
 * `<dir>/runs/`), sorted by path.
 */
async function currentRunDirs(
  dir: string,
  cells: readonly Record<string, unknown>[],
): Promise<string[]> {
  const out: string[] = [];
  for (const c of cells) {
    if (typeof c.run_dir !== "string" || c.run_dir === "") continue;
    const candidates = [
      c.run_dir,
      join(dir, "runs", basename(c.run_dir)),
    ];
    let found: string | null = null;
    for (const cand of candidates) {
      if (await readIfExists(join(cand, "run.json"))) {
        found = cand;
        break;
      }
    }
    if (!found) {
      throw new DatasetError(
        join(dir, "sweep.json"),
        `cell ${String(c.id)} names run folder ${c.run_dir}, which is missing`,
        "Restore that folder, or resume the sweep (deno task sweep --resume <dir>) to run the cell again.",
      );
    }
    out.push(resolve(found));
  }
  return [...new Set(out)].sort();
}

/**
 * Load a run folder or a sweep folder (whatever `path` is) as a
 * {@link RunSet}.
 *
 * @example
 * ```ts
 * import { simulateStorm, writeRunFolder } from "../dataset/synthetic_run.ts";
 * const dir = await Deno.makeTempDir();
 * const fixture = simulateStorm({
 *   runId: "r1", image: "minkernel", cls: "baseline", n: 4,
 *   baseMs: 100, perConcurrentMs: 5, rssKib: 45_000,
 * });
 * const runDir = await writeRunFolder(dir, fixture);
 * const set = await loadRuns(dir);
 * ```
 */
export async function loadRuns(
  path: string,
  options: LoadOptions = {},
): Promise<RunSet> {
  if (await readIfExists(join(path, "run.json"))) {
    const run = await loadRun(path, options);
    return {
      sweep: null,
      runs: [run],
      instances: run.instances,
      memory: run.memory,
    };
  }
  return loadSweep(path, options);
}
