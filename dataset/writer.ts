/**
 * Writes one run folder as the run goes: `instances.arrow` + `instances.csv`,
 * `memory.arrow` + `memory.csv` (appended batch by batch, so a crash loses
 * at most the rows not yet flushed) and `run.json` (written at the start with
 * `status: "partial"`, rewritten when the run is finalised).
 *
 * The writer enforces the dataset contract of launcher/schema.ts: a row
 * with a missing column, a null where the column can never be null, a value
 * of the wrong type or outside the column's closed set of values is refused
 * when it is pushed, before anything is written, so every file it writes
 * loads with the analysis.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { ARROW_EOS, encodeBatch, encodeSchema } from "./arrow_codec.ts";
import { csvHeader, csvLines } from "./csv_codec.ts";
import {
  type ColumnSpec,
  INSTANCE_COLUMNS,
  MEMORY_COLUMNS,
  rowProblem,
} from "./schema.ts";
import type { RunRecord } from "./run_record.ts";

/** A dataset file could not be written; earlier rows are intact. */
export class DatasetWriteError extends Error {
  /** An error with a message that names the file and the fix. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DatasetWriteError";
  }
}

/** Why a write failed, in a user's words ("the disk is full" for ENOSPC). */
function whyNot(e: unknown): string {
  const why = (e as Error).message;
  return /No space left|ENOSPC|os error 28/i.test(why)
    ? "the disk is full"
    : why;
}

class TableFiles {
  #arrow: Deno.FsFile;
  #csv: Deno.FsFile;
  #pending: Record<string, unknown>[] = [];
  rows = 0;
  constructor(
    readonly dir: string,
    readonly base: string,
    readonly columns: readonly ColumnSpec[],
  ) {
    this.#arrow = Deno.openSync(join(dir, `${base}.arrow`), {
      write: true,
      create: true,
      truncate: true,
    });
    this.#csv = Deno.openSync(join(dir, `${base}.csv`), {
      write: true,
      create: true,
      truncate: true,
    });
    this.#write(this.#arrow, `${base}.arrow`, encodeSchema(columns));
    this.#write(
      this.#csv,
      `${base}.csv`,
      new TextEncoder().encode(csvHeader(columns)),
    );
  }
  #write(f: Deno.FsFile, name: string, bytes: Uint8Array): void {
    const before = f.seekSync(0, Deno.SeekMode.Current);
    let off = 0;
    try {
      while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
    } catch (e) {
      // Cut a half-written batch back off, so the file still reads back.
      try {
        f.truncateSync(before);
        f.seekSync(before, Deno.SeekMode.Start);
      } catch {
        // nothing more to do
      }
      throw new DatasetWriteError(
        `Cannot write ${join(this.dir, name)}: ${
          whyNot(e)
        }. Rows written before (${this.rows} in ${this.base}) are intact; free space or pass --out on another disk`,
        { cause: e },
      );
    }
  }
  push(rows: readonly object[]): void {
    for (const r of rows) {
      const row = r as Record<string, unknown>;
      const problem = rowProblem(this.columns, row);
      if (problem !== null) {
        throw new DatasetWriteError(
          `Cannot write a row of ${
            join(this.dir, this.base)
          }.arrow: ${problem} (row ${
            JSON.stringify(row)
          }). This is a launcher bug: the row breaks the dataset contract of launcher/schema.ts; nothing of it was written`,
        );
      }
      this.#pending.push(row);
    }
  }
  flush(): void {
    if (this.#pending.length === 0) return;
    const rows = this.#pending;
    this.#pending = [];
    // CSV, then the Arrow batch; if the second fails, the first is cut back
    // so both files keep holding the same rows.
    const csvBefore = this.#csv.seekSync(0, Deno.SeekMode.Current);
    this.#write(
      this.#csv,
      `${this.base}.csv`,
      new TextEncoder().encode(csvLines(this.columns, rows)),
    );
    try {
      this.#write(
        this.#arrow,
        `${this.base}.arrow`,
        encodeBatch(this.columns, rows),
      );
    } catch (e) {
      this.#csv.truncateSync(csvBefore);
      this.#csv.seekSync(csvBefore, Deno.SeekMode.Start);
      throw e;
    }
    this.rows += rows.length;
  }
  close(): void {
    try {
      this.flush();
      this.#write(this.#arrow, `${this.base}.arrow`, ARROW_EOS);
    } finally {
      this.#arrow.close();
      this.#csv.close();
    }
  }
}

/**
 * Appendable writer for one run folder.
 *
 * @example
 * ```ts ignore
 * const w = DatasetWriter.create("data/runs/x", { schema_version: 1 });
 * w.pushInstances([row]);
 * w.flush();
 * w.finalise({ schema_version: 1, status: "complete" });
 * ```
 */
export class DatasetWriter {
  /** The instance table's files (Arrow + CSV). */
  readonly instances: TableFiles;
  /** The memory table's files (Arrow + CSV). */
  readonly memory: TableFiles;
  #closed = false;
  private constructor(
    readonly dir: string,
    instanceColumns: readonly ColumnSpec[],
  ) {
    this.instances = new TableFiles(dir, "instances", instanceColumns);
    this.memory = new TableFiles(dir, "memory", MEMORY_COLUMNS);
  }

  /** Create the folder, the empty tables and a first `run.json`. */
  static create(
    dir: string,
    record: RunRecord | Record<string, unknown>,
    options: { instanceColumns?: readonly ColumnSpec[] } = {},
  ): DatasetWriter {
    assertOutDir(dirname(resolve(dir)), "the run folder");
    try {
      Deno.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new DatasetWriteError(
        `Cannot create the run folder ${dir}: ${
          (e as Error).message
        }; pass --out a folder you can write`,
        { cause: e },
      );
    }
    const w = new DatasetWriter(
      dir,
      options.instanceColumns ?? INSTANCE_COLUMNS,
    );
    w.writeRecord(record);
    return w;
  }

  /** Queue instance rows for the next flush; throws {@link DatasetWriteError} for a row that breaks the contract. */
  pushInstances(rows: readonly object[]): void {
    this.instances.push(rows);
  }

  /** Queue memory rows for the next flush. */
  pushMemory(rows: readonly object[]): void {
    this.memory.push(rows);
  }

  /** Append everything queued to the CSV and Arrow files. */
  flush(): void {
    this.instances.flush();
    this.memory.flush();
  }

  /** (Re)write `run.json` atomically. */
  writeRecord(record: RunRecord | Record<string, unknown>): void {
    const path = join(this.dir, "run.json");
    const tmp = path + ".tmp";
    try {
      Deno.writeTextFileSync(tmp, JSON.stringify(record, null, 2) + "\n");
      Deno.renameSync(tmp, path);
    } catch (e) {
      try {
        Deno.removeSync(tmp); // a half-written record takes the space left
      } catch {
        // never made
      }
      throw new DatasetWriteError(
        `Cannot write ${path}: ${
          whyNot(e)
        }. Rows written before (${this.instances.rows} in instances, ${this.memory.rows} in memory) are intact, and so is the run.json before; free space or pass --out on another disk`,
        { cause: e },
      );
    }
  }

  /** Flush, end both Arrow streams and write the final record. */
  finalise(record: RunRecord | Record<string, unknown>): void {
    if (this.#closed) return;
    this.#closed = true;
    let err: unknown = null;
    for (const t of [this.instances, this.memory]) {
      try {
        t.close();
      } catch (e) {
        err ??= e;
      }
    }
    // A table that could not be completed makes the run partial.
    this.writeRecord(
      err
        ? { ...record, status: "partial", error: (err as Error).message }
        : record,
    );
    if (err) throw err;
  }
}

/**
 * Check that `dir` can hold output folders: it is a folder, or does not
 * exist yet and its nearest existing ancestor is a folder. Throws
 * {@link DatasetWriteError} naming the path that is in the way.
 *
 * @example
 * ```ts
 * import { assertOutDir } from "./writer.ts";
 * try {
 *   assertOutDir("/etc/passwd");
 * } catch (e) {
 *   console.log((e as Error).message.startsWith("Cannot write")); // true
 * }
 * ```
 */
export function assertOutDir(dir: string, what = "output folders"): void {
  let p = resolve(dir);
  for (;;) {
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(p);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound && dirname(p) !== p) {
        p = dirname(p);
        continue;
      }
      throw new DatasetWriteError(
        `Cannot write ${what} under ${dir}: ${
          (e as Error).message
        }; pass --out a folder you can write`,
        { cause: e },
      );
    }
    if (st.isDirectory) return;
    throw new DatasetWriteError(
      `Cannot write ${what} under ${dir}: ${
        p === resolve(dir) ? "it" : p
      } is a file, not a folder; pass --out a folder (it is created when missing)`,
    );
  }
}
