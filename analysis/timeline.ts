/**
 * Timelines (the paper's Figures 3, 5, 7, 9, 11): one segment per instance
 * from T_s to the end of its boot, the number of instances booting over
 * time, and the memory peak.
 *
 * @module
 */

import "@uwdata/flechette";
import * as aq from "arquero";
import { groupKeys, numberColumn, rowGetter, type Table } from "./columns.ts";
import { orNull } from "./grouped.ts";

/**
 * One row per instance: `run_id`, `instance`, `t_s_ms` (left end),
 * `boot_end_ms` (right end; null for a spawn failure), `boot_ms`,
 * (`t_s_ms` null for an instance never started: it sorts last),
 * `outcome`, sorted by run (first appearance) then `t_s_ms`.
 *
 * @example
 * ```ts
 * timelineSegments(run.instances).print();
 * ```
 */
export function timelineSegments(instances: Table): Table {
  const runs = groupKeys(instances, "run_id");
  const ts = numberColumn(instances, "t_s_ms");
  // Instances never started (null t_s_ms) go last in their run.
  const key = (i: number) => (ts[i] === ts[i] ? ts[i] : Infinity);
  const order = Array.from({ length: ts.length }, (_, i) => i).sort((a, b) =>
    runs.codes[a] - runs.codes[b] || key(a) - key(b) || a - b
  );
  const inst = rowGetter(instances, "instance");
  const end = numberColumn(instances, "boot_end_ms");
  const boot = numberColumn(instances, "boot_ms");
  const outcome = rowGetter(instances, "outcome");
  return aq.table({
    run_id: order.map((i) => runs.keys[runs.codes[i]]),
    instance: order.map((i) => inst(i)),
    t_s_ms: order.map((i) => ts[i]),
    boot_end_ms: order.map((i) => orNull(end[i])),
    boot_ms: order.map((i) => orNull(boot[i])),
    outcome: order.map((i) => outcome(i)),
  });
}

/**
 * The number of instances booting over time, as a step series per run: one
 * row (`run_id`, `t_ms`, `booting`) per time at which an instance started or
 * stopped booting, holding the count from that time on. An instance counts
 * on [t_s_ms, boot_end_ms) (the launcher's definition); spawn failures
 * (null boot_end_ms) never count. The first row of each run is t_ms = 0,
 * booting = 0 (T_0) unless an event happens at 0.
 *
 * @example
 * ```ts
 * bootingOverTime(run.instances).print();
 * ```
 */
export function bootingOverTime(instances: Table): Table {
  const runs = groupKeys(instances, "run_id");
  const ts = numberColumn(instances, "t_s_ms");
  const end = numberColumn(instances, "boot_end_ms");
  const out = {
    run_id: [] as unknown[],
    t_ms: [] as number[],
    booting: [] as number[],
  };
  for (let r = 0; r < runs.keys.length; r++) {
    const events: [number, number][] = [];
    for (let i = 0; i < ts.length; i++) {
      if (runs.codes[i] !== r || !(ts[i] === ts[i]) || !(end[i] === end[i])) {
        continue;
      }
      events.push([ts[i], 1], [end[i], -1]);
    }
    events.sort((a, b) => a[0] - b[0]);
    let level = 0;
    if (!events.length || events[0][0] > 0) {
      out.run_id.push(runs.keys[r]);
      out.t_ms.push(0);
      out.booting.push(0);
    }
    for (let k = 0; k < events.length;) {
      const t = events[k][0];
      while (k < events.length && events[k][0] === t) level += events[k++][1];
      out.run_id.push(runs.keys[r]);
      out.t_ms.push(t);
      out.booting.push(level);
    }
  }
  return aq.table(out);
}

/** Columns of {@link memoryPeak}'s table, in order. */
export const MEMORY_PEAK_COLUMNS = [
  "run_id",
  "samples",
  "baseline_kib",
  "peak_used_kib",
  "peak_t_ms",
  "booting_at_peak",
  "peak_delta_kib",
  "per_booting_kib",
] as const;

/**
 * The system-memory peak of each run: `baseline_kib` (used_kib of the
 * earliest sample, at T_0), `peak_used_kib` (the largest used_kib; first
 * one on ties) and when (`peak_t_ms`), `booting_at_peak` (instances with
 * t_s_ms ≤ peak_t_ms < boot_end_ms counted from `instances` of the same
 * run when given, else the sample's `booting` column), `peak_delta_kib` =
 * peak − baseline, and `per_booting_kib` = peak_delta_kib / booting_at_peak
 * (null when nothing was booting). A run with no samples is left out.
 *
 * @example
 * ```ts
 * memoryPeak(run.memory, run.instances).object(); // { peak_used_kib: …, per_booting_kib: … }
 * ```
 */
export function memoryPeak(memory: Table, instances?: Table): Table {
  const runs = groupKeys(memory, "run_id");
  const t = numberColumn(memory, "t_ms");
  const used = numberColumn(memory, "used_kib");
  const booting = numberColumn(memory, "booting");
  const R = runs.keys.length;
  const first = new Int32Array(R).fill(-1);
  const peak = new Int32Array(R).fill(-1);
  const samples = new Int32Array(R);
  for (let i = 0; i < t.length; i++) {
    const r = runs.codes[i];
    if (!(used[i] === used[i])) continue;
    samples[r]++;
    if (first[r] < 0 || t[i] < t[first[r]]) first[r] = i;
    if (peak[r] < 0 || used[i] > used[peak[r]]) peak[r] = i;
  }
  const atPeak = Array.from(
    { length: R },
    (_, r) => peak[r] >= 0 ? booting[peak[r]] : NaN,
  );
  if (instances) {
    const inst = groupKeys(instances, "run_id");
    const ts = numberColumn(instances, "t_s_ms");
    const end = numberColumn(instances, "boot_end_ms");
    // instance run code → memory run code
    const map = inst.keys.map((k) => runs.keys.indexOf(k));
    const counts = new Float64Array(R);
    for (let i = 0; i < ts.length; i++) {
      const r = map[inst.codes[i]];
      if (r < 0 || peak[r] < 0) continue;
      const at = t[peak[r]];
      if (ts[i] <= at && at < end[i]) counts[r]++;
    }
    for (let r = 0; r < R; r++) if (map.includes(r)) atPeak[r] = counts[r];
  }
  const cols: Record<string, unknown[]> = Object.fromEntries(
    MEMORY_PEAK_COLUMNS.map((c) => [c, [] as unknown[]]),
  );
  for (let r = 0; r < R; r++) {
    if (samples[r] === 0) continue;
    const b = atPeak[r];
    const delta = used[peak[r]] - used[first[r]];
    cols.run_id.push(runs.keys[r]);
    cols.samples.push(samples[r]);
    cols.baseline_kib.push(used[first[r]]);
    cols.peak_used_kib.push(used[peak[r]]);
    cols.peak_t_ms.push(t[peak[r]]);
    cols.booting_at_peak.push(orNull(b));
    cols.peak_delta_kib.push(delta);
    cols.per_booting_kib.push(b > 0 ? delta / b : null);
  }
  return aq.table(cols, [...MEMORY_PEAK_COLUMNS]);
}
