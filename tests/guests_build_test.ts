/**
 * Guest images and profiles: the synthetic guest and the Linux guest's
 * initramfs build reproducibly, the synthetic guest boots and reports its
 * command line, and every shipped profile is well-formed JSON with the keys
 * the launcher and `deno task images` rely on.
 */
import { sha256File } from "../dataset/checksum.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildSynthetic } from "../images/synthetic/build.ts";
import { buildLinuxGuest } from "../images/linux/build.ts";
import { writeNewc } from "../images/linux/newc.ts";
import {
  moduleLoadOrder,
  readModuleDepends,
} from "../images/linux/kmod_deps.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const PROFILES = join(ROOT, "images/profiles");

Deno.test("buildSynthetic() gives the same sha256 twice", async () => {
  const a = await Deno.makeTempDir({ prefix: "bootstorm-synth-a-" });
  const b = await Deno.makeTempDir({ prefix: "bootstorm-synth-b-" });
  try {
    const one = await buildSynthetic({ out: a });
    const two = await buildSynthetic({ out: b });
    assert.equal(one.sha256, two.sha256);
    assert.equal(one.sha256, await sha256File(two.path));
    const elf = await Deno.readFile(one.path);
    assert.deepEqual([...elf.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
    // The multiboot v1 magic must sit 4-aligned in the first 8 KiB.
    const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
    let found = false;
    for (let i = 0; i + 12 <= Math.min(8192, elf.length); i += 4) {
      const magic = view.getUint32(i, true);
      const flags = view.getUint32(i + 4, true);
      const check = view.getUint32(i + 8, true);
      if (magic === 0x1badb002 && ((magic + flags + check) >>> 0) === 0) {
        found = true;
        break;
      }
    }
    assert.ok(found, "multiboot header not found in the first 8 KiB");
  } finally {
    await Deno.remove(a, { recursive: true });
    await Deno.remove(b, { recursive: true });
  }
});

Deno.test("synthetic guest prints READY with its touch_mib and spin_ms", async () => {
  const out = await Deno.makeTempDir({ prefix: "bootstorm-synth-boot-" });
  try {
    const { path } = await buildSynthetic({ out });
    const child = new Deno.Command("qemu-system-x86_64", {
      args: [
        "-accel",
        "tcg",
        "-M",
        "microvm",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-m",
        "16",
        "-kernel",
        path,
        "-append",
        "touch_mib=3 spin_ms=20",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 15000);
    let text = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes("\n")) break;
    }
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
    assert.equal(text.split("\n")[0], "READY touch_mib=3 spin_ms=20");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("writeNewc() sorts, adds parent directories and ends with the trailer", () => {
  const enc = new TextEncoder();
  const a = writeNewc([
    { kind: "file", path: "etc/b", data: enc.encode("bb"), mode: 0o644 },
    { kind: "char", path: "dev/console", major: 5, minor: 1 },
    { kind: "symlink", path: "bin/sh", target: "/bin/busybox" },
  ]);
  const b = writeNewc([
    { kind: "symlink", path: "bin/sh", target: "/bin/busybox" },
    { kind: "char", path: "dev/console", major: 5, minor: 1 },
    { kind: "file", path: "etc/b", data: enc.encode("bb"), mode: 0o644 },
  ]);
  assert.deepEqual(a, b);
  assert.equal(a.length % 4, 0);
  const text = new TextDecoder("latin1").decode(a);
  const names = [...text.matchAll(/070701[0-9A-F]{104}([^\0]+)\0/g)].map((m) =>
    m[1]
  );
  assert.deepEqual(names, [
    "bin",
    "bin/sh",
    "dev",
    "dev/console",
    "etc",
    "etc/b",
    "TRAILER!!!",
  ]);
  assert.throws(
    () =>
      writeNewc([
        { kind: "dir", path: "x" },
        { kind: "dir", path: "x/" },
      ]),
    /appears twice/,
  );
});

Deno.test("moduleLoadOrder() puts every module after its dependencies", () => {
  const ko = new TextEncoder().encode(
    "\0license=GPL\0depends=virtio_ring,virtio,net_failover\0vermagic=x\0",
  );
  assert.deepEqual(readModuleDepends(ko), [
    "virtio_ring",
    "virtio",
    "net_failover",
  ]);
  const deps: Record<string, string[]> = {
    virtio_net: ["virtio_ring", "virtio", "net_failover"],
    net_failover: ["failover"],
    failover: [],
    virtio_ring: ["virtio"],
    virtio: [],
    virtio_pci: ["virtio_ring", "virtio"],
  };
  const order = moduleLoadOrder(["virtio_pci", "virtio_net"], (m) => deps[m]);
  assert.equal(new Set(order).size, order.length);
  for (const m of order) {
    for (const d of deps[m]) {
      assert.ok(order.indexOf(d) < order.indexOf(m), `${d} before ${m}`);
    }
  }
  assert.throws(
    () => moduleLoadOrder(["a"], (m) => (m === "a" ? ["b"] : ["a"])),
    /cycle a -> b -> a/,
  );
});

Deno.test("buildLinuxGuest() gives the same initramfs sha256 twice", async () => {
  // Downloads the Debian kernel and busybox-static packages once into
  // build/linux/cache/ (about 27 MB); later runs reuse the cache.
  const a = await Deno.makeTempDir({ prefix: "bootstorm-linux-a-" });
  const b = await Deno.makeTempDir({ prefix: "bootstorm-linux-b-" });
  try {
    const one = await buildLinuxGuest({ out: a });
    const two = await buildLinuxGuest({ out: b });
    assert.equal(one.manifest.initramfs.sha256, two.manifest.initramfs.sha256);
    assert.equal(await sha256File(one.initrd), await sha256File(two.initrd));
    assert.equal(await sha256File(one.vmlinuz), await sha256File(two.vmlinuz));
    assert.equal(
      await Deno.readTextFile(join(a, "manifest.json")),
      await Deno.readTextFile(join(b, "manifest.json")),
    );
    // gzip -n: no name, mtime 0 in the header.
    const gz = await Deno.readFile(one.initrd);
    assert.deepEqual([...gz.subarray(0, 2)], [0x1f, 0x8b]);
    assert.deepEqual([...gz.subarray(4, 8)], [0, 0, 0, 0]);
    assert.equal(gz[3] & 0x08, 0);
  } finally {
    await Deno.remove(a, { recursive: true });
    await Deno.remove(b, { recursive: true });
  }
});

const CLASSES = ["baseline", "libos", "linux"];
const TEARDOWNS = ["kill-after-ready", "wait-exit", "hold-until-all-ready"];

Deno.test("every profile in images/profiles parses as JSON and has the required keys", async () => {
  const files = [...Deno.readDirSync(PROFILES)]
    .filter((e) => e.isFile && e.name.endsWith(".json"))
    .map((e) => e.name)
    .sort();
  for (
    const want of [
      "alpine-linux.json",
      "alpine-linux-quiet.json",
      "synthetic.json",
      "osv.json",
      "includeos.json",
      "rumprun.json",
      "unikraft.json",
      "solo5.json",
      "nanos.json",
    ]
  ) {
    assert.ok(files.includes(want), `missing profile ${want}`);
  }
  for (const file of files) {
    const where = `images/profiles/${file}`;
    const p = JSON.parse(await Deno.readTextFile(join(PROFILES, file)));
    assert.equal(p.name, file.slice(0, -5), `${where}: name`);
    assert.ok(
      p.class === undefined || p.class === null || CLASSES.includes(p.class),
      `${where}: class`,
    );
    assert.equal(typeof p.image, "string", `${where}: image`);
    assert.ok(
      Array.isArray(p.argv) && p.argv.length > 0 &&
        p.argv.every((a: unknown) => typeof a === "string"),
      `${where}: argv must be an array of strings`,
    );
    assert.ok(
      p.argv.some((a: string) => a.includes("${image}")),
      `${where}: argv uses \${image}`,
    );
    assert.ok(p.argv.includes("${accel}"), `${where}: argv has \${accel}`);
    const params = p.params ?? {};
    for (const a of p.argv as string[]) {
      for (const [, key] of a.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
        assert.ok(
          key === "image" || key === "image_dir" || key === "accel" ||
            key in params,
          `${where}: \${${key}} not declared in params`,
        );
      }
    }
    const ready = p.ready;
    assert.equal(typeof ready, "object", `${where}: ready`);
    assert.equal(Object.keys(ready).length, 1, `${where}: one ready rule`);
    if ("line" in ready) new RegExp(ready.line);
    else assert.ok(ready.firstOutput === true || ready.exit === true, where);
    for (const mark of Object.values(p.marks ?? {})) new RegExp(mark as string);
    assert.ok(
      typeof p.timeoutMs === "number" && p.timeoutMs > 0,
      `${where}: timeoutMs`,
    );
    assert.ok(TEARDOWNS.includes(p.teardown), `${where}: teardown`);
    assert.ok(
      typeof p.minMemoryMib === "number" && p.minMemoryMib > 0,
      `${where}: minMemoryMib`,
    );
    const m = p.argv.indexOf("-m");
    if (m >= 0) {
      const mem = Number(
        String(p.argv[m + 1]).replace(
          /\$\{(\w+)\}/g,
          // A param is a bare default or { type, default, … }.
          (_: string, k: string) => String(params[k]?.default ?? params[k]),
        ),
      );
      assert.ok(mem >= p.minMemoryMib, `${where}: -m ${mem} < minMemoryMib`);
    }
    assert.ok(
      typeof p.obtain === "string" && p.obtain.length > 0,
      `${where}: obtain`,
    );
    assert.ok(
      typeof p.description === "string" && p.description.length > 0,
      `${where}: description`,
    );
  }
});
