import "@uwdata/flechette";
import assert from "node:assert/strict";
import * as aq from "arquero";
import {
  compareMedians,
  correlate,
  ecdf,
  outliers,
  summarize,
  type Table,
} from "../analysis/mod.ts";
import {
  instanceColumns,
  type InstanceInput,
} from "../dataset/synthetic_run.ts";

function runTable(id: string, image: string, rows: InstanceInput[]): Table {
  const n = rows.length;
  return aq.table({
    ...instanceColumns(rows),
    run_id: Array(n).fill(id),
    image: Array(n).fill(image),
    count_n: Array(n).fill(n),
  });
}

const BOOTS = [100, 130, 110, 190, 400, 350, 500, 620];
const RSS = [41000, 42000, 40500, 43000, 45000, 44000, 46000, 47000];
const A = runTable("a", "x", [
  ...BOOTS.map((b, i) => ({
    t_s_ms: i,
    boot_ms: b,
    concurrency_at_start: i,
    rss_peak_kib: RSS[i],
  })),
  {
    t_s_ms: 9,
    boot_ms: null,
    concurrency_at_start: 8,
    outcome: "timeout",
    rss_peak_kib: 99999,
  },
]);
const B = runTable("b", "x", [{
  t_s_ms: 0,
  boot_ms: 77,
  concurrency_at_start: 0,
  rss_peak_kib: 39000,
}]);

const near = (a: unknown, b: number, what: string) =>
  assert.ok(Math.abs((a as number) - b) < 1e-9, `${what}: ${a} ≠ ${b}`);

Deno.test("summarize() per run equals numpy on the ready instances", () => {
  const s = summarize(A.concat(B)).objects() as Record<string, unknown>[];
  // v = [100,130,110,190,400,350,500,620]
  // min(v), np.median(v), np.mean(v), max(v), np.quantile(v,.9), np.quantile(v,.99)
  //   → 100 270.0 300.0 620 536.0 611.5999999999999
  // np.median([41000,42000,40500,43000,45000,44000,46000,47000]) → 43500.0
  const a = s[0];
  assert.equal(a.run_id, "a");
  assert.equal(a.image, "x");
  assert.equal(a.count_n, 9);
  assert.equal(a.n, 9);
  assert.equal(a.ready, 8);
  assert.equal(a.failed, 1);
  near(a.min_ms, 100, "min");
  near(a.median_ms, 270, "median");
  near(a.mean_ms, 300, "mean");
  near(a.max_ms, 620, "max");
  near(a.p90_ms, 536, "p90");
  near(a.p99_ms, 611.5999999999999, "p99");
  near(a.rss_median_kib, 43500, "rss");
  near(a.first_output_median_ms, 270, "first output");
  assert.equal(s[1].median_ms, 77);
});

Deno.test("summarize() per image pools its runs, and adds memory columns", () => {
  const memory = aq.table({
    t_ms: [0, 10, 0, 10],
    used_kib: [1000, 1600, 1000, 1100],
    booting: [0, 2, 0, 1],
    run_id: ["a", "a", "b", "b"],
  });
  const s = summarize(A.concat(B), { by: "image", memory }).objects() as Record<
    string,
    unknown
  >[];
  assert.equal(s.length, 1);
  // p = v + [77]: np.median(p), np.mean(p), np.quantile(p,.9), np.quantile(p,.99)
  //   → 190.0 275.22222222222223 524.0 610.4; np.median(rss + [39000]) → 43000.0
  assert.equal(s[0].runs, 2);
  assert.equal(s[0].n, 10);
  assert.equal(s[0].ready, 9);
  near(s[0].median_ms, 190, "median");
  near(s[0].mean_ms, 275.22222222222223, "mean");
  near(s[0].p90_ms, 524, "p90");
  near(s[0].p99_ms, 610.4, "p99");
  near(s[0].rss_median_kib, 43000, "rss");
  // run a: peak 1600 at t=10, all 9 instances have t_s ≤ 10 < end → 600 / 9;
  // run b: peak 1100 at t=10, its one instance [0, 77) → 100 / 1; image: largest peak, median per instance
  assert.equal(s[0].peak_used_kib, 1600);
  near(s[0].per_booting_kib, (600 / 9 + 100) / 2, "per booting");
});

Deno.test("outliers() flags |modified z| > 3.5 within each run", () => {
  // same data as the modifiedZ() numpy check: z(25.0) = 50.25, z(3.0) = −23.94, others ≤ 1.01
  const z = [10.1, 10.4, 9.8, 10.0, 10.2, 9.9, 10.3, 25.0, 10.1, 3.0];
  const t = runTable(
    "a",
    "x",
    z.map((b, i) => ({ t_s_ms: i, boot_ms: b, concurrency_at_start: 0 })),
  )
    .concat(
      runTable("b", "x", [
        { t_s_ms: 0, boot_ms: 1000, concurrency_at_start: 0 },
        {
          t_s_ms: 1,
          boot_ms: null,
          concurrency_at_start: 0,
          outcome: "timeout",
        },
      ]),
    );
  const o = outliers(t).objects() as Record<string, unknown>[];
  assert.deepEqual(o.map((r) => r.outlier), [
    false,
    false,
    false,
    false,
    false,
    false,
    false,
    true,
    false,
    true,
    false,
    false,
  ]);
  near(o[7].modified_z, 50.25024999999996, "z");
  assert.equal(o[10].modified_z, 0);
  assert.equal(o[11].modified_z, null);
});

Deno.test("ecdf() steps over distinct values", () => {
  const t = runTable(
    "a",
    "x",
    [3, 1, 2, 2].map((b, i) => ({
      t_s_ms: i,
      boot_ms: b,
      concurrency_at_start: 0,
    })),
  );
  assert.deepEqual(ecdf(t).objects(), [
    { run_id: "a", boot_ms: 1, p: 0.25 },
    { run_id: "a", boot_ms: 2, p: 0.75 },
    { run_id: "a", boot_ms: 3, p: 1 },
  ]);
});

Deno.test("compareMedians() gives the difference of medians and the replayed permutation p-value", () => {
  // values and expected p from the permutationTest() check in analysis_stats_test.ts
  const pa = [101.0, 98.5, 103.2, 99.9, 100.4, 102.8, 97.6];
  const pb = [104.1, 106.3, 99.0, 108.8, 105.5, 103.9];
  const ta = runTable(
    "a",
    "img-a",
    pa.map((b, i) => ({ t_s_ms: i, boot_ms: b, concurrency_at_start: 0 })),
  );
  const tb = runTable(
    "b",
    "img-b",
    pb.map((b, i) => ({ t_s_ms: i, boot_ms: b, concurrency_at_start: 0 })),
  );
  const r = compareMedians(ta, tb, { permutations: 999, seed: 3 }).object(
    0,
  ) as Record<string, unknown>;
  assert.equal(r.a, "img-a");
  assert.equal(r.b, "img-b");
  assert.equal(r.n_a, 7);
  near(r.median_a, 100.4, "median a");
  near(r.median_b, 104.8, "median b");
  near(r.diff_ms, 4.3999999999999915, "diff");
  assert.equal(r.p_value, 0.049);
});

Deno.test("correlate() equals scipy and the replayed bootstrap", () => {
  // values and references from analysis_stats_test.ts (scipy.stats.pearsonr / spearmanr, np.polyfit)
  const t = aq.table({
    x: [1.2, 2.4, 3.1, 4.8, 5.0, 6.7, 7.1, 8.9, null],
    y: [2.0, 2.9, 3.9, 4.1, 6.2, 5.9, 8.1, 8.0, 3],
  });
  const r = correlate(t, "x", "y", { resamples: 500, seed: 7 }).object(
    0,
  ) as Record<string, unknown>;
  assert.equal(r.n, 8);
  near(r.pearson, 0.9430105196512677, "pearson");
  near(r.pearson_lo, 0.813528497581187, "pearson lo");
  near(r.pearson_hi, 0.997013505501306, "pearson hi");
  near(r.spearman, 0.9523809523809524, "spearman");
  near(r.spearman_lo, 0.6202531645569621, "spearman lo");
  near(r.slope, 0.8244500846023688, "slope");
  near(r.intercept, 1.097694585448394, "intercept");
});
