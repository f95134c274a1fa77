/**
 * Builds the project's own guest images from source into `build/`:
 * `build/minkernel/minkernel.elf` and `build/minkernel/minkernel-exit.elf`,
 * with binutils (`as --32`, `ld -m elf_i386`). Prints each image's sha256.
 *
 * @module
 */
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDebianPackages } from "./deps.ts";
import { runTool } from "./tool.ts";
import { sha256File } from "../dataset/checksum.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

async function run(cmd: string, args: string[]): Promise<void> {
  await runTool(cmd, args, {
    what: "build",
    fix:
      "Install binutils (apt-get install -y binutils; deno task test does it when it can), then retry.",
  });
}

/**
 * Assemble and link one multiboot guest; returns its path.
 *
 * @example
 * ```ts
 * import { buildMinkernel } from "./build.ts";
 * // needs binutils (as, ld); deno task test installs them
 * const outDir = await Deno.makeTempDir();
 * const elf = await buildMinkernel({ outDir });
 * const head = (await Deno.readFile(elf)).subarray(0, 4);
 * console.log(elf.endsWith("/minkernel.elf"), new TextDecoder().decode(head.subarray(1))); // true "ELF"
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function buildMinkernel(
  options: { variant?: "minkernel" | "minkernel_exit"; outDir?: string } = {},
): Promise<string> {
  const variant = options.variant ?? "minkernel";
  const outDir = options.outDir ?? join(ROOT, "build", "minkernel");
  await Deno.mkdir(outDir, { recursive: true });
  const src = join(ROOT, "images", "minkernel", `${variant}.S`);
  const obj = join(outDir, `${variant}.o`);
  const elf = join(outDir, `${variant.replace("_", "-")}.elf`);
  await run("as", ["--32", src, "-o", obj]);
  await run("ld", [
    "-m",
    "elf_i386",
    "-Ttext",
    "0x100000",
    "-e",
    "_start",
    "--build-id=none",
    "-o",
    elf,
    obj,
  ]);
  await Deno.remove(obj);
  return elf;
}

/** Build every image whose source is in the repository. */
export async function buildAll(): Promise<string[]> {
  const out: string[] = [];
  for (const v of ["minkernel", "minkernel_exit"] as const) {
    out.push(await buildMinkernel({ variant: v }));
  }
  return out;
}

/** Build the minkernel when its ELF is missing; returns its path. */
export async function ensureMinkernel(): Promise<string> {
  const elf = join(ROOT, "build", "minkernel", "minkernel.elf");
  try {
    await Deno.stat(elf);
    await Deno.stat(join(ROOT, "build", "minkernel", "minkernel-exit.elf"));
  } catch {
    await buildAll();
  }
  return elf;
}

if (import.meta.main) {
  await ensureDebianPackages(["binutils"], { why: "assemble the minkernel" });
  for (const path of await buildAll()) {
    const st = await Deno.stat(path);
    console.log(
      `built ${
        relative(Deno.cwd(), path)
      }  ${st.size} bytes  sha256 ${await sha256File(path)}`,
    );
  }
}
