/**
 * `deno task export <run | sweep | folder of runs>... --parquet OUT`: write
 * every run below the sources into OUT/instances.parquet, memory.parquet
 * and runs.parquet (see warehouse/export.ts). Runs already in OUT are
 * skipped; a run whose files cannot be read is named and left out, the
 * others are exported (exit code 1 then).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runCli } from "./common.ts";
import { exportRuns } from "../warehouse/mod.ts";

const USAGE =
  `Usage: deno task export <run dir | sweep dir | folder of runs>... --parquet OUT [options]

Writes OUT/instances.parquet, OUT/memory.parquet and OUT/runs.parquet holding
every run below the given folders (columns run_id, host, image, count_n on
every row; the dataset schema version in the Parquet file metadata as
bootstorm_schema_version). Incremental: runs already in OUT are skipped, so
running it again after new measurements adds only the new runs.

Options:
  --parquet OUT       the export folder (created if missing)
  --compression C     zstd (default), snappy, gzip or uncompressed
  --memory-limit X    DuckDB memory limit, e.g. 4GB
  --threads N         DuckDB threads
  --salvage           keep the complete batches of a truncated Arrow file (warns)
  --json              print the report as JSON
  -h, --help          this text

Example:
  deno task export data/sweeps data/runs --parquet data/parquet
  deno task query "select count(*) from instances" --data data/parquet`;

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      parquet: { type: "string" },
      compression: { type: "string", default: "zstd" },
      "memory-limit": { type: "string" },
      threads: { type: "string" },
      json: { type: "boolean", default: false },
      salvage: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!positionals.length || !values.parquet) {
    console.error(USAGE);
    return 2;
  }
  const compression = values.compression as
    | "zstd"
    | "snappy"
    | "gzip"
    | "uncompressed";
  if (!["zstd", "snappy", "gzip", "uncompressed"].includes(compression)) {
    console.error(
      `--compression must be zstd, snappy, gzip or uncompressed, not "${compression}".`,
    );
    return 2;
  }
  const r = await exportRuns(positionals, values.parquet, {
    compression,
    memoryLimit: values["memory-limit"],
    threads: values.threads ? Number(values.threads) : undefined,
    salvage: values.salvage,
    onProgress: (m) => console.error(m),
  });
  if (values.json) console.log(JSON.stringify(r, null, 2));
  else {
    const rate = r.added.instances / Math.max(r.seconds, 1e-9);
    console.error(
      `exported ${r.exported.length} run(s): ${r.added.instances} instance rows, ${r.added.memory} memory rows ` +
        `in ${r.seconds.toFixed(2)} s (${Math.round(rate)} instance rows/s); ` +
        `${r.skipped.length} skipped (already exported)`,
    );
    for (const w of r.warnings) console.error(`warning: ${w}`);
    for (const f of r.failed) console.error(`not exported: ${f.message}`);
    console.error(
      `${r.out}: ${r.total.runs} runs, ${r.total.instances} instance rows, ${r.total.memory} memory rows ` +
        `(schema version${r.schemaVersions.length > 1 ? "s" : ""} ${
          r.schemaVersions.join(", ")
        })`,
    );
    console.log(r.out);
  }
  return r.failed.length ? 1 : 0;
}

if (import.meta.main) await runCli(main);
