/**
 * Fault injection with fake guests (tiny shell scripts as the profile's
 * argv): timeouts, early exits, floods, stubborn processes, missing
 * binaries and an interrupted launcher.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { realClock } from "../launcher/clock.ts";
import { launch } from "../launcher/launch.ts";
import { parseProfile, ProfileError } from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import {
  alive,
  countingClock,
  fakeProfile,
  readArrowRows,
  readCsvRows,
  ROOT,
} from "./helpers.ts";

Deno.test("launch() marks a guest that never prints as timeout and reaps it", async () => {
  const p = fakeProfile("silent", "exec sleep 30", { timeoutMs: 300 });
  const res = await launch(p, {
    count: 2,
    pattern: { kind: "back-to-back" },
    argv: p.argv,
    graceMs: 200,
    sampleIntervalMs: 0,
  });
  for (const r of res.rows) {
    assert.equal(r.outcome, "timeout");
    assert.equal(r.ready_ms, null);
    assert.equal(r.boot_ms, null);
    assert.equal(r.first_output_ms, null);
    assert.ok(r.boot_end_ms! - r.t_s_ms! >= 300);
    assert.ok(!alive(r.pid!), "reaped");
  }
});

Deno.test("launch() records exited_before_ready with the exit code", async () => {
  const p = fakeProfile("dies", "echo booting; echo oops >&2; exit 1");
  const res = await launch(p, {
    count: 3,
    pattern: { kind: "back-to-back" },
    argv: p.argv,
    sampleIntervalMs: 0,
  });
  for (const r of res.rows) {
    assert.equal(r.outcome, "exited_before_ready");
    assert.equal(r.exit_code, 1);
    assert.equal(r.signal, null);
    assert.equal(r.boot_ms, null);
    assert.ok(r.first_output_ms !== null);
    assert.equal(r.error, "oops", "last stderr line kept");
  }
});

Deno.test("launch() drains a 200 MB flood with bounded memory and still sees the ready line", async () => {
  // 200 MiB without newlines, then newline-separated noise, then READY.
  const p = fakeProfile(
    "flood",
    "head -c 209715200 /dev/zero | tr '\\0' x; echo; seq 1 1000; echo READY; exec sleep 30",
    { timeoutMs: 60000 },
  );
  const before = Deno.memoryUsage().rss;
  const res = await launch(p, {
    count: 1,
    pattern: { kind: "back-to-back" },
    argv: p.argv,
    sampleIntervalMs: 0,
  });
  const grew = Deno.memoryUsage().rss - before;
  const r = res.rows[0];
  assert.equal(r.outcome, "ready");
  assert.ok(r.output_bytes > 200 * 1024 * 1024);
  // Each chunk read is garbage once handled; V8 collects it when its
  // external memory has grown by tens of MiB: measured standalone, the RSS
  // grew 40-43 MiB for 50 MiB, 62 for 100, 74-75 for 200 and 400. Kept
  // output would grow it by the whole flood.
  assert.ok(
    grew < 100 * 1024 * 1024,
    `launcher RSS grew ${grew} bytes for a 200 MiB flood`,
  );
});

Deno.test("launch() kills a guest that ignores SIGTERM after the grace period", async () => {
  const p = fakeProfile(
    "stubborn",
    "trap '' TERM; echo READY; while :; do sleep 0.05; done",
  );
  const res = await launch(p, {
    count: 1,
    pattern: { kind: "back-to-back" },
    argv: p.argv,
    graceMs: 300,
    sampleIntervalMs: 0,
  });
  const r = res.rows[0];
  assert.equal(r.outcome, "ready");
  assert.equal(r.signal, "SIGKILL");
  assert.ok(r.exit_ms! - r.ready_ms! >= 300, "waited the grace period");
  assert.ok(!alive(r.pid!));
});

Deno.test("runBatch() names the profile and the binary when argv[0] is missing", async () => {
  const p = parseProfile({
    name: "ghost",
    argv: ["/nonexistent/qemu-ghost", "-x"],
    ready: { line: "x" },
  }, { path: "/tmp/ghost.json" });
  await assert.rejects(
    () =>
      runBatch(p, {
        count: 1,
        pattern: { kind: "back-to-back" },
        outDir: "/tmp",
      }),
    (e: Error) =>
      e instanceof ProfileError && /"ghost"/.test(e.message) &&
      /\/nonexistent\/qemu-ghost/.test(e.message) &&
      /\/tmp\/ghost\.json/.test(e.message),
  );
});

Deno.test("launch() records spawn_failed per instance when the binary vanishes mid-run", async () => {
  const res = await launch(fakeProfile("x", ""), {
    count: 2,
    pattern: { kind: "back-to-back" },
    argv: ["/nonexistent/binary"],
    sampleIntervalMs: 0,
  });
  for (const r of res.rows) {
    assert.equal(r.outcome, "spawn_failed");
    assert.match(r.error!, /nonexistent|No such file|not found/i);
    assert.ok(r.pid === null || !alive(r.pid), "nothing left running");
  }
});

Deno.test("cli: SIGINT mid-run leaves no child and a partial dataset that reads back", async () => {
  const dir = await Deno.makeTempDir();
  const marker = `bootstorm-sigint-${crypto.randomUUID().slice(0, 8)}`;
  const profilePath = join(dir, "slow.json");
  await Deno.writeTextFile(
    profilePath,
    JSON.stringify({
      name: "slow",
      // Half the instances boot at once, the rest never do: the first three
      // to take a slot (mkdir is atomic) print READY. (Not by pid parity: the
      // spawn helper's thread per instance takes a pid too, so its children's
      // pids can all have the same parity.)
      argv: [
        "/bin/sh",
        "-c",
        `for k in 1 2 3; do mkdir ${dir}/slot$k 2>/dev/null && { echo READY; break; }; done; exec sleep 60 # ${marker}`,
      ],
      ready: { line: "READY" },
      timeoutMs: 60000,
      teardown: "hold-until-all-ready",
    }),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(ROOT, "cli/sweep.ts"),
      "--image",
      profilePath,
      "--count",
      "6",
      "--interval",
      "20",
      "--out",
      dir,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Wait until every instance has started, then interrupt.
  const deadline = Date.now() + 20000;
  const running = () => {
    let n = 0;
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        if (Deno.readTextFileSync(`/proc/${e.name}/cmdline`).includes(marker)) {
          n++;
        }
      } catch { /* gone */ }
    }
    return n;
  };
  while (running() < 6 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300));
  child.kill("SIGINT");
  const out = await child.output();
  assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
  assert.equal(running(), 0, "no child left");
  const runDir = new TextDecoder().decode(out.stdout).trim().split("\n").at(
    -1,
  )!;
  const rows = readArrowRows(runDir, "instances");
  assert.equal(rows.length, 6, "every instance has a row");
  assert.equal(readCsvRows(runDir, "instances").length, 6);
  const outcomes = new Set(rows.map((r) => r.outcome));
  assert.ok(outcomes.has("interrupted"));
  for (const r of rows) assert.ok(!alive(r.pid as number));
  const run = JSON.parse(await Deno.readTextFile(join(runDir, "run.json")));
  assert.equal(run.status, "partial");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runBatch() raises the main thread (nice -10) from T_0 to the end of a pre-started batch; no instance inherits it", async () => {
  const dir = await Deno.makeTempDir();
  // The nice value is field 19 of /proc/<pid>/stat (17 after "pid (comm) ").
  const script =
    `awk '{sub(/.*\\) /, ""); print $17}' /proc/$$/stat > ${dir}/nice.$$; echo READY; exec sleep 5`;
  const { record } = await runBatch(fakeProfile("nice", script), {
    count: 3,
    pattern: { kind: "back-to-back" },
    outDir: dir,
    sampleIntervalMs: 0,
  });
  const main = record.main_thread!;
  if (main.warning === null) {
    assert.equal(main.nice, -10);
  } else {
    // Not permitted here (not root): said so, and left unchanged.
    assert.match(main.warning, /setpriority/);
  }
  const seen: number[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith("nice.")) {
      seen.push(Number(Deno.readTextFileSync(join(dir, e.name)).trim()));
    }
  }
  assert.deepEqual(seen, [0, 0, 0], "instances run at the host's nice");
  const ownNice = Number(
    Deno.readTextFileSync("/proc/thread-self/stat").replace(/.*\) /, "")
      .split(" ")[16],
  );
  assert.equal(ownNice, 0, "the main thread is back to normal afterwards");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runBatch() reads PSS and USS for every ⌈N/4⌉-th instance only; all of a small batch", async () => {
  const dir = await Deno.makeTempDir();
  const profile = fakeProfile("pss", "echo READY; exec sleep 30", {
    timeoutMs: 30000,
  });
  const big = await runBatch(profile, {
    count: 20,
    pattern: { kind: "back-to-back" },
    outDir: dir,
    sampleIntervalMs: 0,
  });
  const rows = [...big.result.rows].sort((a, b) => a.instance - b.instance);
  const ready = rows.filter((r) => r.outcome === "ready");
  // All 20: an instance whose output overtakes its release message is
  // still started, at the T_s its release thread recorded.
  assert.deepEqual(
    rows.filter((r) => r.outcome !== "ready").map((
      r,
    ) => [r.instance, r.outcome]),
    [],
  );
  // ⌈20 / 4⌉ = 5: instances 0, 5, 10, 15 (of those ready)
  for (const r of ready) {
    assert.equal(
      r.uss_kib !== null,
      r.instance % 5 === 0,
      `instance ${r.instance}`,
    );
  }
  assert.ok(rows.every((r) => (r.pss_kib === null) === (r.uss_kib === null)));
  const read = ready.find((r) => r.uss_kib !== null)!;
  assert.ok(read.pss_kib! > 0 && read.uss_kib! > 0);
  const small = await runBatch(profile, {
    count: 3,
    pattern: { kind: "back-to-back" },
    outDir: dir,
    sampleIntervalMs: 0,
  });
  assert.ok(
    small.result.rows.filter((r) => r.outcome === "ready")
      .every((r) => r.uss_kib !== null),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("launch() with wait-exit leaves no timer behind once every instance has exited", async () => {
  // The one boot-timeout timer outlives the boots under wait-exit (a ready
  // instance may still run); it must not outlive the batch, or a CLI run
  // waits for it (20 s here). The real clock, counting what is pending.
  const { clock, pending } = countingClock(realClock);
  const p = fakeProfile("exits", "echo READY", {
    timeoutMs: 20000,
    teardown: "wait-exit",
  });
  const res = await launch(p, {
    count: 2,
    pattern: { kind: "back-to-back" },
    argv: p.argv,
    sampleIntervalMs: 0,
    clock,
    spawnMode: "direct",
  });
  assert.deepEqual(res.rows.map((r) => r.outcome), ["ready", "ready"]);
  const left = pending.size;
  for (const id of pending) realClock.clearTimeout(id);
  assert.equal(left, 0, `${left} timer(s) of launch() still pending`);
});
