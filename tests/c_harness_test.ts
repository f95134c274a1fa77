import assert from "node:assert/strict";
import {
  buildHarness,
  harnessArgs,
  parseHarnessCost,
  parseHarnessCsv,
  runHarness,
  runHarnessWithCost,
} from "../bench/c_harness.ts";
import {
  alternate,
  compareBoot,
  compareSchedule,
  measureBoot,
  scheduleError,
  scheduleErrors,
  stormRatioCi,
  type Timing,
  timingsFromCsv,
} from "../bench/fidelity.ts";
import { ensureMinkernel } from "../images/build.ts";
import { monotonicMs } from "../launcher/clock.ts";
import {
  createRunCgroup,
  removeRunCgroup,
} from "../launcher/sampler/run_cgroup.ts";

Deno.test("harnessArgs() maps ready conditions and the interval to flags", () => {
  assert.deepEqual(
    harnessArgs(["q", "-x"], {
      count: 4,
      intervalMs: 5,
      ready: { line: "Hello" },
    }),
    [
      "-n",
      "4",
      "-i",
      "5",
      "-r",
      "Hello",
      "-t",
      "30000",
      "--",
      "q",
      "-x",
    ],
  );
  assert.deepEqual(
    harnessArgs(["q"], { ready: { exit: true }, timeoutMs: 100 }),
    ["-n", "1", "-x", "-t", "100", "--", "q"],
  );
  assert.deepEqual(
    harnessArgs(["q"], { ready: { firstOutput: true } }).slice(0, 3),
    ["-n", "1", "-f"],
  );
  assert.deepEqual(harnessArgs(["q"], { ready: /He+llo/ }).slice(2, 4), [
    "-r",
    "He+llo",
  ]);
  assert.throws(() => harnessArgs([], { ready: "x" }), /empty argv/);
  assert.throws(
    () => harnessArgs(["q"], { count: 0, ready: "x" }),
    /positive integer/,
  );
});

Deno.test("parseHarnessCsv() turns empty cells into null and keeps extra columns", () => {
  const rows = parseHarnessCsv(
    "instance,scheduled_ms,t_s_ms,first_output_ms,ready_ms,boot_ms,first_output_boot_ms,outcome,exit_code\n" +
      "0,0.000,0.061,1.5,2.25,2.189,1.439,ready,\n1,5.000,5.1,,,,,timeout,137\n",
  );
  assert.equal(rows.length, 2);
  assert.equal(rows[0].boot_ms, 2.189);
  assert.equal(rows[0].exit_code, null);
  assert.equal(rows[1].ready_ms, null);
  assert.equal(rows[1].outcome, "timeout");
  assert.equal(rows[1].exit_code, 137);
  assert.throws(() => parseHarnessCsv(""), /empty/);
  assert.throws(
    () => parseHarnessCsv("instance,t_s_ms\n0,1\n"),
    /column "boot_ms" missing/,
  );
  assert.throws(
    () =>
      parseHarnessCsv("instance,t_s_ms,boot_ms,outcome\n0,1,2,ready\n1,2\n"),
    /row 2 has fewer cells/,
  );
});

Deno.test("runHarness() times a real minkernel QEMU boot (N=2 back-to-back)", async () => {
  await buildHarness();
  const elf = await ensureMinkernel();
  const argv = [
    "qemu-system-x86_64",
    "-accel",
    "tcg",
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
    elf,
  ];
  const rows = await runHarness(argv, {
    count: 2,
    ready: { line: "Hello" },
    timeoutMs: 30000,
  });
  assert.equal(rows.length, 2);
  assert.deepEqual(rows.map((r) => r.instance), [0, 1]);
  for (const r of rows) {
    assert.equal(r.outcome, "ready");
    assert.ok(r.boot_ms !== null && r.boot_ms > 0);
    assert.equal(r.scheduled_ms, null);
    assert.ok(r.first_output_ms !== null && r.ready_ms !== null);
    assert.ok(r.first_output_ms <= r.ready_ms);
    assert.ok(Math.abs(r.boot_ms - (r.ready_ms - r.t_s_ms)) < 0.002);
    assert.equal(r.signal, 9); // kill-after-ready
  }
  assert.equal(rows[0].t_s_ms, 0);
  assert.ok(rows[1].t_s_ms > rows[0].t_s_ms);
});

Deno.test("runHarness() times fork+exec of /bin/true in exit mode", async () => {
  const rows = await runHarness(["/bin/true"], {
    count: 3,
    ready: { exit: true },
  });
  assert.equal(rows.length, 3);
  for (const r of rows) {
    assert.equal(r.outcome, "ready");
    assert.equal(r.exit_code, 0);
    assert.ok(r.boot_ms !== null && r.boot_ms > 0);
    assert.equal(r.first_output_ms, null);
  }
});

Deno.test("parseHarnessCost() reads the harness's CPU and wall time, or gives nulls", () => {
  assert.deepEqual(
    parseHarnessCost(
      "harness: 4 instances, 4 ready, 0 not ready; cpu_ms 12.500 wall_ms 830.250 (from T_0)\n",
    ),
    { cpuMs: 12.5, wallMs: 830.25 },
  );
  assert.deepEqual(parseHarnessCost("harness: 4 instances\n"), {
    cpuMs: null,
    wallMs: null,
  });
});

Deno.test("runHarnessWithCost() counts the harness's own CPU, not its instances'", async () => {
  const r = await runHarnessWithCost(
    ["/bin/sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"],
    { count: 1, ready: { exit: true } },
  );
  assert.equal(r.rows[0].outcome, "ready");
  assert.ok(r.cpuMs !== null && r.wallMs !== null, JSON.stringify(r));
  // The busy child's CPU is most of the wall time; the harness's is a small part.
  assert.ok(r.cpuMs >= 0 && r.cpuMs < 0.2 * r.wallMs, JSON.stringify(r));
  assert.ok(r.wallMs >= r.rows[0].boot_ms!, JSON.stringify(r));
});

Deno.test("runHarness() follows the interval schedule and reports failures per instance", async () => {
  const rows = await runHarness(["sh", "-c", "echo nope; exit 3"], {
    count: 3,
    intervalMs: 5,
    ready: { line: "Hello" },
  });
  assert.deepEqual(rows.map((r) => r.scheduled_ms), [0, 5, 10]);
  for (const r of rows) {
    assert.ok(r.t_s_ms >= r.scheduled_ms!);
    assert.equal(r.outcome, "exited_before_ready");
    assert.equal(r.exit_code, 3);
    assert.equal(r.boot_ms, null);
  }
  const slow = await runHarness(["sleep", "5"], {
    ready: "Hello",
    timeoutMs: 200,
  });
  assert.equal(slow[0].outcome, "timeout");
  assert.equal(slow[0].signal, 9);
});

Deno.test("runHarness() refuses a missing binary with a clear error", async () => {
  await assert.rejects(
    () => runHarness(["/nonexistent/qemu"], { ready: "x" }),
    /cannot run "\/nonexistent\/qemu": not found/,
  );
});

Deno.test("runHarness() in closed loop starts the next instance after the previous ends", async () => {
  const rows = await runHarness(["sh", "-c", "sleep 0.05"], {
    count: 3,
    parallel: 1,
    ready: { exit: true },
  });
  for (let i = 1; i < rows.length; i++) {
    assert.ok(rows[i].t_s_ms >= rows[i - 1].exit_ms!);
  }
  assert.throws(
    () => harnessArgs(["q"], { ready: "x", parallel: 2, intervalMs: 5 }),
    /without an interval/,
  );
});

// The fidelity benchmark's pure summaries (bench/fidelity.ts).

const t = (
  boot_ms: number | null,
  extra: Partial<Timing> = {},
): Timing => ({
  instance: 0,
  scheduled_ms: null,
  t_s_ms: 0,
  boot_ms,
  first_output_boot_ms: null,
  outcome: boot_ms === null ? "timeout" : "ready",
  ...extra,
});

Deno.test("scheduleError() interpolates like numpy's default and is null when empty", () => {
  // np.quantile([0, 10, 20, 30, 40], [.5, .99]) = 20, 39.6
  assert.equal(scheduleError([]).p50_ms, null);
  const s = scheduleError([40, 0, 30, 10, 20]);
  assert.equal(s.p50_ms, 20);
  assert.ok(Math.abs(s.p99_ms! - 39.6) < 1e-9);
});

Deno.test("compareBoot() pools repeats and fails on a ratio over the goal or a lost launcher instance", () => {
  const ok = compareBoot(2, {
    launcher: [[t(101), t(103)], [t(102)]],
    c: [[t(100)], [t(100), t(100)]],
  });
  assert.equal(ok.launcher.median_ms, 102);
  assert.ok(Math.abs(ok.ratio! - 1.02) < 1e-9);
  assert.ok(ok.pass);
  assert.deepEqual(ok.launcher.repeat_medians_ms, [102, 102]);
  assert.ok(ok.ratio_ci95![0] <= ok.ratio! && ok.ratio! <= ok.ratio_ci95![1]);
  const slow = compareBoot(1, { launcher: [[t(110)]], c: [[t(100)]] });
  assert.equal(slow.pass, false);
  const lost = compareBoot(1, { launcher: [[t(100), t(null)]], c: [[t(100)]] });
  assert.equal(lost.launcher.failed, 1);
  assert.equal(lost.pass, false);
});

Deno.test("stormRatioCi() resamples whole storms: the point ratio for one storm each, the storms' spread otherwise", () => {
  // one storm per side: every resample is the storm itself
  assert.deepEqual(stormRatioCi([[102, 104, 106]], [[100, 100]]), [1.04, 1.04]);
  // Two storms against one, enumerated: the resampled pair is {1st, 1st}
  // (p = 1/4, median 10), a mixed pair (1/2, median 15) or {2nd, 2nd} (1/4,
  // 20); over 10 the 2.5% and 97.5% quantiles are 1 and 2.
  assert.deepEqual(
    stormRatioCi([[10, 10, 10], [20, 20, 20]], [[10, 10, 10]]),
    [1, 2],
  );
  // Storms that differ more than their instances: wider than the interval
  // over instances, which does not see them.
  const storm = (base: number) =>
    Array.from({ length: 10 }, (_, i) => base + i);
  const l = [storm(100), storm(140), storm(120)];
  const c = [storm(100), storm(141), storm(119)];
  const storms = stormRatioCi(l, c)!;
  const instances = compareBoot(4, {
    launcher: l.map((s) => s.map((b) => t(b))),
    c: c.map((s) => s.map((b) => t(b))),
  });
  assert.deepEqual(instances.ratio_ci95_storms, storms);
  const width = (ci: [number, number]) => ci[1] - ci[0];
  assert.ok(width(storms) > 2 * width(instances.ratio_ci95!));
  assert.ok(storms[0] <= instances.ratio! && instances.ratio! <= storms[1]);
  // a side with no ready instance: no interval
  assert.equal(stormRatioCi([[]], [[100]]), null);
});

Deno.test("compareSchedule() requires p99 within the goal and not worse than C", () => {
  const rows = [
    t(1, { scheduled_ms: 0, t_s_ms: 0.1 }),
    t(1, { scheduled_ms: 5, t_s_ms: 5.3 }),
    t(1),
  ];
  assert.deepEqual(scheduleErrors(rows), [0.1, 0.3]);
  assert.ok(
    compareSchedule({ launcher: [0.1, 0.2], c: [0.1, 0.3] }, {
      n: 2,
      intervalMs: 5,
    }).pass,
  );
  assert.equal(
    compareSchedule({ launcher: [0.1, 0.4], c: [0.1, 0.3] }, {
      n: 2,
      intervalMs: 5,
    }).pass,
    false,
  );
  assert.equal(
    compareSchedule({ launcher: [0.1, 0.9], c: [2, 3] }, {
      n: 2,
      intervalMs: 5,
    }).pass,
    false,
  );
});

Deno.test("timingsFromCsv() reads the launcher's quoted CSV in instance order", () => {
  const csv =
    "instance,scheduled_ms,t_s_ms,boot_ms,first_output_boot_ms,outcome,error\n" +
    '1,,3.1,31,30.5,ready,\n0,,0.01,47.5,47.2,timeout,"boom, ""really"""\n';
  const rows = timingsFromCsv(csv);
  assert.deepEqual(rows.map((r) => r.instance), [0, 1]);
  assert.equal(rows[0].outcome, "timeout");
  assert.equal(rows[1].scheduled_ms, null);
  assert.equal(rows[0].boot_ms, 47.5);
});

Deno.test("alternate() flips the A/B order every repeat", async () => {
  const order: string[] = [];
  await alternate(3, (side) => {
    order.push(side);
    return Promise.resolve([]);
  });
  assert.deepEqual(order, ["launcher", "c", "c", "launcher", "launcher", "c"]);
});

Deno.test("measureBoot() starts the C side as long after the warm-up as the launcher's T_0 came, unless told not to", async () => {
  // Fake sides: the launcher's T_0 comes 60 ms after it is called (its CLI
  // starting up); the C side notes when it is called.
  const row = (): Timing => ({
    instance: 0,
    outcome: "ready",
    boot_ms: 10,
    first_output_boot_ms: 5,
    t_s_ms: 0,
    scheduled_ms: null,
  });
  const run = async (equalStartLag: boolean) => {
    let warmed = 0, t0: number | null = null;
    const waits: number[] = [];
    const sides = {
      argv: [],
      ready: { line: "x" },
      launcher: async () => {
        t0 = monotonicMs() + 60;
        await new Promise((r) => setTimeout(r, 70));
        return [row()];
      },
      c: () => {
        waits.push(monotonicMs() - warmed);
        return Promise.resolve([row()]);
      },
      lastLauncherT0: () => t0,
    };
    const { comparisons } = await measureBoot(sides, {
      plan: [{ n: 1, repeats: 2 }],
      before: () => {
        warmed = monotonicMs();
        return Promise.resolve();
      },
      equalStartLag,
    });
    return { waits, lag: comparisons[0].start_lag_ms };
  };
  const on = await run(true);
  assert.equal(on.waits.length, 2);
  for (const w of on.waits) assert.ok(w >= 55, `C started ${w} ms after`);
  assert.ok(on.lag!.launcher! >= 59, JSON.stringify(on.lag));
  // each C wait is the launcher's median lag so far
  assert.ok(
    Math.abs(on.lag!.c - on.lag!.launcher!) < 5,
    JSON.stringify(on.lag),
  );
  const off = await run(false);
  assert.equal(off.lag, null);
  for (const w of off.waits) assert.ok(w < 55, `C waited ${w} ms`);
});

Deno.test("compareBoot() refuses a ratio when the launcher spread its storm out", () => {
  const storm = (span: number, boot: number) =>
    [0, span].map((t_s_ms, i) => t(boot, { instance: i, t_s_ms }));
  const spread = compareBoot(2, {
    launcher: [storm(200, 900)],
    c: [storm(1, 1000)],
  });
  assert.ok(spread.ratio! < 1);
  assert.equal(spread.launcher.t_s_span_ms, 200);
  assert.equal(spread.like_for_like, false);
  assert.equal(spread.pass, false);
  const fair = compareBoot(2, {
    launcher: [storm(20, 1010)],
    c: [storm(1, 1000)],
  });
  assert.equal(fair.like_for_like, true);
  assert.equal(fair.pass, true);
});

Deno.test("runHarness() with prestart forks every instance before T_0 and releases each at T_s", async () => {
  for (const prestart of ["stop", "pipe"] as const) {
    const rows = await runHarness(["sh", "-c", "echo Hello"], {
      count: 4,
      ready: { line: "Hello" },
      prestart,
    });
    assert.equal(rows.length, 4);
    for (const r of rows) {
      assert.equal(r.outcome, "ready", `${prestart}: ${JSON.stringify(r)}`);
      // forked before T_0: no fork time inside the run's clock
      assert.equal(r.forked_ms, null);
      assert.ok(r.boot_ms! > 0 && r.ready_ms! >= r.t_s_ms);
    }
  }
  // released in order, one gap apart at least
  const gapped = await runHarness(["sh", "-c", "echo Hello"], {
    count: 3,
    ready: { line: "Hello" },
    prestart: "stop",
    releaseGapUs: 3000,
  });
  const ts = gapped.map((r) => r.t_s_ms);
  assert.ok(ts[1] - ts[0] >= 3 && ts[2] - ts[1] >= 3, JSON.stringify(ts));
  assert.throws(
    () =>
      harnessArgs(["sh"], {
        ready: "x",
        intervalMs: 5,
        prestart: "stop",
      }),
    /prestart is for back-to-back storms/,
  );
});

// Creating a memory cgroup needs root and cgroup v1 or a delegated v2 tree.
const noCgroup = (() => {
  const cg = createRunCgroup(`probe-${Deno.pid}`);
  if (typeof cg === "string") return cg;
  removeRunCgroup(cg);
  return null;
})();

Deno.test({
  name: `runHarness() with a cgroup joins it before T_0: every child is in it${
    noCgroup ? ` [skipped: ${noCgroup}]` : ""
  }`,
  ignore: noCgroup !== null,
  fn: async () => {
    const id = `harness-test-${crypto.randomUUID().slice(0, 8)}`;
    const cg = createRunCgroup(id);
    if (typeof cg === "string") throw new Error(cg);
    try {
      const rows = await runHarness(
        ["/bin/sh", "-c", `grep -q ${id} /proc/self/cgroup`],
        { count: 3, ready: { exit: true }, cgroupProcs: cg.procsFile },
      );
      assert.deepEqual(rows.map((r) => r.exit_code), [0, 0, 0]);
    } finally {
      removeRunCgroup(cg);
    }
  },
});
