/**
 * Build the boot-work plugin (`insns_plugin.c`, a QEMU TCG plugin) on demand,
 * like the guest images: find the installed QEMU's Debian source version,
 * fetch `include/qemu/qemu-plugin.h` of exactly that version from Debian's
 * source package (a private apt configuration under `build/insns/apt/`, so
 * the system's sources stay untouched), compile with gcc and glib, cache the
 * result under `build/insns/`, and self-test it by counting one minkernel
 * boot. Every step says what it does on stderr the first time.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { sha256File, sha256Hex } from "../../dataset/checksum.ts";
import type { InsnsPluginRecord } from "../../dataset/run_record.ts";
import { which } from "../runner.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SOURCE = fileURLToPath(new URL("./insns_plugin.c", import.meta.url));
const SHIM_SOURCE = fileURLToPath(
  new URL("./output_shim.c", import.meta.url),
);

/** The plugin cannot be built or loaded; the message names the fix. */
export class InsnsError extends Error {}

/** What `run.json` records of the plugin (the dataset's record type). */
export type InsnsPluginInfo = InsnsPluginRecord;

/** Options of `ensureInsnsPlugin`. */
export interface EnsurePluginOptions {
  /** The QEMU binary the plugin is for (default `qemu-system-x86_64` on PATH). */
  qemu?: string;
  /** Cache folder (default `build/insns/`). */
  buildDir?: string;
  /**
   * A folder holding `qemu-plugin.h` to use instead of Debian's source
   * package (also `$BOOTSTORM_QEMU_PLUGIN_HEADER`); it must be the header of
   * the same QEMU version as the binary.
   */
  headerDir?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** The build tools (default `pkg-config` and `gcc` on PATH). */
  tools?: { pkgConfig?: string; gcc?: string };
}

async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    const r = await execa(cmd, args, {
      cwd: opts.cwd,
      env: opts.env,
      reject: false,
      stdin: "ignore",
    });
    return {
      ok: r.exitCode === 0,
      stdout: String(r.stdout ?? ""),
      stderr: String(r.stderr ?? ""),
    };
  } catch (e) {
    return { ok: false, stdout: "", stderr: (e as Error).message };
  }
}

function firstLines(s: string, n = 3): string {
  return s.trim().split("\n").slice(0, n).join(" / ");
}

/**
 * The Debian source package and version of a QEMU binary, or null when it
 * does not come from a Debian package.
 *
 * @example
 * ```ts
 * import { qemuSourceVersion } from "./build.ts";
 * console.log(await qemuSourceVersion("no-such-qemu")); // null: not on PATH
 * console.log(await qemuSourceVersion("qemu-system-x86_64"));
 * // Debian 12's qemu-system-x86: { package: "qemu", version: "1:7.2+dfsg-7+deb12u18" }; null when not from dpkg
 * ```
 */
export async function qemuSourceVersion(
  qemu: string,
): Promise<{ package: string; version: string } | null> {
  const path = await resolveBinary(qemu);
  if (!path) return null;
  const owner = await run("dpkg-query", ["-S", path]);
  if (!owner.ok) return null;
  const pkg = owner.stdout.split(":")[0].trim();
  const q = await run("dpkg-query", [
    "-W",
    "-f=${source:Package}\t${source:Version}",
    pkg,
  ]);
  if (!q.ok) return null;
  const [source, version] = q.stdout.trim().split("\t");
  return source && version ? { package: source, version } : null;
}

async function resolveBinary(cmd: string): Promise<string | null> {
  const found = which(cmd);
  return found === null ? null : await Deno.realPath(found).catch(() => null);
}

/** `QEMU_PLUGIN_VERSION` of a header text, or null. */
export function pluginApiVersion(header: string): number | null {
  const m = /#define\s+QEMU_PLUGIN_VERSION\s+(\d+)/.exec(header);
  return m ? Number(m[1]) : null;
}

/**
 * Fetch `qemu-plugin.h` of one Debian source version into `dir` (a private
 * apt configuration: deb-src lines for the machine's Debian mirrors, lists
 * and cache under `build/insns/apt/`). Applies any Debian patch that touches
 * the header. Returns the header's path.
 */
async function fetchDebianHeader(
  source: { package: string; version: string },
  dir: string,
  aptDir: string,
  log: (s: string) => void,
): Promise<string> {
  const out = join(dir, "qemu-plugin.h");
  if (existsSync(out)) return out;
  if (!(await run("apt-get", ["--version"])).ok) {
    throw new InsnsError(
      `Cannot build the boot-work plugin: apt-get is not available to fetch qemu-plugin.h of ${source.package} ${source.version}; put the header of your QEMU version in a folder and pass it with $BOOTSTORM_QEMU_PLUGIN_HEADER`,
    );
  }
  log(
    `bootstorm: --insns: fetching qemu-plugin.h of ${source.package} ${source.version} from Debian's source package (about 24 MB, once; cached in ${dir})`,
  );
  for (const d of ["lists/partial", "cache/archives/partial", "src"]) {
    await Deno.mkdir(join(aptDir, d), { recursive: true });
  }
  const sources = join(aptDir, "sources.list");
  await Deno.writeTextFile(sources, await debSrcLines());
  const opts = [
    `-o`,
    `Dir::Etc::SourceList=${sources}`,
    `-o`,
    `Dir::Etc::SourceParts=${join(aptDir, "none")}`,
    `-o`,
    `Dir::State::Lists=${join(aptDir, "lists")}`,
    `-o`,
    `Dir::Cache=${join(aptDir, "cache")}`,
    `-o`,
    `Debug::NoLocking=1`,
    `-o`,
    `APT::Sandbox::User=root`,
  ];
  const upd = await run("apt-get", [...opts, "update", "-qq"]);
  if (!upd.ok) {
    throw new InsnsError(
      `Cannot fetch qemu-plugin.h: apt-get update of Debian's source indexes failed (${
        firstLines(upd.stderr)
      }); check that the Debian mirror in /etc/apt/sources.list.d is reachable`,
    );
  }
  const srcDir = join(aptDir, "src");
  const dl = await run(
    "apt-get",
    [
      ...opts,
      "source",
      "--download-only",
      "-qq",
      `${source.package}=${source.version}`,
    ],
    { cwd: srcDir },
  );
  if (!dl.ok) {
    throw new InsnsError(
      `Cannot fetch qemu-plugin.h: apt-get source ${source.package}=${source.version} failed (${
        firstLines(dl.stderr)
      }); the mirror may no longer carry this version: upgrade qemu-system-x86 (apt-get install --only-upgrade qemu-system-x86) and run again`,
    );
  }
  const files = [...Deno.readDirSync(srcDir)].map((e) => e.name);
  const orig = files.find((f) => /\.orig\.tar\.(xz|gz|bz2)$/.test(f));
  const deb = files.find((f) =>
    f.startsWith(`${source.package}_${source.version.replace(/^\d+:/, "")}`) &&
    /\.debian\.tar\.(xz|gz|bz2)$/.test(f)
  );
  if (!orig) {
    throw new InsnsError(
      `Cannot fetch qemu-plugin.h: no .orig tarball among ${files.join(", ")}`,
    );
  }
  const work = await Deno.makeTempDir({ dir: aptDir, prefix: "x-" });
  try {
    const x = await run("tar", [
      "-xf",
      join(srcDir, orig),
      "-C",
      work,
      "--wildcards",
      "*/include/qemu/qemu-plugin.h",
    ]);
    if (!x.ok) {
      throw new InsnsError(
        `Cannot extract include/qemu/qemu-plugin.h from ${orig}: ${
          firstLines(x.stderr)
        }`,
      );
    }
    const top = [...Deno.readDirSync(work)].find((e) => e.isDirectory)!.name;
    const header = join(work, top, "include/qemu/qemu-plugin.h");
    // Debian's patches (stable updates included) must not change the header
    // unnoticed: apply every hunk that touches it.
    if (deb) {
      const pd = join(work, "deb");
      await Deno.mkdir(pd);
      await run("tar", ["-xf", join(srcDir, deb), "-C", pd]);
      const series = await Deno.readTextFile(
        join(pd, "debian/patches/series"),
      ).catch(() => "");
      for (const line of series.split("\n")) {
        const name = line.replace(/#.*/, "").trim().split(/\s+/)[0];
        if (!name) continue;
        const patch = join(pd, "debian/patches", name);
        const text = await Deno.readTextFile(patch).catch(() => "");
        if (!text.includes("include/qemu/qemu-plugin.h")) continue;
        log(`bootstorm: --insns: applying Debian patch ${name} to the header`);
        const p = await run("patch", ["-p1", "-i", patch], {
          cwd: join(work, top),
        });
        if (!p.ok) {
          throw new InsnsError(
            `Cannot apply Debian patch ${name} to qemu-plugin.h: ${
              firstLines(p.stdout + p.stderr)
            }`,
          );
        }
      }
    }
    await Deno.mkdir(dir, { recursive: true });
    await Deno.copyFile(header, out);
    await Deno.writeTextFile(
      join(dir, "header.json"),
      JSON.stringify(
        {
          package: source.package,
          version: source.version,
          from: [orig, deb].filter(Boolean),
          sha256: await sha256File(out),
        },
        null,
        2,
      ) + "\n",
    );
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  return out;
}

/** deb-src lines for the Debian mirrors this machine's apt uses. */
async function debSrcLines(): Promise<string> {
  const lines = new Set<string>();
  const add = (uri: string, suites: string[], comps: string[]) => {
    if (!/debian/.test(uri)) return;
    for (const s of suites) lines.add(`deb-src ${uri} ${s} ${comps.join(" ")}`);
  };
  const files: string[] = [];
  for (const d of ["/etc/apt/sources.list.d"]) {
    try {
      for (const e of Deno.readDirSync(d)) files.push(join(d, e.name));
    } catch {
      // absent
    }
  }
  files.push("/etc/apt/sources.list");
  for (const f of files) {
    const text = await Deno.readTextFile(f).catch(() => "");
    if (f.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const get = (k: string) =>
          new RegExp(`^${k}:\\s*(.*)$`, "mi").exec(stanza)?.[1].trim()
            .split(/\s+/) ?? [];
        if (!get("Types").includes("deb")) continue;
        for (const uri of get("URIs")) {
          add(uri, get("Suites"), get("Components"));
        }
      }
    } else {
      for (const l of text.split("\n")) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.+)$/.exec(
          l.trim(),
        );
        if (m) add(m[1], [m[2]], m[3].split(/\s+/));
      }
    }
  }
  if (lines.size === 0) {
    lines.add("deb-src http://deb.debian.org/debian bookworm main");
    lines.add("deb-src http://deb.debian.org/debian bookworm-updates main");
    lines.add(
      "deb-src http://deb.debian.org/debian-security bookworm-security main",
    );
  }
  return [...lines].join("\n") + "\n";
}

/**
 * Make sure the boot-work plugin is built for the installed QEMU; returns
 * what the run record stores. Builds when the cache is missing or was built
 * from another plugin source or QEMU version.
 *
 * @example
 * ```ts ignore
 * // needs QEMU, gcc, and Debian's QEMU source package (downloaded once) for qemu-plugin.h
 * const plugin = await ensureInsnsPlugin();
 * console.log(plugin.path, plugin.qemu_source_version);
 * ```
 */
export async function ensureInsnsPlugin(
  options: EnsurePluginOptions = {},
): Promise<InsnsPluginInfo> {
  const log = options.log ?? ((s: string) => console.error(s));
  const buildDir = options.buildDir ?? join(ROOT, "build", "insns");
  const qemu = options.qemu ?? "qemu-system-x86_64";
  const headerDir = options.headerDir ??
    Deno.env.get("BOOTSTORM_QEMU_PLUGIN_HEADER");
  const source = await qemuSourceVersion(qemu);
  let header: string;
  let headerFrom: string;
  if (headerDir) {
    header = join(headerDir, "qemu-plugin.h");
    if (!existsSync(header)) {
      throw new InsnsError(
        `Cannot build the boot-work plugin: no qemu-plugin.h in ${headerDir} ($BOOTSTORM_QEMU_PLUGIN_HEADER); give the folder holding QEMU's include/qemu/qemu-plugin.h`,
      );
    }
    headerFrom = headerDir;
  } else {
    if (!source) {
      throw new InsnsError(
        `Cannot build the boot-work plugin: ${qemu} is not from a Debian package, so the matching qemu-plugin.h cannot be fetched; set $BOOTSTORM_QEMU_PLUGIN_HEADER to the folder holding include/qemu/qemu-plugin.h of the same QEMU version`,
      );
    }
    header = await fetchDebianHeader(
      source,
      join(buildDir, "header", source.version.replace(/[^\w.+-]/g, "_")),
      join(buildDir, "apt"),
      log,
    );
    headerFrom = `debian:${source.package}=${source.version}`;
  }
  const headerText = await Deno.readTextFile(header);
  const api = pluginApiVersion(headerText);
  if (api === null) {
    throw new InsnsError(
      `Cannot build the boot-work plugin: ${header} defines no QEMU_PLUGIN_VERSION; it is not QEMU's qemu-plugin.h`,
    );
  }
  const sourceSha = await sha256File(SOURCE);
  const shimSha = await sha256File(SHIM_SOURCE);
  const headerSha = await sha256Hex(new TextEncoder().encode(headerText));
  const key = (await sha256Hex(
    new TextEncoder().encode(
      `${sourceSha}\n${shimSha}\n${headerSha}\n${headerFrom}`,
    ),
  )).slice(0, 16);
  const so = join(buildDir, `bootstorm_insns-${key}.so`);
  const shim = join(buildDir, `bootstorm_output_shim-${key}.so`);
  const info = async (sha: string): Promise<InsnsPluginInfo> => ({
    path: so,
    sha256: sha,
    source_sha256: sourceSha,
    header_sha256: headerSha,
    header_from: headerFrom,
    plugin_api_version: api,
    qemu_source_version: source?.version ?? null,
    shim_path: shim,
    shim_sha256: await sha256File(shim),
  });
  if (existsSync(so) && existsSync(shim)) {
    return await info(await sha256File(so));
  }
  const pkgConfig = options.tools?.pkgConfig ?? "pkg-config";
  const gcc = options.tools?.gcc ?? "gcc";
  const cflags = await run(pkgConfig, ["--cflags", "glib-2.0"]);
  if (!cflags.ok) {
    throw new InsnsError(
      `Cannot build the boot-work plugin: glib's development files are missing (pkg-config --cflags glib-2.0: ${
        firstLines(cflags.stderr) || "pkg-config not found"
      }); install them with: apt-get install -y --no-install-recommends libglib2.0-dev pkg-config`,
    );
  }
  if (!(await run(gcc, ["--version"])).ok) {
    throw new InsnsError(
      "Cannot build the boot-work plugin: gcc not found; install it with: apt-get install -y --no-install-recommends gcc libc6-dev",
    );
  }
  log(
    `bootstorm: --insns: compiling the boot-work plugin (${
      SOURCE.replace(ROOT, "")
    }) against qemu-plugin.h API v${api} from ${headerFrom} → ${
      so.replace(ROOT, "")
    }`,
  );
  await Deno.mkdir(dirname(so), { recursive: true });
  const tmp = `${so}.tmp`;
  const cc = await run(gcc, [
    "-shared",
    "-fPIC",
    "-O2",
    "-Wall",
    "-I",
    dirname(header),
    ...cflags.stdout.trim().split(/\s+/).filter(Boolean),
    "-o",
    tmp,
    SOURCE,
  ]);
  if (!cc.ok) {
    throw new InsnsError(
      `Cannot build the boot-work plugin: gcc failed: ${
        firstLines(cc.stderr, 6)
      }`,
    );
  }
  const sh = await run(gcc, [
    "-shared",
    "-fPIC",
    "-O2",
    "-Wall",
    "-o",
    `${shim}.tmp`,
    SHIM_SOURCE,
    "-ldl",
    "-lpthread",
  ]);
  if (!sh.ok) {
    throw new InsnsError(
      `Cannot build the output shim: gcc failed: ${firstLines(sh.stderr, 6)}`,
    );
  }
  await Deno.rename(`${shim}.tmp`, shim);
  await Deno.rename(tmp, so);
  return await info(await sha256File(so));
}

/**
 * Turn QEMU's refusal of a plugin (its stderr) into an error that names the
 * fix, or null when the text is not about the plugin.
 *
 * @example
 * ```ts
 * import { pluginLoadError } from "./build.ts";
 * const e = pluginLoadError("qemu-system-x86_64: -plugin x.so: invalid option", { api: 1 });
 * console.log(e); // "Cannot use --insns: this QEMU (qemu-system-x86_64) has no TCG plugin support (…); use a QEMU built with --enable-plugins, …"
 * console.log(pluginLoadError("qemu-system-x86_64: terminating on signal 15", { api: 1 })); // null: not about the plugin
 * ```
 */
export function pluginLoadError(
  stderr: string,
  context: { api: number; qemu?: string; headerFrom?: string },
): string | null {
  const line = stderr.split("\n").find((l) =>
    /plugin/i.test(l) &&
    /invalid|unsupported|not supported|Could not load|cannot|needs API/i.test(l)
  );
  if (!line) return null;
  if (/needs API version|API version/i.test(line)) {
    return `Cannot use --insns: QEMU refused the boot-work plugin because its header does not match the binary (${line.trim()}; the plugin was built against API v${context.api} from ${
      context.headerFrom ?? "?"
    }). Build it against qemu-plugin.h of the installed QEMU: remove build/insns/ (or fix $BOOTSTORM_QEMU_PLUGIN_HEADER) and run again`;
  }
  if (/invalid option|unsupported|not supported/i.test(line)) {
    return `Cannot use --insns: this QEMU (${
      context.qemu ?? "qemu-system-x86_64"
    }) has no TCG plugin support (${line.trim()}); use a QEMU built with --enable-plugins, such as Debian's qemu-system-x86`;
  }
  return `Cannot use --insns: QEMU could not load the boot-work plugin (${line.trim()}); remove build/insns/ and run again`;
}
