/** The self-contained HTML report. */
import "@uwdata/flechette";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadSweep } from "../analysis/load.ts";
import { datasetFigures, svgDocument } from "../analysis/figures/mod.ts";
import { escapeHtml, inlineSvg, reportHtml } from "../analysis/report.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const FIXTURE = join(ROOT, "tests/testdata/figures");

/** Every http(s) URL in `text`. SVG namespace declarations would be allowed, but the report drops them. */
function urls(text: string): string[] {
  return [...text.matchAll(/https?:\/\/[^\s"'<>)]*/g)].map((m) => m[0]);
}

Deno.test("reportHtml() inlines every figure, the summary and the run records, with no URL", async () => {
  const set = await loadSweep(FIXTURE);
  const figures = datasetFigures(set, { document: svgDocument() });
  const html = reportHtml(set, { figures, source: "tests/testdata/figures" });
  assert.ok(html.startsWith("<!DOCTYPE html>"));
  for (const f of figures) {
    assert.ok(html.includes(`<figure id="fig-${f.name}">`), f.name);
    assert.ok(html.includes(inlineSvg(f.svg)), `${f.name} inline`);
  }
  assert.equal((html.match(/<svg /g) ?? []).length, figures.length);
  for (const r of set.runs) {
    assert.ok(html.includes(`<details id="run-${r.record.run_id}">`));
    assert.ok(html.includes(`<td class="t">${r.record.run_id}</td>`));
  }
  assert.deepEqual(urls(html), []);
  assert.doesNotMatch(html, /<(script|link|img|iframe)\b/i);
  assert.doesNotMatch(
    html,
    /url\((?!#)/,
    "no CSS url() other than in-document references",
  );
});

Deno.test("reportHtml() is the same string for the same data", async () => {
  const set = await loadSweep(FIXTURE);
  const a = reportHtml(set, { figures: datasetFigures(set) });
  const b = reportHtml(set, { figures: datasetFigures(set) });
  assert.equal(a, b);
});

Deno.test("escapeHtml() and inlineSvg() keep markup out of text and the namespace out of the page", () => {
  assert.equal(
    escapeHtml(`<a href="x">&`),
    "&lt;a href=&quot;x&quot;&gt;&amp;",
  );
  assert.equal(
    inlineSvg('<svg width="1" xmlns="http://www.w3.org/2000/svg"><g/></svg>'),
    '<svg width="1"><g/></svg>',
  );
});

Deno.test("deno task report writes report.html next to the dataset (CLI)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bootstorm-report-" });
  try {
    for await (const e of Deno.readDir(FIXTURE)) {
      if (!e.isDirectory) continue;
      await Deno.mkdir(join(dir, e.name));
      for (const f of ["run.json", "instances.csv", "memory.csv"]) {
        await Deno.copyFile(join(FIXTURE, e.name, f), join(dir, e.name, f));
      }
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(ROOT, "cli/report.ts"), dir],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.equal(
      new TextDecoder().decode(out.stdout).trim(),
      join(dir, "report.html"),
    );
    const html = await Deno.readTextFile(join(dir, "report.html"));
    assert.ok(html.includes('<figure id="fig-concurrency-bins">'));
    assert.deepEqual(urls(html), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
