/**
 * `deno task query "<SQL>" [--data DIR] [--csv | --json]`: run SQL through
 * DuckDB over every run below the data folder (views `instances`, `memory`,
 * `runs`; see warehouse/query.ts) and print the result as a table, CSV or
 * JSON. CSV and JSON are written chunk by chunk as DuckDB produces them.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runCli } from "./common.ts";
import {
  formatResult,
  openWarehouse,
  resultCsv,
  resultJson,
  type ResultValue,
} from "../warehouse/mod.ts";

const USAGE = `Usage: deno task query "<SQL>" [options]

Runs SQL through DuckDB over every run below the data folder. Views:
  instances  one row per instance (docs/dataset.md) + run_id, host, image, count_n
  memory     memory samples + run_id, host, image, count_n
  runs       one row per run: run.json flattened (host_cpu_model, qemu_version,
             accelerator_kind, pattern_kind, started_at as TIMESTAMPTZ, ...)
Exports (folders holding runs.parquet, written by deno task export) are read
as Parquet; runs in no export are read from their Arrow files.

Options:
  --data DIR          folder of runs, sweeps and/or exports (repeatable; default data)
  --csv               CSV on stdout (all rows, streamed)
  --json              a JSON array of row objects on stdout (all rows, streamed)
  --max-rows N        rows shown as a table (default 100; the rest are counted)
  --file PATH         read the SQL from a file ("-": stdin) instead of the argument
  --memory-limit X    DuckDB memory limit, e.g. 4GB (default 80% of RAM; spills beyond)
  --threads N         DuckDB threads (default: all cores)
  --salvage           keep the complete batches of a truncated Arrow file
  -h, --help          this text

Examples:
  deno task query "select image, count_n, median(boot_ms) as median_ms from instances group by all order by all"
  deno task query "select qemu_version, count(*) from runs group by 1" --data data/parquet --csv`;

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      data: { type: "string", multiple: true },
      csv: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      "max-rows": { type: "string", default: "100" },
      file: { type: "string" },
      "memory-limit": { type: "string" },
      threads: { type: "string" },
      salvage: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let sql = positionals.join(" ");
  if (values.file) {
    sql = values.file === "-"
      ? await new Response(Deno.stdin.readable).text()
      : await Deno.readTextFile(values.file);
  }
  if (!sql.trim() || (values.file && positionals.length)) {
    console.error(USAGE);
    return 2;
  }
  if (values.csv && values.json) {
    console.error("Choose one of --csv and --json.");
    return 2;
  }
  const maxRows = Number(values["max-rows"]);
  if (!(maxRows >= 0)) {
    console.error(
      `--max-rows must be a number ≥ 0, not "${values["max-rows"]}".`,
    );
    return 2;
  }
  const wh = await openWarehouse({
    data: values.data ?? ["data"],
    memoryLimit: values["memory-limit"],
    threads: values.threads ? Number(values.threads) : undefined,
    salvage: values.salvage,
  });
  try {
    const enc = new TextEncoder();
    const write = async (s: string) => {
      const b = enc.encode(s);
      let off = 0;
      while (off < b.length) off += await Deno.stdout.write(b.subarray(off));
    };
    if (values.csv || values.json) {
      let first = true;
      if (values.json) await write("[\n");
      const { columns, rows } = await wh.stream(sql, async (chunk) => {
        await write(
          values.csv ? resultCsv(chunk, first) : resultJson(chunk, first),
        );
        first = false;
      });
      if (values.csv && rows === 0) await write(columns.join(",") + "\n");
      if (values.json) await write("]\n");
      return 0;
    }
    const shown: ResultValue[][] = [];
    const { columns, rows } = await wh.stream(sql, (chunk) => {
      for (let r = 0; r < chunk.rows && shown.length < maxRows; r++) {
        shown.push(chunk.values.map((c) => c[r]));
      }
    });
    console.log(formatResult(columns, shown));
    console.log(
      rows > shown.length
        ? `(${rows} rows, first ${shown.length} shown; --csv or --json for all)`
        : `(${rows} row${rows === 1 ? "" : "s"})`,
    );
    return 0;
  } finally {
    for (const w of wh.warnings()) console.error(`warning: ${w}`);
    wh.close();
  }
}

if (import.meta.main) await runCli(main);
