/**
 * The warehouse on real data: a small real sweep of minkernel guests
 * exported to Parquet and read back through DuckDB against the arquero
 * analysis of the same sweep; incremental re-export; a damaged Arrow file;
 * SQL errors with their position; the Arrow scan's copies checked value by
 * value on fixtures with nulls across batch and chunk boundaries, long and
 * non-ASCII strings and columns the schema does not know; DuckDB never
 * loaded by the embedded library.
 */
import { ensureImage } from "../images/ensure.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  Field,
  Float64,
  Int32,
  Int64,
  RecordBatchStreamWriter,
  Schema,
  Table as ArrowTable,
  Utf8,
  vectorFromArray,
} from "apache-arrow";
import { ensureMinkernel } from "../images/build.ts";
import { loadProfile } from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { newSweep, runSweep } from "../launcher/sweep.ts";
import { expandGrid } from "../launcher/sweep_plan.ts";
import {
  type ColumnSpec,
  INSTANCE_COLUMNS,
  SCHEMA_VERSION,
} from "../dataset/schema.ts";
import { loadSweep } from "../analysis/load.ts";
import { summarize } from "../analysis/summary.ts";
import {
  exportRuns,
  flattenRecord,
  lineColumn,
  openWarehouse,
  QueryError,
  resultCsv,
  runColumns,
} from "../warehouse/mod.ts";
import {
  copyBits,
  inlineStrings,
  setBits,
  unifyKinds,
} from "../warehouse/arrow_columns.ts";
import {
  runRecord,
  simulateStorm,
  toArrowStream,
  writeRunFolder,
} from "../dataset/synthetic_run.ts";
import { ROOT } from "./helpers.ts";

// DuckDB's native calls finish on its own threads; the op sanitizer cannot follow them.
const duck = { sanitizeOps: false, sanitizeResources: false };

let sweep: Promise<string> | null = null;
/** A real sweep (minkernel-microvm, N = 3 and 5 back-to-back, TCG), measured once for this file. */
function realSweep(): Promise<string> {
  sweep ??= (async () => {
    await ensureMinkernel();
    const dir = await Deno.makeTempDir({ prefix: "bootstorm_wh_sweep_" });
    const state = newSweep(
      expandGrid({
        images: ["minkernel-microvm"],
        counts: [3, 5],
        patterns: [{ kind: "back-to-back" }],
      }),
      { accel: "tcg", timeoutMs: null, force: false },
    );
    await runSweep(state, dir, { prepare: ensureImage });
    assert.ok(state.cells.every((c) => c.state === "done"), "sweep finished");
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* gone */ }
    });
    return dir;
  })();
  return sweep;
}

async function cli(
  file: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, file), ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

function close(a: number | null, b: number | null, what: string) {
  if (a === null || b === null) return assert.equal(a, b, what);
  assert.ok(
    Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a)),
    `${what}: ${a} vs ${b}`,
  );
}

Deno.test({
  name:
    "exportRuns() of a real sweep reads back through DuckDB with the arquero row counts and medians",
  ...duck,
  fn: async () => {
    const dir = await realSweep();
    const out = await Deno.makeTempDir({ prefix: "bootstorm_wh_out_" });
    const set = await loadSweep(dir, { allRuns: true });
    assert.ok(set.runs.length >= 3, "two cells and the probe");
    const report = await exportRuns(dir, out);
    assert.equal(report.failed.length, 0, JSON.stringify(report.failed));
    assert.equal(report.exported.length, set.runs.length);
    assert.equal(report.total.instances, set.instances.numRows());
    assert.equal(report.total.memory, set.memory.numRows());
    assert.equal(report.total.runs, set.runs.length);

    const expected = summarize(set.instances).objects() as {
      run_id: string;
      n: number;
      ready: number;
      median_ms: number | null;
      p99_ms: number | null;
      rss_median_kib: number | null;
    }[];
    const wh = await openWarehouse({ data: out });
    try {
      assert.deepEqual(wh.sources.arrow, [], "everything read from Parquet");
      const got = (await wh.query(`
        select run_id, count(*) as n, count_if(outcome = 'ready') as ready,
          median(boot_ms) filter (where outcome = 'ready') as median_ms,
          quantile_cont(boot_ms, 0.99) filter (where outcome = 'ready') as p99_ms,
          median(rss_peak_kib) filter (where outcome = 'ready') as rss_median_kib
        from instances group by run_id`)).objects() as typeof expected;
      assert.equal(got.length, expected.length);
      const byRun = new Map(got.map((r) => [r.run_id, r]));
      for (const e of expected) {
        const g = byRun.get(e.run_id);
        assert.ok(g, `run ${e.run_id} in the export`);
        assert.equal(g.n, e.n);
        assert.equal(g.ready, e.ready);
        close(g.median_ms, e.median_ms, `median ${e.run_id}`);
        close(g.p99_ms, e.p99_ms, `p99 ${e.run_id}`);
        close(g.rss_median_kib, e.rss_median_kib, `rss ${e.run_id}`);
      }
      // Memory rows per run, and the run records.
      const mem = (await wh.query(
        "select run_id, count(*) as n, max(used_kib) as peak from memory group by run_id",
      )).objects() as { run_id: string; n: number; peak: number }[];
      for (const run of set.runs) {
        const rows = run.memory.numRows();
        const m = mem.find((r) => r.run_id === run.record.run_id);
        assert.equal(m?.n ?? 0, rows, `memory rows of ${run.record.run_id}`);
      }
      const runs = (await wh.query(
        "select run_id, host, count, schema_version, qemu_version, started_at from runs",
      )).objects() as Record<string, unknown>[];
      for (const run of set.runs) {
        const r = runs.find((x) => x.run_id === run.record.run_id)!;
        assert.equal(r.count, run.record.count);
        assert.equal(r.host, run.record.host?.hostname);
        assert.equal(
          r.qemu_version,
          (run.record.qemu as { version: string }).version,
        );
        assert.ok(r.started_at instanceof Date, "started_at is a timestamp");
      }
      // Every column of the Arrow files is in the Parquet file, and the schema version is in its metadata.
      const cols = (await wh.query(
        `select name from parquet_schema('${join(out, "instances.parquet")}')`,
      )).array("name") as string[];
      for (const name of set.runs[0].instances.columnNames()) {
        assert.ok(cols.includes(name), `column ${name} exported`);
      }
      const kv = (await wh.query(
        `select decode(key) as k, decode(value) as v from parquet_kv_metadata('${
          join(out, "instances.parquet")
        }')`,
      )).objects() as { k: string; v: string }[];
      assert.equal(
        kv.find((x) => x.k === "bootstorm_schema_version")?.v,
        String(set.runs[0].record.schema_version),
      );
    } finally {
      wh.close();
    }
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test({
  name: "exportRuns() run again adds only the new run and is idempotent",
  ...duck,
  fn: async () => {
    const dir = await realSweep();
    const out = await Deno.makeTempDir({ prefix: "bootstorm_wh_inc_" });
    const extra = await Deno.makeTempDir({ prefix: "bootstorm_wh_extra_" });
    const first = await exportRuns(dir, out);
    const profile = await loadProfile("minkernel-microvm");
    const { record } = await runBatch(profile, {
      count: 2,
      pattern: { kind: "back-to-back" },
      outDir: extra,
      accel: "tcg",
    });
    const second = await exportRuns([dir, extra], out);
    assert.deepEqual(second.exported.map((r) => r.run_id), [record.run_id]);
    assert.equal(second.skipped.length, first.exported.length);
    assert.equal(second.added.instances, 2);
    assert.equal(second.total.instances, first.total.instances + 2);
    assert.equal(second.total.runs, first.total.runs + 1);
    const mtime = Deno.statSync(join(out, "instances.parquet")).mtime;
    const third = await exportRuns([dir, extra], out);
    assert.equal(third.exported.length, 0);
    assert.equal(third.total.instances, second.total.instances);
    assert.deepEqual(
      Deno.statSync(join(out, "instances.parquet")).mtime,
      mtime,
      "nothing rewritten",
    );
    const wh = await openWarehouse({ data: out });
    try {
      const t = await wh.query(
        `select count(*) as n, count(distinct run_id) as runs from instances where run_id = '${record.run_id}'`,
      );
      assert.deepEqual(t.objects()[0], { n: 2, runs: 1 }, "no duplicates");
      for (const table of ["instances", "memory", "runs"]) {
        const kv = (await wh.query(
          `select decode(key) as k, decode(value) as v from parquet_kv_metadata('${
            join(out, table + ".parquet")
          }')`,
        )).objects() as { k: string; v: string }[];
        const meta = Object.fromEntries(kv.map((x) => [x.k, x.v]));
        assert.equal(meta.bootstorm_runs, String(second.total.runs), table);
        assert.equal(meta.bootstorm_table, table);
        assert.equal(
          meta.bootstorm_schema_version,
          String(record.schema_version),
        );
      }
    } finally {
      wh.close();
    }
    await Deno.remove(out, { recursive: true });
    await Deno.remove(extra, { recursive: true });
  },
});

Deno.test({
  name:
    "export names a damaged Arrow file and still exports the other runs (exit 1)",
  ...duck,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "bootstorm_wh_damaged_" });
    for (const [i, image] of ["minkernel", "osv", "linux"].entries()) {
      await writeRunFolder(
        join(dir, `run-${i}`),
        simulateStorm({
          runId: `run-${i}`,
          image,
          cls: "libos",
          n: 20,
          baseMs: 100 + 50 * i,
          perConcurrentMs: 2,
          rssKib: 40000,
          seed: i + 1,
        }),
        { batchRows: 4, csv: false },
      );
    }
    // run-1: instances.arrow cut inside a record batch; run-2: memory.arrow is not Arrow at all.
    const cut = join(dir, "run-1", "instances.arrow");
    const bytes = Deno.readFileSync(cut);
    Deno.writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    const junk = join(dir, "run-2", "memory.arrow");
    Deno.writeTextFileSync(junk, "this is not an arrow file at all");
    const out = join(dir, "out");
    const r = await cli("cli/export.ts", [dir, "--parquet", out]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`not exported: Cannot load "${cut}": the file is truncated`),
    );
    assert.match(r.stderr, /or export or query with --salvage/);
    assert.match(r.stderr, new RegExp(`not exported: Cannot load "${junk}"`));
    assert.match(r.stderr, /exported 1 run\(s\): 20 instance rows/);
    const wh = await openWarehouse({ data: out });
    try {
      const ids = (await wh.query(
        "select distinct run_id from instances union select distinct run_id from memory union select run_id from runs",
      )).array("run_id");
      assert.deepEqual([...ids], ["run-0"]);
    } finally {
      wh.close();
    }
    // --salvage keeps the complete batches of the cut file (with a warning); junk is still refused.
    const salvaged = await exportRuns(dir, join(dir, "out-salvage"), {
      salvage: true,
    });
    assert.deepEqual(salvaged.exported.map((x) => x.run_id), [
      "run-0",
      "run-1",
    ]);
    assert.deepEqual(salvaged.failed.map((f) => f.file), [junk]);
    assert.match(salvaged.warnings.join("\n"), /kept the complete batches/);
    assert.ok(
      salvaged.total.instances > 20 && salvaged.total.instances < 40,
      `run-1 kept some of its rows (${salvaged.total.instances - 20})`,
    );
    // Repaired, the next export adds the two runs.
    Deno.writeFileSync(cut, bytes);
    Deno.removeSync(junk);
    await writeRunFolder(
      join(dir, "run-2-fixed"),
      simulateStorm({
        runId: "run-2b",
        image: "linux",
        cls: "linux",
        n: 7,
        baseMs: 300,
        perConcurrentMs: 2,
        rssKib: 40000,
      }),
      { csv: false },
    );
    Deno.removeSync(join(dir, "run-2"), { recursive: true });
    const again = await exportRuns(dir, out);
    assert.deepEqual(again.failed, []);
    assert.deepEqual(again.exported.map((x) => x.run_id).sort(), [
      "run-1",
      "run-2b",
    ]);
    assert.equal(again.total.instances, 20 + 20 + 7);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "query CLI shows SQL errors with the line, the column and a caret",
  ...duck,
  fn: async () => {
    const dir = await realSweep();
    let r = await cli("cli/query.ts", [
      "select image,\n  no_such_column\nfrom instances",
      "--data",
      dir,
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /SQL error \(Binder\) at line 2, column 3: Referenced column "no_such_column" not found/,
    );
    assert.ok(
      r.stderr.includes("  2 |   no_such_column\n    |   ^"),
      "the line with a caret under the column",
    );
    assert.match(r.stderr, /Views: instances, memory, runs/);
    r = await cli("cli/query.ts", ["selec image from runs", "--data", dir]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /SQL error \(Parser\) at line 1, column 1: syntax error at or near "selec"/,
    );
    r = await cli("cli/query.ts", ["select * from nowhere", "--data", dir]);
    assert.match(
      r.stderr,
      /SQL error \(Catalog\) at line 1, column 15: Table with name nowhere does not exist/,
    );
  },
});

Deno.test({
  name:
    "query CLI over the Arrow files prints a table, --csv and --json with the same numbers",
  ...duck,
  fn: async () => {
    const dir = await realSweep();
    const set = await loadSweep(dir, { allRuns: true });
    const sql =
      "select run_id, count(*) as n, median(boot_ms) as median_ms from instances group by run_id order by run_id";
    const csv = await cli("cli/query.ts", [sql, "--data", dir, "--csv"]);
    assert.equal(csv.code, 0, csv.stderr);
    const lines = csv.stdout.trim().split("\n");
    assert.equal(lines[0], "run_id,n,median_ms");
    assert.equal(lines.length - 1, set.runs.length);
    const json = await cli("cli/query.ts", [sql, "--data", dir, "--json"]);
    const rows = JSON.parse(json.stdout) as {
      run_id: string;
      n: number;
      median_ms: number;
    }[];
    const summary = summarize(set.instances).objects() as {
      run_id: string;
      n: number;
    }[];
    for (const row of rows) {
      assert.equal(row.n, summary.find((s) => s.run_id === row.run_id)?.n);
    }
    assert.deepEqual(
      lines.slice(1),
      rows.map((r) => `${r.run_id},${r.n},${r.median_ms}`),
      "CSV and JSON agree",
    );
    const table = await cli("cli/query.ts", [sql, "--data", dir]);
    assert.match(table.stdout, /run_id\s+n\s+median_ms\n-+/);
    assert.match(table.stdout, new RegExp(`\\(${set.runs.length} rows\\)`));
  },
});

/** An Arrow IPC stream with several record batches of `rows`-row slices. */
function arrowStream(table: ArrowTable, rows: number): Uint8Array {
  const w = new RecordBatchStreamWriter();
  w.reset(undefined, table.schema);
  for (let s = 0; s < table.numRows; s += rows) {
    for (const b of table.slice(s, s + rows).batches) w.write(b);
  }
  w.finish();
  return w.toUint8Array(true);
}

Deno.test({
  name:
    "bootstorm_scan copies every value: nulls across batch and chunk boundaries, long and non-ASCII text, unknown columns",
  ...duck,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "bootstorm_wh_scan_" });
    const n = 5000;
    const rand = (i: number) => ((i * 2654435761) % 1000) / 7;
    const cols: Record<string, (number | string | null)[]> = {};
    for (const s of INSTANCE_COLUMNS) {
      cols[s.name] = Array.from({ length: n }, (_, i) => {
        if (s.nullable && i % 7 === 3) return null;
        // a closed set (the loader checks it): cycle through its values
        if ("values" in s && s.values) return s.values[i % s.values.length];
        if (s.type === "utf8") {
          return [
            "ready",
            "exited_before_ready",
            "x".repeat(12),
            "y".repeat(13),
            "Dämon ✓ crashed",
            "",
          ][i % 6];
        }
        return s.type === "int32" ? i * 3 - 7 : rand(i);
      });
    }
    // The launcher's own columns, typed per the schema, plus columns the schema does not know.
    const fields: Field[] = [];
    const vectors: Record<string, unknown> = {};
    for (const s of INSTANCE_COLUMNS) {
      const type = s.type === "utf8"
        ? new Utf8()
        : s.type === "int32"
        ? new Int32()
        : new Float64();
      fields.push(new Field(s.name, type, true));
      vectors[s.name] = vectorFromArray(cols[s.name], type);
    }
    const insns = Array.from(
      { length: n },
      (_, i) => i % 5 === 0 ? null : BigInt(i) * 1_000_000_007n,
    );
    const kernel = Array.from(
      { length: n },
      (_, i) => i % 2 ? null : i / 3,
    );
    fields.push(new Field("insns_guest", new Int64(), true));
    fields.push(new Field("kernel_ms", new Float64(), true));
    vectors.insns_guest = vectorFromArray(insns, new Int64());
    vectors.kernel_ms = vectorFromArray(kernel, new Float64());
    const table = new ArrowTable(
      new Schema(fields),
      vectors as never,
    );
    const run = join(dir, "run-a");
    await Deno.mkdir(run);
    Deno.writeTextFileSync(
      join(run, "run.json"),
      JSON.stringify(runRecord({ run_id: "run-a", count: n })),
    );
    Deno.writeFileSync(join(run, "instances.arrow"), arrowStream(table, 777));
    Deno.writeFileSync(
      join(run, "memory.arrow"),
      toArrowStream(
        {
          t_ms: [0, 1],
          used_kib: [5, 6],
          run_used_kib: [null, 3],
          booting: [0, 1],
        },
        [
          { name: "t_ms", type: "float64", nullable: false, doc: "" },
          { name: "used_kib", type: "float64", nullable: false, doc: "" },
          { name: "run_used_kib", type: "float64", nullable: true, doc: "" },
          { name: "booting", type: "int32", nullable: false, doc: "" },
        ],
      ),
    );
    // A version 1 run lacks the version 2 columns: they read as null.
    const v1 = join(dir, "run-v1");
    const v1cols = (INSTANCE_COLUMNS as readonly ColumnSpec[]).filter((c) =>
      !c.since
    );
    await writeRunFolder(v1, {
      record: { run_id: "run-v1", count: 3, schema_version: 1 },
      instances: Object.fromEntries(
        v1cols.map((c) => [c.name, cols[c.name].slice(0, 3)]),
      ),
      memory: { t_ms: [0], used_kib: [1], booting: [0] },
    }, {
      omit: (INSTANCE_COLUMNS as readonly ColumnSpec[]).filter((c) => c.since)
        .map((c) => c.name),
      csv: false,
    });

    const wh = await openWarehouse({ data: dir });
    try {
      const got = await wh.query(
        "select * from instances where run_id = 'run-a' order by instance",
      );
      assert.equal(got.numRows(), n);
      const order = Array.from({ length: n }, (_, i) => i).sort((a, b) =>
        (cols.instance[a] as number) - (cols.instance[b] as number)
      );
      for (const s of INSTANCE_COLUMNS) {
        const values = got.array(s.name) as unknown[];
        order.forEach((src, row) => {
          assert.equal(values[row], cols[s.name][src], `${s.name}[${src}]`);
        });
      }
      const ins = got.array("insns_guest") as unknown[];
      const ker = got.array("kernel_ms") as unknown[];
      order.forEach((src, row) => {
        assert.equal(
          ins[row],
          insns[src] === null ? null : Number(insns[src]),
          `insns_guest[${src}]`,
        );
        assert.equal(ker[row], kernel[src], `kernel_ms[${src}]`);
      });
      const types = (await wh.query(
        "select column_name, column_type from (describe instances)",
      )).objects() as { column_name: string; column_type: string }[];
      assert.equal(
        types.find((t) => t.column_name === "insns_guest")?.column_type,
        "BIGINT",
      );
      const v1rows = (await wh.query(
        "select count(*) as n, count(t_k_ms) as tk, count(boot_ms) as boot from instances where run_id = 'run-v1'",
      )).objects()[0];
      assert.deepEqual(v1rows, {
        n: 3,
        tk: 0,
        boot: cols.boot_ms.slice(0, 3).filter((x) => x !== null).length,
      });
    } finally {
      wh.close();
    }
    // The same values survive the Parquet export: first the version 1 run
    // alone, then run-a, whose new columns the merge adds (null for run-v1).
    const out = join(dir, "out");
    await exportRuns(v1, out);
    const merged = await exportRuns(dir, out);
    assert.deepEqual(merged.exported.map((r) => r.run_id), ["run-a"]);
    assert.deepEqual(merged.schemaVersions, [1, SCHEMA_VERSION]);
    const pq = await openWarehouse({ data: out });
    try {
      const sum = (await pq.query(
        "select sum(insns_guest) as s, count(error) as e, sum(length(error)) as l from instances",
      )).objects()[0] as { s: number; e: number; l: number };
      // Beyond 2^53 the sum comes back as text (jsValue), exact.
      assert.equal(
        String(sum.s),
        String(insns.reduce((a, b) => a! + (b ?? 0n), 0n)),
      );
      const errors = [...cols.error.slice(0, 3), ...cols.error].filter((x) =>
        x !== null
      ) as string[];
      assert.equal(sum.e, errors.length);
      assert.equal(sum.l, errors.reduce((a, s) => a + [...s].length, 0));
      const v1 = (await pq.query(
        "select count(*) as n, count(insns_guest) as insns from instances where run_id = 'run-v1'",
      )).objects()[0];
      assert.deepEqual(v1, { n: 3, insns: 0 });
      const kv = (await pq.query(
        `select decode(value) as v from parquet_kv_metadata('${
          join(out, "instances.parquet")
        }') where decode(key) = 'bootstorm_schema_versions'`,
      )).array("v");
      assert.deepEqual([...kv], [`1,${SCHEMA_VERSION}`]);
    } finally {
      pq.close();
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "a query needing more memory than its limit spills to disk and finishes",
  ...duck,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "bootstorm_wh_spill_" });
    // The analysis benchmark's generator: every schema column, 400,000 rows in 2 runs.
    const gen = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        join(ROOT, "bench/analysis_bench.ts"),
        "--phase",
        "generate",
        "--dir",
        dir,
        "--rows",
        "400000",
        "--runs",
        "2",
      ],
    }).output();
    assert.ok(gen.success, new TextDecoder().decode(gen.stderr));
    const wh = await openWarehouse({
      data: dir,
      memoryLimit: "96MB",
      threads: 1,
    });
    const watcher = await wh.db.instance.connect();
    try {
      let spilled = -1, rows = 0, prev = Infinity, sorted = true;
      const r = await wh.stream(
        "select * from instances order by boot_ms desc nulls last",
        async (c) => {
          if (spilled < 0) {
            const t = await watcher.runAndReadAll(
              "select coalesce(sum(size), 0) from duckdb_temporary_files()",
            );
            spilled = Number(t.getRowsJS()[0][0]);
          }
          for (const v of c.values[c.columns.indexOf("boot_ms")]) {
            rows++;
            if (v === null) continue;
            if ((v as number) > prev) sorted = false;
            prev = v as number;
          }
        },
      );
      assert.equal(r.rows, 400000);
      assert.equal(rows, 400000);
      assert.ok(sorted, "sorted across the spilled runs");
      assert.ok(
        spilled > 0,
        `spilled ${spilled} bytes to the temporary folder`,
      );
    } finally {
      watcher.closeSync();
      wh.close();
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("unifyKinds() picks one DuckDB type for a column typed differently across runs", () => {
  const i32 = { kind: "int", bits: 32, signed: true } as const;
  const u64 = { kind: "int", bits: 64, signed: false } as const;
  const f64 = { kind: "float", bits: 64 } as const;
  assert.equal(unifyKinds([i32, i32], "VARCHAR"), "INTEGER");
  assert.equal(unifyKinds([i32, { kind: "null" }], "VARCHAR"), "INTEGER");
  assert.equal(unifyKinds([{ kind: "null" }], "DOUBLE"), "DOUBLE");
  assert.equal(unifyKinds([i32, u64], "VARCHAR"), "BIGINT");
  assert.equal(unifyKinds([i32, f64], "VARCHAR"), "DOUBLE");
  assert.equal(unifyKinds([i32, { kind: "utf8" }], "DOUBLE"), "VARCHAR");
});

Deno.test("setBits() and copyBits() move validity bits at any alignment", () => {
  for (const [start, n] of [[0, 0], [3, 7], [0, 64], [5, 100], [8, 16]]) {
    const bits = new Uint8Array(32);
    setBits(bits, start, n);
    for (let i = 0; i < 256; i++) {
      assert.equal(
        (bits[i >> 3] >> (i & 7)) & 1,
        i >= start && i < start + n ? 1 : 0,
      );
    }
  }
  const src = Uint8Array.from({ length: 16 }, (_, i) => (i * 37 + 11) & 0xff);
  for (
    const [from, to, n] of [[0, 0, 128], [3, 0, 50], [0, 5, 60], [8, 16, 40]]
  ) {
    const dst = new Uint8Array(32).fill(0xaa);
    copyBits(src, from, dst, to, n);
    for (let i = 0; i < n; i++) {
      assert.equal(
        (dst[(to + i) >> 3] >> ((to + i) & 7)) & 1,
        (src[(from + i) >> 3] >> ((from + i) & 7)) & 1,
      );
    }
  }
});

Deno.test("inlineStrings() inlines strings of up to 12 bytes and returns the longer ones", () => {
  const words = ["ready", "x".repeat(12), "y".repeat(13), "é", ""];
  const enc = new TextEncoder();
  const bytes = words.map((w) => enc.encode(w));
  const offsets = [0];
  for (const b of bytes) offsets.push(offsets.at(-1)! + b.length);
  const data = new Uint8Array(offsets.at(-1)!);
  bytes.forEach((b, i) => data.set(b, offsets[i]));
  const out = new Uint8Array(16 * 6);
  const long = inlineStrings(data, offsets, 0, 5, out, 1, (r) => r !== 4);
  assert.deepEqual(long, [2]);
  const view = new DataView(out.buffer);
  assert.equal(view.getUint32(16, true), 5);
  assert.equal(new TextDecoder().decode(out.subarray(20, 25)), "ready");
  assert.equal(view.getUint32(32, true), 12);
  assert.equal(view.getUint32(4 * 16, true), 2, "é is 2 bytes");
  assert.deepEqual(
    [...out.subarray(5 * 16, 6 * 16)],
    new Array(16).fill(0),
    "null row stays zero",
  );
});

Deno.test("flattenRecord() and runColumns() flatten run.json to typed columns", () => {
  const rec = runRecord({ run_id: "r1", count: 4, params: { spin_ms: 5 } });
  const flat = flattenRecord(rec as never, "/data/r1");
  assert.equal(flat.host_cpu_model, "fixture CPU");
  assert.equal(flat.qemu_version, "7.2.0");
  assert.equal(flat.params_spin_ms, 5);
  assert.equal(flat.argv, '["qemu-system-x86_64"]');
  assert.equal(flat.host, "fixture");
  assert.equal(flat.image, "minkernel");
  assert.equal(flat.schema_version, SCHEMA_VERSION);
  const types = Object.fromEntries(
    runColumns([flat, { ...flat, params_spin_ms: 2.5, params_x: true }]).map((
      c,
    ) => [c.name, c.type]),
  );
  assert.equal(types.count, "BIGINT");
  assert.equal(types.params_spin_ms, "DOUBLE");
  assert.equal(types.params_x, "BOOLEAN");
  assert.equal(types.started_at, "VARCHAR");
});

Deno.test("lineColumn() and QueryError point at the position DuckDB reports", () => {
  assert.deepEqual(lineColumn("select 1,\n  foo", 12), {
    offset: 12,
    line: 2,
    column: 3,
  });
  // DuckDB counts bytes: "é" is two.
  assert.deepEqual(lineColumn("select 'é', foo", 13), {
    offset: 12,
    line: 1,
    column: 13,
  });
  const e = new QueryError("select\n  foo", "Binder", "no foo", {
    offset: 9,
    line: 2,
    column: 3,
  }, "");
  assert.equal(
    e.message,
    "SQL error (Binder) at line 2, column 3: no foo\n  2 |   foo\n    |   ^",
  );
});

Deno.test("resultCsv() writes RFC 4180 with null as an empty field", () => {
  assert.equal(
    resultCsv({
      columns: ["a", "b"],
      values: [[1, null], ['say "hi", ok', new Date(0)]],
      rows: 2,
    }, true),
    'a,b\n1,"say ""hi"", ok"\n,1970-01-01T00:00:00.000Z\n',
  );
});

Deno.test("importing mod.ts and analysing a sweep never loads DuckDB", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bootstorm_wh_embedded_" });
  await writeRunFolder(
    join(dir, "r"),
    simulateStorm({
      runId: "r",
      image: "minkernel",
      cls: "baseline",
      n: 8,
      baseMs: 100,
      perConcurrentMs: 1,
      rssKib: 40000,
    }),
  );
  const script = join(dir, "probe.ts");
  Deno.writeTextFileSync(
    script,
    `import * as bs from ${JSON.stringify(join(ROOT, "mod.ts"))};
const set = await bs.loadSweep(${JSON.stringify(dir)});
bs.summarize(set.instances);
bs.concurrencyBins(set.instances);
const maps = Deno.readTextFileSync("/proc/self/maps");
console.log(JSON.stringify({ rows: set.instances.numRows(), duckdb: /duckdb/i.test(maps) }));
${/* and the warehouse does load it, in the same kind of process */ ""}
const wh = await bs.openWarehouse({ data: ${JSON.stringify(dir)} });
wh.close();
console.log(JSON.stringify({ after: /duckdb/i.test(Deno.readTextFileSync("/proc/self/maps")) }));
`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(ROOT, "deno.json"), script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const [first, second] = text.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(first, { rows: 8, duckdb: false });
  assert.deepEqual(
    second,
    { after: true },
    "the probe can see DuckDB once loaded",
  );
  await Deno.remove(dir, { recursive: true });
});
