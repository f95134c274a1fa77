/** The host's steal time: parsed from /proc/stat, recorded for the boots' window. */
import assert from "node:assert/strict";
import { hostStealMs, parseStealMs } from "../launcher/host_steal.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { fakeProfile } from "./helpers.ts";
import type { Profile } from "../launcher/profile.ts";
import { monotonicMs, processCpuMs } from "../launcher/clock.ts";
import { launch } from "../launcher/launch.ts";

Deno.test("parseStealMs() reads the 8th number of the cpu line in ms, null without one", () => {
  // this machine's /proc/stat, first line, on 2026-12-03 (USER_HZ 100)
  assert.equal(
    parseStealMs(
      "cpu  981908 0 413403 12450563 4078 0 7143 90977 0 0\ncpu0 1 2 3",
    ),
    909770,
  );
  assert.equal(parseStealMs("cpu  1 2 3 4 5 6 7 0 0 0"), 0);
  // a kernel without the steal field, another first line, nothing
  assert.equal(parseStealMs("cpu  1 2 3 4 5 6 7\n"), null);
  assert.equal(parseStealMs("intr 1 2 3 4 5 6 7 8 9"), null);
  assert.equal(parseStealMs(""), null);
});

/** `count` back-to-back instances of `p`, sampling off, in a folder removed after. */
async function backToBack(p: Profile, count: number) {
  const dir = await Deno.makeTempDir();
  try {
    return await runBatch(p, {
      count,
      pattern: { kind: "back-to-back" },
      outDir: dir,
      sampleIntervalMs: 0,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("runBatch() records the host's steal from T_0 until every boot had ended, inside what the whole call saw", async () => {
  const p = fakeProfile("steal", "sleep 0.2; echo READY; exec sleep 5");
  const before = hostStealMs();
  const { record } = await backToBack(p, 4);
  const after = hostStealMs();
  const s = record.steal_ms_while_booting;
  if (before === null) {
    assert.equal(s, null, "a host without steal records null");
    return;
  }
  assert.equal(typeof s, "number", JSON.stringify(record));
  assert.ok(s! >= 0, `${s}`);
  // the boots' window is inside the call (10 ms resolution)
  assert.ok(s! <= after! - before, `${s} ms > ${after! - before} ms`);
});

Deno.test("runBatch() records T_0 on the host's CLOCK_MONOTONIC, between the call's start and its end", async () => {
  const p = fakeProfile("t0", "echo READY; exec sleep 5");
  const before = monotonicMs();
  const { record, result } = await backToBack(p, 2);
  const after = monotonicMs();
  const t0 = record.t0_monotonic_ms!;
  assert.equal(typeof t0, "number", JSON.stringify(record));
  assert.ok(before <= t0 && t0 <= after, `${before} <= ${t0} <= ${after}`);
  // every time column is ms after it: the last T_e lies before the call's end
  const te = Math.max(
    ...result.rows.map((r) => (r.t_s_ms ?? 0) + (r.boot_ms ?? 0)),
  );
  assert.ok(t0 + te <= after, `${t0} + ${te} > ${after}`);
});

Deno.test("launch() counts its CPU while the guests boot apart from its CPU after the last boot ended", async () => {
  const p = fakeProfile("cpu", "echo READY; exec sleep 5");
  let burnt = 0;
  let rows = 0;
  const res = await launch(p, {
    count: 2,
    pattern: { kind: "back-to-back" },
    argv: p.argv,
    graceMs: 0,
    sampleIntervalMs: 0,
    // The second row comes after its instance's exit, so after every boot
    // ended: burn 60 ms of CPU there.
    onRows: () => {
      if (++rows < 2) return;
      const a = processCpuMs()!;
      while (processCpuMs()! - a < 60) { /* burn */ }
      burnt = processCpuMs()! - a;
    },
  });
  const during = res.cpuWhileBootingMs!, all = res.cpuFromT0Ms!;
  assert.ok(during >= 0 && during <= all, `${during} / ${all}`);
  assert.ok(all - during >= burnt * 0.9, `${all} - ${during} < ${burnt}`);
  assert.ok(res.cpuShareWhileBooting! >= 0);
});
