/** The project's guests under the launcher: the Linux guest (quiet and console) and the synthetic ground truth. */
import assert from "node:assert/strict";
import { loadProfile, ProfileError } from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { ensureImage } from "../images/ensure.ts";
import { imageStatuses } from "../images/list.ts";
import { median } from "./helpers.ts";
import type { InstanceRow } from "../dataset/schema.ts";

async function boot(
  image: string,
  count: number,
  params: Record<string, string> = {},
): Promise<InstanceRow[]> {
  const dir = await Deno.makeTempDir();
  const profile = await loadProfile(image);
  await ensureImage(profile);
  const { result, record } = await runBatch(profile, {
    count,
    pattern: { kind: "back-to-back" },
    accel: "tcg",
    params,
    outDir: dir,
  });
  assert.deepEqual(
    record.params,
    { ...profile.params, ...params },
    "params recorded",
  );
  await Deno.remove(dir, { recursive: true });
  return result.rows;
}

Deno.test("the Linux guest (quiet) boots twice under the launcher and its ready line is seen", async () => {
  const rows = await boot("alpine-linux-quiet", 2);
  for (const r of rows) {
    assert.equal(r.outcome, "ready", r.error ?? "");
    assert.ok(r.boot_ms! > 0);
    assert.ok(r.rss_peak_kib! > 72 * 1024, "a Linux guest touches tens of MiB");
  }
});

Deno.test("the Linux guest with its console on prints long before it is ready", async () => {
  const rows = await boot("alpine-linux", 2) as unknown as Record<
    string,
    number | null
  >[];
  for (const r of rows) {
    assert.equal(r.outcome as unknown, "ready");
    assert.ok(
      r.first_output_boot_ms! < r.boot_ms!,
      "first output (kernel log) before the ready line",
    );
    assert.ok(
      r.kernel_ms! <= r.init_ms! && r.init_ms! <= r.ready_ms!,
      "marks in order: kernel, init, ready",
    );
  }
});

Deno.test("the synthetic guest's spin_ms shows up in boot_ms", async () => {
  // The host's other load moves boot times by seconds from batch to batch
  // (neighbouring pairs once differed by -16, 2583 and -577 ms), so medians of
  // batches are not compared. The spin is a floor (a spun guest is never
  // ready sooner), and the fastest boot of each side, over alternating
  // batches, is what it costs when the host is least disturbed.
  const boots: Record<string, number[]> = { "0": [], "500": [] };
  for (let round = 0; round < 3; round++) {
    for (const spin of round % 2 ? ["500", "0"] : ["0", "500"]) {
      const rows = await boot("synthetic", 3, { spin_ms: spin });
      for (const r of rows) boots[spin].push(r.boot_ms!);
    }
  }
  for (const b of boots["500"]) assert.ok(b >= 450, `spun boot ${b} ms`);
  const d = Math.min(...boots["500"]) - Math.min(...boots["0"]);
  assert.ok(
    d >= 250,
    `the fastest boot grew by ${
      d.toFixed(1)
    } ms for a 500 ms spin (at least half expected)`,
  );
});

Deno.test("the synthetic guest's touch_mib shows up in QEMU's peak RSS", async () => {
  const small = await boot("synthetic", 3, { touch_mib: "1" });
  const big = await boot("synthetic", 3, { touch_mib: "48" });
  const d = median(big.map((r) => r.rss_peak_kib!)) -
    median(small.map((r) => r.rss_peak_kib!));
  assert.ok(
    d >= 24 * 1024,
    `peak RSS grew by ${(d / 1024).toFixed(1)} MiB for 47 MiB more touched`,
  );
});

Deno.test("an absent image fails with the profile, the path and how to get it", async () => {
  const profile = await loadProfile("nanos");
  await assert.rejects(
    () =>
      runBatch(profile, {
        count: 1,
        pattern: { kind: "back-to-back" },
        accel: "tcg",
        outDir: "/tmp",
      }),
    (e: Error) =>
      e instanceof ProfileError &&
      /Cannot boot "nanos": image not found at .*build\/external\/nanos\.img/
        .test(
          e.message,
        ) &&
      /How to get it: .*ops.*--image-file/.test(e.message),
  );
  const st = (await imageStatuses()).find((s) => s.profile === "nanos")!;
  assert.equal(st.present, false);
  const mk = (await imageStatuses()).find((s) => s.profile === "minkernel")!;
  assert.ok(mk.present && /^[0-9a-f]{64}$/.test(mk.sha256!));
});
