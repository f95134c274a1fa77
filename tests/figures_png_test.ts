/** PNG rendering of the figures (resvg + DejaVu Sans) and `writeFigures`. */
import "@uwdata/flechette";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadSweep } from "../analysis/load.ts";
import {
  ecdfFigure,
  svgDocument,
  timelineFigure,
} from "../analysis/figures/mod.ts";
import { writeFigures } from "../analysis/write_figures.ts";
import { pngSize, renderPng, svgSize } from "../analysis/render.ts";

const FIXTURE = new URL("./testdata/figures", import.meta.url).pathname;

Deno.test("renderPng() draws a figure at its SVG width and height", async () => {
  const set = await loadSweep(FIXTURE);
  const svg = timelineFigure(set.runs[0], {
    document: svgDocument(),
    width: 640,
  });
  const size = svgSize(svg);
  assert.equal(size.width, 640);
  const png = await renderPng(svg);
  assert.deepEqual(pngSize(png), size);
  const double = await renderPng(svg, { scale: 2 });
  assert.deepEqual(pngSize(double), {
    width: 2 * size.width,
    height: 2 * size.height,
  });
});

Deno.test("renderPng() draws text (the font loads)", async () => {
  const set = await loadSweep(FIXTURE);
  const withText = ecdfFigure(set.instances, { document: svgDocument() });
  const noText = withText.replace(/<text\b[^>]*>[^<]*<\/text>/g, "");
  // a rendering without any glyph compresses to far fewer bytes
  const a = await renderPng(withText);
  const b = await renderPng(noText);
  assert.ok(
    a.length > b.length * 1.2,
    `with text ${a.length} bytes, without ${b.length}`,
  );
});

Deno.test("pngSize() rejects bytes that are not a PNG", () => {
  assert.throws(
    () => pngSize(new TextEncoder().encode("<svg></svg>")),
    /PNG signature/,
  );
});

Deno.test("writeFigures() writes an SVG and a PNG per figure into <dir>/figures", async () => {
  const out = await Deno.makeTempDir({ prefix: "bootstorm-figures-" });
  try {
    const { figures, files } = await writeFigures(FIXTURE, { out, scale: 1 });
    assert.equal(files.length, 2 * figures.length);
    for (const f of figures) {
      const svg = await Deno.readTextFile(join(out, `${f.name}.svg`));
      const png = await Deno.readFile(join(out, `${f.name}.png`));
      assert.deepEqual(pngSize(png), svgSize(svg), f.name);
    }
    assert.ok(figures.some((f) => f.name === "concurrency-bins"));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
