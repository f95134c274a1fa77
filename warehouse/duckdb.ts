/**
 * Loading DuckDB, on purpose and only here: `@duckdb/node-api` (native
 * binaries shipped in npm packages) is imported with a dynamic `import()`,
 * so measuring, analysing one sweep, drawing figures and running the
 * notebooks never load it. Only `query`, `export` and functions given a
 * DuckDB-backed source call {@link loadDuckDB}.
 *
 * @module
 */

/** The `@duckdb/node-api` module. */
export type DuckDBApi = typeof import("@duckdb/node-api");
/** The `@duckdb/node-bindings` module (raw C API: bulk copies into vectors). */
export type DuckDBBindings = typeof import("@duckdb/node-bindings");
/** An open DuckDB connection. */
export type Connection = import("@duckdb/node-api").DuckDBConnection;
/** A DuckDB database instance. */
export type Instance = import("@duckdb/node-api").DuckDBInstance;

/** A problem of the warehouse (export, query); the message names it and the fix. */
export class WarehouseError extends Error {
  /** An error whose message names the problem and the fix. */
  constructor(message: string) {
    super(message);
    this.name = "WarehouseError";
  }
}

/** Both DuckDB modules, loaded. */
export interface DuckDB {
  /** `@duckdb/node-api`: instances, connections, types, table functions. */
  api: DuckDBApi;
  /** `@duckdb/node-bindings`: the raw C API (vector copies). */
  bindings: DuckDBBindings;
}

let loaded: Promise<DuckDB> | null = null;

/**
 * Import `@duckdb/node-api` and its bindings (once per process). Throws
 * {@link WarehouseError} saying why when the native library cannot load
 * (no `--allow-ffi`, a platform without a prebuilt binary, a broken cache).
 *
 * @example
 * ```ts
 * import { loadDuckDB } from "./duckdb.ts";
 * const { api } = await loadDuckDB();
 * const instance = await api.DuckDBInstance.create(":memory:");
 * const connection = await instance.connect();
 * const r = await connection.runAndReadAll("select 6 * 7 as x");
 * console.log(r.getRowObjectsJS()); // [{ x: 42 }]
 * connection.closeSync();
 * instance.closeSync();
 * ```
 */
export function loadDuckDB(): Promise<DuckDB> {
  loaded ??= (async () => {
    try {
      const [api, bindings] = await Promise.all([
        import("@duckdb/node-api"),
        import("@duckdb/node-bindings"),
      ]);
      return {
        api,
        bindings: ((bindings as { default?: DuckDBBindings }).default ??
          bindings) as DuckDBBindings,
      };
    } catch (e) {
      loaded = null;
      const msg = (e as Error).message;
      const fix = /ffi|permission|NotCapable/i.test(msg)
        ? "Run with -A (or --allow-ffi --allow-read --allow-write --allow-env --allow-sys): DuckDB is a native library"
        : `DuckDB ships prebuilt binaries for linux-x64/arm64, darwin and win32 only (this is ${Deno.build.os}-${Deno.build.arch}); ` +
          "check that npm:@duckdb/node-bindings-<platform> was installed (deno install, or delete the npm cache entry and retry)";
      throw new WarehouseError(
        `Cannot load DuckDB (npm:@duckdb/node-api): ${msg}. ${fix}.`,
      );
    }
  })();
  return loaded;
}

/** Options of {@link openDuckDB}. */
export interface DuckDBOptions {
  /** DuckDB `memory_limit`, e.g. "4GB" (default DuckDB's: 80% of RAM). */
  memoryLimit?: string;
  /** Worker threads (default: all cores). */
  threads?: number;
  /** Where DuckDB spills when a query needs more than memory_limit (default: a new temporary folder, removed on close). */
  tempDirectory?: string;
}

/** An open in-memory DuckDB database with bootstorm's table functions registered. */
export interface DuckDBDatabase {
  /** The loaded DuckDB modules. */
  duck: DuckDB;
  /** The in-memory database. */
  instance: Instance;
  /** The one connection to it. */
  connection: Connection;
  /** Close the connection, the instance and remove the spill folder. */
  close(): void;
}

/**
 * Open an in-memory DuckDB that can spill to disk and report errors as
 * JSON (exact query positions, see query_error.ts).
 *
 * @example
 * ```ts
 * import { openDuckDB } from "./duckdb.ts";
 * const db = await openDuckDB({ memoryLimit: "2GB", threads: 1 });
 * const r = await db.connection.runAndReadAll("select current_setting('threads') as threads");
 * console.log(r.getRowObjectsJS()); // [{ threads: 1n }]
 * db.close();
 * ```
 */
export async function openDuckDB(
  options: DuckDBOptions = {},
): Promise<DuckDBDatabase> {
  const duck = await loadDuckDB();
  const ownTemp = options.tempDirectory === undefined;
  const temp = options.tempDirectory ??
    Deno.makeTempDirSync({ prefix: "bootstorm_duckdb_spill_" });
  const config: Record<string, string> = {
    errors_as_json: "true",
    temp_directory: temp,
    // Extensions are never downloaded (no network): Parquet, JSON and ICU are built in.
    autoinstall_known_extensions: "false",
    autoload_known_extensions: "true",
  };
  if (options.memoryLimit) config.memory_limit = options.memoryLimit;
  if (options.threads) config.threads = String(options.threads);
  let instance: Instance;
  try {
    instance = await duck.api.DuckDBInstance.create(":memory:", config);
  } catch (e) {
    throw new WarehouseError(
      `Cannot open DuckDB: ${
        (e as Error).message
      }. Check --memory-limit (e.g. 4GB) and --threads.`,
    );
  }
  const connection = await instance.connect();
  return {
    duck,
    instance,
    connection,
    close() {
      try {
        connection.closeSync();
      } catch { /* already closed */ }
      try {
        instance.closeSync();
      } catch { /* already closed */ }
      if (ownTemp) {
        try {
          Deno.removeSync(temp, { recursive: true });
        } catch { /* gone */ }
      }
    },
  };
}
