/**
 * The steps with two engines (arquero verbs, and the typed-array fast path
 * they take from 100,000 rows) give the same tables: random tables with
 * nulls, failures, interleaved or missing runs, ordered and filtered views,
 * and Arrow-loaded sweeps. Plus the arquero pitfalls the verbs work around.
 *
 * It sits next to the code because this branch may only change analysis/:
 * `deno test -A analysis/engines_test.ts` (it belongs in tests/, where
 * `deno task test` will pick it up).
 */
import "@uwdata/flechette";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import * as aq from "arquero";
import {
  bootingOverTime,
  concurrencyBins,
  ecdf,
  loadSweep,
  memoryPeak,
  summarize,
  type Table,
} from "../analysis/mod.ts";
import { mulberry32 } from "../dataset/prng.ts";

const rand = mulberry32(2024);
const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)];
const maybe = <T>(p: number, v: T): T | null => (rand() < p ? null : v);

/** An instances table of n rows over runs a–d (two images), with gaps. */
function instances(n: number, withRun: boolean, interleaved: boolean): Table {
  let run = Array.from({ length: n }, () => pick(["a", "b", "c", "d"]));
  if (!interleaved) run = run.sort();
  const ts = run.map(() => Math.round(rand() * 200));
  const boot = run.map(() => maybe(0.1, Math.round(rand() * 1000) / 4));
  const cols: Record<string, unknown[]> = {
    instance: run.map((_, i) => i),
    image: run.map((r) => (r < "c" ? "img1" : "img2")),
    count_n: run.map(() => n),
    t_s_ms: ts,
    concurrency_at_start: run.map(() => maybe(0.05, Math.floor(rand() * 90))),
    boot_ms: boot,
    first_output_boot_ms: boot.map((b) => (b === null ? null : b * 0.9)),
    boot_end_ms: boot.map((b, i) =>
      b === null ? maybe(0.5, ts[i] + 300) : ts[i] + b
    ),
    rss_peak_kib: run.map(() => maybe(0.1, Math.round(rand() * 5000))),
    outcome: boot.map((b) =>
      b === null ? pick(["timeout", "spawn_failed"]) : "ready"
    ),
  };
  if (withRun) cols.run_id = run;
  return aq.table(cols);
}

function memory(n: number): Table {
  const run = Array.from({ length: n }, () => pick(["a", "b", "c", "e"]))
    .sort();
  return aq.table({
    run_id: run,
    t_ms: run.map(() => Math.round(rand() * 200)),
    used_kib: run.map(() => maybe(0.05, Math.round(rand() * 50) * 100)),
    booting: run.map(() => maybe(0.05, Math.floor(rand() * 5))),
  });
}

const rows = (t: Table) => ({ columns: t.columnNames(), rows: t.objects() });

/** Random tables, some ordered or filtered, each with a memory table. */
function cases(): { t: Table; m: Table; width: number }[] {
  const out = [];
  for (let k = 0; k < 60; k++) {
    let t = instances(Math.floor(rand() * 150), rand() > 0.15, rand() < 0.5);
    if (k % 5 === 3) t = t.orderby("t_s_ms");
    if (k % 5 === 4) t = t.filter((d: { t_s_ms: number }) => d.t_s_ms > 20);
    out.push({ t, m: memory(Math.floor(rand() * 40)), width: 1 + k % 33 });
  }
  return out;
}

Deno.test("concurrencyBins() gives the same table with arquero verbs and the typed path", () => {
  for (const { t, width } of cases()) {
    assert.deepEqual(
      rows(concurrencyBins(t, { width, engine: "arquero" })),
      rows(concurrencyBins(t, { width, engine: "typed" })),
    );
  }
});

Deno.test("summarize() gives the same table with arquero verbs and the typed path, per run and per image, with memory", () => {
  for (const { t, m } of cases()) {
    for (const by of ["run", "image"] as const) {
      for (const mem of [undefined, m]) {
        assert.deepEqual(
          rows(summarize(t, { by, memory: mem, engine: "arquero" })),
          rows(summarize(t, { by, memory: mem, engine: "typed" })),
        );
      }
    }
  }
});

Deno.test("memoryPeak() counts the instances booting at the peak the same way with both engines", () => {
  for (const { t, m } of cases()) {
    assert.deepEqual(
      rows(memoryPeak(m, t, { engine: "arquero" })),
      rows(memoryPeak(m, t, { engine: "typed" })),
    );
  }
});

Deno.test("concurrencyBins() and summarize() read Arrow-loaded sweeps the same way with both engines", async () => {
  for (const name of ["v2", "v1"]) {
    const set = await loadSweep(
      fileURLToPath(
        new URL(`../tests/testdata/phases/${name}`, import.meta.url),
      ),
    );
    for (const width of [1, 2, 32]) {
      assert.deepEqual(
        rows(concurrencyBins(set.instances, { width, engine: "arquero" })),
        rows(concurrencyBins(set.instances, { width, engine: "typed" })),
      );
    }
    for (const by of ["run", "image"] as const) {
      const memory = set.memory;
      assert.deepEqual(
        rows(summarize(set.instances, { by, memory, engine: "arquero" })),
        rows(summarize(set.instances, { by, memory, engine: "typed" })),
      );
    }
  }
});

Deno.test("ecdf() gives a tied smallest value its whole share (arquero's cume_dist gives it 1/n)", () => {
  const t = aq.table({
    run_id: ["a", "a", "a", "a"],
    outcome: ["ready", "ready", "ready", "ready"],
    boot_ms: [5, 5, 7, 9],
  });
  // by hand: P(X ≤ 5) = 2/4, P(X ≤ 7) = 3/4, P(X ≤ 9) = 1
  assert.deepEqual(ecdf(t).array("p"), [0.5, 0.75, 1]);
});

Deno.test("an empty table without run_id is still one run for summarize() and bootingOverTime()", () => {
  const empty = aq.table({
    outcome: ["ready"],
    boot_ms: [1],
    first_output_boot_ms: [1],
    rss_peak_kib: [1],
    t_s_ms: [0],
    boot_end_ms: [1],
  }).filter(() => false);
  for (const engine of ["arquero", "typed"] as const) {
    const s = summarize(empty, { engine }).objects() as Record<
      string,
      unknown
    >[];
    assert.equal(s.length, 1);
    assert.equal(s[0].run_id, null);
    assert.equal(s[0].n, 0);
    assert.equal(s[0].median_ms, null);
  }
  assert.deepEqual(bootingOverTime(empty).objects(), [
    { run_id: null, t_ms: 0, booting: 0 },
  ]);
});
