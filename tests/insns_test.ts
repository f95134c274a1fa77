/**
 * Boot work (--insns): the TCG plugin and output shim built from Debian's
 * header, the counts at the ready byte, the separation of systems, load
 * independence, and the refusals (KVM, no plugin support, wrong header,
 * missing glib), all with real QEMU guests.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  loadProfile,
  parseProfile,
  ProfileError,
} from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { ensureImage } from "../images/ensure.ts";
import { LineWatch } from "../launcher/line_watch.ts";
import { sha256File } from "../dataset/checksum.ts";
import {
  ensureInsnsPlugin,
  guestEntry,
  InsnsError,
  InsnsSlots,
  kernelEntry,
  qemuSourceVersion,
  selfTestPlugin,
  SLOT_BYTES,
} from "../launcher/insns/mod.ts";
import type { InstanceRow } from "../dataset/schema.ts";
import { main } from "../cli/sweep.ts";
import { loadRun } from "../analysis/load.ts";
import { median, ROOT } from "./helpers.ts";

const MINKERNEL = join(ROOT, "build/minkernel/minkernel.elf");
const SHARED = join(ROOT, "../shared/images");
const sharedPresent = (() => {
  try {
    return Deno.statSync(SHARED).isDirectory;
  } catch {
    return false;
  }
})();
/** Name of a test that needs ../shared/images: says why when it is skipped. */
const needsShared = (name: string) =>
  sharedPresent ? name : `${name} [skipped: ${SHARED} is absent]`;

async function boot(
  image: string,
  count: number,
  options: { insns?: boolean; params?: Record<string, string> } = {},
): Promise<
  { rows: InstanceRow[]; record: Record<string, unknown>; dir: string }
> {
  const out = await Deno.makeTempDir();
  const profile = await loadProfile(image);
  await ensureImage(profile);
  const { result, record, runDir } = await runBatch(profile, {
    count,
    pattern: { kind: "back-to-back" },
    accel: "tcg",
    insns: options.insns ?? true,
    params: options.params,
    timeoutMs: Math.max(profile.timeoutMs, count * 20000),
    outDir: out,
  });
  for (const r of result.rows) assert.equal(r.outcome, "ready", r.error ?? "");
  return {
    rows: result.rows,
    record: record as unknown as Record<string, unknown>,
    dir: runDir,
  };
}

const med = (rows: InstanceRow[], k: keyof InstanceRow) =>
  median(rows.map((r) => r[k] as number));

Deno.test("kernelEntry() finds the minkernel's multiboot entry and guestEntry() a disk boot's boot sector", async () => {
  await ensureImage(await loadProfile("minkernel"));
  const e = kernelEntry(await Deno.readFile(MINKERNEL));
  assert.equal(e?.rule, "multiboot-elf");
  assert.ok(e!.entry! >= 0x100000, "a direct-loaded kernel above 1 MiB");
  assert.deepEqual(
    await guestEntry(["qemu-system-x86_64", "-drive", "file=x"]),
    {
      entry: 0x7c00,
      rule: "boot-sector",
    },
  );
  assert.equal(
    (await guestEntry(["qemu", "-M", "microvm", "-drive", "file=x"])).entry,
    null,
  );
});

Deno.test("LineWatch() knows the stream byte that completed the ready match", () => {
  const enc = new TextEncoder();
  const w = new LineWatch({ ready: /Hello/ });
  w.push(enc.encode("SeaBIOS\r\nBooting from ROM..Hel"));
  w.push(enc.encode("lo world\n"));
  assert.equal(w.readyByte, "SeaBIOS\r\nBooting from ROM..Hello".length - 1);
  const u = new LineWatch({ ready: /ready/ });
  u.push(enc.encode("héllo\r\nbootstorm: ready\r\n"));
  assert.equal(u.readyByte, enc.encode("héllo\r\nbootstorm: ready").length - 1);
});

Deno.test("InsnsSlots() reads the counts of the write that carried a byte, null for bytes not yet written", () => {
  const slots = InsnsSlots.create(2);
  try {
    const f = Deno.openSync(slots.path, { write: true });
    const put = (k: number, v: number | bigint) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
      f.seekSync(SLOT_BYTES + 8 * k, Deno.SeekMode.Start);
      f.writeSync(b);
    };
    put(0, 0x6d726f7473746f62n); // magic, slot 1
    // three writes: bytes [0,5) at total 100, [5,6) at 120, [6,9) at 150
    const ring = [[5, 100, 10], [6, 120, 12], [9, 150, 15]];
    ring.forEach(([end, total, guest], w) => {
      put(32 + w * 10, end);
      put(32 + w * 10 + 1, total);
      put(32 + w * 10 + 2, guest);
    });
    put(24, 3); // writes
    put(26, 100); // first write's total
    put(27, 10);
    f.close();
    assert.equal(slots.read(0), null, "slot 0 was never written by a plugin");
    assert.deepEqual(slots.atByte(1, 0), { total: 100, guest: 10 });
    assert.deepEqual(
      { ...slots.atByte(1, 5) },
      {
        total: 120,
        guest: 12,
        io: 0,
        system: 0,
        mem: 0,
        blocks: 0,
        blockInsns: 0,
        cr3Writes: 0,
        syscalls: 0,
      },
    );
    assert.equal(slots.atByte(1, 8)?.total, 150);
    assert.equal(slots.atByte(1, 9), null, "not written yet");
  } finally {
    slots.close();
  }
});

let header: string | null = null;

Deno.test("ensureInsnsPlugin() builds against the installed QEMU's own header, and the self-test counts the minkernel", async () => {
  await ensureImage(await loadProfile("minkernel"));
  const info = await ensureInsnsPlugin();
  const src = await qemuSourceVersion("qemu-system-x86_64");
  assert.ok(src, "QEMU from Debian");
  assert.equal(info.qemu_source_version, src!.version);
  assert.equal(info.header_from, `debian:${src!.package}=${src!.version}`);
  assert.equal(info.sha256, await sha256File(info.path));
  assert.equal(info.shim_sha256, await sha256File(info.shim_path));
  header = join(
    ROOT,
    "build/insns/header",
    src!.version.replace(/[^\w.+-]/g, "_"),
  );
  const t = await selfTestPlugin("qemu-system-x86_64", info.path, {
    kernel: MINKERNEL,
    api: info.plugin_api_version,
  });
  assert.ok(t.total > 1000, `qboot and the guest: ${t.total} instructions`);
  assert.ok(t.guest > 0 && t.guest < 100, `the minkernel's own: ${t.guest}`);
});

Deno.test("runBatch() with insns records the counts at the ready byte; without it they are null", async () => {
  const { rows, record, dir } = await boot("minkernel-microvm", 4);
  const insns = record.insns as {
    plugin: { path: string; sha256: string };
    entry_rule: string;
  };
  assert.equal(insns.plugin.sha256, await sha256File(insns.plugin.path));
  assert.equal(insns.entry_rule, "multiboot-elf");
  for (const r of rows) {
    assert.ok(r.insns_guest_ready! > 0);
    assert.ok(r.insns_ready! > r.insns_guest_ready!);
    assert.ok(r.insns_first_output! <= r.insns_ready!);
    assert.ok(
      r.insns_before_guest! + r.insns_guest_ready! <= r.insns_ready!,
      "firmware before the hand-over + guest ≤ total",
    );
    assert.ok(r.insns_ready_lag !== null && r.insns_ready_lag >= 0);
    assert.ok(r.guest_code_insns_ready! > 0 && r.guest_blocks_ready! > 0);
  }
  // Taken at the write of the ready byte, the count does not depend on when
  // the launcher got to read it: every instance of the storm agrees.
  assert.equal(new Set(rows.map((r) => r.insns_guest_ready)).size, 1);
  assert.equal(new Set(rows.map((r) => r.insns_ready)).size, 1);
  const back = await loadRun(dir);
  assert.deepEqual(
    back.instances.array("insns_guest_ready").slice().sort(),
    rows.map((r) => r.insns_guest_ready).sort(),
    "the columns load back",
  );
  const plain = await boot("minkernel-microvm", 1, { insns: false });
  assert.equal(plain.record.insns, null);
  for (
    const k of Object.keys(plain.rows[0]).filter((k) => k.startsWith("insns"))
  ) {
    assert.equal(
      (plain.rows[0] as unknown as Record<string, unknown>)[k],
      null,
      k,
    );
  }
});

let linuxGuest = NaN;
let minGuest = NaN;

Deno.test("boot work separates the minkernel from the Linux guest by orders of magnitude", async () => {
  const mk = await boot("minkernel-microvm", 2);
  const linux = await boot("alpine-linux-quiet", 1);
  minGuest = med(mk.rows, "insns_guest_ready");
  linuxGuest = med(linux.rows, "insns_guest_ready");
  assert.equal(
    linux.record.insns &&
      (linux.record.insns as { entry_rule: string }).entry_rule,
    "bzimage",
  );
  assert.ok(
    linuxGuest > 1e4 * minGuest,
    `Linux ${linuxGuest} vs minkernel ${minGuest} guest instructions`,
  );
  assert.ok(
    med(linux.rows, "guest_code_insns_ready") >
      100 * med(mk.rows, "guest_code_insns_ready"),
    "and by code footprint",
  );
});

Deno.test({
  name: needsShared(
    "boot work orders minkernel < real unikernels < Linux by large factors",
  ),
  ignore: !sharedPresent,
  fn: async () => {
    if (Number.isNaN(linuxGuest)) {
      linuxGuest = med(
        (await boot("alpine-linux-quiet", 1)).rows,
        "insns_guest_ready",
      );
      minGuest = med(
        (await boot("minkernel-microvm", 1)).rows,
        "insns_guest_ready",
      );
    }
    const uni: Record<string, number> = {};
    for (const image of ["solo5", "unikraft", "rumprun", "osv"]) {
      uni[image] = med((await boot(image, 2)).rows, "insns_guest_ready");
    }
    const lo = Math.min(...Object.values(uni));
    const hi = Math.max(...Object.values(uni));
    const msg = JSON.stringify({
      minkernel: minGuest,
      ...uni,
      linux: linuxGuest,
    });
    assert.ok(lo > 1000 * minGuest, `unikernels ≫ minkernel: ${msg}`);
    assert.ok(linuxGuest > 10 * hi, `Linux ≫ unikernels: ${msg}`);
  },
});

/** Relative change of the median from alone to a storm. */
function moved(
  alone: InstanceRow[],
  storm: InstanceRow[],
  k: keyof InstanceRow,
) {
  return Math.abs(med(storm, k) / med(alone, k) - 1);
}

Deno.test("boot work moves far less than boot time between boots alone and a storm (synthetic guest)", async () => {
  const alone: InstanceRow[] = [];
  for (let i = 0; i < 3; i++) {
    alone.push(
      ...(await boot("synthetic", 1, { params: { spin_ms: "0" } })).rows,
    );
  }
  const storm = (await boot("synthetic", 8, { params: { spin_ms: "0" } })).rows;
  const boot_ = moved(alone, storm, "boot_ms");
  assert.ok(
    boot_ > 0.3,
    `a storm of 8 on this host must slow the boots (moved ${boot_})`,
  );
  for (const k of ["insns_guest_ready", "guest_code_insns_ready"] as const) {
    const m = moved(alone, storm, k);
    assert.ok(m < 0.1 * boot_, `${k} moved ${m}, boot_ms ${boot_}`);
  }
});

Deno.test({
  name: needsShared(
    "a guest that busy-waits on a timer (Unikraft) keeps its code footprint in a storm",
  ),
  ignore: !sharedPresent,
  fn: async () => {
    const alone: InstanceRow[] = [];
    for (let i = 0; i < 3; i++) alone.push(...(await boot("unikraft", 1)).rows);
    const storm = (await boot("unikraft", 8)).rows;
    const boot_ = moved(alone, storm, "boot_ms");
    const fp = moved(alone, storm, "guest_code_insns_ready");
    assert.ok(boot_ > 0.3, `the storm slows the boots (moved ${boot_})`);
    assert.ok(fp < 0.1 * boot_, `footprint moved ${fp}, boot_ms ${boot_}`);
  },
});

Deno.test("cli refuses --insns with --accel kvm before anything runs", async () => {
  const out = await Deno.makeTempDir();
  const errs: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => errs.push(a.join(" "));
  let rc: number;
  try {
    rc = await main([
      "--image",
      "minkernel-microvm",
      "--count",
      "2",
      "--insns",
      "--accel",
      "kvm",
      "--out",
      out,
    ]);
  } finally {
    console.error = orig;
  }
  assert.equal(rc, 2);
  assert.match(errs.join("\n"), /--insns.*kvm.*--accel tcg/s);
  assert.deepEqual([...Deno.readDirSync(out)], [], "nothing written");
  await assert.rejects(
    runBatch(await loadProfile("minkernel-microvm"), {
      count: 1,
      pattern: { kind: "back-to-back" },
      accel: "kvm",
      insns: true,
      outDir: out,
    }),
    (e: Error) => e instanceof InsnsError && /TCG/.test(e.message),
  );
  await assert.rejects(
    runBatch(
      parseProfile({
        name: "sh",
        argv: ["/bin/sh", "-c", "echo READY"],
        ready: { line: "READY" },
      }),
      {
        count: 1,
        pattern: { kind: "back-to-back" },
        insns: true,
        outDir: out,
      },
    ),
    (e: Error) =>
      e instanceof ProfileError && /QEMU TCG plugin/.test(e.message),
  );
});

Deno.test("a QEMU without plugin support is refused with the fix, before any run folder exists", async () => {
  assert.ok(header, "the build test ran first");
  const bin = await Deno.makeTempDir();
  const fake = join(bin, "qemu-system-x86_64");
  await Deno.writeTextFile(
    fake,
    `#!/bin/sh\necho "qemu-system-x86_64: -plugin: invalid option" >&2\nexit 1\n`,
  );
  await Deno.chmod(fake, 0o755);
  const out = await Deno.makeTempDir();
  const profile = parseProfile({
    name: "fake-qemu",
    argv: [fake, "${accel}", "-kernel", MINKERNEL],
    ready: { line: "Hello" },
  });
  Deno.env.set("BOOTSTORM_QEMU_PLUGIN_HEADER", header!);
  try {
    await assert.rejects(
      runBatch(profile, {
        count: 2,
        pattern: { kind: "back-to-back" },
        accel: "tcg",
        insns: true,
        outDir: out,
      }),
      (e: Error) =>
        e instanceof InsnsError && /no TCG plugin support/.test(e.message) &&
        /qemu-system-x86/.test(e.message),
    );
  } finally {
    Deno.env.delete("BOOTSTORM_QEMU_PLUGIN_HEADER");
  }
  assert.deepEqual([...Deno.readDirSync(out)], [], "no run folder");
});

Deno.test("a plugin built against another QEMU's header is refused, naming the header and the fix", async () => {
  assert.ok(header, "the build test ran first");
  const dir = await Deno.makeTempDir();
  const text = await Deno.readTextFile(join(header!, "qemu-plugin.h"));
  await Deno.writeTextFile(
    join(dir, "qemu-plugin.h"),
    text.replace(
      /#define\s+QEMU_PLUGIN_VERSION\s+\d+/,
      "#define QEMU_PLUGIN_VERSION 99",
    ),
  );
  const build = await Deno.makeTempDir();
  const info = await ensureInsnsPlugin({
    headerDir: dir,
    buildDir: build,
    log: () => {},
  });
  assert.equal(info.plugin_api_version, 99);
  await assert.rejects(
    selfTestPlugin("qemu-system-x86_64", info.path, {
      kernel: MINKERNEL,
      api: info.plugin_api_version,
      headerFrom: info.header_from,
    }),
    (e: Error) =>
      e instanceof InsnsError &&
      /header does not match the binary/.test(e.message) &&
      /v99/.test(e.message) && /remove build\/insns/.test(e.message),
  );
});

Deno.test("a missing libglib2.0-dev is named with the apt-get line", async () => {
  assert.ok(header, "the build test ran first");
  const build = await Deno.makeTempDir();
  await assert.rejects(
    ensureInsnsPlugin({
      headerDir: header!,
      buildDir: build,
      log: () => {},
      tools: { pkgConfig: "/nonexistent/pkg-config" },
    }),
    (e: Error) =>
      e instanceof InsnsError &&
      /apt-get install -y --no-install-recommends libglib2.0-dev pkg-config/
        .test(e.message),
  );
});
