/**
 * Build the Linux guest, bootstorm's stand-in for the paper's Alpine Linux,
 * from Debian packages only:
 *
 * - the kernel: `linux-image-<release>-cloud-amd64` (the release the
 *   `linux-image-cloud-amd64` meta-package points at, or `--kernel-package`),
 *   fetched with `apt-get download` into `build/linux/cache/` and unpacked
 *   there with `dpkg-deb -x` (never installed on the host);
 * - the initramfs: `busybox-static` (fetched the same way, or the host's
 *   installed copy when the download fails), the files of
 *   `images/linux/rootfs/` (`/init` and `/etc`), and the virtio NIC modules of
 *   that kernel. Written as a newc cpio by {@link writeNewc} (sorted, mtime 0,
 *   uid/gid 0) and compressed with `gzip -n`, so the same inputs give the same
 *   sha256.
 *
 * Outputs: `build/linux/vmlinuz`, `build/linux/vmlinuz.initrd` (the profiles
 * pass it as `-initrd ${image}.initrd`) and `build/linux/manifest.json`.
 *
 * Usage (from anywhere): `deno run -A images/linux/build.ts [--out DIR]
 * [--cache DIR] [--kernel-package NAME]`.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { sha256Hex } from "../../dataset/checksum.ts";
import { parseArgs } from "node:util";
import { join, relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { type CpioEntry, writeNewc } from "./newc.ts";
import { moduleLoadOrder, readModuleDepends } from "./kmod_deps.ts";

const ROOT = fromFileUrl(new URL("../../", import.meta.url));
const ROOTFS = fromFileUrl(new URL("./rootfs/", import.meta.url));
const KERNEL_META = "linux-image-cloud-amd64";
const BUSYBOX_PACKAGE = "busybox-static";
/** NIC drivers loaded by /init (virtio-net over PCI or MMIO), with their deps. */
const WANTED_MODULES = ["virtio_pci", "virtio_mmio", "virtio_net"];

const TOOLS: Record<string, string> = {
  "apt-get": "apt",
  "apt-cache": "apt",
  "dpkg-deb": "dpkg",
  gzip: "gzip",
};

interface Options {
  out: string;
  cache: string;
  kernelPackage?: string;
  /** The meta-package that names the kernel (default linux-image-cloud-amd64). */
  meta?: string;
}

/** What {@link buildLinuxGuest} built (also written to `manifest.json`). */
export interface LinuxGuestBuild {
  /** Absolute paths of the kernel and the initramfs. */
  vmlinuz: string;
  /** Absolute path of the initramfs (`vmlinuz.initrd`). */
  initrd: string;
  /** The manifest: inputs (packages, versions, sha256) and outputs. */
  manifest: {
    kernel: Record<string, string | number>;
    busybox: Record<string, string>;
    initramfs: Record<string, string | number | string[]>;
  };
}

function usage(): string {
  return `Build the Linux guest (Debian cloud kernel + busybox initramfs) into build/linux/.

usage: deno run -A images/linux/build.ts [--out DIR] [--cache DIR] [--kernel-package NAME]

  --out DIR              where vmlinuz, vmlinuz.initrd and manifest.json go (default build/linux)
  --cache DIR            where downloaded .deb files and their unpacked trees go (default build/linux/cache)
  --kernel-package NAME  exact kernel package, e.g. linux-image-6.1.0-57-cloud-amd64
                         (default: the one ${KERNEL_META} depends on)
`;
}

function findTool(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    const p = join(dir, name);
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function requireTools(): void {
  const missing = Object.keys(TOOLS).filter((t) => !findTool(t));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((t) => TOOLS[t]))].join(" ");
    throw new Error(
      `Cannot build the Linux guest: ${
        missing.join(", ")
      } not found on PATH; install them with \`apt-get install -y ${pkgs}\``,
    );
  }
}

async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; stdin?: Uint8Array } = {},
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    stdin: opts.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C" },
  }).spawn();
  // Feed stdin while stdout drains: a child that fills its stdout pipe
  // before reading all of stdin would otherwise deadlock.
  const feeding = opts.stdin
    ? (async () => {
      const w = child.stdin.getWriter();
      await w.write(opts.stdin!);
      await w.close();
    })()
    : Promise.resolve();
  const [r] = await Promise.all([child.output(), feeding]);
  return {
    code: r.code,
    stdout: r.stdout,
    stderr: new TextDecoder().decode(r.stderr),
  };
}

async function runText(
  cmd: string,
  args: string[],
  cwd?: string,
): Promise<string> {
  const r = await run(cmd, args, { cwd });
  if (r.code !== 0) {
    throw new Error(
      `Cannot build the Linux guest: \`${cmd} ${
        args.join(" ")
      }\` exited ${r.code}: ${r.stderr.trim()}`,
    );
  }
  return new TextDecoder().decode(r.stdout);
}

function isRoot(): boolean {
  return Deno.uid?.() === 0;
}

/** A package's candidate record in apt's lists. */
interface AptRecord {
  version: string;
  depends: string;
}

/**
 * Candidate versions from `apt-cache show`, asked in batches and
 * remembered (each call costs most of a second); runs `apt-get update` once
 * (as root) when a package is unknown.
 */
class AptLookup {
  #records = new Map<string, AptRecord | null>();
  #updated = false;

  /** Ask apt about every package not asked about yet, in one call. */
  async prefetch(pkgs: readonly string[]): Promise<void> {
    const ask = pkgs.filter((p) => !this.#records.has(p));
    if (ask.length === 0) return;
    const r = await run("apt-cache", ["show", "--no-all-versions", ...ask]);
    const text = new TextDecoder().decode(r.stdout);
    for (const p of ask) this.#records.set(p, null);
    for (const block of text.split(/\n\n+/)) {
      const pkg = block.match(/^Package: (\S+)$/m)?.[1];
      const version = block.match(/^Version: (\S+)$/m)?.[1];
      if (pkg && version && ask.includes(pkg)) {
        const depends = block.match(/^Depends: (.*)$/m)?.[1] ?? "";
        this.#records.set(pkg, { version, depends });
      }
    }
  }

  /** The candidate record of `pkg`, or undefined when apt knows nothing of it. */
  async record(pkg: string): Promise<AptRecord | undefined> {
    await this.prefetch([pkg]);
    if (this.#records.get(pkg) || this.#updated || !isRoot()) {
      return this.#records.get(pkg) ?? undefined;
    }
    this.#updated = true;
    console.error(`apt knows no ${pkg}: running \`apt-get update\` once`);
    const r = await run("apt-get", ["update"]);
    if (r.code !== 0) console.error(r.stderr.trim());
    const asked = [...this.#records.keys()];
    this.#records.clear();
    await this.prefetch(asked);
    return this.#records.get(pkg) ?? undefined;
  }
}

function debName(pkg: string, version: string): string {
  return `${pkg}_${version.replace(":", "%3a")}_amd64.deb`;
}

async function cachedDebs(cache: string, re: RegExp): Promise<string[]> {
  const names: string[] = [];
  if (!existsSync(cache)) return names;
  for await (const e of Deno.readDir(cache)) {
    if (e.isFile && re.test(e.name)) names.push(e.name);
  }
  return names.sort();
}

/** Fetch `pkg` (candidate version) into the cache; returns the .deb path. */
async function fetchDeb(
  pkg: string,
  options: { cache: string; apt: AptLookup },
): Promise<{ deb: string; version: string }> {
  const { cache, apt } = options;
  const known = await apt.record(pkg);
  if (!known) {
    const escaped = pkg.replace(/[.+]/g, "\\$&");
    const cached = await cachedDebs(
      cache,
      new RegExp(`^${escaped}_.*_amd64\\.deb$`),
    );
    if (cached.length > 0) {
      const name = cached[cached.length - 1];
      console.error(`apt knows no ${pkg}; using the cached ${name}`);
      return {
        deb: join(cache, name),
        version: name.split("_")[1].replace("%3a", ":"),
      };
    }
    throw new Error(
      `Cannot build the Linux guest: apt knows no package "${pkg}" and none is cached in ${cache}; check the name (\`apt-cache search --names-only ${pkg}\`)${
        isRoot() ? "" : " and run `sudo apt-get update`"
      }`,
    );
  }
  const version = known.version;
  const deb = join(cache, debName(pkg, version));
  if (existsSync(deb)) return { deb, version };
  await Deno.mkdir(cache, { recursive: true });
  console.error(
    `downloading ${pkg}=${version} into ${relative(Deno.cwd(), cache) || "."}`,
  );
  const r = await run("apt-get", ["download", `${pkg}=${version}`], {
    cwd: cache,
  });
  if (r.code !== 0 || !existsSync(deb)) {
    throw new Error(
      `Cannot download ${pkg}=${version}: \`apt-get download\` exited ${r.code}: ${r.stderr.trim()}; check the network and apt sources, or put ${
        debName(pkg, version)
      } into ${cache} by hand`,
    );
  }
  return { deb, version };
}

/** Unpack a .deb once (cached beside it); returns the tree's root. */
async function unpackDeb(deb: string): Promise<string> {
  const dir = deb.replace(/\.deb$/, ".unpacked");
  const marker = join(dir, ".bootstorm-complete");
  if (existsSync(marker)) return dir;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await runText("dpkg-deb", ["-x", deb, dir]);
  await Deno.writeTextFile(marker, "");
  return dir;
}

async function resolveKernelPackage(
  opts: Options,
  apt: AptLookup,
): Promise<string> {
  if (opts.kernelPackage) return opts.kernelPackage;
  const meta = await apt.record(opts.meta ?? KERNEL_META);
  const flavour = opts.meta
    ? opts.meta.replace(/^linux-image-/, "")
    : "cloud-amd64";
  const m = meta?.depends.match(
    new RegExp(`(linux-image-[0-9][^\\s,]*-${flavour})\\b`),
  );
  if (m) return m[1];
  const cached = await cachedDebs(
    opts.cache,
    new RegExp(`^linux-image-[0-9][^_]*-${flavour}_.*_amd64\\.deb$`),
  );
  if (cached.length > 0) return cached[cached.length - 1].split("_")[0];
  throw new Error(
    `Cannot build the Linux guest: cannot tell which kernel ${KERNEL_META} points at (apt knows nothing of it) and no kernel .deb is cached in ${opts.cache}; run \`${
      isRoot() ? "" : "sudo "
    }apt-get update\` or pass --kernel-package linux-image-<release>-cloud-amd64`,
  );
}

interface Busybox {
  path: string;
  version: string;
  source: string;
}

async function obtainBusybox(
  cache: string,
  apt: AptLookup,
): Promise<Busybox> {
  try {
    const { deb, version } = await fetchDeb(BUSYBOX_PACKAGE, { cache, apt });
    const tree = await unpackDeb(deb);
    return { path: join(tree, "bin/busybox"), version, source: deb };
  } catch (err) {
    const host = "/bin/busybox";
    const r = await run("dpkg-query", ["-W", "-f=${Version}", BUSYBOX_PACKAGE])
      .catch(() => undefined);
    if (r && r.code === 0 && existsSync(host)) {
      const version = new TextDecoder().decode(r.stdout).trim();
      console.error(
        `${
          (err as Error).message
        }\nusing the host's installed ${BUSYBOX_PACKAGE} ${version}`,
      );
      return { path: host, version, source: `host ${host}` };
    }
    throw new Error(
      `${
        (err as Error).message
      }\n(the host's ${BUSYBOX_PACKAGE} is not installed either: \`apt-get install -y ${BUSYBOX_PACKAGE}\`)`,
    );
  }
}

async function walk(dir: string, base = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, base))) {
    const rel = base ? `${base}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...(await walk(dir, rel)));
    else if (e.isFile) out.push(rel);
  }
  return out;
}

/** The initramfs's entries (unsorted; {@link writeNewc} sorts). */
async function initramfsEntries(
  busybox: Busybox,
  kernelTree: string,
  kernelRelease: string,
): Promise<{ entries: CpioEntry[]; modules: string[] }> {
  const entries: CpioEntry[] = [];
  const taken = new Set<string>();
  const add = (e: CpioEntry) => {
    taken.add(e.path);
    entries.push(e);
  };
  // Overlay: /init and /etc; scripts ("#!") executable, the rest 0644.
  for (const rel of (await walk(ROOTFS)).sort()) {
    const data = await Deno.readFile(join(ROOTFS, rel));
    const script = data[0] === 0x23 && data[1] === 0x21;
    add({ kind: "file", path: rel, data, mode: script ? 0o755 : 0o644 });
  }
  add({
    kind: "file",
    path: "bin/busybox",
    data: await Deno.readFile(busybox.path),
    mode: 0o755,
  });
  const applets = (await runText(busybox.path, ["--list-full"])).split("\n")
    .filter((l) => l !== "");
  for (const applet of applets) {
    if (taken.has(applet)) continue;
    add({ kind: "symlink", path: applet, target: "/bin/busybox" });
  }
  for (
    const d of [
      "proc",
      "sys",
      "run",
      "root",
      "var/log",
      "var/spool/cron",
      "mnt",
    ]
  ) {
    add({ kind: "dir", path: d });
  }
  add({ kind: "dir", path: "tmp", mode: 0o1777 });
  add({ kind: "char", path: "dev/console", major: 5, minor: 1, mode: 0o600 });
  add({ kind: "char", path: "dev/null", major: 1, minor: 3, mode: 0o666 });
  add({ kind: "char", path: "dev/ttyS0", major: 4, minor: 64, mode: 0o660 });

  // NIC driver modules of this very kernel, in load order.
  const modRoot = join(kernelTree, "lib/modules", kernelRelease);
  const koByName = new Map<string, string>();
  for (const rel of await walk(modRoot)) {
    if (rel.endsWith(".ko")) {
      koByName.set(
        rel.split("/").pop()!.slice(0, -3).replaceAll("-", "_"),
        join(modRoot, rel),
      );
    }
  }
  const koBytes = new Map<string, Uint8Array>();
  const load = async (name: string) => {
    if (!koBytes.has(name)) {
      const p = koByName.get(name);
      if (!p) {
        throw new Error(
          `Cannot build the Linux guest: kernel ${kernelRelease} has no module "${name}"; pick another --kernel-package`,
        );
      }
      koBytes.set(name, await Deno.readFile(p));
    }
    return koBytes.get(name)!;
  };
  // Read the closure first (async), then order it (pure).
  const pending = [...WANTED_MODULES];
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (koBytes.has(name)) continue;
    pending.push(...readModuleDepends(await load(name)));
  }
  const modules = moduleLoadOrder(
    WANTED_MODULES,
    (m) => readModuleDepends(koBytes.get(m)!),
  );
  for (const m of modules) {
    add({
      kind: "file",
      path: `lib/modules/${m}.ko`,
      data: koBytes.get(m)!,
      mode: 0o644,
    });
  }
  add({
    kind: "file",
    path: "etc/modules.order",
    data: new TextEncoder().encode(modules.join("\n") + "\n"),
    mode: 0o644,
  });
  return { entries, modules };
}

async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const r = await run("gzip", ["-n", "-9", "-c"], { stdin: data });
  if (r.code !== 0) {
    throw new Error(
      `Cannot compress the initramfs: gzip exited ${r.code}: ${r.stderr}`,
    );
  }
  return r.stdout;
}

/**
 * Build the Linux guest: fetch and unpack the Debian kernel and busybox
 * packages (cached), write `vmlinuz`, `vmlinuz.initrd` and `manifest.json`
 * into `out` (default `build/linux/`) and print what was built.
 *
 * @example
 * ```ts ignore
 * // downloads about 27 MB of Debian packages (once, into the cache)
 * const built = await buildLinuxGuest({ out: "build/linux" });
 * console.log(built.manifest.initramfs.sha256);
 * ```
 */
export async function buildLinuxGuest(
  options: Partial<Options> = {},
): Promise<LinuxGuestBuild> {
  const opts: Options = {
    out: options.out ?? join(ROOT, "build/linux"),
    cache: options.cache ?? join(ROOT, "build/linux/cache"),
    kernelPackage: options.kernelPackage,
    meta: options.meta,
  };
  requireTools();
  const apt = new AptLookup();
  await apt.prefetch(
    opts.kernelPackage
      ? [opts.kernelPackage, BUSYBOX_PACKAGE]
      : [opts.meta ?? KERNEL_META, BUSYBOX_PACKAGE],
  );
  const kernelPackage = await resolveKernelPackage(opts, apt);
  const kernel = await fetchDeb(kernelPackage, { cache: opts.cache, apt });
  const kernelTree = await unpackDeb(kernel.deb);
  const bootFiles = [...Deno.readDirSync(join(kernelTree, "boot"))].map((e) =>
    e.name
  );
  const vmlinuzName = bootFiles.find((n) => n.startsWith("vmlinuz-"));
  if (!vmlinuzName) {
    throw new Error(
      `Cannot build the Linux guest: ${kernel.deb} holds no boot/vmlinuz-*; is it a linux-image package?`,
    );
  }
  const kernelRelease = vmlinuzName.slice("vmlinuz-".length);
  const busybox = await obtainBusybox(opts.cache, apt);

  const { entries, modules } = await initramfsEntries(
    busybox,
    kernelTree,
    kernelRelease,
  );
  const cpio = writeNewc(entries);
  const initrd = await gzip(cpio);
  const vmlinuz = await Deno.readFile(join(kernelTree, "boot", vmlinuzName));

  await Deno.mkdir(opts.out, { recursive: true });
  const vmlinuzPath = join(opts.out, "vmlinuz");
  const initrdPath = join(opts.out, "vmlinuz.initrd");
  await Deno.writeFile(vmlinuzPath, vmlinuz);
  await Deno.writeFile(initrdPath, initrd);
  const manifest = {
    kernel: {
      package: kernelPackage,
      version: kernel.version,
      deb_sha256: await sha256Hex(await Deno.readFile(kernel.deb)),
      release: kernelRelease,
      path: "vmlinuz",
      bytes: vmlinuz.length,
      sha256: await sha256Hex(vmlinuz),
    },
    busybox: {
      package: BUSYBOX_PACKAGE,
      version: busybox.version,
      from: busybox.source.startsWith("host") ? "host" : "deb",
      sha256: await sha256Hex(await Deno.readFile(busybox.path)),
    },
    initramfs: {
      path: "vmlinuz.initrd",
      bytes: initrd.length,
      sha256: await sha256Hex(initrd),
      cpio_bytes: cpio.length,
      cpio_sha256: await sha256Hex(cpio),
      entries: entries.length,
      modules,
    },
  };
  await Deno.writeTextFile(
    join(opts.out, "manifest.json"),
    JSON.stringify(manifest, null, 2) + "\n",
  );
  const show = (p: string) => relative(Deno.cwd(), p) || p;
  console.log(
    `kernel   ${kernelPackage} ${kernel.version} (release ${kernelRelease})`,
  );
  console.log(
    `busybox  ${BUSYBOX_PACKAGE} ${busybox.version} (${manifest.busybox.from})`,
  );
  console.log(`modules  ${modules.join(" ")}`);
  console.log(
    `built    ${
      show(vmlinuzPath)
    }  ${vmlinuz.length} bytes  sha256 ${manifest.kernel.sha256}`,
  );
  console.log(
    `built    ${
      show(initrdPath)
    }  ${initrd.length} bytes  sha256 ${manifest.initramfs.sha256}`,
  );
  console.log(`manifest ${show(join(opts.out, "manifest.json"))}`);
  return { vmlinuz: vmlinuzPath, initrd: initrdPath, manifest };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      out: { type: "string" },
      cache: { type: "string" },
      "kernel-package": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(usage());
    Deno.exit(0);
  }
  try {
    await buildLinuxGuest({
      out: values.out,
      cache: values.cache,
      kernelPackage: values["kernel-package"],
    });
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
