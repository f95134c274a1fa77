/** Limits handled, not crashed on: a 64-storm, spawn failures (EMFILE), a disk that fills up. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatasetWriter } from "../dataset/writer.ts";
import { ensureMinkernel } from "../images/build.ts";
import { loadProfile } from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { readArrowRows, readCsvRows, ROOT } from "./helpers.ts";

await ensureMinkernel();
const CLI = join(ROOT, "cli/sweep.ts");

Deno.test("runBatch() storm of 64 minkernels back-to-back loses nothing", async () => {
  const dir = await Deno.makeTempDir();
  const { runDir, record } = await runBatch(
    await loadProfile("minkernel-microvm"),
    {
      count: 64,
      pattern: { kind: "back-to-back" },
      accel: "tcg",
      outDir: dir,
    },
  );
  const rows = readArrowRows(runDir, "instances");
  assert.equal(rows.length, 64);
  assert.deepEqual(
    new Set(rows.map((r) => r.instance)),
    new Set([...Array(64).keys()]),
  );
  assert.ok(
    rows.every((r) => r.outcome === "ready"),
    JSON.stringify(rows.filter((r) => r.outcome !== "ready")),
  );
  assert.deepEqual(record.totals, {
    ready: 64,
    failed: 0,
    interrupted: 0,
    not_started: 0,
  });
  assert.equal(record.status, "complete");
  // The launcher's CPU is the exact total of its threads; getrusage's
  // user / system parts are tick-sampled and either may not move over one
  // storm, but their sum is the same total.
  const l = record.launcher!;
  assert.ok(l.cpu_ms! > 0, `launcher CPU recorded: ${JSON.stringify(l)}`);
  assert.ok(l.cpu_user_ms! >= 0 && l.cpu_system_ms! >= 0);
  assert.ok(
    Math.abs(l.cpu_user_ms! + l.cpu_system_ms! - l.cpu_ms!) <
      5 + 0.02 * l.cpu_ms!,
    `user + system = total: ${JSON.stringify(l)}`,
  );
  assert.ok(l.cpu_share_of_one_core! > 0 && l.peak_rss_kib! > 0);
  // From T_0 on: the pre-fork of 64 instances before it is left out, so it
  // is a part of the whole, and its share is over T_0 → last reaped.
  assert.ok(
    l.cpu_ms_from_t0! > 0 && l.cpu_ms_from_t0! < l.cpu_ms!,
    `CPU from T_0 is part of the total: ${JSON.stringify(l)}`,
  );
  assert.ok(
    Math.abs(l.cpu_share_from_t0! - l.cpu_ms_from_t0! / record.wall_ms!) <
      0.1 * l.cpu_share_from_t0!,
    `share from T_0 over the storm's wall time: ${JSON.stringify(l)}`,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli records spawn failures (EMFILE) per instance and boots the others", async () => {
  const dir = await Deno.makeTempDir();
  const out = await new Deno.Command("prlimit", {
    args: [
      "--nofile=64:64",
      Deno.execPath(),
      "run",
      "-A",
      CLI,
      "--image",
      "minkernel-microvm",
      "--count",
      "24",
      "--back-to-back",
      "--accel",
      "tcg",
      "--out",
      dir,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const runDir = new TextDecoder().decode(out.stdout).trim().split("\n").at(
    -1,
  )!;
  const rows = readArrowRows(runDir, "instances");
  assert.equal(rows.length, 24, "every instance has a row");
  const failed = rows.filter((r) => r.outcome === "spawn_failed");
  const ready = rows.filter((r) => r.outcome === "ready");
  assert.ok(failed.length > 0, "the fd limit made some spawns fail");
  assert.ok(ready.length > 0, "the others still booted");
  for (const r of failed) {
    assert.match(r.error as string, /Too many open files|os error 24/);
    assert.equal(r.pid, null);
  }
  await Deno.remove(dir, { recursive: true });
});

/**
 * Run `body` on a fresh 64 KiB tmpfs (needs root), unmounted after (lazily:
 * a writer's files may still be open when an assertion fails).
 */
async function onTinyTmpfs(
  body: (mnt: string) => void | Promise<void>,
) {
  const mnt = await Deno.makeTempDir();
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt],
  }).output();
  assert.ok(mount.success, "mounted a 64 KiB tmpfs");
  try {
    await body(mnt);
  } finally {
    await new Deno.Command("umount", { args: ["-l", mnt] }).output();
    await Deno.remove(mnt, { recursive: true });
  }
}

Deno.test("cli fails clearly when the disk fills up, and the rows already written read back", async () => {
  if (Deno.uid() !== 0) return; // mounting a tmpfs needs root (CI runs as root)
  await onTinyTmpfs(async (mnt) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        CLI,
        "--image",
        "minkernel-microvm",
        "--count",
        "32",
        "--back-to-back",
        "--accel",
        "tcg",
        "--out",
        mnt,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1);
    assert.match(
      stderr,
      /Cannot write .*: the disk is full\. Rows written before \(\d+ in \w+(, \d+ in \w+)?\) are intact/,
    );
    const [runName] = [...Deno.readDirSync(mnt)].map((e) => e.name);
    const runDir = join(mnt, runName);
    for (const t of ["instances", "memory"]) {
      const arrow = readArrowRows(runDir, t);
      assert.equal(
        arrow.length,
        readCsvRows(runDir, t).length,
        `${t}: Arrow and CSV agree`,
      );
    }
    const run = JSON.parse(await Deno.readTextFile(join(runDir, "run.json")));
    assert.equal(run.status, "partial");
  });
});

Deno.test("DatasetWriter.writeRecord() on a full disk says so, keeps the run.json before and leaves no half-written one", async () => {
  if (Deno.uid() !== 0) return; // mounting a tmpfs needs root (CI runs as root)
  await onTinyTmpfs((mnt) => {
    const w = DatasetWriter.create(join(mnt, "run"), { schema_version: 1 });
    // fill what is left, then ask for a record larger than any gap
    try {
      Deno.writeFileSync(join(mnt, "filler"), new Uint8Array(64 * 1024));
    } catch {
      // full: as wanted
    }
    assert.throws(
      () => w.writeRecord({ schema_version: 1, note: "x".repeat(32 * 1024) }),
      /Cannot write .*run\.json: the disk is full\. Rows written before \(0 in instances, 0 in memory\) are intact, and so is the run\.json before; free space or pass --out on another disk/,
    );
    assert.deepEqual(
      JSON.parse(Deno.readTextFileSync(join(mnt, "run", "run.json"))),
      { schema_version: 1 },
    );
    assert.equal(
      [...Deno.readDirSync(join(mnt, "run"))].some((e) =>
        e.name.endsWith(".tmp")
      ),
      false,
    );
    Deno.removeSync(join(mnt, "filler"));
    w.finalise({ schema_version: 1 });
  });
});
