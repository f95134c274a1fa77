/**
 * The table function `bootstorm_scan(dirs, stem)`: run folders' Arrow IPC
 * streams (`instances.arrow` or `memory.arrow`) read by DuckDB without any
 * DuckDB extension (DuckDB's Arrow reader is an extension that would have to
 * be downloaded). Each run's file is decoded in JS with flechette (checked
 * like the analysis loader does: truncation, schema, nulls) and its column
 * buffers are copied into DuckDB's vectors in bulk (`copy_data_to_vector`):
 * numbers as they are, short strings as inlined `string_t`, long ones
 * through the C API. One run is held at a time, so a scan over more runs
 * than fit in memory streams.
 *
 * Columns: every column any of the runs' files has (in first-seen order,
 * one DuckDB type per column, see {@link unifyKinds}; a run lacking one
 * gives nulls), then `run_id`, `host`, `image` and `count_n` from run.json.
 *
 * `on_error := 'skip'` (export) leaves out a run whose files cannot be read
 * and records why in {@link scanReport}; otherwise the query fails with the
 * file named.
 *
 * @module
 */

import { type Column, tableFromIPC } from "@uwdata/flechette";
import { join } from "node:path";
import {
  columnsOfVersion,
  DatasetError,
  fromArrowDataset,
  fromRunJson,
  imageName,
  type ReadRunRecord as RunRecord,
} from "../analysis/load.ts";
import {
  type ColumnSpec,
  INSTANCE_COLUMNS,
  MEMORY_COLUMNS,
} from "../dataset/schema.ts";
import {
  byteWidth,
  copyBits,
  type DuckType,
  duckTypeOfSpec,
  type FieldKind,
  fieldKind,
  inlineStrings,
  sameLayout,
  setBits,
  unifyKinds,
} from "./arrow_columns.ts";
import type { Connection, DuckDB } from "./duckdb.ts";

/** Which table of a run. */
export type Stem = "instances" | "memory";

/** The columns added to every row from run.json. */
export const RUN_COLUMNS: readonly { name: string; type: DuckType }[] = [
  { name: "run_id", type: "VARCHAR" },
  { name: "host", type: "VARCHAR" },
  { name: "image", type: "VARCHAR" },
  { name: "count_n", type: "INTEGER" },
];

/** A run that a scan left out, and why. */
export interface SkippedRun {
  /** The run folder. */
  dir: string;
  /** The file at fault. */
  file: string;
  /** The problem and the fix. */
  message: string;
}

const reports = new Map<string, SkippedRun[]>();
const warnings = new Map<string, string[]>();

/**
 * The runs left out by scans that were given `report := id` (and
 * `on_error := 'skip'`), in order.
 *
 * @example
 * ```ts
 * import { openDuckDB } from "./duckdb.ts";
 * import { clearScanReport, registerArrowScan, scanReport } from "./arrow_scan.ts";
 * const db = await openDuckDB();
 * registerArrowScan(db.duck, db.connection);
 * await db.connection.run("select count(*) from bootstorm_scan(['no/such/run'], 'instances', on_error := 'skip', report := 'x')");
 * console.log(scanReport("x")[0].file); // "no/such/run/run.json"
 * clearScanReport("x");
 * db.close();
 * ```
 */
export function scanReport(id: string): SkippedRun[] {
  return reports.get(id) ?? [];
}

/**
 * Non-fatal findings (salvaged batches, no end-of-stream marker) of scans
 * given `report := id`.
 *
 * @example
 * ```ts
 * import { scanWarnings } from "./arrow_scan.ts";
 * for (const w of scanWarnings("x")) console.error(`warning: ${w}`); // none: no scan reported to "x"
 * ```
 */
export function scanWarnings(id: string): string[] {
  return [...new Set(warnings.get(id) ?? [])];
}

/**
 * Forget a report.
 *
 * @example
 * ```ts
 * import { clearScanReport, scanReport } from "./arrow_scan.ts";
 * clearScanReport("x");
 * console.log(scanReport("x")); // []
 * ```
 */
export function clearScanReport(id: string): void {
  reports.delete(id);
  warnings.delete(id);
}

/**
 * The analysis loader's advice, fitted to the warehouse: it reads Arrow
 * files only (not the CSV beside them) and salvages with `--salvage`.
 */
function warehouseAdvice(e: unknown): unknown {
  if (!(e instanceof DatasetError)) return e;
  const message = e.message
    .replace(
      ", or delete the .arrow file to read the .csv beside it",
      "",
    )
    .replace(
      "load with { salvage: true } (--salvage)",
      "export or query with --salvage ({ salvage: true })",
    );
  const out = new DatasetError(e.file, "", "");
  out.message = message;
  return out;
}

function specsOf(stem: Stem): readonly ColumnSpec[] {
  return stem === "instances" ? INSTANCE_COLUMNS : MEMORY_COLUMNS;
}

/**
 * Read a whole file synchronously in 16 MiB pieces (faster than
 * readFileSync for big files).
 *
 * @example
 * ```ts
 * import { readFileFast } from "./arrow_scan.ts";
 * const file = await Deno.makeTempFile();
 * await Deno.writeFile(file, new Uint8Array(100_000).fill(7));
 * console.log(readFileFast(file).length); // 100000
 * await Deno.remove(file);
 * ```
 */
export function readFileFast(path: string): Uint8Array {
  const f = Deno.openSync(path);
  try {
    const size = f.statSync().size;
    const buf = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = f.readSync(buf.subarray(off, Math.min(size, off + (1 << 24))));
      if (n === null) break;
      off += n;
    }
    return off === size ? buf : buf.subarray(0, off);
  } finally {
    f.close();
  }
}

/**
 * Read run.json of a run folder (checked by fromRunJson); throws
 * DatasetError naming the file.
 *
 * @example
 * ```ts
 * import { readRunRecord } from "./arrow_scan.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/run.json`, JSON.stringify({ schema_version: 3, run_id: "r1", count: 4 }));
 * console.log(readRunRecord(dir).run_id); // "r1"
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function readRunRecord(dir: string): RunRecord {
  const file = join(dir, "run.json");
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    throw new DatasetError(
      file,
      e instanceof Deno.errors.NotFound
        ? "run.json is missing"
        : `it cannot be read (${(e as Error).message})`,
      "Point to run folders written by deno task sweep (each holds run.json).",
    );
  }
  return fromRunJson(text, { file });
}

/**
 * The fields of an Arrow IPC stream, from its schema message only (the
 * first bytes of the file); throws DatasetError naming the file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tableFromArrays, tableToIPC } from "@uwdata/flechette";
 * import { readArrowFields } from "./arrow_scan.ts";
 * const file = await Deno.makeTempFile({ suffix: ".arrow" });
 * const table = tableFromArrays({ instance: new Int32Array([0, 1]), boot_ms: new Float64Array([12.5, 13]) });
 * await Deno.writeFile(file, tableToIPC(table, { format: "stream" })!);
 * assert.deepEqual(readArrowFields(file), [
 *   { name: "instance", kind: { kind: "int", bits: 32, signed: true } },
 *   { name: "boot_ms", kind: { kind: "float", bits: 64 } },
 * ]);
 * await Deno.remove(file);
 * ```
 */
export function readArrowFields(
  path: string,
): { name: string; kind: FieldKind }[] {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path);
  } catch (e) {
    throw new DatasetError(
      path,
      e instanceof Deno.errors.NotFound
        ? "the file does not exist"
        : `it cannot be opened (${(e as Error).message})`,
      "Re-run the measurement; the warehouse reads the Arrow files of a run (instances.arrow, memory.arrow).",
    );
  }
  let head: Uint8Array;
  try {
    const size = f.statSync().size;
    const want = Math.min(size, 1 << 16);
    head = new Uint8Array(want);
    let off = 0;
    while (off < want) {
      const n = f.readSync(head.subarray(off));
      if (n === null) break;
      off += n;
    }
    head = head.subarray(0, off);
  } finally {
    f.close();
  }
  const fix =
    "Re-run the measurement, or move the run folder out of the folder being read.";
  if (head.byteLength < 8) {
    throw new DatasetError(
      path,
      `the file has ${head.byteLength} bytes, too few for an Arrow schema`,
      fix,
    );
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let start = 4;
  let metaLen = view.getInt32(0, true);
  if (metaLen === -1) {
    metaLen = view.getInt32(4, true);
    start = 8;
  }
  if (metaLen <= 0 || start + metaLen > head.byteLength) {
    throw new DatasetError(
      path,
      `it does not start with an Arrow IPC schema message (metadata length ${metaLen})`,
      fix,
    );
  }
  try {
    const t = tableFromIPC(head.subarray(0, start + metaLen));
    return t.schema.fields.map((fl) => ({
      name: fl.name,
      kind: fieldKind(fl.type as { typeId: number }),
    }));
  } catch (e) {
    throw new DatasetError(
      path,
      `its Arrow schema cannot be decoded (${(e as Error).message})`,
      fix,
    );
  }
}

/** One output column of a scan. */
interface BoundColumn {
  name: string;
  type: DuckType;
  /** Index among RUN_COLUMNS, or -1 for a file column. */
  run: number;
}

interface BoundRun {
  dir: string;
  record: RunRecord;
  file: string;
}

interface BindData {
  runs: BoundRun[];
  columns: BoundColumn[];
  stem: Stem;
  check: Stem[];
  skip: boolean;
  salvage: boolean;
  report: string | null;
}

interface OpenRun {
  run: BoundRun;
  rows: number;
  /** Per output column: the file's column, or null when the file lacks it. */
  cols: (Column<unknown> | null)[];
  kinds: (FieldKind | null)[];
  /** Start row of each record batch. */
  batchStarts: number[];
  pos: number;
  /** Constant DuckDB values of the run columns. */
  constants: unknown[];
}

interface InitData {
  next: number;
  current: OpenRun | null;
  /** Output column index → bound column. */
  projection: number[];
}

/**
 * Decode and check one run's file of `stem` (and of every stem in `check`)
 * as the analysis loader would; throws {@link DatasetError}.
 */
function openRunFile(
  run: BoundRun,
  stem: Stem,
  check: readonly Stem[],
  salvage: boolean,
  found: string[],
): { names: string[]; cols: Column<unknown>[] } {
  const v = run.record.schema_version;
  let result: { names: string[]; cols: Column<unknown>[] } | null = null;
  for (const s of new Set([stem, ...check])) {
    const file = join(run.dir, `${s}.arrow`);
    let bytes: Uint8Array;
    try {
      bytes = readFileFast(file);
    } catch (e) {
      throw new DatasetError(
        file,
        e instanceof Deno.errors.NotFound
          ? "the file does not exist"
          : `it cannot be read (${(e as Error).message})`,
        "Re-run the measurement; the warehouse reads the Arrow files of a run.",
      );
    }
    const table = fromArrowDataset(bytes, columnsOfVersion(specsOf(s), v), {
      file,
      version: v,
      salvage,
      warnings: found,
    });
    if (s === stem) {
      const names = table.columnNames();
      result = {
        names,
        cols: names.map((n) => table.column(n) as unknown as Column<unknown>),
      };
    }
  }
  return result!;
}

function duckType(api: DuckDB["api"], t: DuckType) {
  return api[t];
}

/**
 * Register `bootstorm_scan(dirs VARCHAR[], stem VARCHAR)` on a connection
 * (named parameters: `on_error := 'skip'`, `report := '<id>'`,
 * `salvage := true` to keep the complete batches of a truncated file,
 * `also_check := ['memory']` to also check other files of each run).
 *
 * @example
 * ```ts
 * import { openDuckDB } from "./duckdb.ts";
 * import { registerArrowScan } from "./arrow_scan.ts";
 * const db = await openDuckDB();
 * registerArrowScan(db.duck, db.connection);
 * // No run folders: no rows, but the columns of the dataset schema, then run_id, host, image, count_n.
 * const r = await db.connection.runAndReadAll("select * from bootstorm_scan([]::VARCHAR[], 'instances')");
 * console.log(r.currentRowCount, r.columnNames().slice(-4)); // 0 ["run_id", "host", "image", "count_n"]
 * db.close();
 * ```
 */
export function registerArrowScan(duck: DuckDB, connection: Connection): void {
  const { api, bindings: b } = duck;
  const VS = b.vector_size();
  const enc = new TextEncoder();
  const scratch = new Uint8Array(VS * 16);
  const validity = new Uint8Array(((VS + 63) >> 6) << 3);

  const fn = api.DuckDBTableFunction.create({
    name: "bootstorm_scan",
    parameterTypes: [api.LIST(api.VARCHAR), api.VARCHAR],
    namedParameterTypes: {
      on_error: api.VARCHAR,
      report: api.VARCHAR,
      salvage: api.BOOLEAN,
      also_check: api.LIST(api.VARCHAR),
    },
    supportsProjectionPushdown: true,
    bindFunction: (info) => {
      const dirs =
        (info.getParameter(0) as { items: string[] } | null)?.items ??
          [];
      const stem = String(info.getParameter(1)) as Stem;
      if (stem !== "instances" && stem !== "memory") {
        info.setError(
          `bootstorm_scan: stem must be 'instances' or 'memory', not '${stem}'`,
        );
        return;
      }
      const onError = info.getNamedParameter("on_error");
      const skip = onError !== null && String(onError) === "skip";
      const reportParam = info.getNamedParameter("report");
      const report = reportParam === null ? null : String(reportParam);
      const salvage = info.getNamedParameter("salvage") === true;
      const checkParam = info.getNamedParameter("also_check") as
        | { items: string[] }
        | null;
      const check = (checkParam?.items ?? []) as Stem[];
      const specs = specsOf(stem);
      const runs: BoundRun[] = [];
      const seen = new Map<string, FieldKind[]>();
      for (const dir of dirs) {
        const file = join(dir, `${stem}.arrow`);
        try {
          const record = readRunRecord(dir);
          const fields = readArrowFields(file);
          for (const f of fields) {
            const list = seen.get(f.name) ?? [];
            list.push(f.kind);
            seen.set(f.name, list);
          }
          runs.push({ dir, record, file });
        } catch (e) {
          if (!skip) {
            info.setError((warehouseAdvice(e) as Error).message);
            return;
          }
          record(report, dir, warehouseAdvice(e));
        }
      }
      const columns: BoundColumn[] = [];
      const names = new Set<string>();
      for (const [name, kinds] of seen) {
        const spec = specs.find((s) => s.name === name);
        columns.push({
          name,
          type: unifyKinds(kinds, spec ? duckTypeOfSpec(spec.type) : "VARCHAR"),
          run: -1,
        });
        names.add(name);
      }
      // Columns of the schema no file has (e.g. no run at all): keep the schema's shape.
      if (!runs.length) {
        for (const s of specs) {
          if (!names.has(s.name)) {
            columns.push({
              name: s.name,
              type: duckTypeOfSpec(s.type),
              run: -1,
            });
          }
        }
      }
      RUN_COLUMNS.forEach((c, i) => {
        if (names.has(c.name)) return; // a file column of that name wins
        columns.push({ name: c.name, type: c.type, run: i });
      });
      for (const c of columns) {
        info.addResultColumn(c.name, duckType(api, c.type));
      }
      const data: BindData = {
        runs,
        columns,
        stem,
        check,
        skip,
        salvage,
        report,
      };
      info.setBindData(data);
    },
    initFunction: (info) => {
      const bind = info.bindData as BindData;
      const projection = info.getColumnIndexes();
      const init: InitData = {
        next: 0,
        current: null,
        projection: projection.length
          ? projection
          : bind.columns.map((_, i) => i),
      };
      info.setInitData(init);
      // The chunks are filled on the one JS thread; a second DuckDB thread
      // lets DuckDB work on one chunk (aggregate, encode Parquet) while JS
      // fills the next: about 2× faster on 2 cores than one thread.
      info.setMaxThreads(2);
    },
    mainFunction: (info, out) => {
      const bind = info.bindData as BindData;
      const init = info.initData as InitData;
      // Find a run with rows left.
      while (!init.current || init.current.pos >= init.current.rows) {
        if (init.next >= bind.runs.length) {
          out.rowCount = 0;
          return;
        }
        const run = bind.runs[init.next++];
        try {
          init.current = open(run, bind);
        } catch (e) {
          if (!bind.skip) throw warehouseAdvice(e);
          record(bind.report, run.dir, warehouseAdvice(e));
          init.current = null;
        }
      }
      const cur = init.current;
      const n = Math.min(VS, cur.rows - cur.pos);
      out.rowCount = n;
      const chunk = out.chunk;
      // The output chunk holds the projected columns, in projection order.
      const width = b.data_chunk_get_column_count(chunk);
      for (let outIndex = 0; outIndex < width; outIndex++) {
        const colIndex = init.projection[outIndex] ?? outIndex;
        const vec = b.data_chunk_get_vector(chunk, outIndex);
        const col = bind.columns[colIndex];
        if (col.run >= 0) {
          b.vector_reference_value(vec, cur.constants[col.run] as never);
          continue;
        }
        fillColumn(
          vec,
          col.type,
          cur.cols[colIndex],
          cur.kinds[colIndex],
          cur,
          n,
        );
      }
      cur.pos += n;
    },
  });
  connection.registerTableFunction(fn);

  function open(run: BoundRun, bind: BindData): OpenRun {
    const found: string[] = [];
    const { names, cols } = openRunFile(
      run,
      bind.stem,
      bind.check,
      bind.salvage,
      found,
    );
    if (bind.report !== null && found.length) {
      const list = warnings.get(bind.report) ?? [];
      list.push(...found);
      warnings.set(bind.report, list);
    }
    const byName = new Map(names.map((n, i) => [n, cols[i]]));
    const outCols = bind.columns.map((c) =>
      c.run >= 0 ? null : byName.get(c.name) ?? null
    );
    const any = outCols.find((c) => c !== null) ?? cols[0];
    const rows = any ? any.length : 0;
    const batchStarts: number[] = [];
    let s = 0;
    for (const batch of any?.data ?? []) {
      batchStarts.push(s);
      s += batch.length;
    }
    const rec = run.record;
    const host = rec.host?.hostname;
    return {
      run,
      rows,
      cols: outCols,
      kinds: outCols.map((c) =>
        c ? fieldKind(c.type as unknown as { typeId: number }) : null
      ),
      batchStarts,
      pos: 0,
      constants: [
        b.create_varchar(rec.run_id),
        host ? b.create_varchar(String(host)) : b.create_null_value(),
        b.create_varchar(imageName(rec)),
        b.create_int32(rec.count),
      ],
    };
  }

  /** Fill one output vector with rows [cur.pos, cur.pos + n) of a file column. */
  function fillColumn(
    vec: ReturnType<typeof b.data_chunk_get_vector>,
    type: DuckType,
    col: Column<unknown> | null,
    kind: FieldKind | null,
    cur: OpenRun,
    n: number,
  ) {
    const words = ((n + 63) >> 6) << 3;
    validity.fill(0, 0, words);
    b.vector_ensure_validity_writable(vec);
    if (!col || !kind || kind.kind === "null") {
      b.copy_data_to_vector_validity(vec, 0, validity.buffer, 0, words);
      return;
    }
    const w = byteWidth(type);
    const direct = sameLayout(kind, type);
    if (!direct) scratch.fill(0, 0, n * w);
    const long: { row: number; bytes: Uint8Array }[] = [];
    // Walk the record batches that overlap [pos, pos + n).
    let bi = upperBound(cur.batchStarts, cur.pos) - 1;
    let at = 0;
    while (at < n) {
      const batch = col.data[bi] as unknown as Batch;
      const bStart = cur.batchStarts[bi];
      const from = cur.pos + at - bStart;
      const len = Math.min(batch.length - from, n - at);
      if (batch.validity && batch.nullCount > 0) {
        copyBits(batch.validity, from, validity, at, len);
      } else setBits(validity, at, len);
      if (direct) {
        const v = batch.values as Uint8Array;
        b.copy_data_to_vector(
          vec,
          at * w,
          v.buffer as ArrayBuffer,
          v.byteOffset + from * w,
          len * w,
        );
      } else if (type === "VARCHAR" && kind.kind === "utf8") {
        const valid = batch.validity && batch.nullCount > 0
          ? (r: number) => ((batch.validity![r >> 3] >> (r & 7)) & 1) === 1
          : () => true;
        for (
          const r of inlineStrings(
            batch.values as Uint8Array,
            batch.offsets!,
            from,
            from + len,
            scratch,
            at,
            valid,
          )
        ) {
          long.push({
            row: at + r - from,
            bytes: (batch.values as Uint8Array).subarray(
              Number(batch.offsets![r]),
              Number(batch.offsets![r + 1]),
            ),
          });
        }
      } else {
        convertInto(batch, from, len, type, at, long);
      }
      at += len;
      bi++;
    }
    if (!direct) b.copy_data_to_vector(vec, 0, scratch.buffer, 0, n * w);
    for (const l of long) {
      b.vector_assign_string_element_len(vec, l.row, l.bytes);
    }
    b.copy_data_to_vector_validity(vec, 0, validity.buffer, 0, words);
  }

  /** Value-by-value conversion into `scratch` (promotions, booleans, other Arrow types as text). */
  function convertInto(
    batch: Batch,
    from: number,
    len: number,
    type: DuckType,
    at: number,
    long: { row: number; bytes: Uint8Array }[],
  ) {
    const view = new DataView(scratch.buffer);
    const w = byteWidth(type);
    for (let i = 0; i < len; i++) {
      const x = batch.at(from + i);
      if (x === null || x === undefined) continue;
      const o = (at + i) * w;
      switch (type) {
        case "VARCHAR": {
          const s = typeof x === "string"
            ? x
            : typeof x === "bigint" || typeof x === "number" ||
                typeof x === "boolean"
            ? String(x)
            : JSON.stringify(
              x,
              (_, v) => typeof v === "bigint" ? Number(v) : v,
            );
          const bytes = enc.encode(s);
          if (bytes.length <= 12) {
            view.setUint32(o, bytes.length, true);
            scratch.set(bytes, o + 4);
          } else long.push({ row: at + i, bytes });
          break;
        }
        case "BOOLEAN":
          scratch[o] = x ? 1 : 0;
          break;
        case "DOUBLE":
          view.setFloat64(o, Number(x), true);
          break;
        case "FLOAT":
          view.setFloat32(o, Number(x), true);
          break;
        case "BIGINT":
          view.setBigInt64(o, BigInt(x as number), true);
          break;
        case "UBIGINT":
          view.setBigUint64(o, BigInt(x as number), true);
          break;
        case "INTEGER":
          view.setInt32(o, Number(x), true);
          break;
        case "UINTEGER":
          view.setUint32(o, Number(x), true);
          break;
        case "SMALLINT":
          view.setInt16(o, Number(x), true);
          break;
        case "USMALLINT":
          view.setUint16(o, Number(x), true);
          break;
        case "TINYINT":
          view.setInt8(o, Number(x));
          break;
        case "UTINYINT":
          view.setUint8(o, Number(x));
          break;
      }
    }
  }
}

/** A flechette record batch of one column. */
interface Batch {
  length: number;
  nullCount: number;
  validity: Uint8Array | null;
  values: ArrayBufferView;
  offsets?: ArrayLike<number | bigint>;
  at(i: number): unknown;
}

/** First index whose value is > x (sorted ascending). */
function upperBound(xs: readonly number[], x: number): number {
  let lo = 0, hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function record(report: string | null, dir: string, e: unknown) {
  if (report === null) return;
  const list = reports.get(report) ?? [];
  list.push({
    dir,
    file: e instanceof DatasetError ? e.file : dir,
    message: (e as Error).message,
  });
  reports.set(report, list);
}
