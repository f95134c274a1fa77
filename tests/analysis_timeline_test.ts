import "@uwdata/flechette";
import assert from "node:assert/strict";
import * as aq from "arquero";
import {
  bootingOverTime,
  memoryPeak,
  timelineSegments,
} from "../analysis/mod.ts";
import { instanceColumns } from "../dataset/synthetic_run.ts";

/**
 * Hand-made run: i0 [0,100), i1 [10,50), i2 [50,120), i3 spawn failure at 60
 * (no interval), i4 [100,130).
 */
function instances() {
  const cols = instanceColumns([
    { t_s_ms: 0, boot_ms: 100, concurrency_at_start: 0 },
    { t_s_ms: 10, boot_ms: 40, concurrency_at_start: 1 },
    { t_s_ms: 50, boot_ms: 70, concurrency_at_start: 1 },
    {
      t_s_ms: 60,
      boot_ms: null,
      concurrency_at_start: 2,
      outcome: "spawn_failed",
    },
    { t_s_ms: 100, boot_ms: 30, concurrency_at_start: 1 },
  ]);
  const end = [...(cols.boot_end_ms as (number | null)[])];
  end[3] = null;
  return aq.table({ ...cols, boot_end_ms: end, run_id: Array(5).fill("r") });
}

Deno.test("timelineSegments() lists [T_s, boot end) per instance in start order", () => {
  const seg = timelineSegments(instances().orderby(aq.desc("t_s_ms")))
    .objects() as Record<string, unknown>[];
  assert.deepEqual(seg.map((s) => s.t_s_ms), [0, 10, 50, 60, 100]);
  assert.deepEqual(seg.map((s) => s.boot_end_ms), [100, 50, 120, null, 130]);
  assert.deepEqual(seg.map((s) => s.outcome), [
    "ready",
    "ready",
    "ready",
    "spawn_failed",
    "ready",
  ]);
});

Deno.test("bootingOverTime() steps by hand-counted levels, ends before starts at equal times", () => {
  // hand count on [t_s, end): 0→1, 10→2, 50: −i1 +i2 → 2, 100: −i0 +i4 → 2, 120→1, 130→0
  const s = bootingOverTime(instances()).objects() as Record<string, unknown>[];
  assert.deepEqual(s.map((r) => [r.t_ms, r.booting]), [
    [0, 1],
    [10, 2],
    [50, 2],
    [100, 2],
    [120, 1],
    [130, 0],
  ]);
  const late = instances().derive({
    t_s_ms: (d: { t_s_ms: number }) => d.t_s_ms + 5,
    boot_end_ms: (d: { boot_end_ms: number }) => d.boot_end_ms + 5,
  });
  assert.deepEqual((late.objects()[0] as Record<string, unknown>).t_s_ms, 5);
  assert.deepEqual(bootingOverTime(late).object(0), {
    run_id: "r",
    t_ms: 0,
    booting: 0,
  });
});

Deno.test("memoryPeak() finds the peak, booting at it and memory per booting instance", () => {
  const memory = aq.table({
    t_ms: [0, 20, 55, 110, 140],
    used_kib: [1000, 1300, 1600, 1500, 1000],
    booting: [1, 2, 3, 2, 0],
    run_id: Array(5).fill("r"),
  });
  // peak 1600 at 55; booting at 55 from instances: i0 and i2 → 2; (1600 − 1000) / 2 = 300
  assert.deepEqual(memoryPeak(memory, instances()).object(0), {
    run_id: "r",
    samples: 5,
    baseline_kib: 1000,
    peak_used_kib: 1600,
    peak_t_ms: 55,
    booting_at_peak: 2,
    peak_delta_kib: 600,
    per_booting_kib: 300,
  });
  // without instances: the sample's booting column (3) → 600 / 3 = 200
  const alone = memoryPeak(memory).object(0) as Record<string, number>;
  assert.equal(alone.booting_at_peak, 3);
  assert.equal(alone.per_booting_kib, 200);
  const idle = aq.table({ t_ms: [0, 1], used_kib: [5, 5], booting: [0, 0] });
  assert.equal(
    (memoryPeak(idle).object(0) as Record<string, unknown>).per_booting_kib,
    null,
  );
});
