import "@uwdata/flechette";
import assert from "node:assert/strict";
import { join } from "node:path";
import * as aq from "arquero";
import {
  BIN_COLUMNS,
  concurrencyBins,
  loadSweep,
  type Table,
} from "../analysis/mod.ts";
import {
  instanceColumns,
  type InstanceInput,
  writeRunFolder,
} from "../dataset/synthetic_run.ts";

/** Run "a": bins [0,4) and [8,12) filled, [4,8) empty, one timeout in [8,12). */
const RUN_A: InstanceInput[] = [
  { t_s_ms: 0, boot_ms: 100, concurrency_at_start: 0 },
  { t_s_ms: 1, boot_ms: 130, concurrency_at_start: 1 },
  { t_s_ms: 2, boot_ms: 110, concurrency_at_start: 2 },
  { t_s_ms: 3, boot_ms: 190, concurrency_at_start: 3 },
  { t_s_ms: 4, boot_ms: 400, concurrency_at_start: 8 },
  { t_s_ms: 5, boot_ms: 350, concurrency_at_start: 9 },
  { t_s_ms: 6, boot_ms: 500, concurrency_at_start: 9 },
  { t_s_ms: 7, boot_ms: 620, concurrency_at_start: 11 },
  { t_s_ms: 8, boot_ms: null, concurrency_at_start: 10, outcome: "timeout" },
];
/** Run "b": a single instance. */
const RUN_B: InstanceInput[] = [{
  t_s_ms: 0,
  boot_ms: 77,
  concurrency_at_start: 0,
}];
/** Run "c": every instance failed. */
const RUN_C: InstanceInput[] = [
  {
    t_s_ms: 0,
    boot_ms: null,
    concurrency_at_start: 0,
    outcome: "spawn_failed",
  },
  {
    t_s_ms: 1,
    boot_ms: null,
    concurrency_at_start: 5,
    outcome: "exited_before_ready",
  },
];

function runTable(id: string, rows: InstanceInput[]): Table {
  const cols = instanceColumns(rows);
  const n = rows.length;
  return aq.table({
    ...cols,
    run_id: Array(n).fill(id),
    image: Array(n).fill(`img-${id}`),
    count_n: Array(n).fill(n),
  });
}

const ALL = runTable("a", RUN_A).concat(
  runTable("b", RUN_B),
  runTable("c", RUN_C),
);

// python3 -c "import numpy as np; print(np.quantile([100,130,110,190], [.25,.5,.75,.9,.99]))"
//   → [107.5, 120.0, 145.0, 172.0, 188.2]
// python3 -c "import numpy as np; print(np.quantile([400,350,500,620], [.25,.5,.75,.9,.99]))"
//   → [387.5, 450.0, 530.0, 584.0, 616.4]
const EXPECTED = [
  {
    run_id: "a",
    image: "img-a",
    count_n: 9,
    bin_lo: 0,
    bin_hi: 4,
    n: 4,
    min_ms: 100,
    p25_ms: 107.5,
    median_ms: 120,
    p75_ms: 145,
    p90_ms: 172,
    p99_ms: 188.2,
    max_ms: 190,
    not_ready: 0,
  },
  {
    run_id: "a",
    image: "img-a",
    count_n: 9,
    bin_lo: 4,
    bin_hi: 8,
    n: 0,
    min_ms: null,
    p25_ms: null,
    median_ms: null,
    p75_ms: null,
    p90_ms: null,
    p99_ms: null,
    max_ms: null,
    not_ready: 0,
  },
  {
    run_id: "a",
    image: "img-a",
    count_n: 9,
    bin_lo: 8,
    bin_hi: 12,
    n: 4,
    min_ms: 350,
    p25_ms: 387.5,
    median_ms: 450,
    p75_ms: 530,
    p90_ms: 584,
    p99_ms: 616.4,
    max_ms: 620,
    not_ready: 1,
  },
  {
    run_id: "b",
    image: "img-b",
    count_n: 1,
    bin_lo: 0,
    bin_hi: 4,
    n: 1,
    min_ms: 77,
    p25_ms: 77,
    median_ms: 77,
    p75_ms: 77,
    p90_ms: 77,
    p99_ms: 77,
    max_ms: 77,
    not_ready: 0,
  },
  {
    run_id: "c",
    image: "img-c",
    count_n: 2,
    bin_lo: 0,
    bin_hi: 4,
    n: 0,
    min_ms: null,
    p25_ms: null,
    median_ms: null,
    p75_ms: null,
    p90_ms: null,
    p99_ms: null,
    max_ms: null,
    not_ready: 1,
  },
  {
    run_id: "c",
    image: "img-c",
    count_n: 2,
    bin_lo: 4,
    bin_hi: 8,
    n: 0,
    min_ms: null,
    p25_ms: null,
    median_ms: null,
    p75_ms: null,
    p90_ms: null,
    p99_ms: null,
    max_ms: null,
    not_ready: 1,
  },
];

function assertRows(
  actual: Record<string, unknown>[],
  expected: Record<string, unknown>[],
) {
  assert.equal(actual.length, expected.length);
  actual.forEach((row, i) => {
    for (const [k, v] of Object.entries(expected[i])) {
      if (typeof v === "number") {
        assert.ok(
          Math.abs((row[k] as number) - v) < 1e-9,
          `row ${i} ${k}: ${row[k]} ≠ ${v}`,
        );
      } else assert.equal(row[k], v, `row ${i} ${k}`);
    }
  });
}

Deno.test("concurrencyBins() gives numpy's quantiles per bin, empty bins, a single instance and an all-failed run", () => {
  const bins = concurrencyBins(ALL, { width: 4 });
  assert.deepEqual(bins.columnNames(), [...BIN_COLUMNS]);
  assertRows(bins.objects() as Record<string, unknown>[], EXPECTED);
});

Deno.test("concurrencyBins() reads Arrow-loaded sweeps the same way", async () => {
  const root = await Deno.makeTempDir({ prefix: "analysis_bins_" });
  try {
    for (
      const [id, rows] of [["a", RUN_A], ["b", RUN_B], ["c", RUN_C]] as const
    ) {
      await writeRunFolder(join(root, id), {
        record: {
          run_id: id,
          count: rows.length,
          profile: { name: `img-${id}`, class: null },
        },
        instances: instanceColumns(rows),
        memory: { t_ms: [0], used_kib: [1], booting: [0] },
      }, { batchRows: 3 });
    }
    const set = await loadSweep(root);
    assertRows(
      concurrencyBins(set.instances, { width: 4 }).objects() as Record<
        string,
        unknown
      >[],
      EXPECTED,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("concurrencyBins() defaults to width 32 and bins first_output_boot_ms too", () => {
  const rows = RUN_A.map((r) => ({
    ...r,
    first_output_boot_ms: r.boot_ms === null ? null : r.boot_ms - 50,
  }));
  const t = runTable("a", rows);
  const bins = concurrencyBins(t, { value: "first_output_boot_ms" })
    .objects() as Record<string, number>[];
  assert.equal(bins.length, 1);
  assert.equal(bins[0].bin_hi, 32);
  assert.equal(bins[0].n, 8);
  assert.equal(bins[0].min_ms, 50);
  assert.equal(bins[0].max_ms, 570);
  // python3 -c "import numpy as np; print(np.median([50, 80, 60, 140, 350, 300, 450, 570]))" → 220.0
  assert.equal(bins[0].median_ms, 220);
});

Deno.test("concurrencyBins() treats a table without run columns as one run and rejects a bad width", () => {
  const t = aq.table(instanceColumns(RUN_B));
  const row = concurrencyBins(t).object(0) as Record<string, unknown>;
  assert.equal(row.run_id, null);
  assert.equal(row.count_n, 1);
  assert.equal(row.median_ms, 77);
  assert.equal(concurrencyBins(t.filter(() => false)).numRows(), 0);
  assert.throws(() => concurrencyBins(t, { width: 0 }), /positive number/);
});

Deno.test("concurrencyBins() gives the same bins when the runs' rows are interleaved", () => {
  const shuffled = ALL.orderby("t_s_ms", "instance");
  const rows = (concurrencyBins(shuffled, { width: 4 }).objects() as Record<
    string,
    unknown
  >[])
    .sort((x, y) =>
      String(x.run_id).localeCompare(String(y.run_id)) ||
      (x.bin_lo as number) - (y.bin_lo as number)
    );
  assertRows(rows, EXPECTED);
});
