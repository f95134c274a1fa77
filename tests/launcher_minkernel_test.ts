/**
 * The launcher on the real minkernel under QEMU (small N): outcomes, the
 * pattern, concurrency, and the dataset files agreeing with each other.
 */
import assert from "node:assert/strict";
import { ensureMinkernel } from "../images/build.ts";
import { loadProfile } from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { concurrencyAt } from "../launcher/pattern.ts";
import { SCHEMA_VERSION } from "../dataset/schema.ts";
import { readArrowRows, readCsvRows } from "./helpers.ts";

await ensureMinkernel();

type Row = Record<string, unknown>;

function checkDataset(runDir: string, n: number): Row[] {
  const arrow = readArrowRows(runDir, "instances");
  const csv = readCsvRows(runDir, "instances");
  assert.equal(arrow.length, n);
  assert.equal(csv.length, n);
  // Same rows in both files, same order.
  for (let i = 0; i < n; i++) {
    assert.equal(String(arrow[i].instance), csv[i].instance);
    assert.equal(Number(csv[i].boot_ms), arrow[i].boot_ms);
    assert.equal(Number(csv[i].t_s_ms), arrow[i].t_s_ms);
    assert.equal(csv[i].outcome, arrow[i].outcome);
  }
  const mem = readArrowRows(runDir, "memory");
  assert.equal(mem.length, readCsvRows(runDir, "memory").length);
  assert.ok(mem.length > 10, "memory was sampled");
  const run = JSON.parse(Deno.readTextFileSync(`${runDir}/run.json`));
  for (
    const key of [
      "schema_version",
      "run_id",
      "host",
      "accelerator",
      "qemu",
      "image",
      "argv",
      "pattern",
      "toolkit",
      "started_at",
      "deno",
      "memory_sampler",
    ]
  ) {
    assert.ok(
      run[key] !== undefined && run[key] !== null,
      `run.json has ${key}`,
    );
  }
  assert.equal(run.schema_version, SCHEMA_VERSION);
  assert.equal(run.status, "complete");
  assert.match(run.image.sha256, /^[0-9a-f]{64}$/);
  assert.ok(run.host.cores > 0 && run.host.mem_total_kib > 0);
  assert.match(run.qemu.version, /^\d+\.\d+/);
  assert.ok(run.memory_sampler.achieved_hz > 0);
  return arrow;
}

function checkBoots(rows: Row[]): void {
  const starts = rows.map((r) => r.t_s_ms as number);
  const ends = rows.map((r) => r.boot_end_ms as number);
  for (const r of rows) {
    assert.equal(r.outcome, "ready", `instance ${r.instance}: ${r.error}`);
    assert.ok((r.boot_ms as number) > 0);
    assert.ok((r.first_output_boot_ms as number) > 0);
    assert.ok((r.first_output_ms as number) <= (r.ready_ms as number));
    assert.ok((r.rss_peak_kib as number) > 1024, "QEMU's peak RSS was read");
    // "Hello" is enough; the newline may never come (killed right after ready).
    assert.ok((r.output_bytes as number) >= 5);
    // concurrency_at_start agrees with the intervals actually recorded.
    const i = rows.indexOf(r);
    assert.equal(
      r.concurrency_at_start,
      concurrencyAt(starts[i], starts, ends, i),
    );
  }
  assert.ok(
    rows.some((r) => (r.concurrency_at_start as number) > 0),
    "instances overlapped",
  );
}

Deno.test("runBatch() boots 8 minkernels back-to-back and records every column", async () => {
  const dir = await Deno.makeTempDir();
  const profile = await loadProfile("minkernel");
  const { runDir, record } = await runBatch(profile, {
    count: 8,
    pattern: { kind: "back-to-back" },
    accel: "tcg",
    outDir: dir,
  });
  const rows = checkDataset(runDir, 8);
  checkBoots(rows);
  const byIndex = [...rows].sort((a, b) =>
    (a.instance as number) - (b.instance as number)
  );
  for (let i = 1; i < 8; i++) {
    assert.ok(
      (byIndex[i].t_s_ms as number) > (byIndex[i - 1].t_s_ms as number),
      "T_s in launch order",
    );
    assert.equal(byIndex[i].scheduled_ms, null);
  }
  assert.deepEqual(record.pattern, { kind: "back-to-back", interval_ms: 0 });
  // With firmware (default machine), the first output is SeaBIOS's, before
  // "Hello": hundreds of bytes come first. (On a loaded host the launcher may
  // read the banner and "Hello" in one go: same time, never later.)
  for (const r of rows) {
    assert.ok((r.first_output_ms as number) <= (r.ready_ms as number));
    assert.ok((r.output_bytes as number) > 100, `${r.output_bytes} bytes`);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runBatch() starts 8 minkernels every 5 ms on schedule", async () => {
  const dir = await Deno.makeTempDir();
  const profile = await loadProfile("minkernel-microvm");
  const { runDir, record } = await runBatch(profile, {
    count: 8,
    pattern: { kind: "interval", intervalMs: 5 },
    accel: "tcg",
    outDir: dir,
  });
  const rows = checkDataset(runDir, 8);
  checkBoots(rows);
  const byIndex = [...rows].sort((a, b) =>
    (a.instance as number) - (b.instance as number)
  );
  for (let i = 0; i < 8; i++) {
    const r = byIndex[i];
    assert.ok(
      (r.t_s_ms as number) >= (r.scheduled_ms as number),
      "never early",
    );
    if (i > 0) {
      assert.equal(
        (r.scheduled_ms as number) - (byIndex[i - 1].scheduled_ms as number),
        5,
      );
    }
  }
  // T_s follows the 5 ms cadence: the span of T_s is about 7 intervals.
  const span = (byIndex[7].t_s_ms as number) - (byIndex[0].t_s_ms as number);
  assert.ok(
    span > 34 && span < 35 * 3,
    `T_s span ${span} ms for 7 intervals of 5 ms`,
  );
  assert.deepEqual(record.pattern, { kind: "interval", interval_ms: 5 });
  assert.equal(record.spawn_mode, "fork");
  assert.equal(record.spawn_fallback, null);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runBatch() with the exit variant is ready when QEMU exits by itself", async () => {
  const dir = await Deno.makeTempDir();
  const profile = await loadProfile("minkernel-exit");
  const { runDir } = await runBatch(profile, {
    count: 2,
    pattern: { kind: "back-to-back" },
    accel: "tcg",
    outDir: dir,
  });
  const rows = readArrowRows(runDir, "instances");
  for (const r of rows) {
    assert.equal(r.outcome, "ready");
    assert.equal(r.exit_code, 1, "isa-debug-exit makes QEMU exit with 1");
    assert.equal(r.ready_ms, r.exit_ms);
    assert.ok((r.first_output_ms as number) < (r.ready_ms as number));
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("chooseAccelerator() probes KVM and records why it chose", async () => {
  const { chooseAccelerator } = await import("../launcher/accel.ts");
  const kernel = await ensureMinkernel();
  const a = await chooseAccelerator("auto", {
    qemu: "qemu-system-x86_64",
    kernel,
    // Generous: a TCG boot returns as soon as it is done, and KVM is given
    // at most 2 × the TCG time (all the rule needs), however loaded the host.
    probeTimeoutMs: 20000,
  });
  assert.ok(a.kind === "kvm" || a.kind === "tcg");
  assert.ok(a.reason.length > 0);
  let kvmOpens = true;
  try {
    Deno.openSync("/dev/kvm", { read: true, write: true }).close();
  } catch {
    kvmOpens = false;
  }
  if (!kvmOpens) assert.equal(a.kind, "tcg");
  else {
    assert.ok(a.probe !== null, "KVM present: a probe boot decided");
    assert.ok(
      a.probe.tcg_ms !== null && a.probe.tcg_ms > 0,
      "the TCG probe booted",
    );
    if (a.kind === "kvm") {
      assert.ok(
        a.probe.kvm_ms !== null && a.probe.kvm_ms <= 2 * a.probe.tcg_ms,
      );
    }
    if (a.probe.kvm_ms === null) {
      // KVM was not waited for beyond what could still make it win.
      const waited = Number(/KVM no boot within (\d+) ms/.exec(a.reason)?.[1]);
      assert.ok(waited <= Math.ceil(2 * a.probe.tcg_ms) + 1, a.reason);
    }
  }
  const forced = await chooseAccelerator("tcg");
  assert.deepEqual(forced.args, ["-accel", "tcg"]);
});
