/**
 * Writes one run folder as the run goes: `instances.arrow` + `instances.csv`,
 * `memory.arrow` + `memory.csv` (appended batch by batch, so a crash loses
 * at most the rows not yet flushed) and `run.json` (written at the start with
 * `status: "partial"`, rewritten when the run is finalised).
 *
 * @module
 */
import { join } from "node:path";
import { ARROW_EOS, encodeBatch, encodeSchema } from "./arrow_codec.ts";
import { csvHeader, csvLines } from "./csv_codec.ts";
import { type ColumnSpec, INSTANCE_COLUMNS, MEMORY_COLUMNS } from "./schema.ts";

/** A dataset file could not be written; earlier rows are intact. */
export class DatasetWriteError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DatasetWriteError";
  }
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
      const why = (e as Error).message;
      const full = /No space left|ENOSPC|os error 28/i.test(why);
      throw new DatasetWriteError(
        `Cannot write ${join(this.dir, name)}: ${
          full ? "the disk is full" : why
        }. Rows written before (${this.rows} in ${this.base}) are intact; free space or pass --out on another disk`,
        { cause: e },
      );
    }
  }
  push(rows: readonly object[]): void {
    for (const r of rows) this.#pending.push(r as Record<string, unknown>);
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
  readonly instances: TableFiles;
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
    record: Record<string, unknown>,
    options: { instanceColumns?: readonly ColumnSpec[] } = {},
  ): DatasetWriter {
    Deno.mkdirSync(dir, { recursive: true });
    const w = new DatasetWriter(
      dir,
      options.instanceColumns ?? INSTANCE_COLUMNS,
    );
    w.writeRecord(record);
    return w;
  }

  /** Queue instance rows for the next flush. */
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
  writeRecord(record: Record<string, unknown>): void {
    const path = join(this.dir, "run.json");
    const tmp = path + ".tmp";
    try {
      Deno.writeTextFileSync(tmp, JSON.stringify(record, null, 2) + "\n");
      Deno.renameSync(tmp, path);
    } catch (e) {
      throw new DatasetWriteError(
        `Cannot write ${path}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  /** Flush, end both Arrow streams and write the final record. */
  finalise(record: Record<string, unknown>): void {
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
