/** Phases: named marks, QEMU phase mode (T_K from QMP), and a QMP socket that never answers. */
import assert from "node:assert/strict";
import { ensureMinkernel } from "../images/build.ts";
import { launch } from "../launcher/launch.ts";
import { loadProfile } from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { alive, fakeProfile, readArrowRows } from "./helpers.ts";

await ensureMinkernel();

Deno.test("launch() records named marks in order, null when absent", async () => {
  const p = fakeProfile(
    "marks",
    "echo 'Linux version 6'; sleep 1; echo 'Run /init as init process'; echo READY",
    {
      marks: {
        kernel: "Linux version",
        init: "Run /init",
        never: "no such line",
      },
    },
  );
  const res = await launch(p, {
    count: 2,
    pattern: { kind: "back-to-back" },
    argv: p.argv,
    sampleIntervalMs: 0,
    marks: {
      kernel: /Linux version/,
      init: /Run \/init/,
      never: /no such line/,
    },
  });
  for (const r of res.rows as unknown as Record<string, number | null>[]) {
    assert.equal(r.outcome as unknown, "ready");
    assert.ok(r.kernel_ms !== null && r.init_ms !== null);
    // In order; a loaded host may deliver both lines in one read (same
    // time), so no assertion on the 50 ms between them.
    assert.ok(
      r.t_s_ms! <= r.kernel_ms! && r.kernel_ms! <= r.init_ms! &&
        r.init_ms! <= r.ready_ms!,
    );
    // Marks are timed when the launcher reads their line: on a loaded host
    // that can lag by tens of ms (a 50 ms sleep once showed as < 40 ms), so
    // the sleep is long and only half of it must show.
    assert.ok(
      r.init_ms! - r.kernel_ms! >= 500,
      `the 1 s sleep falls between the marks: ${r.init_ms! - r.kernel_ms!} ms`,
    );
    assert.equal(r.never_ms, null);
  }
});

Deno.test("runBatch() in phase mode splits QEMU start-up from the guest's boot", async () => {
  const dir = await Deno.makeTempDir();
  const { runDir, record } = await runBatch(await loadProfile("minkernel"), {
    count: 2,
    pattern: { kind: "back-to-back" },
    accel: "tcg",
    outDir: dir,
    phases: true,
  });
  assert.equal(record.phases, true);
  for (const r of readArrowRows(runDir, "instances")) {
    assert.equal(r.outcome, "ready", String(r.error));
    const [ts, vmm, tk, ready] = [
      r.t_s_ms,
      r.vmm_ready_ms,
      r.t_k_ms,
      r.ready_ms,
    ] as number[];
    // T_K is never after the first byte; on a loaded host the launcher may
    // read the acknowledgement, the firmware's output and "Hello" together.
    assert.ok(
      ts < vmm && vmm <= tk && tk <= ready,
      `${ts} < ${vmm} <= ${tk} <= ${ready}`,
    );
    assert.ok(Math.abs((r.vmm_init_ms as number) - (tk - ts)) < 1e-9);
    assert.ok(Math.abs((r.guest_boot_ms as number) - (ready - tk)) < 1e-9);
    // The guest is paused until cont: its first output comes after T_K.
    assert.ok((r.first_output_ms as number) >= tk);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("launch() in phase mode times out cleanly when QMP never answers, instance reaped", async () => {
  // A fake VMM that listens on the QMP socket it is given but never greets.
  const script = [
    "import socket, sys, time",
    "path = sys.argv[-1].split(',')[0][len('unix:'):]",
    "s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(1)",
    "time.sleep(60)",
  ].join("\n");
  const p = fakeProfile("mute-qmp", "", { timeoutMs: 800 });
  const res = await launch(p, {
    count: 2,
    pattern: { kind: "back-to-back" },
    argv: ["python3", "-c", script],
    phases: true,
    graceMs: 200,
    sampleIntervalMs: 0,
  });
  for (const r of res.rows) {
    assert.equal(r.outcome, "timeout");
    assert.equal(r.t_k_ms, null);
    assert.equal(r.vmm_init_ms, null);
    assert.match(r.error ?? "", /QMP/);
    assert.ok(!alive(r.pid!), "reaped");
  }
});
