/**
 * Fast tests of the launcher's instance state machine (launcher/instance.ts)
 * and of launch() driven by the fake runner and the fake clock
 * (launcher/testing/): no process is started and no real time is waited.
 */
import assert from "node:assert/strict";
import {
  endBoot,
  exited,
  firstOutput,
  instanceRow,
  newInstance,
  notStarted,
  outcomeAtExit,
  spawnFailed,
  start,
} from "../launcher/instance.ts";
import { launch, type LaunchOptions } from "../launcher/launch.ts";
import { parseProfile, type Profile } from "../launcher/profile.ts";
import { readinessFor } from "../launcher/readiness.ts";
import { patternFromJson, PATTERNS, scheduledMs } from "../launcher/pattern.ts";
import {
  FakeClock,
  fakeRunner,
  type FakeScript,
} from "../launcher/testing/mod.ts";
import { countingClock } from "./helpers.ts";

// --- the state machine ---------------------------------------------------

Deno.test("transition() start sets T_s once and not after the boot ended", () => {
  const s = newInstance(0);
  assert.equal(start(s, 2), true);
  assert.equal(start(s, 3), false);
  assert.equal(s.t_s_ms, 2);
  const t = newInstance(1);
  notStarted(t);
  assert.equal(start(t, 1), false);
  assert.equal(t.t_s_ms, null);
});

Deno.test("transition() endBoot keeps the first outcome, sets ready_ms only when ready", () => {
  const s = newInstance(0);
  start(s, 0);
  assert.equal(endBoot(s, { outcome: "timeout", t: 100 }), true);
  assert.equal(endBoot(s, { outcome: "ready", t: 120 }), false);
  assert.equal(s.outcome, "timeout");
  assert.equal(s.boot_end_ms, 100);
  assert.equal(s.ready_ms, null);
  const r = newInstance(1);
  start(r, 1);
  endBoot(r, { outcome: "ready", t: 9 });
  assert.deepEqual([r.outcome, r.ready_ms, r.boot_end_ms], ["ready", 9, 9]);
});

Deno.test("transition() firstOutput records only the first byte's time", () => {
  const s = newInstance(0);
  assert.equal(firstOutput(s, 4), true);
  assert.equal(firstOutput(s, 6), false);
  assert.equal(s.first_output_ms, 4);
});

Deno.test("transition() exited records the status once", () => {
  const s = newInstance(0);
  assert.equal(exited(s, { t: 5, code: 3, signal: null }), true);
  assert.equal(exited(s, { t: 6, code: null, signal: "SIGKILL" }), false);
  assert.deepEqual([s.exited, s.exit_ms, s.exit_code, s.signal], [
    true,
    5,
    3,
    null,
  ]);
});

Deno.test("transition() spawnFailed is T_s and T_e at once with the reason", () => {
  const s = newInstance(0, { scheduled_ms: 10 });
  assert.equal(spawnFailed(s, { t: 12, error: "ENOENT" }), true);
  assert.deepEqual(
    [s.outcome, s.t_s_ms, s.boot_end_ms, s.error],
    ["spawn_failed", 12, 12, "ENOENT"],
  );
  const row = instanceRow(s, { starts: [12], ends: [12] });
  assert.equal(row.outcome, "spawn_failed");
  assert.equal(row.boot_ms, null);
  assert.equal(row.error, "ENOENT");
});

Deno.test("transition() outcomeAtExit decides not_started, spawn_failed, ready or exited_before_ready", () => {
  const s = newInstance(0);
  assert.equal(outcomeAtExit(s, { readyAtExit: true }), "not_started");
  start(s, 0);
  assert.equal(outcomeAtExit(s, { execFailed: true }), "spawn_failed");
  assert.equal(outcomeAtExit(s, { readyAtExit: true }), "ready");
  assert.equal(outcomeAtExit(s), "exited_before_ready");
  endBoot(s, { outcome: "ready", t: 1 });
  assert.equal(outcomeAtExit(s), null);
});

Deno.test("instanceRow() of a never started instance is all null but its schedule", () => {
  const s = newInstance(3, { scheduled_ms: 15 });
  notStarted(s);
  const row = instanceRow(s, { starts: [], ends: [], marks: ["kernel"] });
  assert.equal(row.outcome, "not_started");
  assert.equal(row.scheduled_ms, 15);
  assert.equal(row.t_s_ms, null);
  assert.equal(row.boot_ms, null);
  assert.equal(row.output_bytes, 0);
  assert.equal(row.error, null);
  assert.equal(row.kernel_ms, null);
});

Deno.test("readinessFor() gives one strategy per rule", () => {
  const line = readinessFor({ line: "OK" });
  assert.equal(line.readyLine?.source, "OK");
  assert.equal(line.readyOnOutput(false), false);
  assert.equal(line.readyByte(7), 7);
  const first = readinessFor({ firstOutput: true });
  assert.equal(first.readyOnOutput(false), true);
  assert.equal(first.readyByte(null), 0);
  const exit = readinessFor({ exit: true });
  assert.equal(exit.readyAtExit, true);
  assert.equal(exit.readyOnOutput(true), false);
  assert.equal(exit.rssAtFirstOutput, true);
});

Deno.test("PATTERNS has an entry per pattern kind, each with its own schedule and JSON", () => {
  assert.deepEqual(Object.keys(PATTERNS), [
    "interval",
    "back-to-back",
    "parallel",
  ]);
  assert.equal(scheduledMs({ kind: "interval", intervalMs: 5 }, 3), 15);
  assert.equal(scheduledMs({ kind: "back-to-back" }, 3), null);
  for (const k of Object.values(PATTERNS)) {
    assert.equal(patternFromJson(JSON.parse(k.json))?.kind, k.kind);
  }
  assert.equal(patternFromJson({ kind: "nope" }), null);
  assert.equal(patternFromJson({ kind: "toString" }), null);
});

// --- launch() on the fake runner and the fake clock -----------------------

function profileOf(ready: Record<string, unknown>): Profile {
  return parseProfile({
    name: "fake",
    argv: ["guest"],
    ready,
    timeoutMs: 1000,
  });
}

async function fakeLaunch(
  profile: Profile,
  script: (k: number) => FakeScript,
  options: Partial<LaunchOptions> = {},
) {
  const clock = new FakeClock({ start: 1000 });
  const runner = fakeRunner(clock, { script });
  const res = await clock.run(launch(profile, {
    count: 1,
    pattern: { kind: "back-to-back" },
    argv: profile.argv,
    runner,
    clock,
    spawnMode: "direct",
    sampleIntervalMs: 0,
    reaper: false,
    graceMs: 100,
    ...options,
  }));
  const rows = [...res.rows].sort((a, b) => a.instance - b.instance);
  return { res, rows, runner, clock };
}

Deno.test("launch() with the fake runner: ready line → ready, T_e at the line, killed after ready", async () => {
  const { rows, runner } = await fakeLaunch(
    profileOf({ line: "^READY$" }),
    () => ({
      stdout: [{ at: 3, line: "booting" }, { at: 8, line: "READY" }],
      exitAt: 500,
    }),
    { count: 2, pattern: { kind: "interval", intervalMs: 10 } },
  );
  assert.deepEqual(rows.map((r) => r.outcome), ["ready", "ready"]);
  assert.deepEqual(rows.map((r) => r.t_s_ms), [0, 10]);
  assert.deepEqual(rows.map((r) => r.scheduled_ms), [0, 10]);
  assert.deepEqual(rows.map((r) => r.boot_ms), [8, 8]);
  assert.deepEqual(rows.map((r) => r.first_output_boot_ms), [3, 3]);
  assert.equal(rows[1].concurrency_at_start, 0);
  assert.equal(rows[0].output_bytes, "booting\nREADY\n".length);
  // kill-after-ready: SIGTERM at T_e, the process ends at once.
  assert.deepEqual(runner.spawns[0].signals.slice(0, 1), ["SIGTERM"]);
  assert.equal(rows[0].signal, "SIGTERM");
  assert.equal(rows[0].exit_ms, 8);
});

Deno.test("launch() with the fake runner: first output, then the ready line; marks recorded", async () => {
  const { rows } = await fakeLaunch(
    profileOf({ line: "login:" }),
    () => ({
      stdout: [
        { at: 2, line: "SeaBIOS" },
        { at: 20, line: "Linux version" },
        { at: 40, line: "login:" },
      ],
    }),
    { marks: { kernel: /^Linux version/ } },
  );
  const r = rows[0] as Record<string, unknown>;
  assert.equal(r.outcome, "ready");
  assert.equal(r.first_output_ms, 2);
  assert.equal(r.ready_ms, 40);
  assert.equal(r.kernel_ms, 20);
});

Deno.test("launch() with the fake runner: firstOutput rule is ready at the first byte", async () => {
  const { rows } = await fakeLaunch(
    profileOf({ firstOutput: true }),
    () => ({ stdout: [{ at: 6, line: "x" }] }),
  );
  assert.equal(rows[0].outcome, "ready");
  assert.equal(rows[0].boot_ms, 6);
});

Deno.test("launch() with the fake runner: exit rule is ready at exit", async () => {
  const { rows } = await fakeLaunch(
    profileOf({ exit: true }),
    () => ({ stdout: [{ at: 1, line: "x" }], exitAt: 30, code: 0 }),
  );
  assert.equal(rows[0].outcome, "ready");
  assert.equal(rows[0].ready_ms, 30);
  assert.equal(rows[0].exit_code, 0);
});

Deno.test("launch() with the fake runner: exit before ready is exited_before_ready with the code and stderr", async () => {
  const { rows } = await fakeLaunch(
    profileOf({ line: "READY" }),
    () => ({
      stderr: [{ at: 1, line: "qemu: could not load kernel" }],
      exitAt: 4,
      code: 1,
    }),
  );
  assert.equal(rows[0].outcome, "exited_before_ready");
  assert.equal(rows[0].exit_code, 1);
  assert.equal(rows[0].boot_end_ms, 4);
  assert.equal(rows[0].boot_ms, null);
  assert.equal(rows[0].error, "qemu: could not load kernel");
});

Deno.test("launch() with the fake runner: timeout at T_s + timeout, SIGKILL after the grace period", async () => {
  const { rows, runner } = await fakeLaunch(
    profileOf({ line: "READY" }),
    () => ({ stdout: [{ at: 5, line: "hang" }], ignoreSigterm: true }),
  );
  assert.equal(rows[0].outcome, "timeout");
  assert.equal(rows[0].boot_end_ms, 1000);
  assert.deepEqual(runner.spawns[0].signals.slice(0, 2), [
    "SIGTERM",
    "SIGKILL",
  ]);
  assert.equal(rows[0].exit_ms, 1100);
  assert.equal(rows[0].signal, "SIGKILL");
});

Deno.test("launch() with the fake runner: each instance times out at its own T_s + timeout, one timer for all", async () => {
  // Started 300 ms apart; instance 1 boots, the others hang. The launcher
  // keeps one timer, set for the earliest deadline of a booting instance.
  const { rows } = await fakeLaunch(
    profileOf({ line: "READY" }),
    (k) => ({
      stdout: [{ at: 5, line: k === 1 ? "READY" : "hang" }],
    }),
    { count: 3, pattern: { kind: "interval", intervalMs: 300 }, graceMs: 0 },
  );
  assert.deepEqual(rows.map((r) => r.outcome), [
    "timeout",
    "ready",
    "timeout",
  ]);
  assert.deepEqual(rows.map((r) => r.boot_end_ms), [1000, 305, 1600]);
  // 20 back-to-back: the launcher's own timers (the fake runner's go to the
  // clock directly) are one for all the boot timeouts.
  const clock = new FakeClock({ start: 1000 });
  const counting = countingClock(clock);
  const profile = profileOf({ line: "READY" });
  const res = await clock.run(launch(profile, {
    count: 20,
    pattern: { kind: "back-to-back" },
    argv: profile.argv,
    runner: fakeRunner(clock, {
      script: () => ({ stdout: [{ at: 5, line: "READY" }] }),
    }),
    clock: counting.clock,
    spawnMode: "direct",
    sampleIntervalMs: 0,
    reaper: false,
    graceMs: 0,
  }));
  assert.equal(res.rows.filter((r) => r.outcome === "ready").length, 20);
  // Exits within 50 ms share their drain limit: one more timer.
  const set = counting.sets();
  assert.equal(set, 2, `${set} timers set by launch() for 20 instances`);
});

Deno.test("launch() with the fake runner: wait-exit keeps a ready instance until it exits, or until its timeout", async () => {
  const profile = parseProfile({
    name: "fake",
    argv: ["guest"],
    ready: { line: "READY" },
    timeoutMs: 1000,
    teardown: "wait-exit",
  });
  const { rows, runner } = await fakeLaunch(
    profile,
    (k) => ({
      stdout: [{ at: 5, line: "READY" }],
      exitAt: k === 0 ? 50 : null,
    }),
    { count: 2, graceMs: 0 },
  );
  assert.deepEqual(rows.map((r) => r.outcome), ["ready", "ready"]);
  assert.deepEqual(rows.map((r) => r.boot_end_ms), [5, 5]);
  assert.equal(rows[0].exit_ms, 50);
  assert.equal(rows[0].signal, null);
  assert.equal(rows[1].exit_ms, 1000);
  assert.equal(rows[1].signal, "SIGKILL");
  assert.equal(runner.spawns[1].signals[0], "SIGKILL");
});

Deno.test("launch() with the fake runner: interrupted before the first spawn → every instance not_started", async () => {
  const ac = new AbortController();
  ac.abort();
  const { rows, res, runner } = await fakeLaunch(
    profileOf({ line: "READY" }),
    () => ({ stdout: [{ at: 1, line: "READY" }] }),
    {
      count: 3,
      pattern: { kind: "interval", intervalMs: 5 },
      signal: ac.signal,
    },
  );
  assert.equal(res.interrupted, true);
  assert.equal(runner.spawns.length, 0);
  assert.deepEqual(rows.map((r) => r.outcome), [
    "not_started",
    "not_started",
    "not_started",
  ]);
  assert.deepEqual(rows.map((r) => r.scheduled_ms), [0, 5, 10]);
  assert.ok(rows.every((r) => r.t_s_ms === null && r.pid === null));
});

Deno.test("launch() with the fake runner: stderr keeps its first and last lines", async () => {
  const lines = Array.from({ length: 400 }, (_, k) => ({
    at: 1 + k * 0.01,
    line: k === 0
      ? "qemu: warning: host lacks feature"
      : k === 1
      ? "qemu: fatal: cannot open image"
      : k === 399
      ? "qemu: giving up"
      : `noise line ${k} ${"x".repeat(40)}`,
  }));
  const { rows } = await fakeLaunch(
    profileOf({ line: "READY" }),
    () => ({ stderr: lines, exitAt: 10, code: 1 }),
  );
  assert.equal(
    rows[0].error,
    "qemu: fatal: cannot open image … qemu: giving up",
  );
});

Deno.test("launch() with the fake runner: a spawn that throws is spawn_failed, the others boot", async () => {
  const { rows } = await fakeLaunch(
    profileOf({ line: "READY" }),
    (k) =>
      k === 1
        ? { spawnError: "Failed to spawn 'guest': No such file or directory" }
        : { stdout: [{ at: 2, line: "READY" }] },
    { count: 3 },
  );
  assert.deepEqual(rows.map((r) => r.outcome), [
    "ready",
    "spawn_failed",
    "ready",
  ]);
  assert.match(rows[1].error ?? "", /No such file/);
  assert.equal(rows[1].t_s_ms, rows[1].boot_end_ms);
});

Deno.test("launch() with the fake runner: parallel keeps P booting", async () => {
  const { rows } = await fakeLaunch(
    profileOf({ line: "READY" }),
    () => ({ stdout: [{ at: 10, line: "READY" }] }),
    { count: 4, pattern: { kind: "parallel", parallelism: 2 } },
  );
  assert.deepEqual(rows.map((r) => r.t_s_ms), [0, 0, 10, 10]);
  assert.ok(rows.every((r) => r.concurrency_at_start! <= 1));
});

Deno.test("launch() refuses a fake clock with pre-started instances", async () => {
  const clock = new FakeClock();
  const profile = profileOf({ line: "READY" });
  await assert.rejects(
    launch(profile, {
      count: 1,
      pattern: { kind: "back-to-back" },
      argv: profile.argv,
      runner: fakeRunner(clock, { script: () => ({}) }),
      clock,
      spawnMode: "prestart",
      sampleIntervalMs: 0,
    }),
    /real monotonic clock/,
  );
});

Deno.test("launch() with the fake runner: grace 0 kills a ready instance with SIGKILL at once, no SIGTERM", async () => {
  const { rows, runner } = await fakeLaunch(
    profileOf({ line: "^READY$" }),
    () => ({ stdout: [{ at: 5, line: "READY" }], exitAt: 500 }),
    { graceMs: 0 },
  );
  assert.equal(rows[0].outcome, "ready");
  assert.equal(runner.spawns[0].signals[0], "SIGKILL");
  assert.ok(!runner.spawns[0].signals.includes("SIGTERM"));
  assert.equal(rows[0].signal, "SIGKILL");
  assert.equal(rows[0].exit_ms, 5);
});

Deno.test("launch() without graceMs SIGKILLs at ready for kill-after-ready (the paper's method), and keeps 1000 ms of SIGTERM for wait-exit", async () => {
  const ready = await fakeLaunch(
    profileOf({ line: "^READY$" }),
    () => ({ stdout: [{ at: 5, line: "READY" }], exitAt: 500 }),
    { graceMs: undefined },
  );
  assert.equal(ready.rows[0].outcome, "ready");
  assert.equal(ready.runner.spawns[0].signals[0], "SIGKILL");
  assert.ok(!ready.runner.spawns[0].signals.includes("SIGTERM"));
  assert.equal(ready.rows[0].exit_ms, 5);
  const waitExit = await fakeLaunch(
    parseProfile({
      name: "fake",
      argv: ["guest"],
      ready: { line: "READY" },
      timeoutMs: 1000,
      teardown: "wait-exit",
    }),
    () => ({ stdout: [{ at: 5, line: "hang" }], ignoreSigterm: true }),
    { graceMs: undefined },
  );
  assert.equal(waitExit.rows[0].outcome, "timeout");
  assert.deepEqual(waitExit.runner.spawns[0].signals.slice(0, 2), [
    "SIGTERM",
    "SIGKILL",
  ]);
  assert.equal(waitExit.rows[0].exit_ms, 2000);
});
