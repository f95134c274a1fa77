import "@uwdata/flechette";
import assert from "node:assert/strict";
import { join } from "node:path";
import * as aq from "arquero";
import {
  concatTables,
  DatasetError,
  fromRunJson,
  loadRun,
  loadRuns,
  loadSweep,
} from "../analysis/mod.ts";
import {
  equalsMask,
  factorize,
  numberColumn,
  RunLengthColumn,
} from "../analysis/columns.ts";
import { frameIpcStream } from "../analysis/arrow_stream.ts";
import { INSTANCE_COLUMNS, SCHEMA_VERSION } from "../dataset/schema.ts";
import { columnSince, columnsOfVersion } from "../analysis/load.ts";
import {
  instanceColumns,
  type RunFixture,
  toArrowStream,
  type WriteOptions,
  writeRunFolder,
} from "../dataset/synthetic_run.ts";

function fixture(runId = "r1", n = 6): RunFixture {
  const rows = Array.from({ length: n }, (_, i) => ({
    t_s_ms: i * 10,
    boot_ms: i === 2 ? null : 100 + 10 * i,
    concurrency_at_start: i,
    rss_peak_kib: 40000 + i,
  }));
  return {
    record: {
      run_id: runId,
      count: n,
      profile: { name: "minkernel", class: "baseline", path: "x" },
    },
    instances: instanceColumns(rows),
    memory: {
      t_ms: [0, 5, 10],
      used_kib: [1000, 1500, 1200],
      booting: [1, 2, 1],
    },
  };
}

async function withRun(
  options: WriteOptions,
  body: (dir: string) => Promise<void>,
  fix: RunFixture = fixture(),
) {
  const root = await Deno.makeTempDir({ prefix: "analysis_load_" });
  try {
    const dir = await writeRunFolder(join(root, "run"), fix, options);
    await body(dir);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function rejectsWith(p: Promise<unknown>, ...parts: (string | RegExp)[]) {
  await assert.rejects(p, (e: Error) => {
    assert.ok(e instanceof DatasetError, `not a DatasetError: ${e}`);
    for (const part of parts) {
      if (typeof part === "string") {
        assert.ok(e.message.includes(part), `"${e.message}" lacks "${part}"`);
      } else assert.match(e.message, part);
    }
    return true;
  });
}

Deno.test("loadRun() reads Arrow with one batch per row and adds run columns", async () => {
  await withRun({ batchRows: 1 }, async (dir) => {
    const run = await loadRun(dir);
    assert.equal(run.formats.instances, "arrow");
    assert.equal(run.instances.numRows(), 6);
    assert.deepEqual(run.warnings, []);
    const row = run.instances.object(3) as Record<string, unknown>;
    assert.equal(row.boot_ms, 130);
    assert.equal(row.run_id, "r1");
    assert.equal(row.image, "minkernel");
    assert.equal(row.count_n, 6);
    assert.equal(run.instances.get("boot_ms", 2), null);
    assert.equal(run.instances.get("outcome", 2), "timeout");
    assert.equal(run.memory.numRows(), 3);
    assert.equal(run.record.schema_version, SCHEMA_VERSION);
  });
});

Deno.test("loadRun() reads CSV when Arrow is absent, with the same values", async () => {
  await withRun({ arrow: false }, async (dir) => {
    const run = await loadRun(dir);
    assert.equal(run.formats.instances, "csv");
    assert.deepEqual(
      Array.from(numberColumn(run.instances, "boot_ms")),
      [100, 110, NaN, 130, 140, 150],
    );
    assert.equal(run.instances.get("error", 0), null);
    assert.equal(run.instances.get("outcome", 2), "timeout");
  });
});

Deno.test("loadRun() accepts a stream without its end-of-stream marker, with a warning", async () => {
  await withRun({ endMarker: false, batchRows: 2 }, async (dir) => {
    const run = await loadRun(dir);
    assert.equal(run.instances.numRows(), 6);
    assert.ok(run.warnings.some((w) => w.includes("no end-of-stream marker")));
  });
});

Deno.test("loadRun() rejects a truncated Arrow file, naming it, and salvage keeps complete batches", async () => {
  await withRun({ batchRows: 2 }, async (dir) => {
    const file = join(dir, "instances.arrow");
    const bytes = await Deno.readFile(file);
    const frames = frameIpcStream(bytes);
    assert.equal(frames.recordBatches, 3);
    assert.ok(frames.endMarker);
    // cut in the middle of the last record batch
    await Deno.writeFile(file, bytes.subarray(0, bytes.length - 40));
    await rejectsWith(
      loadRun(dir),
      file,
      "truncated",
      "after 2 complete record batches",
      "salvage",
    );
    const run = await loadRun(dir, { salvage: true });
    assert.equal(run.instances.numRows(), 4);
    assert.ok(run.warnings.some((w) => w.includes("salvage")));
    assert.ok(
      run.warnings.some((w) => w.includes("4 rows but run.json says count 6")),
    );
  });
});

Deno.test("loadRun() rejects an Arrow file cut inside its schema", async () => {
  await withRun({}, async (dir) => {
    const file = join(dir, "instances.arrow");
    const bytes = await Deno.readFile(file);
    await Deno.writeFile(file, bytes.subarray(0, 20));
    await rejectsWith(loadRun(dir), file, "truncated inside its schema");
  });
});

Deno.test("loadRun() rejects an empty or non-Arrow instances file", async () => {
  await withRun({}, async (dir) => {
    const file = join(dir, "instances.arrow");
    await Deno.writeFile(file, new Uint8Array());
    await rejectsWith(loadRun(dir), file, "empty");
    await Deno.writeTextFile(file, "instance,t_s_ms\n1,2\n");
    await rejectsWith(loadRun(dir), file, "not Arrow IPC stream data");
  });
});

Deno.test("loadRun() rejects a newer schema_version, naming run.json", async () => {
  await withRun({}, async (dir) => {
    const file = join(dir, "run.json");
    const rec = JSON.parse(await Deno.readTextFile(file));
    rec.schema_version = SCHEMA_VERSION + 1;
    await Deno.writeTextFile(file, JSON.stringify(rec));
    await rejectsWith(
      loadRun(dir),
      file,
      `schema_version ${SCHEMA_VERSION + 1} is newer`,
      "Update bootstorm",
    );
  });
});

Deno.test("fromRunJson() rejects missing keys and bad JSON", () => {
  assert.throws(
    () => fromRunJson('{"run_id":"a","count":1}', { file: "x/run.json" }),
    /"x\/run.json".*schema_version/,
  );
  assert.throws(() => fromRunJson('{"schema_version":1,"count":1}'), /run_id/);
  assert.throws(
    () => fromRunJson('{"schema_version":1,"run_id":"a"}'),
    /count/,
  );
  assert.throws(() => fromRunJson('{"schema_version":1,'), /not valid JSON/);
  assert.equal(
    fromRunJson('{"schema_version":1,"run_id":"a","count":0}').run_id,
    "a",
  );
});

Deno.test("loadRun() rejects an Arrow file with a missing column", async () => {
  await withRun({ omit: ["boot_ms"] }, async (dir) => {
    await rejectsWith(
      loadRun(dir),
      join(dir, "instances.arrow"),
      'missing column "boot_ms"',
    );
    await rejectsWith(
      loadRun(dir, { prefer: "csv" }),
      join(dir, "instances.csv"),
      'missing column "boot_ms"',
    );
  });
});

Deno.test("loadRun() rejects a column of the wrong type", async () => {
  await withRun({ types: { boot_ms: "utf8" }, csv: false }, async (dir) => {
    await rejectsWith(
      loadRun(dir),
      'column "boot_ms" is utf8, expected float64',
    );
  });
});

Deno.test("loadRun() rejects a truncated CSV row and a null in a non-null column", async () => {
  await withRun({ arrow: false }, async (dir) => {
    const file = join(dir, "instances.csv");
    const text = await Deno.readTextFile(file);
    await Deno.writeTextFile(file, text.slice(0, text.length - 30));
    await rejectsWith(loadRun(dir), file, /row 7/);
    const lines = text.trim().split("\n");
    const cells = lines[1].split(",");
    cells[INSTANCE_COLUMNS.findIndex((c) => c.name === "outcome")] = "";
    lines[1] = cells.join(",");
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    await rejectsWith(
      loadRun(dir),
      file,
      'column "outcome" is empty but can never be null',
    );
  });
});

Deno.test("loadRun() names the missing file or folder", async () => {
  await withRun({}, async (dir) => {
    await rejectsWith(loadRun(join(dir, "nope")), "no such folder");
    await Deno.remove(join(dir, "memory.arrow"));
    await Deno.remove(join(dir, "memory.csv"));
    await rejectsWith(loadRun(dir), "neither memory.arrow nor memory.csv");
    await Deno.remove(join(dir, "run.json"));
    await rejectsWith(
      loadRun(dir),
      join(dir, "run.json"),
      "run.json is missing",
      "loadSweep",
    );
  });
});

Deno.test("loadSweep() stacks every run folder below, zero-copy", async () => {
  const root = await Deno.makeTempDir({ prefix: "analysis_sweep_" });
  try {
    await Deno.writeTextFile(join(root, "sweep.json"), '{"name":"s"}');
    await writeRunFolder(join(root, "a"), fixture("a", 3), { batchRows: 2 });
    await writeRunFolder(join(root, "nested", "b"), fixture("b", 4));
    const set = await loadSweep(root);
    assert.deepEqual(set.sweep, { name: "s" });
    assert.equal(set.runs.length, 2);
    assert.equal(set.instances.numRows(), 7);
    assert.deepEqual(factorize(set.instances, "run_id").keys, ["a", "b"]);
    assert.ok(set.instances.column("run_id") instanceof RunLengthColumn);
    assert.deepEqual(
      Array.from(numberColumn(set.instances, "boot_ms")),
      [100, 110, NaN, 100, 110, NaN, 130],
    );
    const viaRuns = await loadRuns(join(root, "a"));
    assert.equal(viaRuns.runs.length, 1);
    await rejectsWith(
      loadSweep(join(root, "nested", "b", "..", "..", "missing")),
      "no such folder",
    );
    const empty = await Deno.makeTempDir({ dir: root });
    await rejectsWith(loadSweep(empty), "no run folder");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("numberColumn(), equalsMask() and factorize() respect filters and orderings", async () => {
  await withRun({ batchRows: 4 }, async (dir) => {
    const { instances } = await loadRun(dir);
    const t = instances.filter((d: { instance: number }) => d.instance >= 2)
      .orderby(aq.desc("instance"));
    assert.deepEqual(Array.from(numberColumn(t, "boot_ms")), [
      150,
      140,
      130,
      NaN,
    ]);
    assert.deepEqual(Array.from(equalsMask(t, "outcome", "ready")), [
      1,
      1,
      1,
      0,
    ]);
    assert.deepEqual(Array.from(factorize(t, "outcome").codes), [0, 0, 0, 1]);
  });
});

Deno.test("concatTables() chains Arrow batches and falls back to arrays", () => {
  const bytes = toArrowStream(
    instanceColumns([{ t_s_ms: 0, boot_ms: 5, concurrency_at_start: 0 }]),
    INSTANCE_COLUMNS,
  );
  const a = aq.fromArrow(bytes);
  const b = aq.table(
    Object.fromEntries(a.columnNames().map((n) => [n, [a.get(n, 0)]])),
  );
  const both = concatTables([a, a]);
  assert.equal(both.numRows(), 2);
  assert.deepEqual(Array.from(numberColumn(both, "boot_ms")), [5, 5]);
  const mixed = concatTables([a, b]);
  assert.deepEqual(Array.from(numberColumn(mixed, "boot_ms")), [5, 5]);
  assert.equal(mixed.get("outcome", 1), "ready");
});

Deno.test("loadRun() reads an older schema version and adds the newer columns as null", async () => {
  const v2 = INSTANCE_COLUMNS.filter((c) => columnSince(c) > 1).map((c) =>
    c.name
  );
  const fix = fixture();
  fix.record.schema_version = 1;
  await withRun({ omit: v2 }, async (dir) => {
    const run = await loadRun(dir);
    assert.deepEqual(
      run.instances.columnNames().slice(0, INSTANCE_COLUMNS.length).sort(),
      INSTANCE_COLUMNS.map((c) => c.name).sort(),
    );
    for (const name of v2) assert.equal(run.instances.get(name, 0), null);
    assert.equal(run.instances.get("boot_ms", 1), 110);
    const csv = await loadRun(dir, { prefer: "csv" });
    for (const name of v2) assert.equal(csv.instances.get(name, 0), null);
  }, fix);
  assert.equal(
    columnsOfVersion(INSTANCE_COLUMNS, SCHEMA_VERSION).length,
    INSTANCE_COLUMNS.length,
  );
});

Deno.test("loadRun() rejects a current-version file that lacks a column of its version", async () => {
  const v2 = INSTANCE_COLUMNS.filter((c) => columnSince(c) > 1).map((c) =>
    c.name
  );
  if (!v2.length) return;
  await withRun({ omit: [v2[0]] }, async (dir) => {
    await rejectsWith(
      loadRun(dir),
      `missing column "${v2[0]}"`,
      `schema version ${SCHEMA_VERSION}`,
    );
  });
});

Deno.test("loadRun({ columns }) reads big Arrow files column by column with the same values", async () => {
  const cols = [
    "boot_ms",
    "outcome",
    "concurrency_at_start",
    "error",
    "rss_peak_kib",
  ];
  await withRun({ batchRows: 2 }, async (dir) => {
    const full = await loadRun(dir);
    const part = await loadRun(dir, { columns: cols, projectMinBytes: 0 });
    assert.deepEqual(part.instances.columnNames(), [
      ...cols,
      "run_id",
      "image",
      "count_n",
    ]);
    for (const c of cols) {
      assert.deepEqual(part.instances.array(c), full.instances.array(c), c);
    }
    assert.deepEqual(part.warnings, []);
    assert.deepEqual(
      (await loadRun(dir, { columns: cols, prefer: "csv" })).instances
        .columnNames(),
      part.instances.columnNames(),
    );
    await assert.rejects(
      loadRun(dir, { columns: ["boot_mss"] }),
      /"boot_mss": not instance columns/,
    );
  });
});

Deno.test("loadRun({ columns }) still checks the schema and the stream's end", async () => {
  const cols = ["boot_ms", "outcome"];
  await withRun({ omit: ["t_s_ms"] }, async (dir) => {
    await rejectsWith(
      loadRun(dir, { columns: cols, projectMinBytes: 0 }),
      'missing column "t_s_ms"',
    );
  });
  await withRun({ types: { outcome: "float64" } }, async (dir) => {
    await rejectsWith(
      loadRun(dir, { columns: cols, projectMinBytes: 0 }),
      'column "outcome" is float64, expected utf8',
    );
  });
  await withRun({ batchRows: 2, endMarker: false }, async (dir) => {
    const run = await loadRun(dir, { columns: cols, projectMinBytes: 0 });
    assert.equal(run.instances.numRows(), 6);
    assert.ok(run.warnings.some((w) => w.includes("no end-of-stream marker")));
    const file = join(dir, "instances.arrow");
    const bytes = await Deno.readFile(file);
    await Deno.writeFile(file, bytes.subarray(0, bytes.length - 30));
    await rejectsWith(
      loadRun(dir, { columns: cols, projectMinBytes: 0 }),
      file,
      "truncated",
      "after 2 complete record batches",
    );
    const salvaged = await loadRun(dir, {
      columns: cols,
      projectMinBytes: 0,
      salvage: true,
    });
    assert.equal(salvaged.instances.numRows(), 4);
  });
});
