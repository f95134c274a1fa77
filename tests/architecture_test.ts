/**
 * The house's dependency rules, checked on every module's imports:
 * `dataset/` (the contract) imports nothing of the project; `launcher/` and
 * `analysis/` meet only in `dataset/` and never import each other; neither
 * imports an entry point (`cli/`) or an orchestrator above them (`slurm/`,
 * `warehouse/`); `images/` depends on the launcher's profile type at most;
 * nothing but `cli/` imports `cli/`; benchmarks never import tests.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { ROOT } from "./helpers.ts";

/** Every .ts file below a folder. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(join(ROOT, dir))) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...tsFiles(p));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** The project files a file imports (static and dynamic, relative specifiers). */
export function projectImports(file: string): string[] {
  const text = Deno.readTextFileSync(join(ROOT, file));
  const out: string[] = [];
  const re =
    /(?:^|[^\w.])(?:import|export)\s*(?:type\s+)?(?:[^"'();]*?\s+from\s+)?\(?\s*["'](\.{1,2}\/[^"']+)["']/gm;
  for (const m of text.matchAll(re)) {
    out.push(normalize(join(dirname(file), m[1])));
  }
  return out;
}

const top = (f: string) => f.split("/")[0];

function violations(
  dir: string,
  allowed: (target: string, file: string) => boolean,
): string[] {
  const bad: string[] = [];
  for (const f of tsFiles(dir)) {
    for (const t of projectImports(f)) {
      if (!allowed(t, f)) bad.push(`${f} imports ${relative(".", t)}`);
    }
  }
  return bad;
}

Deno.test("projectImports() finds static, type-only and dynamic imports", () => {
  const f = "tests/architecture_test.ts";
  assert.deepEqual(projectImports(f), ["tests/helpers.ts"]);
});

Deno.test("dataset/ imports nothing of the project but itself", () => {
  assert.deepEqual(violations("dataset", (t) => top(t) === "dataset"), []);
});

Deno.test("launcher/ imports only itself and dataset/", () => {
  assert.deepEqual(
    violations("launcher", (t) => ["launcher", "dataset"].includes(top(t))),
    [],
  );
});

Deno.test("analysis/ imports only itself and dataset/", () => {
  assert.deepEqual(
    violations("analysis", (t) => ["analysis", "dataset"].includes(top(t))),
    [],
  );
});

Deno.test("images/ imports only itself, dataset/ and the launcher's profile type", () => {
  assert.deepEqual(
    violations(
      "images",
      (t) =>
        ["images", "dataset"].includes(top(t)) || t === "launcher/profile.ts",
    ),
    [],
  );
});

Deno.test("only cli/ imports cli/, and benchmarks do not import tests", () => {
  const dirs = [
    "dataset",
    "launcher",
    "analysis",
    "images",
    "slurm",
    "warehouse",
    "bench",
  ];
  const bad = dirs.flatMap((d) =>
    violations(
      d,
      (t) => top(t) !== "cli" && !(d === "bench" && top(t) === "tests"),
    )
  );
  assert.deepEqual(bad, []);
});

Deno.test("analysis/figures/ stays pure: no file, process or clock access, no import of the I/O edge", () => {
  const io =
    /\bDeno\.(?:read|write|mkdir|remove|open|create|stat|lstat|Command|run|env|now)|\bperformance\.now\(|\bDate\.now\(|from\s+["']node:(?:fs|child_process)/;
  const bad: string[] = [];
  for (const f of tsFiles("analysis/figures")) {
    // Only code counts: drop comments (JSDoc examples may show how to write a file).
    const code = Deno.readTextFileSync(join(ROOT, f))
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/^\s*\/\/.*$/gm, "");
    if (io.test(code)) bad.push(`${f}: ${code.match(io)![0]}`);
    for (const t of projectImports(f)) {
      if (t === "analysis/write_figures.ts" || top(t) === "cli") {
        bad.push(`${f} imports ${t}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});
