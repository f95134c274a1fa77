/**
 * The phases figure: SVG snapshot on the fixed phase dataset
 * (tests/testdata/phases/v2, made by make_fixture.py there), and its place
 * in datasetFigures and the report. Update the snapshot after an intended
 * change with `UPDATE_SNAPSHOTS=1 deno test -A tests/figures_phases_test.ts`.
 */
import "@uwdata/flechette";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadSweep } from "../analysis/load.ts";
import { phasesOfRuns } from "../analysis/phases.ts";
import {
  datasetFigures,
  phasesFigure,
  svgDocument,
} from "../analysis/figures/mod.ts";
import { reportHtml } from "../analysis/report.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const V2 = join(ROOT, "tests/testdata/phases/v2");
const V1 = join(ROOT, "tests/testdata/phases/v1");
const SNAPSHOT = join(ROOT, "tests/__snapshots__/figures_phases.svg");
const UPDATE = Deno.env.get("UPDATE_SNAPSHOTS") === "1";

Deno.test("phasesFigure() matches its snapshot", async () => {
  const set = await loadSweep(V2);
  const svg = phasesFigure(phasesOfRuns(set.runs), { document: svgDocument() });
  assert.match(svg, /^<svg [^>]*width="720"/);
  for (
    const text of [
      "QEMU start-up (T_s → T_K)",
      "firmware to first output",
      "first output to kernel marks",
      "kernel to ready",
      "alpine-linux (no T_K)",
      "7.45 s", // median boot of alpine-linux in phase mode
      "255 ms", // median boot of minkernel in phase mode
    ]
  ) {
    assert.ok(svg.includes(text), text);
  }
  if (UPDATE) {
    await Deno.writeTextFile(SNAPSHOT, svg + "\n");
    return;
  }
  let expected: string;
  try {
    expected = (await Deno.readTextFile(SNAPSHOT)).replace(/\n$/, "");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `No snapshot ${SNAPSHOT}: create it with UPDATE_SNAPSHOTS=1 deno test -A tests/figures_phases_test.ts`,
      );
    }
    throw e;
  }
  if (svg !== expected) {
    let i = 0;
    while (i < svg.length && svg[i] === expected[i]) i++;
    const actual = await Deno.makeTempFile({
      prefix: "figures_phases_",
      suffix: ".svg",
    });
    await Deno.writeTextFile(actual, svg + "\n");
    assert.fail(
      `phases: SVG differs from ${SNAPSHOT} at character ${i}:\n  expected …${
        expected.slice(Math.max(0, i - 40), i + 60)
      }…\n  actual   …${svg.slice(Math.max(0, i - 40), i + 60)}…\n` +
        `actual SVG written to ${actual}; if the change is intended, run UPDATE_SNAPSHOTS=1 deno test -A tests/figures_phases_test.ts`,
    );
  }
});

Deno.test("phasesFigure() is the same string whatever was drawn before", async () => {
  const set = await loadSweep(V2);
  const phases = phasesOfRuns(set.runs);
  const a = phasesFigure(phases);
  const b = phasesFigure(phases, { document: svgDocument() });
  assert.equal(a, b);
  assert.doesNotMatch(a, /plot-(clip|marker|pattern)-\d/);
});

Deno.test("phasesFigure() refuses a dataset without phase data, naming the fix", async () => {
  const set = await loadSweep(V1);
  assert.throws(
    () => phasesFigure(set.instances),
    /no ready instance has phase data.*--phases/,
  );
});

Deno.test("datasetFigures() and reportHtml() include the phases only when there is phase data", async () => {
  const v2 = await loadSweep(V2);
  const figures = datasetFigures(v2, { document: svgDocument() });
  const phases = figures.find((f) => f.name === "phases");
  assert.ok(phases, figures.map((f) => f.name).join(", "));
  assert.equal(phases.svg, phasesFigure(phasesOfRuns(v2.runs)));
  const html = reportHtml(v2, { figures });
  assert.ok(html.includes('<h2 id="phases">Phases</h2>'));
  assert.ok(html.includes('<a href="#phases">'));
  assert.ok(html.includes('<figure id="fig-phases">'));

  const v1 = await loadSweep(V1);
  const old = datasetFigures(v1, { document: svgDocument() });
  assert.equal(old.some((f) => f.name === "phases"), false);
  const oldHtml = reportHtml(v1, { figures: old });
  assert.equal(oldHtml.includes('id="phases"'), false);
});
