/** Terminal progress: the single batch's live line is throttled. */
import assert from "node:assert/strict";
import { batchCounter } from "../launcher/progress.ts";

Deno.test("batchCounter() redraws at most every 100 ms, and finish() draws the final counts", () => {
  const out: string[] = [];
  let t = 1000;
  const c = batchCounter(256, { write: (s) => out.push(s), now: () => t });
  // a storm's 256 starts within 60 ms, then 256 ends over 2 s
  for (let i = 0; i < 256; i++) {
    t = 1000 + i * 0.25;
    c.onEvent({ type: "started", instance: i });
  }
  for (let i = 0; i < 256; i++) {
    t = 1100 + i * 8;
    c.onEvent({ type: "ended", instance: i });
  }
  // one draw per 100 ms of events, not one per event
  assert.ok(out.length <= 2 + 2048 / 100 + 1, `${out.length} draws`);
  assert.ok(out.length >= 10, `${out.length} draws`);
  c.finish();
  assert.equal(out.at(-1), "\r  started 256/256, booted or ended 256/256");
  assert.equal(out[0], "\r  started 1/256, booted or ended 0/256");
});
