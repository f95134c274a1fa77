/**
 * Build one of the launcher's small C helpers on demand with gcc: the memory
 * sampler (sampler/mem_sampler.c) and the spawn helper (fork_at_ts.c). The
 * binary is named after the source's hash, so an edited source is rebuilt
 * and a built one is reused.
 *
 * @module
 */
import { execa } from "execa";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sha256File } from "../dataset/checksum.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Options of {@link ensureCBinary}. */
export interface CBuildOptions {
  /** What the binary is, for errors ("the memory sampler"). */
  what: string;
  /** Where to put it (default `build/<source name>/` in the project). */
  buildDir?: string;
  /** Extra gcc flags (default none; `-O2 -Wall` always). */
  flags?: string[];
}

/**
 * Build `source` when its binary is missing (named after the source's hash);
 * returns the binary's path. Throws with the fix when gcc is missing or the
 * build fails.
 *
 * @example
 * ```ts
 * import { ensureCBinary } from "./c_build.ts";
 * import { fileURLToPath } from "node:url";
 * const src = fileURLToPath(new URL("./fork_at_ts.c", import.meta.url));
 * const bin = await ensureCBinary(src, { what: "the spawn helper" });
 * console.log(bin.includes("fork_at_ts-")); // true
 * ```
 */
export async function ensureCBinary(
  source: string,
  options: CBuildOptions,
): Promise<string> {
  const name = basename(source).replace(/\.c$/, "");
  const buildDir = options.buildDir ?? join(ROOT, "build", name);
  const key = (await sha256File(source)).slice(0, 12);
  const bin = join(buildDir, `${name}-${key}`);
  try {
    await Deno.stat(bin);
    return bin;
  } catch {
    // build it
  }
  await Deno.mkdir(dirname(bin), { recursive: true });
  // A private name: two launchers building at once do not clash.
  const tmp = `${bin}.${Deno.pid}.tmp`;
  const args = ["-O2", "-Wall", ...(options.flags ?? []), "-o", tmp, source];
  const out = await execa("gcc", args, { reject: false, stdin: "ignore" });
  if (out.failed && out.exitCode === undefined && !out.isTerminated) {
    throw new Error(
      `Cannot build ${options.what}: gcc not found (${out.originalMessage}); install it with apt-get install -y --no-install-recommends gcc libc6-dev`,
    );
  }
  if (out.failed) {
    const lines = String(out.stderr).split("\n").filter((l) => l.trim());
    const ends = lines.length <= 2
      ? lines.join(" / ")
      : `${lines[0]} … ${lines.at(-1)}`;
    throw new Error(
      `Cannot build ${options.what}: \`gcc ${args.join(" ")}\` exited ${
        out.exitCode ?? "on a signal"
      }: ${ends}. Check that gcc and libc6-dev are installed (apt-get install -y --no-install-recommends gcc libc6-dev) and that ${source} is intact.`,
    );
  }
  await Deno.rename(tmp, bin);
  return bin;
}
