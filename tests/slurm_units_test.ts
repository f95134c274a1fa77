/**
 * Parts of the multi-host storm that need no Slurm: clock offsets, the
 * start instant (launch() with t0At, real fake guests), the coordinator and
 * its client over real UDP on loopback, shares, flags, the merge, the
 * cluster's config files, per-host analysis, and the errors for a machine
 * without Slurm.
 */
import assert from "node:assert/strict";
import * as aq from "arquero";
import { monotonicMs } from "../launcher/clock.ts";
import { launch, RELEASE_LEAD_MS } from "../launcher/launch.ts";
import { parseCommand } from "../launcher/sweep_args.ts";
import {
  estimateOffset,
  hostClock,
  realtimeMs,
} from "../slurm/clock_offset.ts";
import {
  clusterPlan,
  hostsFile,
  nodeStartScript,
  slurmConf,
} from "../slurm/cluster_config.ts";
import { Coordinator, sharedMemoryErrors } from "../slurm/coordinator.ts";
import { CoordinatorClient } from "../slurm/coordinator_client.ts";
import { type HostInput, mergeRows } from "../slurm/merge.ts";
import type { Preflight, Reply } from "../slurm/protocol.ts";
import { localStart } from "../slurm/start_instant.ts";
import { parseStormArgs, UsageError } from "../slurm/storm_args.ts";
import { shares, splitEvenly } from "../slurm/storm_spec.ts";
import { findSlurm, parsePartitions } from "../slurm/submit.ts";
import {
  hostSummary,
  recoveryCurve,
  slowestHost,
  timeToFraction,
} from "../analysis/hosts.ts";
import { fakeProfile } from "./helpers.ts";

Deno.test("estimateOffset() recovers a known offset from asymmetric round trips within half the shortest", () => {
  // The submitter's clock is 1000 ms ahead; legs of various lengths.
  const true_ = 1000;
  const legs: [number, number][] = [[3, 9], [0.4, 0.2], [5, 1], [2, 2]];
  let t = 0;
  const samples = legs.map(([out, back]) => {
    const t1 = t;
    const t2 = t1 + out + true_;
    const t4 = t1 + out + back;
    t += 20;
    return { t1, t2, t4 };
  });
  const e = estimateOffset(samples);
  assert.ok(Math.abs(e.rtt_min_ms - 0.6) < 1e-9, `${e.rtt_min_ms}`);
  assert.ok(Math.abs(e.offset_ms - true_) <= e.uncertainty_ms + 1e-9);
  assert.ok(e.uncertainty_ms < 0.31);
  assert.throws(() => estimateOffset([]), /no round trips/);
});

Deno.test("localStart() cancels an injected clock offset once it is measured", () => {
  const t0 = realtimeMs() + 500;
  const plain = localStart(t0, {
    offsetMs: 0,
    startOffsetMs: 0,
    clock: hostClock(0),
  });
  // A node whose clock reads 250 ms ahead measures offset −250.
  const ahead = localStart(t0, {
    offsetMs: -250,
    startOffsetMs: 0,
    clock: hostClock(250),
  });
  assert.equal(ahead.node_wall_ms - plain.node_wall_ms, 250);
  assert.ok(
    Math.abs(ahead.node_monotonic_ms - plain.node_monotonic_ms) < 0.5,
    `${ahead.node_monotonic_ms} vs ${plain.node_monotonic_ms}`,
  );
  // Not correcting it would start 250 ms early.
  const wrong = localStart(t0, {
    offsetMs: 0,
    startOffsetMs: 0,
    clock: hostClock(250),
  });
  assert.ok(plain.node_monotonic_ms - wrong.node_monotonic_ms > 249);
});

for (const spawnMode of ["fork", "prestart", "direct"] as const) {
  Deno.test(`launch() with t0At takes T_0 at the agreed instant (${spawnMode})`, async () => {
    const p = fakeProfile("quick", "echo READY; exec sleep 5");
    let target = 0;
    let asked = 0;
    const res = await launch(p, {
      count: 3,
      pattern: { kind: "interval", intervalMs: 10 },
      argv: p.argv,
      spawnMode,
      sampleIntervalMs: 0,
      graceMs: 200,
      t0At: () => {
        asked = monotonicMs();
        target = asked + 150;
        return Promise.resolve(target);
      },
    });
    assert.equal(res.t0, target, "T_0 is the agreed instant itself");
    const rows = [...res.rows].sort((a, b) => a.instance - b.instance);
    const lead = spawnMode === "direct" ? 0 : RELEASE_LEAD_MS;
    for (const r of rows) {
      assert.equal(r.outcome, "ready");
      // on schedule after the agreed T_0 (direct spawning sleeps with setTimeout,
      // which may wake up to a millisecond early; pre-started releases spin)
      const early = spawnMode === "direct" ? 1 : 0.01;
      assert.ok(r.t_s_ms! >= lead + r.instance * 10 - early, `${r.t_s_ms}`);
      assert.ok(r.t_s_ms! >= 0, "nothing starts before T_0");
      assert.ok(
        res.t0 + r.t_s_ms! > asked + 140,
        "started after the agreed instant",
      );
    }
  });
}

Deno.test("Coordinator() agrees on T_0 with its clients over UDP: hello, prestart, ready, go pushed to all", async () => {
  const events: string[] = [];
  const c = await Coordinator.start({
    bind: "127.0.0.1",
    token: "tok",
    nodes: 2,
    marginMs: 200,
    onEvent: (e) => events.push(e.type),
  });
  const pre = (count: number): Preflight => ({
    ok: true,
    error: null,
    boot_id: null,
    available_kib: 1e7,
    estimated_peak_kib: 1000,
    count,
  });
  const clients = await Promise.all(
    ["a", "b"].map((self) =>
      CoordinatorClient.open({
        host: "127.0.0.1",
        port: c.address.port,
        token: "tok",
        self,
      })
    ),
  );
  try {
    const pushed: Reply[][] = [[], []];
    clients.forEach((cl, i) => cl.onPush((r) => pushed[i].push(r)));
    const samples = await clients[0].roundTrips(10, hostClock(0), 1);
    const e = estimateOffset(samples);
    assert.ok(
      Math.abs(e.offset_ms) <= e.uncertainty_ms + 0.05,
      JSON.stringify(e),
    );
    const clock = estimateOffset(samples);
    const r1 = await clients[0].request({
      t: "hello",
      rank: 0,
      preflight: pre(1),
      clock,
    });
    assert.equal(r1.t, "wait");
    const r2 = await clients[1].request({
      t: "hello",
      rank: 1,
      preflight: pre(1),
      clock,
    });
    assert.equal(r2.t, "prestart");
    assert.equal(
      (await clients[0].request({
        t: "hello",
        rank: 0,
        preflight: pre(1),
        clock,
      })).t,
      "prestart",
    );
    assert.equal((await clients[0].request({ t: "ready" })).t, "wait");
    const before = realtimeMs();
    const go = await clients[1].request({ t: "ready" });
    assert.equal(go.t, "go");
    const t0 = (go as { t0: number }).t0;
    assert.ok(t0 - before > 150 && t0 - before < 1000, `${t0 - before}`);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(
      pushed[0].some((r) => r.t === "go" && r.t0 === t0),
      "pushed to the first",
    );
    assert.deepEqual(events.filter((x) => x !== "beat"), [
      "hello",
      "hello",
      "prestart",
      "ready",
      "ready",
      "go",
    ]);
    // a foreign token is ignored
    const stranger = await CoordinatorClient.open({
      host: "127.0.0.1",
      port: c.address.port,
      token: "other",
      self: "z",
    });
    await assert.rejects(
      stranger.request({ t: "ready" }, { timeoutMs: 300 }),
      /no answer/,
    );
    stranger.close();
  } finally {
    for (const cl of clients) cl.close();
    c.close();
  }
});

Deno.test("Coordinator() calls the storm off when one node refuses, telling every node why", async () => {
  const c = await Coordinator.start({
    bind: "127.0.0.1",
    token: "t",
    nodes: 2,
    marginMs: 100,
  });
  const a = await CoordinatorClient.open({
    host: "127.0.0.1",
    port: c.address.port,
    token: "t",
    self: "a",
  });
  const b = await CoordinatorClient.open({
    host: "127.0.0.1",
    port: c.address.port,
    token: "t",
    self: "b",
  });
  try {
    const clock = estimateOffset([{ t1: 0, t2: 0, t4: 0 }]);
    const ok: Preflight = {
      ok: true,
      error: null,
      boot_id: null,
      available_kib: 1,
      estimated_peak_kib: 0,
      count: 1,
    };
    let pushed: Reply | null = null;
    a.onPush((r) => (pushed = r));
    await a.request({ t: "hello", rank: 0, preflight: ok, clock });
    const r = await b.request({
      t: "hello",
      rank: 1,
      preflight: { ...ok, ok: false, error: "image not found at /x on b" },
      clock,
    });
    assert.equal(r.t, "abort");
    assert.match(
      (r as { reason: string }).reason,
      /b: image not found at \/x on b/,
    );
    await new Promise((res) => setTimeout(res, 50));
    assert.equal((pushed as Reply | null)?.t, "abort");
    assert.equal(c.t0, null);
  } finally {
    a.close();
    b.close();
    c.close();
  }
});

Deno.test("sharedMemoryErrors() adds up nodes that share one kernel", () => {
  const p = (boot: string, peak: number): Preflight => ({
    ok: true,
    error: null,
    boot_id: boot,
    available_kib: 1000,
    estimated_peak_kib: peak,
    count: 4,
  });
  assert.equal(
    sharedMemoryErrors([["a", p("k", 300)], ["b", p("k", 300)]]).length,
    0,
  );
  const errs = sharedMemoryErrors([["a", p("k", 500)], ["b", p("k", 500)], [
    "c",
    p("other", 800),
  ]]);
  assert.equal(errs.length, 1);
  assert.match(
    errs[0],
    /nodes a, b share one kernel .*8 instances need about 1 MiB.*--force/,
  );
});

Deno.test("shares() splits --total evenly and keeps an interval's cadence across the cluster", () => {
  assert.deepEqual(splitEvenly(100, 3), [34, 33, 33]);
  const s = shares({ kind: "total", total: 7 }, {
    kind: "interval",
    intervalMs: 5,
  }, 3);
  assert.deepEqual(s.map((x) => x.count), [3, 2, 2]);
  assert.deepEqual(s.map((x) => x.start_offset_ms), [0, 5, 10]);
  assert.deepEqual(s[0].pattern, { kind: "interval", intervalMs: 15 });
  const b = shares({ kind: "count", count: 16 }, { kind: "back-to-back" }, 3);
  assert.deepEqual(b.map((x) => [x.count, x.start_offset_ms]), [[16, 0], [
    16,
    0,
  ], [16, 0]]);
  assert.throws(
    () => shares({ kind: "total", total: 2 }, { kind: "back-to-back" }, 3),
    /at least one instance per node/,
  );
});

Deno.test("parseStormArgs() takes the multi-host flags and refuses what does not combine", () => {
  const a = parseStormArgs(
    [
      "--slurm",
      "--nodes",
      "3",
      "--partition",
      "storm",
      "--total",
      "48",
      "--interval",
      "5",
      "--accel",
      "tcg",
      "--inject-clock-offset",
      "0,250,-400",
    ],
    parseCommand,
  );
  assert.equal(a.nodes, 3);
  assert.equal(a.partition, "storm");
  assert.deepEqual(a.split, { kind: "total", total: 48 });
  assert.deepEqual(a.batch.pattern, { kind: "interval", intervalMs: 5 });
  assert.deepEqual(a.injectClockOffsetMs, [0, 250, -400]);
  const bad: [string[], RegExp][] = [
    [["--slurm", "--count", "4", "--total", "8"], /not both/],
    [["--slurm", "--count", "4", "--count", "8"], /one batch per node/],
    [["--slurm", "--plan", "x.json"], /does not combine with --slurm/],
    [["--slurm", "--nodes", "0"], /--nodes "0"/],
    [["--slurm", "--start-margin", "-3"], /--start-margin/],
    [["--slurm", "--count", "x"], /--count/],
  ];
  for (const [args, re] of bad) {
    assert.throws(
      () => parseStormArgs(args, parseCommand),
      (e: Error) => e instanceof UsageError && re.test(e.message),
      args.join(" "),
    );
  }
});

Deno.test("slurmConf() and nodeStartScript() follow the measured recipe (proctrack/cgroup, nsenter --net, per-node files)", () => {
  const p = clusterPlan({ nodes: 3, rootHostname: "vm.example" });
  const conf = slurmConf(p);
  for (
    const line of [
      "ProctrackType=proctrack/cgroup",
      "TaskPlugin=task/none",
      "SlurmctldHost=bsctl(10.213.61.2)",
      "NodeName=node3 NodeAddr=10.213.61.13",
      "SlurmdSpoolDir=/run/bootstorm-cluster/spool/%n",
      "ReturnToService=2",
      "PartitionName=storm Nodes=node[1-3]",
    ]
  ) {
    assert.ok(conf.includes(line), line);
  }
  const script = nodeStartScript(p, "node2");
  assert.match(script, /nsenter --net=\/run\/netns\/bs-node2/);
  assert.doesNotMatch(script, /ip netns exec/);
  assert.match(script, /unshare --mount --uts --cgroup/);
  assert.match(script, /slurmd -N node2/);
  assert.match(hostsFile(p), /^10\.213\.61\.1 vm$/m);
  assert.throws(
    () => clusterPlan({ subnet: "8.8.8", rootHostname: "x" }),
    /private \/24/,
  );
  assert.throws(() => clusterPlan({ nodes: 0, rootHostname: "x" }), /--nodes/);
});

Deno.test("mergeRows() moves instants onto the common timeline, keeps durations, and adds lost rows with the reason", () => {
  const agent = (rank: number, offset: number, mono: number) => ({
    rank,
    boot_id: "k",
    share: {
      count: 3,
      pattern: { kind: "back-to-back" as const },
      start_offset_ms: offset,
    },
    clock: { injected_offset_ms: 0, before: null, after: null },
    t0: {
      storm_ms: 1000,
      local: {
        submitter_ms: 1000 + offset,
        node_wall_ms: 0,
        node_monotonic_ms: mono,
      },
      slack_ms: 100,
    },
  });
  const row = (i: number, ts: number) => ({
    instance: i,
    scheduled_ms: null,
    t_s_ms: ts,
    ready_ms: ts + 50,
    boot_end_ms: ts + 50,
    boot_ms: 50,
    exit_ms: ts + 60,
    first_output_ms: ts + 49,
    first_output_boot_ms: 49,
    outcome: "ready",
    output_bytes: 6,
  });
  const inputs = [
    {
      host: "n2",
      rank: 1,
      agent: agent(1, 5, 105),
      record: { status: "partial", spawn_mode: "prestart", run_id: "r2" },
      runDir: "nodes/n2/r2",
      instances: [row(0, 2.5)],
      memory: [{ t_ms: 1, used_kib: 9, booting: 0 }],
      count: 3,
      outcome: { rank: 1, state: "lost", reason: "n2 stopped reporting" },
    },
    {
      host: "n1",
      rank: 0,
      agent: agent(0, 0, 100),
      record: { status: "complete", spawn_mode: "prestart", run_id: "r1" },
      runDir: "nodes/n1/r1",
      instances: [row(2, 30), row(0, 2), row(1, 20)],
      memory: [{ t_ms: 1, used_kib: 9, booting: 0 }],
      count: 3,
      outcome: null,
    },
  ] as unknown as HostInput[];
  const m = mergeRows(inputs);
  assert.deepEqual(
    m.instances.map((r) => `${r.host}/${r.instance}/${r.outcome}`),
    [
      "n1/0/ready",
      "n1/1/ready",
      "n1/2/ready",
      "n2/0/ready",
      "n2/1/lost",
      "n2/2/lost",
    ],
  );
  const n2 = m.instances.find((r) => r.host === "n2" && r.instance === 0)!;
  assert.equal(n2.t_s_ms, 7.5, "shifted by its start offset");
  assert.equal(n2.boot_ms, 50, "durations unchanged");
  assert.equal(m.instances[4].error, "n2 stopped reporting");
  assert.equal(m.instances[4].t_s_ms, null);
  assert.equal(m.memory[1].t_ms, 6);
  assert.deepEqual(m.hosts.map((h) => [h.host, h.status, h.ready, h.lost]), [[
    "n1",
    "complete",
    3,
    0,
  ], ["n2", "partial", 1, 2]]);
  assert.equal(m.hosts[0].start_late_ms, 0);
  assert.equal(m.hosts[1].start_late_ms, 0.5);
  assert.equal(m.skew.start_skew_ms, 0.5);
  // one shared clock: n2's start instant was 105 − 1000 − 5 + 0.5 vs n1's 100 − 1000 + 0
  assert.equal(m.skew.start_skew_same_clock_ms, 0.5);
});

Deno.test("hostSummary(), slowestHost() and recoveryCurve() read the merged host column", () => {
  const t = aq.table({
    host: ["a", "a", "b", "b", "b"],
    instance: [0, 1, 0, 1, 2],
    t_s_ms: [2, 2, 2, 2, null],
    boot_ms: [100, 300, 100, 900, null],
    boot_end_ms: [102, 302, 102, 902, null],
    concurrency_at_start: [0, 1, 0, 1, null],
    outcome: ["ready", "ready", "ready", "ready", "lost"],
  });
  const s = hostSummary(t).objects() as Record<string, unknown>[];
  assert.deepEqual(
    s.map((r) => [r.host, r.n, r.ready, r.lost, r.last_ready_ms]),
    [["a", 2, 2, 0, 302], ["b", 3, 2, 1, 902], ["all", 5, 4, 1, 902]],
  );
  const slow = slowestHost(hostSummary(t));
  assert.equal(slow.host, "b");
  assert.equal(slow.median_ratio, 500 / 200);
  const c = recoveryCurve(t);
  assert.deepEqual(c.array("up"), [1, 2, 3, 4]);
  assert.equal(timeToFraction(c, 0.8), 902);
  assert.equal(
    timeToFraction(c, 1),
    null,
    "a lost instance: the storm never fully recovered",
  );
});

Deno.test("findSlurm() names the fix when Slurm's commands are absent; parsePartitions() reads sinfo", () => {
  const path = Deno.env.get("PATH")!;
  try {
    Deno.env.set("PATH", "/nonexistent");
    assert.throws(
      () => findSlurm({}),
      /sbatch.*not found on PATH.*deno task cluster up/,
    );
  } finally {
    Deno.env.set("PATH", path);
  }
  assert.deepEqual(parsePartitions("storm*|up|2\nstorm*|up|1\ngpu|down|4\n"), [
    { name: "storm", available: true, nodes: 3, isDefault: true },
    { name: "gpu", available: false, nodes: 4, isDefault: false },
  ]);
});
