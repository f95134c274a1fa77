/**
 * SVG snapshot tests of every figure on the fixed dataset in
 * tests/testdata/figures/ (synthetic, made once by make_fixture.py).
 * Update the snapshots after an intended change with
 * `UPDATE_SNAPSHOTS=1 deno test -A tests/figures_svg_test.ts`.
 */
import "@uwdata/flechette";
import assert from "node:assert/strict";
import { join } from "node:path";
import { concurrencyBins } from "../analysis/bins.ts";
import { buildReference, classify } from "../analysis/classify.ts";
import { bootMemoryCorrelation } from "../analysis/correlation.ts";
import { loadSweep, type RunSet } from "../analysis/load.ts";
import { summarize } from "../analysis/summary.ts";
import {
  bootMemoryFigure,
  concurrencyBinsFigure,
  datasetFigures,
  ecdfFigure,
  featurePoints,
  featureSpaceFigure,
  svgDocument,
  timelineFigure,
} from "../analysis/figures/mod.ts";
import { decimate } from "../analysis/figures/timeline_figure.ts";
import { normalizeIds } from "../analysis/figures/compose.ts";

const ROOT = new URL("..", import.meta.url).pathname;
export const FIXTURE = join(ROOT, "tests/testdata/figures");
const SNAPSHOTS = join(ROOT, "tests/__snapshots__");
const UPDATE = Deno.env.get("UPDATE_SNAPSHOTS") === "1";

let cached: RunSet | null = null;
async function fixture(): Promise<RunSet> {
  cached ??= await loadSweep(FIXTURE);
  return cached;
}

/** Compare `svg` with tests/__snapshots__/figures_<name>.svg (write it with UPDATE_SNAPSHOTS=1). */
async function assertSnapshot(name: string, svg: string): Promise<void> {
  const file = join(SNAPSHOTS, `figures_${name}.svg`);
  if (UPDATE) {
    await Deno.mkdir(SNAPSHOTS, { recursive: true });
    await Deno.writeTextFile(file, svg + "\n");
    return;
  }
  let expected: string;
  try {
    expected = (await Deno.readTextFile(file)).replace(/\n$/, "");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `No snapshot ${file}: create it with UPDATE_SNAPSHOTS=1 deno test -A tests/figures_svg_test.ts`,
      );
    }
    throw e;
  }
  if (svg !== expected) {
    let i = 0;
    while (i < svg.length && svg[i] === expected[i]) i++;
    const actual = await Deno.makeTempFile({
      prefix: `figures_${name}_`,
      suffix: ".svg",
    });
    await Deno.writeTextFile(actual, svg + "\n");
    assert.fail(
      `${name}: SVG differs from ${file} at character ${i}:\n  expected …${
        expected.slice(Math.max(0, i - 40), i + 60)
      }…\n  actual   …${svg.slice(Math.max(0, i - 40), i + 60)}…\n` +
        `actual SVG written to ${actual}; if the change is intended, run UPDATE_SNAPSHOTS=1 deno test -A tests/figures_svg_test.ts`,
    );
  }
}

Deno.test("timelineFigure() matches its snapshot", async () => {
  const set = await fixture();
  const run = set.runs.find((r) => r.record.profile?.name === "debian-linux")!;
  const svg = timelineFigure(run, { document: svgDocument() });
  const root = svg.match(/^<svg [^>]*>/)?.[0] ?? "";
  assert.match(root, / xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(root, / width="720"/);
  assert.match(root, / font-family="DejaVu Sans, sans-serif"/);
  await assertSnapshot("timeline", svg);
});

Deno.test("concurrencyBinsFigure() matches its snapshot", async () => {
  const set = await fixture();
  const svg = concurrencyBinsFigure(
    concurrencyBins(set.instances, { width: 2 }),
    {
      document: svgDocument(),
    },
  );
  await assertSnapshot("concurrency_bins", svg);
});

Deno.test("bootMemoryFigure() matches its snapshot", async () => {
  const set = await fixture();
  const summary = summarize(set.instances, { memory: set.memory });
  const svg = bootMemoryFigure(summary, {
    document: svgDocument(),
    correlation: bootMemoryCorrelation(summary, { seed: 1, resamples: 200 }),
  });
  assert.match(svg, /Spearman ρ = 1\.00 \[/);
  await assertSnapshot("boot_memory", svg);
});

Deno.test("ecdfFigure() matches its snapshot", async () => {
  const set = await fixture();
  const svg = ecdfFigure(set.instances, { document: svgDocument() });
  await assertSnapshot("ecdf", svg);
});

Deno.test("featureSpaceFigure() matches its snapshot", async () => {
  const set = await fixture();
  const osv = set.runs.find((r) => r.record.profile?.name === "osv")!;
  const reference = buildReference(set.runs.filter((r) => r !== osv));
  const verdict = classify(osv, reference);
  const points = featurePoints(reference, {
    x: "log_boot_ratio",
    y: "log_mem_ratio",
    classification: verdict,
  });
  assert.equal(points.filter((p) => p.highlight).length, 1);
  const svg = featureSpaceFigure(points, {
    document: svgDocument(),
    xFeature: "log_boot_ratio",
    yFeature: "log_mem_ratio",
  });
  assert.match(svg, /osv → /);
  await assertSnapshot("feature_space", svg);
});

Deno.test("datasetFigures() draws the same strings twice, whatever was drawn before", async () => {
  const set = await fixture();
  const a = datasetFigures(set, { document: svgDocument() });
  const b = datasetFigures(set);
  assert.deepEqual(a.map((f) => f.name), [
    ...set.runs.map((r) => `timeline-${r.record.run_id}`),
    "concurrency-bins",
    "ecdf",
    "boot-memory",
    "feature-space",
  ]);
  assert.deepEqual(b.map((f) => f.svg), a.map((f) => f.svg));
  for (const f of a) {
    assert.doesNotMatch(f.svg, /plot-(clip|marker|pattern)-\d/, f.name);
    assert.doesNotMatch(
      f.svg,
      /system-ui/,
      `${f.name} uses the fixed font only`,
    );
  }
});

Deno.test("normalizeIds() renumbers Plot ids by first appearance", () => {
  assert.equal(
    normalizeIds(
      '<clipPath id="plot-clip-7"/><g clip-path="url(#plot-clip-7)"/><x id="plot-clip-3"/><m id="plot-marker-9"/>',
    ),
    '<clipPath id="bs-clip-1"/><g clip-path="url(#bs-clip-1)"/><x id="bs-clip-2"/><m id="bs-marker-1"/>',
  );
});

Deno.test("decimate() keeps the lowest and highest point of each bucket in time order", () => {
  const t = Array.from({ length: 100 }, (_, i) => i);
  const v = t.map((i) => (i === 10 ? 1000 : i === 60 ? -5 : i % 7));
  const d = decimate(t, v, 4);
  assert.ok(d.t.length <= 8);
  assert.ok(d.v.includes(1000) && d.v.includes(-5));
  assert.deepEqual(d.t, [...d.t].sort((a, b) => a - b));
  assert.deepEqual(decimate([0, 1, 2], [5, 9, 1], 4), {
    t: [0, 1, 2],
    v: [5, 9, 1],
  });
});

Deno.test("timelineFigure() asks for a runId when the tables hold several runs", async () => {
  const set = await fixture();
  assert.throws(() => timelineFigure(set), /pass \{ runId \}/);
  const svg = timelineFigure(set, { runId: set.runs[1].record.run_id });
  assert.match(svg, /<svg /);
});
