/**
 * Parquet export of many runs: `instances.parquet`, `memory.parquet` and
 * `runs.parquet` in one folder, holding every run found below the sources,
 * with `run_id`, `host`, `image` and `count_n` on every row, every column
 * each run's Arrow file has (none hard-coded) and the dataset schema
 * version in the Parquet file metadata (`bootstorm_schema_version`).
 *
 * Idempotent and incremental: a run whose `run_id` is already in
 * `runs.parquet` is skipped; new runs are merged with the old files into
 * new ones that replace them (renamed into place, `runs.parquet` last, so
 * an interrupted export leaves the previous export intact). A run whose
 * files cannot be read is named in the report and left out; the others are
 * exported.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  DatasetError,
  findRunDirs,
  type ReadRunRecord as RunRecord,
} from "../analysis/load.ts";
import {
  clearScanReport,
  readRunRecord,
  registerArrowScan,
  scanReport,
  scanWarnings,
  type SkippedRun,
} from "./arrow_scan.ts";
import { type DuckDBDatabase, openDuckDB, WarehouseError } from "./duckdb.ts";
import { fromDuckDBError } from "./query_error.ts";
import { flattenRecord, literal, literalList } from "./run_columns.ts";
import { createRunsTable } from "./runs_table.ts";

/** The three tables of an export. */
export const EXPORT_TABLES = ["instances", "memory", "runs"] as const;
/** One of {@link EXPORT_TABLES}. */
export type ExportTable = typeof EXPORT_TABLES[number];

/** Options of {@link exportRuns}. */
export interface ExportOptions {
  /** DuckDB memory_limit, e.g. "4GB". */
  memoryLimit?: string;
  /** DuckDB threads. */
  threads?: number;
  /** Parquet compression (default zstd). */
  compression?: "zstd" | "snappy" | "gzip" | "uncompressed";
  /** Keep the complete record batches of a truncated Arrow file (with a warning) instead of leaving the run out. */
  salvage?: boolean;
  /** Progress messages. */
  onProgress?: (message: string) => void;
}

/** What an export did. */
export interface ExportReport {
  /** The export folder. */
  out: string;
  /** The Parquet files. */
  files: Record<ExportTable, string>;
  /** Runs added by this export. */
  exported: { run_id: string; dir: string }[];
  /** Runs already in the export (or a second folder with the same run_id). */
  skipped: { run_id: string; dir: string; reason: string }[];
  /** Runs left out because a file could not be read: the file and the message. */
  failed: SkippedRun[];
  /** Non-fatal findings: salvaged batches, a missing end-of-stream marker. */
  warnings: string[];
  /** Rows added by this export. */
  added: Record<ExportTable, number>;
  /** Rows in the files after the export. */
  total: Record<ExportTable, number>;
  /** Schema versions of the runs in the export. */
  schemaVersions: number[];
  /** Wall time, s. */
  seconds: number;
}

/**
 * Export every run below `sources` (run folders, sweep folders, folders of
 * either) into the Parquet files of `out`.
 *
 * @example
 * ```ts ignore
 * // needs run folders written by deno task sweep below data/sweeps
 * const r = await exportRuns(["data/sweeps"], "data/parquet");
 * console.log(`${r.exported.length} runs added, ${r.skipped.length} already there`);
 * ```
 */
export async function exportRuns(
  sources: string | readonly string[],
  out: string,
  options: ExportOptions = {},
): Promise<ExportReport> {
  const t0 = performance.now();
  const progress = options.onProgress ?? (() => {});
  out = resolve(out);
  const dirs = await findAllRuns(
    typeof sources === "string" ? [sources] : sources,
  );
  await Deno.mkdir(out, { recursive: true });
  const files = Object.fromEntries(
    EXPORT_TABLES.map((t) => [t, join(out, `${t}.parquet`)]),
  ) as Record<ExportTable, string>;
  const lock = join(out, ".export.lock");
  try {
    Deno.writeTextFileSync(lock, String(Deno.pid), { createNew: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    throw new WarehouseError(
      `Cannot export into ${out}: ${lock} exists, another export is writing there. ` +
        "Wait for it, or delete the lock file if that export was killed.",
    );
  }
  const db = await openDuckDB({
    memoryLimit: options.memoryLimit,
    threads: options.threads,
  });
  const report: ExportReport = {
    out,
    files,
    exported: [],
    skipped: [],
    failed: [],
    warnings: [],
    added: { instances: 0, memory: 0, runs: 0 },
    total: { instances: 0, memory: 0, runs: 0 },
    schemaVersions: [],
    seconds: 0,
  };
  const staged: string[] = [];
  try {
    registerArrowScan(db.duck, db.connection);
    const con = db.connection;
    const have = existsSync(files.runs);
    const old = new Map<string, number>();
    if (have) {
      const r = await con.runAndReadAll(
        `select run_id, schema_version from read_parquet(${
          literal(files.runs)
        })`,
      );
      for (const [id, v] of r.getRowsJS()) old.set(String(id), Number(v));
    }
    // Which runs are new.
    const fresh: { dir: string; record: RunRecord }[] = [];
    const ids = new Map<string, string>();
    for (const dir of dirs) {
      let record: RunRecord;
      try {
        record = readRunRecord(dir);
      } catch (e) {
        report.failed.push(failure(dir, e));
        continue;
      }
      if (old.has(record.run_id)) {
        report.skipped.push({
          run_id: record.run_id,
          dir,
          reason: "already exported",
        });
      } else if (ids.has(record.run_id)) {
        report.skipped.push({
          run_id: record.run_id,
          dir,
          reason: `same run_id as ${ids.get(record.run_id)}`,
        });
      } else {
        ids.set(record.run_id, dir);
        fresh.push({ dir, record });
      }
    }
    progress(
      `export: ${fresh.length} new run(s), ${report.skipped.length} skipped, ${report.failed.length} unreadable → ${out}`,
    );
    if (fresh.length) {
      const stage = (t: ExportTable) => {
        const p = join(out, `.${t}.new-${Deno.pid}.parquet`);
        staged.push(p);
        return p;
      };
      const compression = options.compression ?? "zstd";
      const salvage = options.salvage ? "true" : "false";
      const copyOpts = `format parquet, compression ${compression}`;
      // The metadata, as it will be when no run fails (checked below).
      const planned = [
        ...new Set([
          ...old.values(),
          ...fresh.map((f) => f.record.schema_version),
        ]),
      ].sort((a, b) => a - b);
      const first = !have;
      const meta = (t: ExportTable, versions: number[], runs: number) =>
        `${copyOpts}, kv_metadata ${kvMetadata(t, versions, runs)}`;
      // 1. instances of the new runs; unreadable runs (either file) are left out and reported.
      const reportId = crypto.randomUUID();
      const newInst = stage("instances");
      await con.run(
        `copy (select * from bootstorm_scan(${
          literalList(fresh.map((f) => f.dir))
        }, 'instances', on_error := 'skip', report := ${
          literal(reportId)
        }, also_check := ['memory'], salvage := ${salvage})) to ${
          literal(newInst)
        } (${meta("instances", planned, fresh.length)})`,
      );
      const bad = scanReport(reportId);
      report.warnings.push(...scanWarnings(reportId));
      clearScanReport(reportId);
      report.failed.push(...bad);
      const badDirs = new Set(bad.map((b) => b.dir));
      const good = fresh.filter((f) => !badDirs.has(f.dir));
      if (good.length) {
        const versions = [
          ...new Set([
            ...old.values(),
            ...good.map((f) => f.record.schema_version),
          ]),
        ].sort((a, b) => a - b);
        report.schemaVersions = versions;
        const runCount = old.size + good.length;
        // First export and every run readable: the staged files are final.
        const direct = first && good.length === fresh.length;
        const opts = (t: ExportTable) =>
          direct ? meta(t, versions, runCount) : copyOpts;
        // 2. memory of the same runs.
        const newMem = stage("memory");
        await con.run(
          `copy (select * from bootstorm_scan(${
            literalList(good.map((f) => f.dir))
          }, 'memory', salvage := ${salvage})) to ${literal(newMem)} (${
            opts("memory")
          })`,
        );
        // 3. run records.
        const newRuns = stage("runs");
        const select = await createRunsTable(
          con,
          "new_runs",
          good.map((f) => flattenRecord(f.record, f.dir)),
        );
        await con.run(
          `copy (${select}) to ${literal(newRuns)} (${opts("runs")})`,
        );
        // 4. otherwise merge with the previous export and write the metadata.
        const newFiles = { instances: newInst, memory: newMem, runs: newRuns };
        const finals: [string, string][] = [];
        for (const t of EXPORT_TABLES) {
          if (direct) {
            finals.push([newFiles[t], files[t]]);
            continue;
          }
          const tmp = stage(t).replace(".new-", ".merged-");
          staged.push(tmp);
          const fresh = `select * from read_parquet(${literal(newFiles[t])})`;
          const source = have && existsSync(files[t])
            ? `select * from read_parquet(${
              literal(files[t])
            }, union_by_name = true) where run_id in (select run_id from read_parquet(${
              literal(files.runs)
            })) union all by name ${fresh}`
            : fresh;
          await con.run(
            `copy (${source}) to ${literal(tmp)} (${
              meta(t, versions, runCount)
            })`,
          );
          finals.push([tmp, files[t]]);
        }
        for (const t of EXPORT_TABLES) {
          report.added[t] = await count(db, newFiles[t]);
        }
        progress("export: renaming the new files into place");
        for (const [tmp, dest] of finals) Deno.renameSync(tmp, dest);
        report.exported = good.map((f) => ({
          run_id: f.record.run_id,
          dir: f.dir,
        }));
      }
    }
    if (!report.schemaVersions.length) {
      report.schemaVersions = [...new Set(old.values())].sort((a, b) => a - b);
    }
    for (const t of EXPORT_TABLES) {
      report.total[t] = existsSync(files[t]) ? await count(db, files[t]) : 0;
    }
  } catch (e) {
    throw readable(e);
  } finally {
    db.close();
    for (const p of staged) {
      try {
        Deno.removeSync(p);
      } catch { /* renamed or never written */ }
    }
    try {
      Deno.removeSync(lock);
    } catch { /* gone */ }
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

/**
 * The Parquet key/value metadata of one exported table, as a DuckDB
 * `KV_METADATA` struct literal.
 *
 * @example
 * ```ts
 * import { kvMetadata } from "./export.ts";
 * const kv = kvMetadata("instances", [1, 2], 10);
 * console.log(kv.includes("bootstorm_schema_version: '2'"), kv.includes("bootstorm_runs: '10'")); // true true
 * ```
 */
export function kvMetadata(
  table: ExportTable,
  versions: readonly number[],
  runs: number,
): string {
  const kv: Record<string, string> = {
    bootstorm_schema_version: String(Math.max(0, ...versions)),
    bootstorm_schema_versions: versions.join(","),
    bootstorm_table: table,
    bootstorm_runs: String(runs),
    bootstorm_exported_at: new Date().toISOString(),
    bootstorm_units:
      "times in ms after T_0 (columns *_ms), memory in KiB (*_kib); see docs/dataset.md",
  };
  return `{${
    Object.entries(kv).map(([k, v]) => `${k}: ${literal(v)}`).join(", ")
  }}`;
}

/** A DuckDB error (JSON form) as a WarehouseError with DuckDB's own message; others as they are. */
function readable(e: unknown): unknown {
  const msg = (e as Error)?.message ?? "";
  if (!msg.includes('"exception_type"')) return e;
  return new WarehouseError(
    `Cannot export: ${fromDuckDBError(msg, "", "").problem}`,
  );
}

async function count(db: DuckDBDatabase, file: string): Promise<number> {
  const r = await db.connection.runAndReadAll(
    `select count(*) from read_parquet(${literal(file)})`,
  );
  return Number(r.getRowsJS()[0][0]);
}

function failure(dir: string, e: unknown): SkippedRun {
  return {
    dir,
    file: e instanceof DatasetError ? e.file : dir,
    message: (e as Error).message,
  };
}

/**
 * Every run folder below every source, absolute, sorted, once; throws
 * WarehouseError for a missing source or when there is no run.
 *
 * @example
 * ```ts
 * import { join } from "node:path";
 * import { findAllRuns } from "./export.ts";
 * const data = await Deno.realPath(await Deno.makeTempDir());
 * for (const run of ["sweep/r2", "sweep/r1", "r3"]) {
 *   await Deno.mkdir(join(data, run), { recursive: true });
 *   await Deno.writeTextFile(join(data, run, "run.json"), "{}");
 * }
 * const runs = await findAllRuns([join(data, "sweep"), data]); // r1 and r2 are found twice, listed once
 * console.log(runs.map((d) => d.slice(data.length + 1))); // ["r3", "sweep/r1", "sweep/r2"]
 * await Deno.remove(data, { recursive: true });
 * ```
 */
export async function findAllRuns(
  sources: readonly string[],
): Promise<string[]> {
  const all = new Set<string>();
  for (const s of sources) {
    let found: string[];
    try {
      found = await findRunDirs(resolve(s));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new WarehouseError(
          `Cannot read "${s}": no such folder. Give a run folder, a sweep folder or a folder of runs (e.g. data/sweeps).`,
        );
      }
      throw e;
    }
    for (const d of found) all.add(d);
  }
  if (!all.size) {
    throw new WarehouseError(
      `No run folder (a folder holding run.json) below ${
        sources.join(", ")
      }. Point to runs written by deno task sweep (data/runs, data/sweeps).`,
    );
  }
  return [...all].sort();
}
