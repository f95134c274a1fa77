/**
 * Build the synthetic guest (`images/synthetic/guest.c` + `entry.S`, a
 * multiboot v1 ELF whose boot cost is set by `touch_mib=N spin_ms=M` on its
 * command line) into `build/synthetic/synthetic.elf` with gcc and binutils,
 * and print its size and sha256. Reproducible: fixed flags, sources compiled
 * by relative name, no build id, stripped.
 *
 * Usage (from anywhere): `deno run -A images/synthetic/build.ts [--out DIR]`.
 *
 * @module
 */
import { runTool } from "../tool.ts";
import { sha256Hex } from "../../dataset/checksum.ts";
import { parseArgs } from "node:util";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SRC = fileURLToPath(new URL("./", import.meta.url));

/** Tools the build runs, and the Debian package each comes from. */
const TOOLS: Record<string, string> = { gcc: "gcc", ld: "binutils" };

const CFLAGS = [
  "-m32",
  "-march=i686",
  "-mgeneral-regs-only",
  "-ffreestanding",
  "-fno-builtin",
  "-nostdlib",
  "-fno-pic",
  "-fno-pie",
  "-fno-stack-protector",
  "-fno-asynchronous-unwind-tables",
  "-O2",
  "-Wall",
  "-Wextra",
  "-Werror",
];

/** What {@link buildSynthetic} built. */
export interface SyntheticBuild {
  /** Absolute path of the ELF. */
  path: string;
  /** Size of the ELF, bytes. */
  bytes: number;
  /** sha256 of the ELF (the build is reproducible). */
  sha256: string;
}

function findTool(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    try {
      if (Deno.statSync(join(dir, name)).isFile) return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  await runTool(cmd, args, {
    what: "build the synthetic guest",
    cwd,
    env: { LC_ALL: "C", SOURCE_DATE_EPOCH: "0" },
    fix:
      "Install gcc and binutils (apt-get install -y gcc libc6-dev binutils), then retry.",
  });
}

/**
 * Compile and link the synthetic guest into `<out>/synthetic.elf`
 * (default `build/synthetic/`). Throws naming the Debian package when gcc
 * or binutils is missing.
 *
 * @example
 * ```ts
 * import { buildSynthetic } from "./build.ts";
 * // needs gcc and binutils
 * const out = await Deno.makeTempDir();
 * const { path, sha256 } = await buildSynthetic({ out });
 * console.log(path === `${out}/synthetic.elf`, sha256.length); // true 64
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function buildSynthetic(
  options: { out?: string } = {},
): Promise<SyntheticBuild> {
  const missing = Object.keys(TOOLS).filter((t) => !findTool(t));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((t) => TOOLS[t]))].join(" ");
    throw new Error(
      `Cannot build the synthetic guest: ${
        missing.join(", ")
      } not found on PATH; install with \`apt-get install -y ${pkgs}\``,
    );
  }
  const out = options.out ?? join(ROOT, "build/synthetic");
  const obj = join(out, "obj");
  await Deno.mkdir(obj, { recursive: true });
  const guestO = join(obj, "guest.o");
  const entryO = join(obj, "entry.o");
  const elf = join(out, "synthetic.elf");
  // Compile by relative name (cwd = the source folder) so no absolute path
  // lands in the objects.
  await run("gcc", [...CFLAGS, "-c", "guest.c", "-o", guestO], SRC);
  await run("gcc", ["-m32", "-c", "entry.S", "-o", entryO], SRC);
  await run("ld", [
    "-m",
    "elf_i386",
    "-T",
    "link.ld",
    "--build-id=none",
    "--no-warn-rwx-segments",
    "-s",
    "-o",
    elf,
    entryO,
    guestO,
  ], SRC);
  const data = await Deno.readFile(elf);
  return { path: elf, bytes: data.length, sha256: await sha256Hex(data) };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { out: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(
      "Build the synthetic guest into build/synthetic/synthetic.elf.\n\nusage: deno run -A images/synthetic/build.ts [--out DIR]",
    );
    Deno.exit(0);
  }
  try {
    const b = await buildSynthetic({ out: values.out });
    console.log(
      `built ${
        relative(Deno.cwd(), b.path) || b.path
      }  ${b.bytes} bytes  sha256 ${b.sha256}`,
    );
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
