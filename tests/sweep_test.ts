/** `deno task sweep` as a user runs it: dry run, a small real sweep, Ctrl-C and resume, pre-flight, bad flags. */
import { ensureImage } from "../images/ensure.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureMinkernel } from "../images/build.ts";
import { newSweep, runSweep, type SweepState } from "../launcher/sweep.ts";
import {
  estimateCell,
  expandGrid,
  preflightCell,
} from "../launcher/sweep_plan.ts";
import { readArrowRows, ROOT } from "./helpers.ts";
import { loadSweep } from "../analysis/load.ts";

await ensureMinkernel();
const CLI = join(ROOT, "cli/sweep.ts");

async function cli(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test("cli --dry-run prints the paper's default plan with estimates and starts nothing", async () => {
  const dir = await Deno.makeTempDir();
  const r = await cli(["--dry-run", "--out", dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Plan: 9 cells/);
  assert.match(r.stdout, /Scaled to this host/);
  assert.match(r.stdout, /c01\s+minkernel-microvm\s+every 5 ms\s+256/);
  for (const n of ["64", "128", "256"]) {
    assert.match(
      r.stdout,
      new RegExp(`minkernel-microvm\\s+back-to-back\\s+${n}\\s`),
    );
  }
  assert.match(r.stdout, /Estimated total: .*Nothing was started/);
  assert.equal([...Deno.readDirSync(dir)].length, 0, "no sweep folder written");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli sweep of two images × two counts writes a run folder per cell and the summary", async () => {
  const dir = await Deno.makeTempDir();
  const r = await cli([
    "--image",
    "minkernel-microvm",
    "--image",
    "minkernel-exit",
    "--count",
    "2",
    "--count",
    "3",
    "--back-to-back",
    "--accel",
    "tcg",
    "--out",
    dir,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const sweepDir = r.stdout.trim().split("\n").at(-1)!;
  const state: SweepState = JSON.parse(
    await Deno.readTextFile(join(sweepDir, "sweep.json")),
  );
  assert.equal(state.cells.length, 4);
  const runIds = new Set<string>();
  for (const c of state.cells) {
    assert.equal(c.state, "done");
    runIds.add(c.run_id!);
    assert.equal(readArrowRows(c.run_dir!, "instances").length, c.count);
  }
  assert.equal(runIds.size, 4, "one run folder per cell");
  const md = await Deno.readTextFile(join(sweepDir, "summary.md"));
  assert.match(
    md,
    /\| cell \| image \| pattern \| N \| ready \| failed \| min ms \| median ms \| max ms \| peak MiB/,
  );
  assert.equal(
    md.trim().split("\n").filter((l) => /^\| c0\d/.test(l)).length,
    4,
  );
  const json = JSON.parse(
    await Deno.readTextFile(join(sweepDir, "summary.json")),
  );
  assert.equal(json.cells.length, 4);
  for (const c of json.cells) {
    assert.equal(c.ready, c.n);
    assert.ok(
      c.boot_min_ms <= c.boot_median_ms && c.boot_median_ms <= c.boot_max_ms,
    );
    // Ready-on-exit instances may be gone before their VmHWM can be read.
    if (!c.image.startsWith("minkernel-exit")) {
      assert.ok(c.rss_median_kib > 1024);
    }
  }
  assert.match(
    r.stderr,
    /c04\s+minkernel-exit\s+back-to-back\s+3\s+3\s+0/,
    "summary table on the terminal",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli sweep interrupted by SIGINT resumes without redoing finished cells", async () => {
  const dir = await Deno.makeTempDir();
  const slow = join(dir, "slow.json");
  const flag = join(dir, "slow-now");
  // Boots in 0.3 s for its probe; never boots once the flag file exists.
  await Deno.writeTextFile(
    slow,
    JSON.stringify({
      name: "slow",
      argv: [
        "/bin/sh",
        "-c",
        `[ -e ${flag} ] && exec sleep 60; sleep 0.3; echo READY; exec sleep 60`,
      ],
      ready: { line: "READY" },
      timeoutMs: 60000,
    }),
  );
  const fast = join(dir, "fast.json");
  await Deno.writeTextFile(
    fast,
    JSON.stringify({
      name: "fast",
      argv: ["/bin/sh", "-c", "sleep 0.5; echo READY; exec sleep 60"],
      ready: { line: "READY" },
    }),
  );
  const plan = join(dir, "plan.json");
  // c01 fast (finishes), c02 slow (interrupted), c03 fast (never started before the interrupt).
  await Deno.writeTextFile(
    plan,
    JSON.stringify({
      cells: [
        { image: fast, count: 2, pattern: { kind: "back-to-back" } },
        { image: slow, count: 2, pattern: { kind: "back-to-back" } },
        { image: fast, count: 2, pattern: { kind: "back-to-back" } },
      ],
    }),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "--plan", plan, "--out", dir, "--accel", "tcg"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let sweepDir = "";
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    for (const e of Deno.readDirSync(dir)) {
      if (e.isDirectory) sweepDir = join(dir, e.name);
    }
    try {
      const s: SweepState = JSON.parse(
        Deno.readTextFileSync(join(sweepDir, "sweep.json")),
      );
      if (Object.keys(s.probes).length === 2) Deno.writeTextFileSync(flag, "");
      if (s.cells[1].state === "running") break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 500));
  child.kill("SIGINT");
  const out = await child.output();
  assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
  const before: SweepState = JSON.parse(
    await Deno.readTextFile(join(sweepDir, "sweep.json")),
  );
  assert.deepEqual(before.cells.map((c) => c.state), [
    "done",
    "partial",
    "pending",
  ]);
  const partialRun = JSON.parse(
    await Deno.readTextFile(join(before.cells[1].run_dir!, "run.json")),
  );
  assert.equal(partialRun.status, "partial");
  // The interrupted sweep loads: its two current runs, not the probes.
  const partial = await loadSweep(sweepDir);
  assert.deepEqual(
    partial.runs.map((r) => r.dir).sort(),
    [before.cells[0].run_dir, before.cells[1].run_dir].sort(),
  );
  // Resume with the slow guest fast again, so the sweep can finish.
  await Deno.remove(flag);
  const r = await cli(["--resume", sweepDir]);
  assert.equal(r.code, 0, r.stderr);
  const after: SweepState = JSON.parse(
    await Deno.readTextFile(join(sweepDir, "sweep.json")),
  );
  assert.deepEqual(after.cells.map((c) => c.state), ["done", "done", "done"]);
  assert.equal(
    after.cells[0].run_id,
    before.cells[0].run_id,
    "finished cell not redone",
  );
  assert.notEqual(
    after.cells[1].run_id,
    before.cells[1].run_id,
    "partial cell run again",
  );
  assert.deepEqual(after.cells[1].previous_runs, [before.cells[1].run_dir]);
  // The resumed sweep loads its cells' current runs: not the superseded
  // partial run, not the N=1 probes.
  const set = await loadSweep(sweepDir);
  assert.deepEqual(
    set.runs.map((r) => r.dir).sort(),
    after.cells.map((c) => c.run_dir).sort(),
  );
  assert.ok(!set.runs.some((r) => r.dir === before.cells[1].run_dir));
  assert.ok(!set.runs.some((r) => /[\/]probes[\/]/.test(r.dir)));
  assert.equal(set.instances.numRows(), 6);
  const analyze = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(ROOT, "cli/analyze.ts"),
      sweepDir,
      "--json",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(analyze.code, 0, new TextDecoder().decode(analyze.stderr));
  assert.deepEqual(
    JSON.parse(new TextDecoder().decode(analyze.stdout)).runs.sort(),
    after.cells.map((c) => c.run_id).sort(),
    "analyze counts the cells, not the probes",
  );
  const all = await loadSweep(sweepDir, { allRuns: true });
  assert.ok(all.runs.length > set.runs.length, "allRuns keeps the rest");
  assert.ok(all.runs.some((r) => r.dir === before.cells[1].run_dir));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("preflightCell() refuses a cell beyond available memory and names the largest N that fits", async () => {
  const [cell] = expandGrid({
    images: ["m"],
    counts: [1000],
    patterns: [{ kind: "back-to-back" }],
  });
  const est = estimateCell(cell, {
    bootMs: 100,
    rssKib: 40 * 1024,
    source: "probe",
  }, { cores: 2 });
  const p = preflightCell(cell, est, { availableKib: 10 * 1024 * 1024 });
  assert.equal(p.ok, false);
  assert.equal(p.largestN, Math.floor((10 * 1024 * 1024 * 0.9) / (40 * 1024)));
  assert.match(
    p.message!,
    /needs about 40000 MiB .* 10240 MiB is available.*largest N that fits is 230/,
  );
  // Real sweep: the probe measures the guest, then the huge cell is refused, nothing booted for it.
  const dir = await Deno.makeTempDir();
  const state = newSweep(
    expandGrid({
      images: ["minkernel-microvm"],
      counts: [1_000_000],
      patterns: [{ kind: "back-to-back" }],
    }),
    { accel: "tcg", timeoutMs: null, force: false },
  );
  await runSweep(state, dir, { prepare: ensureImage });
  assert.equal(state.cells[0].state, "refused");
  assert.match(state.cells[0].error!, /largest N that fits is \d+/);
  assert.equal(state.cells[0].run_dir, null);
  assert.ok(
    state.probes["minkernel-microvm"].rssKib > 1024,
    "probe measured QEMU's RSS",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli gives clear errors for invalid flags and unknown images", async () => {
  let r = await cli(["--count", "0"]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /Invalid --count "0": expected a positive whole number/,
  );
  r = await cli(["--interval", "-5"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Invalid --interval "-5"/);
  r = await cli(["--image", "nosuchos", "--count", "1", "--back-to-back"]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /Unknown image "nosuchos".*known profiles: .*minkernel/,
  );
  r = await cli(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Examples:/);
});
