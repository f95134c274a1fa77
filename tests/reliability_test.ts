/**
 * Issue 13: nothing left behind, nothing unreadable, no silent failure.
 * Fault injection with real QEMU minkernel guests where a guest is
 * involved, fake guests (shell scripts) for the rest; processes are
 * checked through /proc.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureMinkernel } from "../images/build.ts";
import { launch } from "../launcher/launch.ts";
import { loadProfile, type Profile } from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { denoRunner, type ProcessRunner } from "../launcher/runner.ts";
import { holdReaper } from "../launcher/reaper.ts";
import { loadRun } from "../analysis/load.ts";
import { summarize } from "../analysis/summary.ts";
import { fakeProfile, ROOT } from "./helpers.ts";
import type { InstanceRow } from "../dataset/schema.ts";

const KERNEL = await ensureMinkernel();
const CLI = join(ROOT, "cli/sweep.ts");

/** Pids of live (non-zombie) processes whose command line contains `tag`. */
function processesWith(tag: string): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      if (!cmd.includes(tag)) continue;
      const st = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (st.slice(st.lastIndexOf(")") + 2)[0] !== "Z") {
        out.push(Number(e.name));
      }
    } catch { /* gone */ }
  }
  return out;
}

/** State letters (R, S, T…) of the processes with `tag`. */
function statesWith(tag: string): string[] {
  return processesWith(tag).map((pid) => {
    try {
      const st = Deno.readTextFileSync(`/proc/${pid}/stat`);
      return st.slice(st.lastIndexOf(")") + 2)[0];
    } catch {
      return "?";
    }
  });
}

async function until(
  what: string,
  ok: () => boolean,
  ms: number,
): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A minkernel-microvm profile on a copy of the kernel whose path carries `tag`. */
async function taggedProfile(
  dir: string,
  tag: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const image = join(dir, `minkernel-${tag}.elf`);
  await Deno.copyFile(KERNEL, image);
  const path = join(dir, `${tag}.json`);
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      name: tag,
      image,
      argv: [
        "qemu-system-x86_64",
        "${accel}",
        "-M",
        "microvm",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-m",
        "50",
        "-kernel",
        "${image}",
      ],
      ready: { line: "Hello" },
      ...extra,
    }),
  );
  return path;
}

function cli(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

for (const mode of ["fork", "prestart", "direct"] as const) {
  Deno.test(`cli SIGKILL of the launcher during a storm (${mode}) leaves no process of the run 2 s later`, async () => {
    const dir = await Deno.makeTempDir();
    const tag = `kill${mode}${crypto.randomUUID().slice(0, 8)}`;
    // Guests stay up until all are ready; one every second, so at the kill
    // some QEMUs run and (prestart) some starter shells are still stopped.
    const profile = await taggedProfile(dir, tag, {
      teardown: "hold-until-all-ready",
    });
    const child = cli([
      "--image",
      profile,
      "--count",
      "8",
      "--interval",
      "1000",
      "--accel",
      "tcg",
      "--spawn-mode",
      mode,
      // A given timeout: no probe boots before the batch.
      "--timeout",
      "60000",
      "--out",
      dir,
    ]);
    const qemus = () =>
      processesWith(tag).filter((pid) =>
        // argv[0]: "qemu-system-x86_64" (prestart's exec), or its full path.
        /^(\S*\/)?qemu-system/.test(
          Deno.readTextFileSync(`/proc/${pid}/cmdline`),
        )
      ).length;
    // Prestart: kill while guests run *and* starter shells wait, stopped.
    await until(
      mode === "prestart"
        ? "two QEMU guests and a stopped starter shell"
        : "two QEMU guests",
      () =>
        qemus() >= 2 && (mode !== "prestart" || statesWith(tag).includes("T")),
      30000,
    );
    child.kill("SIGKILL");
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL");
    const killedAt = Date.now();
    await until(
      "every process of the run to be gone",
      () => processesWith(tag).length === 0,
      2000,
    ).catch((e) => {
      for (const pid of processesWith(tag)) Deno.kill(pid, "SIGKILL");
      throw e;
    });
    assert.ok(Date.now() - killedAt <= 2000);
    await child.stdout.cancel();
    await child.stderr.cancel();
    // The dataset of the killed run still loads.
    const runName = [...Deno.readDirSync(dir)].find((e) => e.isDirectory)!
      .name;
    const run = await loadRun(join(dir, runName));
    assert.equal(run.record.status, "partial");
    await Deno.remove(dir, { recursive: true });
  });
}

/** The live `sleep ARG` processes, exactly that command line. */
function sleeps(arg: string): number[] {
  return processesWith(arg).filter((pid) =>
    Deno.readTextFileSync(`/proc/${pid}/cmdline`) === `sleep\0${arg}\0`
  );
}

/** Two instances of `p` an interval apart, their rows pushed as they end. */
function launchTwo(
  p: Profile,
  options: { intervalMs: number; graceMs: number },
): { rows: InstanceRow[]; done: ReturnType<typeof launch> } {
  const rows: InstanceRow[] = [];
  const done = launch(p, {
    count: 2,
    pattern: { kind: "interval", intervalMs: options.intervalMs },
    argv: p.argv,
    graceMs: options.graceMs,
    sampleIntervalMs: 0,
    onRows: (r) => rows.push(...r),
  });
  return { rows, done };
}

Deno.test("launch() teardown kills a forking wrapper's whole tree, and the batch what left the tree", async () => {
  // Two children of the wrapper (one in a session of its own) are in its
  // tree at teardown; a grandchild whose parent exited at once was handed to
  // init: the batch tag catches it when the batch ends. `$$` is the
  // instance's pid: each instance's sleeps are told apart.
  const p = fakeProfile(
    "forker",
    "sleep 1002.$$ & setsid sleep 1003.$$ & (sleep 1004.$$ &); sleep 0.3; echo READY; wait",
  );
  // Held here, the reaper's own sweep at its release cannot do the work.
  const release = await holdReaper();
  const pids: number[] = [];
  try {
    const { rows, done } = launchTwo(p, { intervalMs: 4000, graceMs: 300 });
    // Instance 0 torn down, the batch still running.
    await until("instance 0 reaped", () => rows.length >= 1, 20000);
    await new Promise((r) => setTimeout(r, 400));
    const pid = rows[0].pid!;
    pids.push(pid);
    assert.equal(rows[0].outcome, "ready");
    assert.deepEqual(sleeps(`1002.${pid}`), [], "child gone");
    assert.deepEqual(sleeps(`1003.${pid}`), [], "setsid child gone");
    assert.equal(rows.length, 1, "the batch still runs");
    assert.equal(sleeps(`1004.${pid}`).length, 1, "the orphan lives on");
    const res = await done;
    pids.push(res.rows[1].pid!);
    assert.deepEqual(res.rows.map((r) => r.outcome), ["ready", "ready"]);
    for (const x of pids) {
      for (const n of [1002, 1003, 1004]) {
        assert.deepEqual(
          sleeps(`${n}.${x}`),
          [],
          `${n}.${x} gone with the batch`,
        );
      }
    }
  } finally {
    for (const x of pids) {
      for (const n of [1002, 1003, 1004]) {
        for (const pid of sleeps(`${n}.${x}`)) Deno.kill(pid, "SIGKILL");
      }
    }
    await release();
  }
});

Deno.test("launch() fork mode, no grace: the helper's kill at ready takes the instance's process group; a descendant that left it goes with the batch", async () => {
  // Killed by the spawn helper at the ready line (a literal, grace 0): the
  // wrapper's background child is in its process group and dies with it;
  // the setsid one left the group and lives until the batch tag's sweep.
  const p = fakeProfile(
    "grouped",
    "sleep 1012.$$ & setsid sleep 1013.$$ & sleep 0.3; echo READY; wait",
  );
  const release = await holdReaper();
  const pids: number[] = [];
  try {
    const { rows, done } = launchTwo(p, { intervalMs: 3000, graceMs: 0 });
    await until("instance 0 reaped", () => rows.length >= 1, 20000);
    const pid = rows[0].pid!;
    pids.push(pid);
    assert.equal(rows[0].outcome, "ready");
    await until(
      "the group's child gone",
      () => sleeps(`1012.${pid}`).length === 0,
      2000,
    );
    assert.equal(rows.length, 1, "the batch still runs");
    assert.equal(
      sleeps(`1013.${pid}`).length,
      1,
      "the setsid child left the group: not killed at ready",
    );
    const res = await done;
    pids.push(res.rows[1].pid!);
    assert.equal(res.spawnMode, "fork");
    assert.deepEqual(res.rows.map((r) => r.outcome), ["ready", "ready"]);
    for (const x of pids) {
      for (const n of [1012, 1013]) {
        assert.deepEqual(sleeps(`${n}.${x}`), [], `${n}.${x} gone`);
      }
    }
  } finally {
    for (const x of pids) {
      for (const n of [1012, 1013]) {
        for (const pid of sleeps(`${n}.${x}`)) Deno.kill(pid, "SIGKILL");
      }
    }
    await release();
  }
});

Deno.test("runBatch() stopped before any release: the dataset loads, every instance not_started", async () => {
  const dir = await Deno.makeTempDir();
  const ctl = new AbortController();
  const n = 6;
  let forked = 0;
  // Abort as the last instance is pre-started: before T_0, before any release.
  const runner: ProcessRunner = {
    spawn: denoRunner.spawn,
    prestart(argv, options) {
      const p = denoRunner.prestart(argv, options);
      if (++forked === n) ctl.abort();
      return p;
    },
  };
  const { runDir, record, result } = await runBatch(
    await loadProfile("minkernel-microvm"),
    {
      count: n,
      pattern: { kind: "interval", intervalMs: 50 },
      accel: "tcg",
      outDir: dir,
      runner,
      signal: ctl.signal,
    },
  );
  assert.equal(result.interrupted, true);
  assert.equal(record.status, "partial");
  assert.deepEqual(record.totals, {
    ready: 0,
    failed: 0,
    interrupted: 0,
    not_started: n,
  });
  const run = await loadRun(runDir);
  assert.equal(run.instances.numRows(), n);
  for (const r of run.instances.objects() as Record<string, unknown>[]) {
    assert.equal(r.outcome, "not_started");
    for (const c of ["t_s_ms", "boot_end_ms", "exit_ms", "rss_peak_kib"]) {
      assert.equal(r[c], null, `${c} of a never-started instance`);
    }
    assert.equal(r.pid, null);
  }
  const s = summarize(run.instances).objects()[0] as Record<string, number>;
  assert.equal(s.failed, 0, "never-started instances are not failures");
  assert.equal(s.stopped, n);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli SIGINT before half of an interval run: loadRun succeeds, started instances ready, the rest not_started", async () => {
  const dir = await Deno.makeTempDir();
  const child = cli([
    "--image",
    "minkernel-microvm",
    "--count",
    "16",
    "--interval",
    "2000",
    "--accel",
    "tcg",
    "--out",
    dir,
  ]);
  // Interrupt once the first instance has finished (its row is flushed):
  // with one release every 2 s, long before half, even on a loaded host.
  const rows = () => {
    for (const e of Deno.readDirSync(dir)) {
      try {
        const csv = Deno.readTextFileSync(join(dir, e.name, "instances.csv"));
        return csv.trim().split("\n").length - 1;
      } catch { /* not yet */ }
    }
    return 0;
  };
  await until("a finished instance", () => rows() >= 1, 30000);
  child.kill("SIGINT");
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 130, stderr);
  const runDir = new TextDecoder().decode(out.stdout).trim().split("\n").at(
    -1,
  )!;
  for (const prefer of ["arrow", "csv"] as const) {
    const run = await loadRun(runDir, { prefer });
    const objs = run.instances.objects() as Record<string, unknown>[];
    assert.equal(objs.length, 16);
    const by = (o: string) => objs.filter((r) => r.outcome === o);
    assert.ok(by("not_started").length >= 8, "interrupted before half");
    assert.ok(by("ready").length >= 1);
    assert.equal(
      by("ready").length + by("interrupted").length +
        by("not_started").length,
      16,
      JSON.stringify(objs.map((r) => r.outcome)),
    );
    for (const r of by("not_started")) {
      assert.equal(r.t_s_ms, null);
      assert.equal(r.rss_peak_kib, null, "no starter-shell RSS");
    }
    for (const r of by("ready")) assert.ok((r.rss_peak_kib as number) > 1024);
    assert.equal(run.record.status, "partial");
    assert.equal(run.record.totals?.failed, 0);
  }
  // The analysis commands read it too.
  const analyze = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "cli/analyze.ts"), runDir],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(
    analyze.code,
    0,
    new TextDecoder().decode(analyze.stderr),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli run in which no instance becomes ready (missing firmware) exits 3 and names the outcome and first error", async () => {
  const dir = await Deno.makeTempDir();
  const profile = join(dir, "nobios.json");
  await Deno.writeTextFile(
    profile,
    JSON.stringify({
      name: "nobios",
      image: KERNEL,
      argv: [
        "qemu-system-x86_64",
        "${accel}",
        "-bios",
        "/nonexistent/bios.bin",
        "-nographic",
        "-m",
        "50",
        "-kernel",
        "${image}",
      ],
      ready: { line: "Hello" },
    }),
  );
  const out = await cli([
    "--image",
    profile,
    "--count",
    "3",
    "--back-to-back",
    "--accel",
    "tcg",
    "--out",
    dir,
  ]).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 3, stderr);
  const last = stderr.trim().split("\n").at(-1)!;
  assert.match(
    last,
    /^bootstorm: Cannot boot "nobios": no instance became ready \(3 of 3 exited_before_ready: qemu.*could not load PC BIOS '\/nonexistent\/bios\.bin'\)$/,
  );
  const runDir = new TextDecoder().decode(out.stdout).trim().split("\n").at(
    -1,
  )!;
  const run = await loadRun(runDir);
  assert.equal(run.record.status, "failed");
  assert.equal(run.record.failure?.outcome, "exited_before_ready");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("launch() keeps the first stderr line that is not a warning and the last one", async () => {
  const p = fakeProfile(
    "chatty",
    "echo 'guest: warning: ignore me' >&2; echo 'guest: -m 50X: bad size' >&2; seq 1 3000 >&2; echo 'and exabytes, respectively.' >&2; exit 1",
  );
  const res = await launch(p, {
    count: 1,
    pattern: { kind: "back-to-back" },
    argv: p.argv,
    sampleIntervalMs: 0,
  });
  assert.equal(
    res.rows[0].error,
    "guest: -m 50X: bad size … and exabytes, respectively.",
  );
});

// ---- The dataset contract, enforced -------------------------------------

Deno.test("DatasetWriter.pushInstances() refuses a row that breaks the schema, writes nothing of it, and the files still load", async () => {
  const { DatasetWriter, DatasetWriteError } = await import(
    "../dataset/writer.ts"
  );
  const dir = join(await Deno.makeTempDir(), "run");
  const record = {
    schema_version: 2,
    run_id: "r",
    count: 2,
    status: "partial",
  };
  const w = DatasetWriter.create(dir, record);
  const { INSTANCE_COLUMNS } = await import("../dataset/schema.ts");
  const nulls = Object.fromEntries(
    INSTANCE_COLUMNS.filter((c) => c.nullable).map((c) => [c.name, null]),
  );
  const good = {
    ...nulls,
    instance: 0,
    scheduled_ms: null,
    t_s_ms: null,
    first_output_ms: null,
    ready_ms: null,
    exit_ms: null,
    boot_end_ms: null,
    boot_ms: null,
    first_output_boot_ms: null,
    concurrency_at_start: null,
    outcome: "not_started",
    exit_code: null,
    signal: null,
    rss_peak_kib: null,
    output_bytes: 0,
    pid: null,
    vmm_ready_ms: null,
    t_k_ms: null,
    vmm_init_ms: null,
    guest_boot_ms: null,
    error: null,
  };
  w.pushInstances([good]);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ ...good, outcome: "bogus" }, /"outcome" holds "bogus", expected one of/],
    [{ ...good, outcome: null }, /"outcome" is null but can never be null/],
    [{ ...good, instance: 1.5 }, /"instance" holds 1.5, expected a 32-bit/],
    [{ ...good, boot_ms: NaN }, /"boot_ms" holds null, expected a finite/],
    [{ ...good, error: 3 }, /"error" holds number 3, expected a string/],
    [
      (() => {
        const { pid: _, ...r } = good;
        return r;
      })(),
      /"pid" is missing/,
    ],
  ];
  for (const [row, re] of bad) {
    assert.throws(
      () => w.pushInstances([row]),
      (e: Error) =>
        e instanceof DatasetWriteError && re.test(e.message) &&
        /launcher\/schema\.ts/.test(e.message),
      re.source,
    );
  }
  w.finalise({ ...record, count: 1, status: "complete" });
  const run = await loadRun(dir);
  assert.equal(run.instances.numRows(), 1);
  assert.equal(run.instances.get("outcome", 0), "not_started");
  await Deno.remove(join(dir, ".."), { recursive: true });
});

Deno.test("InstanceRow is derived from INSTANCE_COLUMNS: types and nullability follow the schema", async () => {
  const { INSTANCE_COLUMNS, OUTCOMES } = await import("../dataset/schema.ts");
  type Row = import("../dataset/schema.ts").InstanceRow;
  const outcome: Row["outcome"] = "not_started";
  const ts: Row["t_s_ms"] = null;
  // @ts-expect-error an outcome outside OUTCOMES does not type-check
  const bogus: Row["outcome"] = "bogus";
  // @ts-expect-error a column that can never be null does not take null
  const instance: Row["instance"] = null;
  // @ts-expect-error a number column does not take text
  const boot: Row["boot_ms"] = "12";
  assert.deepEqual([outcome, ts, bogus, instance, boot], [
    "not_started",
    null,
    "bogus",
    null,
    "12",
  ]);
  const spec = INSTANCE_COLUMNS.find((c) => c.name === "outcome")!;
  assert.deepEqual(spec.values, OUTCOMES);
  for (const name of ["t_s_ms", "concurrency_at_start"]) {
    assert.ok(INSTANCE_COLUMNS.find((c) => c.name === name)!.nullable);
  }
});

Deno.test("a run record read back has the writer's type: loadRun() returns what runBatch() wrote", async () => {
  const dir = await Deno.makeTempDir();
  const p = fakeProfile("quick", "echo READY; exec sleep 5");
  const { runDir, record } = await runBatch(p, {
    count: 2,
    pattern: { kind: "back-to-back" },
    outDir: dir,
    sampleIntervalMs: 0,
  });
  const run = await loadRun(runDir);
  // The same fields, the same values (JSON round trip).
  assert.deepEqual(run.record, JSON.parse(JSON.stringify(record)));
  assert.equal(run.record.timeout?.source, "profile");
  assert.equal(run.record.status, "complete");
  await Deno.remove(dir, { recursive: true });
});

// ---- Pure parts ---------------------------------------------------------

Deno.test("runFailure() names the most common failure and its first error; runTotals() keeps stopped instances apart", async () => {
  const { runFailure, runTotals } = await import("../launcher/run_batch.ts");
  const rows = [
    { outcome: "timeout" as const, error: null },
    { outcome: "exited_before_ready" as const, error: "qemu: no kvm" },
    { outcome: "exited_before_ready" as const, error: "qemu: other" },
    { outcome: "not_started" as const, error: null },
  ];
  const f = runFailure("m", rows)!;
  assert.equal(f.outcome, "exited_before_ready");
  assert.equal(f.count, 2);
  assert.equal(
    f.reason,
    'Cannot boot "m": no instance became ready (2 of 4 exited_before_ready: qemu: no kvm)',
  );
  assert.equal(
    runFailure("m", [...rows, { outcome: "ready", error: null }]),
    null,
  );
  assert.deepEqual(runTotals(rows), {
    ready: 0,
    failed: 3,
    interrupted: 0,
    not_started: 1,
  });
});

Deno.test("StderrKeep() keeps a bounded head and tail of a flood, and the error line from both ends", async () => {
  const { StderrKeep } = await import("../launcher/launch.ts");
  const s = new StderrKeep();
  const enc = new TextEncoder();
  s.push(enc.encode("qemu: warning: TCG lacks x2apic\nqemu: first problem\n"));
  for (let i = 0; i < 10000; i++) s.push(enc.encode(`noise line ${i}\n`));
  s.push(enc.encode("the last line\n"));
  assert.ok(s.text().length < 5000, "bounded");
  assert.equal(s.errorLine(), "qemu: first problem … the last line");
  const long = new StderrKeep();
  long.push(enc.encode("x".repeat(1000)));
  assert.equal(long.errorLine()!.length, 240);
  assert.equal(new StderrKeep().errorLine(), null);
});

Deno.test("resolveParams() refuses a value of the wrong type at once; profiles declare param types", async () => {
  const { parseProfile, resolveParams, ProfileError } = await import(
    "../launcher/profile.ts"
  );
  const p = parseProfile({
    name: "g",
    argv: ["x"],
    ready: { exit: true },
    params: {
      touch_mib: { type: "integer", default: 8, min: 0 },
      ratio: 1.5,
      mode: { type: "string", default: "a", values: ["a", "b"] },
    },
  });
  assert.deepEqual(p.params, { touch_mib: "8", ratio: "1.5", mode: "a" });
  const refused: [Record<string, string>, RegExp][] = [
    [
      { touch_mib: "abc" },
      /Invalid --param touch_mib="abc": profile "g" declares touch_mib a whole number ≥ 0 \(e\.g\. --param touch_mib=8\)/,
    ],
    [{ touch_mib: "-1" }, /a whole number ≥ 0/],
    [{ touch_mib: "2.5" }, /a whole number/],
    [{ ratio: "fast" }, /declares ratio a number/],
    [{ mode: "c" }, /declares mode one of a, b/],
  ];
  for (const [o, re] of refused) {
    assert.throws(
      () => resolveParams(p, o),
      (e: Error) => e instanceof ProfileError && re.test(e.message),
      re.source,
    );
  }
  assert.deepEqual(resolveParams(p, { touch_mib: "32", mode: "b" }), {
    touch_mib: "32",
    ratio: "1.5",
    mode: "b",
  });
  assert.throws(
    () =>
      parseProfile({
        name: "g",
        argv: ["x"],
        ready: { exit: true },
        params: { n: { type: "integer", default: "many" } },
      }),
    /"params"\.n\.default "many" is not a whole number/,
  );
  const synthetic = await loadProfile("synthetic");
  assert.equal(synthetic.paramSpecs.touch_mib.type, "integer");
});

Deno.test("chooseTimeout() scales a big storm's timeout to 3 × its worst-case estimate and says why", async () => {
  const { chooseTimeout, estimateCell } = await import(
    "../launcher/sweep_plan.ts"
  );
  const cell = {
    id: "batch",
    image: "minkernel",
    count: 256,
    pattern: { kind: "back-to-back" as const },
    params: {},
    repeat: 0,
  };
  // Measured here: one pc minkernel boots in ~130-270 ms alone but costs
  // ~1.1 s of the 2 cores when 4 boot at once; 256 at once took 76 s.
  const est = estimateCell(cell, {
    bootMs: 200,
    contendedBootMs: 1100,
    rssKib: 20000,
    source: "probe",
  }, { cores: 2 });
  assert.ok(est.worstSeconds! > est.seconds);
  const t = chooseTimeout({
    profileMs: 30000,
    estimateSeconds: est.worstSeconds!,
  });
  assert.equal(t.source, "estimate");
  assert.ok(t.ms > 3 * 76000, `${t.ms} ms`);
  assert.match(t.reason, /3 × the batch's worst-case estimate/);
  assert.equal(
    chooseTimeout({ flagMs: 5000, profileMs: 30000, estimateSeconds: 500 }).ms,
    5000,
  );
  const small = chooseTimeout({ profileMs: 30000, estimateSeconds: 2 });
  assert.deepEqual([small.ms, small.source], [30000, "profile"]);
});

Deno.test("parseCommand() says which value is missing instead of 'ambiguous'", async () => {
  const { parseCommand, UsageError } = await import(
    "../launcher/sweep_args.ts"
  );
  for (
    const [args, re] of [
      [
        ["--count"],
        /^Missing value for --count: expected a whole number ≥ 1, e\.g\. --count 16$/,
      ],
      [["--count", "--back-to-back"], /^Missing value for --count/],
      [["--image", "-h"], /^Missing value for --image/],
      [["--out"], /^Missing value for --out: expected a folder/],
    ] as [string[], RegExp][]
  ) {
    assert.throws(
      () => parseCommand(args),
      (e: Error) => e instanceof UsageError && re.test(e.message),
      args.join(" "),
    );
  }
  // Negative numbers still reach the value checks.
  assert.throws(
    () => parseCommand(["--interval", "-5"]),
    /Invalid --interval "-5"/,
  );
});

Deno.test("abCompare() reports the difference of medians, a permutation p-value and whether it exceeds the noise", async () => {
  const aq = await import("arquero");
  const { abCompare } = await import("../analysis/compare.ts");
  const t = (xs: number[]) =>
    aq.table({ outcome: xs.map(() => "ready"), boot_ms: xs });
  const a = [100, 102, 98, 101, 99, 103, 97, 100, 101, 99];
  const slow = abCompare(t(a), t(a.map((x) => x * 1.5)));
  assert.equal(slow.diff, 50);
  assert.ok(Math.abs(slow.relative_diff! - 0.5) < 1e-12);
  assert.ok(slow.p_value! < 0.01);
  assert.equal(slow.exceeds_noise, true);
  assert.match(slow.verdict, /^exceeds the noise/);
  // Significant but small: within the noise at the default 20 %.
  const small = abCompare(t(a), t(a.map((x) => x + 5)));
  assert.ok(small.p_value! < 0.01);
  assert.equal(small.exceeds_noise, false);
  assert.match(small.verdict, /significant .* but \|Δ\| 5\.0 % ≤ 20\.0 %/);
  assert.equal(
    abCompare(t(a), t(a.map((x) => x + 5)), { relativeStrength: 0.02 })
      .exceeds_noise,
    true,
  );
  // Same data: p = 1, seeded, so the same on every run.
  const same = abCompare(t(a), t(a));
  assert.equal(same.p_value, 1);
  assert.deepEqual(abCompare(t(a), t(a), { seed: 7 }), {
    ...same,
    seed: 7,
  });
  assert.throws(
    () => abCompare(t(a), aq.table({ outcome: ["timeout"], boot_ms: [null] })),
    /B has no ready instance with a "boot_ms" value/,
  );
});

// ---- Command lines ------------------------------------------------------

async function run(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test("cli refuses --out that is a file and a mistyped param before booting anything", async () => {
  let r = await run([
    CLI,
    "--image",
    "minkernel-microvm",
    "--count",
    "1",
    "--out",
    "/etc/passwd",
  ]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /Cannot write output folders under \/etc\/passwd: it is a file, not a folder; pass --out a folder/,
  );
  r = await run([
    CLI,
    "--image",
    "synthetic",
    "--param",
    "touch_mib=abc",
    "--count",
    "1",
  ]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /Invalid --param touch_mib="abc": profile "synthetic" declares touch_mib a whole number/,
  );
  r = await run([CLI, "--count"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Missing value for --count/);
});

Deno.test("every command's --help helps, with examples; analyze --json and compare read a run", async () => {
  const dir = await Deno.makeTempDir();
  const { runDir } = await runBatch(
    fakeProfile("quick", "echo READY; exec sleep 5"),
    {
      count: 3,
      pattern: { kind: "back-to-back" },
      outDir: dir,
      sampleIntervalMs: 0,
    },
  );
  const images = await run([join(ROOT, "cli/images.ts"), "--help"]);
  assert.equal(images.code, 0);
  assert.match(images.stdout, /^Usage: deno task images/);
  assert.doesNotMatch(images.stdout, /^minkernel\s/m, "lists no profile");
  for (const c of ["analyze", "classify", "figures", "report", "compare"]) {
    const file = `cli/${c}.ts`;
    const r = await run([join(ROOT, file), "--help"]);
    assert.equal(r.code, 0, c);
    assert.match(r.stdout, new RegExp(`Examples:\\n  deno task ${c} `), c);
  }
  const a = await run([
    join(ROOT, "cli/analyze.ts"),
    runDir,
    "--json",
  ]);
  assert.equal(a.code, 0, a.stderr);
  const j = JSON.parse(a.stdout);
  assert.equal(j.summary[0].ready, 3);
  assert.ok(Array.isArray(j.bins) && Array.isArray(j.memory_peak));
  const c = await run([
    join(ROOT, "cli/compare.ts"),
    runDir,
    runDir,
    "--json",
  ]);
  assert.equal(c.code, 0, c.stderr);
  const cj = JSON.parse(c.stdout);
  assert.equal(cj.p_value, 1);
  assert.equal(cj.exceeds_noise, false);
  const text = await run([
    join(ROOT, "cli/compare.ts"),
    runDir,
    runDir,
  ]);
  assert.match(text.stdout, /difference of medians B − A: \+0/);
  assert.match(text.stdout, /verdict: within the noise/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("README states no schema version other than the one written", async () => {
  const { SCHEMA_VERSION } = await import("../dataset/schema.ts");
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  for (const m of readme.matchAll(/schema version (\d+)/gi)) {
    assert.equal(Number(m[1]), SCHEMA_VERSION, m[0]);
  }
});
