/**
 * Classification of real systems with real QEMU: every LibOS profile boots
 * its real image (../shared/images, skipped with the reason when absent),
 * `deno task classify --measure` names a real unikernel libos and the Linux
 * guest linux against the committed reference, a baseline that is not
 * minkernel-like and a run with no ready instance are refused (exit 2).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadProfile, parseProfile } from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { ensureImage } from "../images/ensure.ts";
import { fakeProfile, ROOT } from "./helpers.ts";

const SHARED = join(ROOT, "../shared/images");
const sharedPresent = (() => {
  try {
    return Deno.statSync(SHARED).isDirectory;
  } catch {
    return false;
  }
})();
const needsShared = (name: string) =>
  sharedPresent ? name : `${name} [skipped: ${SHARED} is absent]`;

async function cli(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/classify.ts", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** Remove the run folders a --measure printed (they are kept for users). */
async function removeKept(stdout: string): Promise<void> {
  const m = /Runs kept: (\S+), baseline (\S+)/.exec(stdout);
  if (m) await Deno.remove(m[1], { recursive: true }).catch(() => {});
}

Deno.test({
  name: needsShared(
    "every LibOS profile boots its real image, 8 at once, to the line its system prints",
  ),
  ignore: !sharedPresent,
  fn: async () => {
    for (const image of ["unikraft", "solo5", "rumprun", "osv", "osv-disk"]) {
      const profile = await loadProfile(image);
      const out = await Deno.makeTempDir();
      const { result } = await runBatch(profile, {
        count: 8,
        pattern: { kind: "back-to-back" },
        accel: "tcg",
        timeoutMs: 180000,
        outDir: out,
      });
      const bad = result.rows.filter((r) => r.outcome !== "ready");
      assert.equal(
        bad.length,
        0,
        `${image}: ${bad.map((r) => `${r.outcome} ${r.error}`).join("; ")}`,
      );
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: needsShared(
    "deno task classify --measure names a real unikernel a library OS",
  ),
  ignore: !sharedPresent,
  fn: async () => {
    const r = await cli(["--measure", "unikraft", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout);
    assert.equal(v.class, "libos", r.stdout);
    assert.equal(v.set, "work");
    assert.equal(v.image, "unikraft");
    await Deno.remove(join(ROOT, "data/runs", v.run_id), { recursive: true });
  },
});

Deno.test("deno task classify --measure names the Linux guest a general-purpose OS", async () => {
  const r = await cli(["--measure", "alpine-linux-quiet", "--count", "2"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /is a general-purpose OS \(Linux-like\): probability/);
  assert.match(
    r.stdout,
    /Nearest known systems: (alpine-linux|debian-linux-generic) \(linux/,
  );
  assert.match(r.stdout, /Compared: boot-work features/);
  await removeKept(r.stdout);
});

Deno.test("a baseline that is not minkernel-like is refused with the reason (real Linux guest labelled baseline)", async () => {
  const linux = await loadProfile("alpine-linux-quiet");
  await ensureImage(linux);
  const raw = JSON.parse(await Deno.readTextFile(linux.path));
  const fake = parseProfile(
    { ...raw, name: "not-a-minkernel", class: "baseline", image: linux.image },
    { path: join(ROOT, "images/profiles/not-a-minkernel.json") },
  );
  const out = await Deno.makeTempDir();
  const base = await runBatch(fake, {
    count: 1,
    pattern: { kind: "back-to-back" },
    accel: "tcg",
    insns: true,
    outDir: out,
  });
  const target = await runBatch(await loadProfile("minkernel-microvm"), {
    count: 2,
    pattern: { kind: "back-to-back" },
    accel: "tcg",
    insns: true,
    outDir: out,
  });
  const r = await cli([target.runDir, "--baseline", base.runDir]);
  assert.equal(r.code, 2, r.stdout);
  assert.match(
    r.stderr,
    /not minkernel-like: its guest ran \d+ distinct instructions before it was ready/,
  );
  await Deno.remove(out, { recursive: true });
});

Deno.test("a run with no ready instance is refused with a non-zero exit", async () => {
  const out = await Deno.makeTempDir();
  const { runDir } = await runBatch(
    fakeProfile("dies", "echo starting; exit 3", { class: "libos" }),
    { count: 2, pattern: { kind: "back-to-back" }, outDir: out },
  );
  const r = await cli([runDir]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /none of its 2 instances became ready, so it measured nothing/,
  );
  await Deno.remove(out, { recursive: true });
});
